//! [actix-web](https://actix.rs) integration for server-side sessions.
//!
//! Wrap the app in [`SessionMiddleware`] and take a [`Session`] in any
//! handler that needs one. The extractor reads the session cookie (routes
//! that take no `Session` never parse it nor ask the store); after the
//! handler, the middleware saves the session and writes `Set-Cookie`/`Vary:
//! Cookie`. Everything else is `session-core`'s, so this adapter behaves
//! exactly like the axum and rocket ones.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, get};
//! use session_actix::{Session, SessionMiddleware};
//! use session_core::{KeyRing, SessionManager};
//! use session_store_memory::MemoryStore;
//!
//! #[get("/")]
//! async fn counter(session: Session) -> String {
//!     let visits = session.get::<u64>("visits").unwrap_or_default().unwrap_or(0) + 1;
//!     session.insert("visits", visits).expect("a number serializes");
//!     format!("visit number {visits}")
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap());
//!     HttpServer::new(move || App::new().wrap(SessionMiddleware::new(manager.clone())).service(counter))
//!         .bind("127.0.0.1:3000")?
//!         .run()
//!         .await
//! }
//! ```
//!
//! A complete app (a visit counter with log in and log out) is in
//! `examples/actix_counter.rs`; run it with
//! `cargo run -p session-actix --example actix_counter`.
//!
//! # Errors
//!
//! When the store fails, the handler is not run (loading failed) or its
//! response is replaced (saving failed) by an error response: by default
//! 503 for an unreachable store and 500 otherwise, and nothing saved.
//! [`SessionMiddleware::on_error`] customises it. A session ended by a
//! concurrent request is not saved again; the response deletes the cookie.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::cell::OnceCell;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::http::header::{COOKIE, HeaderMap, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use session_core::{RequestSession, SessionError, SessionManager, SessionResponse};

mod csrf;
pub use csrf::{CsrfMiddleware, CsrfService};

type ErrorHandler = Arc<dyn Fn(&SessionError) -> HttpResponse + Send + Sync>;

/// The default error response: the status of [`SessionError::status_code`]
/// and [`SessionError::public_message`] as a text body.
///
/// ```
/// use session_core::{SessionError, StoreError};
/// let down = SessionError::from(StoreError::unavailable(std::io::Error::other("refused")));
/// assert_eq!(session_actix::default_error_response(&down).status().as_u16(), 503);
/// // Too contended to save: the store is fine, the client may retry soon.
/// let busy = session_actix::default_error_response(&SessionError::Contention(64));
/// assert_eq!(busy.headers().get("retry-after").unwrap(), "1");
/// ```
pub fn default_error_response(err: &SessionError) -> HttpResponse {
    let status =
        StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = err.public_message();
    let mut response = HttpResponse::build(status);
    response.content_type("text/plain; charset=utf-8");
    if let Some(seconds) = err.retry_after() {
        response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
    }
    response.body(body)
}

/// The middleware that gives every request its session. See the [crate docs](crate).
///
/// ```
/// # use actix_web::{App, test, web};
/// # use session_actix::{Session, SessionMiddleware};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[actix_web::main]
/// # async fn main() {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap());
/// let app = test::init_service(
///     App::new()
///         .wrap(SessionMiddleware::new(manager))
///         .route("/", web::get().to(|s: Session| async move { s.insert("seen", true).unwrap(); "hi" })),
/// )
/// .await;
/// let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
/// assert!(response.headers().contains_key("set-cookie"));
/// assert_eq!(response.headers().get("vary").unwrap(), "Cookie");
/// # }
/// ```
#[derive(Clone)]
pub struct SessionMiddleware {
    manager: SessionManager,
    on_error: ErrorHandler,
}

impl fmt::Debug for SessionMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMiddleware")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl SessionMiddleware {
    /// Middleware over `manager`, with [`default_error_response`].
    ///
    /// ```
    /// # use actix_web::{App, test, web};
    /// # use session_actix::{Session, SessionMiddleware};
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[actix_web::main]
    /// # async fn main() {
    /// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap());
    /// // A route that never takes the session: no cookie read, no store call, no headers.
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(SessionMiddleware::new(manager))
    ///         .route("/", web::get().to(|| async { "static" })),
    /// )
    /// .await;
    /// let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    /// assert!(!response.headers().contains_key("set-cookie"));
    /// assert!(!response.headers().contains_key("vary"));
    /// # }
    /// ```
    pub fn new(manager: SessionManager) -> Self {
        SessionMiddleware {
            manager,
            on_error: Arc::new(default_error_response),
        }
    }

    /// Builds the response sent when the store fails.
    ///
    /// ```
    /// use session_actix::SessionMiddleware;
    /// # let manager = session_core::SessionManager::new(session_store_memory::MemoryStore::new(), session_core::KeyRing::new([1u8; 32]).unwrap());
    /// let middleware = SessionMiddleware::new(manager).on_error(|err| {
    ///     let status = actix_web::http::StatusCode::from_u16(err.status_code()).unwrap();
    ///     actix_web::HttpResponse::build(status).json(serde_json::json!({"error": "sessions are unavailable"}))
    /// });
    /// ```
    pub fn on_error(
        mut self,
        handler: impl Fn(&SessionError) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Arc::new(handler);
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionService {
            service: Rc::new(service),
            middleware: self.clone(),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps around the app.
///
/// ```
/// # use actix_web::{App, test, web};
/// # use session_actix::{Session, SessionMiddleware};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[actix_web::main]
/// # async fn main() {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap());
/// // Built by actix from the middleware; apps never name it.
/// let app = test::init_service(
///     App::new().wrap(SessionMiddleware::new(manager)).route("/", web::get().to(|| async { "ok" })),
/// )
/// .await;
/// let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
/// assert!(response.status().is_success());
/// # }
/// ```
pub struct SessionService<S> {
    service: Rc<S>,
    middleware: SessionMiddleware,
}

/// What the middleware leaves in the request for the extractor.
#[derive(Clone)]
struct Handle {
    manager: SessionManager,
    on_error: ErrorHandler,
    /// The request's session, set by the first extractor that needs it
    /// (the cookie is read then, not before). The middleware keeps its own
    /// reference, so it finds the session even when the services inside
    /// answer with an error instead of a response.
    started: Rc<OnceCell<RequestSession>>,
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let on_error = Arc::clone(&self.middleware.on_error);
        let started = Rc::new(OnceCell::new());
        req.extensions_mut().insert(Handle {
            manager: self.middleware.manager.clone(),
            on_error: Arc::clone(&on_error),
            started: Rc::clone(&started),
        });
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let result = service.call(req).await;
            // A route that never took the session: nothing to save.
            let Some(request) = started.get().cloned() else {
                return result.map(ServiceResponse::map_into_left_body);
            };
            let mut response = match result {
                Ok(response) => response,
                // An error from the services inside is an answer like any
                // other: the session is saved (or not) by its status, and
                // the headers go with the error's response, as in the other
                // adapters.
                Err(err) => {
                    let mut response = err.error_response();
                    match request.finish(response.status().as_u16()).await {
                        Ok(outcome) => apply(outcome, response.headers_mut()),
                        Err(session_err) => response = on_error(&session_err),
                    }
                    return Err(InternalError::from_response(err, response).into());
                }
            };
            match request.finish(response.status().as_u16()).await {
                Ok(outcome) => {
                    apply(outcome, response.headers_mut());
                    Ok(response.map_into_left_body())
                }
                Err(err) => {
                    let (req, _) = response.into_parts();
                    Ok(ServiceResponse::new(req, on_error(&err)).map_into_right_body())
                }
            }
        })
    }
}

/// The session of the current request; dereferences to
/// [`session_core::Session`], whose reads and writes are synchronous.
///
/// ```
/// # use actix_web::{App, test, web};
/// # use session_actix::{Session, SessionMiddleware};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[actix_web::main]
/// # async fn main() {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap());
/// async fn visits(session: Session) -> String {
///     // Deref to session_core::Session: plain synchronous calls.
///     let n = session.get::<u32>("visits").unwrap_or_default().unwrap_or(0) + 1;
///     session.insert("visits", n).expect("a number serializes");
///     n.to_string()
/// }
/// let app = test::init_service(
///     App::new().wrap(SessionMiddleware::new(manager)).route("/", web::get().to(visits)),
/// )
/// .await;
/// let first = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
/// let set_cookie = first.headers().get("set-cookie").unwrap().to_str().unwrap();
/// let cookie = set_cookie.split(';').next().unwrap().to_owned(); // name=value
/// let second = test::TestRequest::get().uri("/").insert_header(("cookie", cookie)).to_request();
/// assert_eq!(test::call_and_read_body(&app, second).await, "2");
/// # }
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
/// # use actix_web::{App, test, web};
/// # use session_actix::Session;
/// # #[actix_web::main]
/// # async fn main() {
/// // Forgetting the middleware is answered with a 500, not a panic.
/// let app = test::init_service(App::new().route("/", web::get().to(|_: Session| async { "never" }))).await;
/// let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
/// assert_eq!(response.status(), 500);
/// # }
/// ```
pub enum SessionRejection {
    /// The app is not wrapped in [`SessionMiddleware`]: a programming error (500).
    MissingMiddleware,
    /// The store failed while loading; answered by the middleware's error handler.
    Store(SessionError, ErrorHandler),
}

impl fmt::Debug for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionRejection::MissingMiddleware => f.write_str("MissingMiddleware"),
            SessionRejection::Store(err, _) => f.debug_tuple("Store").field(err).finish(),
        }
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionRejection::MissingMiddleware => {
                f.write_str("the session middleware is not installed")
            }
            SessionRejection::Store(err, _) => err.fmt(f),
        }
    }
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            SessionRejection::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
            SessionRejection::Store(err, _) => {
                StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            SessionRejection::MissingMiddleware => {
                HttpResponse::InternalServerError().body(self.to_string())
            }
            SessionRejection::Store(err, handler) => handler(err),
        }
    }
}

/// The session of the request if its cookie names a live one, `None`
/// otherwise; a route that takes it works with or without a session and
/// never creates one (no cookie is set for a visitor without a session).
/// Use it rather than `Option<Session>`, which actix-web fills with `None`
/// on any error: a store failure here is still an error response, never a
/// silent `None` that would look like a logged-out user.
///
/// ```
/// # use actix_web::{App, test, web};
/// # use session_actix::{SessionMiddleware};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[actix_web::main]
/// # async fn main() {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap());
/// use session_actix::OptionalSession;
/// async fn greeting(OptionalSession(session): OptionalSession) -> String {
///     match session.and_then(|s| s.user()) {
///         Some(user) => format!("welcome back, {user}"),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// let app = test::init_service(
///     App::new().wrap(SessionMiddleware::new(manager)).route("/", web::get().to(greeting)),
/// )
/// .await;
/// let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
/// assert!(response.headers().get("set-cookie").is_none(), "no session was created");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OptionalSession(pub Option<Session>);

impl Deref for OptionalSession {
    type Target = Option<Session>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRequest for OptionalSession {
    type Error = SessionRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |request| async move {
            let session = request.load_existing().await?;
            Ok(OptionalSession(session.map(Session)))
        })
    }
}

impl FromRequest for Session {
    type Error = SessionRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(
            req,
            |request| async move { Ok(Session(request.load().await?)) },
        )
    }
}

/// An extractor's future: `load` on the request's session, a store
/// failure becoming the app's error response.
fn extract<T, F, Fut>(
    req: &HttpRequest,
    load: F,
) -> Pin<Box<dyn Future<Output = Result<T, SessionRejection>>>>
where
    F: FnOnce(RequestSession) -> Fut + 'static,
    Fut: Future<Output = Result<T, SessionError>> + 'static,
{
    let started = start(req);
    Box::pin(async move {
        let (request, on_error) = started?;
        load(request)
            .await
            .map_err(|err| SessionRejection::Store(err, on_error))
    })
}

/// The request's session, created from its cookie on first use.
fn start(req: &HttpRequest) -> Result<(RequestSession, ErrorHandler), SessionRejection> {
    let handle = req
        .extensions()
        .get::<Handle>()
        .cloned()
        .ok_or(SessionRejection::MissingMiddleware)?;
    let request = handle.started.get_or_init(|| {
        let manager = &handle.manager;
        let cookies = req.headers().get_all(COOKIE).map(|v| v.as_bytes());
        let tokens = manager.session_header().into_iter();
        let tokens = tokens.flat_map(|name| req.headers().get_all(name).map(|v| v.as_bytes()));
        manager.request_from_headers(cookies, tokens)
    });
    Ok((request.clone(), handle.on_error))
}

/// Moves the session's headers into a response.
fn apply(outcome: SessionResponse, headers: &mut HeaderMap) {
    for (name, value) in outcome.headers() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
}
