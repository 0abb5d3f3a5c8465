//! An in-process session store.
//!
//! [`MemoryStore`] keeps sessions in the application's memory: the fastest
//! engine, and the right one for tests, development and single-process
//! services that can afford to log everybody out on restart.
//!
//! - **Sharded**: records are spread over independently locked shards, so
//!   concurrent requests rarely wait for each other.
//! - **Bounded**: it holds at most [`capacity`](MemoryStoreBuilder::capacity)
//!   sessions (default 100 000). When a shard is full, expired records go
//!   first; then, by default, the anonymous session closest to expiry is
//!   evicted, and a logged-in user's session never is: with no anonymous
//!   session left to evict, the new one is refused with
//!   [`StoreError::Unavailable`] ([`WhenFull::EvictAnonymous`]). A client
//!   that creates sessions in a loop can so push out only other anonymous
//!   sessions. [`WhenFull::EvictSoonestExpiring`] (a cache's policy) and
//!   [`WhenFull::Reject`] are the alternatives.
//! - **Swept**: expired records are removed when a shard fills up, and
//!   by a background task every minute when the store is built inside a
//!   Tokio runtime. The task stops when the last clone of the store is
//!   dropped.
//! - **Not durable**: the sessions live and die with the process.
//! - **User index**: [`UserIndex::sessions_of`] and
//!   [`UserIndex::delete_sessions_of`] answer from an index, not a scan.
//!
//! ```
//! use session_core::{KeyRing, SessionManager};
//! use session_store_memory::{MemoryStore, WhenFull};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::builder()
//!     .capacity(10_000)
//!     .when_full(WhenFull::Reject)
//!     .build();
//! let manager = SessionManager::new(store.clone(), KeyRing::new([3u8; 32])?);
//!
//! let request = manager.request(None);
//! request.load().await?.insert("hello", "world")?;
//! request.finish(200).await?;
//! assert_eq!(store.len(), 1);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, UserIndex,
    async_trait, now,
};

const SHARDS: usize = 32;
/// How many expired records one sweep removes per shard lock.
const SWEEP_BATCH: usize = 1024;

/// What a full store does with a new session.
///
/// ```
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::{MemoryStore, WhenFull};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # async fn save_one(manager: &SessionManager) -> Result<(), session_core::SessionError> {
/// #     let request = manager.request(None);
/// #     request.load().await?.insert("n", 1)?;
/// #     request.finish(200).await.map(drop)
/// # }
/// // 32 sessions at most, one per shard: a 33rd must find its shard full.
/// let store = MemoryStore::builder().capacity(32).when_full(WhenFull::Reject).build();
/// let manager = SessionManager::new(store.clone(), KeyRing::new([3u8; 32])?);
/// let mut refused = 0;
/// for _ in 0..33 {
///     if let Err(e) = save_one(&manager).await {
///         assert_eq!(e.status_code(), 503);
///         refused += 1;
///     }
/// }
/// assert!(refused >= 1);
/// assert!(store.len() <= 32);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Evict the anonymous session (bound to no user) of the shard that
    /// expires soonest; when the shard holds only sessions bound to users,
    /// refuse the new session with [`StoreError::Unavailable`] (default).
    /// A client that creates anonymous sessions in a loop then pushes out
    /// only other anonymous sessions, never a logged-in user.
    #[default]
    EvictAnonymous,
    /// Evict the session of the shard that expires soonest, logged in or
    /// not: the policy of a cache, for sessions that are cheap to lose.
    EvictSoonestExpiring,
    /// Refuse the new session with [`StoreError::Unavailable`].
    Reject,
}

/// The in-process store. See the [crate docs](crate). Clones share the same sessions.
///
/// ```
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::{MemoryStore, WhenFull};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # async fn save_one(manager: &SessionManager) -> Result<(), session_core::SessionError> {
/// #     let request = manager.request(None);
/// #     request.load().await?.insert("n", 1)?;
/// #     request.finish(200).await.map(drop)
/// # }
/// let store = MemoryStore::new();
/// let manager = SessionManager::new(store.clone(), KeyRing::new([3u8; 32])?);
/// save_one(&manager).await?;
/// assert_eq!(store.len(), 1); // the clone sees the manager's session
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<RwLock<Shard>>,
    users: Vec<Mutex<HashMap<String, HashSet<StoreKey>>>>,
    per_shard: usize,
    when_full: WhenFull,
}

#[derive(Default)]
struct Shard {
    records: HashMap<StoreKey, Record>,
    by_expiry: BTreeSet<(OffsetDateTime, StoreKey)>,
    /// The anonymous records (bound to no user) of `by_expiry`: the ones
    /// [`WhenFull::EvictAnonymous`] may push out.
    anonymous: BTreeSet<(OffsetDateTime, StoreKey)>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("capacity", &(self.inner.per_shard * SHARDS))
            .field("when_full", &self.inner.when_full)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the default settings (100 000 sessions, evicting the
    /// soonest-expiring when full, swept every minute).
    ///
    /// ```
    /// # use session_store_memory::MemoryStore;
    /// let store = MemoryStore::new();
    /// assert!(store.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts configuring a store.
    ///
    /// ```
    /// # use session_store_memory::{MemoryStore, WhenFull};
    /// let store = MemoryStore::builder().capacity(1_000).when_full(WhenFull::Reject).build();
    /// assert!(store.is_empty());
    /// ```
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            capacity: 100_000,
            when_full: WhenFull::default(),
            sweep_every: Some(Duration::from_secs(60)),
        }
    }

    /// How many records the store holds (expired ones not yet swept included).
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreKey};
    /// # fn expired_record() -> Record {
    /// #     let now = session_core::now();
    /// #     Record {
    /// #         key: StoreKey::new("ab".repeat(32)),
    /// #         data: b"{}".to_vec(),
    /// #         version: 1,
    /// #         created_at: now - session_core::time::Duration::hours(2),
    /// #         expires_at: now - session_core::time::Duration::hours(1),
    /// #         user: None,
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_core::StoreError> {
    /// # use session_store_memory::MemoryStore;
    /// let store = MemoryStore::builder().sweep_every(None).build();
    /// store.create(&expired_record()).await?;
    /// assert_eq!(store.len(), 1); // expired, not yet swept
    /// assert_eq!(store.delete_expired().await?, 1);
    /// assert_eq!(store.len(), 0);
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| read(s).records.len())
            .sum()
    }

    /// Whether the store holds no records.
    ///
    /// ```
    /// # use session_store_memory::MemoryStore;
    /// assert!(MemoryStore::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Configures a [`MemoryStore`]; see [`MemoryStore::builder`].
///
/// ```
/// # use session_store_memory::MemoryStore;
/// let builder = MemoryStore::builder().capacity(50_000);
/// let store = builder.build();
/// assert!(store.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStoreBuilder {
    capacity: usize,
    when_full: WhenFull,
    sweep_every: Option<Duration>,
}

impl MemoryStoreBuilder {
    /// The most sessions the store holds (rounded up to a multiple of its
    /// shard count, 32). Default 100 000.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::{MemoryStore, WhenFull};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # async fn save_one(manager: &SessionManager) -> Result<(), session_core::SessionError> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.insert("n", 1)?;
    /// #     request.finish(200).await.map(drop)
    /// # }
    /// // The default policy evicts the sessions closest to expiry to make room.
    /// let store = MemoryStore::builder().capacity(32).build();
    /// let manager = SessionManager::new(store.clone(), KeyRing::new([3u8; 32])?);
    /// for _ in 0..100 {
    ///     save_one(&manager).await?;
    /// }
    /// assert!(store.len() <= 32);
    /// # Ok(()) }
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// What to do when a shard is full. Default [`WhenFull::EvictSoonestExpiring`].
    ///
    /// ```
    /// # use session_store_memory::{MemoryStore, WhenFull};
    /// // For services that would rather refuse new visitors than log anyone out.
    /// let store = MemoryStore::builder().when_full(WhenFull::Reject).build();
    /// # drop(store);
    /// ```
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.when_full = policy;
        self
    }

    /// How often the background task sweeps expired sessions (`None`, or a
    /// zero interval: only on writes and [`SessionStore::delete_expired`]).
    /// Default one minute.
    ///
    /// ```
    /// # use session_core::{Record, SessionStore, StoreKey};
    /// # fn expired_record() -> Record {
    /// #     let now = session_core::now();
    /// #     Record {
    /// #         key: StoreKey::new("ab".repeat(32)),
    /// #         data: b"{}".to_vec(),
    /// #         version: 1,
    /// #         created_at: now - session_core::time::Duration::hours(2),
    /// #         expires_at: now - session_core::time::Duration::hours(1),
    /// #         user: None,
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_core::StoreError> {
    /// # use session_store_memory::MemoryStore;
    /// let store = MemoryStore::builder().sweep_every(Some(std::time::Duration::from_millis(10))).build();
    /// store.create(&expired_record()).await?;
    /// tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    /// assert_eq!(store.len(), 0, "the background task swept it");
    /// # Ok(()) }
    /// ```
    pub fn sweep_every(mut self, every: Option<Duration>) -> Self {
        // A zero period would make the sweeper's timer panic.
        self.sweep_every = every.filter(|every| !every.is_zero());
        self
    }

    /// Builds the store; inside a Tokio runtime this also starts the sweeper.
    ///
    /// ```
    /// # use session_store_memory::MemoryStore;
    /// // Outside a Tokio runtime there is no background sweeper; sweeping still
    /// // happens on writes and on `delete_expired`.
    /// let store = MemoryStore::builder().build();
    /// assert!(store.is_empty());
    /// ```
    pub fn build(self) -> MemoryStore {
        let inner = Arc::new(Inner {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            users: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: self.capacity.div_ceil(SHARDS),
            when_full: self.when_full,
        });
        if let (Some(every), Ok(runtime)) =
            (self.sweep_every, tokio::runtime::Handle::try_current())
        {
            runtime.spawn(sweep_forever(Arc::downgrade(&inner), every));
        }
        MemoryStore { inner }
    }
}

async fn sweep_forever(inner: Weak<Inner>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let removed = inner.sweep_all(now());
        if removed > 0 {
            tracing::debug!(target: "session_store_memory", removed, "swept expired sessions");
        }
    }
}

fn read(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    // Every critical section leaves the shard consistent, so a panic
    // elsewhere is no reason to stop serving it.
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// The shard of a key or user: FNV-1a, cheap on the short strings stores
/// see (session keys are digests already, so any spread is even).
fn index_of(key: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h as usize) % SHARDS
}

impl Inner {
    fn shard(&self, key: &StoreKey) -> &RwLock<Shard> {
        &self.shards[index_of(key.as_str())]
    }

    fn users(&self, user: &str) -> MutexGuard<'_, HashMap<String, HashSet<StoreKey>>> {
        self.users[index_of(user)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn index_user(&self, user: Option<&str>, key: &StoreKey) {
        if let Some(user) = user {
            self.users(user)
                .entry(user.to_owned())
                .or_default()
                .insert(key.clone());
        }
    }

    fn unindex_user(&self, user: Option<&str>, key: &StoreKey) {
        if let Some(user) = user {
            let mut users = self.users(user);
            if let Some(keys) = users.get_mut(user) {
                keys.remove(key);
                if keys.is_empty() {
                    users.remove(user);
                }
            }
        }
    }

    /// Removes a record from a locked shard, keeping both indexes right.
    fn remove(&self, shard: &mut Shard, key: &StoreKey) -> Option<Record> {
        let record = shard.records.remove(key)?;
        let entry = (record.expires_at, key.clone());
        if record.user.is_none() {
            shard.anonymous.remove(&entry);
        }
        shard.by_expiry.remove(&entry);
        self.unindex_user(record.user.as_deref(), key);
        Some(record)
    }

    fn insert(&self, shard: &mut Shard, record: Record) {
        let entry = (record.expires_at, record.key.clone());
        if record.user.is_none() {
            shard.anonymous.insert(entry.clone());
        }
        shard.by_expiry.insert(entry);
        self.index_user(record.user.as_deref(), &record.key);
        shard.records.insert(record.key.clone(), record);
    }

    /// Removes up to `limit` expired records of a locked shard.
    fn sweep(&self, shard: &mut Shard, now: OffsetDateTime, limit: usize) -> usize {
        let mut removed = 0;
        while removed < limit {
            match shard.by_expiry.first() {
                Some((at, key)) if *at <= now => {
                    let key = key.clone();
                    self.remove(shard, &key);
                    removed += 1;
                }
                _ => break,
            }
        }
        removed
    }

    fn sweep_all(&self, now: OffsetDateTime) -> usize {
        let mut total = 0;
        for lock in &self.shards {
            loop {
                let removed = self.sweep(&mut write(lock), now, SWEEP_BATCH);
                total += removed;
                if removed < SWEEP_BATCH {
                    break;
                }
            }
        }
        total
    }

    /// Makes room in a full shard for `record`, as the policy says.
    fn make_room(
        &self,
        shard: &mut Shard,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if shard.records.len() < self.per_shard {
            return Ok(());
        }
        self.sweep(shard, now, usize::MAX);
        if shard.records.len() < self.per_shard {
            return Ok(());
        }
        let victim = match self.when_full {
            WhenFull::Reject => None,
            WhenFull::EvictAnonymous => shard.anonymous.first(),
            WhenFull::EvictSoonestExpiring => shard.by_expiry.first(),
        };
        let Some((_, victim)) = victim.cloned() else {
            let bound = if record.user.is_some() {
                "a logged-in"
            } else {
                "an anonymous"
            };
            tracing::warn!(target: "session_store_memory", "store full; refused {bound} session");
            return Err(StoreError::unavailable(format!(
                "the memory session store is full (capacity {}); refused {bound} session",
                self.per_shard * SHARDS
            )));
        };
        self.remove(shard, &victim);
        tracing::warn!(target: "session_store_memory", policy = ?self.when_full, "store full; evicted the session closest to expiry");
        Ok(())
    }

    /// `rotate` with its shards locked: `new_shard` is `None` when the new
    /// key falls in the old key's shard.
    fn rotate(
        &self,
        old_shard: &mut Shard,
        new_shard: Option<&mut Shard>,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        let now = now();
        let live_at = |shard: &Shard| match shard.records.get(&old.key) {
            Some(r) if r.is_live_at(now) && r.version == expected_version => Ok(()),
            Some(r) if r.is_live_at(now) => Err(StoreError::Conflict),
            _ => Err(StoreError::NotFound),
        };
        live_at(old_shard)?;
        let taken = |shard: &Shard| {
            shard
                .records
                .get(&new.key)
                .is_some_and(|r| r.is_live_at(now))
        };
        if new_shard.as_deref().map_or_else(|| taken(old_shard), taken) {
            return Err(StoreError::Duplicate);
        }
        // Room for the new record is made (or refused) before anything
        // changes, so a refusal leaves the old record as it was.
        match new_shard {
            Some(shard) => {
                self.remove(shard, &new.key);
                self.make_room(shard, new, now)?;
                self.remove(old_shard, &old.key);
                self.insert(old_shard, old.clone());
                self.insert(shard, new.clone());
            }
            None => {
                self.remove(old_shard, &new.key);
                self.make_room(old_shard, new, now)?;
                // Making room may have evicted the old record itself.
                live_at(old_shard)?;
                self.remove(old_shard, &old.key);
                self.insert(old_shard, old.clone());
                self.insert(old_shard, new.clone());
            }
        }
        Ok(())
    }

    fn live(&self, key: &StoreKey, now: OffsetDateTime) -> Option<Record> {
        read(self.shard(key))
            .records
            .get(key)
            .filter(|r| r.is_live_at(now))
            .cloned()
    }
}

/// Sets a stored record's expiry, moving its entry in the shard's expiry index.
/// Moves `record`'s expiry, and its place in the shard's expiry order.
fn move_expiry(
    by_expiry: &mut BTreeSet<(OffsetDateTime, StoreKey)>,
    anonymous: &mut BTreeSet<(OffsetDateTime, StoreKey)>,
    record: &mut Record,
    expires_at: OffsetDateTime,
) {
    if record.expires_at != expires_at {
        let (old, new) = (
            (record.expires_at, record.key.clone()),
            (expires_at, record.key.clone()),
        );
        if record.user.is_none() {
            anonymous.remove(&old);
            anonymous.insert(new.clone());
        }
        by_expiry.remove(&old);
        by_expiry.insert(new);
        record.expires_at = expires_at;
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        Ok(self.inner.live(key, now()))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let inner = &self.inner;
        let now = now();
        let mut shard = write(inner.shard(&record.key));
        if shard
            .records
            .get(&record.key)
            .is_some_and(|r| r.is_live_at(now))
        {
            return Err(StoreError::Duplicate);
        }
        inner.remove(&mut shard, &record.key);
        inner.make_room(&mut shard, record, now)?;
        inner.insert(&mut shard, record.clone());
        Ok(())
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        let inner = &self.inner;
        let mut guard = write(inner.shard(&record.key));
        let shard = &mut *guard;
        let old = match shard.records.get_mut(&record.key) {
            Some(old) if old.is_live_at(now()) => old,
            _ => return Err(StoreError::NotFound),
        };
        if old.version != expected_version {
            return Err(StoreError::Conflict);
        }
        if old.user != record.user {
            // Bound to another user (a login): both indexes change.
            inner.remove(shard, &record.key);
            inner.insert(shard, record.clone());
            return Ok(());
        }
        // The common save: new data, maybe a new expiry; updated in place.
        move_expiry(
            &mut shard.by_expiry,
            &mut shard.anonymous,
            old,
            record.expires_at,
        );
        old.data.clone_from(&record.data);
        old.version = record.version;
        old.created_at = record.created_at;
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.remove(&mut write(inner.shard(key)), key);
        Ok(())
    }

    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let (a, b) = (index_of(old.key.as_str()), index_of(new.key.as_str()));
        // Both shards locked, in index order (one lock when they are the
        // same), so the check and the move are one step.
        if a == b {
            let mut shard = write(&inner.shards[a]);
            return inner.rotate(&mut shard, None, old, expected_version, new);
        }
        let mut low = write(&inner.shards[a.min(b)]);
        let mut high = write(&inner.shards[a.max(b)]);
        let (old_shard, new_shard) = if a < b {
            (&mut *low, &mut *high)
        } else {
            (&mut *high, &mut *low)
        };
        inner.rotate(old_shard, Some(new_shard), old, expected_version, new)
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        let mut shard = write(self.inner.shard(key));
        let shard = &mut *shard;
        match shard.records.get_mut(key) {
            Some(record) if record.is_live_at(now()) => {
                move_expiry(
                    &mut shard.by_expiry,
                    &mut shard.anonymous,
                    record,
                    expires_at,
                );
                Ok(())
            }
            _ => Err(StoreError::NotFound),
        }
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(self.inner.sweep_all(now()) as u64)
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        Some(self)
    }
}

#[async_trait]
impl Maintenance for MemoryStore {
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        let now = now();
        let mut live = Vec::new();
        let mut expired = 0;
        for lock in &self.inner.shards {
            let shard = read(lock);
            for record in shard.records.values() {
                if record.is_live_at(now) {
                    live.push((record.expires_at, record.user.clone()));
                } else {
                    expired += 1;
                }
            }
        }
        Ok(StoreStats::tally(
            now,
            live.iter().map(|(e, u)| (*e, u.as_deref())),
            Some(expired),
            top_users,
        ))
    }
    /// All at once: the store sweeps in one pass.
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        let _ = max;
        SessionStore::delete_expired(self).await
    }
}

#[async_trait]
impl UserIndex for MemoryStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let inner = &self.inner;
        let keys: Vec<StoreKey> = inner
            .users(user)
            .get(user)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let now = now();
        let mut sessions: Vec<SessionInfo> = keys
            .iter()
            .filter_map(|key| inner.live(key, now))
            .filter(|r| r.user.as_deref() == Some(user))
            .map(|r| SessionInfo::from(&r))
            .collect();
        sessions.sort();
        Ok(sessions)
    }

    async fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let keys: Vec<StoreKey> = inner
            .users(user)
            .get(user)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let now = now();
        let mut ended = 0;
        for key in keys.iter().filter(|k| Some(*k) != keep) {
            let mut shard = write(inner.shard(key));
            let bound = shard
                .records
                .get(key)
                .is_some_and(|r| r.user.as_deref() == Some(user));
            if bound {
                let record = inner.remove(&mut shard, key);
                if record.is_some_and(|r| r.is_live_at(now)) {
                    ended += 1;
                }
            }
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::time::Duration as TimeDuration;

    session_conformance::store_tests!(MemoryStore::new());

    #[tokio::test]
    async fn a_zero_sweep_interval_means_no_background_sweeper() {
        let builder = MemoryStore::builder().sweep_every(Some(Duration::ZERO));
        assert_eq!(builder.sweep_every, None);
        let store = builder.build();
        store.create(&record("gone", -5, None)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(store.delete_expired().await.unwrap(), 1, "nothing swept it");
    }

    fn record(key: &str, expires_in: i64, user: Option<&str>) -> Record {
        let now = now();
        Record {
            key: StoreKey::new(key),
            data: b"{}".to_vec(),
            version: 1,
            created_at: now,
            expires_at: now + TimeDuration::seconds(expires_in),
            user: user.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn a_full_store_evicts_the_soonest_expiring_session() {
        let store = MemoryStore::builder().capacity(1).build();
        // Capacity rounds up to one per shard: fill one shard with two keys.
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        let same: Vec<&String> = keys
            .iter()
            .filter(|k| index_of(k) == index_of(&keys[0]))
            .take(2)
            .collect();
        store.create(&record(same[0], 100, None)).await.unwrap();
        store.create(&record(same[1], 200, None)).await.unwrap();
        assert!(
            store
                .load(&StoreKey::new(same[0].as_str()))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .load(&StoreKey::new(same[1].as_str()))
                .await
                .unwrap()
                .is_some()
        );
    }

    /// Keys that all fall in one shard.
    fn same_shard(n: usize) -> Vec<String> {
        let keys: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
        let shard = index_of(&keys[0]);
        keys.into_iter()
            .filter(|k| index_of(k) == shard)
            .take(n)
            .collect()
    }

    #[tokio::test]
    async fn a_flood_of_anonymous_sessions_never_evicts_a_logged_in_user() {
        // Four sessions per shard; in one shard two users and two visitors.
        let store = MemoryStore::builder().capacity(4 * SHARDS).build();
        let keys = same_shard(200);
        store
            .create(&record(&keys[0], 100, Some("ada")))
            .await
            .unwrap();
        store
            .create(&record(&keys[1], 50, Some("bob")))
            .await
            .unwrap();
        store.create(&record(&keys[2], 500, None)).await.unwrap();
        store.create(&record(&keys[3], 600, None)).await.unwrap();
        // The flood: each new anonymous session evicts an anonymous one.
        for key in &keys[4..] {
            store.create(&record(key, 1000, None)).await.unwrap();
        }
        for (key, user) in [(&keys[0], "ada"), (&keys[1], "bob")] {
            let kept = store.load(&StoreKey::new(key.as_str())).await.unwrap();
            assert_eq!(
                kept.and_then(|r| r.user).as_deref(),
                Some(user),
                "{user}'s session was evicted by the flood"
            );
        }
        assert!(
            store
                .load(&StoreKey::new(keys[199].as_str()))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.sessions_of("ada").await.unwrap().len(), 1);

        // A shard holding only logged-in users refuses the newcomer.
        let store = MemoryStore::builder().capacity(2 * SHARDS).build();
        store
            .create(&record(&keys[0], 100, Some("ada")))
            .await
            .unwrap();
        store
            .create(&record(&keys[1], 100, Some("bob")))
            .await
            .unwrap();
        for user in [None, Some("eve")] {
            let err = store
                .create(&record(&keys[2], 100, user))
                .await
                .unwrap_err();
            assert!(err.is_unavailable(), "{err}");
            assert!(err.to_string().contains("full"), "{err}");
        }
        // A user bound by an update is protected too.
        let store = MemoryStore::builder().capacity(2 * SHARDS).build();
        store.create(&record(&keys[0], 100, None)).await.unwrap();
        store.create(&record(&keys[1], 900, None)).await.unwrap();
        let bound = Record {
            version: 2,
            ..record(&keys[0], 100, Some("ada"))
        };
        store.update(&bound, 1).await.unwrap();
        store.create(&record(&keys[2], 100, None)).await.unwrap();
        assert!(
            store
                .load(&StoreKey::new(keys[0].as_str()))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .load(&StoreKey::new(keys[1].as_str()))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_cache_policy_evicts_whatever_expires_soonest() {
        let store = MemoryStore::builder()
            .capacity(SHARDS)
            .when_full(WhenFull::EvictSoonestExpiring)
            .build();
        let keys = same_shard(2);
        store
            .create(&record(&keys[0], 100, Some("ada")))
            .await
            .unwrap();
        store.create(&record(&keys[1], 200, None)).await.unwrap();
        assert!(
            store
                .load(&StoreKey::new(keys[0].as_str()))
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.sessions_of("ada").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_full_store_can_reject_new_sessions() {
        let store = MemoryStore::builder()
            .capacity(1)
            .when_full(WhenFull::Reject)
            .build();
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        let same: Vec<&String> = keys
            .iter()
            .filter(|k| index_of(k) == index_of(&keys[0]))
            .take(2)
            .collect();
        store.create(&record(same[0], 100, None)).await.unwrap();
        let err = store.create(&record(same[1], 100, None)).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        // Expired records make room before anything is refused.
        let store = MemoryStore::builder()
            .capacity(1)
            .when_full(WhenFull::Reject)
            .build();
        store.create(&record(same[0], -1, None)).await.unwrap();
        store.create(&record(same[1], 100, None)).await.unwrap();
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn the_background_sweeper_removes_expired_sessions_and_stops_with_the_store() {
        let store = MemoryStore::builder()
            .sweep_every(Some(Duration::from_millis(50)))
            .build();
        store.create(&record("gone", 1, Some("u"))).await.unwrap();
        store.create(&record("kept", 600, Some("u"))).await.unwrap();
        assert_eq!(store.len(), 2);
        tokio::time::sleep(Duration::from_millis(2300)).await;
        assert_eq!(store.len(), 1);
        assert_eq!(store.sessions_of("u").await.unwrap().len(), 1);
        let weak = Arc::downgrade(&store.inner);
        drop(store);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(weak.upgrade().is_none());
    }
}
