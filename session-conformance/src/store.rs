//! The store cases: one async function per promise of the store contract.
//!
//! Each takes a fresh, empty store and panics with a message naming the
//! broken promise. Run them all with [`store_tests!`](crate::store_tests) or
//! [`run_all`](crate::run_all).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use session_core::time::{Duration, OffsetDateTime};
use session_core::{
    IdFormat, KeyRing, Record, Session, SessionId, SessionManager, SessionStore, StoreError,
    StoreKey, now,
};
use tokio::sync::{Barrier, Notify};
use tokio::task::JoinSet;

pub use crate::contention::sustained_writes_to_one_session_all_land;
pub use crate::history::concurrent_histories_keep_the_promises;
pub use crate::request_model::random_requests_follow_the_session_rules;
pub use crate::rotation::{
    logout_racing_a_rotation_ends_the_new_id, rotate_is_atomic_against_the_old_version,
    rotation_racing_a_write_keeps_both, rotation_racing_an_end_creates_nothing,
};
pub use crate::store_model::random_operations_follow_the_contract;

pub(crate) fn fresh_key() -> StoreKey {
    SessionId::generate().store_key()
}

pub(crate) fn record(
    key: &StoreKey,
    data: &[u8],
    expires_in: Duration,
    user: Option<&str>,
) -> Record {
    let now = now();
    Record {
        key: key.clone(),
        data: data.to_vec(),
        version: 1,
        created_at: now - Duration::seconds(10),
        expires_at: now + expires_in,
        user: user.map(str::to_owned),
    }
}

fn next(record: &Record, data: &[u8]) -> Record {
    Record {
        data: data.to_vec(),
        version: record.version + 1,
        ..record.clone()
    }
}

/// A record (or its absence) in full, data included, for a failure
/// message: `Record`'s own `Debug` shows only the data's length, which
/// would hide the difference between two records of the same size.
pub(crate) fn shown(record: Option<&Record>) -> String {
    const SHOWN: usize = 200;
    let Some(r) = record else {
        return "no record".to_owned();
    };
    let data = r.data.get(..SHOWN).unwrap_or(&r.data).escape_ascii();
    let more = if r.data.len() > SHOWN { "…" } else { "" };
    format!(
        "{{ key: {}, data: b\"{data}{more}\" ({} bytes), version: {}, created_at: {}, \
         expires_at: {}, user: {:?} }}",
        r.key,
        r.data.len(),
        r.version,
        r.created_at,
        r.expires_at,
        r.user
    )
}

/// Whether what a store holds under a rotated-out key is no session: none
/// at all, or the manager's forward (bound to nobody, no session data).
pub(crate) fn holds_no_session(record: Option<Record>) -> bool {
    record.is_none_or(|r| {
        r.user.is_none()
            && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&r.data)
                .is_ok_and(|data| data.keys().all(|k| k == "_session_moved"))
    })
}

/// Panics with `what` and both records in full unless they are equal.
fn assert_same(got: Option<&Record>, want: Option<&Record>, what: &str) {
    assert!(
        got == want,
        "{what}\n got: {}\nwant: {}",
        shown(got),
        shown(want)
    );
}

pub(crate) fn manager(store: impl SessionStore) -> SessionManager {
    SessionManager::new(store, KeyRing::new([42u8; 32]).expect("a 32-byte key"))
}

/// Runs one request with `cookie` through `manager`, letting `handler` work
/// on the session; returns the cookie to send next time (if any).
pub(crate) async fn request<F: FnOnce(&Session)>(
    manager: &SessionManager,
    cookie: Option<&str>,
    handler: F,
) -> Option<String> {
    let request = manager.request(cookie);
    let session = request.load().await.expect("load");
    handler(&session);
    let response = request.finish(200).await.expect("finish");
    response
        .cookie_pair()
        .map(str::to_owned)
        .or_else(|| cookie.map(str::to_owned))
}

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

async fn sleep_until(at: OffsetDateTime) {
    let wait = at - OffsetDateTime::now_utc();
    if wait > Duration::ZERO {
        tokio::time::sleep(StdDuration::from_millis(wait.whole_milliseconds() as u64)).await;
    }
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

/// `stats` counts live sessions, those expiring soon, and the users with
/// the most sessions (or answers `Unsupported`).
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::stats_count_live_expiring_and_users(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn stats_count_live_expiring_and_users<S: SessionStore>(store: S) {
    let cases: [(Duration, Option<&str>); 6] = [
        (Duration::days(3), Some("alice")),
        (Duration::days(3), Some("alice")),
        (Duration::minutes(30), Some("bob")),
        (Duration::hours(5), None),
        (Duration::seconds(-30), Some("alice")),
        (Duration::seconds(-30), None),
    ];
    for (expires_in, user) in cases {
        store
            .create(&record(&fresh_key(), b"{}", expires_in, user))
            .await
            .expect("create");
    }
    let Some(tools) = store.maintenance() else {
        return;
    };
    let stats = match tools.stats(10).await {
        Err(StoreError::Unsupported(_)) => return,
        other => other.expect("stats"),
    };
    assert_eq!(stats.live, 4, "{stats:?}");
    assert_eq!(stats.expiring_within_hour, 1, "{stats:?}");
    assert_eq!(stats.expiring_within_day, 2, "{stats:?}");
    match stats.expired {
        Some(n) if !store.expires_natively() => assert_eq!(n, 2, "{stats:?}"),
        Some(n) => assert!(n <= 2, "{stats:?}"),
        None => assert!(
            store.expires_natively(),
            "a store that keeps expired records must count them"
        ),
    }
    if store.user_index().is_some() {
        assert_eq!(
            stats.top_users,
            [("alice".to_owned(), 2), ("bob".to_owned(), 1)],
            "{stats:?}"
        );
        assert_eq!(tools.stats(1).await.expect("stats").top_users.len(), 1);
    }
}

/// The user index lists every session of a user whatever its key's
/// bytes: 256 native keys, each starting with another byte value (a store
/// that packs keys into its index must not mistake any for another shape),
/// and keys of other shapes and lengths.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::user_index_lists_keys_of_every_shape(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn user_index_lists_keys_of_every_shape<S: SessionStore>(store: S) {
    if store.user_index().is_none() {
        return;
    }
    let user = format!("shapes-{}", &fresh_key().as_str()[..8]);
    let mut keys: Vec<StoreKey> = (0..=255u8)
        .map(|first| StoreKey::new(format!("{first:02x}{}", &fresh_key().as_str()[2..])))
        .collect();
    let tail = fresh_key();
    keys.extend((28..=36).map(|n| StoreKey::new(&tail.as_str()[..n])));
    keys.push(StoreKey::new(format!("!{}", &tail.as_str()[..31])));
    keys.push(StoreKey::new(tail.as_str().to_uppercase()));
    for key in &keys {
        store
            .create(&record(key, b"{}", Duration::hours(1), Some(&user)))
            .await
            .expect("create");
    }
    let mut listed: Vec<StoreKey> = crate::index(&store)
        .sessions_of(&user)
        .await
        .expect("sessions_of")
        .into_iter()
        .map(|s| s.key)
        .collect();
    listed.sort();
    keys.sort();
    assert_eq!(
        listed, keys,
        "sessions_of must list every session of the user"
    );
    assert_eq!(
        crate::index(&store)
            .delete_sessions_of(&user, None)
            .await
            .expect("delete_sessions_of"),
        keys.len() as u64
    );
}

/// The user index lists a user's live sessions and ends them, sparing `keep`.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::user_index_lists_and_ends_a_users_sessions(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn user_index_lists_and_ends_a_users_sessions<S: SessionStore>(store: S) {
    if store.user_index().is_none() {
        // The manager then answers that there is none.
        match manager(store).sessions_of("alice").await {
            Err(StoreError::Unsupported(_)) => return,
            other => {
                panic!("without a user index, sessions_of must answer Unsupported, got {other:?}")
            }
        }
    }
    let alice: Vec<StoreKey> = (0..3).map(|_| fresh_key()).collect();
    for key in &alice {
        store
            .create(&record(key, b"a", Duration::hours(1), Some("alice")))
            .await
            .expect("create");
    }
    let stale = fresh_key();
    store
        .create(&record(&stale, b"a", Duration::seconds(-5), Some("alice")))
        .await
        .expect("create");
    let bob = fresh_key();
    store
        .create(&record(&bob, b"b", Duration::hours(1), Some("bob")))
        .await
        .expect("create");
    let anon = fresh_key();
    store
        .create(&record(&anon, b"n", Duration::hours(1), None))
        .await
        .expect("create");

    let mut listed: Vec<StoreKey> = crate::index(&store)
        .sessions_of("alice")
        .await
        .expect("sessions_of")
        .into_iter()
        .map(|s| s.key)
        .collect();
    listed.sort();
    let mut want = alice.clone();
    want.sort();
    assert_eq!(
        listed, want,
        "sessions_of must list exactly the user's live sessions"
    );
    let info = crate::index(&store)
        .sessions_of("bob")
        .await
        .expect("sessions_of")
        .pop()
        .expect("bob's session");
    let bob_rec = store.load(&bob).await.expect("load").expect("record");
    assert_eq!(
        (info.created_at, info.expires_at),
        (bob_rec.created_at, bob_rec.expires_at)
    );
    assert!(
        crate::index(&store)
            .sessions_of("nobody")
            .await
            .expect("sessions_of")
            .is_empty()
    );

    let ended = crate::index(&store)
        .delete_sessions_of("alice", Some(&alice[0]))
        .await
        .expect("delete_sessions_of");
    assert_eq!(
        ended, 2,
        "delete_sessions_of must count the live sessions it ended"
    );
    assert!(
        store.load(&alice[0]).await.expect("load").is_some(),
        "the kept session was ended"
    );
    for key in &alice[1..] {
        assert!(
            store.load(key).await.expect("load").is_none(),
            "a session of the user survived"
        );
    }
    assert!(
        store.load(&bob).await.expect("load").is_some(),
        "another user's session was ended"
    );
    assert!(
        store.load(&anon).await.expect("load").is_some(),
        "an anonymous session was ended"
    );
    assert_eq!(
        crate::index(&store)
            .sessions_of("alice")
            .await
            .expect("sessions_of")
            .len(),
        1
    );
    assert_eq!(
        crate::index(&store)
            .delete_sessions_of("alice", None)
            .await
            .expect("delete_sessions_of"),
        1
    );
    assert!(
        crate::index(&store)
            .sessions_of("alice")
            .await
            .expect("sessions_of")
            .is_empty()
    );
}

/// The user index follows a record's user through updates and deletes.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::user_index_follows_updates_and_deletes(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn user_index_follows_updates_and_deletes<S: SessionStore>(store: S) {
    if store.user_index().is_none() {
        return;
    }
    let key = fresh_key();
    let v1 = record(&key, b"x", Duration::hours(1), Some("alice"));
    store.create(&v1).await.expect("create");
    let v2 = Record {
        user: Some("bob".into()),
        ..next(&v1, b"y")
    };
    store.update(&v2, 1).await.expect("update");
    assert!(
        crate::index(&store)
            .sessions_of("alice")
            .await
            .expect("sessions_of")
            .is_empty(),
        "the old user still lists the session"
    );
    assert_eq!(
        crate::index(&store)
            .sessions_of("bob")
            .await
            .expect("sessions_of")
            .len(),
        1
    );
    let v3 = Record {
        user: None,
        ..next(&v2, b"z")
    };
    store.update(&v3, 2).await.expect("update");
    assert!(
        crate::index(&store)
            .sessions_of("bob")
            .await
            .expect("sessions_of")
            .is_empty(),
        "an unbound session is still listed"
    );
    let v4 = Record {
        user: Some("bob".into()),
        ..next(&v3, b"w")
    };
    store.update(&v4, 3).await.expect("update");
    store.delete(&key).await.expect("delete");
    assert!(
        crate::index(&store)
            .sessions_of("bob")
            .await
            .expect("sessions_of")
            .is_empty(),
        "a deleted session is still listed"
    );
    assert_eq!(
        crate::index(&store)
            .delete_sessions_of("bob", None)
            .await
            .expect("delete_sessions_of"),
        0
    );
}

/// 64 requests load one session at the same moment, each writes its own
/// key, and every write lands (compare-and-swap with per-key merge).
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::concurrent_writers_of_one_session_all_land(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn concurrent_writers_of_one_session_all_land<S: SessionStore>(store: S) {
    const WRITERS: usize = 64;
    let manager = manager(store);
    let cookie = request(&manager, None, |s| s.insert("seed", 0).expect("insert"))
        .await
        .expect("cookie");
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = JoinSet::new();
    for i in 0..WRITERS {
        let (manager, cookie, barrier) = (manager.clone(), cookie.clone(), barrier.clone());
        tasks.spawn(async move {
            let request = manager.request([cookie.as_str()]);
            let session = request.load().await.expect("load");
            // Everyone has loaded the same version before anyone writes.
            barrier.wait().await;
            session.insert(&format!("k{i}"), i).expect("insert");
            let response = request
                .finish(200)
                .await
                .expect("a concurrent writer's save failed");
            assert!(
                !response.ended_concurrently,
                "writer {i} was told the session ended"
            );
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer task");
    }
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.expect("load");
    let missing: Vec<usize> = (0..WRITERS)
        .filter(|i| session.get::<usize>(&format!("k{i}")).ok().flatten() != Some(*i))
        .collect();
    assert!(
        missing.is_empty(),
        "writes of these concurrent requests were lost: {missing:?}"
    );
    assert_eq!(session.get::<u32>("seed").expect("seed"), Some(0));
}

/// A logout that lands while a slow request is still working: the slow
/// request's save must not bring the session back.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::logout_racing_a_slow_write_stays_logged_out(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn logout_racing_a_slow_write_stays_logged_out<S: SessionStore>(store: S) {
    let manager = manager(store);
    let cookie = request(&manager, None, |s| {
        s.insert("user", "alice").expect("insert")
    })
    .await
    .expect("cookie");
    let key = {
        let request = manager.request([cookie.as_str()]);
        request
            .load()
            .await
            .expect("load")
            .store_key()
            .expect("stored")
    };
    let loaded = Arc::new(Notify::new());
    let logged_out = Arc::new(Notify::new());
    let slow = {
        let (manager, cookie, loaded, logged_out) = (
            manager.clone(),
            cookie.clone(),
            loaded.clone(),
            logged_out.clone(),
        );
        tokio::spawn(async move {
            let request = manager.request([cookie.as_str()]);
            let session = request.load().await.expect("load");
            loaded.notify_one();
            logged_out.notified().await;
            session.insert("cart", "late write").expect("insert");
            request.finish(200).await.expect("finish")
        })
    };
    loaded.notified().await;
    let logout = manager.request([cookie.as_str()]);
    logout.load().await.expect("load").destroy();
    let response = logout.finish(200).await.expect("logout");
    assert!(
        response
            .set_cookie
            .as_deref()
            .is_some_and(|c| c.contains("Max-Age=0")),
        "logout must delete the cookie"
    );
    logged_out.notify_one();
    let slow = slow.await.expect("slow task");
    assert!(
        slow.ended_concurrently,
        "the slow request must learn that the session ended"
    );
    assert!(
        slow.set_cookie
            .as_deref()
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the slow request must delete the cookie"
    );
    assert!(
        manager.store().load(&key).await.expect("load").is_none(),
        "a write after logout resurrected the session"
    );
    let after = manager.request([cookie.as_str()]);
    assert!(
        after.load().await.expect("load").is_empty(),
        "the old cookie still opens a session"
    );
}

/// `cycle_id` keeps the data under a new ID and the old ID stops working.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::cycle_id_retires_the_old_id(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn cycle_id_retires_the_old_id<S: SessionStore>(store: S) {
    let manager = manager(store);
    let old = request(&manager, None, |s| s.insert("cart", 3).expect("insert"))
        .await
        .expect("cookie");
    let old_key = manager
        .request([old.as_str()])
        .load()
        .await
        .expect("load")
        .store_key()
        .expect("stored");
    let new = request(&manager, Some(&old), |s| {
        s.cycle_id();
        s.set_user("alice").expect("set_user");
    })
    .await
    .expect("cookie");
    assert_ne!(new, old, "cycle_id must issue a new cookie");
    assert!(
        crate::store::holds_no_session(manager.store().load(&old_key).await.expect("load")),
        "the old record survived cycle_id"
    );
    let session = manager.request([new.as_str()]).load().await.expect("load");
    assert_eq!(
        session.get::<u32>("cart").expect("cart"),
        Some(3),
        "cycle_id lost the data"
    );
    assert_eq!(session.user().as_deref(), Some("alice"));
    assert!(
        manager
            .request([old.as_str()])
            .load()
            .await
            .expect("load")
            .is_empty(),
        "the old cookie still works"
    );
}

/// The latest expiry the core writes (the last second of 9999, what a
/// `set_expiry` of any number of seconds comes to) is kept exactly, and a
/// session given it through the manager saves, loads and stays.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::the_latest_expiry_round_trips(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn the_latest_expiry_round_trips<S: SessionStore>(store: S) {
    let latest = OffsetDateTime::from_unix_timestamp(253_402_300_799).expect("in range");
    let key = fresh_key();
    let mut rec = record(&key, b"{}", Duration::HOUR, None);
    rec.expires_at = latest;
    store.create(&rec).await.expect("create");
    let loaded = store.load(&key).await.expect("load").expect("stored");
    assert_eq!(loaded.expires_at, latest, "the latest expiry was not kept");
    store
        .touch(&key, latest)
        .await
        .expect("touch to the latest expiry");

    let manager = manager(store);
    let cookie = request(&manager, None, |s| {
        s.insert("kept", true).expect("insert");
        s.set_expiry(session_core::Expiry::AfterIdle(Duration::seconds(i64::MAX)));
    })
    .await
    .expect("cookie");
    let session = manager
        .request([cookie.as_str()])
        .load()
        .await
        .expect("load");
    assert_eq!(session.get::<bool>("kept").expect("kept"), Some(true));
    let stored = manager
        .store()
        .load(&session.store_key().expect("stored"))
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(
        stored.expires_at, latest,
        "a huge set_expiry should mean the latest expiry"
    );
}

/// The longest user ID the core writes (255 characters, here four-byte
/// ones) is kept exactly and, where the store has a user index, listed and
/// ended like any other.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::the_longest_user_id_round_trips(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn the_longest_user_id_round_trips<S: SessionStore>(store: S) {
    let user = format!(
        "{}{}",
        "😀".repeat(session_core::MAX_USER_LEN - 12),
        &fresh_key().as_str()[..12]
    );
    let key = fresh_key();
    let rec = record(&key, b"{}", Duration::HOUR, Some(&user));
    store
        .create(&rec)
        .await
        .expect("a 255-character user ID must be stored");
    let loaded = store.load(&key).await.expect("load").expect("stored");
    assert_eq!(
        loaded.user.as_deref(),
        Some(user.as_str()),
        "the user ID was not kept"
    );
    if store.user_index().is_some() {
        let listed = crate::index(&store)
            .sessions_of(&user)
            .await
            .expect("sessions_of");
        assert_eq!(
            listed.len(),
            1,
            "the session of a 255-character user ID is not listed"
        );
        assert_eq!(
            crate::index(&store)
                .delete_sessions_of(&user, None)
                .await
                .expect("delete_sessions_of"),
            1
        );
    }
    store.delete(&key).await.expect("delete");
}

/// A session of 4 MiB of arbitrary bytes (far more than any session should
/// hold) is created, updated and loaded back byte for byte.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::a_large_record_round_trips(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn a_large_record_round_trips<S: SessionStore>(store: S) {
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let key = fresh_key();
    let rec = record(&key, &data, Duration::HOUR, None);
    store.create(&rec).await.expect("create a 4 MiB record");
    let loaded = store.load(&key).await.expect("load").expect("stored");
    assert!(loaded.data == data, "a 4 MiB record came back changed");
    let mut changed = data;
    changed.reverse();
    store
        .update(&next(&rec, &changed), rec.version)
        .await
        .expect("update a 4 MiB record");
    let loaded = store.load(&key).await.expect("load").expect("stored");
    assert!(loaded.data == changed, "a 4 MiB update came back changed");
    store.delete(&key).await.expect("delete");
}

/// Many independent sessions created, read and updated in parallel.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::many_sessions_in_parallel(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn many_sessions_in_parallel<S: SessionStore>(store: S) {
    let manager = manager(store);
    let mut tasks = JoinSet::new();
    for t in 0..16 {
        let manager = manager.clone();
        tasks.spawn(async move {
            for n in 0..8 {
                let cookie = request(&manager, None, |s| s.insert("n", n).expect("insert"))
                    .await
                    .expect("cookie");
                let again = request(&manager, Some(&cookie), |s| {
                    assert_eq!(
                        s.get::<u32>("n").expect("n"),
                        Some(n),
                        "task {t} read another session's data"
                    );
                    s.insert("m", n * 2).expect("insert");
                })
                .await
                .expect("cookie");
                request(&manager, Some(&again), |s| {
                    assert_eq!(s.get::<u32>("m").expect("m"), Some(n * 2));
                })
                .await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_comparison_shows_both_records_data() {
        let key = fresh_key();
        let got = record(&key, b"original", Duration::hours(1), None);
        let want = record(&key, b"intruder", Duration::hours(1), None);
        let message = std::panic::catch_unwind(|| assert_same(Some(&got), Some(&want), "differ"))
            .expect_err("records with different data must not pass")
            .downcast::<String>()
            .expect("a formatted message");
        assert!(message.starts_with("differ\n"), "{message}");
        assert!(
            message.contains(r#"data: b"original" (8 bytes)"#),
            "{message}"
        );
        assert!(
            message.contains(r#"data: b"intruder" (8 bytes)"#),
            "{message}"
        );
        assert_same(Some(&got), Some(&got.clone()), "equal records pass");
    }

    #[test]
    fn long_data_is_cut_and_bytes_are_escaped() {
        let mut data = vec![b'a'; 300];
        data[0] = 0;
        let shown = shown(Some(&record(&fresh_key(), &data, Duration::hours(1), None)));
        assert!(
            shown.contains(&format!("b\"\\x00{}…\" (300 bytes)", "a".repeat(199))),
            "{shown}"
        );
        assert_eq!(super::shown(None), "no record");
    }
}
