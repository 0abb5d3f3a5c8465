//! Cases on concurrent writers, a logout racing a write, and a new ID.

use std::sync::Arc;

use session_core::time::Duration;
use session_core::{Record, SessionStore, StoreError};
use tokio::sync::{Barrier, Notify};
use tokio::task::JoinSet;

use super::{assert_same, fresh_key, manager, next, record, request};

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
    logout.load().await.expect("load").end();
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

/// Many saves of many sessions at once each get their own answer, however
/// the store groups them: a save over the stored version lands, one over
/// another version is a conflict (of two saves over the same version,
/// exactly one lands), and one of a session that is gone is not found and
/// creates nothing.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::concurrent_saves_each_get_their_own_answer(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn concurrent_saves_each_get_their_own_answer<S: SessionStore>(store: S) {
    const SESSIONS: usize = 30;
    let store = Arc::new(store);
    let records: Vec<Record> = (0..SESSIONS)
        .map(|_| record(&fresh_key(), b"{}", Duration::hours(1), None))
        .collect();
    for r in &records {
        store.create(r).await.expect("create");
    }
    // A third of the sessions are gone before the saves.
    for r in records.iter().step_by(3) {
        store.delete(&r.key).await.expect("delete");
    }
    // Two saves per session: over version 1 both (a race), or over version
    // 1 and over version 7 (stale), as `i % 3` says.
    let saves: Vec<(usize, Record, u64)> = (0..SESSIONS)
        .flat_map(|i| {
            let r = &records[i];
            let second = if i % 3 == 1 { 1 } else { 7 };
            [
                (i, next(r, format!("{i}-a").as_bytes()), 1),
                (i, next(r, format!("{i}-b").as_bytes()), second),
            ]
        })
        .collect();
    let barrier = Arc::new(Barrier::new(saves.len()));
    let mut tasks = JoinSet::new();
    for (n, (i, save, expected)) in saves.iter().cloned().enumerate() {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        tasks.spawn(async move {
            barrier.wait().await;
            (n, i, store.update(&save, expected).await)
        });
    }
    let mut answers: Vec<Option<Result<(), StoreError>>> = saves.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (n, _, answer) = done.expect("a save task");
        answers[n] = Some(answer);
    }
    for i in 0..SESSIONS {
        let (a, b) = (&answers[2 * i], &answers[2 * i + 1]);
        let stored = store.load(&records[i].key).await.expect("load");
        match i % 3 {
            0 => {
                for answer in [a, b] {
                    assert!(
                        matches!(answer, Some(Err(StoreError::NotFound))),
                        "a save of a deleted session: {answer:?}"
                    );
                }
                assert_same(
                    stored.as_ref(),
                    None,
                    "a save brought a deleted session back",
                );
            }
            1 => {
                let won: Vec<&Record> = [(a, &saves[2 * i].1), (b, &saves[2 * i + 1].1)]
                    .into_iter()
                    .filter(|(answer, _)| matches!(answer, Some(Ok(()))))
                    .map(|(_, save)| save)
                    .collect();
                let lost = [a, b]
                    .into_iter()
                    .filter(|answer| matches!(answer, Some(Err(StoreError::Conflict))))
                    .count();
                assert!(
                    won.len() == 1 && lost == 1,
                    "two saves over one version: exactly one lands, the other conflicts ({a:?}, {b:?})"
                );
                assert_same(
                    stored.as_ref(),
                    Some(won[0]),
                    "the stored record is the winner's",
                );
            }
            _ => {
                assert!(
                    matches!(a, Some(Ok(()))),
                    "a save over the stored version: {a:?}"
                );
                assert!(
                    matches!(b, Some(Err(StoreError::Conflict))),
                    "a save over a version never stored: {b:?}"
                );
                assert_same(
                    stored.as_ref(),
                    Some(&saves[2 * i].1),
                    "the landed save is stored",
                );
            }
        }
    }
}
