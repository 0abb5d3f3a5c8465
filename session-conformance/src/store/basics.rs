//! Cases on the basic operations: load, create, compare-and-swap update
//! and delete.

use session_core::time::Duration;
use session_core::{IdFormat, SessionId, SessionStore, StoreError, now};

use super::{assert_same, fresh_key, next, record};

/// `load` of a key that was never stored answers `None`.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::load_of_a_missing_key_is_none(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn load_of_a_missing_key_is_none<S: SessionStore>(store: S) {
    let got = store
        .load(&fresh_key())
        .await
        .expect("load of a missing key must not fail");
    assert!(got.is_none(), "load of a missing key returned a record");
}

/// `create` stores every field and `load` gives back exactly that record.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::create_then_load_gives_back_the_same_record(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn create_then_load_gives_back_the_same_record<S: SessionStore>(store: S) {
    let key = fresh_key();
    let rec = record(
        &key,
        br#"{"user_id":123}"#,
        Duration::hours(1),
        Some("ü-user@example.com"),
    );
    store.create(&rec).await.expect("create");
    let loaded = store
        .load(&key)
        .await
        .expect("load")
        .expect("the created record must load");
    assert_same(
        Some(&loaded),
        Some(&rec),
        "load must give back exactly what create stored",
    );
    let anonymous = record(&fresh_key(), b"{}", Duration::hours(1), None);
    store
        .create(&anonymous)
        .await
        .expect("create without a user");
    assert_same(
        store.load(&anonymous.key).await.expect("load").as_ref(),
        Some(&anonymous),
        "a record without a user must load as created",
    );
}

/// `create` of an existing live key fails with `Duplicate` and overwrites nothing.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::create_refuses_a_duplicate_and_keeps_the_original(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn create_refuses_a_duplicate_and_keeps_the_original<S: SessionStore>(store: S) {
    let key = fresh_key();
    let original = record(&key, b"original", Duration::hours(1), None);
    store.create(&original).await.expect("create");
    let intruder = record(&key, b"intruder", Duration::hours(2), Some("mallory"));
    match store.create(&intruder).await {
        Err(StoreError::Duplicate) => {}
        other => panic!("create of an existing key must fail with Duplicate, got {other:?}"),
    }
    let loaded = store
        .load(&key)
        .await
        .expect("load")
        .expect("original still there");
    assert_same(
        Some(&loaded),
        Some(&original),
        "a refused create must not change the stored record",
    );
}

/// Data is opaque bytes (any byte value, tens of KiB) and keys of both ID
/// formats work.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::arbitrary_bytes_and_keys_round_trip(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn arbitrary_bytes_and_keys_round_trip<S: SessionStore>(store: S) {
    let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for key in [
        fresh_key(),
        SessionId::generate_in(IdFormat::Django).store_key(),
    ] {
        let rec = record(&key, &data, Duration::hours(1), None);
        store.create(&rec).await.expect("create of binary data");
        let loaded = store.load(&key).await.expect("load").expect("record");
        assert!(
            loaded.data == data,
            "binary data changed on its way through the store"
        );
    }
}

/// `update` with the stored version replaces the record.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::update_with_the_expected_version_replaces(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn update_with_the_expected_version_replaces<S: SessionStore>(store: S) {
    let key = fresh_key();
    let v1 = record(&key, b"one", Duration::hours(1), None);
    store.create(&v1).await.expect("create");
    let mut v2 = next(&v1, b"two");
    v2.expires_at = v1.expires_at + Duration::hours(1);
    v2.user = Some("alice".into());
    store
        .update(&v2, 1)
        .await
        .expect("update with the right version");
    assert_same(
        store.load(&key).await.expect("load").as_ref(),
        Some(&v2),
        "load must give back what the update stored",
    );
    let v3 = next(&v2, b"three");
    store.update(&v3, 2).await.expect("second update");
    assert_eq!(
        store.load(&key).await.expect("load").map(|r| r.version),
        Some(3)
    );
}

/// `update` with any other version fails with `Conflict` and changes nothing.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::update_with_a_stale_version_conflicts(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn update_with_a_stale_version_conflicts<S: SessionStore>(store: S) {
    let key = fresh_key();
    let v1 = record(&key, b"one", Duration::hours(1), None);
    store.create(&v1).await.expect("create");
    let v2 = next(&v1, b"two");
    store.update(&v2, 1).await.expect("update");
    let stale = next(&v1, b"stale");
    for expected in [1, 3, 0] {
        match store.update(&stale, expected).await {
            Err(StoreError::Conflict) => {}
            other => panic!(
                "update expecting version {expected} of a version-2 record must conflict, got {other:?}"
            ),
        }
    }
    assert_same(
        store.load(&key).await.expect("load").as_ref(),
        Some(&v2),
        "a conflicting update changed the record",
    );
}

/// `update` of a key that was never stored fails with `NotFound` and creates nothing.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::update_of_a_missing_record_does_not_create_it(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn update_of_a_missing_record_does_not_create_it<S: SessionStore>(store: S) {
    let key = fresh_key();
    let rec = record(&key, b"x", Duration::hours(1), None);
    match store.update(&next(&rec, b"y"), 1).await {
        Err(StoreError::NotFound) => {}
        other => panic!("update of a missing record must fail with NotFound, got {other:?}"),
    }
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "update created a record"
    );
}

/// A deleted session is never recreated by a late `update`.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::update_after_delete_does_not_resurrect(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn update_after_delete_does_not_resurrect<S: SessionStore>(store: S) {
    let key = fresh_key();
    let v1 = record(&key, b"one", Duration::hours(1), None);
    store.create(&v1).await.expect("create");
    store.delete(&key).await.expect("delete");
    match store.update(&next(&v1, b"late"), 1).await {
        Err(StoreError::NotFound) => {}
        other => panic!("update after delete must fail with NotFound, got {other:?}"),
    }
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "a deleted session came back"
    );
}

/// An expired record cannot be updated back to life.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::update_of_an_expired_record_is_not_found(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn update_of_an_expired_record_is_not_found<S: SessionStore>(store: S) {
    let key = fresh_key();
    let v1 = record(&key, b"one", Duration::seconds(-5), None);
    store
        .create(&v1)
        .await
        .expect("create of an expired record");
    let mut v2 = next(&v1, b"two");
    v2.expires_at = now() + Duration::hours(1);
    match store.update(&v2, 1).await {
        Err(StoreError::NotFound) => {}
        other => panic!("update of an expired record must fail with NotFound, got {other:?}"),
    }
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "an expired session came back"
    );
}

/// `delete` removes the record; deleting a missing key succeeds.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::delete_removes_and_tolerates_missing(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn delete_removes_and_tolerates_missing<S: SessionStore>(store: S) {
    let key = fresh_key();
    store
        .create(&record(&key, b"x", Duration::hours(1), None))
        .await
        .expect("create");
    store.delete(&key).await.expect("delete");
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "deleted record still loads"
    );
    store
        .delete(&key)
        .await
        .expect("deleting a deleted record must succeed");
    store
        .delete(&fresh_key())
        .await
        .expect("deleting a never-stored key must succeed");
    // The key is free again.
    store
        .create(&record(&key, b"again", Duration::hours(1), None))
        .await
        .expect("create after delete");
}
