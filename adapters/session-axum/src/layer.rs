//! The layer: starts each request's session and, after the handler, saves
//! it and sets the cookie.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::Response;
use http::header::COOKIE;
use http::request::Parts;
use http::{HeaderValue, Request};
use pin_project_lite::pin_project;
use session_core::{RequestSession, SessionError, SessionManager, SessionResponse};
use tower_service::Service;

use crate::{ErrorHandler, Layer, SessionRejection, default_error_response};

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
                    let status = response.status().as_u16();
                    // Most requests only read: finished here, without a
                    // future to allocate.
                    if let Some(outcome) = request.finish_now(status) {
                        return Poll::Ready(Ok(answer(outcome, response, &slot.shared.on_error)));
                    }
                    let request = request.clone();
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
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(answer(outcome, response, on_error)));
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
/// The response with the session's headers, or the error response when
/// finishing the session failed.
fn answer(
    outcome: Result<SessionResponse, SessionError>,
    mut response: Response,
    on_error: &ErrorHandler,
) -> Response {
    match outcome {
        Ok(outcome) => {
            apply(outcome, &mut response);
            response
        }
        Err(err) => on_error(&err),
    }
}

fn apply(outcome: SessionResponse, response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in outcome.headers() {
        // The headers every session response may carry are taken as
        // constants, not parsed and copied (`Vary: Cookie` is on every
        // response whose session was loaded).
        let name = match name {
            "set-cookie" => Ok(http::header::SET_COOKIE),
            "vary" => Ok(http::header::VARY),
            other => http::HeaderName::from_bytes(other.as_bytes()),
        };
        let value = match value {
            "Cookie" => Ok(HeaderValue::from_static("Cookie")),
            other => HeaderValue::from_str(other),
        };
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
}

/// The request's session, created from its cookie by the first extractor
/// that asks, and the layer's error handler.
pub(crate) fn start(parts: &Parts) -> Result<(RequestSession, ErrorHandler), SessionRejection> {
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
