//! SQLite's batches on threads of their own: a writer, with a connection
//! of its own, that takes the saves waiting straight from their queue and
//! commits each batch of them in one transaction; and readers, each with a
//! connection of its own, that load the loads waiting in one statement.
//!
//! SQLite lets one connection write at a time, so a store's saves are
//! only as fast as one writer's round: take the saves waiting, write them,
//! commit, answer. Through sqlx that round passes a task of the runtime,
//! the pool and sqlx's worker thread of the connection, each a hand-off
//! between threads, and every row comes back through a channel. Here it
//! is one thread that blocks on the queue, runs the statements itself
//! (with `rusqlite`, on the same SQLite library as sqlx's) and answers each
//! save when its batch commits. Loads go the same way, to [`READERS`]
//! threads that take turns at their queue (in WAL mode, readers and the
//! writer do not wait for each other).
//!
//! A batch of saves is one `BEGIN IMMEDIATE … COMMIT`: the batch statement
//! (see [`Plan`]), then each save it did not save, alone, with the
//! statements that give it its answer. Nothing is answered before the
//! commit; if any statement or the commit fails, the transaction rolls
//! back and every save of the batch runs again alone, through the pool,
//! with the store's usual retries and errors. A batch of loads is one
//! `SELECT … WHERE id IN (…)`, which starts after every load in it was
//! asked for, so each load sees every save answered before it; if it
//! fails, its loads run alone.
//!
//! The connections are opened on the first load or save, on the database
//! file of the pool's connections, with their `synchronous` and
//! `busy_timeout`, so a batch commits as durably, and waits for another
//! writer's lock as long, as any other statement of the store; the
//! readers' connections are `query_only`. The threads end when the store
//! is dropped.
//!
//! Only a store that opened the database itself from a URL naming a file
//! (with SQLite's default VFS, read-write, no shared cache) has these
//! threads: that is the only kind of database they can be sure to open as
//! the pool does. A store on a pool made elsewhere, or on an in-memory
//! database, batches through the pool.

use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params_from_iter};
use session_core::{Record, StoreError, now};
use sqlx::sqlite::SqlitePool;
use tokio::sync::{OnceCell, oneshot};

use crate::Engine;
use crate::batch::{
    Answer, Job, KeyedRow, Load, MAX_BATCH, Plan, READERS, answer_loads, answer_saves,
    in_key_order, load_params, load_sql, stands_for,
};
use crate::queries::{Queries, update_attempts};

/// A store's SQLite threads: the queues to them, once started (on the
/// first load or save).
pub(crate) struct SqliteThreads {
    pool: SqlitePool,
    table: Arc<str>,
    queries: Arc<Queries>,
    queues: OnceCell<Queues>,
}

/// The queues to the threads.
struct Queues {
    saves: mpsc::Sender<Job>,
    loads: mpsc::Sender<Load>,
}

impl SqliteThreads {
    /// The threads for `table` of the database `pool` opens; nothing
    /// starts until the first load or save.
    pub(crate) fn new(pool: &SqlitePool, table: &Arc<str>, queries: &Arc<Queries>) -> Self {
        SqliteThreads {
            pool: pool.clone(),
            table: Arc::clone(table),
            queries: Arc::clone(queries),
            queues: OnceCell::new(),
        }
    }

    /// Saves `job` in the next batch: its answer, or [`Answer::Alone`]
    /// when the writer cannot take it (it could not start; it stopped).
    pub(crate) async fn save(&self, job: impl FnOnce(oneshot::Sender<Answer>) -> Job) -> Answer {
        match self.queues().await {
            Some(queues) => ask(&queues.saves, job).await,
            None => Answer::Alone,
        }
    }

    /// Loads `load` in the next batch: its answer, or [`Answer::Alone`]
    /// when no reader can take it.
    pub(crate) async fn load(
        &self,
        load: impl FnOnce(oneshot::Sender<Answer<Option<Record>>>) -> Load,
    ) -> Answer<Option<Record>> {
        match self.queues().await {
            Some(queues) => ask(&queues.loads, load).await,
            None => Answer::Alone,
        }
    }

    /// The queues, the threads started if they were not.
    async fn queues(&self) -> Option<&Queues> {
        match self.queues.get_or_try_init(|| self.start()).await {
            Ok(queues) => Some(queues),
            Err(e) => {
                tracing::debug!(
                    target: "session_store_sql",
                    error = %e,
                    "the SQLite threads could not start; the operation runs alone"
                );
                None
            }
        }
    }

    /// Opens the threads' connections and starts them.
    async fn start(&self) -> Result<Queues, StartError> {
        let settings = Settings::of(&self.pool).await?;
        let writer = Writer {
            conn: settings.open(Role::Writer)?,
            table: Arc::clone(&self.table),
            queries: Arc::clone(&self.queries),
        };
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(Reader {
                conn: settings.open(Role::Reader)?,
                table: Arc::clone(&self.table),
            });
        }
        let (saves, jobs) = mpsc::channel();
        let (loads, waiting) = mpsc::channel();
        let waiting = Arc::new(Mutex::new(waiting));
        spawn("session-sqlite-writer", move || writer.run(&jobs))?;
        for reader in readers {
            let waiting = Arc::clone(&waiting);
            spawn("session-sqlite-reader", move || reader.run(&waiting))?;
        }
        Ok(Queues { saves, loads })
    }
}

/// Sends the item `make` makes to `queue` and waits for its answer;
/// [`Answer::Alone`] when the thread has stopped.
async fn ask<T, U>(
    queue: &mpsc::Sender<T>,
    make: impl FnOnce(oneshot::Sender<Answer<U>>) -> T,
) -> Answer<U> {
    let (reply, answer) = oneshot::channel();
    if queue.send(make(reply)).is_err() {
        return Answer::Alone;
    }
    answer.await.unwrap_or(Answer::Alone)
}

/// Starts a thread called `name` running `run`.
fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> Result<(), StartError> {
    std::thread::Builder::new().name(name.into()).spawn(run)?;
    Ok(())
}

/// What a thread's connection is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    /// `query_only`: it cannot write.
    Reader,
}

/// What the threads' connections take from the pool's: the database
/// file (as SQLite itself names it), `synchronous` and `busy_timeout`.
struct Settings {
    file: String,
    synchronous: i64,
    busy_ms: i64,
}

impl Settings {
    /// The settings of `pool`'s connections, asked of one of them.
    async fn of(pool: &SqlitePool) -> Result<Settings, StartError> {
        let mut pooled = pool.acquire().await?;
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&mut *pooled)
                .await?;
        if file.is_empty() {
            return Err(StartError::NoFile);
        }
        let synchronous = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *pooled)
            .await?;
        let busy_ms = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *pooled)
            .await?;
        Ok(Settings {
            file,
            synchronous,
            busy_ms,
        })
    }

    /// A connection for a thread with these settings.
    fn open(&self, role: Role) -> Result<Connection, StartError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_PRIVATE_CACHE;
        let conn = Connection::open_with_flags(&self.file, flags)?;
        conn.busy_timeout(Duration::from_millis(
            u64::try_from(self.busy_ms).unwrap_or(0),
        ))?;
        conn.pragma_update(None, "synchronous", self.synchronous)?;
        if role == Role::Reader {
            conn.pragma_update(None, "query_only", true)?;
        }
        // Every size of batch statement, and (for the writer) the
        // statements saves run alone.
        conn.set_prepared_statement_cache_capacity(MAX_BATCH + 8);
        Ok(conn)
    }
}

/// Why the threads could not start.
#[derive(Debug)]
enum StartError {
    /// The pool's connection could not be asked.
    Pool(sqlx::Error),
    /// The pool's database is not in a file the thread could open.
    NoFile,
    /// A thread's connection could not be opened or set up.
    Open(rusqlite::Error),
    /// A thread could not be started.
    Thread(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Pool(e) => write!(f, "reading the pool's settings: {e}"),
            StartError::NoFile => f.write_str("the database is not in a file"),
            StartError::Open(e) => write!(f, "opening a thread's connection: {e}"),
            StartError::Thread(e) => write!(f, "starting a thread: {e}"),
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

/// The next batch from `queue`: the first item to come, then every item
/// already waiting, up to [`MAX_BATCH`]; `None` once the queue is closed.
fn next_batch<T>(queue: &mpsc::Receiver<T>) -> Option<Vec<T>> {
    let first = queue.recv().ok()?;
    let mut batch = vec![first];
    batch.extend(queue.try_iter().take(MAX_BATCH - 1));
    Some(batch)
}

/// What the writer's thread holds.
struct Writer {
    conn: Connection,
    table: Arc<str>,
    queries: Arc<Queries>,
}

impl Writer {
    /// One batch after another, each with every save waiting (up to
    /// [`MAX_BATCH`]), until the store, and with it the queue, is dropped.
    fn run(mut self, jobs: &mpsc::Receiver<Job>) {
        while let Some(mut batch) = next_batch(jobs) {
            in_key_order(&mut batch);
            // A failed batch rolled back: none of its answers stands.
            let (answers, failure) = match self.save(&batch) {
                Ok(answers) => (answers, None),
                Err(e) => (batch.iter().map(|_| None).collect(), Some(e)),
            };
            answer_saves(batch, answers, failure);
        }
    }

    /// Saves `batch` in one transaction; each save's answer, in order.
    fn save(
        &mut self,
        batch: &[Job],
    ) -> Result<Vec<Option<Result<(), StoreError>>>, rusqlite::Error> {
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
        Ok(plan.into_answers())
    }
}

/// What a reader's thread holds.
struct Reader {
    conn: Connection,
    table: Arc<str>,
}

impl Reader {
    /// One batch after another, each with every load waiting (up to
    /// [`MAX_BATCH`]), taking turns at the queue with the other readers,
    /// until the store, and with it the queue, is dropped.
    fn run(self, waiting: &Mutex<mpsc::Receiver<Load>>) {
        loop {
            let queue = waiting.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(batch) = next_batch(&queue) else {
                return;
            };
            drop(queue);
            let rows = self.load(&batch);
            tracing::debug!(
                target: "session_store_sql",
                loads = batch.len(),
                "a batch of loads ran"
            );
            answer_loads(batch, rows);
        }
    }

    /// The live rows of `batch`'s keys.
    fn load(&self, batch: &[Load]) -> Result<Vec<KeyedRow>, rusqlite::Error> {
        let params = load_params(batch);
        let sql = load_sql(Engine::Sqlite, &self.table, params.len() - 1);
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(&params), |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })?;
        rows.collect()
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
    use session_core::{SessionStore, StoreKey, UserIndex};
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

    /// A writer for `store`, driven by the test.
    async fn writer(store: &SqlStore) -> Writer {
        Writer {
            conn: Settings::of(sqlite(store))
                .await
                .unwrap()
                .open(Role::Writer)
                .unwrap(),
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
        let answers = writer(&store).await.save(&batch).unwrap();
        assert!(
            matches!(
                answers[..],
                [
                    Some(Ok(())),
                    Some(Ok(())),
                    Some(Err(StoreError::Conflict)),
                    Some(Err(StoreError::NotFound)),
                    Some(Ok(()))
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
        let err = writer(&store).await.save(&batch).unwrap_err();
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
    async fn the_threads_save_and_load_in_the_file_a_uri_names() {
        let dir = tempdir::Dir::new();
        let url = format!("sqlite:file:{}?mode=rwc", dir.0.join("s.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        assert!(store.batches.as_ref().unwrap().on_threads());
        let a = created(&store, None).await;
        let queries = Arc::new(Queries::new(Engine::Sqlite, "sessions"));
        let threads = SqliteThreads::new(sqlite(&store), &"sessions".into(), &queries);
        let saved = save(&a, 1, r#"{"a":2}"#).record;
        let answer = threads
            .save(|reply| Job {
                record: saved,
                expected: 1,
                reply,
            })
            .await;
        assert!(
            matches!(answer, Answer::Done(Ok(()))),
            "not saved by the writer"
        );
        let key = a.key.clone();
        let answer = threads.load(|reply| Load { key, reply }).await;
        let Answer::Done(Ok(Some(loaded))) = answer else {
            panic!("not loaded by a reader")
        };
        assert_eq!(
            (loaded.version, loaded.data.as_slice()),
            (2, &br#"{"a":2}"#[..])
        );
        // The pool sees the same file.
        assert_eq!(store.load(&a.key).await.unwrap().unwrap(), loaded);
    }

    #[tokio::test]
    async fn a_database_another_process_holds_locked_is_unavailable() {
        let dir = tempdir::Dir::new();
        let file = dir.0.join("s.db");
        let store = SqlStore::builder(format!("sqlite:{}", file.display()))
            .timeout(std::time::Duration::from_millis(600))
            .connect()
            .await
            .unwrap();
        store.migrate().await.unwrap();
        assert!(store.batches.as_ref().unwrap().on_threads());
        let a = created(&store, None).await;
        let other = Connection::open(&file).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = store
            .update(&save(&a, 1, r#"{"a":2}"#).record, 1)
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        // Loads do not wait for the lock.
        assert!(store.load(&a.key).await.unwrap().is_some());
        other.execute_batch("ROLLBACK").unwrap();
        // The save that timed out may still land once the lock is gone
        // (as any timed-out write may); a second save over the same
        // version, queued after it, then finds it landed, or lands itself.
        let again = store
            .clone()
            .with_timeout(std::time::Duration::from_secs(10))
            .update(&save(&a, 1, r#"{"a":3}"#).record, 1)
            .await;
        let stored = store.load(&a.key).await.unwrap().unwrap();
        let expected: &[u8] = match again {
            Err(StoreError::Conflict) => br#"{"a":2}"#,
            Ok(()) => br#"{"a":3}"#,
            Err(e) => panic!("{e}"),
        };
        assert_eq!((stored.version, stored.data.as_slice()), (2, expected));
    }

    #[tokio::test]
    async fn in_memory_and_borrowed_pools_save_through_the_pool() {
        let in_memory = SqlStore::connect("sqlite::memory:").await.unwrap();
        let borrowed = SqlStore::from_pool(sqlite(&in_memory).clone());
        for store in [in_memory, borrowed] {
            assert!(!store.batches.as_ref().unwrap().on_threads());
        }
        // Were a writer asked anyway, it would not start on memory.
        let in_memory = SqlStore::connect("sqlite::memory:").await.unwrap();
        let err = Settings::of(sqlite(&in_memory)).await.err().unwrap();
        assert!(matches!(err, StartError::NoFile), "{err}");
    }

    #[tokio::test]
    async fn the_threads_wait_and_sync_as_the_pools_connections_do() {
        let dir = tempdir::Dir::new();
        let options = SqliteConnectOptions::new()
            .filename(dir.0.join("s.db"))
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::from_millis(1234))
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let settings = Settings::of(&pool).await.unwrap();
        for role in [Role::Writer, Role::Reader] {
            let conn = settings.open(role).unwrap();
            let pragma =
                |name| -> i64 { conn.pragma_query_value(None, name, |r| r.get(0)).unwrap() };
            assert_eq!((pragma("busy_timeout"), pragma("synchronous")), (1234, 2));
            assert_eq!(pragma("query_only") == 1, role == Role::Reader);
        }
    }

    /// What a reader answers each load of `keys`, in one batch.
    async fn loaded(store: &SqlStore, keys: &[&StoreKey]) -> Vec<Option<Record>> {
        let reader = Reader {
            conn: Settings::of(sqlite(store))
                .await
                .unwrap()
                .open(Role::Reader)
                .unwrap(),
            table: store.table().into(),
        };
        let (batch, answers): (Vec<Load>, Vec<_>) = keys
            .iter()
            .map(|&key| {
                let (reply, answer) = oneshot::channel();
                (
                    Load {
                        key: key.clone(),
                        reply,
                    },
                    answer,
                )
            })
            .unzip();
        let rows = reader.load(&batch);
        answer_loads(batch, rows);
        let mut records = Vec::new();
        for answer in answers {
            match answer.await.unwrap() {
                Answer::Done(Ok(record)) => records.push(record),
                Answer::Done(Err(e)) => panic!("{e}"),
                Answer::Alone => panic!("the batch failed"),
            }
        }
        records
    }

    #[tokio::test]
    async fn a_batch_of_loads_answers_each_with_its_live_record() {
        let (store, _dir) = file_store().await;
        let (a, b) = (
            created(&store, None).await,
            created(&store, Some("ada")).await,
        );
        let expired = record(Ttl::seconds(-5), None);
        store.create(&expired).await.unwrap();
        let never = record(Ttl::hours(1), None);
        let answers = loaded(&store, &[&b.key, &a.key, &expired.key, &never.key, &a.key]).await;
        let versions: Vec<_> = answers
            .iter()
            .map(|r| r.as_ref().map(|r| (r.key.clone(), r.user.clone())))
            .collect();
        assert_eq!(
            versions,
            [
                Some((b.key.clone(), Some("ada".into()))),
                Some((a.key.clone(), None)),
                None,
                None,
                Some((a.key.clone(), None)),
            ]
        );
        assert_eq!(answers[0].as_ref().unwrap(), &b);
    }

    #[tokio::test]
    async fn a_reader_cannot_write() {
        let (store, _dir) = file_store().await;
        let conn = Settings::of(sqlite(&store))
            .await
            .unwrap()
            .open(Role::Reader)
            .unwrap();
        let err = conn.execute("DELETE FROM sessions", []).unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    }
}
