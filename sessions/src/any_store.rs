//! Opening any enabled store from a URL.

use std::fmt;

use crate::store_url::Target;
use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionStore, StoreError, StoreKey, UserIndex, async_trait,
};

/// Why [`open_store`] failed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = sessions::open_store("mongodb://localhost").await.unwrap_err();
/// assert!(matches!(err, sessions::OpenError::Unsupported(_)));
/// assert!(err.to_string().contains("memory:"), "the message lists what is supported");
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL names no engine, or one whose feature is not enabled.
    Unsupported(String),
    /// The engine could not be opened or reached.
    Engine(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Unsupported(scheme) => write!(
                f,
                "unsupported store URL scheme {scheme:?}; expected one of {} (each needs its feature of the `sessions` crate)",
                SCHEMES.join(", ")
            ),
            OpenError::Engine(e) => write!(f, "could not open the session store: {e}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Engine(e) => Some(&**e),
            OpenError::Unsupported(_) => None,
        }
    }
}

const SCHEMES: &[&str] = &[
    "memory:",
    "file:DIR",
    "sqlite:PATH",
    "postgres://…",
    "mysql://…",
    "redis://…",
    "redis+cluster://host:port,host:port",
];

/// Any of the stores this build enables, opened by [`open_store`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sessions::{AnyStore, KeyRing, SessionManager};
/// // The engine is configuration (a URL): the same code runs on any of them.
/// let store = sessions::open_store("memory:").await?;
/// assert!(matches!(store, AnyStore::Memory(_)));
/// store.migrate().await?;
/// let manager = SessionManager::new(store, KeyRing::new([8u8; 32])?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// An in-process store.
    #[cfg(feature = "memory")]
    Memory(session_store_memory::MemoryStore),
    /// A directory of session files.
    #[cfg(feature = "file")]
    File(session_store_file::FileStore),
    /// A SQL database.
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    Sql(session_store_sql::SqlStore),
    /// Redis.
    #[cfg(feature = "redis")]
    Redis(session_store_redis::RedisStore),
}

/// Opens the store a URL names:
///
/// | URL | store | feature |
/// |---|---|---|
/// | `memory:` | [`MemoryStore`](session_store_memory::MemoryStore) | `memory` |
/// | `file:DIR` | [`FileStore`](session_store_file::FileStore) in `DIR` | `file` |
/// | `sqlite:PATH` | [`SqlStore`](session_store_sql::SqlStore) on the file (created if missing) | `sqlite` |
/// | `postgres://…`, `mysql://…` | [`SqlStore`](session_store_sql::SqlStore) | `postgres`, `mysql` |
/// | `redis://…` | [`RedisStore`](session_store_redis::RedisStore) | `redis` |
/// | `redis+cluster://h1:p1,h2:p2` | a Redis Cluster through those nodes | `redis` |
///
/// Two query parameters of this crate's own are taken out of the URL
/// before it reaches the engine: `table=NAME` picks the SQL table (default
/// `sessions`) and `prefix=P` the Redis key prefix (default `session:`).
///
/// SQL stores are not migrated here: call [`AnyStore::migrate`].
///
/// # Errors
///
/// [`OpenError::Unsupported`] for an unknown scheme or a disabled feature,
/// [`OpenError::Engine`] when the engine cannot be opened or reached.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("open-store-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let store = sessions::open_store(&format!("sqlite:{}?table=web_sessions", dir.join("s.db").display())).await?;
/// store.migrate().await?;
/// let sessions::AnyStore::Sql(sql) = &store else { unreachable!() };
/// assert_eq!(sql.table(), "web_sessions");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
pub async fn open_store(url: &str) -> Result<AnyStore, OpenError> {
    let url = crate::StoreUrl::parse(url)?;
    #[allow(unused_variables)]
    let engine = |e: Box<dyn std::error::Error + Send + Sync>| OpenError::Engine(e);
    #[allow(unreachable_patterns, unused_variables)]
    match url.target {
        #[cfg(feature = "memory")]
        Target::Memory => Ok(AnyStore::Memory(session_store_memory::MemoryStore::new())),
        #[cfg(feature = "file")]
        Target::File(dir) => session_store_file::FileStore::open(dir)
            .map(AnyStore::File)
            .map_err(|e| engine(e.into())),
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        Target::Sql {
            url: sql_url,
            table,
        } if enabled_sql(url.scheme()) => sql(&sql_url, table).await,
        #[cfg(feature = "redis")]
        Target::Redis {
            url,
            prefix,
            tls_ca,
        } => redis_builder(prefix, tls_ca)?
            .connect(&url)
            .await
            .map(AnyStore::Redis)
            .map_err(|e| engine(e.into())),
        #[cfg(feature = "redis")]
        Target::Cluster {
            nodes,
            prefix,
            tls_ca,
        } => redis_builder(prefix, tls_ca)?
            .connect_cluster(nodes)
            .await
            .map(AnyStore::Redis)
            .map_err(|e| engine(e.into())),
        _ => Err(OpenError::Unsupported(url.scheme().to_owned())),
    }
}

/// Whether the SQL engine of `scheme` is compiled in.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn enabled_sql(scheme: &str) -> bool {
    (scheme == "sqlite" && cfg!(feature = "sqlite"))
        || (matches!(scheme, "postgres" | "postgresql") && cfg!(feature = "postgres"))
        || (matches!(scheme, "mysql" | "mariadb") && cfg!(feature = "mysql"))
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
async fn sql(url: &str, table: Option<String>) -> Result<AnyStore, OpenError> {
    let mut builder = session_store_sql::SqlStore::builder(url);
    if let Some(table) = table {
        builder = builder.table(table);
    }
    builder
        .connect()
        .await
        .map(AnyStore::Sql)
        .map_err(|e| OpenError::Engine(e.into()))
}

/// A Redis builder with the URL's own parameters: the key prefix, and the
/// CA to trust for `rediss://` (a PEM file, with the `rustls` feature).
#[cfg(feature = "redis")]
fn redis_builder(
    prefix: Option<String>,
    tls_ca: Option<String>,
) -> Result<session_store_redis::RedisStoreBuilder, OpenError> {
    let mut builder = session_store_redis::RedisStore::builder();
    if let Some(prefix) = prefix {
        builder = builder.prefix(prefix);
    }
    let Some(path) = tls_ca else {
        return Ok(builder);
    };
    #[cfg(feature = "rustls")]
    {
        let pem = std::fs::read(&path).map_err(|e| {
            OpenError::Engine(format!("tls_ca: cannot read the CA file {path}: {e}").into())
        })?;
        Ok(builder.root_certificate(pem))
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = (builder, path);
        Err(OpenError::Engine(
            "tls_ca needs the `rustls` feature of the `sessions` crate".into(),
        ))
    }
}

impl AnyStore {
    /// Creates or upgrades the SQL schema; nothing to do for other engines,
    /// so it is cheap to call at every start. (Redis sessions written by
    /// the store's 0.1 releases move to the current layout as they are
    /// loaded; `RedisStore::migrate`, which walks the whole key space and
    /// so is not run here, moves them all at once, as `session-cli migrate`
    /// does.)
    ///
    /// # Errors
    ///
    /// When a migration statement fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("migrate-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let store = sessions::open_store(&format!("sqlite:{}", dir.join("s.db").display())).await?;
    /// store.migrate().await?; // creates the table
    /// store.migrate().await?; // at every start: nothing left to do
    /// sessions::open_store("memory:").await?.migrate().await?; // a no-op
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), OpenError> {
        match self {
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            AnyStore::Sql(store) => store
                .migrate()
                .await
                .map_err(|e| OpenError::Engine(e.into())),
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        }
    }

    /// The store as a trait object.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = sessions::open_store("memory:").await?;
    /// let dyn_store: &dyn sessions::SessionStore = store.as_dyn();
    /// assert!(dyn_store.load(&sessions::SessionId::generate().store_key()).await?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn as_dyn(&self) -> &dyn SessionStore {
        match self {
            #[cfg(feature = "memory")]
            AnyStore::Memory(s) => s,
            #[cfg(feature = "file")]
            AnyStore::File(s) => s,
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            AnyStore::Sql(s) => s,
            #[cfg(feature = "redis")]
            AnyStore::Redis(s) => s,
        }
    }
}

#[async_trait]
impl SessionStore for AnyStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.as_dyn().load(key).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.as_dyn().create(record).await
    }
    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        self.as_dyn().update(record, expected_version).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.as_dyn().delete(key).await
    }
    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        self.as_dyn().rotate(old, expected_version, new).await
    }
    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        self.as_dyn().touch(key, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.as_dyn().delete_expired().await
    }
    fn expires_natively(&self) -> bool {
        self.as_dyn().expires_natively()
    }
    fn user_index(&self) -> Option<&dyn UserIndex> {
        self.as_dyn().user_index()
    }
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        self.as_dyn().maintenance()
    }
}

#[cfg(test)]
mod tests {
    /// Mistyped and hostile URLs (as an operator may pass to the CLI) are
    /// errors, never a panic: every one is opened in a task of its own so a
    /// panic would be caught and reported with its URL.
    #[tokio::test]
    async fn malformed_urls_are_errors_not_panics() {
        let urls = [
            "",
            ":",
            "é",
            "éé:x",
            "file:",
            "file://",
            "sqlite:/nonexistent-dir-é/sub/s.db",
            "sqlite:?table=",
            "sqlite::memory:?table=a;drop",
            "postgres://é:é@[::1",
            "redis://é",
            "redis+cluster:",
            "redis+cluster:/",
            "redis+cluster:/é",
            "redis+cluster://,,",
            "redis+cluster://é:1,é",
            "?table=x",
            "nosuch://x",
        ];
        for url in urls {
            let opened = tokio::spawn(async move { super::open_store(url).await.map(drop) });
            match tokio::time::timeout(std::time::Duration::from_secs(20), opened).await {
                Ok(Ok(Err(_))) => {}
                Ok(Ok(Ok(()))) => panic!("{url:?} opened a store"),
                Ok(Err(e)) => panic!("{url:?} panicked: {e}"),
                Err(_) => panic!("{url:?} did not answer within 20 s"),
            }
        }
    }
}
