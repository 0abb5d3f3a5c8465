//! A session store on SQL databases, through [`sqlx`].
//!
//! One crate, three engines, chosen by feature:
//!
//! | feature | engine | URL |
//! |---|---|---|
//! | `sqlite` (default) | SQLite, embedded: no server to run | `sqlite:sessions.db` |
//! | `postgres` | PostgreSQL | `postgres://user@host/db` |
//! | `mysql` | MySQL and MariaDB | `mysql://user@host/db` |
//!
//! Each operation of the store contract is one statement: `load` is one
//! `SELECT` that skips expired rows, `create` one `INSERT` (a duplicate key
//! is [`StoreError::Duplicate`](session_core::StoreError::Duplicate)), `update` one
//! `UPDATE … WHERE id = ? AND version = ?` (compare-and-swap; only when it
//! matches nothing do further statements handle a change of user and tell
//! a conflict from a deleted session), `touch` an `UPDATE` of the expiry
//! alone. `created_at` is written once, by `create`. `delete_expired`
//! deletes in batches of 1000 rows so it never holds a long lock, and the
//! user index is an indexed column.
//!
//! On SQLite and PostgreSQL, loads and saves that arrive while others run
//! go to the database together. Loads waiting share one
//! `SELECT … WHERE id IN (…)`. Saves waiting share one
//! `WITH v AS (VALUES …) UPDATE … FROM v … RETURNING id` (group commit),
//! which saves every record of the batch whose stored version is the one
//! its save expects, in one round trip and one commit; a save it did not
//! save runs alone as above, which gives it its own answer (saved, a
//! conflict, or gone). So each save keeps its own compare-and-swap, each
//! load sees every save answered before it, and a batch that fails only
//! sends the operations it did not settle back to run alone.
//!
//! On an SQLite file the store opened itself ([`SqlStore::connect`],
//! [`SqlStore::builder`]), saves go to a writer thread with a connection
//! of its own (through `rusqlite`, on the same SQLite library), which takes
//! the saves waiting straight from their queue and commits each batch,
//! the saves that run alone included, in one transaction: SQLite has one
//! writer at a time, and this writer's round has no hand-off between
//! threads but the save's own. A store on a pool made elsewhere
//! ([`SqlStore::from_pool`]) or on an in-memory database batches its saves
//! through the pool.
//!
//! The table (default `sessions`) is created by [`SqlStore::migrate`] from
//! the SQL files shipped in this crate's `migrations/` folder; rows are keyed
//! by the SHA-256 of the session ID, times are Unix seconds.
//!
//! SQLite runs in WAL mode with a busy timeout, so concurrent writers wait
//! for each other instead of failing with "database is locked". Saves run
//! at `synchronous = NORMAL` (a power loss may undo the last saves);
//! statements that end sessions (logout, revoke, flush) at `FULL`, synced
//! before they return, so a crash never brings a logged-out session back.
//! PostgreSQL and MySQL/MariaDB sync every commit with their default
//! settings. A deadlock, serialization failure or SQLite busy is tried
//! again (with a jittered, doubling pause) within the operation's time
//! bound. ID rotation is one transaction.
//!
//! Every operation is bounded in time (10 seconds by default,
//! [`SqlStoreBuilder::timeout`]): a database that stops answering, or a
//! table another client keeps locked, gives [`StoreError::Unavailable`](session_core::StoreError::Unavailable)
//! (a 503 through the framework adapters) instead of a request that waits
//! forever.
//!
//! ```
//! use session_core::{KeyRing, SessionManager};
//! use session_store_sql::SqlStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("sql-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let path = dir.join("sessions.db");
//! let store = SqlStore::connect(&format!("sqlite:{}", path.display())).await?;
//! store.migrate().await?;
//! let manager = SessionManager::new(store, KeyRing::new([5u8; 32])?);
//!
//! let request = manager.request(None);
//! request.load().await?.insert("user_id", 123)?;
//! assert!(request.finish(200).await?.set_cookie.is_some());
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "session-store-sql needs at least one of the features `sqlite`, `postgres`, `mysql`"
);

pub mod django;
mod migrate;
mod queries;

pub use django::DjangoSqlStore;

mod batch;
mod engine;
mod errors;
mod handle;
mod open;
mod rotate;
#[cfg(feature = "sqlite")]
mod sqlite_threads;
mod store;

pub use engine::{Engine, Pool};
pub(crate) use engine::{on_pool, on_pool_durably};
pub(crate) use errors::{store_error, within};
pub(crate) use handle::{DEFAULT_TIMEOUT, sweep, version_param};
pub use open::{OpenError, SqlStoreBuilder};
pub use store::SqlStore;
