//! Cases at the edges: the latest expiry, the longest user ID, a large
//! record, many sessions at once.

use session_core::SessionStore;
use session_core::time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;

use super::{fresh_key, manager, next, record, request};

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
