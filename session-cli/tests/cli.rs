//! The real `session-cli` binary against every engine it opens but the
//! in-process one (SQLite, PostgreSQL, MySQL/MariaDB, Redis, files):
//! sessions are made through the library, then counted, swept, revoked and
//! inspected through the CLI, checking output and exit codes, including
//! wrong URLs, an unreachable engine and a wrong secret.

use std::process::{Command, Output};

use session_conformance::{fixtures, services};
use sessions::time::Duration;
use sessions::{Expiry, KeyRing, SessionManager, open_store};

const SECRET: &str = "the CLI test's secret, long enough to sign";
const WRONG: &str = "somebody else's secret, also long enough";

fn cli(store: &str, secret: Option<&str>, args: &[&str]) -> Output {
    cli_with_input(store, secret, args, "")
}

/// Runs the CLI with `input` on its standard input (where it reads a
/// session's cookie or ID, never from its arguments).
fn cli_with_input(store: &str, secret: Option<&str>, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_session-cli"));
    cmd.arg("--store")
        .arg(store)
        .args(args)
        .env_remove("SESSION_SECRET")
        .env_remove("SESSION_STORE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(secret) = secret {
        cmd.env("SESSION_SECRET", secret);
    }
    let mut child = cmd.spawn().expect("session-cli runs");
    let mut stdin = child.stdin.take().expect("a pipe");
    // The CLI may exit before reading (a usage error): ignore a broken pipe.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    child.wait_with_output().expect("session-cli runs")
}

/// The count the CLI prints, with its stderr when it failed.
fn count(url: &str) -> String {
    let o = cli(url, None, &["count"]);
    if code(&o) == 0 {
        stdout(&o)
    } else {
        format!("exit {}: {}", code(&o), stderr(&o))
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

/// Makes, through the library: three sessions of alice, one of bob (whose
/// cookie it returns), and two that have already expired.
async fn populate(url: &str) -> String {
    let store = open_store(url).await.expect("open");
    store.migrate().await.expect("migrate");
    let manager = SessionManager::new(store, KeyRing::new(SECRET).unwrap());
    let mut bob = String::new();
    for (user, expired) in [
        ("alice", false),
        ("alice", false),
        ("alice", false),
        ("bob", false),
        ("carol", true),
        ("carol", true),
    ] {
        let request = manager.request(None);
        let session = request.load().await.unwrap();
        session.set_user(user).unwrap();
        session.insert("name", user).unwrap();
        if expired {
            session.set_expiry(Expiry::AfterIdle(Duration::seconds(-10)));
        }
        let cookie = fixtures::finish(&request).await;
        if user == "bob" {
            bob = cookie;
        }
    }
    bob
}

/// The whole tour on one store URL.
async fn tour(url: &str, expires_natively: bool) {
    let bob = populate(url).await;
    let bob_value = bob.split_once('=').unwrap().1.to_owned();
    let bob_id = bob_value.split('.').next().unwrap().to_owned();

    let o = cli(url, None, &["count"]);
    assert_eq!(
        (code(&o), stdout(&o)),
        (0, "4".to_owned()),
        "{}",
        stderr(&o)
    );
    let o = cli(url, None, &["--json", "count"]);
    assert_eq!(stdout(&o), r#"{"live":4}"#);

    let o = cli(url, None, &["--json", "stats"]);
    let stats: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON stats");
    assert_eq!(stats["live"], 4);
    assert_eq!(
        stats["top_users"][0],
        serde_json::json!({"user": "alice", "sessions": 3})
    );

    let o = cli(url, None, &["clear-expired"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let removed = if expires_natively { 0 } else { 2 };
    assert!(
        stdout(&o).starts_with(&format!("removed {removed} expired sessions")),
        "{}",
        stdout(&o)
    );
    assert_eq!(count(url), "4", "clear-expired removed a live session");

    // A wrong secret: a clear message, exit 2, nothing touched.
    for command in ["inspect", "end"] {
        let o = cli_with_input(url, Some(WRONG), &[command], &bob);
        assert_eq!(code(&o), 2, "{command} with a wrong secret: {}", stderr(&o));
        assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
    }
    let o = cli_with_input(url, None, &["inspect"], &bob_value);
    assert_eq!(code(&o), 2, "a cookie without the secret");
    assert!(stderr(&o).contains("needs the secret"), "{}", stderr(&o));
    assert_eq!(count(url), "4", "a refused command changed the store");

    // Inspect by cookie (with the secret) and by raw ID (without).
    let o = cli_with_input(url, Some(SECRET), &["--json", "inspect"], &bob);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (shown["user"].as_str(), shown["data"]["name"].as_str()),
        (Some("bob"), Some("bob"))
    );
    let o = cli_with_input(url, None, &["inspect"], &bob_id);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("\"name\": \"bob\""), "{}", stdout(&o));
    assert!(!stdout(&o).contains(&bob_id), "inspect printed the raw ID");

    let o = cli(url, None, &["list", "--user", "alice"]);
    assert_eq!(stdout(&o).lines().count(), 3, "{}", stdout(&o));
    assert!(!stdout(&o).contains(&bob_id));
    // Inspect and revoke by the key `list` prints (no secret, no live ID).
    let o = cli(url, None, &["--json", "list", "--user", "alice"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let first = listed[0]["key"]
        .as_str()
        .expect("list names keys")
        .to_owned();
    assert!(
        sessions::time::OffsetDateTime::parse(
            listed[0]["created"].as_str().expect("a date"),
            &sessions::time::format_description::well_known::Rfc3339
        )
        .is_ok(),
        "JSON dates are RFC 3339: {listed}"
    );
    let o = cli(url, None, &["--json", "inspect", "--key", &first]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["user"], "alice", "{shown}");
    let o = cli(url, None, &["end", "--key", &first]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = cli(url, None, &["inspect", "--key", &first]);
    assert_eq!(code(&o), 3, "a revoked session: {}", stderr(&o));
    let o = cli(url, None, &["inspect", "--key", "not-a-key"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // Nothing on standard input and no --key: a usage error.
    let o = cli(url, None, &["inspect"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));

    let o = cli(url, None, &["end", "--user", "alice"]);
    assert_eq!(
        (code(&o), stdout(&o)),
        (0, "ended 2 sessions of user alice".to_owned()),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(url), "1");

    let o = cli_with_input(url, Some(SECRET), &["end"], &bob);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = cli_with_input(url, Some(SECRET), &["inspect"], &bob);
    assert_eq!(code(&o), 3, "an ended session: {}", stderr(&o));
    assert_eq!(count(url), "0");

    let o = cli(url, Some(SECRET), &["check"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let o = cli(url, None, &["check"]);
    assert_eq!(code(&o), 1, "check without a secret must fail");
    assert!(stdout(&o).contains("FAIL key ring"), "{}", stdout(&o));
}

fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join(services::unique_name("session-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite:{}", dir.join("sessions.db").display())
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite() {
    let url = sqlite_url();
    tour(&url, false).await;
    // A schema nobody migrated: check fails, migrate fixes it.
    let fresh = format!("{url}?table=unmigrated");
    let o = cli(&fresh, Some(SECRET), &["check"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("run `session-cli migrate`"),
        "{}",
        stdout(&o)
    );
    assert_eq!(code(&cli(&fresh, None, &["migrate"])), 0);
    assert_eq!(code(&cli(&fresh, Some(SECRET), &["check"])), 0);
}

/// The tour on an engine server (URL from `var`, else `default`), in a
/// table or key prefix of its own that `own` adds to the URL; skipped with
/// a printed reason when the server is unreachable (failed in CI).
async fn tour_on_server(
    engine: &str,
    var: &str,
    default: &str,
    own: impl FnOnce(&str) -> String,
    expires_natively: bool,
) {
    let base = services::url(var, default);
    if let Err(e) = open_store(&base).await {
        return services::unavailable::<()>(engine, e).unwrap_or(());
    }
    tour(&own(&base), expires_natively).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres() {
    tour_on_server(
        "PostgreSQL",
        "SESSION_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
        |base| format!("{base}?table={}", services::unique_name("conf")),
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql() {
    tour_on_server(
        "MySQL/MariaDB",
        "SESSION_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
        |base| format!("{base}?table={}", services::unique_name("conf")),
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis() {
    tour_on_server(
        "Redis",
        "SESSION_TEST_REDIS_URL",
        "redis://127.0.0.1:6379",
        |base| format!("{base}/?prefix={}:", services::unique_name("cli")),
        true,
    )
    .await;
    // `migrate` moves sessions of the old layout; on a fresh prefix there
    // are none, and it says so.
    let base = services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    if open_store(&base).await.is_ok() {
        let url = format!("{base}/?prefix={}:", services::unique_name("cli-migrate"));
        let o = cli(&url, None, &["--json", "migrate"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(
            (json["migrated"].as_bool(), json["moved"].as_u64()),
            (Some(true), Some(0))
        );
        assert!(json["libraries_removed"].is_u64(), "{json}");
        lost_index_entries_are_found_and_ended(&url).await;
    }
}

/// `check` reports bound sessions the user index no longer lists (its
/// hash deleted here, as an eviction might), and `migrate --end-unlisted`
/// ends them.
async fn lost_index_entries_are_found_and_ended(url: &str) {
    let Ok(sessions::AnyStore::Redis(store)) = open_store(url).await else {
        panic!("a Redis store");
    };
    for n in 0..5 {
        let user = format!("u{n}");
        let record = fixtures::record(Duration::hours(1), Some(&user));
        sessions::SessionStore::create(&store, &record)
            .await
            .unwrap();
    }
    let o = cli(url, Some(SECRET), &["check"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("lists all 5 bound sessions of 5 users"),
        "{}",
        stdout(&o)
    );
    let base = services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let mut c = redis::Client::open(base).unwrap().get_connection().unwrap();
    redis::cmd("DEL")
        .arg(store.index_key())
        .exec(&mut c)
        .unwrap();
    let o = cli(url, Some(SECRET), &["check"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("not listed by their user's index"),
        "{}",
        stdout(&o)
    );
    let o = cli(url, None, &["--json", "migrate", "--end-unlisted"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ended = json["ended_unlisted"].as_u64().unwrap();
    assert!((1..=5).contains(&ended), "{json}");
    let o = cli(url, Some(SECRET), &["check"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("lists all {} bound sessions", 5 - ended)),
        "{}",
        stdout(&o)
    );
    // Not a store with such an index: refused.
    let o = cli(&sqlite_url(), None, &["migrate", "--end-unlisted"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn file() {
    let dir = std::env::temp_dir().join(services::unique_name("session-cli-files"));
    tour(&format!("file:{}", dir.display()), false).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ids_that_start_with_a_hyphen_are_sessions_not_options() {
    // One native ID in 64 starts with '-': it must not read as a flag.
    let url = sqlite_url();
    assert_eq!(code(&cli(&url, None, &["migrate"])), 0);
    let id = format!("-{}", "A".repeat(42));
    let cookie = format!("{id}.{}", "t".repeat(43));
    for (args, input, exit, says) in [
        (["inspect"], id.as_str(), 3, "no live session"),
        (["end"], id.as_str(), 3, "no live session"),
        (["inspect"], cookie.as_str(), 2, "does not verify"),
    ] {
        let o = cli_with_input(&url, Some(SECRET), &args, input);
        assert_eq!(code(&o), exit, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    let o = cli(&url, None, &["end", "--user", "bob"]);
    assert_eq!(code(&o), 0, "--user still parses: {}", stderr(&o));
}

#[test]
fn the_store_may_follow_the_subcommand_and_must_be_given() {
    let url = sqlite_url();
    assert_eq!(code(&cli(&url, None, &["migrate"])), 0);
    let after = Command::new(env!("CARGO_BIN_EXE_session-cli"))
        .args(["count", "--store", &url])
        .env_remove("SESSION_STORE")
        .output()
        .unwrap();
    assert_eq!(code(&after), 0, "{}", stderr(&after));
    let none = Command::new(env!("CARGO_BIN_EXE_session-cli"))
        .arg("count")
        .env_remove("SESSION_STORE")
        .output()
        .unwrap();
    assert_eq!(code(&none), 2);
    assert!(stderr(&none).contains("--store"), "{}", stderr(&none));
}

#[test]
fn wrong_urls_and_unreachable_engines_are_clear_errors() {
    let o = cli("foo://nowhere", None, &["count"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unsupported store URL scheme"),
        "{}",
        stderr(&o)
    );
    for url in [
        "postgres://postgres@127.0.0.1:1/test",
        "redis://127.0.0.1:1",
    ] {
        let o = cli(url, None, &["count"]);
        assert_eq!(code(&o), 1, "{url}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("could not open the session store"),
            "{url}: {}",
            stderr(&o)
        );
        let o = cli(url, Some(SECRET), &["check"]);
        assert_eq!(code(&o), 1);
        assert!(stdout(&o).contains("FAIL connection"), "{}", stdout(&o));
    }
    let o = cli("memory:", Some("short"), &["check"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("at least 32"), "{}", stdout(&o));
}

#[test]
fn help_documents_every_command() {
    let o = Command::new(env!("CARGO_BIN_EXE_session-cli"))
        .arg("--help")
        .output()
        .unwrap();
    let help = stdout(&o);
    for command in [
        "clear-expired",
        "count",
        "stats",
        "list",
        "end",
        "inspect",
        "migrate",
        "check",
        "Exit codes",
    ] {
        assert!(help.contains(command), "--help does not mention {command}");
    }
}

#[test]
fn django_mode_inspects_and_revokes_a_django_apps_sessions() {
    if let Err(e) = services::django() {
        return services::unavailable::<()>("Django", e).unwrap_or(());
    }
    let secret = "django-insecure-cli-secret";
    let dir = std::env::temp_dir().join(services::unique_name("cli-django"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite:{}", dir.join("db.sqlite3").display());
    let env = [("DJANGO_DB", db.as_str()), ("DJANGO_SECRET", secret)];
    let django = |args: &[&str]| services::run_django(&env, args);
    django(&["migrate"]);
    let key = django(&["write", r#"{"_auth_user_id": "42", "cart": ["é"]}"#]);

    let o = cli_with_input(
        &db,
        Some(secret),
        &["--django", "--json", "inspect"],
        &format!("sessionid={key}"),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !stdout(&o).contains(&key),
        "the CLI printed a live Django session key: {}",
        stdout(&o)
    );
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        shown["data"],
        serde_json::json!({"_auth_user_id": "42", "cart": ["é"]})
    );
    let o = cli_with_input(
        &db,
        Some("not the Django secret"),
        &["--django", "--json", "inspect"],
        &key,
    );
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        shown["data"]["undecodable"].is_string(),
        "a wrong SECRET_KEY cannot read the data: {shown}"
    );

    assert_eq!(
        code(&cli(&db, Some(secret), &["--django", "count"])),
        4,
        "Django's table has no counts"
    );
    assert_eq!(
        code(&cli(&db, Some(secret), &["--django", "migrate"])),
        4,
        "Django's table belongs to Django"
    );
    assert_eq!(code(&cli(&db, Some(secret), &["--django", "check"])), 0);
    assert_eq!(
        code(&cli(&db, Some(secret), &["--django", "clear-expired"])),
        0
    );

    let o = cli(&db, Some(secret), &["--django", "end", "--key", &key]);
    assert_eq!(code(&o), 2, "Django keys are live IDs: {}", stderr(&o));
    let o = cli_with_input(&db, Some(secret), &["--django", "end"], &key);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stdout(&o).contains(&key), "{}", stdout(&o));
    assert_eq!(
        django(&["exists", &key]),
        "false",
        "Django still has the revoked session"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_only_engines_are_reached_from_their_urls() {
    use session_conformance::tls::{Certificates, TlsPostgres, TlsRedis};
    let certs = Certificates::generate();
    let (postgres, redis) = match (TlsPostgres::start(&certs), TlsRedis::start(&certs)) {
        (Ok(p), Ok(r)) => (p, r),
        (Err(e), _) | (_, Err(e)) => {
            return services::unavailable::<()>("TLS engines the test starts", e).unwrap_or(());
        }
    };
    let ca = postgres.dir.join("ca.pem");
    std::fs::write(&ca, &certs.ca).unwrap();
    let ca = ca.display();
    let pg = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={ca}",
        postgres.port
    );
    assert_eq!(code(&cli(&pg, None, &["migrate"])), 0);
    let rediss = format!("rediss://127.0.0.1:{}?tls_ca={ca}", redis.port);
    for url in [pg.as_str(), rediss.as_str()] {
        assert_eq!(count(url), "0", "{url}");
    }
    // Without the CA: refused, an error naming the engine, not a hang.
    let o = cli(
        &format!("rediss://127.0.0.1:{}", redis.port),
        None,
        &["count"],
    );
    assert_ne!(code(&o), 0);
}
