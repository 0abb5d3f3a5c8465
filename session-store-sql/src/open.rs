//! Opening a store: the builder, and why opening failed.

use std::fmt;
use std::time::Duration;

#[cfg(feature = "mysql")]
use sqlx::mysql::MySqlPoolOptions;
#[cfg(feature = "postgres")]
use sqlx::postgres::PgPoolOptions;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{DEFAULT_TIMEOUT, Engine, Pool, SqlStore, on_pool};

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
    /// The defaults: table `sessions`, 10 connections, 5 s to get one,
    /// 10 s per operation.
    pub(crate) fn new(url: String) -> Self {
        SqlStoreBuilder {
            url,
            table: "sessions".into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            timeout: DEFAULT_TIMEOUT,
        }
    }

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
    /// [`StoreError::Unavailable`](session_core::StoreError::Unavailable) (default 5 seconds).
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
    /// included, before failing with [`StoreError::Unavailable`](session_core::StoreError::Unavailable) (default
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
        let sqlite_threads = engine == Engine::Sqlite && names_a_plain_file(&self.url);
        Ok(SqlStore::on(pool, &self.table, sqlite_threads)?.with_timeout(self.timeout))
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
        on_pool!(store.pool(), |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(store)
    }
}

/// Whether an SQLite URL names a database file opened read-write with
/// SQLite's default VFS and no shared cache: one that other connections,
/// opened by the store's SQLite threads from the file's path, share
/// exactly (same file, same locks). Not for in-memory databases, `mode=ro`,
/// `immutable`, `vfs` or `cache=shared`.
fn names_a_plain_file(url: &str) -> bool {
    let url = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, query) = url.split_once('?').unwrap_or((url, ""));
    let plain = |(key, value): (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)| {
        matches!(
            (&*key, &*value),
            ("mode", "rw" | "rwc") | ("cache", "private") | ("immutable", "false" | "0")
        )
    };
    !matches!(database, "" | ":memory:") && url::form_urlencoded::parse(query.as_bytes()).all(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_database_files_get_sqlite_threads() {
        for url in [
            "sqlite:sessions.db",
            "sqlite://sessions.db",
            "sqlite:///var/lib/app/sessions.db?mode=rwc",
            "sqlite:data.db?mode=rw&cache=private&immutable=false",
        ] {
            assert!(names_a_plain_file(url), "{url}");
        }
        for url in [
            "sqlite::memory:",
            "sqlite://",
            "sqlite:x.db?mode=memory",
            "sqlite:x.db?mode=memor%79",
            "sqlite:x.db?mode=ro",
            "sqlite:x.db?immutable=1",
            "sqlite:x.db?vfs=unix-dotfile",
            "sqlite:x.db?cache=shared",
        ] {
            assert!(!names_a_plain_file(url), "{url}");
        }
    }

    #[test]
    fn connect_lazy_outside_a_runtime_is_an_error_not_a_panic() {
        let err = SqlStore::builder("sqlite::memory:")
            .connect_lazy()
            .expect_err("no runtime here");
        assert!(matches!(err, OpenError::NoRuntime), "{err}");
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
    }
}
