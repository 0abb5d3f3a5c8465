//! Shared pieces of the store benchmarks: the three session operations,
//! driven through the real request lifecycle, at any concurrency.
//!
//! Run them with `cargo bench -p session-bench`; `BENCHMARKS.md` at the
//! repository root records the figures and how to read them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{KeyRing, SessionManager, SessionStore};

/// Session data of a realistic size: a user, a name and a small cart.
pub fn fill(session: &session_core::Session, n: u64) {
    session.insert("user_id", 123).expect("insert");
    session.insert("username", "john_doe").expect("insert");
    session
        .insert(
            "cart",
            (0..8).map(|i| format!("SKU-{i:04}")).collect::<Vec<_>>(),
        )
        .expect("insert");
    session.insert("counter", n).expect("insert");
}

/// A manager over `store` with a fixed key.
pub fn manager(store: impl SessionStore) -> SessionManager {
    SessionManager::new(store, KeyRing::new([7u8; 32]).expect("key"))
}

/// Creates one session; returns its cookie.
pub async fn create(manager: &SessionManager, n: u64) -> String {
    let request = manager.request(None);
    fill(&request.load().await.expect("load"), n);
    request
        .finish(200)
        .await
        .expect("finish")
        .cookie_pair
        .expect("cookie")
}

/// Loads the session of `cookie` and reads it.
pub async fn load(manager: &SessionManager, cookie: &str) {
    let request = manager.request([cookie]);
    let session = request.load().await.expect("load");
    assert!(
        session.get::<u64>("user_id").expect("get").is_some(),
        "benchmark session vanished"
    );
    request.finish(200).await.expect("finish");
}

/// Loads the session of `cookie`, changes one key and saves it.
pub async fn load_modify_save(manager: &SessionManager, cookie: &str, n: u64) {
    let request = manager.request([cookie]);
    request
        .load()
        .await
        .expect("load")
        .insert("counter", n)
        .expect("insert");
    request.finish(200).await.expect("finish");
}

/// Runs `op(task, i)` `iters` times in total, split over `tasks` concurrent
/// tasks, and returns the wall time taken.
pub async fn concurrently<F, Fut>(tasks: u64, iters: u64, op: F) -> Duration
where
    F: Fn(u64, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let per_task = iters.div_ceil(tasks);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                for i in 0..per_task {
                    op(t, i).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("benchmark task");
    }
    start.elapsed()
}
