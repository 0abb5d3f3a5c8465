//! On SQLite, the statements that end sessions (a logout, a revoke) run at
//! `synchronous = FULL`, so they are on disk before the response leaves;
//! saves stay at the pool's `NORMAL`. Checked from the statements sqlx
//! reports running (its `sqlx::query` log), on a pool of one connection.
#![cfg(feature = "sqlite")]

use session_conformance::fixtures::CapturedLogs;
use session_core::{KeyRing, Maintenance, SessionManager};
use session_store_sql::SqlStore;

/// The statements run since the last call, as sqlx summarises them.
fn statements(logs: &CapturedLogs) -> Vec<String> {
    logs.take()
        .lines()
        .filter_map(|l| l.split_once("summary=\"")?.1.split_once('"'))
        .map(|(summary, _)| summary.to_owned())
        .collect()
}

fn ends_durably(statements: &[String], what: &str) {
    let full = statements
        .iter()
        .position(|s| s.starts_with("PRAGMA synchronous = FULL"));
    let delete = statements.iter().position(|s| s.starts_with("DELETE"));
    let normal = statements
        .iter()
        .rposition(|s| s.starts_with("PRAGMA synchronous = NORMAL"));
    assert!(
        matches!((full, delete, normal), (Some(f), Some(d), Some(n)) if f < d && d < n),
        "{what}: the DELETE must run between synchronous = FULL and back to NORMAL: {statements:?}"
    );
}

#[test]
fn statements_that_end_sessions_are_synced() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    // Global: sqlx runs SQLite statements on a thread of its own.
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_env_filter("sqlx::query=debug")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    )
    .unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let dir = std::env::temp_dir().join(session_conformance::services::unique_name("durable"));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqlStore::builder(format!("sqlite:{}", dir.join("s.db").display()))
            .max_connections(1)
            .connect()
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let manager = SessionManager::new(store.clone(), KeyRing::new([9u8; 32]).unwrap());

        let request = manager.request(None);
        request.load().await.unwrap().set_user("ada").unwrap();
        let cookie = session_conformance::fixtures::finish(&request).await;
        let saved = statements(&logs);
        assert!(
            saved.iter().any(|s| s.starts_with("INSERT")),
            "the log shows the statements: {saved:?}"
        );
        assert!(
            !saved.iter().any(|s| s.contains("synchronous")),
            "a save runs at the pool's setting: {saved:?}"
        );

        // A logout.
        let logout = manager.request([cookie.as_str()]);
        logout.load().await.unwrap().end();
        logout.finish(200).await.unwrap();
        ends_durably(&statements(&logs), "a logout");

        // A revoke.
        let request = manager.request(None);
        request.load().await.unwrap().set_user("ada").unwrap();
        session_conformance::fixtures::finish(&request).await;
        logs.take();
        assert_eq!(manager.end_sessions_of("ada", None).await.unwrap(), 1);
        ends_durably(&statements(&logs), "a revoke");
        assert_eq!(store.stats(0).await.unwrap().live, 0);
        let _ = std::fs::remove_dir_all(dir);
    });
}
