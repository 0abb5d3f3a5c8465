//! A store wrapper that delays operations at random, to shake out races.

use super::*;

/// The store under test, pausing before and after operations as the seed
/// says, and recording every write it accepted.
pub(super) struct Shaken<S> {
    pub(super) inner: Arc<S>,
    pub(super) start: Instant,
    pub(super) rng: Mutex<StdRng>,
    pub(super) writes: Mutex<Vec<Write>>,
}

impl<S: SessionStore> Shaken<S> {
    async fn pause(&self) {
        let micros = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            rng.random_bool(0.3).then(|| rng.random_range(50..1500))
        };
        if let Some(micros) = micros {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
    }

    async fn write<F: Future<Output = Result<(), StoreError>>>(
        &self,
        op: &'static str,
        record: &Record,
        run: F,
    ) -> Result<(), StoreError> {
        self.pause().await;
        let begun = self.start.elapsed();
        let result = run.await;
        let done = self.start.elapsed();
        self.pause().await;
        if result.is_ok() && record.expires_at > OffsetDateTime::UNIX_EPOCH {
            let decoded = JsonCodec.decode(&record.data).unwrap_or_default();
            let data = decoded
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            self.writes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Write {
                    op,
                    key: record.key.clone(),
                    at: (begun, done),
                    data,
                    // A bound session keeps its binding in the record's
                    // user (with a user index, not in the data too).
                    raw_empty: decoded.is_empty() && record.user.is_none(),
                });
        }
        result
    }

    async fn around<T, F: Future<Output = T>>(&self, run: F) -> T {
        self.pause().await;
        let result = run.await;
        self.pause().await;
        result
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for Shaken<S> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.around(self.inner.load(key)).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.write("create", record, self.inner.create(record))
            .await
    }
    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        self.write(
            "update",
            record,
            self.inner.update(record, expected_version),
        )
        .await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.around(self.inner.delete(key)).await
    }
    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        self.write("rotate", new, self.inner.rotate(old, expected_version, new))
            .await
    }
    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        self.around(self.inner.touch(key, expires_at)).await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.around(self.inner.delete_expired()).await
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
impl<S: SessionStore> Maintenance for Shaken<S> {
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        session_core::store::maintenance_of(&self.inner)?
            .stats(top_users)
            .await
    }
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        session_core::store::maintenance_of(&self.inner)?
            .delete_expired_batch(max)
            .await
    }
}

#[async_trait]
impl<S: SessionStore> UserIndex for Shaken<S> {
    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.around(session_core::store::user_index_of(&self.inner)?.sessions_of(user))
            .await
    }
    async fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        self.around(session_core::store::user_index_of(&self.inner)?.delete_sessions_of(user, keep))
            .await
    }
}
