//! The session's life as Django names its steps: `modified`, `accessed`,
//! `cycle_id` (Django's `cycle_key`), `flush`, `end`.
use crate::{Session, StoreKey};

impl Session {
    /// Whether this request changed the session (Django's `modified`).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// assert!(!session.modified());
    /// session.insert("n", 1)?;
    /// assert!(session.modified());
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn modified(&self) -> bool {
        self.lock().modified
    }

    /// Whether this request loaded the session (Django's `accessed`); a
    /// session obtained from a request is always accessed.
    ///
    /// ```
    /// # use session_core::Session;
    /// assert!(!Session::detached().accessed());
    /// ```
    pub fn accessed(&self) -> bool {
        self.lock().accessed
    }

    /// Gives the session a new ID while keeping its data; the old ID stops
    /// working when the request ends. Call it when a user logs in, so an ID
    /// planted before login (session fixation) is worthless afterwards. The
    /// session's [CSRF secret](crate::csrf) is replaced too, as Django does
    /// at login.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("cart", ["apple"])?;
    /// session.cycle_id();
    /// assert_eq!(session.get::<Vec<String>>("cart")?, Some(vec!["apple".into()]));
    /// assert!(session.modified());
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn cycle_id(&self) {
        let mut state = self.lock();
        if let Some(origin) = state.origin.take() {
            state.rotating = Some(origin);
        }
        // A new ID is a login: CSRF tokens handed out before it stop working.
        state.remove(crate::csrf::SECRET_KEY);
        state.modified = true;
    }

    /// Drops all data and the ID: the stored record is deleted when the
    /// request ends, and anything written afterwards starts a new session
    /// with a new ID (Django's `flush`, as on logout).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("user_id", 7)?;
    /// session.flush();
    /// assert!(session.is_empty());
    /// session.insert("theme", "dark")?; // the start of a new session
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn flush(&self) {
        let mut state = self.lock();
        state.flush();
    }

    /// Ends the session on the server: like [`flush`](Self::flush), but the
    /// session stays empty for the rest of the request (writes fail with
    /// [`SessionError::Ended`](crate::SessionError::Ended)) and the browser is told to drop the cookie.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("user_id", 7)?;
    /// session.end();
    /// assert!(session.is_empty());
    /// assert!(matches!(session.insert("theme", "dark"), Err(SessionError::Ended)));
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn end(&self) {
        let mut state = self.lock();
        state.flush();
        state.ended = true;
    }

    /// The key the session's record is stored under (a digest of the ID, safe
    /// to show), or `None` for a session not yet saved.
    ///
    /// ```
    /// # use session_core::Session;
    /// assert_eq!(Session::detached().store_key(), None);
    /// ```
    pub fn store_key(&self) -> Option<StoreKey> {
        self.lock().origin.as_ref().map(|o| o.key.clone())
    }
}
