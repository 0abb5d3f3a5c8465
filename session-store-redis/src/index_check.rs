//! Checking the user index against the sessions it should list, and
//! ending the sessions it no longer does.
//!
//! Every write keeps the index and the sessions in step, so a bound
//! session is always listed by its user, unless something outside the
//! store removed index keys: an `allkeys-*` eviction policy, a `DEL` by
//! hand, the index hash `<prefix>i` lost without its buckets. The index
//! is the only place that holds each session's whole store key (a
//! session's Redis key holds 12 bytes of it), so a lost entry cannot be
//! rebuilt from the sessions; until the session is saved again (a save
//! that moves its expiry into a later hour writes the entry again), "log
//! out everywhere" misses it. [`RedisStore::check_index`] finds such
//! sessions; [`RedisStore::end_unlisted`] ends them, so that ending a
//! user's sessions ends all of them again.

use std::collections::{BTreeMap, HashSet};

use session_core::{StoreError, now};

use crate::store::RedisStore;
use crate::value;

/// What [`RedisStore::check_index`] (or [`RedisStore::end_unlisted`])
/// found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexCheck {
    /// Live sessions bound to a user (in the current layout).
    pub bound: u64,
    /// The users they are bound to.
    pub users: u64,
    /// Bound sessions their user's listing misses (after
    /// [`end_unlisted`](RedisStore::end_unlisted): the ones it ended).
    pub unlisted: u64,
}

impl RedisStore {
    /// Whether every live session bound to a user is listed by that user's
    /// index, as [`UserIndex::sessions_of`](session_core::UserIndex::sessions_of)
    /// and ending a user's sessions need. Walks every key of the prefix
    /// (`SCAN`) and lists each user once.
    ///
    /// # Errors
    ///
    /// When Redis fails.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let check = store.check_index().await?;
    /// if check.unlisted > 0 {
    ///     eprintln!("{} sessions are not listed by their user", check.unlisted);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_index(&self) -> Result<IndexCheck, StoreError> {
        let (check, _) = self.unlisted().await?;
        Ok(check)
    }

    /// Ends the live bound sessions their user's index does not list
    /// (see [`check_index`](Self::check_index)), each only if it is still
    /// bound to that user and still unlisted when it is ended. Those
    /// sessions' visitors are logged out; every other session is left
    /// alone.
    ///
    /// # Errors
    ///
    /// When Redis fails; what was ended stays ended.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let ended = store.end_unlisted().await?.unlisted;
    /// println!("{ended} sessions ended");
    /// assert_eq!(store.check_index().await?.unlisted, 0);
    /// # Ok(()) }
    /// ```
    pub async fn end_unlisted(&self) -> Result<IndexCheck, StoreError> {
        let (mut check, unlisted) = self.unlisted().await?;
        let mut ended = 0;
        for (user, redis_keys) in unlisted {
            // Listed again by now (a save wrote the entry): keep it.
            let listed = self.listed_tags(&user).await?;
            for redis_key in redis_keys {
                let tag = self.tag_of(&redis_key).unwrap_or_default();
                if listed.contains(tag) {
                    continue;
                }
                let args = [user.as_bytes().to_vec()];
                let done: i64 = self
                    .eval(&self.inner.end_if_user, &[redis_key], &args)
                    .await?;
                ended += u64::try_from(done).unwrap_or(0);
            }
        }
        check.unlisted = ended;
        Ok(check)
    }

    /// The check, and the Redis keys of the unlisted sessions by user.
    async fn unlisted(&self) -> Result<(IndexCheck, BTreeMap<String, Vec<String>>), StoreError> {
        let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut check = IndexCheck::default();
        // Sessions of the 0.1 layout are moved, and indexed, by `migrate`.
        for session in self.live_sessions(now()).await? {
            if let (Some(user), false) = (session.user, session.legacy) {
                check.bound += 1;
                by_user.entry(user).or_default().push(session.redis_key);
            }
        }
        check.users = by_user.len() as u64;
        let mut unlisted = BTreeMap::new();
        for (user, redis_keys) in by_user {
            let listed = self.listed_tags(&user).await?;
            let missed: Vec<String> = redis_keys
                .into_iter()
                .filter(|k| !listed.contains(self.tag_of(k).unwrap_or_default()))
                .collect();
            if !missed.is_empty() {
                check.unlisted += missed.len() as u64;
                unlisted.insert(user, missed);
            }
        }
        Ok((check, unlisted))
    }

    /// The key tags (`<prefix>{<tag>}`) of the sessions `user`'s index
    /// lists, as a listing reaches them.
    async fn listed_tags(&self, user: &str) -> Result<HashSet<String>, StoreError> {
        Ok(self
            .indexed(user)
            .await?
            .iter()
            .map(value::key_part)
            .collect())
    }
}
