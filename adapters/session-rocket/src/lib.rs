//! [Rocket](https://rocket.rs) integration for server-side sessions.
//!
//! Attach a [`SessionFairing`] and take a [`Session`] request guard in any
//! handler that needs one. The guard reads the session cookie (routes that
//! take no `Session` never parse it nor ask the store); after the handler,
//! the fairing saves the session and writes `Set-Cookie`/`Vary: Cookie`.
//! Everything else is `session-core`'s, so this adapter behaves exactly
//! like the axum and actix-web ones.
//!
//! ```no_run
//! use rocket::{get, routes};
//! use session_core::{KeyRing, SessionManager};
//! use session_rocket::{Session, SessionFairing};
//! use session_store_memory::MemoryStore;
//!
//! #[get("/")]
//! fn counter(session: Session) -> String {
//!     let visits = session.get::<u64>("visits").unwrap_or_default().unwrap_or(0) + 1;
//!     session.insert("visits", visits).expect("a number serializes");
//!     format!("visit number {visits}")
//! }
//!
//! #[rocket::launch]
//! fn rocket() -> _ {
//!     let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap());
//!     rocket::build().attach(SessionFairing::new(manager)).mount("/", routes![counter])
//! }
//! ```
//!
//! A complete app (a visit counter with log in and log out) is in
//! `examples/rocket_counter.rs`; run it with
//! `cargo run -p session-rocket --example rocket_counter`.
//!
//! # Errors
//!
//! When the store fails, the handler is not run (loading failed) or its
//! response is replaced (saving failed) by an error response: by default
//! 503 for an unreachable store and 500 otherwise, and nothing saved.
//! [`SessionFairing::on_error`] customises it. A session ended by a
//! concurrent request is not saved again; the response deletes the cookie.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::io::Cursor;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::{Data, Request, Response};
use session_core::{RequestSession, SessionError, SessionManager};

mod csrf;
pub use csrf::{Csrf, CsrfForm, CsrfRejection};

/// An error response, as the fairing's error handler builds it.
///
/// ```
/// # use rocket::http::ContentType;
/// use session_core::{SessionError, StoreError};
/// use session_rocket::{ErrorResponse, default_error_response};
/// let down = SessionError::from(StoreError::unavailable(std::io::Error::other("refused")));
/// assert_eq!(
///     default_error_response(&down),
///     ErrorResponse {
///         status: 503,
///         content_type: ContentType::Plain,
///         body: "the session store is unavailable".into(),
///         retry_after: None,
///     }
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` of the body.
    pub content_type: ContentType,
    /// The body.
    pub body: String,
    /// A `Retry-After` in seconds, if any (see [`SessionError::retry_after`]).
    pub retry_after: Option<u32>,
}

type ErrorHandler = Arc<dyn Fn(&SessionError) -> ErrorResponse + Send + Sync>;

/// The default error response: the status of [`SessionError::status_code`]
/// and [`SessionError::public_message`] as a text body.
///
/// ```
/// use session_core::{SessionError, StoreError};
/// let down = SessionError::from(StoreError::unavailable(std::io::Error::other("refused")));
/// assert_eq!(session_rocket::default_error_response(&down).status, 503);
/// // Too contended to save: the store is fine, the client may retry soon.
/// assert_eq!(session_rocket::default_error_response(&SessionError::Contention(64)).retry_after, Some(1));
/// ```
pub fn default_error_response(err: &SessionError) -> ErrorResponse {
    let status = err.status_code();
    let body = err.public_message();
    ErrorResponse {
        status,
        content_type: ContentType::Plain,
        body: body.to_owned(),
        retry_after: err.retry_after(),
    }
}

/// The fairing that gives every request its session. See the [crate docs](crate).
///
/// ```
/// # use rocket::local::blocking::Client;
/// # use rocket::{get, routes};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_rocket::{Session, SessionFairing};
/// # use session_store_memory::MemoryStore;
/// # fn manager() -> SessionManager { SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap()) }
/// #[get("/")]
/// fn hello(session: Session) -> &'static str {
///     session.insert("seen", true).unwrap();
///     "hi"
/// }
/// # fn main() {
/// let rocket = rocket::build().attach(SessionFairing::new(manager())).mount("/", routes![hello]);
/// let client = Client::untracked(rocket).unwrap();
/// let response = client.get("/").dispatch();
/// assert!(response.headers().get_one("Set-Cookie").is_some());
/// assert_eq!(response.headers().get_one("Vary"), Some("Cookie"));
/// # }
/// ```
#[derive(Clone)]
pub struct SessionFairing {
    manager: SessionManager,
    on_error: ErrorHandler,
}

impl fmt::Debug for SessionFairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionFairing")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl SessionFairing {
    /// A fairing over `manager`, with [`default_error_response`].
    ///
    /// ```
    /// # use rocket::local::blocking::Client;
    /// # use rocket::{get, routes};
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_rocket::{Session, SessionFairing};
    /// # use session_store_memory::MemoryStore;
    /// # fn manager() -> SessionManager { SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap()) }
    /// // A route that never takes the session: no cookie read, no store call, no headers.
    /// #[get("/")]
    /// fn plain() -> &'static str {
    ///     "static"
    /// }
    /// # fn main() {
    /// let rocket = rocket::build().attach(SessionFairing::new(manager())).mount("/", routes![plain]);
    /// let client = Client::untracked(rocket).unwrap();
    /// let response = client.get("/").dispatch();
    /// assert!(response.headers().get_one("Set-Cookie").is_none());
    /// assert!(response.headers().get_one("Vary").is_none());
    /// # }
    /// ```
    pub fn new(manager: SessionManager) -> Self {
        SessionFairing {
            manager,
            on_error: Arc::new(default_error_response),
        }
    }

    /// Builds the response sent when the store fails.
    ///
    /// ```
    /// use rocket::http::ContentType;
    /// use session_rocket::{ErrorResponse, SessionFairing};
    /// # let manager = session_core::SessionManager::new(session_store_memory::MemoryStore::new(), session_core::KeyRing::new([1u8; 32]).unwrap());
    /// let fairing = SessionFairing::new(manager).on_error(|err| ErrorResponse {
    ///     status: err.status_code(),
    ///     content_type: ContentType::JSON,
    ///     body: r#"{"error":"sessions are unavailable"}"#.into(),
    ///     retry_after: err.retry_after(),
    /// });
    /// ```
    pub fn on_error(
        mut self,
        handler: impl Fn(&SessionError) -> ErrorResponse + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Arc::new(handler);
        self
    }
}

/// What the fairing leaves in the request's local cache.
#[derive(Default)]
struct Handle {
    manager: Option<SessionManager>,
    /// The request's session, created from its cookie by the first guard
    /// that needs it (the cookie is not read before).
    request: OnceLock<RequestSession>,
    /// A store failure while a guard loaded the session, answered in `on_response`.
    load_error: Mutex<Option<SessionError>>,
}

#[rocket::async_trait]
impl Fairing for SessionFairing {
    fn info(&self) -> Info {
        Info {
            name: "sessions",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _data: &mut Data<'_>) {
        req.local_cache(|| Handle {
            manager: Some(self.manager.clone()),
            ..Handle::default()
        });
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let handle = req.local_cache(Handle::default);
        // A route that never took the session: nothing to save.
        let Some(request) = handle.request.get() else {
            return;
        };
        let load_error = handle
            .load_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let outcome = match load_error {
            Some(err) => Err(err),
            None => request.finish(res.status().code).await,
        };
        match outcome {
            Ok(outcome) => {
                for (name, value) in outcome.headers() {
                    res.adjoin_header(Header::new(name.to_owned(), value.to_owned()));
                }
            }
            Err(err) => {
                let error = (self.on_error)(&err);
                // The whole response is replaced, as in the other adapters:
                // none of the handler's headers (Location, Cache-Control,
                // a cookie of its own) may go out with an error.
                let mut replacement = Response::build();
                replacement
                    .status(Status::new(error.status))
                    .header(error.content_type)
                    .sized_body(error.body.len(), Cursor::new(error.body));
                if let Some(seconds) = error.retry_after {
                    replacement.header(Header::new("Retry-After", seconds.to_string()));
                }
                *res = replacement.finalize();
            }
        }
    }
}

/// The session of the current request; dereferences to
/// [`session_core::Session`], whose reads and writes are synchronous.
///
/// ```
/// # use rocket::local::blocking::Client;
/// # use rocket::{get, routes};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_rocket::{Session, SessionFairing};
/// # use session_store_memory::MemoryStore;
/// # fn manager() -> SessionManager { SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap()) }
/// #[get("/")]
/// fn visits(session: Session) -> String {
///     // Deref to session_core::Session: plain synchronous calls.
///     let n = session.get::<u32>("visits").unwrap_or_default().unwrap_or(0) + 1;
///     session.insert("visits", n).expect("a number serializes");
///     n.to_string()
/// }
/// # fn main() {
/// let rocket = rocket::build().attach(SessionFairing::new(manager())).mount("/", routes![visits]);
/// let client = Client::untracked(rocket).unwrap();
/// let first = client.get("/").dispatch();
/// let set_cookie = first.headers().get_one("Set-Cookie").unwrap();
/// let cookie = set_cookie.split(';').next().unwrap().to_owned(); // name=value
/// assert_eq!(first.into_string().as_deref(), Some("1"));
/// let second = client.get("/").header(rocket::http::Header::new("Cookie", cookie));
/// assert_eq!(second.dispatch().into_string().as_deref(), Some("2"));
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

/// Why a [`Session`] guard failed.
///
/// ```
/// # use rocket::local::blocking::Client;
/// # use rocket::{get, routes};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_rocket::{Session, SessionFairing};
/// # use session_store_memory::MemoryStore;
/// # fn manager() -> SessionManager { SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap()) }
/// #[get("/")]
/// fn needs_session(_session: Session) -> &'static str {
///     "never"
/// }
/// # fn main() {
/// // Forgetting the fairing is answered with a 500, not a panic.
/// let client = Client::untracked(rocket::build().mount("/", routes![needs_session])).unwrap();
/// assert_eq!(client.get("/").dispatch().status().code, 500);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRejection {
    /// The fairing is not attached: a programming error (500).
    MissingFairing,
    /// The store failed; the fairing answers with its error handler.
    Store,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Session {
    type Error = SessionRejection;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let (handle, request) = match start(req) {
            Ok(started) => started,
            Err(failure) => return Outcome::Error(failure),
        };
        match request.load().await {
            Ok(session) => Outcome::Success(Session(session)),
            Err(err) => Outcome::Error(store_failed(handle, err)),
        }
    }
}

/// The session of the request if its cookie names a live one, `None`
/// otherwise; a route that takes it works with or without a session and
/// never creates one (no cookie is set for a visitor without a session).
/// Use it rather than `Option<Session>`, which Rocket fills with `None` on
/// any failure: a store failure here is still an error response, never a
/// silent `None` that would look like a logged-out user.
///
/// ```
/// # use rocket::local::blocking::Client;
/// # use rocket::{get, routes};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_rocket::SessionFairing;
/// # use session_store_memory::MemoryStore;
/// # fn manager() -> SessionManager { SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap()) }
/// use session_rocket::OptionalSession;
/// #[get("/")]
/// fn greeting(session: OptionalSession) -> String {
///     match session.0.and_then(|s| s.user()) {
///         Some(user) => format!("welcome back, {user}"),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// # fn main() {
/// let rocket = rocket::build().attach(SessionFairing::new(manager())).mount("/", routes![greeting]);
/// let client = Client::untracked(rocket).unwrap();
/// let response = client.get("/").dispatch();
/// assert!(response.headers().get_one("Set-Cookie").is_none(), "no session was created");
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

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OptionalSession {
    type Error = SessionRejection;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let (handle, request) = match start(req) {
            Ok(started) => started,
            Err(failure) => return Outcome::Error(failure),
        };
        match request.load_existing().await {
            Ok(session) => Outcome::Success(OptionalSession(session.map(Session))),
            Err(err) => Outcome::Error(store_failed(handle, err)),
        }
    }
}

/// The request's handle and session, created from its cookie by the
/// first guard that asks; the guard's error when the fairing is missing.
fn start<'r>(
    req: &'r Request<'_>,
) -> Result<(&'r Handle, &'r RequestSession), (Status, SessionRejection)> {
    let handle = req.local_cache(Handle::default);
    let Some(manager) = &handle.manager else {
        return Err((
            Status::InternalServerError,
            SessionRejection::MissingFairing,
        ));
    };
    let request = handle.request.get_or_init(|| {
        let headers = req.headers();
        let cookies = headers.get("Cookie").map(str::as_bytes);
        let tokens = manager.session_header().into_iter();
        let tokens = tokens.flat_map(|name| headers.get(name).map(str::as_bytes));
        manager.request_from_headers(cookies, tokens)
    });
    Ok((handle, request))
}

/// Keeps a store failure for the fairing to answer, and the guard's error.
fn store_failed(handle: &Handle, err: SessionError) -> (Status, SessionRejection) {
    let status = Status::new(err.status_code());
    *handle.load_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
    (status, SessionRejection::Store)
}
