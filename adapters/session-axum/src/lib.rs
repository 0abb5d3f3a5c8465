//! [axum](https://docs.rs/axum) integration for server-side sessions.
//!
//! Add a [`SessionLayer`] to the router and take a [`Session`] in any
//! handler that needs one. When a handler takes the session, its cookie is
//! read and the store asked; after the handler, the layer saves the session
//! and writes `Set-Cookie`/`Vary: Cookie`; everything else (signing, expiry,
//! concurrency) is `session-core`'s.
//!
//! The cookie is only read, and the store only asked, when a handler takes a
//! `Session`: a route that does not take it costs two small allocations and
//! nothing more.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use session_axum::{Session, SessionLayer};
//! use session_core::{KeyRing, SessionManager};
//! use session_store_memory::MemoryStore;
//!
//! async fn counter(session: Session) -> String {
//!     let visits = session.get::<u64>("visits").unwrap_or_default().unwrap_or(0) + 1;
//!     session.insert("visits", visits).expect("a number serializes");
//!     format!("visit number {visits}")
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
//! let app = Router::new().route("/", get(counter)).layer(SessionLayer::new(manager));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! A complete app (a visit counter with log in and log out) is in
//! `examples/axum_counter.rs`; run it with
//! `cargo run -p session-axum --example axum_counter`.
//!
//! # Around the router: the cheapest way to install it
//!
//! `Router::layer` wraps each route separately, and axum then clones and
//! boxes the wrapped service and its future on every request, whatever
//! the layer does: on loopback that costs more than this layer itself on a
//! route that ignores the session (figures in the repository's
//! `BENCHMARKS.md`). Wrapping the whole router with [`Layer::layer`]
//! (re-exported here) avoids it and behaves the same.
//!
//! Give the router its state first ([`Router::with_state`], with `()`
//! when it has none). `axum::serve` does that for a bare router once per
//! connection, turning each handler into a ready route; a router inside a
//! layer is called as it is, and would turn the handler into a route again
//! on every request (an allocation and about 180 instructions each time):
//!
//! [`Router::with_state`]: https://docs.rs/axum/0.8/axum/struct.Router.html#method.with_state
//!
//! ```no_run
//! use axum::{Router, ServiceExt, extract::Request, routing::get};
//! use session_axum::{Layer, Session, SessionLayer};
//! # use session_core::{KeyRing, SessionManager};
//! # use session_store_memory::MemoryStore;
//! # async fn counter(session: Session) -> String { String::new() }
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
//! let router = Router::new().route("/", get(counter)).with_state(());
//! let app = SessionLayer::new(manager).layer(router);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await?;
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! When the store fails, the handler is not run (loading failed) or its
//! response is replaced (saving failed) by an error response: by default
//! 503 for an unreachable store and 500 otherwise, with a short text body,
//! and nothing saved. [`SessionLayer::on_error`] customises it.
//!
//! A session ended by a concurrent request (a logout in another tab) while
//! this request ran is not saved again: the response goes out with a cookie
//! that deletes the session cookie.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::header::COOKIE;
use http::request::Parts;
use http::{HeaderValue, Request, StatusCode};
use pin_project_lite::pin_project;
use session_core::{RequestSession, SessionError, SessionManager, SessionResponse};
use tower_service::Service;

mod csrf;
pub use csrf::{CsrfLayer, CsrfService, DEFAULT_FORM_LIMIT};

/// tower's `Layer` trait, for wrapping a whole router in a [`SessionLayer`]
/// (`SessionLayer::new(manager).layer(router)`) without another dependency.
pub use tower_layer::Layer;

type ErrorHandler = Arc<dyn Fn(&SessionError) -> Response + Send + Sync>;

/// The default error response: the status of [`SessionError::status_code`]
/// and [`SessionError::public_message`] as a text body.
///
/// ```
/// use session_core::{SessionError, StoreError};
/// let down = SessionError::from(StoreError::unavailable(std::io::Error::other("refused")));
/// assert_eq!(session_axum::default_error_response(&down).status(), 503);
/// // Too contended to save: the store is fine, the client may retry soon.
/// let busy = session_axum::default_error_response(&SessionError::Contention(64));
/// assert_eq!(busy.status(), 503);
/// assert_eq!(busy.headers()["retry-after"], "1");
/// ```
pub fn default_error_response(err: &SessionError) -> Response {
    let status =
        StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = err.public_message();
    let mut response = (status, body).into_response();
    if let Some(seconds) = err.retry_after() {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, seconds.into());
    }
    response
}

/// The tower layer that gives every request its session. See the [crate docs](crate).
///
/// ```
/// # use axum::{Router, body::Body, http::Request, routing::get};
/// # use session_axum::{Session, SessionLayer};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
/// # let get_root = || Request::get("/").body(Body::empty()).unwrap();
/// let app = Router::new()
///     .route("/", get(|s: Session| async move { s.insert("seen", true).unwrap(); "hi" }))
///     .layer(SessionLayer::new(manager));
/// let response = app.oneshot(get_root()).await?;
/// assert!(response.headers().contains_key("set-cookie"));
/// assert_eq!(response.headers()["vary"], "Cookie");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

/// What every request of a layer shares.
struct Shared {
    manager: SessionManager,
    on_error: ErrorHandler,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("manager", &self.shared.manager)
            .finish_non_exhaustive()
    }
}

impl SessionLayer {
    /// A layer over `manager`, with [`default_error_response`].
    ///
    /// ```
    /// # use axum::{Router, body::Body, http::Request, routing::get};
    /// # use session_axum::{Session, SessionLayer};
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # use tower::ServiceExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
    /// # let get_root = || Request::get("/").body(Body::empty()).unwrap();
    /// // A route that never takes the session: no cookie read, no store call, no headers.
    /// let app = Router::new().route("/", get(|| async { "static" })).layer(SessionLayer::new(manager));
    /// let response = app.oneshot(get_root()).await?;
    /// assert!(!response.headers().contains_key("set-cookie"));
    /// assert!(!response.headers().contains_key("vary"));
    /// # Ok(()) }
    /// ```
    pub fn new(manager: SessionManager) -> Self {
        SessionLayer {
            shared: Arc::new(Shared {
                manager,
                on_error: Arc::new(default_error_response),
            }),
        }
    }

    /// Builds the response sent when the store fails.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use session_axum::SessionLayer;
    /// # let manager = session_core::SessionManager::new(session_store_memory::MemoryStore::new(), session_core::KeyRing::new([1u8; 32]).unwrap());
    /// let layer = SessionLayer::new(manager).on_error(|err| {
    ///     let status = axum::http::StatusCode::from_u16(err.status_code()).unwrap();
    ///     (status, axum::Json(serde_json::json!({"error": "sessions are unavailable"}))).into_response()
    /// });
    /// ```
    pub fn on_error(
        self,
        handler: impl Fn(&SessionError) -> Response + Send + Sync + 'static,
    ) -> Self {
        SessionLayer {
            shared: Arc::new(Shared {
                manager: self.shared.manager.clone(),
                on_error: Arc::new(handler),
            }),
        }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around a handler.
///
/// ```
/// # use axum::{Router, body::Body, http::Request, routing::get};
/// # use session_axum::{Session, SessionLayer};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
/// # let get_root = || Request::get("/").body(Body::empty()).unwrap();
/// use session_axum::{Layer, SessionService};
/// let router = Router::new().route("/", get(|s: Session| async move { s.len().to_string() }));
/// let app: SessionService<Router> = SessionLayer::new(manager).layer(router.with_state(()));
/// let response = app.oneshot(get_root()).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    layer: SessionLayer,
}

/// What the layer leaves in the request for the extractor: the request's
/// session, created (and its cookie read) only when a handler asks.
#[derive(Clone)]
struct Handle(Arc<Slot>);

struct Slot {
    shared: Arc<Shared>,
    request: OnceLock<RequestSession>,
}

/// Any response body: the inner service's answers (an axum router's, or
/// those of layers that change the body, such as compression) come out as
/// axum's [`Body`], which an axum router's body already is (no copy).
impl<S, B, ResBody> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>, Error = Infallible>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = SessionFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // Nothing is parsed here: a route that never takes a `Session`
        // costs the slot and its entry in the extensions, nothing else.
        let slot = Arc::new(Slot {
            shared: Arc::clone(&self.layer.shared),
            request: OnceLock::new(),
        });
        req.extensions_mut().insert(Handle(Arc::clone(&slot)));
        // Nothing to wait for before the handler, so the inner service
        // (made ready by `poll_ready`) is called right away.
        SessionFuture {
            state: State::Handler {
                inner: self.inner.call(req),
                slot: Some(slot),
            },
        }
    }
}

type Saving = Pin<Box<dyn Future<Output = Result<SessionResponse, SessionError>> + Send>>;

pin_project! {
    /// The response future of [`SessionService`]: the handler's future, then
    /// (only if the handler loaded the session) the save.
    ///
    /// ```
    /// # use axum::{Router, body::Body, http::Request, routing::get};
    /// # use session_axum::{Session, SessionLayer};
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # use tower::ServiceExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
    /// # let get_root = || Request::get("/").body(Body::empty()).unwrap();
    /// use session_axum::{Layer, SessionFuture};
    /// use tower::Service;
    /// let router = Router::new().route("/", get(|| async { "ok" })).with_state(());
    /// let mut app = SessionLayer::new(manager).layer(router);
    /// let ready = ServiceExt::<Request<Body>>::ready(&mut app).await?;
    /// let future: SessionFuture<_> = ready.call(get_root());
    /// assert_eq!(future.await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub struct SessionFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Handler {
            #[pin]
            inner: F,
            slot: Option<Arc<Slot>>,
        },
        Saving {
            saving: Saving,
            response: Option<Response>,
            on_error: ErrorHandler,
        },
    }
}

impl<F, ResBody> Future for SessionFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, Infallible>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Handler { inner, slot } => {
                    let Ok(response) = std::task::ready!(inner.poll(cx));
                    let response = response.map(Body::new);
                    let slot = slot.take().expect("polled after completion");
                    // A route that never loaded the session: nothing to save.
                    let Some(request) = slot.request.get().filter(|r| r.loaded().is_some()) else {
                        return Poll::Ready(Ok(response));
                    };
                    let request = request.clone();
                    let status = response.status().as_u16();
                    let saving: Saving = Box::pin(async move { request.finish(status).await });
                    self.as_mut().project().state.set(State::Saving {
                        saving,
                        response: Some(response),
                        on_error: Arc::clone(&slot.shared.on_error),
                    });
                }
                StateProj::Saving {
                    saving,
                    response,
                    on_error,
                } => {
                    let outcome = std::task::ready!(saving.as_mut().poll(cx));
                    let mut response = response.take().expect("polled after completion");
                    match outcome {
                        Ok(outcome) => apply(outcome, &mut response),
                        Err(err) => response = on_error(&err),
                    }
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

impl<F> std::fmt::Debug for SessionFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionFuture")
    }
}

/// Moves the session's headers into the response.
fn apply(outcome: SessionResponse, response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in outcome.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
}

/// The session of the current request; dereferences to
/// [`session_core::Session`], whose reads and writes are synchronous.
///
/// ```
/// # use axum::{Router, body::Body, http::Request, routing::get};
/// # use session_axum::{Session, SessionLayer};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
/// # let get_root = || Request::get("/").body(Body::empty()).unwrap();
/// async fn visits(session: Session) -> String {
///     // Deref to session_core::Session: plain synchronous calls.
///     let n = session.get::<u32>("visits").unwrap_or_default().unwrap_or(0) + 1;
///     session.insert("visits", n).expect("a number serializes");
///     n.to_string()
/// }
/// let app = Router::new().route("/", get(visits)).layer(SessionLayer::new(manager));
/// let first = app.clone().oneshot(get_root()).await?;
/// let cookie = first.headers()["set-cookie"].to_str()?.split(';').next().unwrap().to_owned();
/// let second = app
///     .oneshot(Request::get("/").header("cookie", cookie).body(Body::empty())?)
///     .await?;
/// let body = axum::body::to_bytes(second.into_body(), 64).await?;
/// assert_eq!(body, "2");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Session(pub session_core::Session);

impl Deref for Session {
    type Target = session_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Why a [`Session`] could not be extracted.
///
/// ```
/// # use axum::{Router, body::Body, http::Request, routing::get};
/// # use session_axum::{Session, SessionLayer};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
/// # let get_root = || Request::get("/").body(Body::empty()).unwrap();
/// // Forgetting the layer is answered with a 500, not a panic.
/// let app = Router::new().route("/", get(|_: Session| async { "never" }));
/// assert_eq!(app.oneshot(get_root()).await?.status(), 500);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The route is not behind a [`SessionLayer`]: a programming error (500).
    MissingLayer,
    /// The store failed while loading; answered by the layer's error handler.
    Store(SessionError, ErrorHandlerRef),
}

/// The layer's error handler, carried by [`SessionRejection::Store`].
///
/// ```
/// # use axum::{Router, body::Body, http::Request, routing::get};
/// # use session_axum::{Session, SessionLayer};
/// # use session_conformance::counting::CountingStore;
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = CountingStore::new(MemoryStore::new());
/// let manager = SessionManager::new(store.clone(), KeyRing::new([1u8; 32])?);
/// let app = Router::new()
///     .route("/", get(|_: Session| async { "never" }))
///     .layer(SessionLayer::new(manager).on_error(|_| (axum::http::StatusCode::IM_A_TEAPOT, "down").into_response()));
/// store.set_down(true);
/// let id = session_core::SessionId::generate(); // any cookie that verifies makes the store be asked
/// # let signed = format!("session={}.{}", id.expose(), KeyRing::new([1u8; 32])?.sign("session", id.expose()));
/// let request = Request::get("/").header("cookie", signed).body(Body::empty())?;
/// assert_eq!(app.oneshot(request).await?.status(), 418);
/// # Ok(()) }
/// # use axum::response::IntoResponse;
/// ```
#[derive(Clone)]
pub struct ErrorHandlerRef(ErrorHandler);

impl std::fmt::Debug for ErrorHandlerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErrorHandlerRef")
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::MissingLayer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the session layer is not installed on this route",
            )
                .into_response(),
            SessionRejection::Store(err, handler) => (handler.0)(&err),
        }
    }
}

impl<St: Send + Sync> FromRequestParts<St> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let (request, on_error) = start(parts)?;
        match request.load().await {
            Ok(session) => Ok(Session(session)),
            Err(err) => Err(SessionRejection::Store(err, ErrorHandlerRef(on_error))),
        }
    }
}

/// `Option<Session>`: the session the request's cookie names, or `None`
/// when there is none; never creates one (see [`OptionalSession`]).
impl<St: Send + Sync> OptionalFromRequestParts<St> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &St,
    ) -> Result<Option<Self>, Self::Rejection> {
        let (request, on_error) = start(parts)?;
        match request.load_existing().await {
            Ok(session) => Ok(session.map(Session)),
            Err(err) => Err(SessionRejection::Store(err, ErrorHandlerRef(on_error))),
        }
    }
}

/// The session of the request if its cookie names a live one, `None`
/// otherwise; a route that takes it works with or without a session and
/// never creates one (no cookie is set for a visitor without a session).
/// The same as taking `Option<Session>`, under the name the actix-web and
/// Rocket adapters use. A store failure is still an error response, never
/// a silent `None` that would look like a logged-out user.
///
/// ```
/// # use axum::{Router, body::Body, http::Request, routing::get};
/// # use session_axum::{Session, SessionLayer};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
/// # let get_root = || Request::get("/").body(Body::empty()).unwrap();
/// use session_axum::OptionalSession;
/// async fn greeting(OptionalSession(session): OptionalSession) -> String {
///     match session.and_then(|s| s.user()) {
///         Some(user) => format!("welcome back, {user}"),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// let app = Router::new().route("/", get(greeting)).layer(SessionLayer::new(manager));
/// let response = app.oneshot(get_root()).await?;
/// assert!(!response.headers().contains_key("set-cookie"), "no session was created");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct OptionalSession(pub Option<Session>);

impl Deref for OptionalSession {
    type Target = Option<Session>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<St: Send + Sync> FromRequestParts<St> for OptionalSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        <Session as OptionalFromRequestParts<St>>::from_request_parts(parts, state)
            .await
            .map(OptionalSession)
    }
}

/// The request's [`RequestSession`], for code that wants to load lazily
/// itself (for example middleware that runs after this layer).
impl<St: Send + Sync> FromRequestParts<St> for LazySession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        start(parts).map(|(request, _)| LazySession(request))
    }
}

/// The request's session, created from its cookie by the first extractor
/// that asks, and the layer's error handler.
fn start(parts: &Parts) -> Result<(RequestSession, ErrorHandler), SessionRejection> {
    let slot = &parts
        .extensions
        .get::<Handle>()
        .ok_or(SessionRejection::MissingLayer)?
        .0;
    let request = slot.request.get_or_init(|| {
        let manager = &slot.shared.manager;
        let cookies = parts.headers.get_all(COOKIE).iter().map(|v| v.as_bytes());
        let tokens = manager.session_header().into_iter();
        let tokens =
            tokens.flat_map(|name| parts.headers.get_all(name).iter().map(|v| v.as_bytes()));
        manager.request_from_headers(cookies, tokens)
    });
    Ok((request.clone(), Arc::clone(&slot.shared.on_error)))
}

/// The not-yet-loaded session of the current request: call
/// [`RequestSession::load`] when (and if) it is needed.
///
/// ```
/// # use axum::{Router, body::Body, http::Request, routing::get};
/// # use session_axum::{Session, SessionLayer};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
/// # let get_root = || Request::get("/").body(Body::empty()).unwrap();
/// use session_axum::LazySession;
/// // Loads only when the query asks for it.
/// async fn maybe(lazy: LazySession, uri: axum::http::Uri) -> String {
///     if uri.query() == Some("load") {
///         lazy.load().await.expect("store up").insert("n", 1).unwrap();
///     }
///     "ok".into()
/// }
/// let app = Router::new().route("/", get(maybe)).layer(SessionLayer::new(manager));
/// let untouched = app.clone().oneshot(get_root()).await?;
/// assert!(!untouched.headers().contains_key("set-cookie"));
/// let loaded = app.oneshot(Request::get("/?load").body(Body::empty())?).await?;
/// assert!(loaded.headers().contains_key("set-cookie"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LazySession(pub RequestSession);

impl Deref for LazySession {
    type Target = RequestSession;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
