//! The user index: which sessions each user has, for
//! [`UserIndex`](session_core::UserIndex).
//!
//! **On a single node** the entries of all users share buckets, sorted
//! sets under `<prefix>i:<n>`, so that an entry costs about what its
//! member does (a session's 32-byte digest and its score, about 45 bytes
//! in all) rather than a key of its own (about 200 bytes in Redis when
//! each user has one session).
//!
//! - A user's bucket follows from the first 24 bits of the SHA-1 of a salt
//!   and the user ID. The salt is random, drawn by the store that starts
//!   the index and kept in the index key, so no one can pick user IDs
//!   that crowd one bucket.
//! - An entry's score is its session's expiry in hours, rounded up, times
//!   256, plus the hash's last byte: a lookup reads the user's bucket and
//!   keeps the members that carry the user's byte and have not passed
//!   (then checks each session's own user, as every store must).
//! - The number of buckets follows the number of entries by linear
//!   hashing: the index key holds its shape (level `L`, split point `s`,
//!   entries `n`); bucket `b` of `2^L + s` takes the users whose 24 bits
//!   are `b` modulo `2^L` (modulo `2^(L+1)` below `s`); when `n` passes 48
//!   entries per bucket, the bucket at `s` is split in two by the user
//!   each entry's session is bound to now (an entry whose session ended,
//!   moved to another user or passed goes). Buckets therefore stay under
//!   the 128 entries of a compact sorted set (`zset-max-listpack-entries`,
//!   Redis's default), and a lookup reads at most a bucket.
//! - Everything runs in the scripts that write the sessions, so the index
//!   and the sessions change in one step; those scripts reach buckets and
//!   sessions whose keys they compute from the index key, which a single
//!   node allows and a cluster would not. The index key must stay with its
//!   buckets: without it the buckets past the first are not found.
//!
//! **On a cluster**, where a script cannot reach another slot, each user
//! has a sorted set (`<prefix>u:{<user>}`) of the user's sessions, scored
//! with their expiry rounded up to the hour and living as long as its
//! highest score; the entry is written before the write that binds a
//! session and again after it.
//!
//! On both, entries go when their score has passed, when the store ended
//! their session, or (single node) by a script that checks in the same
//! step that the session is not bound to a user the entry may be of.

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
    /// user, and the salt a new index takes for its hash of user IDs.
    pub(crate) fn args(self, salt: &[u8]) -> [Vec<u8>; 5] {
        [
            value::member(self.key),
            value::index_score(self.expires_at).to_string().into_bytes(),
            now().unix_timestamp().to_string().into_bytes(),
            self.user.as_bytes().to_vec(),
            salt.to_vec(),
        ]
    }
}

impl RedisStore {
    /// Adds (or raises) a user-index entry, in a round trip of its own.
    pub(crate) async fn write_index(&self, index: Index<'_>) -> Result<(), StoreError> {
        let args = index.args(&self.inner.salt);
        let (lua, keys, args) = match self.conn {
            Conn::Single(_) => (&self.inner.index, [self.index_key()], &args[..]),
            Conn::Cluster(_) => (
                &self.inner.index_user,
                [self.user_key(index.user)],
                &args[..3],
            ),
        };
        self.eval::<i64>(lua, &keys, args).await.map(drop)
    }

    /// Removes `user`'s index entries of sessions that are not bound to
    /// the user. On a single node each goes only if, in the same step, its
    /// session is not bound to a user the entry may be of (a session being
    /// bound keeps its entry); on a cluster nothing is removed here: the
    /// entries go when their score passes.
    pub(crate) async fn prune(&self, user: &str, keys: &[StoreKey]) -> Result<(), StoreError> {
        if matches!(self.conn, Conn::Cluster(_)) {
            return Ok(());
        }
        for key in keys {
            let script_keys = [self.index_key(), self.session_key(key)];
            let args = [user.as_bytes().to_vec(), value::member(key)];
            self.eval::<i64>(&self.inner.prune, &script_keys, &args)
                .await?;
        }
        Ok(())
    }

    /// The sessions `user`'s index may list (after moving any index of an
    /// older layout over); the caller checks each session's user.
    pub(crate) async fn indexed(&self, user: &str) -> Result<Vec<StoreKey>, StoreError> {
        self.move_legacy_index(user).await?;
        let members: Vec<Vec<u8>> = match self.conn {
            Conn::Single(_) => {
                let args = [
                    user.as_bytes().to_vec(),
                    now().unix_timestamp().to_string().into_bytes(),
                    self.inner.salt.clone(),
                ];
                self.eval(&self.inner.lookup, &[self.index_key()], &args)
                    .await?
            }
            Conn::Cluster(_) => {
                self.query(redis::cmd("ZRANGE").arg(self.user_key(user)).arg(0).arg(-1))
                    .await?
            }
        };
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
        if let Conn::Single(_) = self.conn {
            // The sessions are gone, so pruning removes their entries.
            return self.prune(user, keys).await;
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.user_key(user));
        for key in keys {
            cmd.arg(value::member(key));
        }
        self.query::<()>(&cmd).await
    }
}
