//! The adapters' example apps, run as their own processes and driven over
//! HTTP, so that "each adapter has a runnable example" is checked, not
//! assumed.
//!
//! Every adapter ships `examples/<framework>_counter.rs`: the same small
//! app (a visit counter, `POST /login?user=NAME`, `POST /logout`) that reads
//! `ADDR` and prints `listening on http://…` once it serves. An adapter's
//! test starts it with [`ExampleServer::start`] and runs [`counter_tour`].
//!
//! ```no_run
//! # async fn demo() {
//! use session_conformance::example::{ExampleServer, counter_tour};
//! let server = ExampleServer::start("session-axum", "axum_counter");
//! counter_tour(&server.base).await;
//! # }
//! ```

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;

use crate::http::{Browser, Target};

/// How long an example may take to start listening.
const STARTUP: Duration = Duration::from_secs(60);

/// A running example binary; killed when dropped.
///
/// ```no_run
/// use session_conformance::example::ExampleServer;
/// let server = ExampleServer::start("session-actix", "actix_counter");
/// assert!(server.base.starts_with("http://127.0.0.1:"));
/// drop(server); // kills the process
/// ```
pub struct ExampleServer {
    child: Child,
    /// `http://host:port` it serves on.
    pub base: String,
}

impl ExampleServer {
    /// Starts example `name` of `package` on a free loopback port and waits
    /// until it says it is listening.
    ///
    /// The binary `cargo test` built next to the test is used; when there
    /// is none (a single test target was built), it is built first, into a
    /// target directory of its own.
    ///
    /// # Panics
    ///
    /// When the example cannot be built or started, or exits before it
    /// listens: that is the failure this helper exists to report.
    ///
    /// ```no_run
    /// // In an adapter's tests:
    /// let server = session_conformance::example::ExampleServer::start("session-rocket", "rocket_counter");
    /// session_conformance::block_on(session_conformance::example::counter_tour(&server.base));
    /// ```
    pub fn start(package: &str, name: &str) -> Self {
        let binary = binary(package, name);
        let mut child = Command::new(&binary)
            .env("ADDR", "127.0.0.1:0")
            .env_remove("SESSION_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send(first);
            // Keep reading, so that the server never writes into a closed pipe.
            for line in lines.map_while(Result::ok) {
                println!("example: {line}");
            }
        });
        let Ok(line) = rx.recv_timeout(STARTUP) else {
            let _ = child.kill();
            panic!("{name} did not say it was listening within {STARTUP:?}");
        };
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("{name} should print `listening on <url>` first, printed {line:?}")
            })
            .to_owned();
        ExampleServer { child, base }
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example's executable: beside the running test, or freshly built.
fn binary(package: &str, name: &str) -> PathBuf {
    // A test runs from target/<profile>/deps; examples land in target/<profile>/examples.
    let beside = std::env::current_exe().ok().and_then(|exe| {
        let profile_dir = exe.parent()?.parent()?;
        Some(profile_dir.join("examples").join(name))
    });
    if let Some(path) = beside.filter(|p| p.exists()) {
        return path;
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("run under cargo");
    let target_dir = PathBuf::from(manifest).join("../../target/example-runs");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            package,
            "--example",
            name,
            "--target-dir",
        ])
        .arg(&target_dir)
        .status()
        .expect("running cargo build");
    assert!(
        status.success(),
        "building example {name} of {package} failed"
    );
    target_dir.join("debug/examples").join(name)
}

/// Drives a counter example: visits count up per browser, login rotates the
/// session ID and keeps the data, logout ends the session for good, and an
/// empty user name is refused with a 400.
///
/// # Panics
///
/// When the app does not behave as described, naming what went wrong.
///
/// ```no_run
/// # session_conformance::block_on(async {
/// use session_conformance::example::{ExampleServer, counter_tour};
/// let server = ExampleServer::start("session-axum", "axum_counter");
/// counter_tour(&server.base).await;
/// # });
/// ```
pub async fn counter_tour(base: &str) {
    let target = Target::new(base);
    let mut browser = Browser::new(&target);

    let first = browser.get("/").await;
    assert_eq!(first.status, 200, "GET / answers: {}", first.text);
    assert!(
        first.text.contains("visit number 1 (not logged in)"),
        "first visit: {}",
        first.text
    );
    assert!(first.cookie().is_some(), "the first visit sets a cookie");
    let second = browser.get("/").await;
    assert!(
        second.text.contains("visit number 2"),
        "second visit: {}",
        second.text
    );
    let other = Browser::new(&target).get("/").await;
    assert!(
        other.text.contains("visit number 1"),
        "another browser has its own count: {}",
        other.text
    );

    let before_login = browser.session_cookie().expect("a session cookie");
    let login = browser.send(Method::POST, "/login?user=alice", None).await;
    assert_eq!(login.status, 200, "login answers: {}", login.text);
    let after_login = browser
        .session_cookie()
        .expect("a session cookie after login");
    assert_ne!(before_login, after_login, "login rotates the session ID");
    let third = browser.get("/").await;
    assert!(
        third.text.contains("visit number 3 (logged in as alice)"),
        "login keeps the count and binds the user: {}",
        third.text
    );
    starts_over_with(
        &target,
        &before_login,
        "the pre-login cookie no longer works",
    )
    .await;

    let logout = browser.send(Method::POST, "/logout", None).await;
    assert_eq!(logout.status, 200, "logout answers: {}", logout.text);
    assert!(logout.deletes_cookie(), "logout deletes the cookie");
    starts_over_with(
        &target,
        &after_login,
        "a logged-out session stays ended on the server",
    )
    .await;

    // A user name the session refuses (empty) is the client's mistake.
    let mut refused = Browser::new(&target);
    let login = refused.send(Method::POST, "/login?user=", None).await;
    assert_eq!(login.status, 400, "an empty user name: {}", login.text);
    let page = refused.get("/").await;
    assert!(
        page.text.contains("visit number 1 (not logged in)"),
        "a refused login logs no one in: {}",
        page.text
    );
}

/// Asserts that a browser sending only `cookie` starts a new count: the
/// server no longer honours that session.
async fn starts_over_with(target: &Target, cookie: &str, why: &str) {
    let mut browser = Browser::new(target);
    browser.set_cookie_raw(cookie);
    let page = browser.get("/").await;
    assert!(
        page.text.contains("visit number 1 (not logged in)"),
        "{why}: {}",
        page.text
    );
}
