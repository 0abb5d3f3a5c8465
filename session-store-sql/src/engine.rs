//! Which SQL engine a store runs on, its connection pool, and the macros
//! that run one statement on whichever pool it is.

#[cfg(feature = "mysql")]
use sqlx::mysql::MySqlPool;
#[cfg(feature = "postgres")]
use sqlx::postgres::PgPool;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::SqlitePool;

/// The SQL engine behind a [`SqlStore`](crate::SqlStore).
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

/// A statement parameter, as the stores bind them: one list of these
/// serves every engine (see [`bound!`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Bytes(&'a [u8]),
    Int(i64),
    Text(&'a str),
    MaybeText(Option<&'a str>),
}

/// The SQLite writer binds the same parameters through `rusqlite`.
#[cfg(feature = "sqlite")]
impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match *self {
            Param::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Param::Int(v) => ToSqlOutput::Owned(Value::Integer(v)),
            Param::Text(v) | Param::MaybeText(Some(v)) => {
                ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes()))
            }
            Param::MaybeText(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// `sqlx::query($sql)` (or `$make($sql)`, as `sqlx::query_scalar`) with
/// `$params` (a slice of [`Param`]) bound in order; for use inside
/// [`on_pool!`], where the engine is known.
macro_rules! bound {
    ($sql:expr, $params:expr) => {
        $crate::engine::bound!(sqlx::query, $sql, $params)
    };
    ($make:expr, $sql:expr, $params:expr) => {{
        let mut query = $make($sql);
        for param in $params {
            query = match *param {
                $crate::engine::Param::Bytes(v) => query.bind(v),
                $crate::engine::Param::Int(v) => query.bind(v),
                $crate::engine::Param::Text(v) => query.bind(v),
                $crate::engine::Param::MaybeText(v) => query.bind(v),
            };
        }
        query
    }};
}
pub(crate) use bound;

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
