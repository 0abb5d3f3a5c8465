//! Building blocks for the manager and for stores: reaching the optional
//! parts of a store, sweeping in steps, rotating in steps where an engine
//! cannot do it in one.

use time::OffsetDateTime;

use super::{Maintenance, SessionStore, StoreError, UserIndex};
use crate::{Record, StoreKey};

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
