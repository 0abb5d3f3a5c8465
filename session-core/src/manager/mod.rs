//! The session manager: configuration shared by every request.
//!
//! Build one [`SessionManager`] at start-up and share it; see
//! [`request`](crate::request) for what happens per request.

use std::fmt;
use std::sync::Arc;

use crate::cookie::SetCookie;
use crate::mode::Mode;
use crate::request::Raw;
mod builder;
mod data;
mod decoded;
mod stored;

pub use builder::SessionManagerBuilder;
pub(crate) use decoded::DecodedCache;
pub use stored::Inspection;

use crate::{
    Codec, CookieConfig, ExpiryRules, IdFormat, JsonCodec, KeyRing, RequestSession, SessionStore,
};

/// How many times a save is retried after losing a compare-and-swap to a
/// concurrent writer. Each lost race means another request's save landed, so
/// with `N` concurrent writers of one session no save needs more than `N - 1`
/// retries.
///
/// ```
/// # use session_core::{DEFAULT_MAX_CONFLICT_RETRIES, KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// // The default, spelled out:
/// let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32])?)
///     .max_conflict_retries(DEFAULT_MAX_CONFLICT_RETRIES)
///     .build()?;
/// # Ok::<(), session_core::ConfigError>(())
/// ```
pub const DEFAULT_MAX_CONFLICT_RETRIES: u32 = 64;

/// How many sessions' decoded data a manager keeps by default (see
/// [`SessionManagerBuilder::decoded_cache`]).
///
/// ```
/// # use session_core::{DEFAULT_DECODED_CACHE, KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// // The default, spelled out:
/// let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32])?)
///     .decoded_cache(DEFAULT_DECODED_CACHE)
///     .build()?;
/// # Ok::<(), session_core::ConfigError>(())
/// ```
pub const DEFAULT_DECODED_CACHE: usize = 4096;

/// Holds the store, the key ring, cookie and expiry settings, and starts the
/// per-request lifecycle ([`SessionManager::request`]). Cheap to clone.
///
/// ```
/// use session_core::{CookieConfig, ExpiryRules, KeyRing, SessionManager};
/// use session_store_memory::MemoryStore;
/// use time::Duration;
///
/// let manager = SessionManager::builder(
///     MemoryStore::new(),
///     KeyRing::new(b"a secret of at least thirty-two bytes!!")?,
/// )
/// .cookie(CookieConfig::new("__Host-session"))
/// .expiry(ExpiryRules::default().idle_timeout(Duration::hours(12)))
/// .build()?;
/// assert_eq!(manager.cookie().name(), "__Host-session");
/// # Ok::<(), session_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct SessionManager {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn SessionStore>,
    /// How sessions are carried: an ID in the cookie, or all of it.
    pub(crate) mode: Mode,
    pub(crate) cookie: CookieConfig,
    /// The cookie's `Set-Cookie` values, partly rendered once.
    pub(crate) set_cookie: SetCookie,
    pub(crate) rules: ExpiryRules,
    pub(crate) codec: Arc<dyn Codec>,
    /// Whether records keep the user binding in [`Record::user`] alone
    /// (the store has a user index; see `data.rs`).
    pub(crate) user_in_record: bool,
    pub(crate) max_retries: u32,
    /// The session header's name (lowercase), when sessions may travel in
    /// one.
    pub(crate) header: Option<Arc<str>>,
    /// The decoded data of sessions recently loaded or saved.
    pub(crate) decoded: Arc<DecodedCache>,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("cookie", &self.inner.cookie)
            .field("rules", &self.inner.rules)
            .field("id_format", &self.inner.mode.id_format())
            .field(
                "keys",
                &match &self.inner.mode {
                    Mode::Stored(values) => values.keys(),
                    Mode::InCookie(..) => None,
                },
            )
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager with the default cookie (`session`) and expiry rules.
    ///
    /// ```
    /// use session_core::{KeyRing, SessionManager};
    /// let manager = SessionManager::new(
    ///     session_store_memory::MemoryStore::new(),
    ///     KeyRing::new([7u8; 32])?,
    /// );
    /// assert_eq!(manager.cookie().name(), "session");
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn new(store: impl SessionStore, keys: KeyRing) -> Self {
        Self::builder(store, keys)
            .build()
            .expect("the default configuration is valid")
    }

    /// Starts configuring a manager.
    ///
    /// ```
    /// # use session_core::{CookieConfig, KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .cookie(CookieConfig::new("__Host-sid"))
    ///     .build()?;
    /// assert_eq!(manager.cookie().name(), "__Host-sid");
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn builder(store: impl SessionStore, keys: KeyRing) -> SessionManagerBuilder {
        SessionManagerBuilder {
            keys: Some(keys),
            ..Self::builder_without_keys(store)
        }
    }

    /// Starts configuring a manager in Django mode, sharing sessions with a
    /// Django application through `store` (see
    /// [`SessionManagerBuilder::django`]). No key ring: Django's session
    /// keys travel unsigned.
    ///
    /// ```
    /// use session_core::django::signing::DjangoSigner;
    /// use session_core::{IdFormat, SessionManager};
    ///
    /// let signer = DjangoSigner::new("the Django app's SECRET_KEY", Vec::<&str>::new())?;
    /// let manager = SessionManager::django(session_store_memory::MemoryStore::new(), signer).build()?;
    /// assert_eq!(manager.id_format(), IdFormat::Django);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "django")]
    pub fn django(
        store: impl SessionStore,
        signer: crate::django::signing::DjangoSigner,
    ) -> SessionManagerBuilder {
        Self::builder_without_keys(store).django(signer)
    }

    /// Starts configuring a manager for Django's `signed_cookies` backend
    /// (see [`SessionManagerBuilder::django_signed_cookies`]): the whole
    /// session in the cookie, so neither a store nor a key ring.
    ///
    /// ```
    /// use session_core::django::signing::DjangoSigner;
    /// use session_core::SessionManager;
    ///
    /// let signer = DjangoSigner::new("the Django app's SECRET_KEY", Vec::<&str>::new())?;
    /// let manager = SessionManager::django_signed_cookies(signer).build()?;
    /// assert_eq!(manager.cookie().name(), "sessionid");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "django")]
    pub fn django_signed_cookies(
        signer: crate::django::signing::DjangoSigner,
    ) -> SessionManagerBuilder {
        Self::django(crate::mode::NoStore, signer.clone()).django_signed_cookies(signer)
    }

    /// Starts configuring a manager that keeps each session whole in its
    /// cookie, encrypted and authenticated with keys derived from `keys`
    /// (rotation as for signed cookies): no server-side store. See
    /// [`encrypted_cookies`](crate::encrypted_cookies) for the format and
    /// for what a cookie store cannot do (end a session on the server, list
    /// a user's sessions, merge concurrent changes, hold more than a cookie).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_core::{KeyRing, SessionManager};
    ///
    /// let manager = SessionManager::encrypted_cookies(KeyRing::new([7u8; 32])?).build()?;
    /// let request = manager.request(None);
    /// request.load().await?.insert("theme", "dark")?;
    /// let cookie = request.finish(200).await?.cookie_pair().unwrap().to_owned();
    /// let session = manager.request([cookie.as_str()]).load().await?;
    /// assert_eq!(session.get::<String>("theme")?.as_deref(), Some("dark"));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "cookie-store")]
    pub fn encrypted_cookies(keys: KeyRing) -> SessionManagerBuilder {
        SessionManagerBuilder {
            keys: Some(keys),
            encrypted: true,
            ..Self::builder_without_keys(crate::mode::NoStore)
        }
    }

    /// A builder with no key ring, for the modes that sign nothing.
    fn builder_without_keys(store: impl SessionStore) -> SessionManagerBuilder {
        SessionManagerBuilder {
            store: Arc::new(store),
            keys: None,
            cookie: CookieConfig::default(),
            rules: ExpiryRules::default(),
            codec: Arc::new(JsonCodec),
            id_format: IdFormat::Native,
            max_retries: DEFAULT_MAX_CONFLICT_RETRIES,
            decoded_cache: DEFAULT_DECODED_CACHE,
            in_cookie: None,
            #[cfg(feature = "cookie-store")]
            encrypted: false,
            header: None,
        }
    }

    /// Begins one request's session handling from its `Cookie` header values.
    ///
    /// This only finds the session cookie; its signature is verified, and
    /// the store asked, only when a handler calls [`RequestSession::load`].
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32]).unwrap());
    /// let request = manager.request(["theme=dark; session=forged"]);
    /// assert!(request.loaded().is_none());
    /// ```
    pub fn request<'a>(&self, cookie_headers: impl IntoIterator<Item = &'a str>) -> RequestSession {
        let raw = Raw::read(self, cookie_headers);
        let via = raw.via_cookie();
        RequestSession::new(self.clone(), raw, via)
    }

    /// As [`request`](Self::request), from `Cookie` header values as the
    /// bytes they arrived in (what adapters have): a header with bytes
    /// that are not UTF-8 (another cookie's value, as browsers send them)
    /// is read with those bytes replaced, which leaves the session cookie
    /// (ASCII, or else rejected) as it was. Several headers (one per
    /// cookie, as HTTP/2 sends them) are read together.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32]).unwrap());
    /// let headers: [&[u8]; 2] = [b"theme=caf\xe9", "session=forged; name=Zo\u{eb}".as_bytes()];
    /// let request = manager.request_from_bytes(headers);
    /// assert!(request.loaded().is_none());
    /// ```
    pub fn request_from_bytes<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> RequestSession {
        // Valid UTF-8 (nearly every header) is checked by the fast path of
        // `str::from_utf8`; only other bytes are replaced.
        let headers = cookie_headers
            .into_iter()
            .map(|bytes| match std::str::from_utf8(bytes) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(bytes),
            });
        let raw = Raw::read(self, headers);
        let via = raw.via_cookie();
        RequestSession::new(self.clone(), raw, via)
    }

    /// As [`request_from_bytes`](Self::request_from_bytes), with the values
    /// of the request's [session header](Self::session_header) (what
    /// adapters call when one is configured). A request that sends the
    /// header is answered in the header, never with a cookie, and its
    /// cookie is not read: a client that sends the header chose it, and a
    /// header (unlike a cookie) is never added by a browser on its own.
    /// Two values of the header are refused like two session cookies.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .session_header("x-session-token")
    ///     .build()?;
    /// // A mobile client's first request: the token comes back in the header.
    /// let request = manager.request_from_headers(None, None);
    /// request.load().await?.insert("n", 1)?;
    /// let token = request.finish(200).await?.session_header.expect("a new session's token");
    ///
    /// // It sends the token back in the header; a read sends nothing back.
    /// let request = manager.request_from_headers(None, [token.as_bytes()]);
    /// assert_eq!(request.load().await?.get::<u32>("n")?, Some(1));
    /// let response = request.finish(200).await?;
    /// assert_eq!((response.set_cookie, response.session_header), (None, None));
    /// # Ok(()) }
    /// ```
    pub fn request_from_headers<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        session_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> RequestSession {
        if self.inner.header.is_some()
            && let Some(raw) = Raw::from_header(session_headers)
        {
            return RequestSession::new(self.clone(), raw, crate::request::Via::Header);
        }
        self.request_from_bytes(cookie_headers)
    }

    /// The name of the header sessions may travel in (lowercase), when
    /// [`SessionManagerBuilder::session_header`] set one: adapters pass its
    /// values to [`request_from_headers`](Self::request_from_headers).
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .session_header("X-Session-Token")
    ///     .build()?;
    /// assert_eq!(manager.session_header(), Some("x-session-token"));
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn session_header(&self) -> Option<&str> {
        self.inner.header.as_deref()
    }

    /// The cookie settings.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// assert!(manager.cookie().is_secure());
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn cookie(&self) -> &CookieConfig {
        &self.inner.cookie
    }

    /// The expiry rules.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use time::Duration;
    /// # let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// assert_eq!(manager.expiry().idle(), Duration::days(14));
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn expiry(&self) -> &ExpiryRules {
        &self.inner.rules
    }

    /// The store.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(None);
    /// request.load().await?.insert("n", 1)?;
    /// request.finish(200).await?;
    /// assert_eq!(manager.store().delete_expired().await?, 0); // call the store directly
    /// # Ok(()) }
    /// ```
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }

    /// The ID format this manager issues and accepts.
    ///
    /// ```
    /// # use session_core::{IdFormat, KeyRing, SessionManager};
    /// # let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// assert_eq!(manager.id_format(), IdFormat::Native);
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn id_format(&self) -> IdFormat {
        self.inner.mode.id_format()
    }
}
