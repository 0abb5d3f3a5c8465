//! Shared pieces of the benchmarks: the three session operations, driven
//! through the real request lifecycle at any concurrency, and [`paired`],
//! which compares two operations in alternating blocks so that the
//! machine's drift cancels out.
//!
//! Run them with `cargo bench -p session-bench`; `BENCHMARKS.md` at the
//! repository root records the figures and how to read them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod http_client;
pub mod redis_server;
pub mod rotating_load;

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
    session_conformance::fixtures::finish(&request).await
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

/// What [`paired`] measured: the median time per operation of each side,
/// and the median over block pairs of `a / b`.
#[derive(Clone, Copy, Debug)]
pub struct Paired {
    /// Median time of one `a` operation, in microseconds.
    pub a_micros: f64,
    /// Median time of one `b` operation, in microseconds.
    pub b_micros: f64,
    /// Median over block pairs of (time of `a`) / (time of `b`).
    pub ratio: f64,
}

/// Times `a` against `b` in alternating blocks of `per_block` operations,
/// `blocks` blocks each (which side goes first alternates too). Comparing
/// each block with its neighbour cancels the machine's drift, which on a
/// small shared machine is as large as the differences measured.
pub async fn paired<A, FA, B, FB>(blocks: usize, per_block: u32, mut a: A, mut b: B) -> Paired
where
    A: FnMut() -> FA,
    FA: std::future::Future<Output = ()>,
    B: FnMut() -> FB,
    FB: std::future::Future<Output = ()>,
{
    async fn block<F, Fut>(per_block: u32, op: &mut F) -> f64
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let start = Instant::now();
        for _ in 0..per_block {
            op().await;
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(per_block)
    }
    let (mut times_a, mut times_b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..blocks {
        let (ta, tb) = if i % 2 == 0 {
            let ta = block(per_block, &mut a).await;
            (ta, block(per_block, &mut b).await)
        } else {
            let tb = block(per_block, &mut b).await;
            (block(per_block, &mut a).await, tb)
        };
        times_a.push(ta);
        times_b.push(tb);
        ratios.push(ta / tb);
    }
    Paired {
        a_micros: median(times_a),
        b_micros: median(times_b),
        ratio: median(ratios),
    }
}

/// The middle value of `v` (the upper one of an even count; NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
