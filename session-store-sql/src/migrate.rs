//! The shipped migrations and the code that applies them.
//!
//! The SQL lives in `migrations/<engine>/NNNN_name.sql` with `{table}` where
//! the table name goes; applied versions are recorded in `<table>_migrations`.

use crate::{OpenError, Pool, on_pool};

struct Migration {
    version: i64,
    sql: &'static str,
}

#[allow(unused_variables)]
fn migrations(pool: &Pool) -> &'static [Migration] {
    match pool {
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(_) => &[Migration {
            version: 1,
            sql: include_str!("../migrations/sqlite/0001_create_sessions.sql"),
        }],
        #[cfg(feature = "postgres")]
        Pool::Postgres(_) => &[Migration {
            version: 1,
            sql: include_str!("../migrations/postgres/0001_create_sessions.sql"),
        }],
        #[cfg(feature = "mysql")]
        Pool::MySql(_) => &[Migration {
            version: 1,
            sql: include_str!("../migrations/mysql/0001_create_sessions.sql"),
        }],
    }
}

/// The statements of a migration file, comments and blanks dropped.
fn statements<'a>(sql: &'a str, table: &'a str) -> impl Iterator<Item = String> + 'a {
    sql.split(';').filter_map(move |chunk| {
        let body: Vec<&str> = chunk
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
            .collect();
        (!body.is_empty()).then(|| body.join("\n").replace("{table}", table))
    })
}

pub(crate) async fn run(pool: &Pool, table: &str) -> Result<(), OpenError> {
    let ledger = format!(
        "CREATE TABLE IF NOT EXISTS {table}_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)"
    );
    on_pool!(pool, |p| sqlx::query(&ledger).execute(p).await.map(|_| ()))?;
    let applied_sql = format!("SELECT version FROM {table}_migrations");
    let applied: Vec<i64> = on_pool!(pool, |p| sqlx::query_scalar(&applied_sql)
        .fetch_all(p)
        .await)?;
    for migration in migrations(pool)
        .iter()
        .filter(|m| !applied.contains(&m.version))
    {
        for statement in statements(migration.sql, table) {
            on_pool!(pool, |p| sqlx::query(&statement)
                .execute(p)
                .await
                .map(|_| ()))?;
        }
        let record = format!(
            "INSERT INTO {table}_migrations (version, applied_at) VALUES ({}, {})",
            migration.version,
            session_core::now().unix_timestamp()
        );
        match on_pool!(pool, |p| sqlx::query(&record).execute(p).await.map(|_| ())) {
            Ok(_) => {
                tracing::info!(target: "session_store_sql", table, version = migration.version, "applied session table migration")
            }
            // Another process applied it at the same time; the statements are idempotent.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub(crate) async fn is_current(pool: &Pool, table: &str) -> Result<bool, OpenError> {
    let latest = migrations(pool)
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let sql = format!("SELECT MAX(version) FROM {table}_migrations");
    match on_pool!(pool, |p| sqlx::query_scalar::<_, Option<i64>>(&sql)
        .fetch_one(p)
        .await)
    {
        Ok(version) => Ok(version == Some(latest)),
        // The ledger table does not exist: nothing was migrated.
        Err(sqlx::Error::Database(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_and_named() {
        let sql = "-- a comment\nCREATE TABLE {table} (x INT);\n\nCREATE INDEX {table}_x ON {table} (x);\n-- trailing\n";
        let got: Vec<String> = statements(sql, "s").collect();
        assert_eq!(got, ["CREATE TABLE s (x INT)", "CREATE INDEX s_x ON s (x)"]);
    }
}
