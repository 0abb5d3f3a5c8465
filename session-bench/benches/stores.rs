//! Store benchmarks: create, load, and load+modify+save through the session
//! manager at 1 and 32 concurrent tasks, per store, with the raw engine
//! commands each store needs measured in the same run as references.
//!
//! `BENCH_STORES=memory,file,sqlite,postgres,mysql,redis` picks the stores
//! (default: all); engines that are not reachable are skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use session_bench::{concurrently, create, load, load_modify_save, manager};
use session_conformance::services;
use session_core::time::Duration as TimeDuration;
use session_core::{Record, SessionId, SessionManager, SessionStore};
use session_store_file::FileStore;
use session_store_memory::MemoryStore;
use session_store_redis::RedisStore;
use session_store_sql::{Pool, SqlStore};
use tokio::runtime::Runtime;

const TASKS: [u64; 2] = [1, 32];

fn wanted(store: &str) -> bool {
    std::env::var("BENCH_STORES").map_or(true, |list| list.split(',').any(|s| s.trim() == store))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Data of the size the session benchmarks store, for the raw references.
fn payload(n: u64) -> Vec<u8> {
    format!(
        r#"{{"user_id":123,"username":"john_doe","cart":["SKU-0000","SKU-0001","SKU-0002","SKU-0003","SKU-0004","SKU-0005","SKU-0006","SKU-0007"],"counter":{n}}}"#
    )
    .into_bytes()
}

/// The three operations through the manager, at 1 and 32 tasks.
fn bench_manager(c: &mut Criterion, rt: &Runtime, name: &str, manager: SessionManager) {
    let (m, counter) = (manager.clone(), Arc::new(AtomicU64::new(0)));
    at_each_concurrency(c, rt, &format!("{name}/create"), move |_, _| {
        let (m, n) = (m.clone(), counter.clone());
        async move {
            create(&m, n.fetch_add(1, Ordering::Relaxed)).await;
        }
    });

    // Made after the create benchmark, so that a bounded store evicting
    // old sessions cannot drop them.
    let cookies: Arc<Vec<String>> = Arc::new(rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..32 {
            v.push(create(&manager, i).await);
        }
        v
    }));

    let (m, these) = (manager.clone(), cookies.clone());
    at_each_concurrency(c, rt, &format!("{name}/load"), move |t, _| {
        let (m, cookies) = (m.clone(), these.clone());
        async move { load(&m, &cookies[t as usize]).await }
    });
    at_each_concurrency(c, rt, &format!("{name}/load_modify_save"), move |t, i| {
        let (m, cookies) = (manager.clone(), cookies.clone());
        async move { load_modify_save(&m, &cookies[t as usize], i).await }
    });
}

/// One benchmark group, `group`: `op(task, i)` run by each of `TASKS`
/// numbers of concurrent tasks (see `session_bench::concurrently`).
fn at_each_concurrency<F, Fut>(c: &mut Criterion, rt: &Runtime, group: &str, op: F)
where
    F: Fn(u64, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut group = c.benchmark_group(group);
    for tasks in TASKS {
        group.bench_function(BenchmarkId::new("store", tasks), |b| {
            b.to_async(rt)
                .iter_custom(|iters| concurrently(tasks, iters, op.clone()))
        });
    }
    group.finish();
}

fn memory(c: &mut Criterion, rt: &Runtime) {
    let store = rt.block_on(async { MemoryStore::builder().capacity(1_000_000).build() });
    bench_manager(c, rt, "memory", manager(store));
}

fn file(c: &mut Criterion, rt: &Runtime) {
    let dir = std::env::temp_dir().join(services::unique_name("session-bench-file"));
    bench_manager(
        c,
        rt,
        "file",
        manager(FileStore::open(&dir).expect("file store")),
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn sqlite(c: &mut Criterion, rt: &Runtime) {
    let dir = std::env::temp_dir().join(services::unique_name("session-bench-sqlite"));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = rt.block_on(async {
        let store = SqlStore::connect(&format!("sqlite:{}", dir.join("s.db").display()))
            .await
            .expect("sqlite");
        store.migrate().await.expect("migrate");
        store
    });
    bench_manager(c, rt, "sqlite", manager(store.clone()));

    // The store's own create/update against a raw upsert on the same file.
    let Pool::Sqlite(pool) = store.pool().clone() else {
        unreachable!()
    };
    let upsert = "INSERT INTO sessions (id, data, version, created_at, expires_at, user_key) VALUES (?, ?, ?, ?, ?, NULL) \
                  ON CONFLICT(id) DO UPDATE SET data = excluded.data, version = excluded.version, expires_at = excluded.expires_at";
    let record = |n: u64| {
        let now = session_core::now();
        Record {
            key: SessionId::generate().store_key(),
            data: payload(n),
            version: 1,
            created_at: now,
            expires_at: now + TimeDuration::days(14),
            user: None,
        }
    };
    let raw = |pool: sqlx::SqlitePool, r: Record| async move {
        sqlx::query(upsert)
            .bind(r.key.as_str())
            .bind(r.data)
            .bind(r.version as i64)
            .bind(r.created_at.unix_timestamp())
            .bind(r.expires_at.unix_timestamp())
            .execute(&pool)
            .await
            .expect("upsert");
    };
    // A fresh record through the store.
    let store_create = || {
        let (store, r) = (store.clone(), record(1));
        async move { store.create(&r).await.expect("create") }
    };
    let mut group = c.benchmark_group("sqlite/store_create_vs_upsert");
    group.bench_function("store create", |b| b.to_async(rt).iter(&store_create));
    group.bench_function("raw upsert", |b| {
        b.to_async(rt).iter(|| raw(pool.clone(), record(1)))
    });
    group.finish();

    let existing = record(1);
    rt.block_on(store.create(&existing)).expect("create");
    let version = Arc::new(AtomicU64::new(1));
    // The next version of `existing` through the store's compare-and-swap.
    let store_update = || {
        let v = version.fetch_add(1, Ordering::Relaxed);
        let next = Record {
            version: v + 1,
            data: payload(v),
            ..existing.clone()
        };
        let store = store.clone();
        async move { store.update(&next, v).await.expect("update") }
    };
    let mut group = c.benchmark_group("sqlite/store_update_vs_upsert");
    group.bench_function("store update", |b| b.to_async(rt).iter(&store_update));
    group.bench_function("raw upsert", |b| {
        b.to_async(rt).iter(|| {
            raw(
                pool.clone(),
                Record {
                    data: payload(2),
                    ..existing.clone()
                },
            )
        })
    });
    group.finish();

    // The same two comparisons, paired (see `session_bench::paired`). The
    // raw upsert above left the record at version 1.
    version.store(1, Ordering::Relaxed);
    let create = rt.block_on(session_bench::paired(30, 300, &store_create, || {
        raw(pool.clone(), record(1))
    }));
    let update = rt.block_on(session_bench::paired(30, 300, &store_update, || {
        // Keeps the version moving, so that the store's next
        // compare-and-swap finds what it expects.
        let v = version.fetch_add(1, Ordering::Relaxed);
        raw(
            pool.clone(),
            Record {
                version: v + 1,
                data: payload(v),
                ..existing.clone()
            },
        )
    }));
    for (what, p) in [("create", create), ("update", update)] {
        println!(
            "sqlite paired, 30 blocks of 300: store {what} {:.1} µs, raw upsert {:.1} µs, \
             store / upsert {:.3}x (median of block pairs)",
            p.a_micros, p.b_micros, p.ratio
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A migrated store on a table of its own, on the server `var` names
/// (or `default`); `None` when it does not answer.
fn server_store(rt: &Runtime, engine: &str, var: &str, default: &str) -> Option<SqlStore> {
    let url = services::url(var, default);
    let table = services::unique_name("bench");
    let Ok(store) = rt.block_on(
        SqlStore::builder(&url)
            .table(&table)
            .max_connections(32)
            .connect(),
    ) else {
        eprintln!("skipping {engine}: unreachable at {url}");
        return None;
    };
    rt.block_on(store.migrate()).expect("migrate");
    Some(store)
}

/// Drops the benchmark's tables.
fn drop_tables(rt: &Runtime, store: &SqlStore) {
    for table in [
        store.table().to_owned(),
        format!("{}_migrations", store.table()),
    ] {
        let sql = format!("DROP TABLE {table}");
        let _ = match store.pool() {
            Pool::Postgres(p) => rt.block_on(sqlx::query(&sql).execute(p)).map(|_| ()),
            Pool::MySql(p) => rt.block_on(sqlx::query(&sql).execute(p)).map(|_| ()),
            _ => Ok(()),
        };
    }
}

fn postgres(c: &mut Criterion, rt: &Runtime) {
    let Some(store) = server_store(
        rt,
        "PostgreSQL",
        "SESSION_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    ) else {
        return;
    };
    let table = store.table().to_owned();
    bench_manager(c, rt, "postgres", manager(store.clone()));

    // The reference: the raw SELECT and conditional UPDATE a save needs, on the same pool.
    let Pool::Postgres(pool) = store.pool().clone() else {
        unreachable!()
    };
    let key = SessionId::generate().store_key();
    let now = session_core::now();
    rt.block_on(store.create(&Record {
        key: key.clone(),
        data: payload(0),
        version: 1,
        created_at: now,
        expires_at: now + TimeDuration::days(14),
        user: None,
    }))
    .expect("create");
    let select = format!("SELECT data, version FROM {table} WHERE id = $1 AND expires_at > $2");
    let update = format!(
        "UPDATE {table} SET data = $1, version = $2, expires_at = $3 WHERE id = $4 AND version = $5"
    );
    let mut group = c.benchmark_group("postgres/load_modify_save");
    group.bench_function(BenchmarkId::new("raw SELECT+UPDATE", 1), |b| {
        b.to_async(rt).iter(|| {
            let (pool, key, select, update) =
                (pool.clone(), key.clone(), select.clone(), update.clone());
            async move {
                let now = session_core::now().unix_timestamp();
                let (_data, version): (Vec<u8>, i64) = sqlx::query_as(&select)
                    .bind(key.as_str())
                    .bind(now)
                    .fetch_one(&pool)
                    .await
                    .expect("select");
                sqlx::query(&update)
                    .bind(payload(version as u64))
                    .bind(version + 1)
                    .bind(now + 1_209_600)
                    .bind(key.as_str())
                    .bind(version)
                    .execute(&pool)
                    .await
                    .expect("update");
            }
        })
    });
    group.finish();
    drop_tables(rt, &store);
}

fn mysql(c: &mut Criterion, rt: &Runtime) {
    let Some(store) = server_store(
        rt,
        "MySQL",
        "SESSION_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    ) else {
        return;
    };
    bench_manager(c, rt, "mysql", manager(store.clone()));
    drop_tables(rt, &store);
}

fn redis(c: &mut Criterion, rt: &Runtime) {
    let url = services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let prefix = format!("{}:", services::unique_name("bench"));
    let Ok(store) = rt.block_on(RedisStore::builder().prefix(&prefix).connect(&url)) else {
        eprintln!("skipping Redis: unreachable at {url}");
        return;
    };
    bench_manager(c, rt, "redis", manager(store));

    // The reference: the two raw commands a save needs (read, write), on
    // the same kind of connection.
    let conn = rt
        .block_on(async {
            redis::aio::ConnectionManager::new(redis::Client::open(url.as_str())?).await
        })
        .expect("redis");
    let key = format!("{prefix}raw");
    let mut group = c.benchmark_group("redis/load_modify_save");
    group.bench_function(BenchmarkId::new("raw GET+SET", 1), |b| {
        b.to_async(rt).iter(|| {
            let (mut conn, key) = (conn.clone(), key.clone());
            async move {
                let _: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("get");
                let _: () = redis::cmd("SET")
                    .arg(&key)
                    .arg(payload(1))
                    .arg("EX")
                    .arg(1_209_600)
                    .query_async(&mut conn)
                    .await
                    .expect("set");
            }
        })
    });
    group.finish();

    // The benchmark's sessions live for 14 days: remove them.
    rt.block_on(async {
        let mut conn = conn.clone();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("scan");
            if !keys.is_empty() {
                let _: () = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .expect("unlink");
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    });
}

fn stores(c: &mut Criterion) {
    let rt = runtime();
    type Bench = fn(&mut Criterion, &Runtime);
    let all: [(&str, Bench); 6] = [
        ("memory", memory),
        ("file", file),
        ("sqlite", sqlite),
        ("postgres", postgres),
        ("mysql", mysql),
        ("redis", redis),
    ];
    for (name, bench) in all {
        if wanted(name) {
            bench(c, &rt);
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = stores
}
criterion_main!(benches);
