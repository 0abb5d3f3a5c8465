//! The store: [`SqlStore`] and its mapping of the store contract onto SQL.

use std::sync::Arc;

use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, UserIndex,
    async_trait, now,
};

use crate::batch::{Answer, Batches};
use crate::handle::{Handle, handle_accessors};
use crate::queries::{Queries, update_attempts};
use crate::{OpenError, Pool, SqlStoreBuilder, on_pool, on_pool_durably, rotate, store_error};
use crate::{sweep, version_param};

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
    handle: Handle,
    queries: Arc<Queries>,
    /// Loads and saves sharing statements (SQLite and PostgreSQL).
    pub(crate) batches: Option<Arc<Batches>>,
}

handle_accessors!(
    SqlStore,
    "session_store_sql::SqlStore::from_pool(pool)",
    "sessions"
);

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
        SqlStoreBuilder::new(url.into())
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
        Self::on(pool.into(), table, false)
    }

    /// A store on `pool` and `table`; on SQLite, its loads and saves go to
    /// threads of their own when `sqlite_threads` (see
    /// [`Batches::for_engine`]).
    pub(crate) fn on(pool: Pool, table: &str, sqlite_threads: bool) -> Result<Self, OpenError> {
        let handle = Handle::new(pool, table)?;
        let queries = Arc::new(Queries::new(handle.pool.engine(), table));
        let batches = Batches::for_engine(&handle, &queries, sqlite_threads).map(Arc::new);
        Ok(SqlStore {
            handle,
            queries,
            batches,
        })
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
        crate::migrate::run(&self.handle.pool, &self.handle.table).await
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
        crate::migrate::is_current(&self.handle.pool, &self.handle.table).await
    }

    async fn live_version(&self, key: &StoreKey, now: i64) -> Result<Option<i64>, StoreError> {
        let q = &self.queries.live_version;
        on_pool!(&self.handle.pool, |p| sqlx::query_scalar::<_, i64>(q)
            .bind(key.as_str())
            .bind(now)
            .fetch_optional(p)
            .await)
        .map_err(store_error)
    }
}

/// A stored row: data, version, created, expires, user.
pub(crate) type Row = (Vec<u8>, i64, i64, i64, Option<String>);

/// The record a row holds under `key`.
pub(crate) fn record_of(key: &StoreKey, row: Row) -> Result<Record, StoreError> {
    let (data, version, created_at, expires_at, user) = row;
    Ok(Record {
        key: key.clone(),
        data,
        version: to_version(version)?,
        created_at: to_time(created_at)?,
        expires_at: to_time(expires_at)?,
        user,
    })
}

fn to_time(secs: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| StoreError::Corrupt(format!("timestamp {secs} out of range")))
}

fn to_version(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative version {v}")))
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.handle
            .run(|| async {
                if let Some(batches) = &self.batches
                    && let Answer::Done(answer) = batches.load(key).await
                {
                    return answer;
                }
                let q = &self.queries.load;
                let row: Option<Row> = on_pool!(&self.handle.pool, |p| sqlx::query_as(q)
                    .bind(key.as_str())
                    .bind(now().unix_timestamp())
                    .fetch_optional(p)
                    .await)
                .map_err(store_error)?;
                row.map(|row| record_of(key, row)).transpose()
            })
            .await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.handle
            .run(|| async {
                let q = &self.queries.insert;
                let version = version_param(record.version)?;
                let result = on_pool!(&self.handle.pool, |p| sqlx::query(q)
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
        self.handle
            .run(|| async {
                if let Some(batches) = &self.batches
                    && let Answer::Done(answer) = batches.update(record, expected_version).await
                {
                    return answer;
                }
                let now = now().unix_timestamp();
                for (sql, params) in update_attempts(&self.queries, record, expected_version, now)?
                {
                    if self.handle.execute(sql, &params).await? > 0 {
                        return Ok(());
                    }
                }
                // The record is gone or at another version.
                match self.live_version(&record.key, now).await? {
                    Some(_) => Err(StoreError::Conflict),
                    None => Err(StoreError::NotFound),
                }
            })
            .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.handle
            .run(|| async {
                let q = &self.queries.delete;
                on_pool_durably!(&self.handle.pool, |p| sqlx::query(q)
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
        self.handle
            .run(|| async {
                match rotate::rotate(&self.handle.pool, &self.queries, old, expected_version, new)
                    .await?
                {
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
        self.handle
            .run(|| async {
                self.handle
                    .touch(&self.queries.touch, key, expires_at)
                    .await
            })
            .await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        sweep(self).await
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        Some(self)
    }
}

#[async_trait]
impl Maintenance for SqlStore {
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        self.handle
            .run(|| async {
                let queries = &self.queries;
                let now = now().unix_timestamp();
                let (hour, day) = (now + 3600, now + 86_400);
                let (live, expired, within_hour, within_day): (i64, i64, i64, i64) =
                    on_pool!(&self.handle.pool, |p| sqlx::query_as(&queries.stats)
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
                    on_pool!(&self.handle.pool, |p| sqlx::query_as(&queries.top_users)
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
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        self.handle
            .run(|| async {
                self.handle
                    .delete_expired_batch(&self.queries.delete_expired, max)
                    .await
            })
            .await
    }
}

#[async_trait]
impl UserIndex for SqlStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.handle
            .run(|| async {
                let q = &self.queries.sessions_of;
                let rows: Vec<(String, i64, i64)> =
                    on_pool!(&self.handle.pool, |p| sqlx::query_as(q)
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
        self.handle
            .run(|| async {
                let q = &self.queries.delete_sessions_of;
                // No stored key is empty, so "" keeps nothing.
                let keep = keep.map_or("", StoreKey::as_str);
                on_pool_durably!(&self.handle.pool, |p| sqlx::query(q)
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
