//! `check`: whether the store, the schema and the secret are ready.

use serde_json::json;
use sessions::{
    AnyStore, DjangoSqlStore, IdFormat, SessionId, SessionStore, StoreError, open_store,
};

use crate::failure::Failure;
use crate::open::{key_ring, secret, store_url};
use crate::{Cli, Output};

pub(super) async fn check(cli: &Cli) -> Result<Output, Failure> {
    let mut checks: Vec<(String, bool, String)> = Vec::new();
    if cli.django {
        match DjangoSqlStore::connect(store_url(cli)?).await {
            Ok(store) => {
                checks.push(("connection".into(), true, "connected".into()));
                match store
                    .load(&SessionId::generate_in(IdFormat::Django).store_key())
                    .await
                {
                    Ok(_) => checks.push((
                        "schema".into(),
                        true,
                        "Django's session table answers".into(),
                    )),
                    Err(e) => checks.push((
                        "schema".into(),
                        false,
                        format!("{e} (run `python manage.py migrate`)"),
                    )),
                }
            }
            Err(e) => checks.push(("connection".into(), false, e.to_string())),
        }
        let ok = checks.iter().all(|(_, ok, _)| *ok) && secret(cli).ok().flatten().is_some();
        if secret(cli).ok().flatten().is_none() {
            checks.push((
                "secret".into(),
                false,
                "no SECRET_KEY: set SESSION_SECRET or --secret-file".into(),
            ));
        }
        return Ok(check_output(checks, ok));
    }
    match open_store(store_url(cli)?).await {
        Ok(store) => {
            checks.push(("connection".into(), true, "connected".into()));
            if let AnyStore::Sql(sql) = &store {
                match sql.schema_is_current().await {
                    Ok(true) => checks.push((
                        "schema".into(),
                        true,
                        format!("table {} is current", sql.table()),
                    )),
                    Ok(false) => checks.push((
                        "schema".into(),
                        false,
                        format!(
                            "table {} is missing or old: run `session-cli migrate`",
                            sql.table()
                        ),
                    )),
                    Err(e) => checks.push(("schema".into(), false, e.to_string())),
                }
            }
            let stats = match sessions::store::maintenance_of(store.as_dyn()) {
                Ok(tools) => tools.stats(0).await,
                Err(e) => Err(e),
            };
            match stats {
                Ok(s) => checks.push(("read".into(), true, format!("{} live sessions", s.live))),
                Err(StoreError::Unsupported(_)) => {}
                Err(e) => checks.push(("read".into(), false, e.to_string())),
            }
            if let AnyStore::Redis(redis) = &store {
                match redis.check_index().await {
                    Ok(c) if c.unlisted == 0 => checks.push((
                        "user index".into(),
                        true,
                        format!("lists all {} bound sessions of {} users", c.bound, c.users),
                    )),
                    Ok(c) => checks.push((
                        "user index".into(),
                        false,
                        format!(
                            "{} of {} bound sessions are not listed by their user's index \
                             (an index key evicted or deleted?): \
                             `session-cli migrate --end-unlisted` ends them",
                            c.unlisted, c.bound
                        ),
                    )),
                    Err(e) => checks.push(("user index".into(), false, e.to_string())),
                }
            }
        }
        Err(e) => checks.push(("connection".into(), false, e.to_string())),
    }
    match key_ring(cli) {
        Ok(Some(keys)) => checks.push((
            "key ring".into(),
            true,
            format!("{} key(s), all long enough", keys.len()),
        )),
        Ok(None) => checks.push((
            "key ring".into(),
            false,
            "no secret: set SESSION_SECRET or --secret-file".into(),
        )),
        Err(e) => checks.push(("key ring".into(), false, e.message)),
    }
    let ok = checks.iter().all(|(_, ok, _)| *ok);
    Ok(check_output(checks, ok))
}

pub(super) fn check_output(checks: Vec<(String, bool, String)>, ok: bool) -> Output {
    let text: Vec<String> = checks
        .iter()
        .map(|(name, ok, detail)| format!("{} {name}: {detail}", if *ok { "ok  " } else { "FAIL" }))
        .collect();
    let json = json!({
        "ok": ok,
        "checks": checks.iter().map(|(n, ok, d)| json!({ "check": n, "ok": ok, "detail": d })).collect::<Vec<_>>(),
    });
    Output {
        text: text.join("\n"),
        json,
        code: if ok { 0 } else { 1 },
    }
}
