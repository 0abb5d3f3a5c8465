//! Group commit: saves that arrive while others are being written go to
//! the database together, as one statement and one commit (on SQLite, one
//! take of the write lock and one append to the log; on PostgreSQL, one
//! round trip and one flush of the log) instead of one each.
//!
//! Each save stays its own compare-and-swap with its own answer. The
//! statement saves every record of the batch whose stored version is the
//! one its save expects, and returns the keys it saved; a save it did not
//! save (another writer got there first, the session is gone, or on
//! SQLite its expiry or user changed) then runs alone, with the statements
//! it would have run without the batch ([`update_attempts`]), which give
//! it its answer: saved, a conflict, or no live record. So does a second
//! save of the same session in one batch, after the first. If the batch
//! fails as a whole (a lost connection, a busy database), no save is
//! answered from it: each runs again alone, with the store's usual
//! retries and errors.
//!
//! A batch forms on its own: one writer task per store takes every save
//! waiting (up to [`MAX_BATCH`]) when it starts, so under light load a
//! batch is one save and under heavy load the saves that queued during the
//! last one. Nothing waits to fill a batch.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use session_core::{Record, StoreError, now};
use tokio::sync::{mpsc, oneshot};

use crate::engine::{Param, bound};
use crate::handle::Handle;
use crate::queries::{Queries, update_attempts};
use crate::{Engine, Pool, on_pool, version_param};

/// One save with the statements it would run alone, on `$executor`: its
/// answer, or the driver's error (which fails the whole batch).
macro_rules! save_alone {
    ($executor:expr, $queries:expr, $job:expr, $now:expr) => {
        'save: {
            let attempts = match update_attempts($queries, &$job.record, $job.expected, $now) {
                Ok(attempts) => attempts,
                Err(e) => break 'save Err(e),
            };
            for (sql, params) in attempts {
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

/// The most saves one batch holds.
const MAX_BATCH: usize = 64;

/// The saves of one store waiting for, or in, a batch.
pub(crate) struct Batches {
    pool: Pool,
    table: Arc<str>,
    queries: Arc<Queries>,
    /// The writer task's queue; `None` until the first save, and replaced
    /// when the task is gone (its runtime shut down).
    writer: Mutex<Option<mpsc::UnboundedSender<Job>>>,
}

/// One save for the writer.
struct Job {
    record: Record,
    expected: u64,
    reply: oneshot::Sender<Answer>,
}

/// What the writer answers a save.
pub(crate) enum Answer {
    /// The save's own answer: saved, [`StoreError::Conflict`] or
    /// [`StoreError::NotFound`].
    Done(Result<(), StoreError>),
    /// The batch failed as a whole, or no writer could take it: the save
    /// is to run alone.
    Alone,
}

impl Batches {
    /// Batches for a store, where the engine gains from them: SQLite (one
    /// writer at a time) and PostgreSQL (a log flush per commit).
    /// MySQL/MariaDB saves run alone.
    pub(crate) fn for_engine(handle: &Handle, queries: &Arc<Queries>) -> Option<Batches> {
        match handle.pool.engine() {
            Engine::Sqlite | Engine::Postgres => Some(Batches {
                pool: handle.pool.clone(),
                table: Arc::clone(&handle.table),
                queries: Arc::clone(queries),
                writer: Mutex::new(None),
            }),
            Engine::MySql => None,
        }
    }

    /// Saves `record` over `expected` in the next batch.
    pub(crate) async fn update(&self, record: &Record, expected: u64) -> Answer {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            record: record.clone(),
            expected,
            reply,
        };
        if !self.send(job) {
            return Answer::Alone;
        }
        answer.await.unwrap_or(Answer::Alone)
    }

    /// Queues `job`, starting a writer on the current runtime if there is
    /// none (or the last one is gone); false when there is no runtime.
    fn send(&self, job: Job) -> bool {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let job = match writer.as_ref() {
            Some(queue) => match queue.send(job) {
                Ok(()) => return true,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let (queue, jobs) = mpsc::unbounded_channel();
        let task = Writer {
            pool: self.pool.clone(),
            table: Arc::clone(&self.table),
            queries: Arc::clone(&self.queries),
        };
        runtime.spawn(task.run(jobs));
        let sent = queue.send(job).is_ok();
        *writer = Some(queue);
        sent
    }
}

/// What the writer task holds.
struct Writer {
    pool: Pool,
    table: Arc<str>,
    queries: Arc<Queries>,
}

impl Writer {
    /// One batch after another, each with every save waiting, until the
    /// store (and with it the queue) is dropped.
    async fn run(self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // In key order, so that writers of several processes take row
            // locks in the same order; a key's saves keep the order they
            // came in.
            batch.sort_by(|a, b| a.record.key.as_str().cmp(b.record.key.as_str()));
            match self.save(&batch).await {
                Ok(answers) => {
                    for (job, answer) in batch.drain(..).zip(answers) {
                        let _ = job.reply.send(Answer::Done(answer));
                    }
                }
                Err(e) => {
                    tracing::debug!(
                        target: "session_store_sql",
                        error = %e,
                        saves = batch.len(),
                        "a batch of saves failed; each runs alone"
                    );
                    for job in batch.drain(..) {
                        let _ = job.reply.send(Answer::Alone);
                    }
                }
            }
        }
    }

    /// Saves `batch`: the first save of each key in one statement, the
    /// rest alone; each save's answer, in order.
    async fn save(&self, batch: &[Job]) -> Result<Vec<Result<(), StoreError>>, sqlx::Error> {
        let now = now().unix_timestamp();
        let engine = self.pool.engine();
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
        let sql = together_sql(engine, &self.table, together.len());
        let queries = &*self.queries;
        on_pool!(&self.pool, |p| async {
            if let (Some(sql), false) = (&sql, together.is_empty()) {
                let saved: Vec<String> = bound!(sqlx::query_scalar, sql, &params)
                    .fetch_all(p)
                    .await?;
                let saved: HashSet<&str> = saved.iter().map(String::as_str).collect();
                for &i in &together {
                    if saved.contains(batch[i].record.key.as_str()) {
                        answers[i] = Some(Ok(()));
                    }
                }
            }
            for (i, job) in batch.iter().enumerate() {
                if answers[i].is_none() {
                    answers[i] = Some(save_alone!(p, queries, job, now));
                }
            }
            Ok::<_, sqlx::Error>(())
        }
        .await)?;
        Ok(answers
            .into_iter()
            .map(|answer| answer.unwrap_or(Err(StoreError::Conflict)))
            .collect())
    }
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
}
