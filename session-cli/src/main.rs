//! `session-cli`: operate a session store.
//!
//! ```text
//! session-cli --store sqlite:sessions.db clear-expired
//! SESSION_SECRET=… session-cli --store postgres://app@db/app inspect 'session=…'
//! ```
//!
//! Exit codes: 0 success; 1 the store failed or `check` found a problem;
//! 2 a usage or configuration error (bad URL, missing or wrong secret,
//! malformed ID); 3 no such session; 4 the store cannot do this.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sessions::SessionStore;
use sessions::time::OffsetDateTime;

mod check;
mod failure;
mod open;

use check::check;
use failure::{Failure, from_store};
use open::{chosen, manager, open, tools, user_index};

/// Operate a session store: clear expired sessions, count, inspect, end,
/// migrate, check.
///
/// Exit codes: 0 success; 1 the store failed or `check` found a problem;
/// 2 usage or configuration error (bad URL, missing or wrong secret,
/// malformed ID); 3 no such session; 4 the store cannot do this.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    /// The store: memory:, file:DIR, sqlite:PATH, postgres://…, mysql://…,
    /// redis://…, redis+cluster://h:p,h:p (add ?table=NAME or ?prefix=P).
    /// Before or after the subcommand.
    #[arg(long, env = "SESSION_STORE", hide_env_values = true, global = true)]
    store: Option<String>,

    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Read the secret from this file instead of the SESSION_SECRET
    /// variable (a secret is never taken from the command line, where
    /// other users could see it).
    #[arg(long, global = true)]
    secret_file: Option<PathBuf>,

    /// Work on a Django app's sessions: Django's `django_session` table in
    /// the --store database (SQLite or PostgreSQL) and its formats, with the
    /// app's SECRET_KEY in SESSION_SECRET (and SESSION_SECRET_FALLBACKS).
    #[arg(long, global = true)]
    django: bool,

    /// The session cookie's name (to read `name=value` cookies).
    #[arg(long, global = true, default_value = "session")]
    cookie_name: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Delete expired sessions in batches (Django's clearsessions).
    ClearExpired {
        /// Sessions deleted per batch.
        #[arg(long, default_value_t = 1000)]
        batch: u64,
    },
    /// Count live sessions.
    Count,
    /// Live sessions, those expiring within an hour and a day, top users.
    Stats {
        /// How many users to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// List a user's sessions by their keys (digests of their IDs, never
    /// the IDs).
    List {
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// End a user's sessions, or one session: by `--user`, by `--key` (as
    /// `list` shows it), or else the cookie value `id.tag` (needs the
    /// secret) or raw ID read from standard input, so that a live
    /// credential never stands in the command line (shell history, `ps`).
    End {
        /// End every session of this user (for example after a password change).
        #[arg(long, conflicts_with = "key")]
        user: Option<String>,
        /// End the session stored under this key (a digest `list` prints).
        #[arg(long)]
        key: Option<String>,
    },
    /// Show one session's data: by `--key` (as `list` shows it), or else
    /// the cookie value `id.tag` (needs the secret) or raw ID read from
    /// standard input.
    Inspect {
        /// The session's key (a digest `list` prints).
        #[arg(long)]
        key: Option<String>,
    },
    /// Create or upgrade the SQL schema; on Redis, move sessions of an
    /// older layout to the current one and remove the function libraries
    /// of other releases.
    Migrate {
        /// On Redis, also end the sessions bound to a user that the user's
        /// index no longer lists (an index key evicted or deleted: `check`
        /// reports them), so that ending a user's sessions ends them all.
        #[arg(long)]
        end_unlisted: bool,
    },
    /// Check the connection, the schema and the key ring.
    Check,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("session-cli: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(output) => {
            if cli.json {
                println!("{}", output.json);
            } else {
                println!("{}", output.text);
            }
            ExitCode::from(output.code)
        }
        Err(failure) => {
            if cli.json {
                println!("{}", json!({ "error": failure.message }));
            }
            eprintln!("session-cli: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

struct Output {
    text: String,
    json: Value,
    /// The exit code (non-zero for a `check` that found problems).
    code: u8,
}

impl Output {
    fn new(text: impl Into<String>, json: Value) -> Self {
        Output {
            text: text.into(),
            json,
            code: 0,
        }
    }
}

async fn run(cli: &Cli) -> Result<Output, Failure> {
    if let Command::Check = cli.command {
        return check(cli).await;
    }
    let (store, any) = open(cli).await?;
    match &cli.command {
        Command::ClearExpired { batch } => clear_expired(&*store, *batch).await,
        Command::Count => {
            let stats = tools(&*store)?.stats(0).await.map_err(from_store)?;
            Ok(Output::new(
                stats.live.to_string(),
                json!({ "live": stats.live }),
            ))
        }
        Command::Stats { top } => {
            let s = tools(&*store)?.stats(*top).await.map_err(from_store)?;
            let mut text = format!(
                "live sessions:            {}\nexpiring within an hour:  {}\nexpiring within a day:    {}\n",
                s.live, s.expiring_within_hour, s.expiring_within_day
            );
            if let Some(expired) = s.expired {
                text.push_str(&format!("expired, not yet removed: {expired}\n"));
            }
            for (user, n) in &s.top_users {
                text.push_str(&format!("user {user}: {n}\n"));
            }
            let users: Vec<Value> = s
                .top_users
                .iter()
                .map(|(u, n)| json!({ "user": u, "sessions": n }))
                .collect();
            Ok(Output::new(
                text.trim_end(),
                json!({
                    "live": s.live, "expired": s.expired,
                    "expiring_within_hour": s.expiring_within_hour, "expiring_within_day": s.expiring_within_day,
                    "top_users": users,
                }),
            ))
        }
        Command::List { user } => {
            let list = user_index(&*store)?
                .sessions_of(user)
                .await
                .map_err(from_store)?;
            let text: Vec<String> = list
                .iter()
                .map(|s| {
                    format!(
                        "{}  created {}  expires {}",
                        s.key,
                        date(s.created_at),
                        date(s.expires_at)
                    )
                })
                .collect();
            let json: Vec<Value> = list
                .iter()
                .map(|s| json!({ "key": s.key.as_str(), "created": date(s.created_at), "expires": date(s.expires_at) }))
                .collect();
            let text = if text.is_empty() {
                format!("no sessions of user {user}")
            } else {
                text.join("\n")
            };
            Ok(Output::new(text, Value::Array(json)))
        }
        Command::End {
            user: Some(user), ..
        } => {
            let ended = user_index(&*store)?
                .delete_sessions_of(user, None)
                .await
                .map_err(from_store)?;
            Ok(Output::new(
                format!("ended {ended} sessions of user {user}"),
                json!({ "ended": ended }),
            ))
        }
        Command::End { key, .. } => {
            let manager = manager(cli, store)?;
            let chosen = chosen(cli, &manager, key.as_deref())?;
            if manager
                .inspect_key(&chosen.key)
                .await
                .map_err(Failure::store)?
                .is_none()
            {
                return Err(Failure {
                    code: 3,
                    message: format!("no live session {}", chosen.shown),
                });
            }
            manager.end_key(&chosen.key).await.map_err(from_store)?;
            Ok(Output::new(
                format!("ended session {}", chosen.shown),
                json!({ "ended": 1 }),
            ))
        }
        Command::Inspect { key } => {
            let manager = manager(cli, store)?;
            let chosen = chosen(cli, &manager, key.as_deref())?;
            let Some(found) = manager
                .inspect_key(&chosen.key)
                .await
                .map_err(Failure::store)?
            else {
                return Err(Failure {
                    code: 3,
                    message: format!("no live session {}", chosen.shown),
                });
            };
            let r = &found.record;
            let data = match &found.data {
                Ok(data) => Value::Object(data.clone()),
                Err(e) => json!({ "undecodable": e.to_string() }),
            };
            let json = json!({
                "key": chosen.shown, "version": r.version, "user": r.user,
                "created": date(r.created_at), "expires": date(r.expires_at),
                "data": data,
            });
            let text = format!(
                "session {}\nversion  {}\nuser     {}\ncreated  {}\nexpires  {}\ndata\n{}",
                chosen.shown,
                r.version,
                r.user.as_deref().unwrap_or("-"),
                date(r.created_at),
                date(r.expires_at),
                serde_json::to_string_pretty(&json["data"]).unwrap_or_default()
            );
            Ok(Output::new(text, json))
        }
        &Command::Migrate { end_unlisted } => {
            let Some(any) = any else {
                return Err(Failure {
                    code: 4,
                    message: "Django's table belongs to Django: run `python manage.py migrate`"
                        .into(),
                });
            };
            any.migrate().await.map_err(Failure::store)?;
            if let sessions::AnyStore::Redis(redis) = &any {
                // Sessions of the store's 0.1 layout, all at once.
                let moved = redis.migrate().await.map_err(from_store)?;
                // Function libraries older releases loaded.
                let libraries = redis.remove_old_libraries().await.map_err(from_store)?;
                let mut text = format!(
                    "{moved} sessions moved to the current layout; \
                     {libraries} function libraries of other releases removed"
                );
                let mut json =
                    json!({ "migrated": true, "moved": moved, "libraries_removed": libraries });
                if end_unlisted {
                    let ended = redis.end_unlisted().await.map_err(from_store)?.unlisted;
                    text.push_str(&format!(
                        "\n{ended} sessions their user's index did not list ended"
                    ));
                    json["ended_unlisted"] = json!(ended);
                }
                return Ok(Output::new(text, json));
            }
            if end_unlisted {
                return Err(Failure {
                    code: 4,
                    message: "--end-unlisted is for a Redis store's user index".into(),
                });
            }
            Ok(Output::new(
                "the schema is up to date",
                json!({ "migrated": true }),
            ))
        }
        Command::Check => unreachable!("handled above"),
    }
}

async fn clear_expired(store: &dyn SessionStore, batch: u64) -> Result<Output, Failure> {
    let batch = batch.max(1);
    let bar = if std::io::stderr().is_terminal() {
        let total = match store.maintenance() {
            Some(tools) => tools.stats(0).await.ok().and_then(|s| s.expired),
            None => None,
        };
        let bar = match total {
            // The default bar shows no message; this one does.
            Some(n) => indicatif::ProgressBar::new(n).with_style(
                indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len}")
                    .expect("a valid template"),
            ),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_message("removing expired sessions");
        Some(bar)
    } else {
        None
    };
    let mut removed = 0;
    loop {
        let n = sessions::store::sweep_step(store, batch)
            .await
            .map_err(from_store)?;
        removed += n;
        if let Some(bar) = &bar {
            bar.inc(n);
        }
        if n < batch {
            break;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let note = if store.expires_natively() {
        " (this store expires sessions itself)"
    } else {
        ""
    };
    Ok(Output::new(
        format!("removed {removed} expired sessions{note}"),
        json!({ "removed": removed }),
    ))
}

fn date(t: OffsetDateTime) -> String {
    t.format(&sessions::time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
