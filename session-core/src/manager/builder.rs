//! Configuring a [`SessionManager`](crate::SessionManager): cookie, expiry, codec,
//! Django modes, the session header.

use std::fmt;
use std::sync::Arc;

use crate::cookie::SetCookie;
use crate::cookie_value::CookieValues;
use crate::mode::{CookieBackend, Mode};

use crate::{Codec, ConfigError, CookieConfig, ExpiryRules, IdFormat, KeyRing, SessionStore};

use super::{Inner, SessionManager};

/// Configures a [`SessionManager`]; see [`SessionManager::builder`].
///
/// ```
/// # use session_core::{ExpiryRules, KeyRing, SessionManager};
/// # use time::Duration;
/// let built = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?)
///     .expiry(ExpiryRules::default().idle_timeout(Duration::ZERO))
///     .build();
/// assert!(built.is_err(), "a zero idle timeout is refused");
/// # Ok::<(), session_core::ConfigError>(())
/// ```
pub struct SessionManagerBuilder {
    pub(super) store: Arc<dyn SessionStore>,
    /// `None` in the modes that sign nothing (Django's).
    pub(super) keys: Option<KeyRing>,
    pub(super) cookie: CookieConfig,
    pub(super) rules: ExpiryRules,
    pub(super) codec: Arc<dyn Codec>,
    pub(super) id_format: IdFormat,
    pub(super) max_retries: u32,
    pub(super) decoded_cache: usize,
    /// Set when the whole session travels in the cookie.
    pub(super) in_cookie: Option<Box<dyn CookieBackend>>,
    /// The whole session sealed into the cookie with the key ring's keys
    /// (made when the cookie's name is known, at `build`).
    #[cfg(feature = "cookie-store")]
    pub(super) encrypted: bool,
    pub(super) header: Option<String>,
}

impl fmt::Debug for SessionManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManagerBuilder")
            .field("cookie", &self.cookie)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl SessionManagerBuilder {
    /// The session cookie's name and attributes.
    ///
    /// ```
    /// # use session_core::{CookieConfig, KeyRing, SessionManager};
    /// let manager = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .cookie(CookieConfig::new("sid").secure(false))
    ///     .build()?;
    /// assert!(!manager.cookie().is_secure());
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn cookie(mut self, cookie: CookieConfig) -> Self {
        self.cookie = cookie;
        self
    }

    /// The expiry rules.
    ///
    /// ```
    /// # use session_core::{ExpiryRules, KeyRing, SessionManager};
    /// # use time::Duration;
    /// let manager = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .expiry(ExpiryRules::default().idle_timeout(Duration::hours(1)))
    ///     .build()?;
    /// assert_eq!(manager.expiry().idle(), Duration::hours(1));
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn expiry(mut self, rules: ExpiryRules) -> Self {
        self.rules = rules;
        self
    }

    /// How session data is encoded for the store (default [`JsonCodec`](crate::JsonCodec)).
    ///
    /// ```
    /// # use session_core::{JsonCodec, KeyRing, SessionManager};
    /// let manager = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .codec(JsonCodec) // the default, spelled out
    ///     .build()?;
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.codec = Arc::new(codec);
        self
    }

    /// Which IDs are issued and accepted (default [`IdFormat::Native`]).
    ///
    /// ```
    /// # use session_core::{IdFormat, KeyRing, SessionManager};
    /// let manager = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .id_format(IdFormat::Django)
    ///     .build()?;
    /// assert_eq!(manager.id_format(), IdFormat::Django);
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn id_format(mut self, format: IdFormat) -> Self {
        self.id_format = format;
        self
    }

    /// How many times a save is retried after a conflicting concurrent save
    /// (default [`DEFAULT_MAX_CONFLICT_RETRIES`](crate::DEFAULT_MAX_CONFLICT_RETRIES)).
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// let manager = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .max_conflict_retries(8)
    ///     .build()?;
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn max_conflict_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// How many sessions' decoded data the manager keeps (default
    /// [`DEFAULT_DECODED_CACHE`](crate::DEFAULT_DECODED_CACHE); `0` keeps
    /// none).
    ///
    /// Every load still asks the store, which still decides whether the
    /// session exists, its version and its expiry. What the manager keeps
    /// is, per session, the stored bytes it last decoded or wrote with the
    /// map they decode to; when the store returns those very bytes (and
    /// the same user binding) the load takes that map instead of decoding
    /// again (decoding is most of a read's own CPU time on the memory
    /// store). A session saved elsewhere meanwhile has other bytes and is
    /// decoded as usual, so the cache never serves stale data. Records
    /// over 4 KiB of encoded data are not kept, which bounds the memory to
    /// about `capacity` small maps.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .decoded_cache(0) // decode every load
    ///     .build()?;
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn decoded_cache(mut self, capacity: usize) -> Self {
        self.decoded_cache = capacity;
        self
    }

    /// Lets sessions travel in a request header named `name` as well as in
    /// the cookie, for mobile and API clients without a cookie jar: the
    /// header carries the same signed value as the cookie, with the same
    /// rotation and expiry. A response sends the header when the session
    /// is created or its ID changes (the client keeps it and sends it back
    /// as it is), and an empty value when the session ends. A request that
    /// sends the header is answered only in the header; a new session
    /// goes out in both, since the server cannot tell which the client
    /// keeps. See [`SessionManager::request_from_headers`].
    ///
    /// Browsers never add such a header on their own, so sessions carried
    /// in it are not exposed to cross-site request forgery.
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) refuses ([`ConfigError::SessionHeader`]) a
    /// name that is not a header token or is a header the session already
    /// uses (`Cookie`, `Set-Cookie`, `Vary`), and the header with the
    /// whole session in the cookie (Django's `signed_cookies`).
    ///
    /// ```
    /// # use session_core::{ConfigError, KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # let keys = || KeyRing::new([7u8; 32]).unwrap();
    /// let manager = SessionManager::builder(MemoryStore::new(), keys())
    ///     .session_header("x-session-token")
    ///     .build()?;
    /// assert_eq!(manager.session_header(), Some("x-session-token"));
    /// let bad = SessionManager::builder(MemoryStore::new(), keys()).session_header("x token").build();
    /// assert!(matches!(bad, Err(ConfigError::SessionHeader(_))));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn session_header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into());
        self
    }

    /// Django mode: sessions a Django application shares. Django's 32-character
    /// session keys in a plain cookie (as Django sends them; named
    /// `sessionid` unless [`cookie`](Self::cookie) names it otherwise), data
    /// encoded by [`DjangoCodec`](crate::django::DjangoCodec) with the Django
    /// app's `SECRET_KEY`. Pair it with a store on Django's own table (for
    /// example `session_store_sql::DjangoSqlStore`). The key ring given to
    /// the builder is then dropped; [`SessionManager::django`] starts
    /// without one.
    ///
    /// ```
    /// use session_core::django::signing::DjangoSigner;
    /// use session_core::{IdFormat, KeyRing, SessionManager};
    ///
    /// let signer = DjangoSigner::new("the Django app's SECRET_KEY", Vec::<&str>::new())?;
    /// let manager = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([0u8; 32])?)
    ///     .django(signer)
    ///     .build()?;
    /// assert_eq!(manager.cookie().name(), "sessionid");
    /// assert_eq!(manager.id_format(), IdFormat::Django);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "django")]
    pub fn django(mut self, signer: crate::django::signing::DjangoSigner) -> Self {
        self.codec = Arc::new(crate::django::DjangoCodec::new(signer));
        self.id_format = IdFormat::Django;
        self.keys = None;
        if self.cookie.name == CookieConfig::default().name {
            self.cookie.name = "sessionid".into();
        }
        self
    }

    /// Django's `signed_cookies` backend: the whole session travels in the
    /// `sessionid` cookie, signed with the Django app's `SECRET_KEY`; the
    /// store is never used ([`SessionManager::django_signed_cookies`]
    /// starts without one, or a key ring). See
    /// [`django::signed_cookies`](crate::django::signed_cookies).
    ///
    /// ```
    /// use session_core::django::signing::DjangoSigner;
    /// use session_core::{KeyRing, SessionManager};
    ///
    /// let signer = DjangoSigner::new("the Django app's SECRET_KEY", Vec::<&str>::new())?;
    /// let manager = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([0u8; 32])?)
    ///     .django_signed_cookies(signer)
    ///     .build()?;
    /// assert_eq!(manager.cookie().name(), "sessionid");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "django")]
    pub fn django_signed_cookies(mut self, signer: crate::django::signing::DjangoSigner) -> Self {
        self = self.django(signer.clone());
        self.in_cookie = Some(Box::new(crate::django::signed_cookies::SignedCookies(
            signer,
        )));
        self
    }

    /// Checks the configuration and builds the manager.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for an invalid cookie or expiry setting.
    ///
    /// ```
    /// # use session_core::{CookieConfig, KeyRing, SessionManager};
    /// let built = SessionManager::builder(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .cookie(CookieConfig::new("__Host-sid").path("/app"))
    ///     .build();
    /// assert!(built.is_err(), "__Host- cookies must have Path=/");
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<SessionManager, ConfigError> {
        let this = self.sealing();
        this.cookie.validate()?;
        let rules = this.rules;
        if rules.idle <= time::Duration::ZERO {
            return Err(ConfigError::Expiry("the idle timeout must be positive"));
        }
        if rules.absolute.is_some_and(|a| a <= time::Duration::ZERO) {
            return Err(ConfigError::Expiry(
                "the absolute lifetime must be positive",
            ));
        }
        if rules.touch_interval < time::Duration::ZERO {
            return Err(ConfigError::Expiry("the touch interval cannot be negative"));
        }
        let header = match this.header {
            None => None,
            Some(name) => {
                if this.in_cookie.is_some() {
                    return Err(ConfigError::SessionHeader(
                        "a session carried whole in the cookie cannot travel in a header",
                    ));
                }
                Some(header_name(&name)?)
            }
        };
        let user_in_record = this.in_cookie.is_none() && this.store.user_index().is_some();
        Ok(SessionManager {
            inner: Arc::new(Inner {
                user_in_record,
                store: this.store,
                mode: match this.in_cookie {
                    Some(backend) => Mode::InCookie(backend, this.id_format),
                    None => Mode::Stored(CookieValues::new(
                        this.keys,
                        this.cookie.name(),
                        this.id_format,
                    )),
                },
                set_cookie: SetCookie::new(&this.cookie),
                cookie: this.cookie,
                rules,
                codec: this.codec,
                max_retries: this.max_retries,
                header,
                decoded: Arc::new(super::decoded::DecodedCache::new(this.decoded_cache)),
            }),
        })
    }

    /// Makes the cookie store's backend, now that the cookie's name is known.
    #[cfg(feature = "cookie-store")]
    fn sealing(mut self) -> Self {
        if self.encrypted
            && let Some(keys) = &self.keys
        {
            let sealed = crate::encrypted_cookies::EncryptedCookies::new(keys, self.cookie.name());
            self.in_cookie = Some(Box::new(sealed));
        }
        self
    }

    #[cfg(not(feature = "cookie-store"))]
    fn sealing(self) -> Self {
        self
    }
}

/// A session header's name, lowercase, or why it cannot be one.
pub(super) fn header_name(name: &str) -> Result<Arc<str>, ConfigError> {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(ConfigError::SessionHeader(
            "the name must be an HTTP header token (letters, digits, '-', ...)",
        ));
    }
    let name = name.to_ascii_lowercase();
    if ["cookie", "set-cookie", "vary"].contains(&name.as_str()) {
        return Err(ConfigError::SessionHeader(
            "Cookie, Set-Cookie and Vary are the session's own headers",
        ));
    }
    Ok(name.into())
}
