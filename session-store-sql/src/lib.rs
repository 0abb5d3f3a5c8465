//! A session store on SQL databases, through [`sqlx`].
//!
//! One crate, three engines, chosen by feature:
//!
//! | feature | engine | URL |
//! |---|---|---|
//! | `sqlite` (default) | SQLite, embedded: no server to run | `sqlite:sessions.db` |
//! | `postgres` | PostgreSQL | `postgres://user@host/db` |
//! | `mysql` | MySQL and MariaDB | `mysql://user@host/db` |
//!
//! Each operation of the store contract is one statement: `load` is one
//! `SELECT` that skips expired rows, `create` one `INSERT` (a duplicate key
//! is [`StoreError::Duplicate`]), `update` one
//! `UPDATE … WHERE id = ? AND version = ?` (compare-and-swap; only when it
//! matches nothing do further statements handle a change of user and tell
//! a conflict from a deleted session), `touch` an `UPDATE` of the expiry
//! alone. `created_at` is written once, by `create`. `delete_expired`
//! deletes in batches of 1000 rows so it never holds a long lock, and the
//! user index is an indexed column.
//!
//! The table (default `sessions`) is created by [`SqlStore::migrate`] from
//! the SQL files shipped in this crate's `migrations/` folder; rows are keyed
//! by the SHA-256 of the session ID, times are Unix seconds.
//!
//! SQLite runs in WAL mode with a busy timeout, so concurrent writers wait
//! for each other instead of failing with "database is locked". Saves run
//! at `synchronous = NORMAL` (a power loss may undo the last saves);
//! statements that end sessions (logout, revoke, flush) at `FULL`, synced
//! before they return, so a crash never brings a logged-out session back.
//! PostgreSQL and MySQL/MariaDB sync every commit with their default
//! settings. A deadlock, serialization failure or SQLite busy is tried
//! again (with a jittered, doubling pause) within the operation's time
//! bound. ID rotation is one transaction.
//!
//! Every operation is bounded in time (10 seconds by default,
//! [`SqlStoreBuilder::timeout`]): a database that stops answering, or a
//! table another client keeps locked, gives [`StoreError::Unavailable`]
//! (a 503 through the framework adapters) instead of a request that waits
//! forever.
//!
//! ```
//! use session_core::{KeyRing, SessionManager};
//! use session_store_sql::SqlStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("sql-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let path = dir.join("sessions.db");
//! let store = SqlStore::connect(&format!("sqlite:{}", path.display())).await?;
//! store.migrate().await?;
//! let manager = SessionManager::new(store, KeyRing::new([5u8; 32])?);
//!
//! let request = manager.request(None);
//! request.load().await?.insert("user_id", 123)?;
//! assert!(request.finish(200).await?.set_cookie.is_some());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "session-store-sql needs at least one of the features `sqlite`, `postgres`, `mysql`"
);

pub mod django;
mod migrate;
mod queries;

pub use django::DjangoSqlStore;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use session_core::time::OffsetDateTime;
use session_core::{
    Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, async_trait, now,
};
#[cfg(feature = "mysql")]
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgPool, PgPoolOptions};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::queries::{Queries, SWEEP_BATCH};

mod rotate;

/// The SQL engine behind a [`SqlStore`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use session_store_sql::SqlStore;
/// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
/// # std::fs::create_dir_all(&dir)?;
/// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
/// let store = SqlStore::connect(&url).await?;
/// assert_eq!(store.pool().engine(), session_store_sql::Engine::Sqlite);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// SQLite (feature `sqlite`).
    Sqlite,
    /// PostgreSQL (feature `postgres`).
    Postgres,
    /// MySQL or MariaDB (feature `mysql`).
    MySql,
}

impl Engine {
    /// The engine a connection URL names, if its feature is enabled.
    ///
    /// ```
    /// use session_store_sql::Engine;
    /// assert_eq!(Engine::from_url("sqlite:sessions.db"), Some(Engine::Sqlite));
    /// assert_eq!(Engine::from_url("redis://localhost"), None);
    /// ```
    pub fn from_url(url: &str) -> Option<Engine> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => Some(Engine::Sqlite),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Some(Engine::Postgres),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => Some(Engine::MySql),
            _ => None,
        }
    }
}

/// A connection pool of one of the enabled engines.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use session_store_sql::SqlStore;
/// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
/// # std::fs::create_dir_all(&dir)?;
/// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
/// use session_store_sql::Pool;
/// let store = SqlStore::connect(&url).await?;
/// // Share the store's pool with the application's own queries.
/// let Pool::Sqlite(pool) = store.pool() else { unreachable!() };
/// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(pool).await?;
/// assert_eq!(one, 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Pool {
    /// A SQLite pool.
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
    /// A PostgreSQL pool.
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
    /// A MySQL/MariaDB pool.
    #[cfg(feature = "mysql")]
    MySql(MySqlPool),
}

#[cfg(feature = "sqlite")]
impl From<SqlitePool> for Pool {
    fn from(pool: SqlitePool) -> Self {
        Pool::Sqlite(pool)
    }
}

#[cfg(feature = "postgres")]
impl From<PgPool> for Pool {
    fn from(pool: PgPool) -> Self {
        Pool::Postgres(pool)
    }
}

#[cfg(feature = "mysql")]
impl From<MySqlPool> for Pool {
    fn from(pool: MySqlPool) -> Self {
        Pool::MySql(pool)
    }
}

impl Pool {
    /// The engine of this pool.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_sql::SqlStore;
    /// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
    /// let store = SqlStore::connect(&url).await?;
    /// assert_eq!(store.pool().engine(), session_store_sql::Engine::Sqlite);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn engine(&self) -> Engine {
        match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => Engine::Sqlite,
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => Engine::Postgres,
            #[cfg(feature = "mysql")]
            Pool::MySql(_) => Engine::MySql,
        }
    }
}

/// Runs the same code against whichever pool the store holds.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            #[cfg(feature = "sqlite")]
            $crate::Pool::Sqlite($p) => $body,
            #[cfg(feature = "postgres")]
            $crate::Pool::Postgres($p) => $body,
            #[cfg(feature = "mysql")]
            $crate::Pool::MySql($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// As [`on_pool!`], for a statement that ends sessions (a logout, a
/// revoke): on SQLite it runs on one connection switched to
/// `synchronous = FULL` for it, so its commit is synced to disk before it
/// returns (the pool runs at `NORMAL`, where a power loss may undo the
/// last commits, which for a save is harmless and for a logout is not).
/// PostgreSQL and MySQL/MariaDB sync every commit by default.
macro_rules! on_pool_durably {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            #[cfg(feature = "sqlite")]
            $crate::Pool::Sqlite(pool) => {
                async {
                    let mut conn = pool.acquire().await?;
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                    let result = {
                        let $p = &mut *conn;
                        $body
                    };
                    if sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await
                        .is_err()
                    {
                        // Left at FULL: slower, never less durable.
                        tracing::debug!(target: "session_store_sql", "a connection stays at synchronous = FULL");
                    }
                    result
                }
                .await
            }
            #[cfg(feature = "postgres")]
            $crate::Pool::Postgres($p) => $body,
            #[cfg(feature = "mysql")]
            $crate::Pool::MySql($p) => $body,
        }
    };
}
pub(crate) use on_pool_durably;

/// Why a store could not be opened.
///
/// ```
/// use session_store_sql::{OpenError, SqlStore};
/// let err = SqlStore::builder("oracle://db").connect_lazy().unwrap_err();
/// assert!(matches!(err, OpenError::UnsupportedUrl(_)));
/// // Outside a Tokio runtime:
/// let err = SqlStore::builder("sqlite::memory:").connect_lazy().unwrap_err();
/// assert!(matches!(err, OpenError::NoRuntime));
/// tokio::runtime::Runtime::new().unwrap().block_on(async {
///     let err = SqlStore::builder("sqlite::memory:").table("sessions; DROP TABLE users").connect_lazy().unwrap_err();
///     assert!(matches!(err, OpenError::InvalidTable(_)));
/// });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL names no engine this build supports.
    UnsupportedUrl(String),
    /// The table name is not a plain SQL identifier.
    InvalidTable(String),
    /// Connecting or migrating failed.
    Sql(sqlx::Error),
    /// [`SqlStoreBuilder::connect_lazy`] was called outside a Tokio
    /// runtime, which the connection pool needs for its housekeeping.
    NoRuntime,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::UnsupportedUrl(url) => write!(
                f,
                "unsupported session store URL {:?}: expected sqlite:, postgres:// or mysql:// \
                 (each needs its feature of session-store-sql)",
                url.split('@').next_back().unwrap_or_default()
            ),
            OpenError::InvalidTable(t) => write!(
                f,
                "invalid session table name {t:?}: use letters, digits and underscores, starting with a letter"
            ),
            OpenError::Sql(e) => write!(f, "could not open the session store: {e}"),
            OpenError::NoRuntime => f.write_str(
                "the SQL session store must be opened inside a Tokio runtime \
                 (its connection pool runs a background task)",
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Sql(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for OpenError {
    fn from(e: sqlx::Error) -> Self {
        OpenError::Sql(e)
    }
}

/// A [`SessionStore`] on a SQL database. See the [crate docs](crate). Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use session_store_sql::SqlStore;
/// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
/// # std::fs::create_dir_all(&dir)?;
/// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
/// use session_core::{KeyRing, SessionManager};
/// let store = SqlStore::connect(&url).await?;
/// store.migrate().await?;
/// let manager = SessionManager::new(store.clone(), KeyRing::new([5u8; 32])?);
/// let request = manager.request(None);
/// request.load().await?.set_user("alice")?;
/// request.finish(200).await?;
/// assert_eq!(manager.sessions_of("alice").await?.len(), 1); // the indexed user column
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
    timeout: Duration,
}

/// How long one store operation may take before it fails as unavailable
/// (see [`SqlStoreBuilder::timeout`]).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

struct Inner {
    pool: Pool,
    table: String,
    queries: Queries,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("engine", &self.inner.pool.engine())
            .field("table", &self.inner.table)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Configures a [`SqlStore`]; see [`SqlStore::builder`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use session_store_sql::SqlStore;
/// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
/// # std::fs::create_dir_all(&dir)?;
/// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
/// let store = SqlStore::builder(url.as_str())
///     .table("web_sessions")
///     .max_connections(4)
///     .acquire_timeout(std::time::Duration::from_secs(2))
///     .connect()
///     .await?;
/// assert_eq!(store.table(), "web_sessions");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqlStoreBuilder {
    url: String,
    table: String,
    max_connections: u32,
    acquire_timeout: Duration,
    timeout: Duration,
}

impl SqlStoreBuilder {
    /// The table holding the sessions (default `sessions`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_sql::SqlStore;
    /// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
    /// let store = SqlStore::builder(url.as_str()).table("admin_sessions").connect().await?;
    /// store.migrate().await?; // creates admin_sessions
    /// assert!(store.schema_is_current().await?);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The most connections the pool opens (default 10).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_store_sql::OpenError> {
    /// # use session_store_sql::SqlStore;
    /// // At least one connection, whatever is asked.
    /// let store = SqlStore::builder("sqlite::memory:").max_connections(0).connect_lazy()?;
    /// # Ok(()) }
    /// ```
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long an operation waits for a free connection (or for a
    /// connection to an unreachable server) before failing with
    /// [`StoreError::Unavailable`] (default 5 seconds).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_core::SessionStore;
    /// use session_store_sql::SqlStore;
    /// // Nothing listens on port 9; the store answers Unavailable after the timeout.
    /// let store = SqlStore::builder("postgres://nobody@127.0.0.1:9/none")
    ///     .acquire_timeout(std::time::Duration::from_millis(200))
    ///     .connect_lazy()?;
    /// let err = store.load(&session_core::SessionId::generate().store_key()).await.unwrap_err();
    /// assert!(err.is_unavailable());
    /// # Ok(()) }
    /// ```
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long one operation may take in all, waiting for a connection
    /// included, before failing with [`StoreError::Unavailable`] (default
    /// 10 seconds): a database that stops answering (a network partition,
    /// a frozen server, a table locked by another client) then answers
    /// requests with 503 instead of holding them forever. Every operation
    /// is bounded (`stats` included); a sweep is bounded batch by batch. A write that timed out may still be applied
    /// once the database answers, as with any timeout: the request saw an
    /// error, and the record's version keeps later writes consistent.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_store_sql::OpenError> {
    /// use session_store_sql::SqlStore;
    /// let store = SqlStore::builder("postgres://app@db.internal/app")
    ///     .timeout(std::time::Duration::from_secs(2))
    ///     .connect_lazy()?;
    /// assert_eq!(store.timeout(), std::time::Duration::from_secs(2));
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects (lazily: the first operation opens the first connection).
    ///
    /// # Errors
    ///
    /// [`OpenError::UnsupportedUrl`] for a URL of no enabled engine,
    /// [`OpenError::InvalidTable`] for a bad table name, [`OpenError::Sql`]
    /// for an unparsable URL, [`OpenError::NoRuntime`] outside a Tokio
    /// runtime (where the pool would otherwise panic).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_store_sql::OpenError> {
    /// # use session_store_sql::SqlStore;
    /// // No connection is opened yet, so no server needs to be up.
    /// let store = SqlStore::builder("postgres://app@db.internal/app").connect_lazy()?;
    /// assert_eq!(store.table(), "sessions");
    /// # Ok(()) }
    /// ```
    pub fn connect_lazy(self) -> Result<SqlStore, OpenError> {
        let engine = Engine::from_url(&self.url)
            .ok_or_else(|| OpenError::UnsupportedUrl(self.url.clone()))?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(OpenError::NoRuntime);
        }
        let pool: Pool = match engine {
            #[cfg(feature = "sqlite")]
            Engine::Sqlite => {
                let options: SqliteConnectOptions = self.url.parse()?;
                let options = options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10));
                SqlitePoolOptions::new()
                    .max_connections(self.max_connections)
                    .acquire_timeout(self.acquire_timeout)
                    .connect_lazy_with(options)
                    .into()
            }
            #[cfg(feature = "postgres")]
            Engine::Postgres => PgPoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.acquire_timeout)
                .connect_lazy(&self.url)?
                .into(),
            #[cfg(feature = "mysql")]
            Engine::MySql => {
                let url = self.url.replacen("mariadb:", "mysql:", 1);
                MySqlPoolOptions::new()
                    .max_connections(self.max_connections)
                    .acquire_timeout(self.acquire_timeout)
                    .connect_lazy(&url)?
                    .into()
            }
            #[allow(unreachable_patterns)]
            _ => return Err(OpenError::UnsupportedUrl(self.url)),
        };
        Ok(SqlStore::with_table(pool, &self.table)?.with_timeout(self.timeout))
    }

    /// Connects and checks the connection with one round trip.
    ///
    /// # Errors
    ///
    /// As [`connect_lazy`](Self::connect_lazy), plus [`OpenError::Sql`] when
    /// the server cannot be reached.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # use session_store_sql::SqlStore;
    /// let refused = SqlStore::builder("postgres://nobody@127.0.0.1:9/none")
    ///     .acquire_timeout(std::time::Duration::from_millis(200))
    ///     .connect()
    ///     .await;
    /// assert!(refused.is_err(), "connect checks the server is there");
    /// # }
    /// ```
    pub async fn connect(self) -> Result<SqlStore, OpenError> {
        let store = self.connect_lazy()?;
        on_pool!(&store.inner.pool, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(store)
    }
}

impl SqlStore {
    /// Starts configuring a store for the database at `url`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_store_sql::OpenError> {
    /// # use session_store_sql::SqlStore;
    /// let store = SqlStore::builder("sqlite::memory:").table("sessions_v2").connect_lazy()?;
    /// assert_eq!(store.table(), "sessions_v2");
    /// # Ok(()) }
    /// ```
    pub fn builder(url: impl Into<String>) -> SqlStoreBuilder {
        SqlStoreBuilder {
            url: url.into(),
            table: "sessions".into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Connects to `url` with the default settings (table `sessions`).
    ///
    /// # Errors
    ///
    /// See [`SqlStoreBuilder::connect`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_sql::SqlStore;
    /// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
    /// let store = SqlStore::connect(&url).await?;
    /// store.migrate().await?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        Self::builder(url).connect().await
    }

    /// A store on an existing pool, using the table `sessions`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let store = session_store_sql::SqlStore::from_pool(pool);
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub fn from_pool(pool: impl Into<Pool>) -> Self {
        Self::with_table(pool.into(), "sessions").expect("the default table name is valid")
    }

    /// A store on an existing pool and the given table.
    ///
    /// # Errors
    ///
    /// [`OpenError::InvalidTable`] unless `table` is 1 to 48 ASCII letters,
    /// digits or underscores, starting with a letter.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_store_sql::SqlStore;
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let store = SqlStore::with_table(pool.clone(), "app_sessions")?;
    /// assert_eq!(store.table(), "app_sessions");
    /// assert!(SqlStore::with_table(pool, "1st").is_err());
    /// # Ok(()) }
    /// ```
    pub fn with_table(pool: impl Into<Pool>, table: &str) -> Result<Self, OpenError> {
        let valid = (1..=48).contains(&table.len())
            && table.starts_with(|c: char| c.is_ascii_alphabetic())
            && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(OpenError::InvalidTable(table.to_owned()));
        }
        let pool = pool.into();
        let queries = Queries::new(pool.engine(), table);
        Ok(SqlStore {
            inner: Arc::new(Inner {
                pool,
                table: table.to_owned(),
                queries,
            }),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// This store with another bound on each operation (default 10
    /// seconds; see [`SqlStoreBuilder::timeout`]), for a store made
    /// from a pool.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let store = session_store_sql::SqlStore::from_pool(pool);
    /// assert_eq!(store.timeout(), Duration::from_secs(10));
    /// let store = store.with_timeout(Duration::from_secs(1));
    /// assert_eq!(store.timeout(), Duration::from_secs(1));
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long one operation may take (see [`SqlStoreBuilder::timeout`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_store_sql::OpenError> {
    /// let store = session_store_sql::SqlStore::builder("sqlite::memory:").connect_lazy()?;
    /// assert_eq!(store.timeout(), std::time::Duration::from_secs(10));
    /// # Ok(()) }
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The pool, for sharing with the rest of the application.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_sql::SqlStore;
    /// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
    /// let store = SqlStore::connect(&url).await?;
    /// assert_eq!(store.pool().engine(), session_store_sql::Engine::Sqlite);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The table name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_store_sql::OpenError> {
    /// # use session_store_sql::SqlStore;
    /// let store = SqlStore::builder("sqlite::memory:").connect_lazy()?;
    /// assert_eq!(store.table(), "sessions");
    /// # Ok(()) }
    /// ```
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Creates or upgrades the table by applying the shipped migrations that
    /// have not run yet (recorded in `<table>_migrations`). Safe to run at
    /// every start and from several processes at once.
    ///
    /// # Errors
    ///
    /// [`OpenError::Sql`] when a statement fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_sql::SqlStore;
    /// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
    /// let store = SqlStore::connect(&url).await?;
    /// store.migrate().await?;
    /// store.migrate().await?; // again: nothing left to apply
    /// assert!(store.schema_is_current().await?);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), OpenError> {
        migrate::run(&self.inner.pool, &self.inner.table).await
    }

    /// Whether the table exists with every shipped migration applied.
    ///
    /// # Errors
    ///
    /// [`OpenError::Sql`] when the database cannot be asked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_sql::SqlStore;
    /// # let dir = std::env::temp_dir().join(format!("sql-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite:{}", dir.join("sessions.db").display());
    /// let store = SqlStore::connect(&url).await?;
    /// assert!(!store.schema_is_current().await?);
    /// store.migrate().await?;
    /// assert!(store.schema_is_current().await?);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub async fn schema_is_current(&self) -> Result<bool, OpenError> {
        migrate::is_current(&self.inner.pool, &self.inner.table).await
    }

    async fn live_version(&self, key: &StoreKey, now: i64) -> Result<Option<i64>, StoreError> {
        let q = &self.inner.queries.live_version;
        on_pool!(&self.inner.pool, |p| sqlx::query_scalar::<_, i64>(q)
            .bind(key.as_str())
            .bind(now)
            .fetch_optional(p)
            .await)
        .map_err(store_error)
    }
}

type Row = (Vec<u8>, i64, i64, i64, Option<String>);

fn to_time(secs: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| StoreError::Corrupt(format!("timestamp {secs} out of range")))
}

fn to_version(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative version {v}")))
}

/// Versions are stored as signed 64-bit integers.
fn version_param(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::backend(format!("session version {v} too large for SQL")))
}

/// Runs a touch statement (binds: new expiry, key, now); no row touched
/// means no live session.
pub(crate) async fn touch(
    pool: &Pool,
    sql: &str,
    key: &StoreKey,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    let touched = on_pool!(pool, |p| sqlx::query(sql)
        .bind(expires_at.unix_timestamp())
        .bind(key.as_str())
        .bind(now().unix_timestamp())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .map_err(store_error)?;
    if touched == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Runs a batched sweep statement (binds: now, at most `max` rows).
pub(crate) async fn delete_expired_batch(
    pool: &Pool,
    sql: &str,
    max: u64,
) -> Result<u64, StoreError> {
    on_pool!(pool, |p| sqlx::query(sql)
        .bind(now().unix_timestamp())
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .map_err(store_error)
}

/// Deletes expired rows in batches of [`SWEEP_BATCH`] until none are left.
pub(crate) async fn sweep(store: &impl SessionStore) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let removed = store.delete_expired_batch(SWEEP_BATCH as u64).await?;
        total += removed;
        if removed < SWEEP_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Runs one store operation, failing with [`StoreError::Unavailable`]
/// when it has not finished within `limit` (the database stopped
/// answering, or something holds a lock the operation waits for). An
/// attempt the engine refused as a transient lock conflict (a deadlock, a
/// serialization failure, SQLite busy) rolled back and is tried again,
/// after a pause that doubles with each try and is jittered, within the
/// same limit.
pub(crate) async fn within<T, F, Fut>(limit: Duration, mut operation: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let conflict = std::sync::Mutex::new(None);
    let attempts = async {
        let mut pause = Duration::from_millis(1);
        loop {
            match operation().await {
                Err(e) if is_transient(&e) => {
                    tracing::debug!(target: "session_store_sql", error = %e, "lock conflict; trying again");
                    *conflict.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    tokio::time::sleep(jittered(pause)).await;
                    pause = (pause * 2).min(Duration::from_millis(64));
                }
                other => return other,
            }
        }
    };
    let outcome = tokio::time::timeout(limit, attempts).await;
    let conflict = conflict.into_inner().unwrap_or_else(|p| p.into_inner());
    match (outcome, conflict) {
        (Ok(result), _) => result,
        (Err(_), Some(conflict)) => Err(StoreError::unavailable(format!(
            "lock conflicts lasted past {limit:?}; the last: {conflict}"
        ))),
        (Err(_), None) => Err(StoreError::unavailable(format!(
            "the database did not answer within {limit:?}"
        ))),
    }
}

/// Between half and all of `pause`, so writers that collided spread out.
fn jittered(pause: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let half = pause / 2;
    half + Duration::from_nanos(u64::from(nanos) % (half.as_nanos() as u64).max(1))
}

/// A lock conflict the engine resolved by refusing this attempt, which
/// it rolled back: trying again is safe and likely to succeed.
#[derive(Debug)]
struct Transient(sqlx::Error);

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (a lock conflict)", self.0)
    }
}

impl std::error::Error for Transient {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn is_transient(e: &StoreError) -> bool {
    match e {
        StoreError::Backend(source) | StoreError::Unavailable(source) => source.is::<Transient>(),
        _ => false,
    }
}

/// Maps a driver error onto the store contract's error kinds.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::unavailable(e),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(e.to_string()),
        sqlx::Error::Database(ref db) => {
            let code = db.code().unwrap_or_default();
            if sqlite_busy(db.as_ref()) {
                // Busy past the busy timeout, or at once where waiting
                // could deadlock: unavailable if it lasts, tried again
                // until then.
                StoreError::Unavailable(Box::new(Transient(e)))
            } else if code == "40001" || code == "40P01" {
                // Serialization failure, deadlock (PostgreSQL; MySQL and
                // MariaDB report their deadlock 1213 as 40001).
                StoreError::Backend(Box::new(Transient(e)))
            } else if code.starts_with("08") || code.starts_with("57P") {
                // SQLSTATE class 08 (connection exception) and PostgreSQL's
                // 57P01-57P03 (the server is shutting down or starting up).
                StoreError::unavailable(e)
            } else {
                StoreError::backend(e)
            }
        }
        other => StoreError::backend(other),
    }
}

/// SQLite's "database is busy" or "locked" (primary result codes 5 and 6):
/// another connection holds the lock for longer than the busy timeout.
fn sqlite_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // The code is the extended result code; its low byte the primary one.
        let primary = db
            .code()
            .and_then(|c| c.parse::<u32>().ok())
            .map(|c| c & 0xff);
        return matches!(primary, Some(5 | 6));
    }
    let _ = db;
    false
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        within(self.timeout, || async {
            let q = &self.inner.queries.load;
            let row: Option<Row> = on_pool!(&self.inner.pool, |p| sqlx::query_as(q)
                .bind(key.as_str())
                .bind(now().unix_timestamp())
                .fetch_optional(p)
                .await)
            .map_err(store_error)?;
            let Some((data, version, created_at, expires_at, user)) = row else {
                return Ok(None);
            };
            Ok(Some(Record {
                key: key.clone(),
                data,
                version: to_version(version)?,
                created_at: to_time(created_at)?,
                expires_at: to_time(expires_at)?,
                user,
            }))
        })
        .await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        within(self.timeout, || async {
            let q = &self.inner.queries.insert;
            let version = version_param(record.version)?;
            let result = on_pool!(&self.inner.pool, |p| sqlx::query(q)
                .bind(record.key.as_str())
                .bind(record.data.as_slice())
                .bind(version)
                .bind(record.created_at.unix_timestamp())
                .bind(record.expires_at.unix_timestamp())
                .bind(record.user.as_deref())
                .execute(p)
                .await
                .map(|_| ()));
            match result {
                Ok(()) => Ok(()),
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    Err(StoreError::Duplicate)
                }
                Err(e) => Err(store_error(e)),
            }
        })
        .await
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        within(self.timeout, || async {
            let queries = &self.inner.queries;
            let now = now().unix_timestamp();
            let (version, expected) = (
                version_param(record.version)?,
                version_param(expected_version)?,
            );
            let (data, expires_at, user) = (
                record.data.as_slice(),
                record.expires_at.unix_timestamp(),
                record.user.as_deref(),
            );
            let key = record.key.as_str();
            let same_user = on_pool!(&self.inner.pool, |p| sqlx::query(&queries.update_same_user)
                .bind(data)
                .bind(version)
                .bind(expires_at)
                .bind(key)
                .bind(expected)
                .bind(now)
                .bind(user)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))
            .map_err(store_error)?;
            if same_user > 0 {
                return Ok(());
            }
            // The user changed, or the record is gone or at another version.
            let updated = on_pool!(&self.inner.pool, |p| sqlx::query(&queries.update)
                .bind(data)
                .bind(version)
                .bind(expires_at)
                .bind(user)
                .bind(key)
                .bind(expected)
                .bind(now)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))
            .map_err(store_error)?;
            if updated > 0 {
                return Ok(());
            }
            match self.live_version(&record.key, now).await? {
                Some(_) => Err(StoreError::Conflict),
                None => Err(StoreError::NotFound),
            }
        })
        .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        within(self.timeout, || async {
            let q = &self.inner.queries.delete;
            on_pool_durably!(&self.inner.pool, |p| sqlx::query(q)
                .bind(key.as_str())
                .execute(p)
                .await
                .map(|_| ()))
            .map_err(store_error)
        })
        .await
    }

    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        within(self.timeout, || async {
            let inner = &self.inner;
            match rotate::rotate(&inner.pool, &inner.queries, old, expected_version, new).await? {
                Some(()) => Ok(()),
                None => match self.live_version(&old.key, now().unix_timestamp()).await? {
                    Some(_) => Err(StoreError::Conflict),
                    None => Err(StoreError::NotFound),
                },
            }
        })
        .await
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        within(self.timeout, || async {
            touch(&self.inner.pool, &self.inner.queries.touch, key, expires_at).await
        })
        .await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        sweep(self).await
    }

    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        within(self.timeout, || async {
            delete_expired_batch(&self.inner.pool, &self.inner.queries.delete_expired, max).await
        })
        .await
    }

    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        within(self.timeout, || async {
            let queries = &self.inner.queries;
            let now = now().unix_timestamp();
            let (hour, day) = (now + 3600, now + 86_400);
            let (live, expired, within_hour, within_day): (i64, i64, i64, i64) =
                on_pool!(&self.inner.pool, |p| sqlx::query_as(&queries.stats)
                    .bind(now)
                    .bind(now)
                    .bind(now)
                    .bind(hour)
                    .bind(now)
                    .bind(day)
                    .fetch_one(p)
                    .await)
                .map_err(store_error)?;
            let limit = i64::try_from(top_users).unwrap_or(i64::MAX);
            let users: Vec<(String, i64)> =
                on_pool!(&self.inner.pool, |p| sqlx::query_as(&queries.top_users)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(p)
                    .await)
                .map_err(store_error)?;
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            let mut stats = StoreStats::default();
            stats.live = count(live);
            stats.expired = Some(count(expired));
            stats.expiring_within_hour = count(within_hour);
            stats.expiring_within_day = count(within_day);
            stats.top_users = users.into_iter().map(|(u, n)| (u, count(n))).collect();
            Ok(stats)
        })
        .await
    }

    fn supports_user_index(&self) -> bool {
        true
    }

    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        within(self.timeout, || async {
            let q = &self.inner.queries.sessions_of;
            let rows: Vec<(String, i64, i64)> = on_pool!(&self.inner.pool, |p| sqlx::query_as(q)
                .bind(user)
                .bind(now().unix_timestamp())
                .fetch_all(p)
                .await)
            .map_err(store_error)?;
            rows.into_iter()
                .map(|(id, created_at, expires_at)| {
                    let key = StoreKey::new(id);
                    Ok(SessionInfo {
                        created_at: to_time(created_at)?,
                        expires_at: to_time(expires_at)?,
                        key,
                    })
                })
                .collect()
        })
        .await
    }

    async fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        within(self.timeout, || async {
            let q = &self.inner.queries.delete_sessions_of;
            // No stored key is empty, so "" keeps nothing.
            let keep = keep.map_or("", StoreKey::as_str);
            on_pool_durably!(&self.inner.pool, |p| sqlx::query(q)
                .bind(user)
                .bind(keep)
                .bind(now().unix_timestamp())
                .execute(p)
                .await
                .map(|r| r.rows_affected()))
            .map_err(store_error)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_lazy_outside_a_runtime_is_an_error_not_a_panic() {
        let err = SqlStore::builder("sqlite::memory:")
            .connect_lazy()
            .expect_err("no runtime here");
        assert!(matches!(err, OpenError::NoRuntime), "{err}");
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
    }
}
