//! A session store on Redis, single node or Redis Cluster.
//!
//! Redis is the cache engine: sessions expire through Redis's own TTLs, and
//! every operation of the store contract is one round trip.
//!
//! - `load` is one `HMGET` of the session's hash.
//! - `create`, `update` and `touch` are Lua scripts: `create` inserts only
//!   if absent, `update` checks the version and refuses a missing key (a
//!   compare-and-swap with no `WATCH` loop), `touch` moves the expiry alone.
//! - Each session lives under `<prefix>{<store key>}`; the braces make the
//!   key its own hash tag, and every script touches that one key only, so
//!   the same code runs on a cluster.
//! - The user index is a set per user (`<prefix>user:{<user>}`) of session
//!   keys. A write that binds a session to a user adds the entry before its
//!   script and again after it (one pipeline on a single node), so every
//!   session of a user is listed from the moment the write returns, even
//!   if the set was pruned while the write ran. Entries of sessions that
//!   ended are skipped when the set is read; on a single node they are
//!   removed by a script that checks, in the same step, that the session
//!   is not (or not yet) bound to the user; on a cluster (where the set and
//!   the session sit in different slots) only entries of sessions the
//!   store itself ended are removed, and the rest go when the set expires
//!   with the user's last session.
//! - `rotate` (a new ID on login) is one script on a single node; on a
//!   cluster, where the two keys sit in different slots, it runs
//!   [in steps](session_core::store::rotate_in_steps).
//! - Nothing uses `KEYS`.
//! - When Redis goes away, operations fail with [`StoreError::Unavailable`]
//!   and the connection comes back by itself once Redis does.
//! - Durability is Redis's: an acknowledged write (a save or a logout)
//!   survives a crash of Redis as far as its persistence (`appendonly`,
//!   `appendfsync`) keeps it.
//!
//! Requires Redis 7.0 or newer (for `EXPIRE … NX|GT`).
//!
//! ```no_run
//! use session_core::{KeyRing, SessionManager};
//! use session_store_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! // Or a cluster, from any of its nodes:
//! // let store = RedisStore::connect_cluster(["redis://127.0.0.1:7000"]).await?;
//! let manager = SessionManager::new(store, KeyRing::new([6u8; 32])?);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod django_cache;
mod scripts;

pub use django_cache::DjangoCacheStore;

use scripts::Lua;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, Value};
use session_core::time::OffsetDateTime;
use session_core::{
    Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, async_trait, now,
};

/// How long a command may wait for its answer, and a connection attempt
/// for the server, before the operation fails as unavailable.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

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
    conn: Conn,
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    create: Lua,
    update: Lua,
    touch: Lua,
    end_if_user: Lua,
    rotate: Lua,
    prune: Lua,
}

/// A user-index entry a write adds: `key` in `user`'s set, kept until at
/// least `expires_at`.
#[derive(Clone, Copy)]
struct Index<'a> {
    user: &'a str,
    key: &'a StoreKey,
    expires_at: OffsetDateTime,
}

impl<'a> Index<'a> {
    /// The entry for `record`, when it is bound to a user.
    fn of(record: &'a Record) -> Option<Self> {
        Some(Index {
            user: record.user.as_deref()?,
            key: &record.key,
            expires_at: record.expires_at,
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &matches!(self.conn, Conn::Cluster(_)))
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

/// Configures a [`RedisStore`]; see [`RedisStore::builder`].
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use session_store_redis::RedisStore;
/// let store = RedisStore::builder()
///     .prefix("shop:session:")
///     .timeout(std::time::Duration::from_millis(500))
///     .connect("redis://127.0.0.1:6379")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RedisStoreBuilder {
    prefix: String,
    timeout: Duration,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        RedisStoreBuilder {
            prefix: "session:".into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key the store writes (default `session:`).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::builder().prefix("app1:").connect("redis://127.0.0.1:6379").await?;
    /// let key = session_core::StoreKey::new("ab12");
    /// assert_eq!(store.session_key(&key), "app1:{ab12}");
    /// # Ok(()) }
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a command or connection attempt may take before the
    /// operation fails with [`StoreError::Unavailable`] (default 2 s).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// use session_core::SessionStore;
    /// let store = RedisStore::builder()
    ///     .timeout(std::time::Duration::from_millis(300))
    ///     .connect("redis://127.0.0.1:6379")
    ///     .await?;
    /// // If Redis stops answering, operations fail within about 300 ms:
    /// if let Err(e) = store.load(&session_core::SessionId::generate().store_key()).await {
    ///     assert!(e.is_unavailable());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects to a single Redis server.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or the server cannot be reached.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::builder().connect("redis://:password@redis.internal:6379/2").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(self, url: &str) -> Result<RedisStore, RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.timeout))
            .set_connection_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(self.build(Conn::Single(conn)))
    }

    /// Connects to a Redis Cluster through any of its nodes.
    ///
    /// # Errors
    ///
    /// When a URL is invalid or no node can be reached.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::builder()
    ///     .prefix("app:")
    ///     .connect_cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_cluster<I, S>(self, nodes: I) -> Result<RedisStore, RedisError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes: Vec<String> = nodes.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let client = ClusterClientBuilder::new(nodes)
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout)
            .build()?;
        let conn = client.get_async_connection().await?;
        Ok(self.build(Conn::Cluster(conn)))
    }

    fn build(self, conn: Conn) -> RedisStore {
        RedisStore {
            conn,
            inner: Arc::new(Inner {
                prefix: self.prefix,
                create: Lua::new(scripts::CREATE),
                update: Lua::new(scripts::UPDATE),
                touch: Lua::new(scripts::TOUCH),
                end_if_user: Lua::new(scripts::END_IF_USER),
                rotate: Lua::new(scripts::ROTATE),
                prune: Lua::new(scripts::PRUNE),
            }),
        }
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

    fn store_key_of(&self, redis_key: &str) -> Option<StoreKey> {
        let rest = redis_key.strip_prefix(&self.inner.prefix)?;
        Some(StoreKey::new(rest.strip_prefix('{')?.strip_suffix('}')?))
    }

    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let result = match self.conn.clone() {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        };
        result.map_err(store_error)
    }

    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> Result<T, RedisError> {
        match self.conn.clone() {
            Conn::Single(mut c) => pipe.query_async(&mut c).await,
            Conn::Cluster(mut c) => pipe.query_async(&mut c).await,
        }
    }

    /// Adds `key` to `user`'s index set, which lives at least until `expires_at`.
    fn index_commands(&self, pipe: &mut Pipeline, index: Index<'_>) {
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
    async fn write_index(&self, index: Index<'_>) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        self.index_commands(&mut pipe, index);
        self.pipeline::<()>(&pipe).await.map_err(store_error)
    }

    /// Runs a script on `keys` (Redis keys). A write that binds a session
    /// to a user adds its index entry before the script and again after it:
    /// before, so the session is never bound unlisted; after, so an entry
    /// pruned while the script ran (the session not yet there) is back
    /// when the write returns.
    async fn run_script<T: FromRedisValue>(
        &self,
        lua: &Lua,
        keys: &[String],
        args: &[Vec<u8>],
        index: Option<Index<'_>>,
    ) -> Result<T, StoreError> {
        let call = |verb: &str, script_arg: &str| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(script_arg).arg(keys.len());
            for key in keys {
                cmd.arg(key);
            }
            for arg in args {
                cmd.arg(arg.as_slice());
            }
            cmd
        };
        let evalsha = call("EVALSHA", lua.script.get_hash());
        let result = match (self.conn.clone(), index) {
            (Conn::Single(mut c), Some(index)) => {
                let mut pipe = redis::pipe();
                self.index_commands(&mut pipe, index);
                pipe.add_command(evalsha);
                self.index_commands(&mut pipe, index);
                pipe.query_async::<(T,)>(&mut c).await.map(|(value,)| value)
            }
            (conn, index) => {
                if let Some(index) = index {
                    self.write_index(index).await?;
                }
                let result = match conn {
                    Conn::Single(mut c) => evalsha.query_async(&mut c).await,
                    Conn::Cluster(mut c) => evalsha.query_async(&mut c).await,
                };
                if let (Ok(_), Some(index)) = (&result, index) {
                    self.write_index(index).await?;
                }
                result
            }
        };
        match result {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                // EVAL loads the script; the entry is written again after it.
                let value = self.query(&call("EVAL", lua.source)).await?;
                if let Some(index) = index {
                    self.write_index(index).await?;
                }
                Ok(value)
            }
            other => other.map_err(store_error),
        }
    }

    /// Removes `user`'s index entries of sessions that are not bound to
    /// the user. On a single node each goes only if, in the same step, its
    /// session is still not bound (a session being created keeps its
    /// entry); on a cluster nothing is removed here (see the crate docs).
    async fn prune(&self, user: &str, keys: &[StoreKey]) -> Result<(), StoreError> {
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

    async fn scan_prefix(&self) -> Result<Vec<String>, StoreError> {
        // Every glob character escaped, the escape character first.
        let pattern = format!(
            "{}*",
            self.inner
                .prefix
                .replace('\\', "\\\\")
                .replace('*', "\\*")
                .replace('?', "\\?")
                .replace('[', "\\[")
        );
        let mut keys = Vec::new();
        match self.conn.clone() {
            Conn::Single(mut c) => {
                let mut cursor = 0u64;
                loop {
                    let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                        .map_err(store_error)?;
                    keys.extend(batch);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            // SCAN answers for one node: walk every primary.
            Conn::Cluster(mut c) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let nodes: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut c)
                    .await
                    .map_err(store_error)?;
                for (host, port) in primaries(&nodes) {
                    let mut cursor = 0u64;
                    loop {
                        let mut scan = redis::cmd("SCAN");
                        scan.arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(1000);
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        });
                        let reply = c.route_command(scan, route).await.map_err(store_error)?;
                        let (next, batch): (u64, Vec<String>) = redis::from_redis_value(reply)
                            .map_err(|e| {
                                StoreError::backend(format!("unexpected SCAN reply: {e}"))
                            })?;
                        keys.extend(batch);
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
            }
        }
        Ok(keys)
    }

    /// Runs a script on one key (`EVALSHA`, loading it when Redis does not know it).
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        script: &redis::Script,
        key: &str,
        args: &[Vec<u8>],
    ) -> Result<T, StoreError> {
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(arg.as_slice());
        }
        let result = match self.conn.clone() {
            Conn::Single(mut c) => invocation.invoke_async(&mut c).await,
            Conn::Cluster(mut c) => invocation.invoke_async(&mut c).await,
        };
        result.map_err(store_error)
    }

    /// The members of `user`'s set, as store keys.
    async fn indexed(&self, user: &str) -> Result<Vec<StoreKey>, StoreError> {
        let members: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(self.user_key(user)))
            .await?;
        Ok(members
            .iter()
            .filter_map(|m| self.store_key_of(m))
            .collect())
    }

    /// Removes index entries of sessions that ended or moved to another user.
    async fn unindex(&self, user: &str, keys: &[StoreKey]) -> Result<(), StoreError> {
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

/// The `host:port` of each healthy primary in a `CLUSTER NODES` reply.
fn primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let address = fields.nth(1)?;
            let flags = fields.next()?;
            if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
                return None;
            }
            let (host, port) = address.split('@').next()?.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

pub(crate) fn store_error(e: RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        StoreError::unavailable(e)
    } else if e.code() == Some("WRONGTYPE") || e.to_string().contains("WRONGTYPE") {
        StoreError::Corrupt(format!("a key of the wrong type is in the way: {e}"))
    } else {
        StoreError::backend(e)
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

#[cfg(test)]
mod tests {
    #[test]
    fn primaries_are_read_from_cluster_nodes() {
        let nodes = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                     b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922\n\
                     c3 127.0.0.1:7003@17003 slave a1 0 0 1 connected\n\
                     d4 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected\n";
        assert_eq!(
            super::primaries(nodes),
            [
                ("127.0.0.1".to_owned(), 7000),
                ("127.0.0.1".to_owned(), 7001)
            ]
        );
    }
}
