//! The conformance kit and engine-specific tests against real SQLite,
//! PostgreSQL and MySQL/MariaDB databases.
//!
//! PostgreSQL and MySQL URLs come from `SESSION_TEST_POSTGRES_URL` and
//! `SESSION_TEST_MYSQL_URL` (local defaults); each test works in a table of
//! its own, and tables left by runs more than an hour old are dropped.

use std::time::Duration;

use session_conformance::proxy::TcpProxy;
use session_conformance::services;
use session_core::{KeyRing, SessionManager, SessionStore, StoreError};
use session_store_sql::{Pool, SqlStore, SqlStoreBuilder};

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

fn postgres_url() -> String {
    services::url("SESSION_TEST_POSTGRES_URL", POSTGRES_URL)
}

fn mysql_url() -> String {
    services::url("SESSION_TEST_MYSQL_URL", MYSQL_URL)
}

/// A migrated store on a fresh table, or `None` (skip) when the server is unreachable.
async fn store_at(url: &str, engine: &str) -> Option<SqlStore> {
    let table = services::unique_name("conf");
    let store = match SqlStore::builder(url)
        .table(&table)
        .acquire_timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Ok(store) => store,
        Err(e) => return services::unavailable(engine, e),
    };
    drop_stale_tables(&store).await;
    store.migrate().await.expect("migrate");
    Some(store)
}

/// Drops test tables older than an hour (left behind by earlier runs).
async fn drop_stale_tables(store: &SqlStore) {
    let now = session_core::now().unix_timestamp() as u64;
    let list = "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'conf\\_%'";
    let names: Vec<String> = match store.pool() {
        Pool::Postgres(p) => sqlx::query_scalar(list)
            .fetch_all(p)
            .await
            .unwrap_or_default(),
        Pool::MySql(p) => sqlx::query_scalar::<_, String>(list)
            .fetch_all(p)
            .await
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    for name in names {
        if services::created_at(&name).is_some_and(|t| t + 3600 < now) {
            let sql = format!("DROP TABLE IF EXISTS {name}");
            let _ = match store.pool() {
                Pool::Postgres(p) => sqlx::query(&sql).execute(p).await.map(|_| ()),
                Pool::MySql(p) => sqlx::query(&sql).execute(p).await.map(|_| ()),
                _ => Ok(()),
            };
        }
    }
}

/// A migrated store in a fresh SQLite file. The files live under the
/// system's temporary directory; those of runs more than an hour old are
/// removed.
async fn sqlite_store() -> SqlStore {
    let root = std::env::temp_dir().join("session-store-sql-tests");
    let now = session_core::now().unix_timestamp() as u64;
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if services::created_at(&name).is_some_and(|t| t + 3600 < now) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = root.join(services::unique_name("db"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = SqlStore::connect(&format!("sqlite:{}", dir.join("sessions.db").display()))
        .await
        .expect("sqlite");
    store.migrate().await.expect("migrate");
    store
}

/// Runs one statement of a test's own against whichever engine `store` uses.
async fn exec(store: &SqlStore, sql: &str) {
    let result = match store.pool() {
        Pool::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Pool::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Pool::MySql(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        _ => unreachable!("every engine is enabled in tests"),
    };
    result.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn manager(store: &SqlStore) -> SessionManager {
    SessionManager::new(store.clone(), KeyRing::new([11u8; 32]).unwrap())
}

/// Makes a session holding `user_id = 1`; returns its cookie and store key.
async fn session(manager: &SessionManager) -> (String, String) {
    let (cookie, key) = session_conformance::fixtures::new_session(manager, "user_id", 1).await;
    (cookie, key.as_str().to_owned())
}

/// Rows edited by hand into garbage: the store reports them as corrupt or
/// the core fails to decode them; either way the visitor gets a fresh
/// session, nothing panics and the row is not overwritten by a read.
async fn garbage_rows_are_no_session(store: SqlStore) {
    let manager = manager(&store);
    let table = store.table().to_owned();
    let hex = |h: &str| match store.pool() {
        Pool::Postgres(_) => format!("decode('{h}', 'hex')"),
        _ => format!("X'{h}'"),
    };
    let cases = [
        ("undecodable data", format!("data = {}", hex("00ff00"))),
        ("text data", format!("data = {}", hex("6e6f74206a736f6e"))),
        ("negative version", "version = -5".to_owned()),
        (
            "timestamp out of range",
            "expires_at = 9000000000000000000".to_owned(),
        ),
    ];
    for (name, set) in cases {
        let (cookie, key) = session(&manager).await;
        exec(
            &store,
            &format!("UPDATE {table} SET {set} WHERE id = '{key}'"),
        )
        .await;
        let request = manager.request([cookie.as_str()]);
        let loaded = request
            .load()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.is_empty(), "{name}: garbage became a session");
        request
            .finish(200)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let (_, key) = session(&manager).await;
    exec(
        &store,
        &format!("UPDATE {table} SET version = -5 WHERE id = '{key}'"),
    )
    .await;
    match store.load(&session_core::StoreKey::new(&key)).await {
        Err(StoreError::Corrupt(why)) => {
            assert!(why.contains("version"), "{why}");
            assert!(!why.contains(&key), "the store key is logged: {why}");
        }
        other => panic!("a negative version must be reported as corrupt, got {other:?}"),
    }
}

/// Makes `url` point at `addr` instead of its own host and port.
fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (auth, rest) = rest.rsplit_once('@').map_or(("", rest), |(a, r)| (a, r));
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let at = if auth.is_empty() { "" } else { "@" };
    format!("{scheme}://{auth}{at}{addr}{path}")
}

async fn target_of(url: &str) -> std::net::SocketAddr {
    session_conformance::proxy::engine_addr(url).await.unwrap()
}

/// A session stored through a proxy in front of the engine at `url`, by a
/// store with two connections and the settings `configure` adds; `None`
/// (skip, or fail under CI, as the conformance tests do) when the engine is
/// unreachable.
async fn session_through_proxy(
    url: &str,
    engine: &str,
    configure: impl FnOnce(SqlStoreBuilder) -> SqlStoreBuilder,
) -> Option<(TcpProxy, SessionManager, String)> {
    let direct = store_at(url, engine).await?;
    let proxy = TcpProxy::start(target_of(url).await).await.unwrap();
    let builder = SqlStore::builder(via(url, proxy.addr()))
        .table(direct.table())
        .max_connections(2);
    let store = configure(builder)
        .connect()
        .await
        .expect("connect through the proxy");
    let manager = manager(&store);
    let (cookie, _) = session(&manager).await;
    Some((proxy, manager, cookie))
}

/// The session `cookie` carries loads again, data and all, once the
/// engine is back.
async fn loads_again(manager: &SessionManager, cookie: &str) {
    let session = session_conformance::fixtures::load_once_recovered(manager, cookie)
        .await
        .unwrap_or_else(|e| panic!("the store did not recover once the engine was back: {e}"));
    assert_eq!(
        session.get::<u32>("user_id").unwrap(),
        Some(1),
        "the session was lost"
    );
}

/// The engine goes away in the middle of traffic: operations fail with
/// "unavailable" (503), nothing panics, nothing is lost, and the same store
/// works again once the engine is back.
async fn engine_outage_is_an_error_then_recovers(url: &str, engine: &str) {
    let Some((proxy, manager, cookie)) =
        session_through_proxy(url, engine, |b| b.acquire_timeout(Duration::from_secs(1))).await
    else {
        return;
    };
    proxy.cut().await;
    let err = manager
        .request([cookie.as_str()])
        .load()
        .await
        .expect_err("load while the engine is gone");
    assert_eq!(err.status_code(), 503, "{err}");
    let request = manager.request(None);
    request.load().await.unwrap().insert("x", 1).unwrap();
    let err = request
        .finish(200)
        .await
        .expect_err("save while the engine is gone");
    assert_eq!(err.status_code(), 503, "{err}");

    proxy.restore().await.unwrap();
    loads_again(&manager, &cookie).await;
}

/// Another client holds a lock on the sessions table: the store's
/// operations fail with "unavailable" once its timeout has passed instead
/// of waiting as long as the lock is held, and work again once it is
/// released, with nothing lost. `lock` takes the lock on its own
/// connection and returns a guard that releases it when dropped.
async fn locked_table_is_an_error_within_the_timeout<L>(
    store: &SqlStore,
    lock: impl AsyncFnOnce(&str) -> L,
    reads_wait: bool,
) {
    let limit = Duration::from_millis(500);
    let store = store.clone().with_timeout(limit);
    let manager = manager(&store);
    let (cookie, _) = session(&manager).await;

    let guard = lock(store.table()).await;
    let most = if reads_wait { 2 * limit } else { limit } + Duration::from_secs(2);
    let started = std::time::Instant::now();
    if reads_wait {
        session_conformance::fixtures::load_is_unavailable(&manager, &cookie, most).await;
    }
    let request = manager.request([cookie.as_str()]);
    let writes = bounded(async {
        request.load().await?.insert("user_id", 2)?;
        request.finish(200).await
    });
    let err = writes.await.expect_err("save while the table is locked");
    assert_eq!(err.status_code(), 503, "{err}");
    let elapsed = started.elapsed();
    assert!(
        elapsed < most,
        "the timeout did not bound the wait: {elapsed:?}"
    );
    drop(guard);

    let session = session_conformance::fixtures::load_once_recovered(&manager, &cookie)
        .await
        .unwrap_or_else(|e| panic!("the store did not recover once the lock was released: {e}"));
    let user = session.get::<u32>("user_id").unwrap();
    // The timed-out write may land once the lock is released; either way
    // the session is there.
    assert!(
        matches!(user, Some(1 | 2)),
        "the session was lost: {user:?}"
    );
}

/// `operation`, failing the test if it hangs.
async fn bounded<T>(operation: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), operation)
        .await
        .expect("the operation hung")
}

/// The engine stops answering with its connections left open (a network
/// partition, a frozen server): operations fail with "unavailable" once the
/// store's timeout has passed (here 1 s, shorter than the 5 s spent waiting
/// for a connection) instead of hanging the request, and the store works
/// again once the engine answers.
async fn stalled_engine_is_an_error_then_recovers(url: &str, engine: &str) {
    let Some((proxy, manager, cookie)) =
        session_through_proxy(url, engine, |b| b.timeout(Duration::from_secs(1))).await
    else {
        return;
    };
    proxy.stall();
    session_conformance::fixtures::load_is_unavailable(&manager, &cookie, Duration::from_secs(3))
        .await;
    // The operators' statistics are bounded too.
    let tools = manager.store().maintenance().expect("SQL stores count");
    let stats = tokio::time::timeout(Duration::from_secs(3), tools.stats(5))
        .await
        .expect("stats hung on a stalled engine");
    assert!(
        stats.as_ref().is_err_and(StoreError::is_unavailable),
        "{stats:?}"
    );

    proxy.resume();
    loads_again(&manager, &cookie).await;
}

mod sqlite {
    use super::*;
    session_conformance::store_tests!(sqlite_store().await);

    #[tokio::test]
    async fn garbage_rows() {
        let store = sqlite_store().await;
        garbage_rows_are_no_session(store.clone()).await;
        // SQLite's columns take any type: a text expiry is corrupt, not a panic.
        let manager = manager(&store);
        let (cookie, key) = session(&manager).await;
        exec(
            &store,
            &format!(
                "UPDATE {} SET expires_at = 'soon' WHERE id = '{key}'",
                store.table()
            ),
        )
        .await;
        assert!(
            manager
                .request([cookie.as_str()])
                .load()
                .await
                .unwrap()
                .is_empty()
        );
    }

    /// SQLite's busy timeout would hold a writer for 10 seconds behind
    /// another process's write transaction; the store's timeout answers first.
    #[tokio::test]
    async fn locked_database() {
        use sqlx::{ConnectOptions, Executor};
        let store = sqlite_store().await;
        let Pool::Sqlite(pool) = store.pool() else {
            unreachable!()
        };
        let options = pool.connect_options();
        locked_table_is_an_error_within_the_timeout(
            &store,
            async |_| {
                let mut other = options.connect().await.unwrap();
                other.execute("BEGIN IMMEDIATE").await.unwrap();
                other
            },
            false,
        )
        .await;
    }

    /// SQLite's own "database is locked", after a pool's busy timeout, is
    /// tried again within the store's time bound, then "unavailable" (503)
    /// naming the lock.
    #[tokio::test]
    async fn busy_database_is_unavailable() {
        use sqlx::{ConnectOptions, Executor};
        let store = sqlite_store().await;
        let Pool::Sqlite(pool) = store.pool() else {
            unreachable!()
        };
        let options = (*pool.connect_options())
            .clone()
            .busy_timeout(Duration::from_millis(100));
        let impatient = sqlx::sqlite::SqlitePoolOptions::new().connect_lazy_with(options.clone());
        let impatient = SqlStore::with_table(impatient, store.table())
            .unwrap()
            .with_timeout(Duration::from_millis(600));
        let mut other = options.connect().await.unwrap();
        other.execute("BEGIN IMMEDIATE").await.unwrap();
        let request = manager(&impatient).request(None);
        request.load().await.unwrap().insert("a", 1).unwrap();
        let err = request
            .finish(200)
            .await
            .expect_err("the database is locked");
        assert!(err.to_string().contains("locked"), "{err}");
        assert_eq!(err.status_code(), 503, "{err}");
    }

    #[tokio::test]
    async fn runs_in_wal_mode_with_a_busy_timeout() {
        let store = sqlite_store().await;
        let Pool::Sqlite(pool) = store.pool() else {
            unreachable!()
        };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .unwrap();
        assert!(timeout >= 5000, "busy_timeout {timeout}");
    }

    #[tokio::test]
    async fn migrate_is_idempotent_and_reports_the_schema() {
        let store = sqlite_store().await;
        assert!(store.schema_is_current().await.unwrap());
        store.migrate().await.unwrap();
        let other = SqlStore::with_table(store.pool().clone(), "not_migrated").unwrap();
        assert!(!other.schema_is_current().await.unwrap());
    }

    #[tokio::test]
    async fn bad_urls_and_table_names_are_clear_errors() {
        let err = SqlStore::connect("redis://localhost").await.unwrap_err();
        assert!(
            err.to_string().contains("unsupported session store URL"),
            "{err}"
        );
        let err = SqlStore::builder("sqlite::memory:")
            .table("x; DROP TABLE y")
            .connect()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("invalid session table name"),
            "{err}"
        );
        assert!(SqlStore::with_table(store_pool().await, "1abc").is_err());
        assert!(SqlStore::with_table(store_pool().await, "").is_err());
    }

    async fn store_pool() -> Pool {
        sqlite_store().await.pool().clone()
    }
}

mod postgres {
    use super::*;
    session_conformance::store_tests!(match store_at(&postgres_url(), "PostgreSQL").await {
        Some(store) => store,
        None => return,
    });

    #[tokio::test]
    async fn garbage_rows() {
        let Some(store) = store_at(&postgres_url(), "PostgreSQL").await else {
            return;
        };
        garbage_rows_are_no_session(store).await;
    }

    #[tokio::test]
    async fn outage() {
        engine_outage_is_an_error_then_recovers(&postgres_url(), "PostgreSQL").await;
    }

    #[tokio::test]
    async fn stalled_engine() {
        stalled_engine_is_an_error_then_recovers(&postgres_url(), "PostgreSQL").await;
    }

    #[tokio::test]
    async fn locked_table() {
        use sqlx::{Connection, Executor};
        let Some(store) = store_at(&postgres_url(), "PostgreSQL").await else {
            return;
        };
        locked_table_is_an_error_within_the_timeout(
            &store,
            async |table| {
                let mut other = sqlx::PgConnection::connect(&postgres_url()).await.unwrap();
                other.execute("BEGIN").await.unwrap();
                let lock = format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE");
                other.execute(lock.as_str()).await.unwrap();
                other
            },
            true,
        )
        .await;
    }
}

mod mysql {
    use super::*;
    session_conformance::store_tests!(match store_at(&mysql_url(), "MySQL/MariaDB").await {
        Some(store) => store,
        None => return,
    });

    #[tokio::test]
    async fn garbage_rows() {
        let Some(store) = store_at(&mysql_url(), "MySQL/MariaDB").await else {
            return;
        };
        garbage_rows_are_no_session(store).await;
    }

    #[tokio::test]
    async fn outage() {
        engine_outage_is_an_error_then_recovers(&mysql_url(), "MySQL/MariaDB").await;
    }

    #[tokio::test]
    async fn stalled_engine() {
        stalled_engine_is_an_error_then_recovers(&mysql_url(), "MySQL/MariaDB").await;
    }

    #[tokio::test]
    async fn locked_table() {
        use sqlx::{Connection, Executor};
        let Some(store) = store_at(&mysql_url(), "MySQL/MariaDB").await else {
            return;
        };
        locked_table_is_an_error_within_the_timeout(
            &store,
            async |table| {
                let mut other = sqlx::MySqlConnection::connect(&mysql_url()).await.unwrap();
                let lock = format!("LOCK TABLES {table} WRITE");
                other.execute(lock.as_str()).await.unwrap();
                other
            },
            true,
        )
        .await;
    }
}
