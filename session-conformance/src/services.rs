//! Helpers for tests that need a real engine (PostgreSQL, MySQL, Redis…).
//!
//! Each test reads the engine's URL from an environment variable with the
//! local default. When the engine cannot be reached the test is skipped
//! with a printed reason, unless `SESSION_TEST_REQUIRE_SERVICES=1`, in which
//! case it fails: CI sets it so that nothing passes by skipping.
//!
//! ```
//! use session_conformance::services;
//! let url = services::url("SESSION_TEST_EXAMPLE_URL", "redis://127.0.0.1:6379");
//! assert!(url.starts_with("redis://") || std::env::var("SESSION_TEST_EXAMPLE_URL").is_ok());
//! let table = services::unique_name("conf");
//! assert!(table.starts_with("conf_"));
//! ```

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable that turns skips into failures.
///
/// ```
/// // `.ci/run` sets it, so CI fails instead of skipping when an engine is down.
/// assert_eq!(session_conformance::services::REQUIRE_VAR, "SESSION_TEST_REQUIRE_SERVICES");
/// ```
pub const REQUIRE_VAR: &str = "SESSION_TEST_REQUIRE_SERVICES";

/// Whether unreachable engines must fail the tests instead of skipping them.
///
/// ```
/// use session_conformance::services::{REQUIRE_VAR, required};
/// assert_eq!(required(), matches!(std::env::var(REQUIRE_VAR).as_deref(), Ok("1" | "true" | "TRUE" | "True")));
/// ```
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The URL in `var`, or `default`.
///
/// ```
/// let url = session_conformance::services::url("NO_SUCH_TEST_URL_VARIABLE", "redis://127.0.0.1:6379");
/// assert_eq!(url, "redis://127.0.0.1:6379");
/// ```
pub fn url(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// Reports an unreachable engine: panics when engines are [`required`],
/// otherwise prints why the test is skipped and returns `None`, so a test
/// can write `let Some(store) = … else { return };`.
///
/// ```no_run
/// # async fn f() {
/// use session_conformance::services::unavailable;
/// let engine = match tokio::net::TcpStream::connect("127.0.0.1:6379").await {
///     Ok(connection) => connection,
///     Err(e) => match unavailable("Redis", e) {
///         Some(connection) => connection,
///         None => return, // skipped, and said why
///     },
/// };
/// # }
/// ```
pub fn unavailable<T>(engine: &str, why: impl Display) -> Option<T> {
    if required() {
        panic!("{engine} is required ({REQUIRE_VAR}=1) but unavailable: {why}");
    }
    eprintln!(
        "skipping: {engine} is unavailable ({why}); set {REQUIRE_VAR}=1 to make this a failure"
    );
    None
}

/// A name no other test uses: `<prefix>_<unix seconds>_<counter><random>`.
/// The timestamp lets cleanup code recognise leftovers of old runs.
///
/// ```
/// let a = session_conformance::services::unique_name("sessions_test");
/// let b = session_conformance::services::unique_name("sessions_test");
/// assert!(a.starts_with("sessions_test_") && a != b);
/// ```
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let salt = session_core::SessionId::generate_in(session_core::IdFormat::Django);
    format!("{prefix}_{now}_{n}{}", &salt.expose()[..8])
}

/// The Unix time embedded in a name made by [`unique_name`].
///
/// ```
/// let name = session_conformance::services::unique_name("t");
/// assert!(session_conformance::services::created_at(&name).is_some());
/// assert_eq!(session_conformance::services::created_at("t_x"), None);
/// ```
pub fn created_at(name: &str) -> Option<u64> {
    name.split('_').nth(1)?.parse().ok()
}

/// Makes a real Django importable by `python3` (with `psycopg` for
/// PostgreSQL and `redis` for its Redis cache), installing them with pip
/// when they are missing; for tests
/// that check sessions against Django itself. Call it once per test binary
/// or more: the answer is kept.
///
/// # Errors
///
/// When Python or pip is missing, or the install fails (no network).
///
/// ```no_run
/// // Installs Django with pip when `python3 -c "import django"` fails.
/// session_conformance::services::django().expect("Python with Django");
/// ```
pub fn django() -> Result<(), String> {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let importable = || {
                std::process::Command::new("python3")
                    .args(["-c", "import django, psycopg, redis"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if importable() {
                return Ok(());
            }
            let install = std::process::Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["django>=5.2,<6", "psycopg[binary]>=3.1", "redis>=5"])
                .output()
                .map_err(|e| format!("pip: {e}"))?;
            if install.status.success() && importable() {
                Ok(())
            } else {
                Err(format!(
                    "pip could not install Django: {}",
                    String::from_utf8_lossy(&install.stderr)
                ))
            }
        })
        .clone()
}

/// The script that drives a real Django for the Django compatibility tests:
/// `migrate`, `write JSON`, `update KEY JSON`, `read KEY`, `delete KEY`,
/// `exists KEY`, `authhash PASSWORD`; its docstring lists the `DJANGO_*`
/// settings it reads.
///
/// ```
/// let helper = std::path::Path::new(session_conformance::services::DJANGO_HELPER);
/// assert!(helper.ends_with("django_helper.py") && helper.exists());
/// ```
pub const DJANGO_HELPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/django_helper.py");

/// Runs [`DJANGO_HELPER`] with `args` and the `DJANGO_*` settings in `env`,
/// and returns what it printed, trimmed. Call [`django`] first, which
/// installs Django when it is missing.
///
/// ```no_run
/// use session_conformance::services;
/// services::django().expect("Django is installed");
/// let db = [("DJANGO_DB", "sqlite:/tmp/db.sqlite3"), ("DJANGO_SECRET", "a-secret")];
/// services::run_django(&db, &["migrate"]);
/// let key = services::run_django(&db, &["write", r#"{"user_id": 5}"#]);
/// assert_eq!(services::run_django(&db, &["read", &key]), r#"{"user_id": 5}"#);
/// ```
///
/// # Panics
///
/// When Python cannot be started or the helper fails; the message carries
/// the helper's standard error.
pub fn run_django(env: &[(&str, &str)], args: &[&str]) -> String {
    let output = std::process::Command::new("python3")
        .arg(DJANGO_HELPER)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the Django helper failed on {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
