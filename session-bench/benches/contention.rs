//! Sustained write contention on one session, as a busy single-page app
//! makes it over HTTP/2: the demo (axum) on each engine, `CONNECTIONS`
//! keep-alive connections sharing one session cookie, three requests in
//! four `GET /api/session` and one `PUT /api/session/k{n % 50}`, for
//! `SECONDS` per engine. Prints requests, non-2xx answers by status and
//! message, and the 99th-percentile latency.
//!
//! `cargo bench -p session-bench --bench contention`
//!
//! `CONTENTION_SECONDS` (default 30), `CONTENTION_CONNECTIONS` (32) and
//! `CONTENTION_ENGINES` (comma-separated, of memory, file, sqlite,
//! postgres, mysql, redis; default all) override the defaults; engines
//! are reached at the test suites' URLs (`SESSION_TEST_*_URL`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use session_conformance::services;
use session_core::{KeyRing, SessionManager};
use session_demo::Framework;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One answer: status, the `Set-Cookie` pair if any, the body.
async fn send(
    conn: &mut BufReader<TcpStream>,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &[u8],
) -> std::io::Result<(u16, Option<String>, Vec<u8>)> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\n");
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    let stream = conn.get_mut();
    stream.write_all(request.as_bytes()).await?;
    stream.write_all(body).await?;
    let (mut status, mut length, mut set_cookie) = (0, 0usize, None);
    let mut line = String::new();
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(code) = l.strip_prefix("HTTP/1.1 ") {
            status = code[..3].parse().unwrap_or(0);
        } else if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("set-cookie") {
                set_cookie = value.trim().split(';').next().map(str::to_owned);
            }
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await?;
    Ok((status, set_cookie, body))
}

#[derive(Default)]
struct Tally {
    requests: u64,
    /// Non-2xx answers by "status message".
    errors: BTreeMap<String, u64>,
    latencies: Vec<Duration>,
}

async fn load(addr: SocketAddr, connections: usize, seconds: f64) -> Tally {
    let mut first = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let (status, cookie, _) = send(&mut first, "PUT", "/api/session/k0", None, b"0")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let cookie = Arc::new(cookie.expect("a session cookie"));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (cookie, tally) = (cookie.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
            let mut n = c;
            let mut mine = Tally::default();
            while Instant::now() < until {
                n += connections;
                let path = format!("/api/session/k{}", n % 50);
                let started = Instant::now();
                let answer = if n % 4 == 0 {
                    send(&mut conn, "PUT", &path, Some(&cookie), b"1").await
                } else {
                    send(&mut conn, "GET", "/api/session", Some(&cookie), b"").await
                };
                mine.latencies.push(started.elapsed());
                mine.requests += 1;
                match answer {
                    Ok((status, _, _)) if (200..300).contains(&status) => {}
                    Ok((status, _, body)) => {
                        let message = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["error"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
                        *mine
                            .errors
                            .entry(format!("{status} {message}"))
                            .or_default() += 1;
                    }
                    Err(e) => {
                        *mine.errors.entry(format!("connection: {e}")).or_default() += 1;
                        conn = BufReader::new(TcpStream::connect(addr).await.unwrap());
                    }
                }
            }
            let mut tally = tally.lock().unwrap();
            tally.requests += mine.requests;
            tally.latencies.extend(mine.latencies);
            for (k, v) in mine.errors {
                *tally.errors.entry(k).or_default() += v;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap()
}

fn url_of(engine: &str, dir: &std::path::Path) -> String {
    match engine {
        "memory" => "memory:".into(),
        "file" => format!("file:{}", dir.join("files").display()),
        "sqlite" => format!("sqlite:{}", dir.join("sessions.db").display()),
        "postgres" => services::url(
            "SESSION_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        ),
        "mysql" => services::url("SESSION_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
        "redis" => services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
        other => panic!("unknown engine {other}"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds: f64 = env("CONTENTION_SECONDS", 30.0);
    let connections: usize = env("CONTENTION_CONNECTIONS", 32);
    let engines: String = env(
        "CONTENTION_ENGINES",
        "memory,file,sqlite,postgres,mysql,redis".to_owned(),
    );
    println!(
        "{connections} connections on one session, 3 GET : 1 PUT, {seconds} s per engine (axum demo)\n"
    );
    println!("| engine | requests | non-2xx | p99 | what they said |");
    println!("|---|---|---|---|---|");
    for engine in engines.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let dir = std::env::temp_dir().join(services::unique_name("contention"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = url_of(engine, &dir);
        let table = services::unique_name("contention").replace('-', "_");
        let url = if engine == "postgres" || engine == "mysql" {
            format!("{url}?table={table}")
        } else if engine == "redis" {
            format!("{url}?prefix={table}:")
        } else {
            url
        };
        let server = session_demo::spawn(
            Framework::Axum,
            "127.0.0.1:0".parse().unwrap(),
            move || async move {
                let store = sessions::open_store(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                store.migrate().await.map_err(|e| e.to_string())?;
                let keys = KeyRing::new([5u8; 32]).map_err(|e| e.to_string())?;
                Ok(SessionManager::new(store, keys))
            },
        )
        .expect("the demo starts");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut tally = runtime.block_on(load(server.addr(), connections, seconds));
        server.stop();
        tally.latencies.sort();
        let p99 = tally
            .latencies
            .get(tally.latencies.len() * 99 / 100)
            .copied()
            .unwrap_or_default();
        let failed: u64 = tally.errors.values().sum();
        let said: Vec<String> = tally
            .errors
            .iter()
            .map(|(what, n)| format!("{n} × {what}"))
            .collect();
        println!(
            "| {engine} | {} | {failed} | {:.1} ms | {} |",
            tally.requests,
            p99.as_secs_f64() * 1000.0,
            if said.is_empty() {
                "-".into()
            } else {
                said.join("; ")
            }
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
