//! HTTP load on loopback: axum with no sessions, with our session layer
//! (a route that ignores the session, one that reads it, one that writes
//! it) and with tower-sessions doing the same, all measured in one run.
//!
//! Each scenario gets its own server; a client runs `CONNECTIONS`
//! concurrent request loops, each with its own session, for `SECONDS`.
//! Scenarios are interleaved over `ROUNDS` rounds (in alternating order) and the median
//! throughput is reported, so drift on the machine hits all alike.
//!
//! `cargo bench -p session-bench --bench http`

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use session_axum::{Session, SessionLayer};
use session_core::{CookieConfig, KeyRing, SessionManager};
use session_store_memory::MemoryStore;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 32;
const SECONDS: f64 = 2.0;
const ROUNDS: usize = 7;

fn ours() -> SessionLayer {
    let manager = SessionManager::builder(
        MemoryStore::builder().capacity(1_000_000).build(),
        KeyRing::new([9u8; 32]).unwrap(),
    )
    .cookie(CookieConfig::new("session").secure(false))
    .build()
    .unwrap();
    SessionLayer::new(manager)
}

fn theirs() -> tower_sessions::SessionManagerLayer<tower_sessions::MemoryStore> {
    tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_secure(false)
}

/// Every server answers `/init` by storing a counter, so each client
/// connection starts with a session of its own.
fn scenarios() -> Vec<(&'static str, Router)> {
    let bare = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/init", get(|| async { "ok" }));
    let ours_init = get(|s: Session| async move {
        s.insert("counter", 0u64).unwrap();
        "ok"
    });
    let theirs_init = get(|s: tower_sessions::Session| async move {
        s.insert("counter", 0u64).await.unwrap();
        "ok"
    });
    vec![
        ("bare handler", bare),
        (
            "ours: ignores the session",
            Router::new()
                .route("/", get(|| async { "ok" }))
                .route("/init", ours_init.clone())
                .layer(ours()),
        ),
        (
            "ours: reads",
            Router::new()
                .route(
                    "/",
                    get(|s: Session| async move {
                        s.get::<u64>("counter").unwrap().unwrap_or(0).to_string()
                    }),
                )
                .route("/init", ours_init.clone())
                .layer(ours()),
        ),
        (
            "ours: writes",
            Router::new()
                .route(
                    "/",
                    get(|s: Session| async move {
                        let n = s.get::<u64>("counter").unwrap().unwrap_or(0) + 1;
                        s.insert("counter", n).unwrap();
                        n.to_string()
                    }),
                )
                .route("/init", ours_init)
                .layer(ours()),
        ),
        (
            "tower-sessions: ignores the session",
            Router::new()
                .route("/", get(|| async { "ok" }))
                .route("/init", theirs_init.clone())
                .layer(theirs()),
        ),
        (
            "tower-sessions: reads",
            Router::new()
                .route(
                    "/",
                    get(|s: tower_sessions::Session| async move {
                        s.get::<u64>("counter")
                            .await
                            .unwrap()
                            .unwrap_or(0)
                            .to_string()
                    }),
                )
                .route("/init", theirs_init.clone())
                .layer(theirs()),
        ),
        (
            "tower-sessions: writes",
            Router::new()
                .route(
                    "/",
                    get(|s: tower_sessions::Session| async move {
                        let n = s.get::<u64>("counter").await.unwrap().unwrap_or(0) + 1;
                        s.insert("counter", n).await.unwrap();
                        n.to_string()
                    }),
                )
                .route("/init", theirs_init)
                .layer(theirs()),
        ),
    ]
}

/// Starts every scenario's server on one runtime of its own.
fn serve(routers: Vec<Router>) -> Vec<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut addrs = Vec::new();
            for router in routers {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addrs.push(listener.local_addr().unwrap());
                tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            }
            tx.send(addrs).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

/// Sends one keep-alive `GET path` on `conn` and reads the answer; returns
/// the status line's code and the `Set-Cookie` value, if any. A minimal
/// HTTP/1.1 client, so that the load generator costs far less than the
/// servers it measures.
async fn request(
    conn: &mut BufReader<TcpStream>,
    path: &str,
    cookie: Option<&str>,
    buf: &mut Vec<u8>,
) -> (u16, Option<String>) {
    buf.clear();
    buf.extend_from_slice(b"GET ");
    buf.extend_from_slice(path.as_bytes());
    buf.extend_from_slice(b" HTTP/1.1\r\nHost: bench\r\n");
    if let Some(c) = cookie {
        buf.extend_from_slice(b"Cookie: ");
        buf.extend_from_slice(c.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    buf.extend_from_slice(b"\r\n");
    conn.get_mut().write_all(buf).await.unwrap();
    let mut status = 0;
    let mut length = 0usize;
    let mut set_cookie = None;
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await.unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(code) = l.strip_prefix("HTTP/1.1 ") {
            status = code[..3].parse().unwrap();
        } else if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            } else if name.eq_ignore_ascii_case("set-cookie") {
                set_cookie = value.trim().split(';').next().map(str::to_owned);
            }
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await.unwrap();
    (status, set_cookie)
}

/// Requests per second over `SECONDS`, from `CONNECTIONS` keep-alive
/// connections, each with its own session.
async fn load(addr: SocketAddr) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (done, stop) = (done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
            conn.get_ref().set_nodelay(true).unwrap();
            let mut buf = Vec::with_capacity(256);
            let (status, cookie) = request(&mut conn, "/init", None, &mut buf).await;
            assert_eq!(status, 200);
            while !stop.load(Ordering::Relaxed) {
                let (status, _) = request(&mut conn, "/", cookie.as_deref(), &mut buf).await;
                assert_eq!(status, 200);
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(SECONDS)).await;
    let count = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    count as f64 / elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scenarios = scenarios();
    let names: Vec<&str> = scenarios.iter().map(|(n, _)| *n).collect();
    let addrs = serve(scenarios.into_iter().map(|(_, r)| r).collect());
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..ROUNDS {
        // Alternate the order, so that no scenario always runs first or last.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..addrs.len()).collect()
        } else {
            (0..addrs.len()).rev().collect()
        };
        for i in order {
            let addr = &addrs[i];
            let rps = client.block_on(load(*addr));
            results[i].push(rps);
            eprintln!("round {round}: {:<38} {rps:>9.0} req/s", names[i]);
        }
    }
    let medians: Vec<f64> = results.into_iter().map(median).collect();
    println!("\n| scenario | requests/s (median of {ROUNDS}) |\n|---|---|");
    for (name, rps) in names.iter().zip(&medians) {
        println!("| {name} | {rps:.0} |");
    }
    let overhead = |i: usize| (1.0 - medians[i] / medians[0]) * 100.0;
    println!(
        "\ncost of the layer on a route that ignores the session: ours {:.1}%, tower-sessions {:.1}%",
        overhead(1),
        overhead(4)
    );
    println!(
        "reads:  ours / tower-sessions = {:.2}x",
        medians[2] / medians[5]
    );
    println!(
        "writes: ours / tower-sessions = {:.2}x",
        medians[3] / medians[6]
    );
}
