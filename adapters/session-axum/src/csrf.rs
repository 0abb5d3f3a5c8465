//! The CSRF check for axum: [`CsrfLayer`], inside a [`SessionLayer`](crate::SessionLayer).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use session_core::csrf::{CSRF_HEADER, CsrfError, form_token, is_form, is_safe_method};
use tower_layer::Layer;
use tower_service::Service;

/// The largest form body [`CsrfLayer`] reads by default to find the token.
pub const DEFAULT_FORM_LIMIT: usize = 256 * 1024;

/// Checks the session's CSRF token (see [`session_core::csrf`]) on every
/// request with an unsafe method, from the `x-csrf-token` header or the
/// `csrf_token` field of a URL-encoded form (the form body is read, up to
/// a limit, and handed on intact); answers 403 when it is missing or
/// wrong, before the handler runs. Install it inside a [`SessionLayer`](crate::SessionLayer),
/// on the routes that take forms (`Router::route_layer`).
///
/// ```
/// # use axum::{Router, body::Body, http::Request, routing::{get, post}};
/// # use session_axum::{Session, SessionLayer};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
/// use session_axum::CsrfLayer;
/// let forms = Router::new()
///     .route("/comment", post(|| async { "posted" }))
///     .route_layer(CsrfLayer::new());
/// let app = Router::new()
///     .route("/", get(|s: Session| async move { s.csrf_token().unwrap() }))
///     .merge(forms)
///     .layer(SessionLayer::new(manager));
///
/// let page = app.clone().oneshot(Request::get("/").body(Body::empty())?).await?;
/// let cookie = page.headers()["set-cookie"].to_str()?.split(';').next().unwrap().to_owned();
/// let token = String::from_utf8(axum::body::to_bytes(page.into_body(), 1024).await?.to_vec())?;
/// let post = |body: String| {
///     Request::post("/comment")
///         .header("cookie", &cookie)
///         .header("content-type", "application/x-www-form-urlencoded")
///         .body(Body::from(body))
///         .unwrap()
/// };
/// assert_eq!(app.clone().oneshot(post(format!("csrf_token={token}"))).await?.status(), 200);
/// assert_eq!(app.oneshot(post("text=hi".into())).await?.status(), 403);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CsrfLayer {
    form_limit: usize,
}

impl Default for CsrfLayer {
    fn default() -> Self {
        CsrfLayer::new()
    }
}

impl CsrfLayer {
    /// A layer that reads form bodies up to [`DEFAULT_FORM_LIMIT`].
    ///
    /// ```
    /// let layer = session_axum::CsrfLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        CsrfLayer {
            form_limit: DEFAULT_FORM_LIMIT,
        }
    }

    /// Reads form bodies up to `bytes` to find the token; a larger form
    /// is answered 413.
    ///
    /// ```
    /// let layer = session_axum::CsrfLayer::new().form_limit(16 * 1024);
    /// # let _ = layer;
    /// ```
    pub fn form_limit(mut self, bytes: usize) -> Self {
        self.form_limit = bytes;
        self
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            form_limit: self.form_limit,
        }
    }
}

/// The service [`CsrfLayer`] wraps around a route.
///
/// ```
/// # use axum::{Router, routing::post};
/// use session_axum::{CsrfLayer, CsrfService, Layer};
/// let route: CsrfService<Router> = CsrfLayer::new().layer(Router::new().route("/", post(|| async { "" })));
/// # let _ = route;
/// ```
#[derive(Clone, Debug)]
pub struct CsrfService<S> {
    inner: S,
    form_limit: usize,
}

impl<S> Service<Request<Body>> for CsrfService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if is_safe_method(req.method().as_str()) {
            return Box::pin(self.inner.call(req));
        }
        // The ready service goes to this request; the clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let form_limit = self.form_limit;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let (request, on_error) = match crate::start(&parts) {
                Ok(started) => started,
                Err(rejection) => return Ok(rejection.into_response()),
            };
            let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let form = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(is_form);
            let (token, body) = match header {
                Some(token) => (Some(token.to_owned()), body),
                None if form => match Limited::new(body, form_limit).collect().await {
                    Ok(collected) => {
                        let bytes = collected.to_bytes();
                        (form_token(&bytes), Body::from(bytes))
                    }
                    Err(_) => return Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
                },
                None => (None, body),
            };
            match request
                .check_csrf(parts.method.as_str(), token.as_deref())
                .await
            {
                Ok(()) => inner.call(Request::from_parts(parts, body)).await,
                Err(CsrfError::Session(err)) => Ok(on_error(&err)),
                Err(err) => Ok((StatusCode::FORBIDDEN, err.to_string()).into_response()),
            }
        })
    }
}
