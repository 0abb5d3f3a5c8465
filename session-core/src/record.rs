//! What a store persists for one session.

use std::fmt;

use time::OffsetDateTime;

use crate::StoreKey;

/// One session as a store keeps it: opaque encoded data plus the few fields
/// a store needs to enforce the contract (version, expiry, user).
///
/// Stores must give back exactly what they were given. Timestamps produced by
/// the core are whole seconds in UTC, so a store needs second precision only.
///
/// ```
/// use session_core::{Record, StoreKey};
/// use time::{Duration, OffsetDateTime};
///
/// let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
/// let record = Record {
///     key: StoreKey::new("0f".repeat(32)),
///     data: br#"{"user_id":123}"#.to_vec(),
///     version: 1,
///     created_at: now,
///     expires_at: now + Duration::days(14),
///     user: Some("123".into()),
/// };
/// assert!(record.is_live_at(now));
/// assert!(!record.is_live_at(now + Duration::days(14)));
/// ```
///
/// `Debug` shows the data's length, not its bytes: sessions hold what
/// applications keep from one request to the next (CSRF and OAuth state,
/// tokens, personal details), and a record printed by a store's log line
/// or a `tracing` span must not copy that into the logs. Its key is
/// redacted too (see [`StoreKey`]).
///
/// ```
/// # use session_core::{Record, StoreKey};
/// # use time::OffsetDateTime;
/// let record = Record {
///     key: StoreKey::new("0f".repeat(32)),
///     data: br#"{"oauth_token":"secret"}"#.to_vec(),
///     version: 1,
///     created_at: OffsetDateTime::UNIX_EPOCH,
///     expires_at: OffsetDateTime::UNIX_EPOCH,
///     user: None,
/// };
/// let shown = format!("{record:?}");
/// assert!(shown.contains("data: 24 bytes"));
/// assert!(!shown.contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The key the record is filed under (see [`SessionId::store_key`](crate::SessionId::store_key)).
    pub key: StoreKey,
    /// The session data, encoded by the manager's codec. Opaque to stores.
    pub data: Vec<u8>,
    /// Starts at 1 on create and grows by one with every successful update.
    pub version: u64,
    /// When the session was first saved.
    pub created_at: OffsetDateTime,
    /// The instant from which the record is expired and must no longer load.
    pub expires_at: OffsetDateTime,
    /// The user the session is bound to, for stores with a user index:
    /// 1 to [`MAX_USER_LEN`](crate::MAX_USER_LEN) characters, no control
    /// characters (the manager never writes another).
    pub user: Option<String>,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("key", &self.key)
            .field("data", &format_args!("{} bytes", self.data.len()))
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish()
    }
}

impl Record {
    /// `true` while the record has not yet expired at `now`
    /// (a record expires at `expires_at` exactly).
    ///
    /// ```
    /// # use session_core::{Record, StoreKey};
    /// # use time::{Duration, OffsetDateTime};
    /// let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    /// let record = Record {
    ///     key: StoreKey::new("ab"),
    ///     data: b"{}".to_vec(),
    ///     version: 1,
    ///     created_at: now,
    ///     expires_at: now + Duration::seconds(10),
    ///     user: None,
    /// };
    /// assert!(record.is_live_at(now + Duration::seconds(9)));
    /// assert!(!record.is_live_at(now + Duration::seconds(10)));
    /// ```
    pub fn is_live_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at > now
    }
}

/// A summary of one live session, as listed by a store's user index: made
/// from its [`Record`], and ordered as [`UserIndex::sessions_of`](crate::UserIndex::sessions_of)
/// lists them (oldest first, then by key).
///
/// ```
/// use session_core::{Record, SessionInfo, StoreKey};
/// use time::{Duration, OffsetDateTime};
/// let record = |key: &str, age: i64| Record {
///     key: StoreKey::new(key),
///     data: b"{}".to_vec(),
///     version: 1,
///     created_at: OffsetDateTime::UNIX_EPOCH + Duration::days(age),
///     expires_at: OffsetDateTime::UNIX_EPOCH + Duration::days(30),
///     user: Some("alice".into()),
/// };
/// let mut listed: Vec<SessionInfo> =
///     [record("b", 2), record("c", 1), record("a", 2)].iter().map(SessionInfo::from).collect();
/// listed.sort();
/// let keys: Vec<&str> = listed.iter().map(|s| s.key.as_str()).collect();
/// assert_eq!(keys, ["c", "a", "b"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The store key (a digest, safe to show; never the live ID).
    pub key: StoreKey,
    /// When the session was created.
    pub created_at: OffsetDateTime,
    /// When it expires unless used again.
    pub expires_at: OffsetDateTime,
}

impl From<&Record> for SessionInfo {
    fn from(record: &Record) -> Self {
        SessionInfo {
            key: record.key.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
        }
    }
}

impl Ord for SessionInfo {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.created_at, &self.key, self.expires_at).cmp(&(
            other.created_at,
            &other.key,
            other.expires_at,
        ))
    }
}

impl PartialOrd for SessionInfo {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The current time in UTC, truncated to whole seconds: the precision every
/// store is required to keep.
///
/// On Linux it reads the kernel's coarse real-time clock (the time of the
/// last clock tick, a few milliseconds old at most), which costs a tenth of
/// a precise read; whole seconds lose nothing by it, except that a second
/// may start up to a tick late. It is read several times per request.
///
/// ```
/// let now = session_core::now();
/// assert_eq!(now.nanosecond(), 0);
/// let precise = time::OffsetDateTime::now_utc().unix_timestamp();
/// assert!((precise - now.unix_timestamp()).abs() <= 1);
/// ```
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix_seconds()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Seconds since the Unix epoch, from the coarse real-time clock (rustix
/// reads it through the vDSO, found with libc's `getauxval`: its own
/// lookup reads `/proc/self/auxv`, which under valgrind names a vDSO that
/// is not mapped, and crashed the program at its first request).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn unix_seconds() -> i64 {
    rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse).tv_sec
}

/// Seconds since the Unix epoch (negative before it).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unix_seconds() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_the_real_clock_in_whole_seconds() {
        let now = now();
        assert_eq!(now.nanosecond(), 0);
        let precise = OffsetDateTime::now_utc().unix_timestamp();
        assert!((precise - now.unix_timestamp()).abs() <= 1, "{now}");
    }

    /// Programs using the library must run under valgrind (memcheck,
    /// callgrind): this runs the test above in this test binary under
    /// valgrind and asks that it passed.
    #[test]
    #[cfg(target_os = "linux")]
    fn now_runs_under_valgrind() {
        use session_conformance::services::unavailable;
        use std::process::Command;
        if let Err(e) = Command::new("valgrind").arg("--version").output() {
            return unavailable("valgrind", e).unwrap_or(());
        }
        let test = "record::tests::now_is_the_real_clock_in_whole_seconds";
        let run = Command::new("valgrind")
            .args(["--tool=none", "-q"])
            .arg(std::env::current_exe().expect("the test binary"))
            .args(["--exact", test, "--test-threads=1"])
            .output()
            .expect("valgrind runs");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr),
        );
        assert!(run.status.success(), "{}\n{stdout}\n{stderr}", run.status);
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
}
