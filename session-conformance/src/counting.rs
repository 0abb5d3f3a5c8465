//! A store wrapper that counts calls and can pretend its engine is down:
//! for tests that must prove what reached the store (a forged cookie
//! reaches nothing) and how failures surface.
//!
//! ```
//! use session_conformance::counting::CountingStore;
//! use session_core::SessionStore;
//! use session_store_memory::MemoryStore;
//!
//! # session_conformance::block_on(async {
//! let store = CountingStore::new(MemoryStore::new());
//! assert!(store.load(&session_core::SessionId::generate().store_key()).await.unwrap().is_none());
//! assert_eq!((store.loads(), store.writes()), (1, 0));
//! store.set_down(true);
//! assert!(store.load(&session_core::SessionId::generate().store_key()).await.unwrap_err().is_unavailable());
//! # });
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, UserIndex,
    async_trait,
};

#[derive(Default)]
struct Counts {
    loads: AtomicUsize,
    writes: AtomicUsize,
    touches: AtomicUsize,
    down: AtomicBool,
}

/// Wraps a store, counting loads, writes (create, update, delete) and
/// touches. Clones share the counters.
///
/// ```
/// # session_conformance::block_on(async {
/// use session_conformance::counting::CountingStore;
/// use session_core::{KeyRing, SessionManager};
/// use session_store_memory::MemoryStore;
/// let store = CountingStore::new(MemoryStore::new());
/// let manager = SessionManager::new(store.clone(), KeyRing::new([8u8; 32]).unwrap());
/// // A forged cookie must never reach the store:
/// manager.request(["session=forged.tag"]).load().await.unwrap();
/// assert_eq!((store.loads(), store.writes()), (0, 0));
/// # });
/// ```
#[derive(Clone)]
pub struct CountingStore<S> {
    inner: S,
    counts: Arc<Counts>,
}

impl<S: SessionStore> CountingStore<S> {
    /// Wraps `inner`.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::counting::CountingStore;
    /// use session_core::{KeyRing, SessionManager};
    /// use session_store_memory::MemoryStore;
    /// let store = CountingStore::new(MemoryStore::new());
    /// let manager = SessionManager::new(store.clone(), KeyRing::new([8u8; 32]).unwrap());
    /// assert_eq!(store.loads(), 0);
    /// # });
    /// ```
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner,
            counts: Arc::default(),
        }
    }

    /// The wrapped store, for checks that must not count.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::counting::CountingStore;
    /// use session_core::{KeyRing, SessionManager};
    /// use session_store_memory::MemoryStore;
    /// let store = CountingStore::new(MemoryStore::new());
    /// let manager = SessionManager::new(store.clone(), KeyRing::new([8u8; 32]).unwrap());
    /// use session_core::SessionStore;
    /// let (cookie, key) = session_conformance::fixtures::new_session(&manager, "n", 1).await;
    /// assert!(store.inner().load(&key).await.unwrap().is_some()); // not counted
    /// assert_eq!(store.loads(), 0);
    /// # });
    /// ```
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many `load` calls reached the store.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::counting::CountingStore;
    /// use session_core::{KeyRing, SessionManager};
    /// use session_store_memory::MemoryStore;
    /// let store = CountingStore::new(MemoryStore::new());
    /// let manager = SessionManager::new(store.clone(), KeyRing::new([8u8; 32]).unwrap());
    /// let (cookie, _) = session_conformance::fixtures::new_session(&manager, "n", 1).await;
    /// manager.request([cookie.as_str()]).load().await.unwrap();
    /// assert_eq!(store.loads(), 1);
    /// # });
    /// ```
    pub fn loads(&self) -> usize {
        self.counts.loads.load(Ordering::SeqCst)
    }

    /// How many `create`, `update` and `delete` calls reached the store.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::counting::CountingStore;
    /// use session_core::{KeyRing, SessionManager};
    /// use session_store_memory::MemoryStore;
    /// let store = CountingStore::new(MemoryStore::new());
    /// let manager = SessionManager::new(store.clone(), KeyRing::new([8u8; 32]).unwrap());
    /// session_conformance::fixtures::new_session(&manager, "n", 1).await;
    /// assert_eq!(store.writes(), 1); // one create
    /// # });
    /// ```
    pub fn writes(&self) -> usize {
        self.counts.writes.load(Ordering::SeqCst)
    }

    /// How many `touch` calls reached the store.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::counting::CountingStore;
    /// use session_core::{KeyRing, SessionManager};
    /// use session_store_memory::MemoryStore;
    /// let store = CountingStore::new(MemoryStore::new());
    /// let manager = SessionManager::new(store.clone(), KeyRing::new([8u8; 32]).unwrap());
    /// let (cookie, _) = session_conformance::fixtures::new_session(&manager, "n", 1).await;
    /// let request = manager.request([cookie.as_str()]);
    /// request.load().await.unwrap();
    /// request.finish(200).await.unwrap();
    /// assert_eq!(store.touches(), 0, "a fresh session's expiry is not due for extension");
    /// # });
    /// ```
    pub fn touches(&self) -> usize {
        self.counts.touches.load(Ordering::SeqCst)
    }

    /// While `true`, every operation fails with [`StoreError::Unavailable`].
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::counting::CountingStore;
    /// use session_core::{KeyRing, SessionManager};
    /// use session_store_memory::MemoryStore;
    /// let store = CountingStore::new(MemoryStore::new());
    /// let manager = SessionManager::new(store.clone(), KeyRing::new([8u8; 32]).unwrap());
    /// let (cookie, _) = session_conformance::fixtures::new_session(&manager, "n", 1).await;
    /// store.set_down(true);
    /// let err = manager.request([cookie.as_str()]).load().await.unwrap_err();
    /// assert_eq!(err.status_code(), 503);
    /// store.set_down(false);
    /// assert!(manager.request([cookie.as_str()]).load().await.is_ok());
    /// # });
    /// ```
    pub fn set_down(&self, down: bool) {
        self.counts.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.counts.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable(std::io::Error::other(
                "connection refused (simulated)",
            )))
        } else {
            Ok(())
        }
    }

    fn count(&self, counter: &AtomicUsize) -> Result<(), StoreError> {
        self.check()?;
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for CountingStore<S> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.count(&self.counts.loads)?;
        self.inner.load(key).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.count(&self.counts.writes)?;
        self.inner.create(record).await
    }
    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        self.count(&self.counts.writes)?;
        self.inner.update(record, expected_version).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.count(&self.counts.writes)?;
        self.inner.delete(key).await
    }
    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        self.count(&self.counts.writes)?;
        self.inner.rotate(old, expected_version, new).await
    }
    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        self.count(&self.counts.touches)?;
        self.inner.touch(key, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.delete_expired().await
    }
    fn expires_natively(&self) -> bool {
        self.inner.expires_natively()
    }
    fn user_index(&self) -> Option<&dyn UserIndex> {
        // Through this wrapper, so its calls are seen too.
        self.inner.user_index().map(|_| self as &dyn UserIndex)
    }
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        // Through this wrapper, so its calls are seen too.
        self.inner.maintenance().map(|_| self as &dyn Maintenance)
    }
}

#[async_trait]
impl<S: SessionStore> Maintenance for CountingStore<S> {
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        self.check()?;
        session_core::store::maintenance_of(&self.inner)?
            .stats(top_users)
            .await
    }
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        self.check()?;
        session_core::store::maintenance_of(&self.inner)?
            .delete_expired_batch(max)
            .await
    }
}

#[async_trait]
impl<S: SessionStore> UserIndex for CountingStore<S> {
    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.check()?;
        session_core::store::user_index_of(&self.inner)?
            .sessions_of(user)
            .await
    }
    async fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        self.check()?;
        session_core::store::user_index_of(&self.inner)?
            .delete_sessions_of(user, keep)
            .await
    }
}
