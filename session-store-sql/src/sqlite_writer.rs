//! SQLite's writer: a thread of its own, with a connection of its own,
//! that takes the saves waiting straight from their queue and commits
//! each batch of them in one transaction.
//!
//! SQLite lets one connection write at a time, so a store's saves are
//! only as fast as one writer's round: take the saves waiting, write them,
//! commit, answer. Through sqlx that round passes a task of the runtime,
//! the pool and sqlx's worker thread of the connection, each a hand-off
//! between threads. Here it is one thread that blocks on the queue, runs
//! the statements itself (with `rusqlite`, on the same SQLite library as
//! sqlx's) and answers each save when its batch commits.
//!
//! The batch is one `BEGIN IMMEDIATE … COMMIT`: the batch statement (see
//! [`Plan`]), then each save it did not save, alone, with the statements
//! that give it its answer. Nothing is answered before the commit; if any
//! statement or the commit fails, the transaction rolls back and every
//! save of the batch runs again alone, through the pool, with the store's
//! usual retries and errors.
//!
//! The connection is opened on the first save, on the database file of
//! the pool's connections, with their `synchronous` and `busy_timeout`, so
//! a batch commits as durably, and waits for another writer's lock as
//! long, as any other statement of the store. The thread ends when the
//! store is dropped.
//!
//! Only a store that opened the database itself from a URL naming a file
//! (with SQLite's default VFS, read-write, no shared cache) has this
//! writer: that is the only kind of database the thread can be sure to
//! open as the pool does. A store on a pool made elsewhere, or on an
//! in-memory database, batches its saves through the pool.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params_from_iter};
use session_core::{StoreError, now};
use sqlx::sqlite::SqlitePool;
use tokio::sync::{OnceCell, oneshot};

use crate::Engine;
use crate::batch::{Answer, Job, MAX_BATCH, Plan, answer_saves, in_key_order, stands_for};
use crate::queries::{Queries, update_attempts};

/// A store's SQLite writer: the queue to its thread, started on the first
/// save.
pub(crate) struct SqliteWriter {
    pool: SqlitePool,
    table: Arc<str>,
    queries: Arc<Queries>,
    /// The queue, once the thread runs.
    queue: OnceCell<mpsc::Sender<Job>>,
}

impl SqliteWriter {
    /// The writer for `table` of the database `pool` opens; nothing starts
    /// until the first save.
    pub(crate) fn new(pool: &SqlitePool, table: &Arc<str>, queries: &Arc<Queries>) -> Self {
        SqliteWriter {
            pool: pool.clone(),
            table: Arc::clone(table),
            queries: Arc::clone(queries),
            queue: OnceCell::new(),
        }
    }

    /// Saves `job` in the next batch: its answer, or [`Answer::Alone`]
    /// when the writer cannot take it (it could not start; it stopped).
    pub(crate) async fn ask(&self, job: impl FnOnce(oneshot::Sender<Answer>) -> Job) -> Answer {
        let queue = match self.queue.get_or_try_init(|| self.start()).await {
            Ok(queue) => queue,
            Err(e) => {
                tracing::debug!(
                    target: "session_store_sql",
                    error = %e,
                    "the SQLite writer could not start; the save runs alone"
                );
                return Answer::Alone;
            }
        };
        let (reply, answer) = oneshot::channel();
        if queue.send(job(reply)).is_err() {
            return Answer::Alone;
        }
        answer.await.unwrap_or(Answer::Alone)
    }

    /// Opens the writer's connection and starts its thread.
    async fn start(&self) -> Result<mpsc::Sender<Job>, StartError> {
        let conn = connect(&self.pool).await?;
        let (queue, jobs) = mpsc::channel();
        let thread = Thread {
            conn,
            table: Arc::clone(&self.table),
            queries: Arc::clone(&self.queries),
        };
        std::thread::Builder::new()
            .name("session-sqlite-writer".into())
            .spawn(move || thread.run(&jobs))?;
        Ok(queue)
    }
}

/// A connection for the writer: to the database file of `pool`'s
/// connections (as SQLite itself names it), with their `synchronous` and
/// `busy_timeout`.
async fn connect(pool: &SqlitePool) -> Result<Connection, StartError> {
    let mut pooled = pool.acquire().await?;
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut *pooled)
            .await?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *pooled)
        .await?;
    let busy_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *pooled)
        .await?;
    drop(pooled);
    if file.is_empty() {
        return Err(StartError::NoFile);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_PRIVATE_CACHE;
    let conn = Connection::open_with_flags(file, flags)?;
    conn.busy_timeout(Duration::from_millis(u64::try_from(busy_ms).unwrap_or(0)))?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    // Every size of batch statement, and the statements saves run alone.
    conn.set_prepared_statement_cache_capacity(MAX_BATCH + 8);
    Ok(conn)
}

/// Why the writer could not start.
#[derive(Debug)]
enum StartError {
    /// The pool's connection could not be asked.
    Pool(sqlx::Error),
    /// The pool's database is not in a file the thread could open.
    NoFile,
    /// The thread's connection could not be opened or set up.
    Open(rusqlite::Error),
    /// The thread could not be started.
    Thread(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Pool(e) => write!(f, "reading the pool's settings: {e}"),
            StartError::NoFile => f.write_str("the database is not in a file"),
            StartError::Open(e) => write!(f, "opening the writer's connection: {e}"),
            StartError::Thread(e) => write!(f, "starting the writer's thread: {e}"),
        }
    }
}

impl From<sqlx::Error> for StartError {
    fn from(e: sqlx::Error) -> Self {
        StartError::Pool(e)
    }
}

impl From<rusqlite::Error> for StartError {
    fn from(e: rusqlite::Error) -> Self {
        StartError::Open(e)
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        StartError::Thread(e)
    }
}

/// What the writer's thread holds.
struct Thread {
    conn: Connection,
    table: Arc<str>,
    queries: Arc<Queries>,
}

impl Thread {
    /// One batch after another, each with every save waiting (up to
    /// [`MAX_BATCH`]), until the store, and with it the queue, is dropped.
    fn run(mut self, jobs: &mpsc::Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
            in_key_order(&mut batch);
            let answers = self.save(&batch);
            answer_saves(batch, answers);
        }
    }

    /// Saves `batch` in one transaction; each save's answer, in order.
    fn save(&mut self, batch: &[Job]) -> Result<Vec<Result<(), StoreError>>, rusqlite::Error> {
        let now = now().unix_timestamp();
        let mut plan = Plan::new(batch, now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(sql) = plan.statement(Engine::Sqlite, &self.table) {
            let mut statement = tx.prepare_cached(&sql)?;
            let mut rows = statement.query(params_from_iter(plan.params()))?;
            let mut saved = Vec::new();
            while let Some(row) = rows.next()? {
                saved.push(row.get::<_, String>(0)?);
            }
            plan.saved(saved.iter().map(String::as_str));
        }
        for (i, job, tried) in plan.alone(stands_for(Engine::Sqlite)) {
            let answer = save_alone(&tx, &self.queries, job, now, tried)?;
            plan.answer(i, answer);
        }
        tx.commit()?;
        tracing::debug!(
            target: "session_store_sql",
            saves = batch.len(),
            "a batch of saves committed"
        );
        Ok(plan.answers())
    }
}

/// One save with the statements it would run alone, but for the first
/// `tried` (which the batch statement already made): its answer, or the
/// driver's error (which fails the whole batch).
fn save_alone(
    conn: &Connection,
    queries: &Queries,
    job: &Job,
    now: i64,
    tried: usize,
) -> Result<Result<(), StoreError>, rusqlite::Error> {
    let attempts = match update_attempts(queries, &job.record, job.expected, now) {
        Ok(attempts) => attempts,
        Err(e) => return Ok(Err(e)),
    };
    for (sql, params) in attempts.skip(tried) {
        if conn
            .prepare_cached(sql)?
            .execute(params_from_iter(&params))?
            > 0
        {
            return Ok(Ok(()));
        }
    }
    let live: Option<i64> = conn
        .prepare_cached(&queries.live_version)?
        .query_row((job.record.key.as_str(), now), |row| row.get(0))
        .optional()?;
    Ok(match live {
        Some(_) => Err(StoreError::Conflict),
        None => Err(StoreError::NotFound),
    })
}

#[cfg(test)]
mod tests {
    use session_conformance::fixtures::record;
    use session_core::time::Duration as Ttl;
    use session_core::{Record, SessionStore, UserIndex};
    use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};

    use super::*;
    use crate::{Pool, SqlStore};

    /// A migrated store on a new SQLite file.
    async fn file_store() -> (SqlStore, tempdir::Dir) {
        let dir = tempdir::Dir::new();
        let url = format!("sqlite:{}", dir.0.join("s.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    mod tempdir {
        /// A directory removed when dropped.
        pub(super) struct Dir(pub(super) std::path::PathBuf);
        impl Dir {
            pub(super) fn new() -> Self {
                let dir = std::env::temp_dir()
                    .join(session_conformance::services::unique_name("sqlite-writer"));
                std::fs::create_dir_all(&dir).unwrap();
                Dir(dir)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn sqlite(store: &SqlStore) -> &SqlitePool {
        let Pool::Sqlite(pool) = store.pool() else {
            unreachable!("an SQLite store")
        };
        pool
    }

    /// A writer's thread for `store`, driven by the test.
    async fn thread(store: &SqlStore) -> Thread {
        Thread {
            conn: connect(sqlite(store)).await.unwrap(),
            table: store.table().into(),
            queries: Arc::new(Queries::new(Engine::Sqlite, store.table())),
        }
    }

    /// `record` saved over `expected` at the next version with `data`.
    fn save(record: &Record, expected: u64, data: &str) -> Job {
        Job {
            record: Record {
                version: expected + 1,
                data: data.as_bytes().to_vec(),
                ..record.clone()
            },
            expected,
            reply: oneshot::channel().0,
        }
    }

    async fn created(store: &SqlStore, user: Option<&str>) -> Record {
        let r = record(Ttl::hours(1), user);
        store.create(&r).await.unwrap();
        r
    }

    #[tokio::test]
    async fn a_batch_gives_each_save_its_own_answer() {
        let (store, _dir) = file_store().await;
        let (a, b, d) = (
            created(&store, None).await,
            created(&store, None).await,
            created(&store, Some("ada")).await,
        );
        let gone = record(Ttl::hours(1), None);
        let mut to_bob = save(&d, 1, r#"{"d":2}"#);
        to_bob.record.user = Some("bob".into());
        let batch = [
            save(&a, 1, r#"{"a":2}"#),
            save(&a, 2, r#"{"a":3}"#), // the same key again: alone, after the first
            save(&b, 7, r#"{"b":8}"#), // over a version it is not at
            save(&gone, 1, "{}"),      // never created
            to_bob,                    // a new user: alone
        ];
        let answers = thread(&store).await.save(&batch).unwrap();
        assert!(
            matches!(
                answers[..],
                [
                    Ok(()),
                    Ok(()),
                    Err(StoreError::Conflict),
                    Err(StoreError::NotFound),
                    Ok(())
                ]
            ),
            "{answers:?}"
        );
        let a = store.load(&a.key).await.unwrap().unwrap();
        assert_eq!((a.version, a.data.as_slice()), (3, &br#"{"a":3}"#[..]));
        assert_eq!(store.load(&b.key).await.unwrap().unwrap().version, 1);
        let d = store.load(&d.key).await.unwrap().unwrap();
        assert_eq!((d.version, d.user.as_deref()), (2, Some("bob")));
        assert_eq!(store.sessions_of("ada").await.unwrap().len(), 0);
    }

    #[tokio::test]
    async fn a_batch_that_fails_commits_nothing_and_its_saves_run_alone() {
        let (store, _dir) = file_store().await;
        let (a, b) = (created(&store, None).await, created(&store, None).await);
        // A save of the data `boom` fails, as a full disk or a corrupt page
        // would fail a statement.
        sqlx::query(
            "CREATE TRIGGER boom BEFORE UPDATE ON sessions WHEN NEW.data = CAST('boom' AS BLOB) \
             BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .execute(sqlite(&store))
        .await
        .unwrap();
        let mut boom = save(&b, 1, "boom");
        boom.record.user = Some("bob".into()); // past the batch statement, alone
        let batch = [save(&a, 1, r#"{"a":2}"#), boom];
        let err = thread(&store).await.save(&batch).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        // The batch statement had saved `a`; the rollback undid it.
        assert_eq!(store.load(&a.key).await.unwrap().unwrap().version, 1);

        // Through the store, each save gets its own answer.
        let [a2, boom] = batch.map(|job| job.record);
        store.update(&a2, 1).await.unwrap();
        assert!(store.update(&boom, 1).await.is_err());
        assert_eq!(store.load(&a.key).await.unwrap().unwrap().version, 2);
        assert_eq!(store.load(&b.key).await.unwrap().unwrap().version, 1);
    }

    #[tokio::test]
    async fn the_writer_saves_into_the_file_a_uri_names() {
        let dir = tempdir::Dir::new();
        let url = format!("sqlite:file:{}?mode=rwc", dir.0.join("s.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        assert!(store.batches.as_ref().unwrap().on_a_thread());
        let a = created(&store, None).await;
        let queries = Arc::new(Queries::new(Engine::Sqlite, "sessions"));
        let writer = SqliteWriter::new(sqlite(&store), &"sessions".into(), &queries);
        let saved = save(&a, 1, r#"{"a":2}"#).record;
        let answer = writer
            .ask(|reply| Job {
                record: saved,
                expected: 1,
                reply,
            })
            .await;
        assert!(
            matches!(answer, Answer::Done(Ok(()))),
            "not saved by the writer"
        );
        let loaded = store.load(&a.key).await.unwrap().unwrap();
        assert_eq!(
            (loaded.version, loaded.data.as_slice()),
            (2, &br#"{"a":2}"#[..])
        );
    }

    #[tokio::test]
    async fn in_memory_and_borrowed_pools_save_through_the_pool() {
        let in_memory = SqlStore::connect("sqlite::memory:").await.unwrap();
        let borrowed = SqlStore::from_pool(sqlite(&in_memory).clone());
        for store in [in_memory, borrowed] {
            assert!(!store.batches.as_ref().unwrap().on_a_thread());
        }
        // Were a writer asked anyway, it would not start on memory.
        let in_memory = SqlStore::connect("sqlite::memory:").await.unwrap();
        let err = connect(sqlite(&in_memory)).await.unwrap_err();
        assert!(matches!(err, StartError::NoFile), "{err}");
    }

    #[tokio::test]
    async fn the_writer_waits_and_syncs_as_the_pools_connections_do() {
        let dir = tempdir::Dir::new();
        let options = SqliteConnectOptions::new()
            .filename(dir.0.join("s.db"))
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::from_millis(1234))
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let conn = connect(&pool).await.unwrap();
        let busy: i64 = conn
            .pragma_query_value(None, "busy_timeout", |r| r.get(0))
            .unwrap();
        let synchronous: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!((busy, synchronous), (1234, 2));
    }
}
