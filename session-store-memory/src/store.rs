//! [`MemoryStore`] and its mapping of the store contract onto the shards.

use std::sync::Arc;
use std::time::Duration;

use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, UserIndex,
    async_trait, now,
};

use crate::shard::{Inner, SHARDS, index_of, move_expiry, read, write};
use crate::{MemoryStoreBuilder, WhenFull};

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
    pub(crate) inner: Arc<Inner>,
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
        let records: Vec<_> = self
            .inner
            .shards
            .iter()
            .flat_map(|lock| {
                let shard = read(lock);
                let records = shard.records.values();
                records
                    .map(|r| (r.expires_at, r.user.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(StoreStats::count(now(), records, top_users))
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
        let keys = inner.keys_of(user);
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
        let keys = inner.keys_of(user);
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
