//! The axum apps every HTTP benchmark measures: no sessions, our layer and
//! tower-sessions' layer, each with a route that ignores, reads or writes
//! the session. Each app answers `/init` by storing a counter, so a client
//! starts with a session of its own; the apps without sessions answer it
//! with a cookie as long as ours, because a browser sends its cookie to
//! every route of a site, those that ignore the session included.

#![allow(dead_code, reason = "each benchmark uses a part of this module")]

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use http::Request;
use session_axum::{Session, SessionLayer, SessionService};
use session_core::{CookieConfig, KeyRing, SessionManager};
use session_store_memory::MemoryStore;
use tower::ServiceExt as _;
use tower_layer::Layer;

/// Index of the bare app, the reference for the cost of a layer.
pub const BARE: usize = 0;
/// Index of the bare app behind a layer that does nothing, added with
/// `Router::layer`: what axum itself charges for such a layer.
pub const PASS_THROUGH: usize = 1;
/// Indexes of our three apps, layer added with `Router::layer`: ignores,
/// reads, writes.
pub const OURS: [usize; 3] = [2, 3, 4];
/// Indexes of tower-sessions' three apps, the same way.
pub const THEIRS: [usize; 3] = [5, 6, 7];
/// Index of the bare app inside a layer that does nothing, wrapped around
/// the whole router.
pub const PASS_THROUGH_AROUND: usize = 8;
/// Indexes of our three apps with the layer wrapped around the router.
pub const OURS_AROUND: [usize; 3] = [9, 10, 11];
/// Indexes of tower-sessions' three apps, the same way.
pub const THEIRS_AROUND: [usize; 3] = [12, 13, 14];
/// Indexes of tower-sessions' three apps around the router, signing their
/// cookies (HMAC-SHA256), as ours always do.
pub const THEIRS_SIGNED_AROUND: [usize; 3] = [15, 16, 17];
/// Index of a second bare app, the same code as [`BARE`] on a server of
/// its own: how far two identical apps measure apart, the floor under
/// which a difference from the bare handler means nothing.
pub const BARE_AGAIN: usize = 18;
/// Index of the bare router served through `into_make_service`, one copy
/// shared by every connection, where `axum::serve(listener, router)` gives
/// each connection a copy of its own.
pub const BARE_SHARED: usize = 19;
/// Indexes of tower-sessions' three apps around the router with a cookie
/// as long as ours (a longer name): what our longer cookie alone costs,
/// measured in the same run.
pub const THEIRS_AS_LONG_AROUND: [usize; 3] = [20, 21, 22];

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

/// tower-sessions' layer with a cookie name that makes its `Cookie`
/// header as long as ours: 72 characters, `=`, and its 22-character ID,
/// against our `session=`, 43-character ID, `.` and 43-character tag.
fn theirs_as_long() -> Theirs {
    theirs().with_name(format!("session{}", "_".repeat(72 - "session".len())))
}

fn theirs_signed() -> TheirsSigned {
    theirs().with_signed(tower_sessions::cookie::Key::from(&[9u8; 64]))
}

/// The `Set-Cookie` the apps without sessions answer `/init` with: a
/// cookie of the same name and length as ours (an ID, a dot, a tag), so
/// that every app receives the same request bytes.
pub fn stand_in_cookie() -> String {
    format!("session={}.{}; Path=/", "i".repeat(43), "t".repeat(43))
}

/// One app under test: a router, or a layer wrapped around one.
#[derive(Clone)]
pub enum App {
    /// A router, with its layers (if any) added by `Router::layer`.
    Router(Router),
    /// A router served through `into_make_service`.
    Shared(Router),
    /// A layer that does nothing, around the router.
    PassThrough(Forward<Router>),
    /// Our layer around the router.
    Ours(SessionService<Router>),
    /// tower-sessions' layer around the router.
    Theirs(<Theirs as Layer<Router>>::Service),
    /// tower-sessions' layer around the router, signing its cookies.
    TheirsSigned(<TheirsSigned as Layer<Router>>::Service),
}

type Theirs = tower_sessions::SessionManagerLayer<tower_sessions::MemoryStore>;
type TheirsSigned = tower_sessions::SessionManagerLayer<
    tower_sessions::MemoryStore,
    tower_sessions::service::SignedCookie,
>;

/// Evaluates `$body` with `$service` bound to the service inside `$app`,
/// whichever variant it is: each variant holds its own type, so the code
/// is written once here and compiled once per variant. A second arm may
/// give the bare router its own body.
macro_rules! with_service {
    ($app:expr, $service:ident => $body:expr) => {
        with_service!($app, $service => $body, $service => $body)
    };
    ($app:expr, $service:ident => $body:expr, $router:ident => $router_body:expr) => {
        match $app {
            App::Router($router) => $router_body,
            App::Shared($service) => $body,
            App::PassThrough($service) => $body,
            App::Ours($service) => $body,
            App::Theirs($service) => $body,
            App::TheirsSigned($service) => $body,
        }
    };
}

impl App {
    /// Calls the app in-process.
    pub async fn call(&self, request: Request<Body>) -> Response {
        let Ok(response) = with_service!(self, app => app.clone().oneshot(request).await);
        response
    }

    /// Calls `/init` and returns the `name=value` of the cookie it set.
    pub async fn init(&self) -> Option<String> {
        let response = self
            .call(Request::get("/init").body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status(), 200);
        response
            .headers()
            .get(http::header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
    }

    /// `GET /` as the `http` bench's client sends it (a `Host` header and
    /// the cookie); checks for a 200.
    pub async fn get(&self, cookie: Option<&str>) {
        let mut request = Request::get("/").header(http::header::HOST, "127.0.0.1");
        if let Some(cookie) = cookie {
            request = request.header(http::header::COOKIE, cookie);
        }
        let response = self.call(request.body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), 200);
    }

    /// Serves the app on `listener` until the process ends. A bare router
    /// is served as itself, which lets axum prepare its routes once per
    /// connection; a layer is served through `into_make_service`.
    pub async fn serve(self, listener: tokio::net::TcpListener) {
        use axum::ServiceExt;
        let served = with_service!(
            self,
            app => axum::serve(listener, ServiceExt::<Request<Body>>::into_make_service(app)).await,
            router => axum::serve(listener, router).await
        );
        served.expect("the server failed");
    }
}

/// The routes of one app: `/` ignores, reads or writes the session, and
/// `/init` stores a counter so that each client starts with a session.
/// The router comes with its handlers already turned into routes, as
/// `session-axum`'s docs advise for a router wrapped in a layer.
fn routes(what: usize, sessions: Sessions) -> Router {
    let ours_init = get(|s: Session| async move {
        s.insert("counter", 0u64).unwrap();
        "ok"
    });
    let theirs_init = get(|s: tower_sessions::Session| async move {
        s.insert("counter", 0u64).await.unwrap();
        "ok"
    });
    let ignore = get(|| async { "ok" });
    let router = match (sessions, what) {
        (Sessions::None, _) => Router::new().route("/", ignore).route(
            "/init",
            get(|| async { ([(http::header::SET_COOKIE, stand_in_cookie())], "ok") }),
        ),
        (Sessions::Ours, IGNORE) => Router::new().route("/", ignore).route("/init", ours_init),
        (Sessions::Ours, READ) => Router::new()
            .route(
                "/",
                get(|s: Session| async move {
                    s.get::<u64>("counter").unwrap().unwrap_or(0).to_string()
                }),
            )
            .route("/init", ours_init),
        (Sessions::Ours, _) => Router::new()
            .route(
                "/",
                get(|s: Session| async move {
                    let n = s.get::<u64>("counter").unwrap().unwrap_or(0) + 1;
                    s.insert("counter", n).unwrap();
                    n.to_string()
                }),
            )
            .route("/init", ours_init),
        (Sessions::Theirs, IGNORE) => Router::new().route("/", ignore).route("/init", theirs_init),
        (Sessions::Theirs, READ) => Router::new()
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
            .route("/init", theirs_init),
        (Sessions::Theirs, _) => Router::new()
            .route(
                "/",
                get(|s: tower_sessions::Session| async move {
                    let n = s.get::<u64>("counter").await.unwrap().unwrap_or(0) + 1;
                    s.insert("counter", n).await.unwrap();
                    n.to_string()
                }),
            )
            .route("/init", theirs_init),
    };
    // Each handler turned into a ready route once, here: what
    // `axum::serve` does per connection for a bare router, and what a
    // router inside a layer would otherwise do again on every request.
    router.with_state(())
}

const IGNORE: usize = 0;
const READ: usize = 1;

#[derive(Clone, Copy)]
enum Sessions {
    None,
    Ours,
    Theirs,
}

/// Every app, in the order of the index constants above.
pub fn scenarios() -> Vec<(String, App)> {
    let what = ["ignores the session", "reads", "writes"];
    let mut apps = vec![
        (
            "bare handler".to_owned(),
            App::Router(routes(0, Sessions::None)),
        ),
        (
            "bare handler behind a pass-through layer".to_owned(),
            App::Router(routes(0, Sessions::None).layer(PassThrough)),
        ),
    ];
    for (i, w) in what.iter().enumerate() {
        let name = format!("ours: {w}");
        apps.push((name, App::Router(routes(i, Sessions::Ours).layer(ours()))));
    }
    for (i, w) in what.iter().enumerate() {
        let name = format!("tower-sessions: {w}");
        apps.push((
            name,
            App::Router(routes(i, Sessions::Theirs).layer(theirs())),
        ));
    }
    apps.push((
        "bare handler inside a pass-through layer around the router".to_owned(),
        App::PassThrough(PassThrough.layer(routes(0, Sessions::None))),
    ));
    for (i, w) in what.iter().enumerate() {
        let name = format!("ours around the router: {w}");
        apps.push((name, App::Ours(ours().layer(routes(i, Sessions::Ours)))));
    }
    for (i, w) in what.iter().enumerate() {
        let name = format!("tower-sessions around the router: {w}");
        apps.push((
            name,
            App::Theirs(theirs().layer(routes(i, Sessions::Theirs))),
        ));
    }
    for (i, w) in what.iter().enumerate() {
        let name = format!("tower-sessions, signed cookies, around the router: {w}");
        apps.push((
            name,
            App::TheirsSigned(theirs_signed().layer(routes(i, Sessions::Theirs))),
        ));
    }
    apps.push((
        "bare handler again, a second server".to_owned(),
        App::Router(routes(0, Sessions::None)),
    ));
    apps.push((
        "bare handler served through into_make_service".to_owned(),
        App::Shared(routes(0, Sessions::None)),
    ));
    for (i, w) in what.iter().enumerate() {
        let name = format!("tower-sessions around the router, a cookie as long as ours: {w}");
        apps.push((
            name,
            App::Theirs(theirs_as_long().layer(routes(i, Sessions::Theirs))),
        ));
    }
    apps
}

/// A layer whose service only forwards: axum's own cost of a layer.
#[derive(Clone)]
pub struct PassThrough;

impl<S> Layer<S> for PassThrough {
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
