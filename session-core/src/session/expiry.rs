//! When the session expires: per-session overrides of the manager's rules
//! (Django's `set_expiry` and its readers).
use time::{Duration, OffsetDateTime};

use crate::expiry::EXPIRY_KEY;
use crate::{Expiry, Session};

impl Session {
    /// Overrides when this session expires (Django's `set_expiry`).
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// # use time::Duration;
    /// let session = Session::detached();
    /// session.set_expiry(Expiry::AfterIdle(Duration::hours(1)));
    /// assert_eq!(session.expiry_age(), Duration::hours(1));
    /// session.set_expiry(Expiry::BrowserClose);
    /// assert!(session.expire_at_browser_close());
    /// ```
    pub fn set_expiry(&self, expiry: Expiry) {
        let mut state = self.lock();
        // Writes fail only after `end`, where there is nothing left to expire.
        let _ = state.write(EXPIRY_KEY, expiry.to_value());
    }

    /// The expiry override in force ([`Expiry::Default`] when there is none).
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// let session = Session::detached();
    /// assert_eq!(session.expiry(), Expiry::Default);
    /// session.set_expiry(Expiry::BrowserClose);
    /// assert_eq!(session.expiry(), Expiry::BrowserClose);
    /// ```
    pub fn expiry(&self) -> Expiry {
        Expiry::from_value(self.lock().data.get(EXPIRY_KEY))
    }

    /// When the session expires if the request ends now (Django's `get_expiry_date`).
    ///
    /// ```
    /// # use session_core::Session;
    /// # use time::Duration;
    /// let session = Session::detached(); // the default rules: 14 days idle
    /// let in_two_weeks = session_core::now() + Duration::days(14);
    /// assert!((session.expiry_date() - in_two_weeks).abs() <= Duration::seconds(1));
    /// ```
    pub fn expiry_date(&self) -> OffsetDateTime {
        let state = self.lock();
        state.next_expiry(crate::now())
    }

    /// How long from now until the session expires (Django's `get_expiry_age`).
    ///
    /// ```
    /// # use session_core::Session;
    /// # use time::Duration;
    /// let age = Session::detached().expiry_age(); // the default rules: 14 days idle
    /// assert!((age - Duration::days(14)).abs() <= Duration::seconds(1));
    /// ```
    pub fn expiry_age(&self) -> Duration {
        let now = crate::now();
        self.lock().next_expiry(now) - now
    }

    /// Whether the cookie lasts only until the browser closes (Django's
    /// `get_expire_at_browser_close`).
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// let session = Session::detached();
    /// assert!(!session.expire_at_browser_close());
    /// session.set_expiry(Expiry::BrowserClose);
    /// assert!(session.expire_at_browser_close());
    /// ```
    pub fn expire_at_browser_close(&self) -> bool {
        let state = self.lock();
        state.rules.browser_close(state.expiry())
    }
}
