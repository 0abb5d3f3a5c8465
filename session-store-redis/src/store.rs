//! The store: [`RedisStore`] and its mapping of the store contract onto
//! Redis hashes and scripts.

use std::fmt;
use std::sync::Arc;

use redis::{RedisError, Value};
use session_core::time::OffsetDateTime;
use session_core::{
    Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, async_trait, now,
};

use crate::RedisStoreBuilder;
use crate::conn::Conn;
use crate::index::Index;
use crate::scripts::Lua;

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
/// assert!(!manager.sessions_of("alice").await?.is_empty()); // the per-user set
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) conn: Conn,
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) prefix: String,
    pub(crate) create: Lua,
    pub(crate) update: Lua,
    pub(crate) touch: Lua,
    pub(crate) end_if_user: Lua,
    pub(crate) rotate: Lua,
    pub(crate) prune: Lua,
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

    /// The Redis key of a session.
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
    /// # Ok(()) }
    /// ```
    pub fn session_key(&self, key: &StoreKey) -> String {
        format!("{}{{{}}}", self.inner.prefix, key.as_str())
    }

    /// The Redis key of a user's index set.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.user_key("alice"), "session:user:{alice}");
    /// # Ok(()) }
    /// ```
    pub fn user_key(&self, user: &str) -> String {
        format!("{}user:{{{}}}", self.inner.prefix, user)
    }

    pub(crate) fn store_key_of(&self, redis_key: &str) -> Option<StoreKey> {
        let rest = redis_key.strip_prefix(&self.inner.prefix)?;
        Some(StoreKey::new(rest.strip_prefix('{')?.strip_suffix('}')?))
    }
}

fn int_field(field: &Option<Vec<u8>>, name: &str) -> Result<i64, StoreError> {
    field
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("field {name} is missing or not an integer")))
}

fn time_field(field: &Option<Vec<u8>>, name: &str) -> Result<OffsetDateTime, StoreError> {
    let secs = int_field(field, name)?;
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| StoreError::Corrupt(format!("field {name} out of range")))
}

fn record_args(record: &Record) -> Vec<Vec<u8>> {
    vec![
        record.data.clone(),
        record.version.to_string().into_bytes(),
        record.created_at.unix_timestamp().to_string().into_bytes(),
        record.expires_at.unix_timestamp().to_string().into_bytes(),
        if record.user.is_some() {
            b"1".to_vec()
        } else {
            b"0".to_vec()
        },
        record.user.clone().unwrap_or_default().into_bytes(),
    ]
}

#[async_trait]
#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let fields: Vec<Option<Vec<u8>>> = self
            .query(
                redis::cmd("HMGET")
                    .arg(self.session_key(key))
                    .arg(&["d", "v", "c", "e", "u"]),
            )
            .await?;
        let [data, version, created, expires, user] = <[Option<Vec<u8>>; 5]>::try_from(fields)
            .map_err(|_| StoreError::Corrupt("unexpected reply to HMGET".to_owned()))?;
        if data.is_none() && version.is_none() && expires.is_none() {
            return Ok(None);
        }
        let record = Record {
            key: key.clone(),
            data: data.ok_or_else(|| StoreError::Corrupt("no data field".to_owned()))?,
            version: u64::try_from(int_field(&version, "v")?)
                .map_err(|_| StoreError::Corrupt("negative version".to_owned()))?,
            created_at: time_field(&created, "c")?,
            expires_at: time_field(&expires, "e")?,
            user: user
                .map(String::from_utf8)
                .transpose()
                .map_err(|_| StoreError::Corrupt("user is not UTF-8".to_owned()))?,
        };
        // Redis drops the key at its expiry; this covers clock skew between
        // the application and Redis.
        Ok(record.is_live_at(now()).then_some(record))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let created: i64 = self
            .run_script(
                &self.inner.create,
                &[self.session_key(&record.key)],
                &record_args(record),
                Index::of(record),
            )
            .await?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::Duplicate)
        }
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        let mut args = vec![expected_version.to_string().into_bytes()];
        args.extend(record_args(record));
        let outcome: i64 = self
            .run_script(
                &self.inner.update,
                &[self.session_key(&record.key)],
                &args,
                Index::of(record),
            )
            .await?;
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
        if matches!(self.conn, Conn::Cluster(_)) {
            return session_core::store::rotate_in_steps(self, old, expected_version, new).await;
        }
        let mut args = vec![expected_version.to_string().into_bytes()];
        args.extend(record_args(old));
        args.extend(record_args(new));
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
        // The user's set keeps a stale entry, skipped when read.
        self.query::<()>(redis::cmd("DEL").arg(self.session_key(key)))
            .await
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        let args = [expires_at.unix_timestamp().to_string().into_bytes()];
        let reply: Vec<Value> = self
            .run_script(&self.inner.touch, &[self.session_key(key)], &args, None)
            .await?;
        match reply.as_slice() {
            [] => Err(StoreError::NotFound),
            [_] => Ok(()),
            [_, user, ..] => {
                // Keep the user's set alive as long as this session.
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

    /// Walks the prefix with `SCAN` (never `KEYS`), on every primary of a
    /// cluster.
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        let now = now();
        let user_prefix = format!("{}user:", self.inner.prefix);
        let mut live = Vec::new();
        for key in self.scan_prefix().await? {
            if key.starts_with(&user_prefix) {
                continue;
            }
            let Some(store_key) = self.store_key_of(&key) else {
                continue;
            };
            match self.load(&store_key).await {
                Ok(Some(r)) => live.push((r.expires_at, r.user)),
                Ok(None) | Err(StoreError::Corrupt(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(StoreStats::tally(
            now,
            live.iter().map(|(e, u)| (*e, u.as_deref())),
            None,
            top_users,
        ))
    }

    fn supports_user_index(&self) -> bool {
        true
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let mut sessions = Vec::new();
        let mut stale = Vec::new();
        for key in self.indexed(user).await? {
            match self.load(&key).await {
                Ok(Some(r)) if r.user.as_deref() == Some(user) => sessions.push(SessionInfo {
                    key,
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                }),
                Ok(_) => stale.push(key),
                Err(StoreError::Corrupt(_)) => stale.push(key),
                Err(e) => return Err(e),
            }
        }
        self.prune(user, &stale).await?;
        sessions.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
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
