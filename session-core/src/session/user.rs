//! Binding a session to a user, for the stores' user index.

use serde_json::Value;

use super::{USER_KEY, check_user};
use crate::{Session, SessionError};

impl Session {
    /// Binds the session to a user, so the store's user index can list and
    /// end all of that user's sessions ("log out other devices").
    ///
    /// A user ID is 1 to [`MAX_USER_LEN`](crate::MAX_USER_LEN) characters with no control
    /// characters, so that every store keeps and indexes it the same way.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.set_user("42")?;
    /// assert_eq!(session.user().as_deref(), Some("42"));
    /// assert!(matches!(session.set_user("a\0b"), Err(SessionError::InvalidUser(_))));
    /// # Ok::<(), SessionError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidUser`] for an empty, too long or control
    /// character-bearing ID; [`SessionError::Ended`] after
    /// [`end`](Self::end).
    pub fn set_user(&self, user: impl Into<String>) -> Result<(), SessionError> {
        let user = user.into();
        check_user(&user).map_err(SessionError::InvalidUser)?;
        self.lock().write(USER_KEY, Some(Value::String(user)))
    }

    /// The user the session is bound to.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// assert_eq!(session.user(), None);
    /// session.set_user("42")?;
    /// assert_eq!(session.user().as_deref(), Some("42"));
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn user(&self) -> Option<String> {
        self.lock().user()
    }

    /// Removes the user binding.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.set_user("42")?;
    /// session.clear_user();
    /// assert_eq!(session.user(), None);
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn clear_user(&self) {
        self.lock().remove(USER_KEY);
    }
}
