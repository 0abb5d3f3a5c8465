//! Redis: memory per session and Redis's own CPU per operation, our
//! store against tower-sessions' Redis store (`tower-sessions-redis-store`
//! 0.16 on `tower-sessions-core` 0.14), on a private `redis-server` that
//! this benchmark starts (so `INFO memory` counts nothing else) and stops.
//!
//! ```text
//! cargo bench -p session-bench --bench redis
//! REDIS_BENCH_FIRST_USER=10000 cargo bench -p session-bench --bench redis   # five-digit user IDs
//! REDIS_BENCH_CALLGRIND=1 cargo bench -p session-bench --bench redis   # Redis under callgrind
//! ```
//!
//! Both sides write the same session data through their own session
//! types: five keys (a user ID, a name, two roles, a CSRF-like token, a
//! timestamp), and a logged-in session with no other keys (ours binds the
//! user with `set_user`; tower-sessions has no binding, so the user ID is
//! its one key). Every one of our sessions is bound to a user of its own,
//! so our figures include a user index per session, the worst case for
//! us (tower-sessions keeps no index). The user IDs run from 1 (or
//! `REDIS_BENCH_FIRST_USER`) over the sessions of a shape.
//!
//! Memory: `INFO memory`'s `used_memory`, less the clients' buffers
//! (`mem_clients_normal`, which follow the connections' traffic), before
//! and after writing the sessions, divided by their number: the median of
//! three passes over the shapes, after a first pass that does not count
//! (on a fresh server the first pass measured up to 12 bytes a session
//! away from the later ones, either way, for both sides alike); `MEMORY
//! USAGE` of one session key; and, for ours, the user index's keys
//! (`MEMORY USAGE` of the index hash and its buckets, per session). CPU:
//! `INFO commandstats` over a fixed number of saves (one compare-and-swap
//! script for us, one `SET` for tower-sessions; ours also as a store runs
//! it where Redis refuses functions, by `EVALSHA` rather than `FCALL`) and
//! loads (`GET` on both sides), and the server's whole CPU time (`INFO
//! cpu`, network included) over the same number of load-change-save
//! requests. Then ours with saves sharing script calls, as concurrent
//! traffic makes them, beside two functions called with the same number
//! of saves a call: one that only takes the saves' arguments and one that
//! runs only `SET … GET EXAT` per save, the least any Lua compare-and-swap
//! can do (the floor our script is measured against). Under callgrind
//! (`REDIS_BENCH_CALLGRIND`, which needs valgrind) the saves also report
//! the instructions Redis ran per save, all of its work for them (reading
//! the commands, running them, answering): a count that, unlike the
//! times, does not move with the machine's load.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use session_bench::redis_server::{Server, commandstats, info, server_cpu};
use session_core::time::{Duration as Span, OffsetDateTime};
use session_core::{KeyRing, Record, SessionManager, SessionStore};
use tower_sessions_core_014::SessionStore as _;
use tower_sessions_core_014::session::{Id, Session};
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

/// Sessions written per shape and side.
const SESSIONS: u64 = 5_000;
/// Passes over the shapes that count, after one that does not: the first
/// pass on a fresh server measured up to 12 bytes a session away from
/// later ones, either way, on both sides.
const PASSES: usize = 3;
/// Operations per CPU measurement.
const OPS: u64 = 20_000;

async fn command(c: &mut MultiplexedConnection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async::<()>(c).await.unwrap();
}

#[derive(Clone, Copy)]
enum Shape {
    FiveKeys,
    LoggedIn,
    /// The five keys, and (ours) no user binding, so no user index.
    Unbound,
}

const SHAPES: [Shape; 3] = [Shape::FiveKeys, Shape::LoggedIn, Shape::Unbound];

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::FiveKeys => "five keys",
            Shape::LoggedIn => "logged in, no other keys",
            Shape::Unbound => "five keys, no user index",
        }
    }
}

const TOKEN: &str = "q2Vx7pN4LmT9sRbK0aYcWf3HdJ6uZ8eG1iOnXv5tQwE";
const NAME: &str = "Alice Example";
const ROLES: [&str; 2] = ["admin", "editor"];

/// One side of the comparison.
trait Side {
    /// Writes one session of `shape` for user `n`; returns its handle.
    async fn create(&self, shape: Shape, n: u64) -> String;
    /// Loads the session `handle` names, changes one key, saves it.
    async fn load_change_save(&self, handle: &str, n: u64);
    /// Loads the session `handle` names.
    async fn load(&self, handle: &str);
    /// Saves the session `handle` names `times` times, with no load between
    /// (the store's save alone).
    async fn saves(&self, handles: &[String], times: u64);
    /// The Redis key of a session.
    fn redis_key(&self, handle: &str) -> String;
    /// The bytes (`MEMORY USAGE`) of the keys that are no session's: a
    /// user index.
    async fn index_bytes(&self, c: &mut MultiplexedConnection) -> f64;
}

struct Ours {
    manager: SessionManager,
    store: session_store_redis::RedisStore,
}

impl Ours {
    /// The stored records of the sessions `handles` name.
    async fn records(&self, handles: &[String]) -> Vec<Record> {
        let mut records = Vec::with_capacity(handles.len());
        for handle in handles {
            let key = self.manager.verify_cookie(handle).unwrap().store_key();
            records.push(self.store.load(&key).await.unwrap().unwrap());
        }
        records
    }
}

/// Makes `record` the next save of itself: one version on, expiring in
/// 14 days from now.
fn next_save(record: &mut Record) {
    record.version += 1;
    record.expires_at = OffsetDateTime::now_utc() + Span::days(14);
}

impl Side for Ours {
    async fn create(&self, shape: Shape, n: u64) -> String {
        let request = self.manager.request(None);
        let session = request.load().await.unwrap();
        if let Shape::FiveKeys | Shape::Unbound = shape {
            session.insert("user_id", n).unwrap();
            session.insert("name", NAME).unwrap();
            session.insert("roles", ROLES).unwrap();
            session.insert("csrf", TOKEN).unwrap();
            session.insert("ts", 1_764_900_000 + n).unwrap();
        }
        if let Shape::FiveKeys | Shape::LoggedIn = shape {
            session.set_user(n.to_string()).unwrap();
        }
        session_conformance::fixtures::finish(&request).await
    }

    async fn load_change_save(&self, handle: &str, n: u64) {
        let request = self.manager.request([handle]);
        request.load().await.unwrap().insert("ts", n).unwrap();
        request.finish(200).await.unwrap();
    }

    async fn load(&self, handle: &str) {
        let request = self.manager.request([handle]);
        assert!(!request.load().await.unwrap().is_empty());
        request.finish(200).await.unwrap();
    }

    async fn saves(&self, handles: &[String], times: u64) {
        let mut records = self.records(handles).await;
        for i in 0..times as usize {
            let record = &mut records[i % handles.len()];
            next_save(record);
            self.store.update(record, record.version - 1).await.unwrap();
        }
    }

    fn redis_key(&self, handle: &str) -> String {
        self.store
            .session_key(&self.manager.verify_cookie(handle).unwrap().store_key())
    }

    async fn index_bytes(&self, c: &mut MultiplexedConnection) -> f64 {
        // The index hash and its buckets, `<index key>:0` up to the shape.
        let shape: Vec<Option<u32>> = redis::cmd("HMGET")
            .arg(self.store.index_key())
            .arg(&["L", "s"])
            .query_async(c)
            .await
            .unwrap();
        let buckets = match shape[..] {
            [Some(level), split] => (1 << level) + split.unwrap_or(0),
            _ => 0,
        };
        let mut keys = vec![self.store.index_key()];
        keys.extend((0..buckets).map(|b| format!("{}:{b}", self.store.index_key())));
        let mut bytes = 0.0;
        for key in keys {
            let usage: Option<f64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .arg("SAMPLES")
                .arg(0)
                .query_async(c)
                .await
                .unwrap();
            bytes += usage.unwrap_or(0.0);
        }
        bytes
    }
}

struct Theirs {
    store: Arc<tower_sessions_redis_store::RedisStore<Pool>>,
}

impl Side for Theirs {
    async fn create(&self, shape: Shape, n: u64) -> String {
        let session = Session::new(None, self.store.clone(), None);
        session.insert("user_id", n).await.unwrap();
        if let Shape::FiveKeys | Shape::Unbound = shape {
            session.insert("name", NAME).await.unwrap();
            session.insert("roles", ROLES).await.unwrap();
            session.insert("csrf", TOKEN).await.unwrap();
            session.insert("ts", 1_764_900_000 + n).await.unwrap();
        }
        session.save().await.unwrap();
        session.id().unwrap().to_string()
    }

    async fn load_change_save(&self, handle: &str, n: u64) {
        let session = Session::new(Some(handle.parse().unwrap()), self.store.clone(), None);
        session.insert("ts", n).await.unwrap();
        session.save().await.unwrap();
    }

    async fn load(&self, handle: &str) {
        let session = Session::new(Some(handle.parse().unwrap()), self.store.clone(), None);
        assert!(session.get::<u64>("user_id").await.unwrap().is_some());
    }

    async fn saves(&self, handles: &[String], times: u64) {
        let mut records = Vec::new();
        for handle in handles {
            let id: Id = handle.parse().unwrap();
            records.push(self.store.load(&id).await.unwrap().unwrap());
        }
        for i in 0..times as usize {
            let record = &mut records[i % handles.len()];
            record.expiry_date = OffsetDateTime::now_utc() + Span::days(14);
            self.store.save(record).await.unwrap();
        }
    }

    fn redis_key(&self, handle: &str) -> String {
        handle.to_owned()
    }

    async fn index_bytes(&self, _: &mut MultiplexedConnection) -> f64 {
        0.0 // tower-sessions keeps no index
    }
}

/// What one side measured.
#[derive(Default)]
struct Figures {
    /// Bytes per session, by shape: `used_memory` (less the clients'
    /// buffers) of each measured pass.
    memory: Vec<Vec<f64>>,
    /// Bytes of one session's key, by shape (`MEMORY USAGE`).
    usage: Vec<f64>,
    /// Bytes per session of the user index's keys, by shape.
    index: Vec<f64>,
    /// Microseconds of Redis CPU per call of each command, store saves alone.
    save: Vec<(String, f64, f64)>,
    /// Redis's instructions per save alone, under callgrind.
    save_instructions: Option<f64>,
    /// Likewise for loads.
    load: Vec<(String, f64, f64)>,
    /// Microseconds of server CPU per load-change-save request.
    cycle: f64,
}

/// Each command's calls per operation and µs per call, from `INFO
/// commandstats` over [`OPS`] operations.
fn per_call(stats: HashMap<String, (f64, f64)>) -> Vec<(String, f64, f64)> {
    let mut rows: Vec<(String, f64, f64)> = stats
        .into_iter()
        .filter(|(name, (calls, _))| {
            *calls > 0.0 && !matches!(name.as_str(), "config" | "info" | "script" | "function")
        })
        .map(|(name, (calls, usec))| (name, calls / OPS as f64, usec / calls))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// Redis's CPU over [`OPS`] saves of the first thousand of `handles`, and
/// (under callgrind) its instructions per save.
async fn save_cpu(
    side: &impl Side,
    handles: &[String],
    c: &mut MultiplexedConnection,
    server: &Server,
) -> (Vec<(String, f64, f64)>, Option<f64>) {
    command(c, &["CONFIG", "RESETSTAT"]).await;
    server.zero_instructions();
    side.saves(&handles[..1000], OPS).await;
    let instructions = server.instructions().map(|n| n / OPS as f64);
    (per_call(commandstats(c).await), instructions)
}

/// Saves sharing script calls, as concurrent traffic makes them: rounds
/// of [`SHARED`] saves at once, of `handles`' sessions in turn, until
/// [`OPS`] saves, each round awaited before the next (so the client is
/// idle while Redis runs the call, as it is for [`floor_cpu`]'s calls,
/// and Redis's time per call is not stretched by a busy client on the
/// same cores). Returns the saves per `FCALL`, Redis's µs per save and
/// (under callgrind) its instructions per save.
async fn shared_save_cpu(
    ours: &Ours,
    handles: &[String],
    c: &mut MultiplexedConnection,
    server: &Server,
) -> (f64, f64, Option<f64>) {
    let mut records = ours.records(handles).await;
    command(c, &["CONFIG", "RESETSTAT"]).await;
    server.zero_instructions();
    for round in 0..OPS as usize / SHARED {
        let mut saves = tokio::task::JoinSet::new();
        for i in 0..SHARED {
            let record = &mut records[(round * SHARED + i) % handles.len()];
            next_save(record);
            let (store, record) = (ours.store.clone(), record.clone());
            saves.spawn(async move { store.update(&record, record.version - 1).await });
        }
        for saved in saves.join_all().await {
            saved.unwrap();
        }
    }
    let saves = (OPS as usize / SHARED * SHARED) as f64;
    let instructions = server.instructions().map(|n| n / saves);
    let (calls, usec) = commandstats(c).await["fcall"];
    (saves / calls, usec / saves, instructions)
}

/// Saves sent at once in each round of [`shared_save_cpu`].
const SHARED: usize = 50;

/// Two functions that bound what any Lua compare-and-swap can cost: one
/// that takes a batch's keys and arguments (a session key, its value and
/// its expiry per save) and does nothing with them, and one that also
/// runs the one command a compare-and-swap cannot do without, `SET … GET
/// EXAT`, per save.
const FLOOR: &str = "#!lua name=bench_floor
redis.register_function('bench_floor_nothing', function(keys, args)
  local out = {}
  for i = 1, #keys do out[i] = 1 end
  return out
end)
redis.register_function('bench_floor_set_get', function(keys, args)
  local out = {}
  for i = 1, #keys do
    out[i] = redis.call('SET', keys[i], args[2 * i - 1], 'GET', 'EXAT', args[2 * i]) and 1 or 0
  end
  return out
end)
";

/// Redis's µs and (under callgrind) instructions per save of each
/// [`FLOOR`] function, called with `per_call` of `handles`' sessions
/// (their stored values, rewritten as they are) a call, over [`OPS`] saves.
async fn floor_cpu(
    ours: &Ours,
    handles: &[String],
    per_call: usize,
    c: &mut MultiplexedConnection,
    server: &Server,
) -> [(f64, Option<f64>); 2] {
    redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(FLOOR)
        .query_async::<String>(c)
        .await
        .unwrap();
    let expires = (OffsetDateTime::now_utc() + Span::days(14)).unix_timestamp();
    let mut saves = Vec::new();
    for handle in handles {
        let key = ours.redis_key(handle);
        let value: Vec<u8> = redis::cmd("GET").arg(&key).query_async(c).await.unwrap();
        saves.push((key, value));
    }
    let mut out = [(0.0, None); 2];
    for (i, function) in ["bench_floor_nothing", "bench_floor_set_get"]
        .into_iter()
        .enumerate()
    {
        command(c, &["CONFIG", "RESETSTAT"]).await;
        server.zero_instructions();
        for call in 0..OPS as usize / per_call {
            let batch = (0..per_call).map(|j| &saves[(call * per_call + j) % saves.len()]);
            let mut fcall = redis::cmd("FCALL");
            fcall.arg(function).arg(per_call);
            for (key, _) in batch.clone() {
                fcall.arg(key);
            }
            for (_, value) in batch {
                fcall.arg(value).arg(expires);
            }
            fcall.query_async::<Vec<i64>>(c).await.unwrap();
        }
        let saves = (OPS as usize / per_call * per_call) as f64;
        let instructions = server.instructions().map(|n| n / saves);
        let (_, usec) = commandstats(c).await["fcall"];
        out[i] = (usec / saves, instructions);
    }
    out
}

/// `used_memory` less the clients' buffers, which follow the connections'
/// traffic rather than the sessions (`mem_clients_normal`).
async fn stored_memory(c: &mut MultiplexedConnection) -> f64 {
    let memory = info(c, "memory").await;
    let field = |f: &str| memory[f].parse::<f64>().unwrap();
    field("used_memory") - field("mem_clients_normal")
}

/// The user ID of the first session of a shape (`REDIS_BENCH_FIRST_USER`,
/// default 1): the IDs run from it, so its digits set the IDs' length.
fn first_user() -> u64 {
    std::env::var("REDIS_BENCH_FIRST_USER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

async fn measure(side: &impl Side, c: &mut MultiplexedConnection, server: &Server) -> Figures {
    let mut figures = Figures::default();
    // Scripts loaded and the server warm before the baseline.
    side.create(Shape::FiveKeys, 0).await;
    let first = first_user();
    let mut samples = vec![Vec::new(); SHAPES.len()];
    for pass in 0..=PASSES {
        for (i, &shape) in SHAPES.iter().enumerate() {
            command(c, &["FLUSHALL", "SYNC"]).await;
            let before = stored_memory(c).await;
            let mut handles = Vec::new();
            for n in first..first + SESSIONS {
                handles.push(side.create(shape, n).await);
            }
            // Let Redis finish growing its tables before the reading.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let after = stored_memory(c).await;
            if pass == 0 {
                continue;
            }
            samples[i].push((after - before) / SESSIONS as f64);
            if pass < PASSES {
                continue;
            }
            let usage: f64 = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(side.redis_key(&handles[0]))
                .arg("SAMPLES")
                .arg(0)
                .query_async(c)
                .await
                .unwrap();
            figures.usage.push(usage);
            figures
                .index
                .push(side.index_bytes(c).await / SESSIONS as f64);
        }
    }
    figures.memory = samples;
    // CPU, on the five-key sessions.
    command(c, &["FLUSHALL", "SYNC"]).await;
    let mut handles = Vec::new();
    for n in 1..=SESSIONS {
        handles.push(side.create(Shape::FiveKeys, n).await);
    }
    (figures.save, figures.save_instructions) = save_cpu(side, &handles, c, server).await;
    command(c, &["CONFIG", "RESETSTAT"]).await;
    for i in 0..OPS {
        side.load(&handles[(i % SESSIONS) as usize]).await;
    }
    figures.load = per_call(commandstats(c).await);
    let cpu = server_cpu(c).await;
    for i in 0..OPS {
        side.load_change_save(&handles[(i % SESSIONS) as usize], i)
            .await;
    }
    figures.cycle = (server_cpu(c).await - cpu) * 1e6 / OPS as f64;
    figures
}

/// Instructions per save, when counted.
fn counted(instructions: Option<f64>) -> String {
    instructions.map_or(String::new(), |n| format!("; {n:.0} instructions per save"))
}

fn commands(rows: &[(String, f64, f64)]) -> String {
    rows.iter()
        .map(|(name, per_op, usec)| format!("{name} {per_op:.2}x {usec:.2} µs"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let server = Server::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = redis::Client::open(server.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let store = session_store_redis::RedisStore::connect(&server.url())
            .await
            .unwrap();
        let ours = Ours {
            manager: SessionManager::new(store.clone(), KeyRing::new([7u8; 32]).unwrap()),
            store,
        };
        let pool = Pool::new(Config::from_url(&server.url()).unwrap(), None, None, None, 2).unwrap();
        pool.init().await.unwrap();
        let theirs = Theirs {
            store: Arc::new(tower_sessions_redis_store::RedisStore::new(pool)),
        };
        let t = measure(&theirs, &mut c, &server).await;
        let o = measure(&ours, &mut c, &server).await;
        // Our store as it runs where Redis refuses functions (an ACL
        // without them): the same scripts by EVALSHA, beside ours by FCALL.
        command(&mut c, &["ACL", "SETUSER", "nofn", "on", ">pw", "~*", "&*", "+@all", "-fcall", "-function"]).await;
        let url = server.url().replacen("redis://", "redis://nofn:pw@", 1);
        let store = session_store_redis::RedisStore::connect(&url).await.unwrap();
        let evalsha = Ours {
            manager: SessionManager::new(store.clone(), KeyRing::new([7u8; 32]).unwrap()),
            store,
        };
        command(&mut c, &["FLUSHALL", "SYNC"]).await;
        let mut handles = Vec::new();
        for n in 1..=1000 {
            handles.push(ours.create(Shape::FiveKeys, n).await);
        }
        let mut by_function = Vec::new();
        let mut by_evalsha = Vec::new();
        for _ in 0..2 {
            by_evalsha.push(save_cpu(&evalsha, &handles, &mut c, &server).await.0);
            by_function.push(save_cpu(&ours, &handles, &mut c, &server).await.0);
        }

        // Saves sharing calls, as under concurrent traffic, against the
        // floor of any script with that many saves a call.
        let shared = shared_save_cpu(&ours, &handles, &mut c, &server).await;
        let per_call = shared.0.round().max(1.0) as usize;
        let floor = floor_cpu(&ours, &handles, per_call, &mut c, &server).await;

        println!(
            "Redis memory per session ({SESSIONS} sessions, users {} on; ours bound to a user of its own each, but in the last shape; medians of {PASSES} passes)",
            first_user()
        );
        println!("{:<44} {:>15} {:>8} {:>8}", "", "tower-sessions", "ours", "ratio");
        let median = |v: &[f64]| session_bench::median(v.to_vec());
        let range = |v: &[f64]| {
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
            format!("{lo:.0}-{hi:.0}")
        };
        for (i, shape) in SHAPES.iter().enumerate() {
            let (tu, ou) = (median(&t.memory[i]), median(&o.memory[i]));
            println!(
                "{:<44} {:>15} {:>8} {:>7.2}x   (passes: {} B, {} B)",
                format!("{}: used_memory", shape.name()),
                format!("{tu:.0} B"),
                format!("{ou:.0} B"),
                ou / tu,
                range(&t.memory[i]),
                range(&o.memory[i]),
            );
            let (tk, ok) = (t.usage[i], o.usage[i]);
            println!(
                "{:<44} {:>15} {:>8} {:>7.2}x",
                format!("{}: MEMORY USAGE", shape.name()),
                format!("{tk:.0} B"),
                format!("{ok:.0} B"),
                ok / tk
            );
        }
        for (i, shape) in SHAPES.iter().enumerate() {
            println!(
                "{:<44} {:>15} {:>8}",
                format!("{}: user index", shape.name()),
                "-",
                format!("{:.0} B", o.index[i])
            );
        }
        println!();
        println!("Redis CPU ({OPS} operations each; commands per operation and µs per call)");
        println!("saves alone, tower-sessions: {}{}", commands(&t.save), counted(t.save_instructions));
        println!("saves alone, ours:           {}{}", commands(&o.save), counted(o.save_instructions));
        for (f, e) in by_function.iter().zip(&by_evalsha) {
            println!("  again, ours by FCALL:       {}", commands(f));
            println!("  ours by EVALSHA (no functions): {}", commands(e));
        }
        println!(
            "saves sharing calls, ours:   {:.1} saves per FCALL, {:.2} µs per save{}",
            shared.0,
            shared.1,
            counted(shared.2)
        );
        println!(
            "  the same calls to a function that only takes their arguments: {:.2} µs per save{}",
            floor[0].0,
            counted(floor[0].1)
        );
        println!(
            "  and to one that runs only SET … GET EXAT per save:             {:.2} µs per save{}",
            floor[1].0,
            counted(floor[1].1)
        );
        println!("loads, tower-sessions:       {}", commands(&t.load));
        println!("loads, ours:                 {}", commands(&o.load));
        println!(
            "server CPU per load-change-save request: tower-sessions {:.2} µs, ours {:.2} µs ({:.2}x)",
            t.cycle,
            o.cycle,
            o.cycle / t.cycle
        );
    });
}
