//! The session manager: configuration shared by every request.
//!
//! Build one [`SessionManager`] at start-up and share it; see
//! [`request`](crate::request) for what happens per request.

use std::fmt;
use std::sync::Arc;

use crate::cookie::SetCookie;
use crate::cookie_value::{CookieValues, Rejection};
use crate::mode::{CookieBackend, Mode};
use crate::request::Raw;
use crate::{
    Codec, ConfigError, CookieConfig, ExpiryRules, IdFormat, JsonCodec, KeyRing, Record,
    RequestSession, SessionError, SessionId, SessionInfo, SessionStore, StoreError, StoreKey,
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
    pub(crate) id_format: IdFormat,
    pub(crate) max_retries: u32,
    /// The session header's name (lowercase), when sessions may travel in
    /// one.
    pub(crate) header: Option<Arc<str>>,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("cookie", &self.inner.cookie)
            .field("rules", &self.inner.rules)
            .field("id_format", &self.inner.id_format)
            .field(
                "keys",
                &match &self.inner.mode {
                    Mode::Stored(values) => values.keys(),
                    Mode::InCookie(_) => None,
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
        let headers = cookie_headers.into_iter().map(String::from_utf8_lossy);
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

    /// The live sessions bound to `user` (see [`Session::set_user`](crate::Session::set_user)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] if the store has no user index, or the store's failure.
    ///
    /// ```
    /// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.set_user("alice")?;
    /// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
    /// # }
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// log_in(&manager).await?;
    /// log_in(&manager).await?; // a second device
    /// assert_eq!(manager.sessions_of("alice").await?.len(), 2);
    /// assert!(manager.sessions_of("bob").await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        crate::store::user_index_of(&*self.inner.store)?
            .sessions_of(user)
            .await
    }

    /// Ends every session of `user` except `keep` (for "log out my other
    /// devices", pass the current session's [`store_key`](crate::Session::store_key)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] if the store has no user index, or the store's failure.
    ///
    /// ```
    /// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.set_user("alice")?;
    /// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
    /// # }
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let phone = log_in(&manager).await?;
    /// let laptop = log_in(&manager).await?;
    /// // On the laptop: "log out my other devices".
    /// let request = manager.request([laptop.as_str()]);
    /// let here = request.load().await?.store_key();
    /// assert_eq!(manager.end_sessions_of("alice", here.as_ref()).await?, 1);
    /// assert!(manager.request([phone.as_str()]).load().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn end_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let ended = crate::store::user_index_of(&*self.inner.store)?
            .delete_sessions_of(user, keep)
            .await?;
        crate::observe::count(crate::observe::ENDED, ended);
        tracing::info!(target: "session_core", ended, "ended a user's sessions");
        Ok(ended)
    }

    /// The session ID in a session cookie's value (`<id>.<tag>`, with or
    /// without a leading `name=`), once its signature verifies with this
    /// manager's keys. For operators' tools; requests go through
    /// [`request`](Self::request).
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32]).unwrap());
    /// assert!(manager.verify_cookie("session=forged.value").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A [`Rejection`] saying why the value is not a valid session cookie.
    pub fn verify_cookie(&self, value: &str) -> Result<SessionId, Rejection> {
        let value = value.trim();
        let prefix = format!("{}=", self.inner.cookie.name());
        let value = value.strip_prefix(&prefix).unwrap_or(value);
        match &self.inner.mode {
            Mode::Stored(values) => values.decode(value).map(|(id, _)| id),
            // No ID: the cookie is the session.
            Mode::InCookie(_) => Err(Rejection::Malformed),
        }
    }

    /// The stored record of `id` and its decoded data, without touching it
    /// (no expiry extension, nothing written). `None` when there is no live
    /// session.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails.
    ///
    /// ```
    /// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.set_user("alice")?;
    /// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
    /// # }
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let cookie = log_in(&manager).await?;
    /// let id = manager.verify_cookie(&cookie)?;
    /// let seen = manager.inspect(&id).await?.expect("a live session");
    /// assert_eq!(seen.record.user.as_deref(), Some("alice"));
    /// assert_eq!(seen.record.version, 1);
    /// # Ok(()) }
    /// ```
    pub async fn inspect(&self, id: &SessionId) -> Result<Option<Inspection>, SessionError> {
        self.inspect_key(&id.store_key()).await
    }

    /// As [`inspect`](Self::inspect), by the key the session is stored
    /// under (the digest operators' listings show, which is no live ID).
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(None);
    /// request.load().await?.set_user("alice")?;
    /// request.finish(200).await?;
    /// let listed = manager.sessions_of("alice").await?.pop().expect("one session");
    /// let seen = manager.inspect_key(&listed.key).await?.expect("a live session");
    /// assert_eq!(seen.record.user.as_deref(), Some("alice"));
    /// # Ok(()) }
    /// ```
    pub async fn inspect_key(&self, key: &StoreKey) -> Result<Option<Inspection>, SessionError> {
        let Some(record) = self.inner.store.load(key).await? else {
            return Ok(None);
        };
        if !record.is_live_at(crate::now()) {
            return Ok(None);
        }
        let data = self.inner.codec.decode(&record.data);
        // A rotated-out ID's forward is no session.
        if data
            .as_ref()
            .is_ok_and(|d| crate::rotation::moved_to(d).is_some())
        {
            return Ok(None);
        }
        Ok(Some(Inspection { record, data }))
    }

    /// Ends one session on the server (as a logout would).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    ///
    /// ```
    /// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.set_user("alice")?;
    /// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
    /// # }
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let cookie = log_in(&manager).await?;
    /// let id = manager.verify_cookie(&cookie)?;
    /// manager.end(&id).await?;
    /// assert!(manager.inspect(&id).await?.is_none());
    /// manager.end(&id).await?; // ending it again is not an error
    /// # Ok(()) }
    /// ```
    pub async fn end(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = id.store_key();
        let end = crate::rotation::end_following(&*self.inner.store, &*self.inner.codec, &key);
        crate::observe::store_op("delete", id, end).await?;
        crate::observe::count(crate::observe::ENDED, 1);
        tracing::info!(target: "session_core", session = %id.log_key(), "ended a session");
        Ok(())
    }

    /// As [`end`](Self::end), by the key the session is stored under (the
    /// digest operators' listings show).
    ///
    /// # Errors
    ///
    /// When the store fails.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(None);
    /// request.load().await?.set_user("alice")?;
    /// request.finish(200).await?;
    /// let listed = manager.sessions_of("alice").await?.pop().expect("one session");
    /// manager.end_key(&listed.key).await?;
    /// assert!(manager.sessions_of("alice").await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn end_key(&self, key: &StoreKey) -> Result<(), StoreError> {
        crate::rotation::end_following(&*self.inner.store, &*self.inner.codec, key).await?;
        crate::observe::count(crate::observe::ENDED, 1);
        tracing::info!(target: "session_core", "ended a session by its store key");
        Ok(())
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
        self.inner.id_format
    }
}

/// One stored session as [`SessionManager::inspect`] sees it.
///
/// ```
/// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
/// #     let request = manager.request(None);
/// #     request.load().await?.set_user("alice")?;
/// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
/// # }
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
/// let id = manager.verify_cookie(&log_in(&manager).await?)?;
/// let seen = manager.inspect(&id).await?.expect("a live session");
/// assert!(seen.data.is_ok());
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Inspection {
    /// The stored record.
    pub record: Record,
    /// Its data, decoded (or why it would not decode).
    pub data: Result<crate::Data, crate::CodecError>,
}

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
    store: Arc<dyn SessionStore>,
    /// `None` in the modes that sign nothing (Django's).
    keys: Option<KeyRing>,
    cookie: CookieConfig,
    rules: ExpiryRules,
    codec: Arc<dyn Codec>,
    id_format: IdFormat,
    max_retries: u32,
    /// Set when the whole session travels in the cookie.
    in_cookie: Option<Box<dyn CookieBackend>>,
    /// The whole session sealed into the cookie with the key ring's keys
    /// (made when the cookie's name is known, at `build`).
    #[cfg(feature = "cookie-store")]
    encrypted: bool,
    header: Option<String>,
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

    /// How session data is encoded for the store (default [`JsonCodec`]).
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
    /// (default [`DEFAULT_MAX_CONFLICT_RETRIES`]).
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
        Ok(SessionManager {
            inner: Arc::new(Inner {
                store: this.store,
                mode: match this.in_cookie {
                    Some(backend) => Mode::InCookie(backend),
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
                id_format: this.id_format,
                max_retries: this.max_retries,
                header,
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
fn header_name(name: &str) -> Result<Arc<str>, ConfigError> {
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
