//! ID rotation in one transaction: the old row is replaced only at the
//! expected version, and the new row inserted in the same transaction,
//! so a rotation either happens whole or changes nothing.

use session_core::{Record, StoreError, now};

use crate::queries::Queries;
use crate::{Pool, store_error, version_param};

/// What the transaction found.
enum Outcome {
    Rotated,
    /// No live row at the expected version: nothing changed.
    Refused,
    /// The new key is taken: nothing changed.
    Duplicate,
}

/// Runs the rotation on one engine's pool: the old row replaced (at the
/// expected version), then the new one inserted. SQLite's transaction takes the
/// write lock at `BEGIN IMMEDIATE`, so it waits for other writers (busy
/// timeout) instead of failing when a read would upgrade to a write.
macro_rules! rotate_on {
    ($begin:expr, $q:expr, $old:expr, $old_version:expr, $expected:expr, $new:expr, $version:expr, $now:expr) => {
        async {
            let mut tx = $begin.await?;
            let replaced = sqlx::query(&$q.update)
                .bind($old.data.as_slice())
                .bind($old_version)
                .bind($old.expires_at.unix_timestamp())
                .bind($old.user.as_deref())
                .bind($old.key.as_str())
                .bind($expected)
                .bind($now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if replaced == 0 {
                tx.rollback().await?;
                Ok(Outcome::Refused)
            } else {
                let inserted = sqlx::query(&$q.insert)
                    .bind($new.key.as_str())
                    .bind($new.data.as_slice())
                    .bind($version)
                    .bind($new.created_at.unix_timestamp())
                    .bind($new.expires_at.unix_timestamp())
                    .bind($new.user.as_deref())
                    .execute(&mut *tx)
                    .await;
                match inserted {
                    Ok(_) => {
                        tx.commit().await?;
                        Ok(Outcome::Rotated)
                    }
                    Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                        tx.rollback().await?;
                        Ok(Outcome::Duplicate)
                    }
                    Err(e) => Err(e),
                }
            }
        }
        .await
    };
}

/// `SessionStore::rotate` for the SQL store; `live_version` tells a
/// refused rotation's conflict from an ended session.
pub(crate) async fn rotate(
    pool: &Pool,
    q: &Queries,
    old: &Record,
    expected_version: u64,
    new: &Record,
) -> Result<Option<()>, StoreError> {
    let (expected, version) = (
        version_param(expected_version)?,
        version_param(new.version)?,
    );
    let old_version = version_param(old.version)?;
    let now = now().unix_timestamp();
    let outcome: Result<Outcome, sqlx::Error> = match pool {
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(p) => rotate_on!(
            p.begin_with("BEGIN IMMEDIATE"),
            q,
            old,
            old_version,
            expected,
            new,
            version,
            now
        ),
        #[cfg(feature = "postgres")]
        Pool::Postgres(p) => {
            rotate_on!(p.begin(), q, old, old_version, expected, new, version, now)
        }
        #[cfg(feature = "mysql")]
        Pool::MySql(p) => rotate_on!(p.begin(), q, old, old_version, expected, new, version, now),
    };
    match outcome.map_err(store_error)? {
        Outcome::Rotated => Ok(Some(())),
        Outcome::Refused => Ok(None),
        Outcome::Duplicate => Err(StoreError::Duplicate),
    }
}
