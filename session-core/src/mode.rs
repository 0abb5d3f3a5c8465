//! How a manager carries sessions: an ID in the cookie and the data in the
//! store (the native mode, and Django's database and cache backends), or
//! the whole session in the cookie (Django's `signed_cookies` backend).
//! The request lifecycle asks the mode; it has no branch of its own per
//! backend.

use time::OffsetDateTime;

use crate::codec::Data;
use crate::cookie_value::CookieValues;
use crate::{IdFormat, SessionError};
#[cfg(any(feature = "django", feature = "cookie-store"))]
use crate::{Record, SessionStore, StoreError, StoreKey, async_trait};

/// How a manager carries sessions.
pub(crate) enum Mode {
    /// The cookie carries an ID (a signed native ID, or Django's bare
    /// key), written and read by these values; the data lives in the store.
    Stored(CookieValues),
    /// The cookie carries the whole session; the store is not used. The
    /// ID format is what the manager was configured with (such a session
    /// has no ID; Django's `signed_cookies` mode reports Django's).
    InCookie(Box<dyn CookieBackend>, IdFormat),
}

impl Mode {
    /// The format of the IDs the manager issues.
    pub(crate) fn id_format(&self) -> IdFormat {
        match self {
            Mode::Stored(values) => values.format(),
            Mode::InCookie(_, format) => *format,
        }
    }
}

/// Sessions that travel whole in the cookie: how the data is read from,
/// and written into, the cookie's value. When to write or remove the
/// cookie is the commit's to decide, as for stored sessions.
pub(crate) trait CookieBackend: Send + Sync {
    /// What a cookie value carries; empty data when it is forged,
    /// malformed or expired (older than `max_age` seconds where the value
    /// records no expiry of its own).
    fn read(&self, value: &str, max_age: i64, now: OffsetDateTime) -> Opened;

    /// The cookie value that carries `data`, for a session created at
    /// `times.0` that expires at `times.1`.
    fn write(
        &self,
        data: &Data,
        times: (OffsetDateTime, OffsetDateTime),
        now: OffsetDateTime,
    ) -> Result<String, SessionError>;
}

/// What a session cookie's value carried.
pub(crate) struct Opened {
    pub(crate) data: Data,
    pub(crate) meta: CookieMeta,
}

/// What a cookie value says besides the data.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CookieMeta {
    /// When the session was created and when it expires, where the
    /// backend records them (Django's format does not).
    pub(crate) times: Option<(OffsetDateTime, OffsetDateTime)>,
    /// Opened with an older key: written again with the newest.
    pub(crate) stale: bool,
}

/// The store of a manager whose sessions travel whole in the cookie: it
/// holds nothing, and what would need a store says so.
#[cfg(any(feature = "django", feature = "cookie-store"))]
pub(crate) struct NoStore;

#[cfg(any(feature = "django", feature = "cookie-store"))]
const NO_STORE: StoreError = StoreError::Unsupported("a store (the session travels in the cookie)");

#[cfg(any(feature = "django", feature = "cookie-store"))]
#[async_trait]
impl SessionStore for NoStore {
    async fn load(&self, _: &StoreKey) -> Result<Option<Record>, StoreError> {
        Ok(None)
    }
    async fn create(&self, _: &Record) -> Result<(), StoreError> {
        Err(NO_STORE)
    }
    async fn update(&self, _: &Record, _: u64) -> Result<(), StoreError> {
        Err(NO_STORE)
    }
    async fn delete(&self, _: &StoreKey) -> Result<(), StoreError> {
        Ok(())
    }
    async fn touch(&self, _: &StoreKey, _: OffsetDateTime) -> Result<(), StoreError> {
        Err(NO_STORE)
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}
