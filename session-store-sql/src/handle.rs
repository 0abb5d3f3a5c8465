//! What [`SqlStore`](crate::SqlStore) and
//! [`DjangoSqlStore`](crate::DjangoSqlStore) share: the pool, the table
//! and the bound on each operation, with the accessors both publish.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use session_core::time::OffsetDateTime;
use session_core::{Maintenance, StoreError, StoreKey, now};

use crate::engine::{Param, bound};
use crate::queries::SWEEP_BATCH;
use crate::{OpenError, Pool, on_pool, store_error, within};

/// How long one store operation may take before it fails as unavailable
/// (see [`SqlStoreBuilder::timeout`](crate::SqlStoreBuilder::timeout)).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A store's pool, table and time bound. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Handle {
    pub(crate) pool: Pool,
    pub(crate) table: Arc<str>,
    pub(crate) timeout: Duration,
}

impl Handle {
    /// A handle on `table` of `pool`, with the default time bound.
    ///
    /// # Errors
    ///
    /// [`OpenError::InvalidTable`] unless `table` is 1 to 48 ASCII letters,
    /// digits or underscores, starting with a letter (it is written into
    /// the statements, so nothing else may reach them).
    pub(crate) fn new(pool: Pool, table: &str) -> Result<Self, OpenError> {
        let valid = (1..=48).contains(&table.len())
            && table.starts_with(|c: char| c.is_ascii_alphabetic())
            && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(OpenError::InvalidTable(table.to_owned()));
        }
        Ok(Handle {
            pool,
            table: table.into(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Runs `operation` within the time bound, trying again on lock
    /// conflicts (see [`within`]).
    pub(crate) async fn run<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        within(self.timeout, operation).await
    }

    /// Runs `sql` with `params`; how many rows it changed.
    pub(crate) async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        on_pool!(&self.pool, |p| bound!(sql, params)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(store_error)
    }

    /// Runs a touch statement (binds: new expiry, key, now); no row touched
    /// means no live session.
    pub(crate) async fn touch(
        &self,
        sql: &str,
        key: &StoreKey,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let params = [
            Param::Int(expires_at.unix_timestamp()),
            Param::Text(key.as_str()),
            Param::Int(now().unix_timestamp()),
        ];
        match self.execute(sql, &params).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Runs a batched sweep statement (binds: now, at most `max` rows).
    pub(crate) async fn delete_expired_batch(
        &self,
        sql: &str,
        max: u64,
    ) -> Result<u64, StoreError> {
        let params = [
            Param::Int(now().unix_timestamp()),
            Param::Int(i64::try_from(max).unwrap_or(i64::MAX)),
        ];
        self.execute(sql, &params).await
    }

    /// The `Debug` output of the store called `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("engine", &self.pool.engine())
            .field("table", &self.table)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Versions are stored as signed 64-bit integers.
pub(crate) fn version_param(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::backend(format!("session version {v} too large for SQL")))
}

/// Deletes expired rows in batches of [`SWEEP_BATCH`] until none are left.
pub(crate) async fn sweep(store: &impl Maintenance) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let removed = store.delete_expired_batch(SWEEP_BATCH as u64).await?;
        total += removed;
        if removed < SWEEP_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// The example the accessors share: makes the store with `$make` from an
/// SQLite pool `pool` and checks what each accessor says.
macro_rules! handle_example {
    ($make:literal, $table:literal) => {
        concat!(
            "```\n",
            "# #[tokio::main(flavor = \"current_thread\")]\n",
            "# async fn main() -> Result<(), Box<dyn std::error::Error>> {\n",
            "use std::time::Duration;\n",
            "let pool = sqlx::SqlitePool::connect(\"sqlite::memory:\").await?;\n",
            "let store = ",
            $make,
            ";\n",
            "assert_eq!(store.timeout(), Duration::from_secs(10));\n",
            "assert_eq!(store.pool().engine(), session_store_sql::Engine::Sqlite);\n",
            "assert_eq!(store.table(), \"",
            $table,
            "\");\n",
            "let store = store.with_timeout(Duration::from_secs(1));\n",
            "assert_eq!(store.timeout(), Duration::from_secs(1));\n",
            "# Ok(()) }\n",
            "```",
        )
    };
}
pub(crate) use handle_example;

/// The accessors of a store with a `handle` field: `with_timeout`,
/// `timeout`, `pool` and `table`, and its `Debug`; `$make` and `$table`
/// are for the example (see [`handle_example`]).
macro_rules! handle_accessors {
    ($store:ident, $make:literal, $table:literal) => {
        impl $store {
            /// This store with another bound on each operation (default 10
            /// seconds), after which it fails with
            /// [`StoreError::Unavailable`](session_core::StoreError::Unavailable);
            /// see [`SqlStoreBuilder::timeout`](crate::SqlStoreBuilder::timeout).
            ///
            #[doc = $crate::handle::handle_example!($make, $table)]
            pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.handle.timeout = timeout;
                self
            }

            /// How long one operation may take (see
            /// [`with_timeout`](Self::with_timeout)).
            ///
            #[doc = $crate::handle::handle_example!($make, $table)]
            pub fn timeout(&self) -> std::time::Duration {
                self.handle.timeout
            }

            /// The pool, for sharing with the rest of the application.
            ///
            #[doc = $crate::handle::handle_example!($make, $table)]
            pub fn pool(&self) -> &crate::Pool {
                &self.handle.pool
            }

            /// The table's name.
            ///
            #[doc = $crate::handle::handle_example!($make, $table)]
            pub fn table(&self) -> &str {
                &self.handle.table
            }
        }

        impl std::fmt::Debug for $store {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.handle.debug(stringify!($store), f)
            }
        }
    };
}
pub(crate) use handle_accessors;
