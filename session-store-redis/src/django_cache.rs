//! Django's `cache` session backend on Redis: sessions stored as Django's
//! `RedisCache` stores them, so a Django app with
//! `SESSION_ENGINE = "django.contrib.sessions.backends.cache"` and the same
//! Redis shares them.
//!
//! Keys are `<KEY_PREFIX>:<VERSION>:django.contrib.sessions.cache<session key>`
//! (Django's default key function; version 1, empty prefix by default), each
//! holding an unsigned pickle of the session dict (use the manager's Django
//! mode with `session_core::django::pickle::PickleCodec`) and a TTL.
//!
//! Django overwrites cache sessions blindly; this store keeps the contract:
//! a record's version is derived from its bytes (the first 64 bits of their
//! SHA-1, which Lua computes with `redis.sha1hex`), and `update` is one
//! script that compares and swaps, refusing a key that is gone (a Django
//! logout is never undone).

use redis::Script;
use session_core::time::{Duration, OffsetDateTime};
use session_core::{Record, SessionStore, StoreError, StoreKey, async_trait, now};

use crate::RedisStore;

/// KEYS: session. ARGV: expected version (16 hex digits), data, expires.
/// 1 when swapped, 0 on another version, -1 when there is no session.
const UPDATE: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
if string.sub(redis.sha1hex(v), 1, 16) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EXAT', ARGV[3])
return 1
";

/// A [`SessionStore`] on Django's cache keys in Redis. See the [module docs](self).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use session_store_redis::{DjangoCacheStore, RedisStore};
/// use session_core::django::signing::DjangoSigner;
/// use session_core::{KeyRing, SessionManager};
/// use session_core::django::pickle::PickleCodec;
/// // Django: SESSION_ENGINE = "django.contrib.sessions.backends.cache", on Redis.
/// let store = DjangoCacheStore::connect("redis://127.0.0.1:6379").await?;
/// let signer = DjangoSigner::new("the Django app's SECRET_KEY", Vec::<&str>::new())?;
/// let manager = SessionManager::builder(store, KeyRing::new([0u8; 32])?)
///     .django(signer)
///     .codec(PickleCodec) // Django's cache stores pickles
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DjangoCacheStore {
    redis: RedisStore,
    prefix: String,
    update: std::sync::Arc<Script>,
}

/// The version of a cached session: the first 64 bits of its SHA-1.
fn version_of(bytes: &[u8]) -> u64 {
    let digest = sha1_smol::Sha1::from(bytes).digest().bytes();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Django's default cache key function (`django.core.cache.backends.base.
/// default_key_func`): `"%s:%s:%s" % (key_prefix, version, key)`.
fn django_key(key_prefix: &str, version: u32, key: &str) -> String {
    format!("{key_prefix}:{version}:{key}")
}

impl DjangoCacheStore {
    /// Django's default cache keys (version 1, no `KEY_PREFIX`) on the Redis
    /// server at `url`.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or the server cannot be reached.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::{DjangoCacheStore, RedisStore};
    /// let store = DjangoCacheStore::connect("redis://127.0.0.1:6379").await?;
    /// let key = session_core::StoreKey::new("abcdefghijklmnopqrstuvwxyz012345");
    /// assert_eq!(store.key(&key), ":1:django.contrib.sessions.cacheabcdefghijklmnopqrstuvwxyz012345");
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self::with_keys(RedisStore::connect(url).await?, "", 1))
    }

    /// Uses `redis`'s connection with Django's `CACHES` settings
    /// `KEY_PREFIX` and `VERSION`.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::{DjangoCacheStore, RedisStore};
    /// // CACHES = {"default": {..., "KEY_PREFIX": "shop", "VERSION": 2}}
    /// let store = DjangoCacheStore::with_keys(RedisStore::connect("redis://127.0.0.1:6379").await?, "shop", 2);
    /// let key = session_core::StoreKey::new("abcdefgh");
    /// assert_eq!(store.key(&key), "shop:2:django.contrib.sessions.cacheabcdefgh");
    /// # Ok(()) }
    /// ```
    pub fn with_keys(redis: RedisStore, key_prefix: &str, version: u32) -> Self {
        DjangoCacheStore {
            redis,
            prefix: django_key(key_prefix, version, "django.contrib.sessions.cache"),
            update: std::sync::Arc::new(Script::new(UPDATE)),
        }
    }

    /// The cache half of Django's `cached_db` backend: the same layout under
    /// `django.contrib.sessions.cached_db` keys.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::{DjangoCacheStore, RedisStore};
    /// let store = DjangoCacheStore::cached_db(RedisStore::connect("redis://127.0.0.1:6379").await?, "", 1);
    /// let key = session_core::StoreKey::new("abcdefgh");
    /// assert_eq!(store.key(&key), ":1:django.contrib.sessions.cached_dbabcdefgh");
    /// # Ok(()) }
    /// ```
    pub fn cached_db(redis: RedisStore, key_prefix: &str, version: u32) -> Self {
        DjangoCacheStore {
            prefix: django_key(key_prefix, version, "django.contrib.sessions.cached_db"),
            ..Self::with_keys(redis, key_prefix, version)
        }
    }

    /// Writes `data` (a pickle) under `key` whatever is there, as Django's
    /// cache does; for keeping a cache in step with a database.
    ///
    /// # Errors
    ///
    /// When Redis fails.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::{DjangoCacheStore, RedisStore};
    /// use session_core::SessionStore;
    /// let store = DjangoCacheStore::connect("redis://127.0.0.1:6379").await?;
    /// let key = session_core::StoreKey::new("abcdefghijklmnopqrstuvwxyz012345");
    /// let pickle = b"\x80\x04}\x94."; // an empty dict, as Django's cache pickles it
    /// store.put(&key, pickle, session_core::now() + session_core::time::Duration::hours(1)).await?;
    /// assert_eq!(store.load(&key).await?.map(|r| r.data), Some(pickle.to_vec()));
    /// # Ok(()) }
    /// ```
    pub async fn put(
        &self,
        key: &StoreKey,
        data: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.set(key, data, expires_at, false).await
    }

    /// Replaces the cached copy of a session with `data` only if one is
    /// cached: a copy that is gone (a logout removed it, or it expired)
    /// stays gone, and a reader then falls back to the database, as
    /// Django's `cached_db` does on a miss.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::DjangoCacheStore;
    /// let store = DjangoCacheStore::connect("redis://127.0.0.1:6379").await?;
    /// let key = session_core::StoreKey::new("abcdefghijklmnopqrstuvwxyz012345");
    /// let later = session_core::now() + session_core::time::Duration::hours(1);
    /// store.replace(&key, b"pickle", later).await?; // nothing cached: nothing written
    /// # Ok(()) }
    /// ```
    pub async fn replace(
        &self,
        key: &StoreKey,
        data: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.set(key, data, expires_at, true).await
    }

    /// `SET` with Django's expiry (an expiry in the past deletes), and
    /// with `XX` (only over a key that is there) when `only_if_cached`.
    async fn set(
        &self,
        key: &StoreKey,
        data: &[u8],
        expires_at: OffsetDateTime,
        only_if_cached: bool,
    ) -> Result<(), StoreError> {
        if !expires_at.gt(&now()) {
            return self.delete(key).await;
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(data)
            .arg("EXAT")
            .arg(expires_at.unix_timestamp());
        if only_if_cached {
            cmd.arg("XX");
        }
        // `OK`, or nil when `XX` found nothing.
        self.redis.query::<Option<String>>(&cmd).await.map(drop)
    }

    /// The Redis key of a session.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::{DjangoCacheStore, RedisStore};
    /// let store = DjangoCacheStore::connect("redis://127.0.0.1:6379").await?;
    /// let key = session_core::StoreKey::new("abcdefgh");
    /// assert!(store.key(&key).ends_with("django.contrib.sessions.cacheabcdefgh"));
    /// # Ok(()) }
    /// ```
    pub fn key(&self, key: &StoreKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }
}

#[async_trait]
impl SessionStore for DjangoCacheStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let k = self.key(key);
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(&k).cmd("PTTL").arg(&k);
        let (data, ttl_ms): (Option<Vec<u8>>, i64) = self
            .redis
            .pipeline(&pipe)
            .await
            .map_err(crate::conn::store_error)?;
        let Some(data) = data else { return Ok(None) };
        let now = now();
        // A key Django wrote without a timeout lives until deleted.
        let ttl = if ttl_ms >= 0 {
            Duration::milliseconds(ttl_ms)
        } else {
            Duration::days(3650)
        };
        Ok(Some(Record {
            key: key.clone(),
            version: version_of(&data),
            data,
            created_at: now,
            expires_at: now + Duration::seconds(ttl.whole_seconds().max(1)),
            user: None,
        }))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        if !record.is_live_at(now()) {
            // Already expired: there is nothing to keep.
            return Ok(());
        }
        let created: Option<String> = self
            .redis
            .query(
                redis::cmd("SET")
                    .arg(self.key(&record.key))
                    .arg(record.data.as_slice())
                    .arg("NX")
                    .arg("EXAT")
                    .arg(record.expires_at.unix_timestamp()),
            )
            .await?;
        if created.is_some() {
            Ok(())
        } else {
            Err(StoreError::Duplicate)
        }
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        let args = [
            format!("{expected_version:016x}").into_bytes(),
            record.data.clone(),
            record.expires_at.unix_timestamp().to_string().into_bytes(),
        ];
        match self
            .redis
            .invoke::<i64>(&self.update, &self.key(&record.key), &args)
            .await?
        {
            1 => Ok(()),
            0 => Err(StoreError::Conflict),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.redis
            .query::<()>(redis::cmd("DEL").arg(self.key(key)))
            .await
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        let set: i64 = self
            .redis
            .query(
                redis::cmd("EXPIREAT")
                    .arg(self.key(key))
                    .arg(expires_at.unix_timestamp()),
            )
            .await?;
        if set == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn expires_natively(&self) -> bool {
        true
    }
}
