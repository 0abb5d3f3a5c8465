//! Django's `cached_db` session backend: the database is the truth, the
//! Redis cache a copy Django reads first.

use session_core::django::signing::DjangoSigner;
use session_core::django::{SESSION_SALT, pickle};
use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionStore, StoreError, StoreKey, StoreStats, async_trait, now,
};
use session_store_redis::DjangoCacheStore;
use session_store_sql::DjangoSqlStore;

/// A [`SessionStore`] for sessions a Django app keeps with
/// `SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"`.
///
/// Reads go to Django's table (so compare-and-swap works on the truth);
/// every write, touch and delete also updates Django's cache entry
/// (`:1:django.contrib.sessions.cached_db<key>`, an unsigned pickle), so
/// the Django app, which reads its cache first, never sees stale data. Use
/// it with the manager's Django mode (`DjangoCodec`).
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use sessions::django::signing::DjangoSigner;
/// use sessions::{DjangoCachedDbStore, DjangoSqlStore, KeyRing, RedisStore, SessionManager};
/// use sessions::django_cache::DjangoCacheStore;
///
/// let signer = DjangoSigner::new("the Django app's SECRET_KEY", Vec::<&str>::new())?;
/// let store = DjangoCachedDbStore::new(
///     DjangoSqlStore::connect("postgres://app@db/app").await?,
///     DjangoCacheStore::cached_db(RedisStore::connect("redis://cache").await?, "", 1),
///     signer.clone(),
/// );
/// let manager = SessionManager::builder(store, KeyRing::new([0u8; 32])?).django(signer).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DjangoCachedDbStore {
    db: DjangoSqlStore,
    cache: DjangoCacheStore,
    signer: DjangoSigner,
}

impl DjangoCachedDbStore {
    /// Django's table, its `cached_db` cache keys, and the app's secret (to
    /// turn the table's signed data into the cache's pickle).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use sessions::django::signing::DjangoSigner;
    /// use sessions::django_cache::DjangoCacheStore;
    /// use sessions::{DjangoCachedDbStore, DjangoSqlStore, RedisStore};
    /// // CACHES = {"default": {..., "KEY_PREFIX": "shop"}} in the Django app:
    /// let signer = DjangoSigner::new("the Django app's SECRET_KEY", Vec::<&str>::new())?;
    /// let store = DjangoCachedDbStore::new(
    ///     DjangoSqlStore::connect("mysql://app@db/app").await?,
    ///     DjangoCacheStore::cached_db(RedisStore::connect("redis://cache").await?, "shop", 1),
    ///     signer,
    /// );
    /// # Ok(()) }
    /// ```
    pub fn new(db: DjangoSqlStore, cache: DjangoCacheStore, signer: DjangoSigner) -> Self {
        DjangoCachedDbStore { db, cache, signer }
    }

    /// Puts the record's data into the cache as Django would; with
    /// `only_if_cached`, only over a copy that is there (see
    /// [`DjangoCacheStore::replace`]).
    async fn refresh_cache(&self, record: &Record, only_if_cached: bool) -> Result<(), StoreError> {
        let text = std::str::from_utf8(&record.data)
            .map_err(|_| StoreError::backend("Django session data must be text"))?;
        match self
            .signer
            .unsign_object(SESSION_SALT, text, None, now().unix_timestamp())
        {
            Ok(dict) if only_if_cached => {
                self.cache
                    .replace(&record.key, &pickle::dumps(&dict), record.expires_at)
                    .await
            }
            Ok(dict) => {
                self.cache
                    .put(&record.key, &pickle::dumps(&dict), record.expires_at)
                    .await
            }
            // Data this secret cannot read: drop the cached copy rather than keep a stale one.
            Err(_) => self.cache.delete(&record.key).await,
        }
    }
}

#[async_trait]
impl SessionStore for DjangoCachedDbStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.db.load(key).await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.db.create(record).await?;
        self.refresh_cache(record, false).await
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        self.db.update(record, expected_version).await?;
        // Only over a cached copy: a logout between the two writes removed
        // the copy (and then the row), and must not find it put back, or
        // Django, which reads the cache first, would see the session live.
        self.refresh_cache(record, true).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        // Django's order: the cache first, so no reader refills it from a row about to go.
        self.cache.delete(key).await?;
        self.db.delete(key).await
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        self.db.touch(key, expires_at).await?;
        match self.cache.touch(key, expires_at).await {
            Err(StoreError::NotFound) => Ok(()),
            other => other,
        }
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.db.delete_expired().await
    }

    fn maintenance(&self) -> Option<&dyn Maintenance> {
        Some(self)
    }
}

#[async_trait]
impl Maintenance for DjangoCachedDbStore {
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        self.db.delete_expired_batch(max).await
    }
    /// Not counted: Django's table has no columns to count by.
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        let _ = top_users;
        Err(StoreError::Unsupported("statistics"))
    }
}
