//! The store: [`RedisStore`] and its mapping of the store contract onto
//! Redis strings and scripts.

use std::fmt;
use std::sync::Arc;

use redis::{RedisError, Value};
use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, UserIndex,
    async_trait, now,
};

use crate::RedisStoreBuilder;
use crate::batch::{Batches, Save};
use crate::conn::Conn;
use crate::index::Index;
use crate::scripts::Lua;
use crate::value::{self, Stored};

/// A [`SessionStore`] on Redis. See the [crate docs](crate). Cheap to clone.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use session_store_redis::RedisStore;
/// use session_core::{KeyRing, SessionManager};
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let manager = SessionManager::new(store.clone(), KeyRing::new([6u8; 32])?);
/// let request = manager.request(None);
/// request.load().await?.set_user("alice")?;
/// request.finish(200).await?;
/// assert!(!manager.sessions_of("alice").await?.is_empty()); // the user's index
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) conn: Conn,
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) prefix: String,
    /// The salt this store would give a new user index (see
    /// [`crate::index`]).
    pub(crate) salt: Vec<u8>,
    /// Loads and saves sharing commands (a single node).
    pub(crate) batches: Option<Batches>,
    pub(crate) create: Lua,
    pub(crate) update: Lua,
    pub(crate) touch: Lua,
    pub(crate) end_if_user: Lua,
    pub(crate) rotate: Lua,
    pub(crate) prune: Lua,
    pub(crate) index: Lua,
    pub(crate) index_user: Lua,
    pub(crate) lookup: Lua,
    pub(crate) move_legacy: Lua,
    pub(crate) end_legacy: Lua,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &matches!(self.conn, Conn::Cluster(_)))
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

impl RedisStore {
    /// Starts configuring a store.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::builder().connect("redis://127.0.0.1:6379").await?;
    /// let key = session_core::StoreKey::new("ab12");
    /// assert_eq!(store.session_key(&key), "session:{ab12}"); // the default prefix
    /// # Ok(()) }
    /// ```
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// Connects to a single Redis server with the default settings.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or the server cannot be reached.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        Self::builder().connect(url).await
    }

    /// Connects to a Redis Cluster with the default settings.
    ///
    /// # Errors
    ///
    /// When a URL is invalid or no node can be reached.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// // Any reachable node will do; the client discovers the others.
    /// let store = RedisStore::connect_cluster(["redis://127.0.0.1:7000"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<Self, RedisError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::builder().connect_cluster(nodes).await
    }

    /// The Redis key of a session: the prefix and, as its hash tag, 16
    /// characters of the store key's digest (see the crate docs).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let id = session_core::SessionId::generate();
    /// // For looking a session up with redis-cli (the ID itself is never in a key):
    /// let redis_key = store.session_key(&id.store_key());
    /// assert!(redis_key.starts_with("session:{") && !redis_key.contains(id.expose()));
    /// assert_eq!(redis_key.len(), "session:{}".len() + 16);
    /// # Ok(()) }
    /// ```
    pub fn session_key(&self, key: &StoreKey) -> String {
        // One allocation: this runs on every load and save.
        let prefix = &self.inner.prefix;
        let mut redis_key = String::with_capacity(prefix.len() + 3 + key.as_str().len());
        redis_key.push_str(prefix);
        redis_key.push('{');
        value::push_key_part(&mut redis_key, key);
        redis_key.push('}');
        redis_key
    }

    /// The Redis key of a user's index on a cluster: a sorted set of the
    /// user's sessions. (A single node keeps every user's entries in
    /// shared buckets under [`index_key`](Self::index_key); earlier
    /// releases kept this key on a single node too, and it is moved into
    /// the buckets when the user's sessions are next listed or by
    /// [`migrate`](Self::migrate).)
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.user_key("alice"), "session:u:{alice}");
    /// # Ok(()) }
    /// ```
    pub fn user_key(&self, user: &str) -> String {
        format!("{}u:{{{}}}", self.inner.prefix, user)
    }

    /// The Redis key of the user index on a single node: a hash of its
    /// shape (level `L`, split `s`, entries `n`), with the buckets under
    /// this key, `:` and a number (see the crate docs).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.index_key(), "session:i"); // buckets: session:i:0, session:i:1, …
    /// # Ok(()) }
    /// ```
    pub fn index_key(&self) -> String {
        index_key_of(&self.inner.prefix)
    }

    /// The part between the braces of a session's Redis key (`<prefix>{…}`,
    /// in either layout); `None` for any other key, a user index's say.
    pub(crate) fn tag_of<'k>(&self, redis_key: &'k str) -> Option<&'k str> {
        redis_key
            .strip_prefix(self.inner.prefix.as_str())?
            .strip_prefix('{')?
            .strip_suffix('}')
    }

    /// The stored session under `redis_key`, parsed by `parse`.
    pub(crate) async fn get<T>(
        &self,
        redis_key: &str,
        parse: impl FnOnce(Stored<'_>) -> T,
    ) -> Result<Option<T>, StoreError> {
        let batched = match &self.inner.batches {
            Some(batches) => batches.get(redis_key).await,
            None => None,
        };
        let value: Option<Vec<u8>> = match batched {
            Some(value) => Some(value),
            None => self.query(redis::cmd("GET").arg(redis_key)).await?,
        };
        value
            .as_deref()
            .map(|v| Stored::parse(v).map(parse))
            .transpose()
    }
}

/// The single node's user index key under `prefix` (see
/// [`RedisStore::index_key`]).
pub(crate) fn index_key_of(prefix: &str) -> String {
    format!("{prefix}i")
}

fn seconds(at: OffsetDateTime) -> Vec<u8> {
    at.unix_timestamp().to_string().into_bytes()
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let record = match self
            .get(&self.session_key(key), |s| s.into_record(key.clone()))
            .await?
        {
            Some(record) => record,
            None => match self.load_legacy(key).await? {
                Some(record) => record,
                None => return Ok(None),
            },
        };
        // Redis drops the key at its expiry; this covers clock skew between
        // the application and Redis.
        Ok(record.is_live_at(now()).then_some(record))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let value = value::encode(record)?;
        let redis_key = self.session_key(&record.key);
        let created = match Index::of(record) {
            // Nothing to index: a plain `SET … NX`.
            None => self
                .query::<Option<String>>(
                    redis::cmd("SET")
                        .arg(&redis_key)
                        .arg(value)
                        .arg("NX")
                        .arg("EXAT")
                        .arg(record.expires_at.unix_timestamp()),
                )
                .await?
                .is_some(),
            Some(index) => {
                let args = [value, seconds(record.expires_at)];
                self.run_script::<i64>(&self.inner.create, &[redis_key], &args, Some(index))
                    .await?
                    == 1
            }
        };
        if created {
            Ok(())
        } else {
            Err(StoreError::Duplicate)
        }
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        let args = || -> Result<Vec<Vec<u8>>, StoreError> {
            Ok(vec![
                value::expected(expected_version),
                value::encode(record)?,
                seconds(record.expires_at),
            ])
        };
        let key = self.session_key(&record.key);
        let index = Index::of(record);
        let mut outcome = None;
        if let Some(batches) = &self.inner.batches {
            let save = Save {
                key: key.clone(),
                entry: index.map(|i| [value::member(i.key), i.user.as_bytes().to_vec()]),
                args: args()?,
            };
            outcome = batches.update(save).await;
        }
        let outcome: i64 = match outcome {
            Some(outcome) => outcome,
            // No batch, or it failed: alone (encoding again, which only
            // this rare path pays for).
            None => {
                self.run_script(&self.inner.update, &[key], &args()?, index)
                    .await?
            }
        };
        match outcome {
            1 => Ok(()),
            0 => Err(StoreError::Conflict),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        // One script indexes one record; a forward is never bound.
        if matches!(self.conn, Conn::Cluster(_)) || old.user.is_some() {
            return session_core::store::rotate_in_steps(self, old, expected_version, new).await;
        }
        let args = [
            value::expected(expected_version),
            value::encode(old)?,
            seconds(old.expires_at),
            value::encode(new)?,
            seconds(new.expires_at),
        ];
        let keys = [self.session_key(&old.key), self.session_key(&new.key)];
        let outcome: i64 = self
            .run_script(&self.inner.rotate, &keys, &args, Index::of(new))
            .await?;
        match outcome {
            1 => Ok(()),
            0 => Err(StoreError::Conflict),
            -2 => Err(StoreError::Duplicate),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        // The user's index keeps an entry, skipped when read and gone once
        // its score (the session's last expiry) has passed.
        self.query::<()>(redis::cmd("DEL").arg(self.session_key(key)))
            .await
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        let args = [
            value::seconds(expires_at, "expiry")?.to_vec(),
            seconds(expires_at),
        ];
        let reply: Vec<Value> = self
            .run_script(&self.inner.touch, &[self.session_key(key)], &args, None)
            .await?;
        match reply.as_slice() {
            [] => Err(StoreError::NotFound),
            [_] => Ok(()),
            [old, user, ..] => {
                let old: i64 = redis::from_redis_value_ref(old)
                    .map_err(|e| StoreError::Corrupt(format!("expiry is not a number: {e}")))?;
                if value::index_score_of(old) >= value::index_score(expires_at) {
                    return Ok(());
                }
                // Raise the user's index entry to the new expiry.
                let user: String = redis::from_redis_value_ref(user)
                    .map_err(|e| StoreError::Corrupt(format!("user is not text: {e}")))?;
                self.write_index(Index {
                    user: &user,
                    key,
                    expires_at,
                })
                .await
            }
        }
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        // Redis expires sessions itself.
        Ok(0)
    }

    fn expires_natively(&self) -> bool {
        true
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        Some(self)
    }
}

#[async_trait]
impl Maintenance for RedisStore {
    /// Walks the prefix with `SCAN` (never `KEYS`), on every primary of a
    /// cluster.
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        let now = now();
        let live = self.live_sessions(now).await?;
        Ok(StoreStats::tally(
            now,
            live.iter().map(|s| (s.expires_at, s.user.as_deref())),
            None,
            top_users,
        ))
    }
    /// Nothing to sweep: Redis expires sessions itself.
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        let _ = max;
        Ok(0)
    }
}

#[async_trait]
impl UserIndex for RedisStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let mut sessions = Vec::new();
        let mut stale = Vec::new();
        for key in self.indexed(user).await? {
            match self.load(&key).await {
                Ok(Some(r)) if r.user.as_deref() == Some(user) => {
                    sessions.push(SessionInfo::from(&r));
                }
                Ok(_) => stale.push(key),
                Err(StoreError::Corrupt(_)) => stale.push(key),
                Err(e) => return Err(e),
            }
        }
        self.prune(user, &stale).await?;
        sessions.sort();
        Ok(sessions)
    }

    async fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let (mut ended, mut stale) = (Vec::new(), Vec::new());
        for key in self.indexed(user).await? {
            if Some(&key) == keep {
                continue;
            }
            let args = [user.as_bytes().to_vec()];
            let deleted: i64 = self
                .run_script(
                    &self.inner.end_if_user,
                    &[self.session_key(&key)],
                    &args,
                    None,
                )
                .await?;
            if deleted == 1 {
                ended.push(key);
            } else {
                stale.push(key);
            }
        }
        // A session this revoke ended never comes back (IDs are not
        // reused): its entry can go at once.
        self.unindex(user, &ended).await?;
        self.prune(user, &stale).await?;
        Ok(ended.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use session_conformance::fixtures::record;
    use session_conformance::services;
    use session_core::time::Duration;
    use session_core::{SessionStore, UserIndex};

    use crate::RedisStore;
    use crate::index::Index;

    /// A save that runs alone on a single node (as one does when its batch
    /// failed) writes the user index as a batched one does: rebinding
    /// lists the session under its new user only, its entry scored with
    /// the new expiry's hour.
    #[tokio::test]
    async fn a_save_alone_rebinds_in_the_index() {
        let url = services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379");
        let store = match RedisStore::builder()
            .prefix(format!("{}:", services::unique_name("alone")))
            .connect(&url)
            .await
        {
            Ok(store) => store,
            Err(e) => return services::unavailable("Redis", e).unwrap_or(()),
        };
        let mut r = record(Duration::hours(2), Some("before"));
        store.create(&r).await.unwrap();
        r.version += 1;
        r.user = Some("after".into());
        r.expires_at += Duration::hours(5);
        let args = [
            crate::value::expected(1),
            crate::value::encode(&r).unwrap(),
            super::seconds(r.expires_at),
        ];
        let key = store.session_key(&r.key);
        let done: i64 = store
            .run_script(&store.inner.update, &[key], &args, Index::of(&r))
            .await
            .unwrap();
        assert_eq!(done, 1);
        let listed = |user| {
            let store = store.clone();
            async move {
                let listed = store.sessions_of(user).await.unwrap();
                listed.into_iter().map(|s| s.key).collect::<Vec<_>>()
            }
        };
        assert_eq!(listed("after").await, [r.key.clone()]);
        assert!(listed("before").await.is_empty());
        // The index is one bucket this small; a score is the hour times
        // 256 plus a byte of the user's hash.
        let mut c = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let entries: Vec<(Vec<u8>, i64)> = redis::cmd("ZRANGE")
            .arg(format!("{}:0", store.index_key()))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await
            .unwrap();
        let hour = crate::value::index_score(r.expires_at) / crate::value::INDEX_STEP;
        assert_eq!(
            entries
                .iter()
                .map(|(_, score)| score / 256)
                .collect::<Vec<_>>(),
            [hour],
            "{entries:?}"
        );
    }
}
