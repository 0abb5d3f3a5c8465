//! Configuring and connecting a store.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use redis::RedisError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;

use crate::batch::Batches;
use crate::conn::Conn;
use crate::scripts::{self, Lua};
use crate::store::{Inner, RedisStore, index_key_of};

/// How long a command may wait for its answer, and a connection attempt
/// for the server, before the operation fails as unavailable.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

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
#[derive(Clone)]
pub struct RedisStoreBuilder {
    prefix: String,
    timeout: Duration,
    #[cfg(feature = "rustls")]
    root_certificate: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        RedisStoreBuilder {
            prefix: "session:".into(),
            timeout: DEFAULT_TIMEOUT,
            #[cfg(feature = "rustls")]
            root_certificate: None,
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
    /// assert_eq!(store.session_key(&key), "app1:{!ab12}");
    /// # Ok(()) }
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a command or connection attempt may take before the
    /// operation fails with [`StoreError::Unavailable`](session_core::StoreError::Unavailable) (default 2 s).
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

    /// Trusts this CA (a PEM certificate) for `rediss://` URLs instead of
    /// the system's certificate store: a managed Redis with a private CA,
    /// or a test server.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let ca = std::fs::read("/etc/ssl/redis-ca.pem")?;
    /// let store = RedisStore::builder()
    ///     .root_certificate(ca)
    ///     .connect("rediss://:password@redis.internal:6380")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "rustls")]
    pub fn root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificate = Some(pem.into());
        self
    }

    /// The TLS settings for `redis`'s clients, when a CA was given.
    #[cfg(feature = "rustls")]
    fn certificates(&self) -> Option<redis::TlsCertificates> {
        Some(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(self.root_certificate.clone()?),
        })
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
        #[cfg(feature = "rustls")]
        let client = match self.certificates() {
            Some(certificates) => redis::Client::build_with_tls(url, certificates)?,
            None => redis::Client::open(url)?,
        };
        #[cfg(not(feature = "rustls"))]
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
        let builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout);
        #[cfg(feature = "rustls")]
        let builder = match self.certificates() {
            Some(certificates) => builder.certs(certificates),
            None => builder,
        };
        let client = builder.build()?;
        let conn = client.get_async_connection().await?;
        Ok(self.build(Conn::Cluster(conn)))
    }

    fn build(self, conn: Conn) -> RedisStore {
        /// 16 random bytes in hex: unknown outside, so no one can choose
        /// user IDs that share a bucket.
        fn salt() -> Vec<u8> {
            let mut bytes = [0u8; 16];
            if let Err(e) = getrandom::fill(&mut bytes) {
                tracing::warn!(target: "session_store_redis", error = %e, "no random salt for a new user index; its buckets follow the user IDs alone");
            }
            hex::encode(bytes).into_bytes()
        }
        let functions = Arc::new(AtomicBool::new(true));
        let lua = |source| Lua::new(source, &functions);
        let salt = salt();
        RedisStore {
            inner: Arc::new(Inner {
                batches: Batches::for_conn(&conn, &functions, &salt, index_key_of(&self.prefix)),
                prefix: self.prefix,
                salt,
                create: lua(&scripts::CREATE),
                update: lua(&scripts::UPDATE),
                touch: lua(&scripts::TOUCH),
                end_if_user: lua(&scripts::END_IF_USER),
                rotate: lua(&scripts::ROTATE),
                prune: lua(&scripts::PRUNE),
                index: lua(&scripts::INDEX),
                index_user: lua(&scripts::INDEX_USER),
                lookup: lua(&scripts::LOOKUP),
                move_legacy: lua(&scripts::MOVE_LEGACY),
                end_legacy: lua(&scripts::END_LEGACY),
            }),
            conn,
        }
    }
}
