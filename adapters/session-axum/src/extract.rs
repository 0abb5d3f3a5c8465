//! The extractors: the session, the optional session, the lazy session,
//! and what a handler gets when the store fails.

use std::ops::Deref;

use crate::ErrorHandler;
use crate::start;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use session_core::{RequestSession, SessionError};

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
    /// The route is not behind a [`SessionLayer`](crate::SessionLayer): a programming error (500).
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

/// The request's [`RequestSession`], for code that wants to load lazily
/// itself (for example middleware that runs after this layer).
impl<St: Send + Sync> FromRequestParts<St> for LazySession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        start(parts).map(|(request, _)| LazySession(request))
    }
}

impl Deref for LazySession {
    type Target = RequestSession;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
