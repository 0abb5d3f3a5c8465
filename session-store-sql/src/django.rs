//! A store on Django's own `django_session` table, for sharing sessions
//! with a Django application (pair it with the manager's Django mode).
//!
//! The table belongs to Django (created by its migrations; this store
//! creates nothing): `session_key varchar(40)` primary key, `session_data`
//! text (Django's signed encoding, which the manager's `DjangoCodec`
//! writes), `expire_date` (UTC with `USE_TZ = True`).
//!
//! How the contract maps onto a table without a version column:
//!
//! - a record's version is derived from its data (the first 8 bytes of its
//!   SHA-256), so `update` compares and swaps inside a transaction: it
//!   reads the row (`FOR UPDATE` on PostgreSQL), checks the version, then
//!   writes; a missing row is [`StoreError::NotFound`] and is never
//!   re-inserted (Django's own rule: a save that updates nothing means the
//!   session was deleted, by a logout for example);
//! - there is no creation time (loads report the time of loading, so the
//!   manager's absolute lifetime does not apply) and no user column (no
//!   user index; Django keeps `_auth_user_id` in the data).
//!
//! SQLite, PostgreSQL and MySQL/MariaDB are supported.
//!
//! ```no_run
//! use session_store_sql::DjangoSqlStore;
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let store = DjangoSqlStore::connect("postgres://app@db/django_app").await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionStore, StoreError, StoreKey, StoreStats, async_trait, now,
};
use sha2::{Digest, Sha256};

use crate::handle::{Handle, handle_accessors};
use crate::{Engine, OpenError, Pool, SqlStore, on_pool, on_pool_durably, store_error};

/// A [`SessionStore`] on Django's `django_session` table. See the [module docs](self).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use session_store_sql::DjangoSqlStore;
/// # let dir = std::env::temp_dir().join(format!("django-sql-doc-{}-{}", std::process::id(), line!()));
/// # std::fs::create_dir_all(&dir)?;
/// # let url = format!("sqlite:{}", dir.join("db.sqlite3").display());
/// # let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc")).await?;
/// // The table as Django's migrations create it on SQLite:
/// sqlx::query(
///     "CREATE TABLE django_session (session_key varchar(40) NOT NULL PRIMARY KEY, \
///      session_data text NOT NULL, expire_date datetime NOT NULL)",
/// )
/// .execute(&pool)
/// .await?;
/// use session_core::django::signing::DjangoSigner;
/// use session_core::{KeyRing, SessionManager};
/// let store = DjangoSqlStore::with_table(pool.clone(), "django_session")?;
/// let signer = DjangoSigner::new("the Django app's SECRET_KEY", Vec::<&str>::new())?;
/// let manager = SessionManager::builder(store, KeyRing::new([0u8; 32])?).django(signer).build()?;
/// let request = manager.request(None);
/// request.load().await?.insert("cart", ["apple"])?;
/// let cookie = request.finish(200).await?.cookie_pair().unwrap().to_owned();
/// // The row is Django's: the raw session key, data in Django's signed format.
/// let (key, data): (String, String) =
///     sqlx::query_as("SELECT session_key, session_data FROM django_session").fetch_one(&pool).await?;
/// assert_eq!(cookie, format!("sessionid={key}"));
/// assert!(data.contains(':'));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DjangoSqlStore {
    handle: Handle,
    q: Arc<Queries>,
}

handle_accessors!(
    DjangoSqlStore,
    "session_store_sql::DjangoSqlStore::with_table(pool, \"django_session\")?",
    "django_session"
);

struct Queries {
    load: String,
    insert: String,
    current: String,
    update: String,
    delete: String,
    touch: String,
    delete_expired: String,
}

impl Queries {
    fn new(engine: Engine, table: &str) -> Result<Self, OpenError> {
        // Unix seconds in and out of Django's datetime column.
        let (ts, epoch, lock) = match engine {
            Engine::Sqlite => (
                "datetime(?, 'unixepoch')",
                "CAST(strftime('%s', expire_date) AS INTEGER)",
                "",
            ),
            Engine::Postgres => (
                "to_timestamp(?)",
                "CAST(EXTRACT(EPOCH FROM expire_date) AS BIGINT)",
                " FOR UPDATE",
            ),
            // sqlx sets the session's time zone to UTC, which is how Django
            // stores naive datetimes with USE_TZ.
            Engine::MySql => (
                "FROM_UNIXTIME(?)",
                "CAST(UNIX_TIMESTAMP(expire_date) AS SIGNED)",
                " FOR UPDATE",
            ),
        };
        let q = |sql: String| {
            crate::queries::placeholders(engine, &sql.replace("{t}", table).replace("{ts}", ts))
        };
        Ok(Queries {
            load: q(format!("SELECT session_data, {epoch} FROM {{t}} WHERE session_key = ? AND expire_date > {{ts}}")),
            insert: q("INSERT INTO {t} (session_key, session_data, expire_date) VALUES (?, ?, {ts})".into()),
            current: q(format!("SELECT session_data FROM {{t}} WHERE session_key = ? AND expire_date > {{ts}}{lock}")),
            update: q("UPDATE {t} SET session_data = ?, expire_date = {ts} WHERE session_key = ?".into()),
            delete: q("DELETE FROM {t} WHERE session_key = ?".into()),
            touch: q("UPDATE {t} SET expire_date = {ts} WHERE session_key = ? AND expire_date > {ts}".into()),
            delete_expired: q(match engine {
                // MySQL cannot select from the table it deletes from, but has DELETE … LIMIT.
                Engine::MySql => "DELETE FROM {t} WHERE expire_date <= {ts} LIMIT ?".into(),
                Engine::Sqlite | Engine::Postgres => {
                    "DELETE FROM {t} WHERE session_key IN (SELECT session_key FROM {t} WHERE expire_date <= {ts} LIMIT ?)".into()
                }
            }),
        })
    }
}

/// The version of a Django row: derived from its data.
fn version_of(data: &str) -> u64 {
    let digest = Sha256::digest(data.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

fn text(record: &Record) -> Result<&str, StoreError> {
    std::str::from_utf8(&record.data)
        .map_err(|_| StoreError::backend("Django session data must be text"))
}

/// SQLite refuses to upgrade a read transaction that another writer got
/// ahead of; that is a lost race, which the manager retries.
fn conflict_or(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && matches!(db.code().as_deref(), Some("5" | "517" | "261"))
    {
        return StoreError::Conflict;
    }
    store_error(e)
}

impl DjangoSqlStore {
    /// Connects to the database at `url` (SQLite, PostgreSQL or MySQL) and
    /// uses its `django_session` table.
    ///
    /// # Errors
    ///
    /// As [`SqlStore::connect`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_sql::DjangoSqlStore;
    /// # let dir = std::env::temp_dir().join(format!("django-sql-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite:{}", dir.join("db.sqlite3").display());
    /// # let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc")).await?;
    /// // The table as Django's migrations create it on SQLite:
    /// sqlx::query(
    ///     "CREATE TABLE django_session (session_key varchar(40) NOT NULL PRIMARY KEY, \
    ///      session_data text NOT NULL, expire_date datetime NOT NULL)",
    /// )
    /// .execute(&pool)
    /// .await?;
    /// let store = DjangoSqlStore::connect(&url).await?;
    /// assert_eq!(store.pool().engine(), session_store_sql::Engine::Sqlite);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let sql = SqlStore::connect(url).await?;
        Self::with_table(sql.pool().clone(), "django_session")
    }

    /// Uses `table` (Django's `django_session`, or a custom `db_table`) on `pool`.
    ///
    /// # Errors
    ///
    /// [`OpenError::InvalidTable`] for a name that is not a plain
    /// identifier.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_sql::DjangoSqlStore;
    /// # let dir = std::env::temp_dir().join(format!("django-sql-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite:{}", dir.join("db.sqlite3").display());
    /// # let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc")).await?;
    /// // The table as Django's migrations create it on SQLite:
    /// sqlx::query(
    ///     "CREATE TABLE django_session (session_key varchar(40) NOT NULL PRIMARY KEY, \
    ///      session_data text NOT NULL, expire_date datetime NOT NULL)",
    /// )
    /// .execute(&pool)
    /// .await?;
    /// sqlx::query("ALTER TABLE django_session RENAME TO app_sessions").execute(&pool).await?;
    /// // A Django app with `db_table = "app_sessions"`:
    /// let store = DjangoSqlStore::with_table(pool.clone(), "app_sessions")?;
    /// assert!(DjangoSqlStore::with_table(pool, "app sessions").is_err());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn with_table(pool: impl Into<Pool>, table: &str) -> Result<Self, OpenError> {
        let handle = Handle::new(pool.into(), table)?;
        let q = Queries::new(handle.pool.engine(), table)?;
        Ok(DjangoSqlStore {
            handle,
            q: Arc::new(q),
        })
    }
}

#[async_trait]
impl SessionStore for DjangoSqlStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.handle
            .run(|| async {
                let now = now();
                let row: Option<(String, i64)> =
                    on_pool!(&self.handle.pool, |p| sqlx::query_as(&self.q.load)
                        .bind(key.as_str())
                        .bind(now.unix_timestamp())
                        .fetch_optional(p)
                        .await)
                    .map_err(store_error)?;
                let Some((data, expires)) = row else {
                    return Ok(None);
                };
                let expires_at = OffsetDateTime::from_unix_timestamp(expires)
                    .map_err(|_| StoreError::Corrupt("expire_date out of range".to_owned()))?;
                Ok(Some(Record {
                    key: key.clone(),
                    version: version_of(&data),
                    data: data.into_bytes(),
                    created_at: now,
                    expires_at,
                    user: None,
                }))
            })
            .await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.handle
            .run(|| async {
                let data = text(record)?;
                let result = on_pool!(&self.handle.pool, |p| sqlx::query(&self.q.insert)
                    .bind(record.key.as_str())
                    .bind(data)
                    .bind(record.expires_at.unix_timestamp())
                    .execute(p)
                    .await
                    .map(|_| ()));
                match result {
                    Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                        Err(StoreError::Duplicate)
                    }
                    other => other.map_err(store_error),
                }
            })
            .await
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        self.handle
            .run(|| async {
                let data = text(record)?;
                let q = &self.q;
                let now = now().unix_timestamp();
                on_pool!(&self.handle.pool, |p| {
                    let mut tx = p.begin().await.map_err(store_error)?;
                    let current: Option<String> = sqlx::query_scalar(&q.current)
                        .bind(record.key.as_str())
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(conflict_or)?;
                    match current {
                        None => return Err(StoreError::NotFound),
                        Some(current) if version_of(&current) != expected_version => {
                            return Err(StoreError::Conflict);
                        }
                        Some(_) => {}
                    }
                    sqlx::query(&q.update)
                        .bind(data)
                        .bind(record.expires_at.unix_timestamp())
                        .bind(record.key.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict_or)?;
                    tx.commit().await.map_err(conflict_or)
                })
            })
            .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.handle
            .run(|| async {
                on_pool_durably!(&self.handle.pool, |p| sqlx::query(&self.q.delete)
                    .bind(key.as_str())
                    .execute(p)
                    .await
                    .map(|_| ()))
                .map_err(store_error)
            })
            .await
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        self.handle
            .run(|| async { self.handle.touch(&self.q.touch, key, expires_at).await })
            .await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        crate::sweep(self).await
    }

    fn maintenance(&self) -> Option<&dyn Maintenance> {
        Some(self)
    }
}

#[async_trait]
impl Maintenance for DjangoSqlStore {
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        self.handle
            .run(|| async {
                self.handle
                    .delete_expired_batch(&self.q.delete_expired, max)
                    .await
            })
            .await
    }
    /// Not counted: the table is Django's, without the columns to count by.
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        let _ = top_users;
        Err(StoreError::Unsupported("statistics"))
    }
}
