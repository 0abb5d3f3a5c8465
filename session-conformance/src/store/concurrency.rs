//! Cases on concurrent writers, a logout racing a write, and a new ID.

use std::sync::Arc;

use session_core::SessionStore;
use tokio::sync::{Barrier, Notify};
use tokio::task::JoinSet;

use super::{manager, request};

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
