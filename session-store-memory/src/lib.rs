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
//!   first; then, by default, the session closest to expiry is evicted
//!   ([`WhenFull::EvictSoonestExpiring`], the policy of a cache), or new
//!   sessions are refused with [`StoreError::Unavailable`] ([`WhenFull::Reject`]).
//! - **Swept**: expired records are removed when a shard fills up, and
//!   by a background task every minute when the store is built inside a
//!   Tokio runtime. The task stops when the last clone of the store is
//!   dropped.
//! - **User index**: [`SessionStore::sessions_of`] and
//!   [`SessionStore::delete_sessions_of`] answer from an index, not a scan.
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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use session_core::time::OffsetDateTime;
use session_core::{
    Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, async_trait, now,
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
    /// Evict the session of the shard that expires soonest (default).
    #[default]
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
        shard.by_expiry.remove(&(record.expires_at, key.clone()));
        self.unindex_user(record.user.as_deref(), key);
        Some(record)
    }

    fn insert(&self, shard: &mut Shard, record: Record) {
        shard
            .by_expiry
            .insert((record.expires_at, record.key.clone()));
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

    fn live(&self, key: &StoreKey, now: OffsetDateTime) -> Option<Record> {
        read(self.shard(key))
            .records
            .get(key)
            .filter(|r| r.is_live_at(now))
            .cloned()
    }
}

/// Sets a stored record's expiry, moving its entry in the shard's expiry index.
fn move_expiry(
    by_expiry: &mut BTreeSet<(OffsetDateTime, StoreKey)>,
    record: &mut Record,
    expires_at: OffsetDateTime,
) {
    if record.expires_at != expires_at {
        by_expiry.remove(&(record.expires_at, record.key.clone()));
        by_expiry.insert((expires_at, record.key.clone()));
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
        if shard.records.len() >= inner.per_shard {
            inner.sweep(&mut shard, now, usize::MAX);
        }
        if shard.records.len() >= inner.per_shard {
            match inner.when_full {
                WhenFull::Reject => {
                    return Err(StoreError::unavailable("the memory session store is full"));
                }
                WhenFull::EvictSoonestExpiring => {
                    if let Some((_, victim)) = shard.by_expiry.first().cloned() {
                        inner.remove(&mut shard, &victim);
                        tracing::warn!(target: "session_store_memory", "store full; evicted the session closest to expiry");
                    }
                }
            }
        }
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
        move_expiry(&mut shard.by_expiry, old, record.expires_at);
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

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        let mut shard = write(self.inner.shard(key));
        let shard = &mut *shard;
        match shard.records.get_mut(key) {
            Some(record) if record.is_live_at(now()) => {
                move_expiry(&mut shard.by_expiry, record, expires_at);
                Ok(())
            }
            _ => Err(StoreError::NotFound),
        }
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(self.inner.sweep_all(now()) as u64)
    }

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

    fn supports_user_index(&self) -> bool {
        true
    }

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
            .map(|r| SessionInfo {
                key: r.key,
                created_at: r.created_at,
                expires_at: r.expires_at,
            })
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
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
