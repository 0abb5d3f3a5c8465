//! What a store answers when an operation does not succeed.

use std::error::Error as StdError;

/// A boxed error from a storage engine.
///
/// ```
/// # use session_core::{BoxError, StoreError};
/// let cause: BoxError = "connection refused".into();
/// assert!(StoreError::unavailable(cause).is_unavailable());
/// ```
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store operation failed.
///
/// The first three variants are answers of the contract, which the manager
/// acts on; the others are failures the application sees.
///
/// ```
/// # use session_core::{SessionError, StoreError};
/// // How the manager and the adapters treat a store's answers:
/// let down = SessionError::from(StoreError::unavailable(std::io::Error::other("refused")));
/// assert_eq!(down.status_code(), 503);
/// assert!(!StoreError::Conflict.is_unavailable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `update` or `touch` found no live record: the session was deleted or
    /// expired, and must not be recreated.
    #[error("the session record does not exist")]
    NotFound,
    /// `update` found a different version than expected: another request
    /// saved the session first.
    #[error("the session record was changed by another request")]
    Conflict,
    /// `create` found a live record under the same key.
    #[error("a session record with this key already exists")]
    Duplicate,
    /// The engine could not be reached (connection refused, timed out, pool
    /// exhausted). Adapters answer 503 by default.
    #[error("the session store is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The engine answered with something this store cannot read (a corrupt
    /// row or file). The manager treats the session as absent and logs it,
    /// naming the session by its log key; the message must not contain the
    /// store key (in Django mode that is the session's raw key, which
    /// works as a password).
    #[error("the session record is corrupt: {0}")]
    Corrupt(String),
    /// The operation needs a capability this store does not have (for
    /// example the user index).
    #[error("this session store does not support {0}")]
    Unsupported(&'static str),
    /// Any other engine failure. Adapters answer 500 by default.
    #[error("the session store failed: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps an engine error as [`StoreError::Backend`].
    ///
    /// ```
    /// use session_core::StoreError;
    /// let err = StoreError::backend(std::io::Error::other("disk full"));
    /// assert!(err.to_string().contains("disk full"));
    /// ```
    pub fn backend(err: impl Into<BoxError>) -> Self {
        StoreError::Backend(err.into())
    }

    /// Wraps a connection-level error as [`StoreError::Unavailable`].
    ///
    /// ```
    /// use session_core::StoreError;
    /// let err = StoreError::unavailable(std::io::Error::other("connection refused"));
    /// assert!(err.is_unavailable());
    /// ```
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(err.into())
    }

    /// `true` for [`StoreError::Unavailable`].
    ///
    /// ```
    /// # use session_core::StoreError;
    /// assert!(StoreError::unavailable(std::io::Error::other("timed out")).is_unavailable());
    /// assert!(!StoreError::NotFound.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
