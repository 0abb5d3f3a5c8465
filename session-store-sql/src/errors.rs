//! How driver errors map onto the store contract's error kinds, and the
//! time bound (with retries of lock conflicts) every operation runs in.

use std::fmt;
use std::time::Duration;

use session_core::StoreError;

/// Runs one store operation, failing with [`StoreError::Unavailable`]
/// when it has not finished within `limit` (the database stopped
/// answering, or something holds a lock the operation waits for). An
/// attempt the engine refused as a transient lock conflict (a deadlock, a
/// serialization failure, SQLite busy) rolled back and is tried again,
/// after a pause that doubles with each try and is jittered, within the
/// same limit.
pub(crate) async fn within<T, F, Fut>(limit: Duration, mut operation: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let conflict = std::sync::Mutex::new(None);
    let attempts = async {
        let mut pause = Duration::from_millis(1);
        loop {
            match operation().await {
                Err(e) if is_transient(&e) => {
                    tracing::debug!(target: "session_store_sql", error = %e, "lock conflict; trying again");
                    *conflict.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    tokio::time::sleep(jittered(pause)).await;
                    pause = (pause * 2).min(Duration::from_millis(64));
                }
                other => return other,
            }
        }
    };
    let outcome = tokio::time::timeout(limit, attempts).await;
    let conflict = conflict.into_inner().unwrap_or_else(|p| p.into_inner());
    match (outcome, conflict) {
        (Ok(result), _) => result,
        (Err(_), Some(conflict)) => Err(StoreError::unavailable(format!(
            "lock conflicts lasted past {limit:?}; the last: {conflict}"
        ))),
        (Err(_), None) => Err(StoreError::unavailable(format!(
            "the database did not answer within {limit:?}"
        ))),
    }
}

/// Between half and all of `pause`, so writers that collided spread out.
fn jittered(pause: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let half = pause / 2;
    half + Duration::from_nanos(u64::from(nanos) % (half.as_nanos() as u64).max(1))
}

/// A lock conflict the engine resolved by refusing this attempt, which
/// it rolled back: trying again is safe and likely to succeed.
#[derive(Debug)]
struct Transient(sqlx::Error);

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (a lock conflict)", self.0)
    }
}

impl std::error::Error for Transient {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn is_transient(e: &StoreError) -> bool {
    match e {
        StoreError::Backend(source) | StoreError::Unavailable(source) => source.is::<Transient>(),
        _ => false,
    }
}

/// Maps a driver error onto the store contract's error kinds.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::unavailable(e),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(e.to_string()),
        sqlx::Error::Database(ref db) => {
            let code = db.code().unwrap_or_default();
            if sqlite_busy(db.as_ref()) {
                // Busy past the busy timeout, or at once where waiting
                // could deadlock: unavailable if it lasts, tried again
                // until then.
                StoreError::Unavailable(Box::new(Transient(e)))
            } else if code == "40001" || code == "40P01" {
                // Serialization failure, deadlock (PostgreSQL; MySQL and
                // MariaDB report their deadlock 1213 as 40001).
                StoreError::Backend(Box::new(Transient(e)))
            } else if code.starts_with("08") || code.starts_with("57P") {
                // SQLSTATE class 08 (connection exception) and PostgreSQL's
                // 57P01-57P03 (the server is shutting down or starting up).
                StoreError::unavailable(e)
            } else {
                StoreError::backend(e)
            }
        }
        other => StoreError::backend(other),
    }
}

/// SQLite's "database is busy" or "locked" (primary result codes 5 and 6):
/// another connection holds the lock for longer than the busy timeout.
fn sqlite_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // The code is the extended result code; its low byte the primary one.
        let primary = db
            .code()
            .and_then(|c| c.parse::<u32>().ok())
            .map(|c| c & 0xff);
        return matches!(primary, Some(5 | 6));
    }
    let _ = db;
    false
}
