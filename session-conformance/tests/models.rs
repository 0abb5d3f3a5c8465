//! The model cases must catch stores that break the contract: each store
//! here keeps every promise but one.

use std::future::Future;

use session_conformance::block_on;
use session_conformance::store::{
    random_operations_follow_the_contract, random_requests_follow_the_session_rules,
};
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
    /// `delete` answers `Ok` and keeps the record.
    DeleteForgets,
    /// Ends nothing: `delete` keeps the record, and an `update` to an
    /// already expired record (how the manager ends a session against its
    /// version) answers `Ok` and keeps the old one.
    EndsNothing,
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
        if let Flaw::EndsNothing = self.1
            && !record.is_live_at(session_core::now())
        {
            return Ok(());
        }
        self.0.update(record, expected_version).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        match self.1 {
            Flaw::DeleteForgets | Flaw::EndsNothing => Ok(()),
            _ => self.0.delete(key).await,
        }
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

/// Runs `case` on a store with `flaw`; returns the panic message.
fn failure<F: Future<Output = ()>>(flaw: Flaw, case: fn(Flawed) -> F) -> String {
    let outcome = std::panic::catch_unwind(|| block_on(case(Flawed(MemoryStore::new(), flaw))));
    let message = outcome.expect_err(&format!("{flaw:?} passed"));
    message
        .downcast_ref::<String>()
        .expect("a formatted panic message")
        .clone()
}

#[test]
fn the_store_model_catches_every_flaw() {
    for flaw in [
        Flaw::BlindUpsert,
        Flaw::CreateOverwrites,
        Flaw::TouchIgnoresMissing,
        Flaw::DeleteForgets,
    ] {
        let message = failure(flaw, random_operations_follow_the_contract);
        assert!(
            message.contains("broke the contract") && message.contains("SESSION_TEST_SEED="),
            "{flaw:?}: {message}"
        );
    }
}

#[test]
fn the_request_model_catches_a_store_that_cannot_end_sessions() {
    let message = failure(Flaw::EndsNothing, random_requests_follow_the_session_rules);
    assert!(
        message.contains("the session rules were broken") && message.contains("SESSION_TEST_SEED="),
        "{message}"
    );
}
