//! One request's session lifecycle, independent of any web framework.
//!
//! An adapter does three things per request:
//!
//! 1. [`SessionManager::request`] with the request's `Cookie` headers
//!    (finds the session cookie; its signature is checked when the session
//!    is first loaded; no store call);
//! 2. hands the [`RequestSession`] to the handler, which calls
//!    [`RequestSession::load`] only if it needs the session;
//! 3. after the handler, [`RequestSession::finish`] with the response status,
//!    and copies the returned [`SessionResponse`] into the response headers.
//!
//! ```
//! use session_core::{KeyRing, SessionManager};
//! use session_store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32])?);
//!
//! // First request: no cookie; the handler stores something.
//! let request = manager.request(None);
//! let session = request.load().await?;
//! session.insert("user_id", 123)?;
//! let response = request.finish(200).await?;
//! assert!(response.set_cookie.is_some(), "a new session sets a cookie");
//! assert!(response.vary_cookie);
//!
//! // Next request: the browser sends the cookie back.
//! let cookie = response.cookie_pair().expect("name=value of the new cookie");
//! let request = manager.request([cookie]);
//! let session = request.load().await?;
//! assert_eq!(session.get::<u32>("user_id")?, Some(123));
//! // Reading only: nothing to write, no Set-Cookie.
//! assert_eq!(request.finish(200).await?.set_cookie, None);
//! # Ok(()) }
//! ```
//!
//! # The rules `finish` applies
//!
//! - A request that never loaded the session: nothing (no store call, no headers).
//! - Status 500 or above: nothing is written, the cookie is left alone.
//! - A modified, non-empty session is saved: created under a fresh ID if it
//!   is new, otherwise updated with compare-and-swap; on a conflict the
//!   latest record is reloaded and this request's own changes are re-applied
//!   (up to the configured number of retries).
//! - A session that became empty is deleted and the browser told to drop
//!   the cookie; an empty session is never saved.
//! - A session deleted concurrently (logout elsewhere, rotation) stays
//!   deleted: this request's writes are dropped, the cookie is removed and
//!   [`SessionResponse::ended_concurrently`] is set.
//! - An unmodified session whose expiry is due for extension is `touch`ed.
//! - `Set-Cookie` only when the browser's cookie would change: a new
//!   session or ID, an expiry that moved (saves and touches move it about
//!   once a touch interval), an expiry changed by this request
//!   ([`Session::set_expiry`](crate::Session::set_expiry)), a cookie an
//!   older key signed. A save that leaves all that as it was sends none
//!   (Django sets the cookie on every save; the browser's copy would be
//!   the same).
//! - Every `Set-Cookie` carrying a session is signed by the key ring's
//!   newest key: the request's own cookie value is sent back when that key
//!   signed it for the same ID (signing again would give the same bytes);
//!   a new ID, or a cookie an older key signed, is signed afresh.
//! - `Vary: Cookie` whenever the session was loaded.

use std::sync::{Arc, Mutex, OnceLock};

use crate::codec::Data;
use crate::commit::{self, Commit};
use crate::cookie::Found;
use crate::cookie_value::{CookieValues, Rejection};
use crate::keys::Verified;
use crate::mode::{CookieMeta, Mode, Opened};
use crate::session::{Origin, State};
use crate::{
    CodecError, Session, SessionError, SessionId, SessionManager, SessionResponse, StoreError, now,
    observe,
};

/// The session side of one request. Cheap to clone; clones share state.
///
/// ```
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
/// let request = manager.request(None);
/// let handler_side = request.clone(); // what an adapter hands to the handler
/// handler_side.load().await?.insert("n", 1)?;
/// assert!(request.finish(200).await?.set_cookie.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RequestSession {
    inner: Arc<RequestInner>,
}

struct RequestInner {
    manager: SessionManager,
    /// The session cookie (or session header) as found in the request,
    /// not yet verified: the signature is checked only when a handler
    /// loads the session.
    cookie: Raw,
    /// How the request carried its session, which is how the answer
    /// carries it back.
    via: Via,
    incoming: OnceLock<Incoming>,
    /// What the cookie said besides the data, for sessions kept whole in it.
    cookie_meta: OnceLock<CookieMeta>,
    /// The loaded session, and whether the request's cookie named a live
    /// one when it was loaded.
    session: Mutex<Option<(Session, bool)>>,
}

/// How a request carried its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Nothing: a new session goes out as a cookie, and in the session
    /// header too when one is configured.
    Nothing,
    /// The cookie: the answer sets the cookie.
    Cookie,
    /// The session header: the answer sends the header, never a cookie.
    Header,
}

/// The session cookie of a request, before verification.
pub(crate) enum Raw {
    Absent,
    Rejected(Rejection),
    Value(String),
}

impl Raw {
    pub(crate) fn read<H: AsRef<str>>(
        manager: &SessionManager,
        headers: impl IntoIterator<Item = H>,
    ) -> Raw {
        match manager.inner.cookie.find(headers) {
            Found::Absent => Raw::Absent,
            Found::Rejected(why) => Raw::Rejected(why),
            Found::Value(value) => Raw::Value(value),
        }
    }

    /// The session header's values: `None` when there is none; the same
    /// checks as a cookie's value (one value, ASCII, at most
    /// [`MAX_COOKIE_VALUE_LEN`](crate::MAX_COOKIE_VALUE_LEN) bytes).
    pub(crate) fn from_header<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Raw> {
        let mut values = values.into_iter();
        let first = values.next()?;
        if values.next().is_some() {
            return Some(Raw::Rejected(Rejection::Duplicated));
        }
        Some(match crate::cookie_value::judge(first) {
            Ok(value) => Raw::Value(value.to_owned()),
            Err(why) => Raw::Rejected(why),
        })
    }

    /// How a request whose cookie this is carried its session.
    pub(crate) fn via_cookie(&self) -> Via {
        match self {
            Raw::Absent => Via::Nothing,
            Raw::Rejected(_) | Raw::Value(_) => Via::Cookie,
        }
    }
}

/// What the request's cookie said.
pub(crate) enum Incoming {
    /// No session cookie.
    Absent,
    /// A session cookie that was rejected before reaching the store.
    Rejected,
    /// A verified session ID; `resign` when an older key signed it.
    Valid { id: SessionId, resign: bool },
}

impl Incoming {
    fn verify(manager: &SessionManager, raw: &Raw) -> Incoming {
        let value = match raw {
            Raw::Absent => return Incoming::Absent,
            Raw::Rejected(why) => return reject(*why),
            Raw::Value(value) => value,
        };
        let Mode::Stored(values) = &manager.inner.mode else {
            // No ID to verify: the cookie is the session.
            return reject(Rejection::Malformed);
        };
        match values.decode(value) {
            Ok((id, verified)) => Incoming::Valid {
                id,
                resign: verified == Verified::Fallback,
            },
            Err(why) => reject(why),
        }
    }
}

fn reject(why: Rejection) -> Incoming {
    tracing::info!(target: "session_core", reason = %why, "ignoring session cookie");
    Incoming::Rejected
}

impl RequestSession {
    pub(crate) fn new(manager: SessionManager, cookie: Raw, via: Via) -> Self {
        RequestSession {
            inner: Arc::new(RequestInner {
                manager,
                cookie,
                via,
                incoming: OnceLock::new(),
                cookie_meta: OnceLock::new(),
                session: Mutex::new(None),
            }),
        }
    }

    /// The verified cookie (verified on first use).
    fn incoming(&self) -> &Incoming {
        self.inner
            .incoming
            .get_or_init(|| Incoming::verify(&self.inner.manager, &self.inner.cookie))
    }

    /// The session, loading it from the store on the first call.
    ///
    /// An absent, forged, unknown, expired or undecodable session gives a
    /// new empty session (never an error); the store is only asked when the
    /// cookie's signature verified.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails: the application should
    /// answer with an error (see [`SessionError::status_code`]) rather than
    /// carry on with an empty session, which would log the user out.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(["session=forged.cookie"]);
    /// let session = request.load().await?; // a fresh session, not an error
    /// assert!(session.is_empty());
    /// assert!(session.accessed());
    /// # Ok(()) }
    /// ```
    pub async fn load(&self) -> Result<Session, SessionError> {
        if let Some(session) = self.loaded() {
            return Ok(session);
        }
        let inner = &self.inner.manager.inner;
        if let Mode::InCookie(backend, _) = &inner.mode {
            let Opened { data, meta } = match &self.inner.cookie {
                Raw::Value(value) => backend.read(value, inner.rules.idle.whole_seconds(), now()),
                Raw::Absent | Raw::Rejected(_) => Opened {
                    data: Data::new(),
                    meta: CookieMeta::default(),
                },
            };
            let _ = self.inner.cookie_meta.set(meta);
            let existed = !data.is_empty();
            let mut state = State::new(Arc::new(data), None, inner.rules);
            state.accessed = true;
            return Ok(self.keep(Session::from_state(state), existed));
        }
        let (data, origin) = match self.incoming() {
            Incoming::Valid { id, .. } => match fetch(&self.inner.manager, id).await? {
                Some((Ok(data), origin)) => (data, Some(origin)),
                Some((Err(e), _)) => {
                    tracing::warn!(target: "session_core", session = %id.log_key(), error = %e, "undecodable session data treated as no session");
                    (Arc::default(), None)
                }
                None => (Arc::default(), None),
            },
            Incoming::Absent | Incoming::Rejected => (Arc::default(), None),
        };
        let existed = origin.is_some();
        let mut state = State::new(data, origin, inner.rules);
        state.accessed = true;
        if existed && inner.decoded.is_on() {
            state.cache = Some(Arc::clone(&inner.decoded));
        }
        Ok(self.keep(Session::from_state(state), existed))
    }

    /// Keeps a freshly loaded session as the request's; of two concurrent
    /// first loads, the one that landed first is kept.
    fn keep(&self, session: Session, existed: bool) -> Session {
        let mut slot = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert((session, existed)).0.clone()
    }

    /// The session the request's cookie names, if it is live; `None` when
    /// there is none (no cookie, a forged or expired one, an ended
    /// session). For routes that work with or without a session: they
    /// never create one, since nothing is saved for a session that was
    /// not there (a handler that later calls [`load`](Self::load) and
    /// writes does create one).
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails, as for [`load`](Self::load).
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// // No cookie: no session, and none is created.
    /// let request = manager.request(None);
    /// assert!(request.load_existing().await?.is_none());
    /// assert_eq!(request.finish(200).await?.set_cookie, None);
    ///
    /// // A live session is there to read and write.
    /// let first = manager.request(None);
    /// first.load().await?.insert("n", 1)?;
    /// let cookie = first.finish(200).await?.cookie_pair().unwrap().to_owned();
    /// let request = manager.request([cookie.as_str()]);
    /// let session = request.load_existing().await?.expect("a live session");
    /// assert_eq!(session.get::<u32>("n")?, Some(1));
    /// # Ok(()) }
    /// ```
    pub async fn load_existing(&self) -> Result<Option<Session>, SessionError> {
        self.load().await?;
        let slot = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
        Ok(slot
            .as_ref()
            .and_then(|(session, existed)| existed.then(|| session.clone())))
    }

    /// Whether the request carried its session in the session header.
    pub(crate) fn via_header(&self) -> bool {
        self.inner.via == Via::Header
    }

    /// The session if a handler has loaded it.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(None);
    /// assert!(request.loaded().is_none());
    /// request.load().await?;
    /// assert!(request.loaded().is_some());
    /// # Ok(()) }
    /// ```
    pub fn loaded(&self) -> Option<Session> {
        self.inner
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(session, _)| session.clone())
    }

    /// Saves what the handler did and says which headers to send. See the
    /// [module docs](self) for the rules.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails, [`SessionError::Codec`]
    /// when the data cannot be encoded, [`SessionError::Contention`] when
    /// concurrent writers won every retry. The response should then be
    /// replaced by an error response; no cookie is set.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(None);
    /// request.load().await?.insert("n", 1)?;
    /// // A failed response saves nothing and sets no cookie.
    /// let response = request.finish(500).await?;
    /// assert_eq!(response.set_cookie, None);
    /// # Ok(()) }
    /// ```
    pub async fn finish(&self, status: u16) -> Result<SessionResponse, SessionError> {
        let (session, values, mut response) = match self.begin_finish(status) {
            Finishing::Done(done) => return done,
            Finishing::Store(session, values, response) => (session, values, response),
        };
        let incoming = self.incoming();
        self.commit(&session, values, &mut response, incoming)
            .run(incoming)
            .await?;
        Ok(response)
    }

    /// [`finish`](Self::finish) without waiting, when finishing needs no
    /// store call; `None`, with nothing done, when it does (then call
    /// `finish`).
    ///
    /// No store call is needed when the handler loaded nothing, only read
    /// the session (and its expiry is not due to move), or left a new
    /// session empty; a response of status 500 and above saves nothing
    /// either, and in a cookie mode nothing is stored at all. Adapters call
    /// this first, so the common request (read only) finishes without the
    /// cost of a future; the result is exactly what `finish` would give.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(None);
    /// request.load().await?.insert("n", 1)?;
    /// // A new session has to be stored: `finish` does that.
    /// assert!(request.finish_now(200).is_none());
    /// let cookie = request.finish(200).await?.set_cookie.unwrap();
    /// let cookie = cookie.split(';').next().unwrap();
    ///
    /// let request = manager.request([cookie]);
    /// assert_eq!(request.load().await?.get::<i32>("n")?, Some(1));
    /// // Only read: finished at once.
    /// let response = request.finish_now(200).expect("no store call")?;
    /// assert_eq!(response.set_cookie, None);
    /// # Ok(()) }
    /// ```
    pub fn finish_now(&self, status: u16) -> Option<Result<SessionResponse, SessionError>> {
        let (session, values, mut response) = match self.begin_finish(status) {
            Finishing::Done(done) => return Some(done),
            Finishing::Store(session, values, response) => (session, values, response),
        };
        let incoming = self.incoming();
        let settled = self
            .commit(&session, values, &mut response, incoming)
            .settle(incoming);
        settled.then_some(Ok(response))
    }

    /// What [`finish`](Self::finish) and [`finish_now`](Self::finish_now)
    /// do before the store's part: a request that never loaded, a failed
    /// response, or a cookie mode is finished here.
    fn begin_finish(&self, status: u16) -> Finishing<'_> {
        let Some(session) = self.loaded() else {
            return Finishing::Done(Ok(SessionResponse::default()));
        };
        let mut response = SessionResponse {
            vary_cookie: true,
            header_name: self.inner.manager.inner.header.clone(),
            ..SessionResponse::default()
        };
        if status >= 500 {
            return Finishing::Done(Ok(response));
        }
        let manager = &self.inner.manager;
        match &manager.inner.mode {
            Mode::Stored(values) => Finishing::Store(session, values, response),
            Mode::InCookie(backend, _) => {
                let carried = !matches!(self.inner.cookie, Raw::Absent);
                let meta = self.inner.cookie_meta.get().copied().unwrap_or_default();
                let cookie = commit::InCookie {
                    backend: backend.as_ref(),
                    carried,
                    meta,
                };
                let done = cookie.commit(manager, &session, &mut response);
                Finishing::Done(done.map(|()| response))
            }
        }
    }

    /// The store's part of finishing `session`, answering in `response`.
    fn commit<'a>(
        &'a self,
        session: &'a Session,
        values: &'a CookieValues,
        response: &'a mut SessionResponse,
        incoming: &'a Incoming,
    ) -> Commit<'a> {
        Commit {
            manager: &self.inner.manager,
            values,
            session,
            response,
            via: self.inner.via,
            signed: match (incoming, &self.inner.cookie) {
                (Incoming::Valid { id, resign: false }, Raw::Value(value)) => {
                    Some((id, value.as_str()))
                }
                _ => None,
            },
        }
    }
}

/// How finishing a request begins: finished already, or the store's part
/// still to do for this session, with these cookie values, answering in
/// this response.
enum Finishing<'a> {
    Done(Result<SessionResponse, SessionError>),
    Store(Session, &'a CookieValues, SessionResponse),
}

/// A stored record's data (still to be decoded) and where it came from.
pub(crate) type Fetched = (Result<Arc<Data>, CodecError>, Origin);

/// Loads the live record of `id`; `None` when there is none, it has
/// expired, or the store calls it corrupt.
pub(crate) async fn fetch(
    manager: &SessionManager,
    id: &SessionId,
) -> Result<Option<Fetched>, SessionError> {
    let inner = &manager.inner;
    let key = id.store_key();
    observe::count(observe::LOADS, 1);
    let record = match observe::store_op("load", id, inner.store.load(&key)).await {
        Ok(Some(record)) => record,
        Ok(None) => return Ok(None),
        Err(StoreError::Corrupt(reason)) => {
            tracing::warn!(target: "session_core", session = %id.log_key(), %reason, "corrupt session record treated as no session");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if record.key != key || !record.is_live_at(now()) {
        return Ok(None);
    }
    let data = inner.load_data(&record);
    if data
        .as_ref()
        .is_ok_and(|d| crate::rotation::moved_to(d).is_some())
    {
        // The session moved to a new ID: the old one opens nothing.
        return Ok(None);
    }
    let origin = Origin {
        id: id.clone(),
        key,
        version: record.version,
        created_at: record.created_at,
        expires_at: record.expires_at,
    };
    Ok(Some((data, origin)))
}
