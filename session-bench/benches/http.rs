//! HTTP load on loopback: axum with no sessions, with our session layer
//! (a route that ignores the session, one that reads it, one that writes
//! it) and with tower-sessions doing the same (also with its cookies
//! signed, as ours always are), all measured in one run.
//!
//! Each scenario gets its own server; a client runs `CONNECTIONS`
//! concurrent request loops, each with its own session, for `SECONDS`.
//! With `HTTP_SCENARIOS=0,8,9` (indexes as `--names` lists them) only
//! those scenarios run, the bare handler always among them: more rounds
//! of a few scenarios in the same time, for a closer look at one gap.
//! Scenarios are interleaved over `ROUNDS` rounds (`HTTP_ROUNDS` overrides
//! it; in alternating order) and medians are reported, so drift on the
//! machine hits all alike.
//! Besides throughput, the server thread's own CPU time per request is
//! reported: it does not depend on whether the client or the server is
//! the bottleneck.
//!
//! `cargo bench -p session-bench --bench http`
//!
//! With `HTTP_ONLY=N` it serves only scenario N, sends `HTTP_REQUESTS`
//! requests (default 10 000) and exits, printing nothing: under
//! `valgrind --tool=callgrind --separate-threads=yes`, the server thread's
//! instruction count at two request counts, subtracted, is what a request
//! costs the server in user space, a figure this machine's speed does not
//! move (`instructions.sh` beside this file does it for every scenario).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scenarios::App;
use session_bench::http_client::request;
use tokio::io::BufReader;
use tokio::net::TcpStream;

const CONNECTIONS: usize = 32;
const SECONDS: f64 = 0.5;
/// Rounds when `HTTP_ROUNDS` does not say.
const ROUNDS: usize = 41;

mod scenarios;

/// Starts every scenario's server on one thread (a current-thread
/// runtime), and returns their addresses and a way to ask that thread how
/// much CPU time it has used.
fn serve(apps: Vec<App>) -> (Vec<SocketAddr>, ServerCpu) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut addrs = Vec::new();
            for app in apps {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addrs.push(listener.local_addr().unwrap());
                tokio::spawn(app.serve(listener));
            }
            let (ask, mut asked) =
                tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Sender<Duration>>();
            tx.send((addrs, ServerCpu(ask))).unwrap();
            // Answered on the server thread itself, so the reading is its own.
            while let Some(reply) = asked.recv().await {
                let _ = reply.send(thread_cpu_time());
            }
        });
    });
    rx.recv().unwrap()
}

/// Asks the server thread for its CPU time so far.
struct ServerCpu(tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<Duration>>);

impl ServerCpu {
    async fn read(&self) -> Duration {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.0.send(reply).unwrap();
        answer.await.unwrap()
    }
}

/// CPU time (user and kernel) of the calling thread, from Linux's
/// `/proc/thread-self/schedstat`; zero where that file does not exist.
fn thread_cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// A keep-alive connection with a session of its own.
struct Client {
    conn: BufReader<TcpStream>,
    cookie: Option<String>,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to `addr` and starts a session (`GET /init`).
    async fn start(addr: SocketAddr) -> Self {
        let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
        conn.get_ref().set_nodelay(true).unwrap();
        let mut buf = Vec::with_capacity(256);
        let (status, cookie) = request(&mut conn, "/init", None, &mut buf).await;
        assert_eq!(status, 200);
        Client { conn, cookie, buf }
    }

    /// One `GET /` with the session's cookie; checks for a 200.
    async fn get(&mut self) {
        let (status, _) = request(&mut self.conn, "/", self.cookie.as_deref(), &mut self.buf).await;
        assert_eq!(status, 200);
    }
}

/// One scenario's measurement: requests per second, and the server's CPU
/// time per request.
struct Measured {
    rps: f64,
    cpu_per_request: Duration,
}

/// Loads `addr` for `SECONDS` from `CONNECTIONS` keep-alive connections,
/// each with its own session.
async fn load(addr: SocketAddr, server: &ServerCpu) -> Measured {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(tokio::sync::Barrier::new(CONNECTIONS + 1));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (done, stop, ready) = (done.clone(), stop.clone(), ready.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::start(addr).await;
            ready.wait().await;
            while !stop.load(Ordering::Relaxed) {
                client.get().await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Connections and sessions are set up before the clock starts.
    ready.wait().await;
    let (start, cpu_start, done_start) = (
        Instant::now(),
        server.read().await,
        done.load(Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_secs_f64(SECONDS)).await;
    let count = done.load(Ordering::Relaxed) - done_start;
    let cpu = server.read().await - cpu_start;
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    Measured {
        rps: count as f64 / elapsed,
        cpu_per_request: cpu / u32::try_from(count.max(1)).unwrap_or(u32::MAX),
    }
}

/// Sends `requests` requests to `addr` over `CONNECTIONS` keep-alive
/// connections (each with its own session) and stops: a fixed amount of
/// work, for counting the server's instructions (see the module docs).
async fn send(addr: SocketAddr, requests: usize) {
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let mut client = Client::start(addr).await;
            for _ in 0..requests / CONNECTIONS {
                client.get().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// The median over rounds of `f(round's figures)`: a comparison made
/// within each round (seconds apart), so that the machine's slow and fast
/// phases, which shift whole rounds by 20% here, cancel out.
fn paired(rounds: &[Vec<f64>], f: impl Fn(&[f64]) -> f64) -> f64 {
    session_bench::median(rounds.iter().map(|r| f(r)).collect())
}

/// The scenarios `HTTP_SCENARIOS` names (all of them when it is unset),
/// in index order, the bare handler always included.
fn selected(count: usize) -> Vec<usize> {
    let Ok(list) = std::env::var("HTTP_SCENARIOS") else {
        return (0..count).collect();
    };
    let mut picked: Vec<usize> = list
        .split(',')
        .map(|i| i.trim().parse().expect("HTTP_SCENARIOS lists indexes"))
        .inspect(|&i| assert!(i < count, "no scenario {i}; `--names` lists them"))
        .chain([scenarios::BARE])
        .collect();
    picked.sort_unstable();
    picked.dedup();
    picked
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut scenarios = scenarios::scenarios();
    if std::env::args().any(|a| a == "--names") {
        for (name, _) in &scenarios {
            println!("{name}");
        }
        return;
    }
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(only) = std::env::var("HTTP_ONLY") {
        let app = scenarios.swap_remove(only.parse().expect("HTTP_ONLY is an index"));
        let requests = std::env::var("HTTP_REQUESTS")
            .map_or(10_000, |n| n.parse().expect("HTTP_REQUESTS is a number"));
        // The server thread runs as long as its `ServerCpu` lives.
        let (addrs, _server) = serve(vec![app.1]);
        client.block_on(send(addrs[0], requests));
        return;
    }
    let names: Vec<String> = scenarios.iter().map(|(n, _)| n.clone()).collect();
    let (addrs, server) = serve(scenarios.into_iter().map(|(_, r)| r).collect());
    // Per round, per scenario: requests/s and server CPU µs per request.
    let rounds = std::env::var("HTTP_ROUNDS")
        .map_or(ROUNDS, |n| n.parse().expect("HTTP_ROUNDS is a number"));
    let mut rps = vec![vec![0.0; names.len()]; rounds];
    let mut cpu = vec![vec![0.0; names.len()]; rounds];
    let selected = selected(names.len());
    for round in 0..rounds {
        // Alternate the order, so that no scenario always runs first or last.
        let order: Vec<usize> = if round % 2 == 0 {
            selected.clone()
        } else {
            selected.iter().rev().copied().collect()
        };
        for i in order {
            let m = client.block_on(load(addrs[i], &server));
            let micros = m.cpu_per_request.as_secs_f64() * 1e6;
            eprintln!(
                "round {round:>2}: {:<42} {:>9.0} req/s {micros:>6.2} µs server CPU/request",
                names[i], m.rps
            );
            rps[round][i] = m.rps;
            cpu[round][i] = micros;
        }
    }
    let bare = scenarios::BARE;
    println!(
        "\nMedians over {rounds} rounds; the last two columns compare with the bare handler \
         within each round.\n\n\
         | scenario | requests/s | server CPU µs/request | throughput lost | server CPU added |\n\
         |---|---|---|---|---|"
    );
    for (i, name) in names.iter().enumerate() {
        if !selected.contains(&i) {
            continue;
        }
        println!(
            "| {name} | {:.0} | {:.2} | {:.1}% | {:+.2} µs ({:+.1}%) |",
            paired(&rps, |r| r[i]),
            paired(&cpu, |r| r[i]),
            paired(&rps, |r| (1.0 - r[i] / r[bare]) * 100.0),
            paired(&cpu, |r| r[i] - r[bare]),
            paired(&cpu, |r| (r[i] / r[bare] - 1.0) * 100.0),
        );
    }
    println!();
    for (install, ours, theirs) in [
        ("Router::layer", scenarios::OURS, scenarios::THEIRS),
        (
            "around the router",
            scenarios::OURS_AROUND,
            scenarios::THEIRS_AROUND,
        ),
        (
            "around the router, theirs signing cookies",
            scenarios::OURS_AROUND,
            scenarios::THEIRS_SIGNED_AROUND,
        ),
        (
            "around the router, theirs with a cookie as long as ours",
            scenarios::OURS_AROUND,
            scenarios::THEIRS_AS_LONG_AROUND,
        ),
    ] {
        for (what, i) in [("reads ", 1), ("writes", 2)] {
            let (ours, theirs) = (ours[i], theirs[i]);
            if !(selected.contains(&ours) && selected.contains(&theirs)) {
                continue;
            }
            println!(
                "{install}, {what}: ours / tower-sessions throughput {:.2}x; \
                 their server CPU per request / ours {:.2}x; \
                 their CPU over bare / ours {:.2}x",
                paired(&rps, |r| r[ours] / r[theirs]),
                paired(&cpu, |r| r[theirs] / r[ours]),
                paired(&cpu, |r| (r[theirs] - r[bare]) / (r[ours] - r[bare])),
            );
        }
    }
}
