//! The SQL text of each store operation, per engine.

use session_core::{Record, StoreError};

use crate::engine::Param;
use crate::{Engine, version_param};

/// Rows `delete_expired` removes per statement, so no statement holds its
/// locks for long.
pub(crate) const SWEEP_BATCH: i64 = 1000;

/// Every statement the store runs, with the table name filled in.
pub(crate) struct Queries {
    pub(crate) load: String,
    pub(crate) insert: String,
    pub(crate) update: String,
    pub(crate) update_same_user: String,
    /// SQLite only: see where it is made.
    pub(crate) update_steady: Option<String>,
    pub(crate) live_version: String,
    pub(crate) delete: String,
    pub(crate) touch: String,
    pub(crate) delete_expired: String,
    pub(crate) sessions_of: String,
    pub(crate) delete_sessions_of: String,
    pub(crate) stats: String,
    pub(crate) top_users: String,
}

impl Queries {
    pub(crate) fn new(engine: Engine, table: &str) -> Self {
        // MySQL reports binary-collated text columns as VARBINARY, which the
        // driver will not decode as text; convert them in the query.
        let text = |col: &str| match engine {
            Engine::MySql => format!("CONVERT({col} USING utf8mb4)"),
            Engine::Sqlite | Engine::Postgres => col.to_owned(),
        };
        let q = |sql: &str| {
            let sql = sql
                .replace("{table}", table)
                .replace("{user_key}", &text("user_key"))
                .replace("{id}", &text("id"));
            placeholders(engine, &sql)
        };
        let delete_expired = match engine {
            // MySQL cannot select from the table it deletes from, but has DELETE … LIMIT.
            Engine::MySql => "DELETE FROM {table} WHERE expires_at <= ? LIMIT ?",
            Engine::Sqlite | Engine::Postgres => {
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE expires_at <= ? LIMIT ?)"
            }
        };
        Queries {
            load: q(
                "SELECT data, version, created_at, expires_at, {user_key} FROM {table} WHERE id = ? AND expires_at > ?",
            ),
            insert: q(
                "INSERT INTO {table} (id, data, version, created_at, expires_at, user_key) VALUES (?, ?, ?, ?, ?, ?)",
            ),
            // The most common save of all keeps the user and the expiry
            // (the manager moves a sliding expiry about once a minute). On
            // SQLite, leaving the indexed columns out of SET spares the
            // index writes, which the http-engines benchmark measures at a
            // fifth of a save's time; PostgreSQL updates the row in place
            // anyway when the indexed values do not change, and measured
            // this extra statement form slower, so it is SQLite's alone.
            update_steady: (engine == Engine::Sqlite).then(|| {
                q(&format!(
                    "UPDATE {{table}} SET data = ?, version = ? \
                     WHERE id = ? AND version = ? AND expires_at = ? AND expires_at > ? AND user_key {} ?",
                    null_safe_eq(engine)
                ))
            }),
            // A save that keeps the user: leaving the indexed user column
            // out of SET spares an index rewrite. `created_at` never
            // changes after create.
            update_same_user: q(&format!(
                "UPDATE {{table}} SET data = ?, version = ?, expires_at = ? \
                 WHERE id = ? AND version = ? AND expires_at > ? AND user_key {} ?",
                null_safe_eq(engine)
            )),
            update: q(
                "UPDATE {table} SET data = ?, version = ?, expires_at = ?, user_key = ? \
                       WHERE id = ? AND version = ? AND expires_at > ?",
            ),
            live_version: q("SELECT version FROM {table} WHERE id = ? AND expires_at > ?"),
            delete: q("DELETE FROM {table} WHERE id = ?"),

            touch: q("UPDATE {table} SET expires_at = ? WHERE id = ? AND expires_at > ?"),
            delete_expired: q(delete_expired),
            sessions_of: q("SELECT {id}, created_at, expires_at FROM {table} \
                            WHERE user_key = ? AND expires_at > ? ORDER BY created_at, id"),
            delete_sessions_of: q(
                "DELETE FROM {table} WHERE user_key = ? AND id <> ? AND expires_at > ?",
            ),
            stats: q(
                "SELECT COUNT(CASE WHEN expires_at > ? THEN 1 END), COUNT(CASE WHEN expires_at <= ? THEN 1 END), \
                      COUNT(CASE WHEN expires_at > ? AND expires_at <= ? THEN 1 END), \
                      COUNT(CASE WHEN expires_at > ? AND expires_at <= ? THEN 1 END) FROM {table}",
            ),
            top_users: q(
                "SELECT {user_key}, COUNT(*) FROM {table} WHERE expires_at > ? AND user_key IS NOT NULL \
                          GROUP BY user_key ORDER BY COUNT(*) DESC, user_key LIMIT ?",
            ),
        }
    }
}

/// Equality that treats two NULLs as equal.
fn null_safe_eq(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "IS",
        Engine::Postgres => "IS NOT DISTINCT FROM",
        Engine::MySql => "<=>",
    }
}

/// PostgreSQL numbers its placeholders; the others take `?`.
pub(crate) fn placeholders(engine: Engine, sql: &str) -> String {
    if engine != Engine::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The statements that save `record` over `expected` (a compare-and-swap),
/// in the order to try them, each with its parameters: the first that
/// changes a row has saved it; when none does, the record is gone or at
/// another version. `now` is in Unix seconds.
///
/// # Errors
///
/// A version too large for SQL's signed 64-bit integers.
pub(crate) fn update_attempts<'a>(
    queries: &'a Queries,
    record: &'a Record,
    expected: u64,
    now: i64,
) -> Result<impl Iterator<Item = (&'a str, [Param<'a>; 7])>, StoreError> {
    use Param::{Bytes, Int, MaybeText, Text};
    let (version, expected) = (version_param(record.version)?, version_param(expected)?);
    let (data, key, user) = (
        record.data.as_slice(),
        record.key.as_str(),
        record.user.as_deref(),
    );
    let expires_at = record.expires_at.unix_timestamp();
    let attempts = [
        // SQLite: a save that keeps the user and the expiry leaves the
        // indexed columns out of `SET` (see `Queries::new`).
        queries.update_steady.as_deref().map(|sql| {
            (
                sql,
                [
                    Bytes(data),
                    Int(version),
                    Text(key),
                    Int(expected),
                    Int(expires_at),
                    Int(now),
                    MaybeText(user),
                ],
            )
        }),
        // The same user: its column stays out of `SET`.
        Some((
            queries.update_same_user.as_str(),
            [
                Bytes(data),
                Int(version),
                Int(expires_at),
                Text(key),
                Int(expected),
                Int(now),
                MaybeText(user),
            ],
        )),
        // Another user.
        Some((
            queries.update.as_str(),
            [
                Bytes(data),
                Int(version),
                Int(expires_at),
                MaybeText(user),
                Text(key),
                Int(expected),
                Int(now),
            ],
        )),
    ];
    Ok(attempts.into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered() {
        let q = Queries::new(Engine::Postgres, "s");
        assert_eq!(
            q.touch,
            "UPDATE s SET expires_at = $1 WHERE id = $2 AND expires_at > $3"
        );
        let q = Queries::new(Engine::Sqlite, "s");
        assert_eq!(
            q.touch,
            "UPDATE s SET expires_at = ? WHERE id = ? AND expires_at > ?"
        );
        let q = Queries::new(Engine::MySql, "s");
        assert!(
            q.load
                .contains("CONVERT(user_key USING utf8mb4) FROM s WHERE id = ?"),
            "{}",
            q.load
        );
    }
}
