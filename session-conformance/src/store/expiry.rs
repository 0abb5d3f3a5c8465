//! Cases on expiry: expired records, touch, and sweeping.

use session_core::time::Duration;
use session_core::{Record, SessionStore, StoreError, StoreKey, now};

use super::{fresh_key, next, record, sleep_until};

/// `load` never returns a record whose expiry has passed.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::expired_records_do_not_load(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn expired_records_do_not_load<S: SessionStore>(store: S) {
    let key = fresh_key();
    store
        .create(&record(&key, b"old", Duration::seconds(-1), None))
        .await
        .expect("create");
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "an expired record loaded"
    );
}

/// A record loads until its `expires_at` and not after.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::records_expire_at_their_instant(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn records_expire_at_their_instant<S: SessionStore>(store: S) {
    let key = fresh_key();
    let rec = record(&key, b"short", Duration::seconds(2), None);
    store.create(&rec).await.expect("create");
    assert!(
        store.load(&key).await.expect("load").is_some(),
        "a live record did not load"
    );
    sleep_until(rec.expires_at + Duration::milliseconds(1200)).await;
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "a record loaded after its expiry"
    );
}

/// `touch` moves the expiry and leaves data, version and creation time alone.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::touch_extends_expiry_without_rewriting_data(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn touch_extends_expiry_without_rewriting_data<S: SessionStore>(store: S) {
    let key = fresh_key();
    let rec = record(&key, b"payload", Duration::seconds(2), Some("alice"));
    store.create(&rec).await.expect("create");
    let later = now() + Duration::hours(1);
    store.touch(&key, later).await.expect("touch");
    let loaded = store.load(&key).await.expect("load").expect("record");
    assert_eq!(
        loaded,
        Record {
            expires_at: later,
            ..rec.clone()
        },
        "touch changed more than the expiry"
    );
    sleep_until(rec.expires_at + Duration::milliseconds(1200)).await;
    assert!(
        store.load(&key).await.expect("load").is_some(),
        "touch did not extend the expiry"
    );
    // The version did not move, so an update based on the loaded record works.
    store
        .update(&next(&rec, b"after touch"), 1)
        .await
        .expect("update after touch");
}

/// `touch` of a missing or expired record fails with `NotFound` and creates nothing.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::touch_of_a_missing_or_expired_record_is_not_found(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn touch_of_a_missing_or_expired_record_is_not_found<S: SessionStore>(store: S) {
    let missing = fresh_key();
    match store.touch(&missing, now() + Duration::hours(1)).await {
        Err(StoreError::NotFound) => {}
        other => panic!("touch of a missing record must fail with NotFound, got {other:?}"),
    }
    assert!(
        store.load(&missing).await.expect("load").is_none(),
        "touch created a record"
    );
    let expired = fresh_key();
    store
        .create(&record(&expired, b"x", Duration::seconds(-5), None))
        .await
        .expect("create");
    match store.touch(&expired, now() + Duration::hours(1)).await {
        Err(StoreError::NotFound) => {}
        other => panic!("touch of an expired record must fail with NotFound, got {other:?}"),
    }
    assert!(
        store.load(&expired).await.expect("load").is_none(),
        "touch revived an expired record"
    );
}

/// `delete_expired` removes the expired records, counts them, and keeps the
/// live ones. Stores with native expiry may count zero.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::delete_expired_removes_only_expired_records(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn delete_expired_removes_only_expired_records<S: SessionStore>(store: S) {
    let expired: Vec<StoreKey> = (0..3).map(|_| fresh_key()).collect();
    let live: Vec<StoreKey> = (0..2).map(|_| fresh_key()).collect();
    for key in &expired {
        store
            .create(&record(key, b"old", Duration::seconds(-30), Some("u")))
            .await
            .expect("create");
    }
    for key in &live {
        store
            .create(&record(key, b"new", Duration::hours(1), Some("u")))
            .await
            .expect("create");
    }
    let removed = store.delete_expired().await.expect("delete_expired");
    if store.expires_natively() {
        assert!(
            removed <= 3,
            "delete_expired counted {removed} records, but only 3 had expired"
        );
    } else {
        assert_eq!(
            removed, 3,
            "delete_expired must count the 3 expired records"
        );
    }
    for key in &live {
        assert!(
            store.load(key).await.expect("load").is_some(),
            "delete_expired removed a live record"
        );
    }
    assert_eq!(
        store.delete_expired().await.expect("second sweep"),
        0,
        "a second sweep found more"
    );
    if store.user_index().is_some() {
        assert_eq!(
            crate::index(&store)
                .sessions_of("u")
                .await
                .expect("sessions_of")
                .len(),
            2
        );
    }
}

/// Sweeping in batches removes every expired record, and nothing else.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::delete_expired_batches_add_up(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn delete_expired_batches_add_up<S: SessionStore>(store: S) {
    for _ in 0..5 {
        store
            .create(&record(&fresh_key(), b"old", Duration::seconds(-30), None))
            .await
            .expect("create");
    }
    let live = fresh_key();
    store
        .create(&record(&live, b"new", Duration::hours(1), None))
        .await
        .expect("create");
    let mut total = 0;
    for _ in 0..10 {
        let removed = session_core::store::sweep_step(&store, 2)
            .await
            .expect("delete_expired_batch");
        if removed == 0 {
            break;
        }
        total += removed;
    }
    if !store.expires_natively() {
        assert_eq!(total, 5, "batches must add up to the 5 expired records");
    }
    assert_eq!(
        session_core::store::sweep_step(&store, 2)
            .await
            .expect("sweep"),
        0
    );
    assert!(
        store.load(&live).await.expect("load").is_some(),
        "a batch removed a live record"
    );
}
