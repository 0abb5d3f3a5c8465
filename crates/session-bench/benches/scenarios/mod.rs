//! The axum apps every HTTP benchmark measures: no sessions, our layer and
//! tower-sessions' layer, each with a route that ignores, reads or writes
//! the session. Each app answers `/init` by storing a counter, so a client
//! starts with a session of its own.

#![allow(dead_code, reason = "each benchmark uses a part of this module")]

use axum::Router;
use axum::routing::get;
use session_axum::{Session, SessionLayer};
use session_core::{CookieConfig, KeyRing, SessionManager};
use session_store_memory::MemoryStore;

/// Index of the bare app, the reference for the cost of a layer.
pub const BARE: usize = 0;
/// Index of the bare app behind a layer that does nothing: what axum itself
/// charges for any layer, the floor under "a route that ignores the session".
pub const PASS_THROUGH: usize = 1;
/// Indexes of our three apps: ignores, reads, writes.
pub const OURS: [usize; 3] = [2, 3, 4];
/// Indexes of tower-sessions' three apps: ignores, reads, writes.
pub const THEIRS: [usize; 3] = [5, 6, 7];

fn ours() -> SessionLayer {
    let manager = SessionManager::builder(
        MemoryStore::builder().capacity(1_000_000).build(),
        KeyRing::new([9u8; 32]).unwrap(),
    )
    .cookie(CookieConfig::new("session").secure(false))
    .build()
    .unwrap();
    SessionLayer::new(manager)
}

fn theirs() -> tower_sessions::SessionManagerLayer<tower_sessions::MemoryStore> {
    tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_secure(false)
}

/// Every server answers `/init` by storing a counter, so each client
/// connection starts with a session of its own.
pub fn scenarios() -> Vec<(&'static str, Router)> {
    let bare = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/init", get(|| async { "ok" }));
    let ours_init = get(|s: Session| async move {
        s.insert("counter", 0u64).unwrap();
        "ok"
    });
    let theirs_init = get(|s: tower_sessions::Session| async move {
        s.insert("counter", 0u64).await.unwrap();
        "ok"
    });
    vec![
        ("bare handler", bare.clone()),
        (
            "bare handler behind a pass-through layer",
            bare.layer(PassThrough),
        ),
        (
            "ours: ignores the session",
            Router::new()
                .route("/", get(|| async { "ok" }))
                .route("/init", ours_init.clone())
                .layer(ours()),
        ),
        (
            "ours: reads",
            Router::new()
                .route(
                    "/",
                    get(|s: Session| async move {
                        s.get::<u64>("counter").unwrap().unwrap_or(0).to_string()
                    }),
                )
                .route("/init", ours_init.clone())
                .layer(ours()),
        ),
        (
            "ours: writes",
            Router::new()
                .route(
                    "/",
                    get(|s: Session| async move {
                        let n = s.get::<u64>("counter").unwrap().unwrap_or(0) + 1;
                        s.insert("counter", n).unwrap();
                        n.to_string()
                    }),
                )
                .route("/init", ours_init)
                .layer(ours()),
        ),
        (
            "tower-sessions: ignores the session",
            Router::new()
                .route("/", get(|| async { "ok" }))
                .route("/init", theirs_init.clone())
                .layer(theirs()),
        ),
        (
            "tower-sessions: reads",
            Router::new()
                .route(
                    "/",
                    get(|s: tower_sessions::Session| async move {
                        s.get::<u64>("counter")
                            .await
                            .unwrap()
                            .unwrap_or(0)
                            .to_string()
                    }),
                )
                .route("/init", theirs_init.clone())
                .layer(theirs()),
        ),
        (
            "tower-sessions: writes",
            Router::new()
                .route(
                    "/",
                    get(|s: tower_sessions::Session| async move {
                        let n = s.get::<u64>("counter").await.unwrap().unwrap_or(0) + 1;
                        s.insert("counter", n).await.unwrap();
                        n.to_string()
                    }),
                )
                .route("/init", theirs_init)
                .layer(theirs()),
        ),
    ]
}

/// A layer whose service only forwards: axum's own cost of a layer.
#[derive(Clone)]
pub struct PassThrough;

impl<S> tower_layer::Layer<S> for PassThrough {
    type Service = Forward<S>;

    fn layer(&self, inner: S) -> Forward<S> {
        Forward(inner)
    }
}

/// The service of [`PassThrough`].
#[derive(Clone)]
pub struct Forward<S>(S);

impl<S: tower_service::Service<R>, R> tower_service::Service<R> for Forward<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.0.call(request)
    }
}
