//! Load from many keep-alive connections, each request carrying the cookie
//! of the next of many sessions (rotated, as many browsers would), with
//! throughput, latency and the store's writes measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::BufReader;
use tokio::net::TcpStream;

use crate::http_client::request;

/// Makes `count` sessions on `addr` (`GET /init`, from `connections`
/// connections); returns their cookies.
pub async fn sessions(addr: SocketAddr, count: usize, connections: usize) -> Arc<Vec<String>> {
    let mut tasks = Vec::new();
    for c in 0..connections {
        tasks.push(tokio::spawn(async move {
            let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
            let mut buf = Vec::new();
            let mut cookies = Vec::new();
            for _ in (c..count).step_by(connections) {
                let (status, cookie) = request(&mut conn, "/init", None, &mut buf).await;
                assert_eq!(status, 200);
                cookies.push(cookie.expect("a new session's cookie"));
            }
            cookies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Arc::new(all)
}

/// One measurement.
pub struct Measured {
    /// Requests answered per second.
    pub rps: f64,
    /// The 99th percentile of latency.
    pub p99: Duration,
    /// Requests answered while the clock ran.
    pub requests: u64,
    /// Store writes while the clock ran.
    pub writes: usize,
    /// Every request answered, warm-up included (for Redis's CPU, which
    /// is read around the whole load).
    pub all_requests: u64,
}

/// Sends `path` to `addr` for `seconds` from `connections` keep-alive
/// connections, rotating through `cookies`, after a moment of warm-up;
/// `writes` counts the store's writes.
pub async fn load(
    addr: SocketAddr,
    path: &'static str,
    cookies: &Arc<Vec<String>>,
    seconds: f64,
    connections: usize,
    writes: &(dyn Fn() -> usize + Send + Sync),
) -> Measured {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let all = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (next, done, all, stop, counting, cookies) = (
            next.clone(),
            done.clone(),
            all.clone(),
            stop.clone(),
            counting.clone(),
            cookies.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
            conn.get_ref().set_nodelay(true).unwrap();
            let mut buf = Vec::with_capacity(256);
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let cookie = &cookies[next.fetch_add(1, Ordering::Relaxed) % cookies.len()];
                let start = Instant::now();
                let (status, _) = request(&mut conn, path, Some(cookie), &mut buf).await;
                assert_eq!(status, 200, "{path}");
                all.fetch_add(1, Ordering::Relaxed);
                if counting.load(Ordering::Relaxed) {
                    latencies.push(start.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    // A moment of warm-up, then the clock.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let writes_before = writes();
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    counting.store(false, Ordering::Relaxed);
    let wrote = writes() - writes_before;
    let elapsed = start.elapsed().as_secs_f64();
    let requests = done.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    latencies.sort_unstable();
    let p99 = latencies
        .get(latencies.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or_default();
    Measured {
        rps: requests as f64 / elapsed,
        p99,
        requests,
        writes: wrote,
        all_requests: all.load(Ordering::Relaxed),
    }
}
