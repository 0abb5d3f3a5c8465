//! A store on an SQLite file runs its loads and saves on threads of its
//! own; they end when the store (every clone of it) is dropped, so an
//! application that makes and drops stores does not leak threads. Alone in
//! its test binary, since it counts the process's threads by name.
#![cfg(all(feature = "sqlite", target_os = "linux"))]

use std::time::{Duration, Instant};

use session_conformance::{fixtures, services};
use session_core::SessionStore;
use session_store_sql::SqlStore;

/// The process's threads named as the store names its own.
fn store_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("session-sqlite"))
        })
        .count()
}

#[tokio::test]
async fn the_threads_end_with_the_store() {
    let dir = std::env::temp_dir().join(services::unique_name("threads-end"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("s.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store_threads(), 0, "started before the first load or save");
    let record = fixtures::record(session_core::time::Duration::hours(1), None);
    store.create(&record).await.unwrap();
    assert!(store.load(&record.key).await.unwrap().is_some());
    let clone = store.clone();
    drop(store);
    assert!(store_threads() > 0, "the first load started the threads");
    assert!(clone.load(&record.key).await.unwrap().is_some());
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(5);
    while store_threads() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store_threads(), 0, "threads outlived the store");
    let _ = std::fs::remove_dir_all(dir);
}
