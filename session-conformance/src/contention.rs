//! Sustained contention on one session: many requests writing their own
//! keys of the same session at once, for seconds, as a busy single-page
//! app does. Every write lands, and no request fails: conflicts are
//! merged and retried (with a growing, jittered pause), and an engine's
//! own lock conflicts are retried inside the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::SessionStore;
use tokio::task::JoinSet;

use crate::store::{manager, request};

const WRITERS: usize = 16;
const FOR: Duration = Duration::from_secs(2);

/// Many tasks write their own keys of one session for a few seconds:
/// every request succeeds and every task's last write is in the session.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::sustained_writes_to_one_session_all_land(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn sustained_writes_to_one_session_all_land<S: SessionStore>(store: S) {
    let manager = manager(store);
    let cookie = Arc::new(
        request(&manager, None, |s| s.insert("seed", 0).expect("insert"))
            .await
            .expect("cookie"),
    );
    let until = Instant::now() + FOR;
    let mut tasks = JoinSet::new();
    for writer in 0..WRITERS {
        let (manager, cookie) = (manager.clone(), cookie.clone());
        tasks.spawn(async move {
            let mut written = 0u64;
            while Instant::now() < until {
                written += 1;
                let request = manager.request([cookie.as_str()]);
                let session = request.load().await.unwrap_or_else(|e| {
                    panic!("writer {writer}: a load failed under contention: {e}")
                });
                // One request in four writes; the others only read.
                if written.is_multiple_of(4) {
                    session
                        .insert(&format!("w{writer}"), written)
                        .expect("insert");
                }
                let response = request.finish(200).await.unwrap_or_else(|e| {
                    panic!("writer {writer}: a save failed under contention: {e}")
                });
                assert!(
                    !response.ended_concurrently,
                    "writer {writer} was told the session ended"
                );
            }
            (writer, written - written % 4)
        });
    }
    let mut last = vec![0u64; WRITERS];
    while let Some(done) = tasks.join_next().await {
        let (writer, value) = done.expect("writer task");
        last[writer] = value;
    }
    let session = manager
        .request([cookie.as_str()])
        .load()
        .await
        .expect("load");
    let mut landed: Vec<u64> = (0..WRITERS)
        .map(|w| {
            session
                .get::<u64>(&format!("w{w}"))
                .ok()
                .flatten()
                .unwrap_or(0)
        })
        .collect();
    // Tasks finish in any order: compare the multisets.
    landed.sort_unstable();
    last.sort_unstable();
    assert_eq!(landed, last, "writes were lost under contention");
}
