//! Configuring a [`MemoryStore`]: its capacity, what it does when full,
//! and its background sweeper.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use session_core::now;

use crate::MemoryStore;
use crate::shard::{Inner, SHARDS, Shard};

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
    /// refuse the new session with [`StoreError::Unavailable`](session_core::StoreError::Unavailable) (default).
    /// A client that creates anonymous sessions in a loop then pushes out
    /// only other anonymous sessions, never a logged-in user.
    #[default]
    EvictAnonymous,
    /// Evict the session of the shard that expires soonest, logged in or
    /// not: the policy of a cache, for sessions that are cheap to lose.
    EvictSoonestExpiring,
    /// Refuse the new session with [`StoreError::Unavailable`](session_core::StoreError::Unavailable).
    Reject,
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
    pub(crate) capacity: usize,
    pub(crate) when_full: WhenFull,
    pub(crate) sweep_every: Option<Duration>,
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
    /// zero interval: only on writes and [`SessionStore::delete_expired`](session_core::SessionStore::delete_expired)).
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
