//! Server-side web sessions for any Rust web framework.
//!
//! A *session* keeps a visitor's data on the server between HTTP requests:
//! a handler writes `session.insert("user_id", 123)`, and on the next request
//! `session.get::<u64>("user_id")` gives it back. The browser holds only a
//! signed cookie carrying a random session ID; the data lives in a store the
//! operator picks (memory, files, SQL, Redis).
//!
//! This crate holds everything that is not specific to a storage engine or
//! a web framework:
//!
//! - [`Session`]: the data map a handler sees, with Django's familiar
//!   operations (`modified`, `accessed`, [`cycle_id`](Session::cycle_id),
//!   [`flush`](Session::flush), [`set_expiry`](Session::set_expiry)), user
//!   binding and flash messages. Reads and writes are synchronous.
//! - [`SessionId`]: 256 random bits; stores only ever see its SHA-256
//!   ([`StoreKey`]), so a leaked table holds no live IDs.
//! - [`KeyRing`]: HMAC-SHA256 cookie signatures with key rotation.
//! - [`CookieConfig`] and [`ExpiryRules`]: safe cookie defaults, idle and
//!   absolute expiry, browser-session cookies.
//! - [`SessionStore`]: the small contract an engine implements (`load`,
//!   `create`, compare-and-swap `update`, `delete`, `touch`,
//!   `delete_expired`, optionally a user index).
//! - [`SessionManager`] and [`RequestSession`]: the request lifecycle that
//!   framework adapters translate to HTTP.
//!
//! # A request, end to end
//!
//! ```
//! use session_core::{KeyRing, SessionManager};
//! use session_store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Once, at start-up. Keys shorter than 32 bytes are refused.
//! let keys = KeyRing::new(std::env::var("SESSION_SECRET").unwrap_or_else(|_| "x".repeat(32)))?;
//! let manager = SessionManager::new(MemoryStore::new(), keys);
//!
//! // Per request (an adapter does this for you).
//! let request = manager.request(None); // the request's Cookie headers
//! let session = request.load().await?;
//! session.insert("user_id", 123)?;
//! session.cycle_id(); // on login: the ID changes, the data stays
//! let response = request.finish(200).await?;
//! assert!(response.set_cookie.unwrap().contains("HttpOnly"));
//! # Ok(()) }
//! ```
//!
//! # Promises
//!
//! - A forged, malformed, oversized or duplicated cookie never reaches the
//!   store; the handler simply gets a new, empty session.
//! - Loading never writes; an unknown or expired ID is never adopted; an
//!   empty session is never saved.
//! - Concurrent requests that change different keys of one session all
//!   land (compare-and-swap with per-key merge); a session ended by a
//!   concurrent logout stays ended.
//! - A store failure is an error the application sees
//!   ([`SessionError::status_code`] gives 503 or 500), never a silent new
//!   session that would log the user out.
//!
//! # What a load costs
//!
//! Every load asks the store (which decides whether the session exists,
//! its version and its expiry). Decoding what the store returns is
//! usually skipped: the manager keeps, for recently used sessions, the
//! stored bytes it last decoded or wrote with the map they decode to, and
//! takes that map when the store returns those very bytes
//! ([`SessionManagerBuilder::decoded_cache`]). The map is shared between
//! the requests that read it; a request that changes its session changes
//! its own copy, or, when no other request holds the map, takes it from
//! the manager and changes it in place. A request that only read its
//! session (and whose expiry is not due to move) finishes without asking
//! the store anything, and without a future:
//! [`RequestSession::finish_now`], which adapters call before
//! [`RequestSession::finish`].
//!
//! # Names
//!
//! A store *deletes* records ([`SessionStore::delete`],
//! [`delete_expired`](SessionStore::delete_expired),
//! [`UserIndex::delete_sessions_of`]); the application and the operator
//! *end* sessions ([`Session::end`], [`SessionManager::end`],
//! [`SessionManager::end_sessions_of`], `session-cli end`). Django's own
//! names stay where they mean what Django means: [`Session::flush`],
//! [`Session::cycle_id`] (its `cycle_key`), [`Session::set_expiry`].

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
mod commit;
pub mod cookie;
pub mod cookie_value;
pub mod csrf;
#[cfg(feature = "django")]
pub mod django;
#[cfg(feature = "cookie-store")]
pub mod encrypted_cookies;
pub mod error;
pub mod expiry;
pub mod id;
pub mod keys;
pub mod manager;
mod mode;
pub mod observe;
pub mod record;
pub mod request;
pub mod response;
mod rotation;
pub mod session;
pub mod store;

pub use async_trait::async_trait;
pub use codec::{Codec, CodecError, Data, JsonCodec};
pub use cookie::{CookieConfig, MAX_COOKIE_VALUE_LEN, SameSite};
pub use error::{ConfigError, SessionError};
pub use expiry::{Expiry, ExpiryRules};
pub use id::{IdFormat, SessionId, StoreKey};
pub use keys::{KeyRing, MIN_SECRET_LEN, Verified};
pub use manager::{
    DEFAULT_DECODED_CACHE, DEFAULT_MAX_CONFLICT_RETRIES, Inspection, SessionManager,
    SessionManagerBuilder,
};
pub use record::{Record, SessionInfo, now};
pub use request::RequestSession;
pub use response::SessionResponse;
pub use session::{MAX_USER_LEN, MAX_VALUE_DEPTH, RESERVED_PREFIX, Session};
pub use store::{BoxError, Maintenance, SessionStore, StoreError, StoreStats, UserIndex};
/// Re-exported so stores and applications use the same `time` version.
pub use time;
