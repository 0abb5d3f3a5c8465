//! The user index: a sorted set per user of the user's sessions, each
//! scored with (at least) its session's expiry rounded up to the hour,
//! and living as long as its highest score. Entries are added in the same
//! step as the write that binds a session (on a single node), or before
//! and after it (on a cluster); removed when their score has passed, when
//! the store ended their session, or (single node) by a script that checks
//! in the same step that the session is not bound to the user.

use session_core::time::OffsetDateTime;
use session_core::{Record, StoreError, StoreKey, now};

use crate::conn::Conn;
use crate::store::RedisStore;
use crate::value;

/// A user-index entry a write adds: `key` in `user`'s index, kept until at
/// least `expires_at`.
#[derive(Clone, Copy)]
pub(crate) struct Index<'a> {
    pub(crate) user: &'a str,
    pub(crate) key: &'a StoreKey,
    pub(crate) expires_at: OffsetDateTime,
}

impl<'a> Index<'a> {
    /// The entry for `record`, when it is bound to a user.
    pub(crate) fn of(record: &'a Record) -> Option<Self> {
        Some(Index {
            user: record.user.as_deref()?,
            key: &record.key,
            expires_at: record.expires_at,
        })
    }

    /// The entry as scripts take it: member, score, the current time,
    /// user.
    pub(crate) fn args(self) -> [Vec<u8>; 4] {
        [
            value::member(self.key),
            value::index_score(self.expires_at).to_string().into_bytes(),
            now().unix_timestamp().to_string().into_bytes(),
            self.user.as_bytes().to_vec(),
        ]
    }
}

impl RedisStore {
    /// Adds (or raises) a user-index entry, in a round trip of its own.
    pub(crate) async fn write_index(&self, index: Index<'_>) -> Result<(), StoreError> {
        let keys = [self.user_key(index.user)];
        self.eval::<i64>(&self.inner.index, &keys, &index.args()[..3])
            .await
            .map(drop)
    }

    /// Removes `user`'s index entries of sessions that are not bound to
    /// the user. On a single node each goes only if, in the same step, its
    /// session is still not bound (a session being bound keeps its
    /// entry); on a cluster nothing is removed here: the entries go when
    /// their score passes.
    pub(crate) async fn prune(&self, user: &str, keys: &[StoreKey]) -> Result<(), StoreError> {
        if matches!(self.conn, Conn::Cluster(_)) {
            return Ok(());
        }
        for key in keys {
            let script_keys = [self.user_key(user), self.session_key(key)];
            let args = [user.as_bytes().to_vec(), value::member(key)];
            self.run_script::<i64>(&self.inner.prune, &script_keys, &args, None)
                .await?;
        }
        Ok(())
    }

    /// The sessions `user`'s index lists (after moving any index of the
    /// old layout over).
    pub(crate) async fn indexed(&self, user: &str) -> Result<Vec<StoreKey>, StoreError> {
        self.move_legacy_index(user).await?;
        let members: Vec<Vec<u8>> = self
            .query(redis::cmd("ZRANGE").arg(self.user_key(user)).arg(0).arg(-1))
            .await?;
        Ok(members
            .iter()
            .filter_map(|m| value::key_of_member(m))
            .collect())
    }

    /// Removes index entries of sessions that ended.
    pub(crate) async fn unindex(&self, user: &str, keys: &[StoreKey]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.user_key(user));
        for key in keys {
            cmd.arg(value::member(key));
        }
        self.query::<()>(&cmd).await
    }
}
