//! The store contract: the handful of operations every engine maps onto.
//!
//! All session semantics (when to save, merging concurrent changes, expiry
//! rules, cookies) live in the [`SessionManager`](crate::SessionManager).
//! A store only persists [`Record`]s and keeps these promises:
//!
//! | operation | meaning | must not |
//! |---|---|---|
//! | [`load`](SessionStore::load) | the live record, or `None` | write anything; return an expired record |
//! | [`create`](SessionStore::create) | insert if absent | overwrite ([`StoreError::Duplicate`]) |
//! | [`update`](SessionStore::update) | compare-and-swap on the version | recreate a deleted record ([`StoreError::NotFound`]); ignore the version ([`StoreError::Conflict`]) |
//! | [`delete`](SessionStore::delete) | end it, durably | fail if it is already gone |
//! | [`rotate`](SessionStore::rotate) | replace the old record (compare-and-swap) and create the new one, as one step | do either alone (a rotation must not bring back an ended session, nor leave a logout behind) |
//! | [`touch`](SessionStore::touch) | extend the expiry only | rewrite data |
//! | [`delete_expired`](SessionStore::delete_expired) | sweep, returning the count | block other operations for long |
//! | [`user_index`](SessionStore::user_index) (optional, a [`UserIndex`]) | list / end a user's sessions | scan every record where the engine can index |
//! | [`maintenance`](SessionStore::maintenance) (optional, a [`Maintenance`]) | counts and stepwise sweeps for operators | |
//!
//! The `session-conformance` crate turns each row into tests; run it on any
//! store you write.
//!
//! A store on a network engine should also bound how long an operation may
//! take and answer [`StoreError::Unavailable`] past it: the manager waits
//! for the store, so an engine that stops answering would otherwise hold
//! every request that loads a session. (The SQL and Redis stores do; the
//! conformance kit's `TcpProxy::stall` makes an engine stop answering in a
//! test.)
//!
//! # Writing a store
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use session_core::{async_trait, Record, SessionStore, StoreError, StoreKey};
//! use time::OffsetDateTime;
//!
//! /// A deliberately tiny store: one lock around a map.
//! #[derive(Default)]
//! struct TinyStore(Mutex<HashMap<StoreKey, Record>>);
//!
//! #[async_trait]
//! impl SessionStore for TinyStore {
//!     async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
//!         let map = self.0.lock().unwrap();
//!         Ok(map.get(key).filter(|r| r.is_live_at(session_core::now())).cloned())
//!     }
//!     async fn create(&self, record: &Record) -> Result<(), StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         match map.get(&record.key) {
//!             Some(old) if old.is_live_at(session_core::now()) => Err(StoreError::Duplicate),
//!             _ => { map.insert(record.key.clone(), record.clone()); Ok(()) }
//!         }
//!     }
//!     async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         match map.get_mut(&record.key) {
//!             Some(old) if old.is_live_at(session_core::now()) => {
//!                 if old.version != expected_version { return Err(StoreError::Conflict); }
//!                 *old = record.clone();
//!                 Ok(())
//!             }
//!             _ => Err(StoreError::NotFound),
//!         }
//!     }
//!     async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
//!         self.0.lock().unwrap().remove(key);
//!         Ok(())
//!     }
//!     async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         match map.get_mut(key) {
//!             Some(r) if r.is_live_at(session_core::now()) => { r.expires_at = expires_at; Ok(()) }
//!             _ => Err(StoreError::NotFound),
//!         }
//!     }
//!     async fn delete_expired(&self) -> Result<u64, StoreError> {
//!         let now = session_core::now();
//!         let mut map = self.0.lock().unwrap();
//!         let before = map.len();
//!         map.retain(|_, r| r.is_live_at(now));
//!         Ok((before - map.len()) as u64)
//!     }
//! }
//! ```

use std::error::Error as StdError;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{Record, SessionInfo, StoreKey};

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

/// What [`Maintenance::stats`] reports.
///
/// ```
/// let stats = session_core::StoreStats::default();
/// assert_eq!(stats.live, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Sessions that have not expired.
    pub live: u64,
    /// Expired records still stored (`None` where the engine drops them itself).
    pub expired: Option<u64>,
    /// Live sessions that expire within the next hour.
    pub expiring_within_hour: u64,
    /// Live sessions that expire within the next day.
    pub expiring_within_day: u64,
    /// The users with the most live sessions, most first.
    pub top_users: Vec<(String, u64)>,
}

impl StoreStats {
    /// Builds statistics from each live record's expiry and user, and the
    /// number of expired records; for stores that count by walking their
    /// records.
    ///
    /// ```
    /// # use session_core::StoreStats;
    /// # use time::Duration;
    /// let now = session_core::now();
    /// let stats = StoreStats::tally(
    ///     now,
    ///     [
    ///         (now + Duration::minutes(5), Some("alice")),
    ///         (now + Duration::days(3), Some("alice")),
    ///         (now + Duration::days(3), None),
    ///     ],
    ///     Some(2),
    ///     10,
    /// );
    /// assert_eq!((stats.live, stats.expiring_within_hour, stats.expired), (3, 1, Some(2)));
    /// assert_eq!(stats.top_users, [("alice".to_owned(), 2)]);
    /// ```
    pub fn tally<'a>(
        now: time::OffsetDateTime,
        live: impl IntoIterator<Item = (time::OffsetDateTime, Option<&'a str>)>,
        expired: Option<u64>,
        top_users: usize,
    ) -> Self {
        let mut stats = StoreStats {
            expired,
            ..StoreStats::default()
        };
        let mut users: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for (expires_at, user) in live {
            stats.live += 1;
            if expires_at <= now + time::Duration::HOUR {
                stats.expiring_within_hour += 1;
            }
            if expires_at <= now + time::Duration::DAY {
                stats.expiring_within_day += 1;
            }
            if let Some(user) = user {
                *users.entry(user).or_default() += 1;
            }
        }
        let mut users: Vec<(String, u64)> =
            users.into_iter().map(|(u, n)| (u.to_owned(), n)).collect();
        users.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        users.truncate(top_users);
        stats.top_users = users;
        stats
    }
}

/// A session storage engine. See the [module docs](self) for the contract.
///
/// Implement the six required methods; the user-index methods are optional
/// and by default answer [`StoreError::Unsupported`].
///
/// ```
/// use session_core::{Record, SessionStore, StoreError, StoreKey};
/// use session_store_memory::MemoryStore;
/// use time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// let store = MemoryStore::new();
/// let now = session_core::now();
/// let record = Record {
///     key: StoreKey::new("ab".repeat(32)),
///     data: br#"{"n":1}"#.to_vec(),
///     version: 1,
///     created_at: now,
///     expires_at: now + Duration::hours(1),
///     user: None,
/// };
/// store.create(&record).await?;
/// assert!(matches!(store.create(&record).await, Err(StoreError::Duplicate)));
/// let next = Record { version: 2, data: br#"{"n":2}"#.to_vec(), ..record.clone() };
/// store.update(&next, 1).await?;
/// assert!(matches!(store.update(&next, 1).await, Err(StoreError::Conflict)));
/// store.delete(&record.key).await?;
/// assert!(matches!(store.update(&next, 2).await, Err(StoreError::NotFound)));
/// # Ok(()) }
/// ```
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The live record under `key`, or `None` when it is absent or expired.
    /// Never writes.
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreError, StoreKey};
    /// # use session_store_memory::MemoryStore;
    /// # use time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), StoreError> {
    /// use session_conformance::fixtures::record;
    /// let store = MemoryStore::new();
    /// let live = record(Duration::hours(1), None);
    /// assert_eq!(store.load(&live.key).await?, None);
    /// store.create(&live).await?;
    /// assert_eq!(store.load(&live.key).await?.map(|r| r.data), Some(live.data.clone()));
    /// let gone = record(Duration::seconds(-1), None);
    /// store.create(&gone).await?;
    /// assert_eq!(store.load(&gone.key).await?, None); // expired: as if absent
    /// # Ok(()) }
    /// ```
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError>;

    /// Inserts `record` if no live record has its key; otherwise
    /// [`StoreError::Duplicate`]. An expired record under the same key may be
    /// replaced.
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreError, StoreKey};
    /// # use session_store_memory::MemoryStore;
    /// # use time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), StoreError> {
    /// use session_conformance::fixtures::record;
    /// let store = MemoryStore::new();
    /// let first = record(Duration::hours(1), None);
    /// store.create(&first).await?;
    /// let same_key = Record { data: b"{}".to_vec(), ..first.clone() };
    /// assert!(matches!(store.create(&same_key).await, Err(StoreError::Duplicate)));
    /// assert_eq!(store.load(&first.key).await?.unwrap().data, first.data); // not overwritten
    /// # Ok(()) }
    /// ```
    async fn create(&self, record: &Record) -> Result<(), StoreError>;

    /// Replaces the record under `record.key` if its stored version equals
    /// `expected_version` ([`StoreError::Conflict`] otherwise). If no live
    /// record exists, fails with [`StoreError::NotFound`] and creates nothing.
    /// `record.version` is the new version to store (the manager passes
    /// `expected_version + 1`); `record.created_at` is always the value
    /// the record was created with, so a store need not rewrite it.
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreError, StoreKey};
    /// # use session_store_memory::MemoryStore;
    /// # use time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), StoreError> {
    /// use session_conformance::fixtures::record;
    /// let store = MemoryStore::new();
    /// let v1 = record(Duration::hours(1), None);
    /// store.create(&v1).await?;
    /// let v2 = Record { version: 2, data: br#"{"n":2}"#.to_vec(), ..v1.clone() };
    /// store.update(&v2, 1).await?;
    /// // A writer that loaded version 1 too loses the race instead of overwriting.
    /// assert!(matches!(store.update(&v2, 1).await, Err(StoreError::Conflict)));
    /// // A deleted record is not brought back.
    /// store.delete(&v1.key).await?;
    /// let v3 = Record { version: 3, ..v2.clone() };
    /// assert!(matches!(store.update(&v3, 2).await, Err(StoreError::NotFound)));
    /// assert_eq!(store.load(&v1.key).await?, None);
    /// # Ok(()) }
    /// ```
    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError>;

    /// Moves a session to a new key (ID rotation, as on login), as one
    /// step: **only if** the record under `old.key` is live at
    /// `expected_version`, replaces it with `old` (as [`update`] would)
    /// and inserts `new` (as [`create`] would). The manager passes as
    /// `old` a short-lived forward to the new record, so a logout that
    /// raced the rotation can still find and end it.
    ///
    /// - [`StoreError::NotFound`]: no live record under `old.key` (it was
    ///   ended, as by a logout or a revoke); nothing changes.
    /// - [`StoreError::Conflict`]: the old record is at another version (a
    ///   concurrent save); nothing changes. The manager reloads,
    ///   re-applies its changes and tries again.
    /// - [`StoreError::Duplicate`]: a live record already sits under
    ///   `new.key`; nothing changes.
    /// - Any other error: nothing may have changed (the user stays logged
    ///   in under the old ID).
    ///
    /// The default ([`rotate_in_steps`]) is built from the other
    /// operations, in an order that keeps these promises between
    /// concurrent requests but not across a crash between its steps
    /// (which can leave the new record behind, unknown to any client, to
    /// expire). Stores that can do it atomically should override it.
    ///
    /// [`update`]: SessionStore::update
    /// [`create`]: SessionStore::create
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreError, StoreKey};
    /// # use session_store_memory::MemoryStore;
    /// # use time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), StoreError> {
    /// use session_conformance::fixtures::record;
    /// let store = MemoryStore::new();
    /// let old = record(Duration::hours(1), Some("ada"));
    /// store.create(&old).await?;
    /// let new = record(Duration::hours(1), Some("ada"));
    /// let forward = Record { version: 2, data: b"moved".to_vec(), user: None, ..old.clone() };
    /// store.rotate(&forward, old.version, &new).await?;
    /// assert_eq!(store.load(&old.key).await?, Some(forward.clone()));
    /// assert_eq!(store.load(&new.key).await?, Some(new.clone()));
    /// // The old record changed: rotating it again at version 1 creates nothing.
    /// let again = record(Duration::hours(1), Some("ada"));
    /// assert!(matches!(store.rotate(&forward, 1, &again).await, Err(StoreError::Conflict)));
    /// assert_eq!(store.load(&again.key).await?, None);
    /// # Ok(()) }
    /// ```
    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        rotate_in_steps(self, old, expected_version, new).await
    }

    /// Removes the record under `key`. Succeeds when there is none.
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreError, StoreKey};
    /// # use session_store_memory::MemoryStore;
    /// # use time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), StoreError> {
    /// use session_conformance::fixtures::record;
    /// let store = MemoryStore::new();
    /// let rec = record(Duration::hours(1), None);
    /// store.create(&rec).await?;
    /// store.delete(&rec.key).await?;
    /// assert_eq!(store.load(&rec.key).await?, None);
    /// store.delete(&rec.key).await?; // already gone: still fine
    /// # Ok(()) }
    /// ```
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError>;

    /// Sets the expiry of a live record without touching its data or version;
    /// [`StoreError::NotFound`] if there is no live record.
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreError, StoreKey};
    /// # use session_store_memory::MemoryStore;
    /// # use time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), StoreError> {
    /// use session_conformance::fixtures::record;
    /// let store = MemoryStore::new();
    /// let rec = record(Duration::hours(1), None);
    /// store.create(&rec).await?;
    /// let later = session_core::now() + Duration::days(14);
    /// store.touch(&rec.key, later).await?;
    /// let touched = store.load(&rec.key).await?.unwrap();
    /// assert_eq!(touched.expires_at, later);
    /// assert_eq!((touched.version, touched.data), (rec.version, rec.data)); // only the expiry moved
    /// let missing = StoreKey::new("cd".repeat(32));
    /// assert!(matches!(store.touch(&missing, later).await, Err(StoreError::NotFound)));
    /// # Ok(()) }
    /// ```
    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError>;

    /// Removes expired records and returns how many it removed. Must work in
    /// batches (or rely on native expiry) so it never blocks other operations
    /// for long. Engines with native expiry may return `Ok(0)`.
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreError, StoreKey};
    /// # use session_store_memory::MemoryStore;
    /// # use time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), StoreError> {
    /// use session_conformance::fixtures::record;
    /// let store = MemoryStore::new();
    /// store.create(&record(Duration::seconds(-5), None)).await?;
    /// store.create(&record(Duration::hours(1), None)).await?;
    /// assert_eq!(store.delete_expired().await?, 1); // the live one stays
    /// assert_eq!(store.delete_expired().await?, 0);
    /// # Ok(()) }
    /// ```
    async fn delete_expired(&self) -> Result<u64, StoreError>;

    /// Whether the engine removes expired records by itself (as Redis TTLs
    /// do), so that [`delete_expired`](Self::delete_expired) may find nothing.
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreError, StoreKey};
    /// # use session_store_memory::MemoryStore;
    /// # use time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), StoreError> {
    /// use session_conformance::fixtures::record;
    /// let store = MemoryStore::new();
    /// // The memory store keeps expired records until swept.
    /// assert!(!store.expires_natively());
    /// # Ok(()) }
    /// ```
    fn expires_natively(&self) -> bool {
        false
    }

    /// The store's index of sessions by user, when it keeps one: what
    /// "your other devices" and "log out everywhere" need. `None` (the
    /// default) tells the manager to answer [`StoreError::Unsupported`].
    ///
    /// ```
    /// # use session_core::SessionStore;
    /// let store = session_store_memory::MemoryStore::new();
    /// assert!(store.user_index().is_some());
    /// ```
    fn user_index(&self) -> Option<&dyn UserIndex> {
        None
    }

    /// What operators' tools ask beyond the contract (counts, sweeping in
    /// steps), when the store offers it. `None` (the default): `stats`
    /// answers [`StoreError::Unsupported`] and a sweep is one
    /// [`delete_expired`](Self::delete_expired).
    ///
    /// ```
    /// # use session_core::SessionStore;
    /// let store = session_store_memory::MemoryStore::new();
    /// assert!(store.maintenance().is_some());
    /// ```
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        None
    }
}

/// Counts and stepwise sweeps for operators (`session-cli stats`,
/// `cleanup`), reached through [`SessionStore::maintenance`]. A store that
/// offers them implements this trait and answers `Some(self)` there; a
/// wrapper forwards `maintenance` and so all of it or none.
///
/// ```
/// # use session_core::{SessionStore, StoreError};
/// # use time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// use session_conformance::fixtures::record;
/// let store = session_store_memory::MemoryStore::new();
/// store.create(&record(Duration::minutes(30), Some("alice"))).await?;
/// store.create(&record(Duration::days(3), Some("alice"))).await?;
/// store.create(&record(Duration::seconds(-5), None)).await?;
/// let tools = store.maintenance().expect("the memory store offers them");
/// let stats = tools.stats(10).await?;
/// assert_eq!((stats.live, stats.expired), (2, Some(1)));
/// assert_eq!(stats.expiring_within_hour, 1);
/// assert_eq!(stats.top_users, [("alice".to_owned(), 2)]);
/// assert_eq!(tools.delete_expired_batch(500).await?, 1);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Counts for operators: live sessions, how many expire soon, the
    /// users with the most sessions (up to `top_users`, where a user index
    /// exists). Engines that cannot count answer
    /// [`StoreError::Unsupported`].
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError>;

    /// Removes at most about `max` expired records and returns how many it
    /// removed, so that a caller can sweep in steps (and show progress).
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError>;
}

/// The user index of `store`, or the [`StoreError::Unsupported`] a store
/// without one answers.
///
/// ```
/// let store = session_store_memory::MemoryStore::new();
/// assert!(session_core::store::user_index_of(&store).is_ok());
/// ```
pub fn user_index_of<S: SessionStore + ?Sized>(store: &S) -> Result<&dyn UserIndex, StoreError> {
    store
        .user_index()
        .ok_or(StoreError::Unsupported("a user index"))
}

/// The maintenance tools of `store`, or the [`StoreError::Unsupported`] a
/// store without them answers.
///
/// ```
/// let store = session_store_memory::MemoryStore::new();
/// assert!(session_core::store::maintenance_of(&store).is_ok());
/// ```
pub fn maintenance_of<S: SessionStore + ?Sized>(store: &S) -> Result<&dyn Maintenance, StoreError> {
    store
        .maintenance()
        .ok_or(StoreError::Unsupported("statistics"))
}

/// Sweeps `store` in steps of `max` where it offers that, or all at once:
/// what a cleanup loop calls.
///
/// ```
/// # use session_core::StoreError;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// let store = session_store_memory::MemoryStore::new();
/// assert_eq!(session_core::store::sweep_step(&store, 500).await?, 0);
/// # Ok(()) }
/// ```
pub async fn sweep_step<S: SessionStore + ?Sized>(store: &S, max: u64) -> Result<u64, StoreError> {
    match store.maintenance() {
        Some(tools) => tools.delete_expired_batch(max).await,
        None => store.delete_expired().await,
    }
}

/// A store's index of sessions by the user they are bound to (see
/// [`Record::user`]), reached through [`SessionStore::user_index`]. A
/// store that keeps one implements this trait and answers `Some(self)`
/// there; a wrapper around a store forwards `user_index` and so forwards
/// the index whole, or none of it.
///
/// ```
/// # use session_core::{SessionStore, StoreError};
/// # use time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// use session_conformance::fixtures::record;
/// let store = session_store_memory::MemoryStore::new();
/// let (phone, laptop) = (
///     record(Duration::hours(1), Some("alice")),
///     record(Duration::hours(1), Some("alice")),
/// );
/// store.create(&phone).await?;
/// store.create(&laptop).await?;
/// let index = store.user_index().expect("the memory store keeps one");
/// assert_eq!(index.sessions_of("alice").await?.len(), 2);
/// // "Log out my other devices", from the laptop:
/// assert_eq!(index.delete_sessions_of("alice", Some(&laptop.key)).await?, 1);
/// assert_eq!(store.load(&phone.key).await?, None);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait UserIndex: Send + Sync {
    /// The live sessions bound to `user`, oldest first (as
    /// [`SessionInfo`]'s ordering sorts them), each under its store key
    /// (a digest, never the live ID).
    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError>;

    /// Ends every session bound to `user` except `keep` (if given); returns
    /// how many it ended.
    async fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError>;
}

/// [`SessionStore::rotate`] built from `create`, `update` and `delete`
/// (the new record is created first, and deleted again when the old one
/// cannot be replaced): the trait's default, for a store to call where
/// its engine cannot rotate in one atomic step (as across the nodes of a
/// cluster).
///
/// ```
/// # use session_core::{Record, SessionStore, StoreError};
/// # use session_store_memory::MemoryStore;
/// # use time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// use session_conformance::fixtures::record;
/// let store = MemoryStore::new();
/// let old = record(Duration::hours(1), None);
/// store.create(&old).await?;
/// let new = record(Duration::hours(1), None);
/// let forward = Record { version: 2, ..old.clone() };
/// // A stale version: nothing is created, the old record stays.
/// let stale = session_core::store::rotate_in_steps(&store, &forward, 7, &new).await;
/// assert!(matches!(stale, Err(StoreError::Conflict)));
/// assert_eq!(store.load(&new.key).await?, None);
/// session_core::store::rotate_in_steps(&store, &forward, old.version, &new).await?;
/// assert_eq!(store.load(&old.key).await?, Some(forward));
/// # Ok(()) }
/// ```
pub async fn rotate_in_steps<S: SessionStore + ?Sized>(
    store: &S,
    old: &Record,
    expected_version: u64,
    new: &Record,
) -> Result<(), StoreError> {
    store.create(new).await?;
    match store.update(old, expected_version).await {
        Ok(()) => Ok(()),
        Err(e) => {
            store.delete(&new.key).await?;
            Err(e)
        }
    }
}

/// Ends the record under `key` only if it is live at `expected_version`,
/// with the contract's own operations: a compare-and-swap to an expired,
/// unbound tombstone (from then on a concurrent save or touch of it fails
/// as for an ended session), then a delete to tidy it away. Answers as
/// `update` does: [`StoreError::NotFound`] or [`StoreError::Conflict`]
/// when nothing was ended.
pub(crate) async fn end_at_version<S: SessionStore + ?Sized>(
    store: &S,
    key: &StoreKey,
    expected_version: u64,
) -> Result<(), StoreError> {
    let tombstone = Record {
        key: key.clone(),
        data: Vec::new(),
        version: expected_version.saturating_add(1),
        created_at: OffsetDateTime::UNIX_EPOCH,
        expires_at: OffsetDateTime::UNIX_EPOCH,
        user: None,
    };
    store.update(&tombstone, expected_version).await?;
    // The tombstone is dead already; the delete is what makes the end
    // durable on stores that sync deletes.
    store.delete(key).await
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        (**self).load(key).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        (**self).create(record).await
    }
    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        (**self).update(record, expected_version).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        (**self).delete(key).await
    }
    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        (**self).rotate(old, expected_version, new).await
    }
    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        (**self).touch(key, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        (**self).delete_expired().await
    }
    fn expires_natively(&self) -> bool {
        (**self).expires_natively()
    }
    fn user_index(&self) -> Option<&dyn UserIndex> {
        (**self).user_index()
    }
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        (**self).maintenance()
    }
}
