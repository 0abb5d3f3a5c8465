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

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{Record, SessionInfo, StoreKey};

mod error;
mod stats;
mod steps;
mod task_queue;

pub use error::{BoxError, StoreError};
pub use stats::StoreStats;
pub(crate) use steps::end_at_version;
pub use steps::{maintenance_of, rotate_in_steps, sweep_step, user_index_of};
pub use task_queue::{TaskQueue, in_batches};

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
    /// The conformance kit's cases `load_of_a_missing_key_is_none`,
    /// `expired_records_do_not_load` (`session_conformance::store`) show this
    /// on a real store.
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError>;

    /// Inserts `record` if no live record has its key; otherwise
    /// [`StoreError::Duplicate`]. An expired record under the same key may be
    /// replaced.
    ///
    /// The conformance kit's cases
    /// `create_then_load_gives_back_the_same_record`,
    /// `create_refuses_a_duplicate_and_keeps_the_original`
    /// (`session_conformance::store`) show this on a real store.
    async fn create(&self, record: &Record) -> Result<(), StoreError>;

    /// Replaces the record under `record.key` if its stored version equals
    /// `expected_version` ([`StoreError::Conflict`] otherwise). If no live
    /// record exists, fails with [`StoreError::NotFound`] and creates nothing.
    /// `record.version` is the new version to store (the manager passes
    /// `expected_version + 1`); `record.created_at` is always the value
    /// the record was created with, so a store need not rewrite it.
    ///
    /// The conformance kit's cases `update_with_the_expected_version_replaces`,
    /// `update_with_a_stale_version_conflicts`,
    /// `update_after_delete_does_not_resurrect` (`session_conformance::store`)
    /// show this on a real store.
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
    /// The conformance kit's cases `rotate_is_atomic_against_the_old_version`,
    /// `rotation_racing_an_end_creates_nothing` (`session_conformance::store`)
    /// show this on a real store.
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
    /// The conformance kit's case `delete_removes_and_tolerates_missing`
    /// (`session_conformance::store`) show this on a real store.
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError>;

    /// Sets the expiry of a live record without touching its data or version;
    /// [`StoreError::NotFound`] if there is no live record.
    ///
    /// The conformance kit's cases
    /// `touch_extends_expiry_without_rewriting_data`,
    /// `touch_of_a_missing_or_expired_record_is_not_found`
    /// (`session_conformance::store`) show this on a real store.
    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError>;

    /// Removes expired records and returns how many it removed. Must work in
    /// batches (or rely on native expiry) so it never blocks other operations
    /// for long. Engines with native expiry may return `Ok(0)`.
    ///
    /// The conformance kit's case `delete_expired_removes_only_expired_records`
    /// (`session_conformance::store`) show this on a real store.
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
