//! What [`SqlStore`](crate::SqlStore) and
//! [`DjangoSqlStore`](crate::DjangoSqlStore) share: the pool, the table
//! and the bound on each operation, with the accessors both publish.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use session_core::StoreError;

use crate::{OpenError, Pool, within};

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

    /// The `Debug` output of the store called `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("engine", &self.pool.engine())
            .field("table", &self.table)
            .field("timeout", &self.timeout)
            .finish()
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
