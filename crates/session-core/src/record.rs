//! What a store persists for one session.

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
#[derive(Clone, Debug, PartialEq, Eq)]
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

impl Record {
    /// `true` while the record has not yet expired at `now`
    /// (a record expires at `expires_at` exactly).
    pub fn is_live_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at > now
    }
}

/// A summary of one live session, as listed by a store's user index.
///
/// ```
/// use session_core::{SessionInfo, StoreKey};
/// use time::OffsetDateTime;
/// let info = SessionInfo {
///     key: StoreKey::new("ab"),
///     created_at: OffsetDateTime::UNIX_EPOCH,
///     expires_at: OffsetDateTime::UNIX_EPOCH,
/// };
/// assert_eq!(info.key.as_str(), "ab");
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

/// The current time in UTC, truncated to whole seconds: the precision every
/// store is required to keep.
///
/// ```
/// let now = session_core::now();
/// assert_eq!(now.nanosecond(), 0);
/// ```
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}
