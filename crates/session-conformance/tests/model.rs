//! The model case must catch stores that break the contract: each store
//! here keeps every promise but one.

use session_conformance::{block_on, store::random_operations_follow_the_contract};
use session_core::time::OffsetDateTime;
use session_core::{Record, SessionStore, StoreError, StoreKey, async_trait};
use session_store_memory::MemoryStore;

#[derive(Clone, Copy, Debug)]
enum Flaw {
    /// `update` writes whatever is there, or recreates what is gone.
    BlindUpsert,
    /// `create` overwrites a live record.
    CreateOverwrites,
    /// `touch` of a missing record answers `Ok`.
    TouchIgnoresMissing,
}

struct Flawed(MemoryStore, Flaw);

#[async_trait]
impl SessionStore for Flawed {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.0.load(key).await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        if let Flaw::CreateOverwrites = self.1 {
            self.0.delete(&record.key).await?;
        }
        self.0.create(record).await
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        if let Flaw::BlindUpsert = self.1 {
            self.0.delete(&record.key).await?;
            return self.0.create(record).await;
        }
        self.0.update(record, expected_version).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.0.delete(key).await
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        match (self.0.touch(key, expires_at).await, self.1) {
            (Err(StoreError::NotFound), Flaw::TouchIgnoresMissing) => Ok(()),
            (answer, _) => answer,
        }
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.0.delete_expired().await
    }
}

#[test]
fn every_flawed_store_is_caught() {
    for flaw in [
        Flaw::BlindUpsert,
        Flaw::CreateOverwrites,
        Flaw::TouchIgnoresMissing,
    ] {
        let outcome = std::panic::catch_unwind(|| {
            block_on(random_operations_follow_the_contract(Flawed(
                MemoryStore::new(),
                flaw,
            )))
        });
        let message = outcome.expect_err(&format!("{flaw:?} passed the model case"));
        let message = message
            .downcast_ref::<String>()
            .expect("a formatted panic message");
        assert!(
            message.contains("broke the contract") && message.contains("SESSION_TEST_SEED="),
            "{flaw:?}: {message}"
        );
    }
}
