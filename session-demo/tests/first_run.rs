//! The binary as a newcomer runs it: `session-demo` with no store and no
//! secret, in an empty directory. It must make its own secret and SQLite
//! file (both readable by their owner only), say so, serve, keep sessions
//! across a restart, and sweep the sessions that expired while it was down.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use session_conformance::services;
use sessions::time::Duration as TimeDuration;
use sessions::{Maintenance, Record, SessionId, SessionStore, SqlStore, now};

/// A running demo; killed when dropped, so a failed assertion leaves no
/// server behind.
struct Demo {
    child: Option<Child>,
    base: String,
}

impl Demo {
    /// Starts the demo in `dir` with only `--addr` given, and waits until
    /// it answers.
    async fn start(dir: &Path) -> Demo {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_session-demo"))
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .env_remove("SESSION_SECRET")
            .env_remove("SESSION_SECRET_FALLBACKS")
            .env("RUST_LOG", "off")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the demo binary starts");
        let demo = Demo {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if reqwest::get(format!("{}/api/session", demo.base))
                .await
                .is_ok()
            {
                return demo;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let out = demo.stop();
        panic!("the demo did not answer; it printed:\n{out}");
    }

    /// Stops the demo and returns what it printed.
    fn stop(mut self) -> String {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let out = child.wait_with_output().expect("the demo's output");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `name=value` of a response's `Set-Cookie`.
fn cookie_of(response: &reqwest::Response) -> String {
    let header = response.headers()["set-cookie"].to_str().unwrap();
    header.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_run_keeps_its_secret_and_sessions_and_sweeps_on_start() {
    let dir = std::env::temp_dir().join(services::unique_name("demo-first-run"));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join(".session-demo");
    let client = reqwest::Client::new();

    let demo = Demo::start(&dir).await;
    let put = client
        .put(format!("{}/api/session/greeting", demo.base))
        .header("content-type", "application/json")
        .body(r#""hello""#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let cookie = cookie_of(&put);
    let printed = demo.stop();
    assert!(
        printed.contains("generated a secret and kept it in .session-demo/secret"),
        "no notice of the generated secret:\n{printed}"
    );
    assert_eq!(mode(&state.join("secret")), 0o600, "the secret file");
    assert_eq!(mode(&state.join("sessions.db")), 0o600, "the database");

    // While it is down, a session expires in its database.
    let db = format!("sqlite:{}", state.join("sessions.db").display());
    let store = SqlStore::connect(&db).await.expect("the demo's database");
    let at = now();
    store
        .create(&Record {
            key: SessionId::generate().store_key(),
            data: br#"{"old":true}"#.to_vec(),
            version: 1,
            created_at: at - TimeDuration::days(15),
            expires_at: at - TimeDuration::days(1),
            user: None,
        })
        .await
        .unwrap();
    assert_eq!(store.stats(0).await.unwrap().expired, Some(1));

    let demo = Demo::start(&dir).await;
    let get = client
        .get(format!("{}/api/session", demo.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"greeting": "hello"}),
        "the session did not survive the restart"
    );
    let mut swept = false;
    for _ in 0..100 {
        if store.stats(0).await.unwrap().expired == Some(0) {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let printed = demo.stop();
    assert!(swept, "the expired session was not swept on start");
    assert_eq!(store.stats(0).await.unwrap().live, 1, "a live session went");
    assert!(
        printed.contains("using the secret kept in .session-demo/secret"),
        "the restart did not say where its secret came from:\n{printed}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
