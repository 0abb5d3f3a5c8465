//! The user index: a set per user of session keys, written around every
//! write that binds a session, and pruned only where that is safe.

use redis::Pipeline;
use session_core::time::OffsetDateTime;
use session_core::{Record, StoreError, StoreKey, now};

use crate::conn::{Conn, store_error};
use crate::store::RedisStore;

/// A user-index entry a write adds: `key` in `user`'s set, kept until at
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
}

impl RedisStore {
    /// Adds `key` to `user`'s index set, which lives at least until `expires_at`.
    pub(crate) fn index_commands(&self, pipe: &mut Pipeline, index: Index<'_>) {
        let set = self.user_key(index.user);
        let ttl = (index.expires_at - now()).whole_seconds().max(1);
        pipe.cmd("SADD")
            .arg(&set)
            .arg(self.session_key(index.key))
            .ignore();
        pipe.cmd("EXPIRE").arg(&set).arg(ttl).arg("NX").ignore();
        pipe.cmd("EXPIRE").arg(&set).arg(ttl).arg("GT").ignore();
    }

    /// Adds (or keeps alive) a user-index entry, in a round trip of its own.
    pub(crate) async fn write_index(&self, index: Index<'_>) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        self.index_commands(&mut pipe, index);
        self.pipeline::<()>(&pipe).await.map_err(store_error)
    }

    /// Removes `user`'s index entries of sessions that are not bound to
    /// the user. On a single node each goes only if, in the same step, its
    /// session is still not bound (a session being created keeps its
    /// entry); on a cluster nothing is removed here (see the crate docs).
    pub(crate) async fn prune(&self, user: &str, keys: &[StoreKey]) -> Result<(), StoreError> {
        if matches!(self.conn, Conn::Cluster(_)) {
            return Ok(());
        }
        for key in keys {
            let member = self.session_key(key);
            let script_keys = [self.user_key(user), member.clone()];
            let args = [user.as_bytes().to_vec(), member.into_bytes()];
            self.run_script::<i64>(&self.inner.prune, &script_keys, &args, None)
                .await?;
        }
        Ok(())
    }

    /// The members of `user`'s set, as store keys.
    pub(crate) async fn indexed(&self, user: &str) -> Result<Vec<StoreKey>, StoreError> {
        let members: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(self.user_key(user)))
            .await?;
        Ok(members
            .iter()
            .filter_map(|m| self.store_key_of(m))
            .collect())
    }

    /// Removes index entries of sessions that ended or moved to another user.
    pub(crate) async fn unindex(&self, user: &str, keys: &[StoreKey]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("SREM");
        cmd.arg(self.user_key(user));
        for key in keys {
            cmd.arg(self.session_key(key));
        }
        self.query::<()>(&cmd).await
    }
}
