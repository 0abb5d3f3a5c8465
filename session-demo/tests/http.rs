//! The HTTP behaviour suite of `session-conformance` against the demo, on
//! each framework and on the memory and SQLite stores: the three adapters
//! must behave identically.

use session_conformance::counting::CountingStore;
use session_conformance::http::{Target, run_all, run_cookie_store};
use session_conformance::services;
use session_demo::{Framework, spawn};
use sessions::{CookieConfig, KeyRing, MemoryStore, SessionManager, SessionStore, SqlStore};

/// Serves the demo with `framework` over the store `make_store` opens (on
/// the server's runtime), counting the store's loads and writes, and runs
/// the suite.
fn suite<S, F, Fut>(framework: Framework, header: Option<&'static str>, make_store: F)
where
    S: SessionStore + Clone,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = S>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let server = spawn(
        framework,
        "127.0.0.1:0".parse().unwrap(),
        move || async move {
            let store = CountingStore::new(make_store().await);
            let _ = tx.send(store.clone());
            let keys = KeyRing::new([21u8; 32]).map_err(|e| e.to_string())?;
            let builder = SessionManager::builder(store, keys);
            // With a header, the cookie is also Partitioned (CHIPS): both
            // options checked in the same runs.
            let builder = match header {
                Some(name) => builder
                    .session_header(name)
                    .cookie(CookieConfig::default().partitioned(true)),
                None => builder,
            };
            builder.build().map_err(|e| e.to_string())
        },
    )
    .expect("the demo starts");
    let store = rx.recv().expect("the server made its store");
    let (w, l, d) = (store.clone(), store.clone(), store.clone());
    let mut target = Target::new(format!("http://{}", server.addr()))
        .writes(move || w.writes())
        .loads(move || l.loads())
        .set_down(move |down| d.set_down(down));
    if let Some(name) = header {
        target = target.session_header(name).partitioned();
    }
    if matches!(framework, Framework::Rocket) {
        // Rocket 0.5 drops header values that are not UTF-8 (documented
        // in session-rocket).
        target = target.drops_non_utf8_headers();
    }
    session_conformance::block_on(run_all(&target));
    server.stop();
}

/// On memory, sessions may also travel in a header (the suite then checks
/// that too, and that cookies work as before beside it) and the cookie is
/// Partitioned; on SQLite, only in a plain cookie.
/// The suite's cases that apply to sessions kept whole in an encrypted
/// cookie (no store; `run_cookie_store` lists what does not apply).
fn cookie_store(framework: Framework) {
    let server = spawn(framework, "127.0.0.1:0".parse().unwrap(), || async {
        let keys = KeyRing::new([22u8; 32]).map_err(|e| e.to_string())?;
        SessionManager::encrypted_cookies(keys)
            .build()
            .map_err(|e| e.to_string())
    })
    .expect("the demo starts");
    let mut target = Target::new(format!("http://{}", server.addr()));
    if matches!(framework, Framework::Rocket) {
        target = target.drops_non_utf8_headers();
    }
    session_conformance::block_on(run_cookie_store(&target));
    server.stop();
}

#[test]
fn axum_on_cookie_store() {
    cookie_store(Framework::Axum);
}

#[test]
fn actix_on_cookie_store() {
    cookie_store(Framework::Actix);
}

#[test]
fn rocket_on_cookie_store() {
    cookie_store(Framework::Rocket);
}

fn memory(framework: Framework) {
    suite(framework, Some("x-session-token"), || async {
        MemoryStore::new()
    });
}

fn sqlite(framework: Framework) {
    let dir = std::env::temp_dir().join(services::unique_name("demo-http"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("sessions.db").display());
    suite(framework, None, move || async move {
        let store = SqlStore::connect(&url).await.expect("sqlite");
        store.migrate().await.expect("migrate");
        store
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn axum_on_memory() {
    memory(Framework::Axum);
}

#[test]
fn axum_on_sqlite() {
    sqlite(Framework::Axum);
}

#[test]
fn actix_on_memory() {
    memory(Framework::Actix);
}

#[test]
fn actix_on_sqlite() {
    sqlite(Framework::Actix);
}

#[test]
fn rocket_on_memory() {
    memory(Framework::Rocket);
}

#[test]
fn rocket_on_sqlite() {
    sqlite(Framework::Rocket);
}
