//! `session-demo`: the demo server. `cargo run -p session-demo` serves
//! http://127.0.0.1:8000 on SQLite in `.session-demo/`, with no server to run.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use clap::Parser;
use session_demo::{Framework, spawn};
use sessions::django::signing::DjangoSigner;
use sessions::time::Duration;
use sessions::{
    CookieConfig, DjangoSqlStore, ExpiryRules, KeyRing, SessionManager, open_store,
    spawn_expired_cleanup,
};

/// Where the demo keeps its SQLite database and generated secret.
const STATE_DIR: &str = ".session-demo";

/// Django's "working with user data" tutorial, on server-side sessions.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,

    /// Session store: memory:, file:DIR, sqlite:PATH, postgres://…, mysql://…, redis://…,
    /// or cookie: (no store: each session whole in an encrypted cookie).
    #[arg(long, default_value = "sqlite:.session-demo/sessions.db")]
    store: String,

    /// Web framework serving the app.
    #[arg(long, value_enum, default_value_t = Framework::Axum)]
    framework: Framework,

    /// Secret key (32 bytes or more). Prefer the SESSION_SECRET variable: a
    /// command line is visible to other users of the machine. Without
    /// either, a secret is generated once and kept in .session-demo/secret.
    #[arg(
        long,
        env = "SESSION_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    secret: Option<String>,

    /// Older secrets that still verify cookies, comma-separated.
    #[arg(
        long,
        env = "SESSION_SECRET_FALLBACKS",
        hide_env_values = true,
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    secret_fallbacks: Vec<String>,

    /// Idle lifetime of a session, in seconds (Django's SESSION_COOKIE_AGE).
    #[arg(long, default_value_t = 1_209_600)]
    cookie_age: i64,

    /// Share sessions with a Django app: Django's `django_session` table in
    /// the --store database (SQLite or PostgreSQL; run Django's migrate
    /// first), Django's formats and `sessionid` cookie, SESSION_SECRET being
    /// the app's SECRET_KEY and SESSION_SECRET_FALLBACKS its fallbacks.
    #[arg(long)]
    django: bool,

    /// Send the cookie without the Secure attribute, for plain HTTP on a
    /// host other than localhost (browsers accept Secure cookies from
    /// http://localhost and http://127.0.0.1).
    #[arg(long)]
    insecure_cookies: bool,

    /// Also accept the session in this request header (for example
    /// `x-session-token`), for mobile and API clients without a cookie jar:
    /// a new session's token comes back in it, and the client sends it back.
    #[arg(long, value_name = "NAME")]
    session_header: Option<String>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(env_filter())
        .init();
    if let Err(e) = run(Args::parse()) {
        eprintln!("session-demo: {e}");
        std::process::exit(1);
    }
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}

/// The `--store` that keeps sessions in encrypted cookies, with no store.
const COOKIE_STORE: &str = "cookie:";

/// How the demo signs its cookies: with its own key ring, or as the
/// Django app it shares sessions with does.
enum Signing {
    Native(KeyRing),
    Django(DjangoSigner),
}

fn run(args: Args) -> Result<(), String> {
    if args.cookie_age <= 0 {
        return Err("--cookie-age must be positive".into());
    }
    let fallbacks: Vec<String> = args
        .secret_fallbacks
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    let signing = if args.django {
        let secret = args
            .secret
            .clone()
            .ok_or("--django needs the Django app's SECRET_KEY in SESSION_SECRET")?;
        let signer = DjangoSigner::new(&secret, &fallbacks).map_err(|e| e.to_string())?;
        Signing::Django(signer)
    } else {
        let secret = match args.secret.clone() {
            Some(s) => s,
            None => stored_secret(Path::new(STATE_DIR))?,
        };
        let keys = KeyRing::with_fallbacks(&secret, &fallbacks)
            .map_err(|e| format!("{e} (set SESSION_SECRET to a longer secret)"))?;
        Signing::Native(keys)
    };
    if let Some(path) = args.store.strip_prefix("sqlite:").filter(|_| !args.django) {
        std::fs::create_dir_all(STATE_DIR)
            .map_err(|e| format!("cannot create {STATE_DIR}: {e}"))?;
        private_file(Path::new(path.split('?').next().unwrap_or(path)))?;
    }
    let store_url = args.store.clone();
    let cookie = CookieConfig::new("session").secure(!args.insecure_cookies);
    let rules = ExpiryRules::default().idle_timeout(Duration::seconds(args.cookie_age));
    let header = args.session_header.clone();
    let server = spawn(args.framework, args.addr, move || async move {
        let builder = match signing {
            Signing::Django(signer) => {
                let store = DjangoSqlStore::connect(&store_url)
                    .await
                    .map_err(|e| e.to_string())?;
                let cookie = CookieConfig::new("sessionid").secure(cookie.is_secure());
                SessionManager::django(store, signer).cookie(cookie)
            }
            Signing::Native(keys) if store_url == COOKIE_STORE => {
                SessionManager::encrypted_cookies(keys).cookie(cookie)
            }
            Signing::Native(keys) => {
                let store = open_store(&store_url).await.map_err(|e| e.to_string())?;
                store.migrate().await.map_err(|e| e.to_string())?;
                // SQL and file stores keep expired rows until swept (the
                // memory store and Redis expire their own).
                spawn_expired_cleanup(store.clone(), std::time::Duration::from_secs(3600))
                    .map_err(|e| e.to_string())?
                    .detach();
                SessionManager::builder(store, keys).cookie(cookie)
            }
        };
        let builder = match header {
            Some(name) => builder.session_header(name),
            None => builder,
        };
        builder.expiry(rules).build().map_err(|e| e.to_string())
    })?;
    println!(
        "session-demo: {:?} on http://{} with the store {}",
        args.framework,
        server.addr(),
        redact(&args.store)
    );
    server.wait();
    Ok(())
}

/// Creates the SQLite file readable by its owner only (SQLite gives its
/// -wal and -shm files the same mode), if it does not exist yet.
fn private_file(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() || path.to_str() == Some(":memory:") || path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// Reads the demo's secret, creating it (0600) on first run.
fn stored_secret(dir: &Path) -> Result<String, String> {
    let path = dir.join("secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        println!(
            "session-demo: using the secret kept in {} (set SESSION_SECRET to use your own)",
            path.display()
        );
        return Ok(secret.trim().to_owned());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random numbers: {e}"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(secret.as_bytes())
        .map_err(|e| e.to_string())?;
    println!(
        "session-demo: generated a secret and kept it in {} so sessions survive a restart \
         (set SESSION_SECRET to use your own)",
        path.display()
    );
    Ok(secret)
}

/// A store URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let creds = &url[start + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_may_start_with_a_hyphen() {
        let secret = format!("-{}", "s".repeat(40));
        let args = Args::try_parse_from([
            "session-demo",
            "--secret",
            &secret,
            "--secret-fallbacks",
            "-old-one,-old-two",
        ])
        .expect("a secret starting with '-' is a value, not a flag");
        assert_eq!(args.secret.as_deref(), Some(secret.as_str()));
        assert_eq!(args.secret_fallbacks, ["-old-one", "-old-two"]);
    }
}
