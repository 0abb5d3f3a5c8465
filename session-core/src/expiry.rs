//! When sessions expire.
//!
//! Every session has a server-side expiry instant; the cookie mirrors it
//! (`Max-Age`) unless the session lasts until the browser closes.
//!
//! - **Idle timeout** ([`ExpiryRules::idle_timeout`], default 14 days like
//!   Django's `SESSION_COOKIE_AGE`): a session expires this long after it was
//!   last used. Unlike Django, where only a *modified* session moves its
//!   expiry, reading a session also extends it, at most once per
//!   [`touch_interval`](ExpiryRules::touch_interval) and through the store's
//!   cheap `touch`, not a full save.
//! - **Absolute lifetime** (optional): no session outlives `created + lifetime`,
//!   however active it is.
//! - **Browser sessions**: the cookie has no `Max-Age`, so the browser drops it
//!   when it closes; the server still expires the record after the idle timeout.
//! - **Per-session override**: [`Session::set_expiry`](crate::Session::set_expiry)
//!   with an [`Expiry`], stored in the session data under `_session_expiry`
//!   exactly as Django stores it.
//!
//! ```
//! use session_core::{Expiry, ExpiryRules};
//! use time::Duration;
//!
//! let rules = ExpiryRules::default()
//!     .idle_timeout(Duration::hours(2))
//!     .absolute_lifetime(Duration::days(1));
//! assert_eq!(rules.idle(), Duration::hours(2));
//! let e = Expiry::AfterIdle(Duration::minutes(5));
//! assert_ne!(e, Expiry::BrowserClose);
//! ```

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The data key holding a per-session expiry override (Django's name).
pub(crate) const EXPIRY_KEY: &str = "_session_expiry";

/// A per-session expiry override, as Django's `set_expiry` takes it.
///
/// ```
/// # use session_core::{Expiry, Session};
/// # use time::Duration;
/// let session = Session::detached();
/// session.set_expiry(Expiry::AfterIdle(Duration::ZERO)); // Django's set_expiry(0)
/// assert_eq!(session.expiry(), Expiry::BrowserClose);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Back to the manager's rules (Django: `set_expiry(None)`).
    Default,
    /// Expire after this much inactivity (Django: `set_expiry(seconds)`).
    /// Whole seconds count; zero means [`Expiry::BrowserClose`] and a
    /// negative value expires the session at once, as in Django.
    AfterIdle(Duration),
    /// Expire at this instant, however active the session is
    /// (Django: `set_expiry(datetime)`).
    At(OffsetDateTime),
    /// A browser-session cookie (Django: `set_expiry(0)`); the server keeps the
    /// record for the idle timeout.
    BrowserClose,
}

impl Expiry {
    /// The value stored under `_session_expiry`, or `None` to remove it.
    pub(crate) fn to_value(self) -> Option<Value> {
        match self {
            Expiry::Default => None,
            Expiry::AfterIdle(d) => Some(Value::from(d.whole_seconds())),
            Expiry::BrowserClose => Some(Value::from(0)),
            Expiry::At(t) => t
                .to_offset(UtcOffset::UTC)
                .format(&Rfc3339)
                .ok()
                .map(Value::from),
        }
    }

    /// Reads a stored `_session_expiry` value; anything unreadable is the default.
    pub(crate) fn from_value(value: Option<&Value>) -> Expiry {
        match value {
            None | Some(Value::Null) => Expiry::Default,
            Some(Value::Number(n)) => match n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)) {
                Some(0) => Expiry::BrowserClose,
                Some(secs) => Expiry::AfterIdle(Duration::seconds(secs)),
                None => Expiry::Default,
            },
            Some(Value::String(s)) => parse_datetime(s).map_or(Expiry::Default, Expiry::At),
            Some(_) => Expiry::Default,
        }
    }
}

/// Parses the ISO 8601 forms Django writes (`isoformat()`, with or without an
/// offset; a naive time is taken as UTC).
fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let naive = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(s, naive)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// `at + d`, held to the years every store keeps (the epoch to 9999)
/// where it would leave them: a `set_expiry` of a trillion seconds means
/// "as late as can be", and must not overflow (Django answers it with an
/// `OverflowError`).
fn later(at: OffsetDateTime, d: Duration) -> OffsetDateTime {
    const LATEST: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59 UTC);
    match at.checked_add(d) {
        Some(t) if t <= LATEST => t.max(OffsetDateTime::UNIX_EPOCH),
        Some(_) => LATEST,
        None if d.is_negative() => OffsetDateTime::UNIX_EPOCH,
        None => LATEST,
    }
}

/// The manager-wide expiry rules. See the [module docs](self).
///
/// ```
/// # use session_core::ExpiryRules;
/// # use time::Duration;
/// let rules = ExpiryRules::default();
/// assert_eq!(rules.idle(), Duration::days(14));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryRules {
    pub(crate) idle: Duration,
    pub(crate) absolute: Option<Duration>,
    pub(crate) browser_session: bool,
    pub(crate) touch_interval: Duration,
}

impl Default for ExpiryRules {
    /// 14 days idle, no absolute lifetime, persistent cookies, touch at most
    /// once a minute.
    fn default() -> Self {
        ExpiryRules {
            idle: Duration::days(14),
            absolute: None,
            browser_session: false,
            touch_interval: Duration::minutes(1),
        }
    }
}

impl ExpiryRules {
    /// How long an unused session lives (default 14 days).
    ///
    /// ```
    /// # use session_core::ExpiryRules;
    /// # use time::Duration;
    /// let rules = ExpiryRules::default().idle_timeout(Duration::hours(2));
    /// assert_eq!(rules.idle(), Duration::hours(2));
    /// ```
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The longest any session lives, however active (default: unlimited).
    ///
    /// ```
    /// # use session_core::ExpiryRules;
    /// # use time::Duration;
    /// let rules = ExpiryRules::default().absolute_lifetime(Duration::days(1));
    /// assert_ne!(rules, ExpiryRules::default());
    /// ```
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute = Some(lifetime);
        self
    }

    /// Makes browser-session cookies the default (Django's
    /// `SESSION_EXPIRE_AT_BROWSER_CLOSE`).
    ///
    /// ```
    /// # use session_core::{ExpiryRules, KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .expiry(ExpiryRules::default().browser_session(true))
    ///     .build()?;
    /// let request = manager.request(None);
    /// request.load().await?.insert("n", 1)?;
    /// let set_cookie = request.finish(200).await?.set_cookie.expect("a new session");
    /// assert!(!set_cookie.contains("Max-Age"), "{set_cookie}");
    /// # Ok(()) }
    /// ```
    pub fn browser_session(mut self, yes: bool) -> Self {
        self.browser_session = yes;
        self
    }

    /// How stale a session's expiry may get before a read extends it (default
    /// one minute). Zero extends it on every request.
    ///
    /// ```
    /// # use session_core::ExpiryRules;
    /// # use time::Duration;
    /// let every_request = ExpiryRules::default().touch_interval(Duration::ZERO);
    /// assert_ne!(every_request, ExpiryRules::default());
    /// ```
    pub fn touch_interval(mut self, interval: Duration) -> Self {
        self.touch_interval = interval;
        self
    }

    /// The idle timeout.
    ///
    /// ```
    /// # use session_core::ExpiryRules;
    /// # use time::Duration;
    /// assert_eq!(ExpiryRules::default().idle(), Duration::days(14));
    /// ```
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Whether the override is a browser-session cookie under these rules.
    pub(crate) fn browser_close(&self, expiry: Expiry) -> bool {
        match expiry {
            Expiry::Default => self.browser_session,
            Expiry::BrowserClose => true,
            Expiry::AfterIdle(_) | Expiry::At(_) => false,
        }
    }

    /// When a session used at `now` expires, capped by the absolute lifetime.
    pub(crate) fn expires_at(
        &self,
        expiry: Expiry,
        created_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> OffsetDateTime {
        let by_rule = match expiry {
            Expiry::Default | Expiry::BrowserClose => later(now, self.idle),
            Expiry::AfterIdle(d) => later(now, Duration::seconds(d.whole_seconds())),
            Expiry::At(t) => t
                .to_offset(UtcOffset::UTC)
                .replace_nanosecond(0)
                .unwrap_or(t),
        };
        match self.absolute {
            Some(lifetime) => by_rule.min(later(created_at, lifetime)),
            None => by_rule,
        }
    }

    /// Whether a read at `now` should extend a record that expires at `current`.
    pub(crate) fn touch_due(&self, current: OffsetDateTime, next: OffsetDateTime) -> bool {
        next - current >= self.touch_interval && next > current
    }

    /// The expiry a save of a stored session writes, when it now expires
    /// at `stored`: the one [`expires_at`](Self::expires_at) gives, except
    /// that a sliding expiry that would move later by less than the touch
    /// interval stays where it is, as it does on reads. The record's
    /// expiry then changes about once a touch interval rather than on
    /// every save, which spares SQL engines an index write per save
    /// (PostgreSQL can then update the row in place). A shorter expiry,
    /// or a fixed one, is written as it is.
    pub(crate) fn save_expiry(
        &self,
        expiry: Expiry,
        created_at: OffsetDateTime,
        stored: OffsetDateTime,
        now: OffsetDateTime,
    ) -> OffsetDateTime {
        let next = self.expires_at(expiry, created_at, now);
        let sliding = !matches!(expiry, Expiry::At(_));
        if sliding && next >= stored && !self.touch_due(stored, next) {
            stored
        } else {
            next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_move_a_sliding_expiry_only_when_a_touch_is_due() {
        let rules = ExpiryRules::default().touch_interval(Duration::minutes(1));
        let now = t(1_700_000_000);
        let created = now - Duration::hours(1);
        let fresh = rules.expires_at(Expiry::Default, created, now);
        // Thirty seconds stale: kept.
        let recent = fresh - Duration::seconds(30);
        assert_eq!(
            rules.save_expiry(Expiry::Default, created, recent, now),
            recent
        );
        // Two minutes stale: moved.
        let old = fresh - Duration::minutes(2);
        assert_eq!(rules.save_expiry(Expiry::Default, created, old, now), fresh);
        // Shortened (an hour of idle instead of two weeks): written at once.
        let hour = Expiry::AfterIdle(Duration::hours(1));
        assert_eq!(
            rules.save_expiry(hour, created, fresh, now),
            now + Duration::hours(1)
        );
        // A fixed expiry is written as asked, however close.
        let at = Expiry::At(recent + Duration::seconds(10));
        assert_eq!(
            rules.save_expiry(at, created, recent, now),
            recent + Duration::seconds(10)
        );
        // With no interval, every save moves it.
        let eager = rules.touch_interval(Duration::ZERO);
        assert_eq!(
            eager.save_expiry(Expiry::Default, created, recent, now),
            fresh
        );
    }

    #[test]
    fn huge_expiries_do_not_panic() {
        let rules = ExpiryRules::default().absolute_lifetime(Duration::MAX);
        let now = t(1_700_000_000);
        for secs in [i64::MAX, i64::MIN, -1] {
            let at = rules.expires_at(Expiry::AfterIdle(Duration::seconds(secs)), now, now);
            assert!(secs < 0 || at > now, "{secs}: {at}");
        }
        let far = Expiry::from_value(Some(&Value::from(1e300)));
        assert!(rules.expires_at(far, now, now) > now);
        let latest = rules.expires_at(Expiry::AfterIdle(Duration::seconds(i64::MAX)), now, now);
        assert_eq!(latest.year(), 9999);
        let gone = rules.expires_at(Expiry::AfterIdle(Duration::seconds(i64::MIN)), now, now);
        assert_eq!(gone, OffsetDateTime::UNIX_EPOCH);
    }

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn stored_values_round_trip_like_django() {
        assert_eq!(Expiry::BrowserClose.to_value(), Some(Value::from(0)));
        assert_eq!(
            Expiry::from_value(Some(&Value::from(0))),
            Expiry::BrowserClose
        );
        assert_eq!(
            Expiry::from_value(Some(&Value::from(300))),
            Expiry::AfterIdle(Duration::seconds(300))
        );
        assert_eq!(
            Expiry::AfterIdle(Duration::ZERO).to_value(),
            Some(Value::from(0))
        );
        let at = Expiry::At(t(1_700_000_000));
        assert_eq!(at.to_value(), Some(Value::from("2023-11-14T22:13:20Z")));
        assert_eq!(Expiry::from_value(at.to_value().as_ref()), at);
        // Django's isoformat() output, with and without an offset.
        assert_eq!(
            Expiry::from_value(Some(&Value::from("2023-11-14T22:13:20+00:00"))),
            at
        );
        assert_eq!(
            Expiry::from_value(Some(&Value::from("2023-11-14T22:13:20"))),
            at
        );
        assert_eq!(
            Expiry::from_value(Some(&Value::from("2023-11-14T22:13:20.500000"))),
            Expiry::At(t(1_700_000_000) + Duration::milliseconds(500))
        );
        assert_eq!(
            Expiry::from_value(Some(&Value::from("garbage"))),
            Expiry::Default
        );
        assert_eq!(
            Expiry::from_value(Some(&Value::Bool(true))),
            Expiry::Default
        );
        assert_eq!(Expiry::from_value(None), Expiry::Default);
    }

    #[test]
    fn expiry_instants_follow_the_rules() {
        let rules = ExpiryRules::default().idle_timeout(Duration::hours(1));
        let now = t(1000);
        assert_eq!(
            rules.expires_at(Expiry::Default, now, now),
            now + Duration::hours(1)
        );
        assert_eq!(
            rules.expires_at(Expiry::BrowserClose, now, now),
            now + Duration::hours(1)
        );
        assert_eq!(
            rules.expires_at(Expiry::AfterIdle(Duration::seconds(60)), now, now),
            t(1060)
        );
        assert_eq!(rules.expires_at(Expiry::At(t(5000)), now, now), t(5000));
        let capped = rules.absolute_lifetime(Duration::minutes(30));
        assert_eq!(capped.expires_at(Expiry::Default, t(0), now), t(1800));
        assert!(!rules.browser_close(Expiry::Default));
        assert!(rules.browser_session(true).browser_close(Expiry::Default));
        assert!(
            !rules
                .browser_session(true)
                .browser_close(Expiry::AfterIdle(Duration::SECOND))
        );
    }

    #[test]
    fn touch_waits_for_the_interval() {
        let rules = ExpiryRules::default().touch_interval(Duration::minutes(1));
        assert!(!rules.touch_due(t(1000), t(1059)));
        assert!(rules.touch_due(t(1000), t(1060)));
        let eager = rules.touch_interval(Duration::ZERO);
        assert!(eager.touch_due(t(1000), t(1001)));
        assert!(!eager.touch_due(t(1000), t(1000)));
    }
}
