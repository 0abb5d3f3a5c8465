//! HTTP load on loopback across the engines users deploy: our axum layer
//! and stores against tower-sessions 0.14 with its own stores
//! (`MemoryStore`, `tower-sessions-redis-store` 0.16,
//! `tower-sessions-sqlx-store` 0.15 on PostgreSQL and SQLite), on the same
//! engines in the same run.
//!
//! Two workloads: load, change one key and save (`/write`); load and read
//! only (`/read`). `CONNECTIONS` keep-alive connections send requests as
//! fast as they are answered, each request carrying the cookie of the next
//! of `SESSIONS` sessions (rotated, as many browsers would). Each engine,
//! workload and side is measured `ROUNDS` times, the two sides alternating
//! (in alternating order); medians are reported: requests per second, the
//! 99th percentile of latency, the store writes per 1,000 read requests,
//! and on Redis the server's own time per request: the commands each side
//! sent (`INFO commandstats`), and the main thread's CPU (`INFO cpu`).
//!
//! `cargo bench -p session-bench --bench http-engines` (about four minutes).
//! `ENGINES_SECONDS` (default 2) sets the length of one measurement,
//! `ENGINES_ROUNDS` (default 3) the rounds, `ENGINES=memory,sqlite` the
//! engines; `ENGINES_WORKLOADS=read` (or `write`) and `ENGINES_SIDES=ours`
//! (or `theirs`) narrow the run, for profiling one side under load.
//! PostgreSQL is the machine's (`SESSION_TEST_POSTGRES_URL`, as
//! the tests); Redis is a private `redis-server` the benchmark starts.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use session_axum::{Layer as _, Session, SessionLayer};
use session_bench::redis_server::{self, Server};
use session_bench::rotating_load::{load, sessions};
use session_conformance::counting::CountingStore;
use session_core::{CookieConfig, KeyRing, SessionManager, SessionStore};
use tower_sessions_core_014::session::{Id, Record};
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

const CONNECTIONS: usize = 64;
const SESSIONS: usize = 1_000;

// ---------------------------------------------------------------- the apps

/// Our app: the layer around the router, as the crate docs advise.
fn ours(store: impl SessionStore) -> App {
    let manager = SessionManager::builder(store, KeyRing::new([9u8; 32]).unwrap())
        .cookie(CookieConfig::new("session").secure(false))
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/init",
            get(|s: Session| async move {
                s.insert("n", 0u64).unwrap();
                s.insert("name", "ada").unwrap();
                "init"
            }),
        )
        .route(
            "/read",
            get(|s: Session| async move {
                let n: u64 = s.get("n").unwrap().expect("a session of the pool");
                n.to_string()
            }),
        )
        .route(
            "/write",
            get(|s: Session| async move {
                let n: u64 = s.get("n").unwrap().expect("a session of the pool");
                s.insert("n", n + 1).unwrap();
                "ok"
            }),
        )
        .with_state(());
    App::Ours(SessionLayer::new(manager).layer(router))
}

/// tower-sessions' app, the same routes.
fn theirs<S: tower_sessions_core_014::SessionStore + Clone>(store: S) -> App {
    use tower_sessions_014::Session;
    let layer = tower_sessions_014::SessionManagerLayer::new(store).with_secure(false);
    Router::new()
        .route(
            "/init",
            get(|s: Session| async move {
                s.insert("n", 0u64).await.unwrap();
                s.insert("name", "ada").await.unwrap();
                "init"
            }),
        )
        .route(
            "/read",
            get(|s: Session| async move {
                let n: u64 = s.get("n").await.unwrap().expect("a session of the pool");
                n.to_string()
            }),
        )
        .route(
            "/write",
            get(|s: Session| async move {
                let n: u64 = s.get("n").await.unwrap().expect("a session of the pool");
                s.insert("n", n + 1).await.unwrap();
                "ok"
            }),
        )
        .layer(layer)
        .into()
}

/// A side's app as `axum::serve` takes it: ours wraps the whole router
/// (served through `into_make_service`, as the crate docs show); theirs
/// is a router with the layer on its routes, as tower-sessions' docs show.
enum App {
    Ours(session_axum::SessionService<Router>),
    Theirs(Router),
}

impl From<Router> for App {
    fn from(router: Router) -> Self {
        App::Theirs(router)
    }
}

impl App {
    async fn serve(self, listener: tokio::net::TcpListener) {
        let served = match self {
            App::Ours(app) => {
                axum::serve(
                    listener,
                    axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
                )
                .await
            }
            App::Theirs(router) => axum::serve(listener, router).await,
        };
        served.unwrap();
    }
}

/// tower-sessions' store, counting its writes.
#[derive(Clone, Debug)]
struct Counted<S> {
    inner: S,
    writes: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl<S: tower_sessions_core_014::SessionStore + Clone> tower_sessions_core_014::SessionStore
    for Counted<S>
{
    async fn create(
        &self,
        record: &mut Record,
    ) -> tower_sessions_core_014::session_store::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> tower_sessions_core_014::session_store::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.save(record).await
    }
    async fn load(
        &self,
        id: &Id,
    ) -> tower_sessions_core_014::session_store::Result<Option<Record>> {
        self.inner.load(id).await
    }
    async fn delete(&self, id: &Id) -> tower_sessions_core_014::session_store::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(id).await
    }
}

// ------------------------------------------------------------- the engines

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Memory,
    Redis,
    Postgres,
    Sqlite,
}

impl Engine {
    const ALL: [Engine; 4] = [
        Engine::Memory,
        Engine::Redis,
        Engine::Postgres,
        Engine::Sqlite,
    ];

    fn name(self) -> &'static str {
        match self {
            Engine::Memory => "memory",
            Engine::Redis => "redis",
            Engine::Postgres => "postgres",
            Engine::Sqlite => "sqlite",
        }
    }
}

/// Reads how many writes a side's store has taken.
type Writes = Box<dyn Fn() -> usize + Send + Sync>;

/// One side's app on one engine, and how to read its store's writes.
struct Side {
    app: App,
    writes: Writes,
}

/// Both sides' apps on `engine`; built on the server's runtime.
async fn sides(engine: Engine, env: &Env) -> [Side; 2] {
    let theirs_writes = Arc::new(AtomicUsize::new(0));
    let count = theirs_writes.clone();
    let their_writes: Writes = Box::new(move || count.load(Ordering::Relaxed));
    macro_rules! pair {
        ($ours:expr, $theirs:expr) => {{
            let store = CountingStore::new($ours);
            let counter = store.clone();
            let inner = $theirs;
            [
                Side {
                    app: ours(store),
                    writes: Box::new(move || counter.writes()),
                },
                Side {
                    app: theirs(Counted {
                        inner,
                        writes: theirs_writes,
                    }),
                    writes: their_writes,
                },
            ]
        }};
    }
    match engine {
        Engine::Memory => pair!(
            session_store_memory::MemoryStore::builder()
                .capacity(1_000_000)
                .build(),
            tower_sessions_014::MemoryStore::default()
        ),
        Engine::Redis => {
            let url = env.redis.clone().expect("a redis-server");
            let store = session_store_redis::RedisStore::connect(&url)
                .await
                .unwrap();
            let pool = Pool::new(Config::from_url(&url).unwrap(), None, None, None, 2).unwrap();
            pool.init().await.unwrap();
            pair!(store, tower_sessions_redis_store::RedisStore::new(pool))
        }
        Engine::Postgres => {
            let store = session_store_sql::SqlStore::connect(&env.postgres)
                .await
                .unwrap();
            let store =
                session_store_sql::SqlStore::with_table(store.pool().clone(), &env.table).unwrap();
            store.migrate().await.unwrap();
            let pool = sqlx::PgPool::connect(&env.postgres).await.unwrap();
            let theirs = tower_sessions_sqlx_store::PostgresStore::new(pool)
                .with_table_name(format!("{}_theirs", env.table))
                .unwrap();
            theirs.migrate().await.unwrap();
            pair!(store, theirs)
        }
        Engine::Sqlite => {
            let dir = &env.dir;
            let url = format!("sqlite:{}", dir.join("ours.db").display());
            let store = session_store_sql::SqlStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            // Their pool gets the same SQLite settings as ours (WAL,
            // synchronous=NORMAL, a busy timeout, ten connections), so
            // the stores are compared, not the settings.
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.join("theirs.db"))
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(10)
                .connect_with(options)
                .await
                .unwrap();
            let theirs = tower_sessions_sqlx_store::SqliteStore::new(pool);
            theirs.migrate().await.unwrap();
            pair!(store, theirs)
        }
    }
}

/// What the engines need: a private Redis, PostgreSQL's URL and a table
/// name of this run, a directory for the SQLite files.
struct Env {
    /// The private Redis's URL (the server itself stays with `main`, which
    /// stops it at the end).
    redis: Option<String>,
    postgres: String,
    table: String,
    dir: std::path::PathBuf,
}

// ------------------------------------------------------------ the load

/// Starts `apps` on one server thread (a current-thread runtime, the same
/// for every app), building them there; returns their addresses.
fn serve(engine: Engine, env: Arc<Env>) -> (Vec<SocketAddr>, Vec<Writes>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut addrs = Vec::new();
            let mut writes = Vec::new();
            for side in sides(engine, &env).await {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addrs.push(listener.local_addr().unwrap());
                writes.push(side.writes);
                tokio::spawn(side.app.serve(listener));
            }
            tx.send((addrs, writes)).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

/// The commands each side's store sends to Redis in these workloads
/// (ours: batched loads and the saves' script call, or one load alone;
/// theirs: a `GET` per load and a `SET` per save). Redis also lists the
/// commands a script runs under their own names, with their time counted
/// again inside the script call's: summing every line of
/// `INFO commandstats` would count our saves' inner `SET` twice.
const SENT: [&[&str]; 2] = [&["mget", "get", "fcall", "evalsha"], &["get", "set"]];

/// What Redis spent on one measurement, read after it: the time of the
/// commands the side sent (`INFO commandstats` since the reset before it,
/// each command once), the main thread's CPU time (user and system, so
/// reading and writing the sockets too), and the commands' counts and
/// times, for the log.
async fn redis_spent(
    c: &mut redis::aio::MultiplexedConnection,
    side: usize,
    cpu_before: f64,
) -> (f64, f64, String) {
    let stats = redis_server::commandstats(c).await;
    let cpu = redis_server::main_thread_cpu(c).await - cpu_before;
    let mut by_command: Vec<_> = stats.iter().collect();
    by_command.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    let shown = by_command
        .iter()
        .take(3)
        .map(|(name, (calls, usec))| format!("{name} {calls:.0}× {:.1} µs", usec / calls.max(1.0)))
        .collect::<Vec<_>>()
        .join(", ");
    let sent = SENT[side]
        .iter()
        .filter_map(|name| stats.get(*name))
        .map(|(_, usec)| usec)
        .sum();
    (sent, cpu * 1e6, shown)
}

/// Whether the comma-separated list in the environment variable `name`
/// (all when unset) names `item`.
fn chosen(name: &str, item: &str) -> bool {
    std::env::var(name).map_or(true, |list| list.split(',').any(|n| n.trim() == item))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).map_or(default, |v| {
        v.parse().ok().unwrap_or_else(|| panic!("{name}"))
    })
}

/// One row of the report: medians of each side's figures.
#[derive(Default)]
struct Row {
    rps: [Vec<f64>; 2],
    p99: [Vec<f64>; 2],
    writes_per_1000: [Vec<f64>; 2],
    redis_us: [Vec<f64>; 2],
    redis_cpu: [Vec<f64>; 2],
}

fn median(v: &[f64]) -> f64 {
    session_bench::median(v.to_vec())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds: f64 = env_or("ENGINES_SECONDS", 2.0);
    let rounds: usize = env_or("ENGINES_ROUNDS", 3);
    let engines: Vec<Engine> = Engine::ALL
        .into_iter()
        .filter(|e| chosen("ENGINES", e.name()))
        .collect();
    let dir = std::env::temp_dir().join(session_conformance::services::unique_name("http-engines"));
    std::fs::create_dir_all(&dir).unwrap();
    let redis_server = engines.contains(&Engine::Redis).then(Server::start);
    let env = Arc::new(Env {
        redis: redis_server.as_ref().map(Server::url),
        postgres: session_conformance::services::url(
            "SESSION_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        ),
        table: session_conformance::services::unique_name("bench_sessions"),
        dir: dir.clone(),
    });
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut report = Vec::new();
    for &engine in &engines {
        let (addrs, writes) = serve(engine, env.clone());
        let mut redis = env
            .redis
            .as_ref()
            .filter(|_| engine == Engine::Redis)
            .map(|url| {
                client.block_on(async {
                    let c = redis::Client::open(url.as_str()).unwrap();
                    c.get_multiplexed_async_connection().await.unwrap()
                })
            });
        let cookies =
            [addrs[0], addrs[1]].map(|a| client.block_on(sessions(a, SESSIONS, CONNECTIONS)));
        for path in ["/write", "/read"] {
            if !chosen("ENGINES_WORKLOADS", &path[1..]) {
                continue;
            }
            let mut row = Row::default();
            for round in 0..rounds {
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for side in order {
                    if !chosen("ENGINES_SIDES", ["ours", "theirs"][side]) {
                        continue;
                    }
                    let mut cpu_before = 0.0;
                    if let Some(c) = redis.as_mut() {
                        cpu_before = client.block_on(async {
                            redis::cmd("CONFIG")
                                .arg("RESETSTAT")
                                .query_async::<()>(c)
                                .await
                                .unwrap();
                            redis_server::main_thread_cpu(c).await
                        });
                    }
                    let m = client.block_on(load(
                        addrs[side],
                        path,
                        &cookies[side],
                        seconds,
                        CONNECTIONS,
                        &*writes[side],
                    ));
                    let wrote = m.writes;
                    let mut commands = String::new();
                    if let Some(c) = redis.as_mut() {
                        let (sent, cpu, shown) = client.block_on(redis_spent(c, side, cpu_before));
                        let requests = m.all_requests.max(1) as f64;
                        row.redis_us[side].push(sent / requests);
                        row.redis_cpu[side].push(cpu / requests);
                        commands = format!("  {} requests: {shown}", m.all_requests);
                    }
                    eprintln!(
                        "{:<8} {path:<6} round {round} {:<6} {:>8.0} req/s  p99 {:>7.2} ms  {wrote} writes{commands}",
                        engine.name(),
                        ["ours", "theirs"][side],
                        m.rps,
                        m.p99.as_secs_f64() * 1e3,
                    );
                    row.rps[side].push(m.rps);
                    row.p99[side].push(m.p99.as_secs_f64() * 1e3);
                    row.writes_per_1000[side]
                        .push(wrote as f64 * 1000.0 / m.requests.max(1) as f64);
                }
            }
            report.push((engine, path, row));
        }
    }
    println!(
        "\nMedians of {rounds} rounds of {seconds} s; {CONNECTIONS} connections, {SESSIONS} sessions rotated.\n\n\
         | workload | engine | ours req/s | tower-sessions req/s | ours / theirs | p99 ours | p99 theirs | store writes per 1,000 requests (ours / theirs) | Redis µs per request, commands sent (ours / theirs) | Redis main thread CPU µs per request (ours / theirs) |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    );
    for (engine, path, row) in &report {
        let workload = if *path == "/write" {
            "load, change one key, save"
        } else {
            "load and read only"
        };
        let pair = |v: &[Vec<f64>; 2]| {
            if v[0].is_empty() {
                String::new()
            } else {
                format!("{:.1} / {:.1}", median(&v[0]), median(&v[1]))
            }
        };
        let (redis, cpu) = (pair(&row.redis_us), pair(&row.redis_cpu));
        println!(
            "| {workload} | {} | {:.0} | {:.0} | {:.2}x | {:.2} ms | {:.2} ms | {:.0} / {:.0} | {redis} | {cpu} |",
            engine.name(),
            median(&row.rps[0]),
            median(&row.rps[1]),
            median(&row.rps[0]) / median(&row.rps[1]),
            median(&row.p99[0]),
            median(&row.p99[1]),
            median(&row.writes_per_1000[0]),
            median(&row.writes_per_1000[1]),
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    drop(redis_server);
    if engines.contains(&Engine::Postgres) {
        client.block_on(async {
            if let Ok(pool) = sqlx::PgPool::connect(&env.postgres).await {
                // tower-sessions keeps its table in a schema of its own.
                let table = &env.table;
                for table in [
                    table.clone(),
                    format!("{table}_migrations"),
                    format!("tower_sessions.{table}_theirs"),
                ] {
                    let _ = sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                        .execute(&pool)
                        .await;
                }
            }
        });
    }
}
