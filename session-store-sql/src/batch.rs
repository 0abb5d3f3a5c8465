//! Batching: operations that arrive while others are running go to the
//! database together.
//!
//! **Saves** (group commit): one statement and one commit for a batch (on
//! SQLite, one take of the write lock and one append to the log; on
//! PostgreSQL, one round trip and one flush of the log) instead of one
//! each. Each save stays its own compare-and-swap with its own answer.
//! The statement saves every record of the batch whose stored version is
//! the one its save expects, and returns the keys it saved; a save it did
//! not save (another writer got there first, the session is gone, or on
//! SQLite its expiry or user changed) then runs alone, with the statements
//! it would have run without the batch ([`update_attempts`]) but those the
//! batch statement stood for, which give it its answer: saved, a conflict,
//! or no live record. A second save of the same session in one batch runs
//! alone with all of them, after the first. On an SQLite file the store
//! opened, a thread of its own writes the batches, each in one
//! transaction (see [`crate::sqlite_threads`]); elsewhere a task sends them
//! through the pool.
//!
//! **Loads**: one `SELECT … WHERE id IN (…)` for the loads waiting, with
//! up to [`READERS`] such statements running at once; each load gets the
//! live record under its key, or none. A batch takes only loads already
//! waiting when its statement starts, so a load sees every save that was
//! answered before the load was asked for.
//!
//! If a batch fails (a lost connection, a busy database), each operation
//! it did not settle runs again alone, with the store's usual retries and
//! errors. A save it did settle keeps its answer: through the pool each
//! statement commits on its own, so a save the batch statement made stays
//! made (run again, it would find its own version and report a
//! conflict); SQLite's writer runs the whole batch in one transaction, so
//! a failure there rolls it all back and every save runs again.
//!
//! Batches form on their own: a task takes every operation waiting (up to
//! [`MAX_BATCH`]) when it starts, so under light load a batch is one
//! operation and under heavy load those that queued meanwhile. Nothing
//! waits to fill a batch.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use session_core::store::{TaskQueue, in_batches};
use session_core::{Record, StoreError, StoreKey, now};
use tokio::sync::{mpsc, oneshot};

use crate::engine::{Param, bound};
use crate::handle::Handle;
use crate::queries::{Queries, update_attempts};
#[cfg(feature = "sqlite")]
use crate::sqlite_threads::SqliteThreads;
use crate::store::{Row, record_of};
use crate::{Engine, Pool, on_pool, version_param};

/// One save with the statements it would run alone, on `$executor`, but
/// for the first `$tried` of them (which the batch statement already
/// made): its answer, or the driver's error (which fails the whole batch).
macro_rules! save_alone {
    ($executor:expr, $queries:expr, $job:expr, $now:expr, $tried:expr) => {
        'save: {
            let attempts = match update_attempts($queries, &$job.record, $job.expected, $now) {
                Ok(attempts) => attempts,
                Err(e) => break 'save Err(e),
            };
            for (sql, params) in attempts.skip($tried) {
                if bound!(sql, &params)
                    .execute($executor)
                    .await?
                    .rows_affected()
                    > 0
                {
                    break 'save Ok(());
                }
            }
            let live: Option<i64> = sqlx::query_scalar(&$queries.live_version)
                .bind($job.record.key.as_str())
                .bind($now)
                .fetch_optional($executor)
                .await?;
            match live {
                Some(_) => Err(StoreError::Conflict),
                None => Err(StoreError::NotFound),
            }
        }
    };
}

/// The most operations one batch holds.
pub(crate) const MAX_BATCH: usize = 64;

/// How many batches of loads may run at once.
pub(crate) const READERS: usize = 4;

/// The loads and saves of one store waiting for, or in, a batch.
pub(crate) enum Batches {
    /// Tasks of the runtime send each batch through the pool: a writer
    /// task per runtime, and readers.
    Tasks {
        /// What each task is given.
        task: Task,
        /// The writer task's queue.
        writer: TaskQueue<Job>,
        /// The readers' queue.
        reader: TaskQueue<Load>,
    },
    /// SQLite, on a database file the store opened: threads of their own,
    /// with connections of their own (see [`SqliteThreads`]).
    #[cfg(feature = "sqlite")]
    Threads(SqliteThreads),
}

/// One save for the writer.
pub(crate) struct Job {
    pub(crate) record: Record,
    pub(crate) expected: u64,
    pub(crate) reply: oneshot::Sender<Answer>,
}

/// One load for the readers.
pub(crate) struct Load {
    pub(crate) key: StoreKey,
    pub(crate) reply: oneshot::Sender<Answer<Option<Record>>>,
}

/// What a batch answers an operation.
pub(crate) enum Answer<T = ()> {
    /// The operation's own answer: for a save, saved,
    /// [`StoreError::Conflict`] or [`StoreError::NotFound`]; for a load,
    /// the live record or none.
    Done(Result<T, StoreError>),
    /// The batch did not settle it (it failed first), or no task or
    /// thread could take it: the operation is to run alone.
    Alone,
}

impl Batches {
    /// Batches for a store, where the engine gains from them: SQLite (one
    /// writer at a time) and PostgreSQL (a log flush per commit).
    /// MySQL/MariaDB operations run alone. On SQLite, they go to threads
    /// of their own when `sqlite_threads` (the store opened the database
    /// file itself, so the threads can open it the same way).
    pub(crate) fn for_engine(
        handle: &Handle,
        queries: &Arc<Queries>,
        #[cfg_attr(not(feature = "sqlite"), allow(unused_variables))] sqlite_threads: bool,
    ) -> Option<Batches> {
        match &handle.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) if sqlite_threads => Some(Batches::Threads(SqliteThreads::new(
                pool,
                &handle.table,
                queries,
            ))),
            pool => match pool.engine() {
                Engine::MySql => None,
                Engine::Sqlite | Engine::Postgres => Some(Batches::Tasks {
                    task: Task {
                        pool: pool.clone(),
                        table: Arc::clone(&handle.table),
                        queries: Arc::clone(queries),
                    },
                    writer: TaskQueue::new(),
                    reader: TaskQueue::new(),
                }),
            },
        }
    }

    /// Saves `record` over `expected` in the next batch.
    pub(crate) async fn update(&self, record: &Record, expected: u64) -> Answer {
        let job = |reply| Job {
            record: record.clone(),
            expected,
            reply,
        };
        match self {
            Batches::Tasks { task, writer, .. } => {
                let start = |jobs| task.clone().write(jobs);
                writer.ask(job, start).await.unwrap_or(Answer::Alone)
            }
            #[cfg(feature = "sqlite")]
            Batches::Threads(threads) => threads.save(job).await,
        }
    }

    /// Whether the batches run on threads of their own.
    #[cfg(test)]
    pub(crate) fn on_threads(&self) -> bool {
        !matches!(self, Batches::Tasks { .. })
    }

    /// The live record under `key`, loaded with the loads waiting.
    pub(crate) async fn load(&self, key: &StoreKey) -> Answer<Option<Record>> {
        let load = |reply| Load {
            key: key.clone(),
            reply,
        };
        match self {
            Batches::Tasks { task, reader, .. } => {
                let start = |loads| task.clone().read(loads);
                reader.ask(load, start).await.unwrap_or(Answer::Alone)
            }
            #[cfg(feature = "sqlite")]
            Batches::Threads(threads) => threads.load(load).await,
        }
    }
}

/// What a task of the batches holds.
#[derive(Clone)]
pub(crate) struct Task {
    pool: Pool,
    table: Arc<str>,
    queries: Arc<Queries>,
}

impl Task {
    /// The writer: one batch after another, each with every save waiting,
    /// until the store (and with it the queue) is dropped.
    async fn write(self, jobs: mpsc::UnboundedReceiver<Job>) {
        in_batches(jobs, MAX_BATCH, 1, move |batch| {
            let task = self.clone();
            async move { task.write_batch(batch).await }
        })
        .await;
    }

    /// Saves `batch` and answers each save.
    async fn write_batch(&self, mut batch: Vec<Job>) {
        in_key_order(&mut batch);
        let (answers, failure) = self.save(&batch).await;
        answer_saves(batch, answers, failure);
    }

    /// The readers: loads waiting are taken together, one `SELECT … WHERE
    /// id IN (…)` each, with up to [`READERS`] of those running at once
    /// (so loads queue, and batch, only while they are all busy).
    async fn read(self, loads: mpsc::UnboundedReceiver<Load>) {
        in_batches(loads, MAX_BATCH, READERS, move |batch| {
            let task = self.clone();
            async move { task.load(batch).await }
        })
        .await;
    }

    /// Loads `batch` in one statement and answers each load.
    async fn load(&self, batch: Vec<Load>) {
        let params = load_params(&batch);
        let sql = load_sql(self.pool.engine(), &self.table, params.len() - 1);
        let rows: Result<Vec<KeyedRow>, sqlx::Error> =
            on_pool!(&self.pool, |p| bound!(sqlx::query_as, &sql, &params)
                .fetch_all(p)
                .await);
        answer_loads(batch, rows);
    }

    /// Saves `batch`: the first save of each key in one statement, the
    /// rest alone; each save's answer, in order, where the batch settled
    /// it, and the error that cut the batch short, if one did. Each
    /// statement commits on its own, so an answer given before the error
    /// stands (a save the batch statement made must not run again, where
    /// it would find its own version and report a conflict).
    async fn save(
        &self,
        batch: &[Job],
    ) -> (Vec<Option<Result<(), StoreError>>>, Option<sqlx::Error>) {
        let now = now().unix_timestamp();
        let mut plan = Plan::new(batch, now);
        let sql = plan.statement(self.pool.engine(), &self.table);
        let queries = &*self.queries;
        let result = on_pool!(&self.pool, |p| async {
            if let Some(sql) = &sql {
                let saved: Vec<String> = bound!(sqlx::query_scalar, sql, plan.params())
                    .fetch_all(p)
                    .await?;
                plan.saved(saved.iter().map(String::as_str));
            }
            for (i, job, tried) in plan.alone(stands_for(self.pool.engine())) {
                plan.answer(i, save_alone!(p, queries, job, now, tried));
            }
            Ok::<_, sqlx::Error>(())
        }
        .await);
        (plan.into_answers(), result.err())
    }
}

/// How a batch of saves goes to the database: the first save of each key
/// in one statement, each over its own expected version; the rest (a
/// second save of a key, a save the statement did not save) alone, after
/// it.
pub(crate) struct Plan<'a> {
    batch: &'a [Job],
    /// Each save's answer, once known.
    answers: Vec<Option<Result<(), StoreError>>>,
    /// The saves the batch statement holds, by index (ascending).
    together: Vec<usize>,
    /// Whether the batch statement ran.
    ran: bool,
    /// The statement's parameters: [`row_params`] of each save in it, then
    /// the current time.
    params: Vec<Param<'a>>,
}

impl<'a> Plan<'a> {
    /// The plan for `batch` (in key order, see [`in_key_order`]) at `now`
    /// (Unix seconds).
    pub(crate) fn new(batch: &'a [Job], now: i64) -> Self {
        let mut answers: Vec<Option<Result<(), StoreError>>> = batch.iter().map(|_| None).collect();
        let mut together = Vec::new();
        let mut params = Vec::new();
        let mut keys = HashSet::new();
        for (i, job) in batch.iter().enumerate() {
            if !keys.insert(job.record.key.as_str()) {
                continue; // a second save of the key: alone, after the first
            }
            match row_params(&job.record, job.expected) {
                Ok(row) => {
                    together.push(i);
                    params.extend(row);
                }
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        params.push(Param::Int(now));
        Plan {
            batch,
            answers,
            together,
            ran: false,
            params,
        }
    }

    /// The batch statement on `engine` (see [`together_sql`]), unless no
    /// save goes in it.
    pub(crate) fn statement(&self, engine: Engine, table: &str) -> Option<String> {
        if self.together.is_empty() {
            return None;
        }
        together_sql(engine, table, self.together.len())
    }

    /// The batch statement's parameters.
    pub(crate) fn params(&self) -> &[Param<'a>] {
        &self.params
    }

    /// Records that the batch statement ran and saved the records under
    /// `keys` (what it returned).
    pub(crate) fn saved<'k>(&mut self, keys: impl IntoIterator<Item = &'k str>) {
        let saved: HashSet<&str> = keys.into_iter().collect();
        self.ran = true;
        for &i in &self.together {
            if saved.contains(self.batch[i].record.key.as_str()) {
                self.answers[i] = Some(Ok(()));
            }
        }
    }

    /// The saves still without an answer, in order, each with how many of
    /// the statements it runs alone ([`update_attempts`]) to skip: `tried`
    /// for a save the batch statement held (those it stood for), none for
    /// the others.
    pub(crate) fn alone(&self, tried: usize) -> Vec<(usize, &'a Job, usize)> {
        let batch = self.batch;
        (0..batch.len())
            .filter(|&i| self.answers[i].is_none())
            .map(|i| {
                let held = self.ran && self.together.binary_search(&i).is_ok();
                (i, &batch[i], if held { tried } else { 0 })
            })
            .collect()
    }

    /// Gives save `i` its answer.
    pub(crate) fn answer(&mut self, i: usize, answer: Result<(), StoreError>) {
        self.answers[i] = Some(answer);
    }

    /// Each save's answer, in order; `None` for a save not settled yet.
    pub(crate) fn into_answers(self) -> Vec<Option<Result<(), StoreError>>> {
        self.answers
    }
}

/// Of the statements a save runs alone ([`update_attempts`]), how many the
/// batch statement stands for: on SQLite the one that keeps the expiry and
/// the user; on PostgreSQL all of them (it sets every column over the
/// version).
pub(crate) fn stands_for(engine: Engine) -> usize {
    match engine {
        Engine::Sqlite => 1,
        _ => usize::MAX,
    }
}

/// Sorts a batch of saves by key, so that writers of several processes
/// take row locks in the same order; a key's saves keep the order they
/// came in.
pub(crate) fn in_key_order(batch: &mut [Job]) {
    batch.sort_by(|a, b| a.record.key.as_str().cmp(b.record.key.as_str()));
}

/// Sends each save of `batch` its answer where the batch settled it
/// (`answers`, in order), and sends the others back to run alone: all of
/// them when the batch succeeded, those it did not reach (or whose
/// transaction rolled back) when `failure` cut it short.
pub(crate) fn answer_saves(
    batch: Vec<Job>,
    answers: Vec<Option<Result<(), StoreError>>>,
    failure: Option<impl std::fmt::Display>,
) {
    if let Some(e) = failure {
        tracing::debug!(
            target: "session_store_sql",
            error = %e,
            saves = batch.len(),
            "a batch of saves failed; the saves it did not settle run alone"
        );
    }
    for (job, answer) in batch.into_iter().zip(answers) {
        let _ = job.reply.send(answer.map_or(Answer::Alone, Answer::Done));
    }
}

/// A row of the batch load: key, then [`Row`].
pub(crate) type KeyedRow = (String, Vec<u8>, i64, i64, i64, Option<String>);

/// The parameters of the statement that loads `batch` ([`load_sql`]): its
/// keys, sorted, each once, then the current time.
pub(crate) fn load_params(batch: &[Load]) -> Vec<Param<'_>> {
    let mut keys: Vec<&str> = batch.iter().map(|load| load.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut params: Vec<Param> = keys.into_iter().map(Param::Text).collect();
    params.push(Param::Int(now().unix_timestamp()));
    params
}

/// Answers each load of `batch` from the `rows` its statement returned,
/// or, if the statement failed, sends it back to run alone.
pub(crate) fn answer_loads(batch: Vec<Load>, rows: Result<Vec<KeyedRow>, impl std::fmt::Display>) {
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!(
                target: "session_store_sql",
                error = %e,
                loads = batch.len(),
                "a batch of loads failed; each runs alone"
            );
            return answer_alone(batch);
        }
    };
    let rows: HashMap<String, Row> = rows
        .into_iter()
        .map(|(id, data, version, created, expires, user)| {
            (id, (data, version, created, expires, user))
        })
        .collect();
    for load in batch {
        let answer = match rows.get(load.key.as_str()) {
            Some(row) => record_of(&load.key, row.clone()).map(Some),
            None => Ok(None),
        };
        let _ = load.reply.send(Answer::Done(answer));
    }
}

/// Sends each load of `batch` back to run alone.
fn answer_alone(batch: Vec<Load>) {
    for load in batch {
        let _ = load.reply.send(Answer::Alone);
    }
}

/// The statement that loads `n` live records at once: key, data, version,
/// created, expires, user. Parameters: the keys, then the current time.
pub(crate) fn load_sql(engine: Engine, table: &str, n: usize) -> String {
    let mut sql = format!(
        "SELECT id, data, version, created_at, expires_at, user_key FROM {table} WHERE id IN ("
    );
    for i in 0..n {
        sql.push_str(if i == 0 { "?" } else { ", ?" });
    }
    sql.push_str(") AND expires_at > ?");
    crate::queries::placeholders(engine, &sql)
}

/// A save's row of the batch statement: key, data, new version, expected
/// version, expiry, user.
fn row_params(record: &Record, expected: u64) -> Result<[Param<'_>; 6], StoreError> {
    Ok([
        Param::Text(record.key.as_str()),
        Param::Bytes(&record.data),
        Param::Int(version_param(record.version)?),
        Param::Int(version_param(expected)?),
        Param::Int(record.expires_at.unix_timestamp()),
        Param::MaybeText(record.user.as_deref()),
    ])
}

/// The statement that saves `n` records at once, each only over its
/// expected version, returning the keys it saved; `None` for MySQL (no
/// `UPDATE … FROM`, no `RETURNING`). Parameters: [`row_params`] for each
/// record, then the current time.
///
/// On SQLite it saves only records whose expiry and user stay as stored,
/// and leaves those indexed columns out of `SET` (see `Queries::new` for
/// why); the others run alone. PostgreSQL updates a row in place anyway
/// when its indexed values do not change.
fn together_sql(engine: Engine, table: &str, n: usize) -> Option<String> {
    let mut sql =
        String::from("WITH v (id, data, version, expected, expires_at, user_key) AS (VALUES ");
    for row in 0..n {
        let sep = if row == 0 { "" } else { ", " };
        let _ = write!(sql, "{sep}(?, ?, ?, ?, ?, ?)");
    }
    // SQLite's `RETURNING` sees only the updated table, unqualified;
    // PostgreSQL's sees `v` too.
    let (set, keeps, returning) = match engine {
        Engine::Sqlite => (
            "data = v.data, version = v.version",
            " AND s.expires_at = v.expires_at AND s.user_key IS v.user_key",
            "id",
        ),
        Engine::Postgres => (
            "data = v.data, version = v.version, expires_at = v.expires_at, user_key = v.user_key",
            "",
            "s.id",
        ),
        Engine::MySql => return None,
    };
    let _ = write!(
        sql,
        ") UPDATE {table} AS s SET {set} FROM v \
         WHERE s.id = v.id AND s.version = v.expected AND s.expires_at > ?{keeps} \
         RETURNING {returning}"
    );
    Some(crate::queries::placeholders(engine, &sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_statement_numbers_its_parameters_per_engine() {
        let pg = together_sql(Engine::Postgres, "sessions", 2).unwrap();
        assert!(
            pg.contains("($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)"),
            "{pg}"
        );
        assert!(pg.contains("s.expires_at > $13 RETURNING s.id"), "{pg}");
        let sqlite = together_sql(Engine::Sqlite, "sessions", 1).unwrap();
        assert!(sqlite.contains("s.user_key IS v.user_key"), "{sqlite}");
        assert!(
            !sqlite.contains("SET data = v.data, version = v.version, expires_at"),
            "{sqlite}"
        );
        assert_eq!(together_sql(Engine::MySql, "sessions", 1), None);
    }

    /// On PostgreSQL each statement of a batch commits on its own: when a
    /// save that runs alone fails after the batch statement saved another,
    /// that other keeps its answer (it must not run again, where it would
    /// find its own version and report a conflict); the failed one runs
    /// alone.
    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn answers_a_batch_gave_before_it_failed_stand() {
        use session_conformance::{fixtures, services};
        let url = services::url(
            "SESSION_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        );
        let table = services::unique_name("stand");
        let store = match crate::SqlStore::builder(&url).table(&table).connect().await {
            Ok(store) => store,
            Err(e) => return services::unavailable::<()>("PostgreSQL", e).unwrap_or(()),
        };
        store.migrate().await.unwrap();
        let Pool::Postgres(pool) = store.pool() else {
            unreachable!("a PostgreSQL store")
        };
        let run = |sql: String| async move { sqlx::query(&sql).execute(pool).await.unwrap() };
        // A save of the data `boom` fails, as a lost connection would.
        run(format!(
            "CREATE FUNCTION {table}_boom() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.data = 'boom'::bytea THEN RAISE EXCEPTION 'boom'; END IF; \
             RETURN NEW; END $$"
        ))
        .await;
        run(format!(
            "CREATE TRIGGER {table}_boom BEFORE UPDATE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION {table}_boom()"
        ))
        .await;
        let a = fixtures::record(session_core::time::Duration::hours(1), None);
        use session_core::SessionStore;
        store.create(&a).await.unwrap();
        let job = |version: u64, data: &str| {
            let (reply, answer) = oneshot::channel();
            let record = Record {
                version,
                data: data.as_bytes().to_vec(),
                ..a.clone()
            };
            (
                Job {
                    record,
                    expected: version - 1,
                    reply,
                },
                answer,
            )
        };
        // The second save of the key runs alone, after the batch statement.
        let ((first, first_answer), (second, second_answer)) = (job(2, "{}"), job(3, "boom"));
        let task = Task {
            pool: store.pool().clone(),
            table: table.as_str().into(),
            queries: Arc::new(Queries::new(Engine::Postgres, &table)),
        };
        task.write_batch(vec![first, second]).await;
        let first = first_answer.await.unwrap();
        let second = second_answer.await.unwrap();
        assert!(
            matches!(first, Answer::Done(Ok(()))),
            "the batch statement's save lost its answer"
        );
        assert!(
            matches!(second, Answer::Alone),
            "the failed save does not run alone"
        );
        assert_eq!(store.load(&a.key).await.unwrap().unwrap().version, 2);
        for sql in [
            format!("DROP TABLE {table}"),
            format!("DROP TABLE {table}_migrations"),
            format!("DROP FUNCTION {table}_boom"),
        ] {
            run(sql).await;
        }
    }
}
