//! Errors of configuration and of session handling.
//!
//! Configuration errors ([`ConfigError`]) surface once, at start-up; session
//! errors ([`SessionError`]) per request, with the HTTP status an adapter
//! answers by default.

use crate::{CodecError, StoreError};

/// A manager or key ring was configured in a way that cannot be safe.
/// These surface at start-up, never per request.
///
/// ```
/// # use session_core::{ConfigError, KeyRing};
/// let err = KeyRing::new("short").unwrap_err();
/// assert_eq!(err, ConfigError::KeyTooShort { len: 5, min: 32 });
/// assert_eq!(err.to_string(), "secret key is 5 bytes long; at least 32 are required");
/// ```
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A secret is shorter than the minimum.
    #[error("secret key is {len} bytes long; at least {min} are required")]
    KeyTooShort {
        /// The length given.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// The cookie name is not a valid cookie token.
    #[error("invalid session cookie name {0:?}")]
    CookieName(String),
    /// A `__Host-`/`__Secure-` prefix whose rules the attributes break.
    #[error("invalid session cookie: {0}")]
    CookiePrefix(&'static str),
    /// A cookie attribute that cannot be used.
    #[error("invalid session cookie attribute: {0}")]
    CookieAttribute(&'static str),
    /// An expiry setting that makes no sense (for example a zero idle timeout).
    #[error("invalid expiry setting: {0}")]
    Expiry(&'static str),
    /// A session header that cannot be used (see
    /// [`SessionManagerBuilder::session_header`](crate::SessionManagerBuilder::session_header)).
    #[error("invalid session header: {0}")]
    SessionHeader(&'static str),
}

/// A session operation failed.
///
/// Map it to a response with [`status_code`](SessionError::status_code):
/// 503 when the store is unreachable, 500 otherwise. Nothing is written when
/// a request ends in this error.
///
/// ```
/// # use session_core::{Session, SessionError};
/// let session = Session::detached();
/// let err = session.insert("_session_expiry", 0).unwrap_err();
/// assert!(matches!(err, SessionError::ReservedKey(_)));
/// assert_eq!(err.status_code(), 500);
/// assert_eq!(err.public_message(), "session error");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be serialized for [`Session::insert`](crate::Session::insert).
    #[error("session value for key {key:?} could not be serialized: {source}")]
    Serialize {
        /// The key being written.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A stored value does not have the type asked for in [`Session::get`](crate::Session::get).
    #[error("session value for key {key:?} has an unexpected type: {source}")]
    Deserialize {
        /// The key being read.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The key belongs to the session machinery (it starts with `_session_`).
    #[error("session key {0:?} is reserved")]
    ReservedKey(String),
    /// [`Session::set_user`](crate::Session::set_user) was given an ID
    /// that is empty, longer than [`MAX_USER_LEN`](crate::MAX_USER_LEN)
    /// characters or contains a control character.
    #[error("the user ID {0}")]
    InvalidUser(&'static str),
    /// The session was ended ([`Session::end`](crate::Session::end)) earlier in this request.
    #[error("the session was ended and cannot be written")]
    Ended,
    /// The data could not be encoded for the store.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Too many concurrent writers kept changing the session; this request's
    /// changes were not saved. The store is fine: a 503 with `Retry-After`
    /// (see [`retry_after`](Self::retry_after)) tells the client to try
    /// again shortly.
    #[error("gave up saving the session after {0} conflicting concurrent writes")]
    Contention(u32),
    /// A session kept whole in the cookie grew past what a cookie holds:
    /// nothing was sent; keep less in the session, or keep it in a store.
    #[error("the session is {len} bytes in its cookie, over the {max} bytes a cookie holds")]
    CookieTooLarge {
        /// The cookie value's length.
        len: usize,
        /// The most a cookie value may hold.
        max: usize,
    },
}

impl SessionError {
    /// The HTTP status an adapter answers with by default: 503 when the
    /// store is unavailable or the session too contended to save (then
    /// with [`retry_after`](Self::retry_after)), 500 otherwise.
    ///
    /// ```
    /// use session_core::{SessionError, StoreError};
    /// let down = SessionError::from(StoreError::unavailable(std::io::Error::other("refused")));
    /// assert_eq!(down.status_code(), 503);
    /// assert_eq!(SessionError::Ended.status_code(), 500);
    /// ```
    pub fn status_code(&self) -> u16 {
        match self {
            SessionError::Store(e) if e.is_unavailable() => 503,
            SessionError::Contention(_) => 503,
            _ => 500,
        }
    }

    /// A short message for the client that names no internals: "the
    /// session store is unavailable", "the session is busy with concurrent
    /// changes; try again", or "session error".
    ///
    /// ```
    /// use session_core::{SessionError, StoreError};
    /// assert_eq!(SessionError::Contention(3).public_message(), "the session is busy with concurrent changes; try again");
    /// let down = SessionError::from(StoreError::unavailable(std::io::Error::other("refused")));
    /// assert_eq!(down.public_message(), "the session store is unavailable");
    /// ```
    pub fn public_message(&self) -> &'static str {
        match self {
            SessionError::Contention(_) => "the session is busy with concurrent changes; try again",
            _ if self.status_code() == 503 => "the session store is unavailable",
            _ => "session error",
        }
    }

    /// Seconds after which the client may try again, for a `Retry-After`
    /// header: `Some(1)` when the session was too contended to save (the
    /// writers that won are done by then), `None` otherwise.
    ///
    /// ```
    /// use session_core::SessionError;
    /// assert_eq!(SessionError::Contention(64).retry_after(), Some(1));
    /// assert_eq!(SessionError::Ended.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<u32> {
        matches!(self, SessionError::Contention(_)).then_some(1)
    }
}
