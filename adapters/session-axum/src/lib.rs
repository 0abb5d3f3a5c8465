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
//! on every request (an allocation each time):
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

use std::sync::Arc;

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use session_core::SessionError;

mod csrf;
mod extract;
mod layer;

use layer::start;

pub use csrf::{CsrfLayer, CsrfService, DEFAULT_FORM_LIMIT};
pub use extract::{ErrorHandlerRef, LazySession, OptionalSession, Session, SessionRejection};
pub use layer::{SessionFuture, SessionLayer, SessionService};

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
