//! One-time messages kept in the session until read (Django's messages).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::session_value;
use crate::{Session, SessionError};

/// Keys of flash messages start with this.
const FLASH_PREFIX: &str = "_session_flash.";

impl Session {
    /// Stores a one-time message under `name`: it stays in the session until
    /// [`take_flash`](Self::take_flash) reads it, typically on the next request.
    ///
    /// # Errors
    ///
    /// As for [`insert`](Self::insert).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.flash("notice", "Saved!")?;
    /// assert_eq!(session.keys().len(), 0); // not one of the application's keys
    /// assert_eq!(session.take_flash::<String>("notice")?.as_deref(), Some("Saved!"));
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn flash<T: Serialize>(&self, name: &str, value: T) -> Result<(), SessionError> {
        let key = format!("{FLASH_PREFIX}{name}");
        let value = session_value(&key, value)?;
        self.lock().write(&key, Some(value))
    }

    /// Reads and removes the flash message `name`.
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] if the message is not a `T` (it is
    /// removed all the same).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.flash("notice", "Saved!")?;
    /// assert_eq!(session.take_flash::<String>("notice")?.as_deref(), Some("Saved!"));
    /// assert_eq!(session.take_flash::<String>("notice")?, None);
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn take_flash<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, SessionError> {
        let key = format!("{FLASH_PREFIX}{name}");
        match self.lock().remove(&key) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|source| SessionError::Deserialize { key, source }),
        }
    }
}
