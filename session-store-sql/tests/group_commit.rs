//! Concurrent loads and saves go to SQLite and PostgreSQL together: fewer
//! batch statements than operations, every one answered from them, none
//! falling back to running alone. Checked from the statements sqlx reports
//! running (its `sqlx::query` log) and the store's own log (SQLite's
//! writer runs its statements itself, and logs each batch it commits). Two stores on
//! one table (as two processes) racing to save the same sessions each get
//! an exact answer. (That each save of one store gets its own
//! compare-and-swap answer is the conformance kit's
//! `concurrent_saves_each_get_their_own_answer`.)
#![cfg(all(feature = "sqlite", feature = "postgres"))]

use std::sync::Arc;
use std::time::Duration;

use session_conformance::fixtures::{CapturedLogs, load_all_at_once, record, save_all_at_once};
use session_conformance::services;
use session_core::{Record, SessionStore};
use session_store_sql::SqlStore;
use tokio::sync::Barrier;

const SAVES: usize = 48;

/// Checks from the log since the last look that `SAVES` operations (`what`)
/// went in fewer batches (log lines holding `batch`), none falling back to
/// running alone.
fn shared_statements(logs: &CapturedLogs, batch: &str, what: &str, engine: &str) {
    let log = logs.take();
    let batches = log.matches(batch).count();
    assert!(
        (1..SAVES).contains(&batches),
        "{engine}: {SAVES} {what} at once went in {batches} batches:\n{log}"
    );
    assert!(
        !log.contains("runs alone"),
        "{engine}: a batch failed:\n{log}"
    );
}

/// The log lines of batches: in sqlx's log, the batch statements run
/// through the pool; in the store's log, those SQLite's threads ran.
struct Marks {
    saves: &'static str,
    loads: &'static str,
}

const THROUGH_THE_POOL: Marks = Marks {
    saves: "summary=\"WITH v",
    loads: "summary=\"SELECT id, data",
};

const ON_THREADS: Marks = Marks {
    saves: "a batch of saves committed",
    loads: "a batch of loads ran",
};

/// Saves `SAVES` sessions at once, then loads them at once; checks both
/// went in fewer batches than operations (log lines holding `marks`).
async fn saves_at_once(store: SqlStore, logs: &CapturedLogs, marks: Marks, engine: &str) {
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let mut records = Vec::new();
    for _ in 0..SAVES {
        let r = record(session_core::time::Duration::hours(1), Some("ada"));
        store.create(&r).await.unwrap();
        records.push(r);
    }
    logs.take();
    save_all_at_once(&store, &records).await;
    shared_statements(logs, marks.saves, "saves", engine);

    // The saved records, loaded at once.
    load_all_at_once(&store, &records).await;
    shared_statements(logs, marks.loads, "loads", engine);
}

/// Two stores on one table (as two app processes would be, each batching
/// its own saves) save the same sessions at once: of each session's two
/// saves over one version, exactly one lands and the other is a conflict.
async fn two_stores_race(a: SqlStore, b: SqlStore, engine: &str) {
    a.migrate().await.unwrap();
    let mut records = Vec::new();
    for _ in 0..SAVES {
        let r = record(session_core::time::Duration::hours(1), None);
        a.create(&r).await.unwrap();
        records.push(r);
    }
    let barrier = Arc::new(Barrier::new(2 * SAVES));
    let mut tasks = Vec::new();
    for (side, store) in [(0u8, a), (1, b)] {
        let store = Arc::new(store);
        // One side in key order, the other in reverse.
        let mut mine = records.clone();
        if side == 1 {
            mine.reverse();
        }
        for r in mine {
            let saved = Record {
                version: 2,
                data: format!("{{\"side\":{side}}}").into_bytes(),
                ..r
            };
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                (saved.key.clone(), side, store.update(&saved, 1).await)
            }));
        }
    }
    let mut landed = std::collections::HashMap::new();
    for task in tasks {
        let (key, side, answer) = task.await.unwrap();
        match answer {
            Ok(()) => assert!(
                landed.insert(key, side).is_none(),
                "{engine}: both saves over one version landed"
            ),
            Err(session_core::StoreError::Conflict) => {}
            Err(e) => panic!("{engine}: a save failed: {e}"),
        }
    }
    assert_eq!(
        landed.len(),
        SAVES,
        "{engine}: every session has one save landed"
    );
}

/// A store on a fresh table of the PostgreSQL test database, or `None`
/// (skip) when it is unreachable.
async fn postgres(table: &str) -> Option<SqlStore> {
    let url = services::url(
        "SESSION_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let connected = SqlStore::builder(&url)
        .table(table)
        .acquire_timeout(Duration::from_secs(5))
        .connect()
        .await;
    match connected {
        Ok(store) => Some(store),
        Err(e) => services::unavailable("PostgreSQL", e),
    }
}

/// Drops `store`'s table and its migrations ledger.
async fn drop_tables(store: &SqlStore) {
    let session_store_sql::Pool::Postgres(pool) = store.pool() else {
        unreachable!("a PostgreSQL store")
    };
    let table = store.table();
    for name in [table.to_owned(), format!("{table}_migrations")] {
        sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
            .execute(pool)
            .await
            .unwrap();
    }
}

/// One test, so that no other test's statements reach the log it reads.
#[test]
fn concurrent_loads_and_saves_share_statements() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    // Global: sqlx runs SQLite statements on a thread of its own.
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_env_filter("sqlx::query=debug,session_store_sql=debug")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    )
    .unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let dir = std::env::temp_dir().join(services::unique_name("batch"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite:{}", dir.join("s.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        saves_at_once(store, &logs, ON_THREADS, "SQLite").await;
        let url = format!("sqlite:{}", dir.join("two.db").display());
        let (a, b) = (SqlStore::connect(&url).await, SqlStore::connect(&url).await);
        two_stores_race(a.unwrap(), b.unwrap(), "SQLite").await;
        let _ = std::fs::remove_dir_all(dir);

        let Some(store) = postgres(&services::unique_name("batch")).await else {
            return;
        };
        saves_at_once(store.clone(), &logs, THROUGH_THE_POOL, "PostgreSQL").await;
        drop_tables(&store).await;
        let table = services::unique_name("batch2");
        let (Some(a), Some(b)) = (postgres(&table).await, postgres(&table).await) else {
            return;
        };
        two_stores_race(a.clone(), b, "PostgreSQL").await;
        drop_tables(&a).await;
    });
}
