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
//! - Every `Set-Cookie` carrying a session is signed by the key ring's
//!   newest key: the request's own cookie value is sent back when that key
//!   signed it for the same ID (signing again would give the same bytes);
//!   a new ID, or a cookie an older key signed, is signed afresh.
//! - `Vary: Cookie` whenever the session was loaded.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};

use crate::codec::Data;
use crate::cookie::Found;
use crate::cookie_value::Rejection;
use crate::keys::Verified;
use crate::session::{Origin, State};
use crate::{
    CodecError, Record, Session, SessionError, SessionId, SessionManager, StoreError, now, observe,
};

/// How many fresh IDs `create` tries before giving up on duplicates (a
/// duplicate 256-bit ID means a broken random source or a broken store).
const CREATE_ATTEMPTS: u32 = 3;

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
    /// The session cookie as found in the request, not yet verified:
    /// the signature is checked only when a handler loads the session.
    cookie: Raw,
    incoming: OnceLock<Incoming>,
    session: Mutex<Option<Session>>,
}

/// The session cookie of a request, before verification.
pub(crate) enum Raw {
    Absent,
    Rejected(Rejection),
    Value(String),
}

impl Raw {
    pub(crate) fn read<'a>(
        manager: &SessionManager,
        headers: impl IntoIterator<Item = &'a str>,
    ) -> Raw {
        match manager.inner.cookie.find(headers) {
            Found::Absent => Raw::Absent,
            Found::Rejected(why) => Raw::Rejected(why),
            Found::Value(value) => Raw::Value(value.to_owned()),
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
        match manager.inner.values.decode(value) {
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

/// The headers a response needs after [`RequestSession::finish`].
///
/// Its `Debug` output leaves out the cookie's value, which would let
/// anyone reading a log line take over the session:
///
/// ```
/// # use session_core::SessionResponse;
/// let mut response = SessionResponse::default();
/// response.set_cookie = Some("session=abc.tag; HttpOnly; Path=/".to_owned());
/// assert!(format!("{response:?}").contains(r#""session=[redacted]; HttpOnly; Path=/""#));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionResponse {
    /// A `Set-Cookie` header value to add, if any (a new or refreshed
    /// cookie, or one that deletes it).
    pub set_cookie: Option<String>,
    /// Whether to add `Vary: Cookie` (the response depends on the session).
    pub vary_cookie: bool,
    /// The session was deleted by a concurrent request (a logout, an ID
    /// rotation) while this one ran; this request's changes were dropped.
    pub ended_concurrently: bool,
}

impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A cookie that carries a value shows its name and attributes; a
        // removal (no value) shows as it is.
        let set_cookie = self
            .set_cookie
            .as_deref()
            .map(|header| match self.cookie_pair() {
                Some(pair) => {
                    let name = pair.split_once('=').map_or(pair, |(name, _)| name);
                    format!("{name}=[redacted]{}", &header[pair.len()..])
                }
                None => header.to_owned(),
            });
        f.debug_struct("SessionResponse")
            .field("set_cookie", &set_cookie)
            .field("vary_cookie", &self.vary_cookie)
            .field("ended_concurrently", &self.ended_concurrently)
            .finish()
    }
}

impl SessionResponse {
    /// The `name=value` pair of a newly set cookie, as a client sends it
    /// back in its `Cookie` header; `None` when no cookie is set or the
    /// cookie is deleted.
    ///
    /// ```
    /// # use session_core::SessionResponse;
    /// let mut response = SessionResponse::default();
    /// response.set_cookie = Some("id=abc.tag; HttpOnly; Path=/".to_owned());
    /// assert_eq!(response.cookie_pair(), Some("id=abc.tag"));
    /// response.set_cookie = Some("id=; Max-Age=0".to_owned());
    /// assert_eq!(response.cookie_pair(), None);
    /// ```
    pub fn cookie_pair(&self) -> Option<&str> {
        let pair = self.set_cookie.as_deref()?.split(';').next()?;
        let (_, value) = pair.split_once('=')?;
        (!value.is_empty()).then_some(pair)
    }
}

impl RequestSession {
    pub(crate) fn new(manager: SessionManager, cookie: Raw) -> Self {
        RequestSession {
            inner: Arc::new(RequestInner {
                manager,
                cookie,
                incoming: OnceLock::new(),
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
        #[cfg(feature = "django")]
        if let Some(signer) = &inner.cookie_backend {
            let data = crate::django::signed_cookies::read(
                signer,
                &self.inner.cookie,
                inner.rules.idle.whole_seconds(),
            );
            let mut state = State::new(data, None, inner.rules);
            state.accessed = true;
            let mut slot = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
            return Ok(slot.get_or_insert(Session::from_state(state)).clone());
        }
        let (data, origin) = match self.incoming() {
            Incoming::Valid { id, .. } => match fetch(&self.inner.manager, id).await? {
                Some((Ok(data), origin)) => (data, Some(origin)),
                Some((Err(e), _)) => {
                    tracing::warn!(target: "session_core", session = %id.log_key(), error = %e, "undecodable session data treated as no session");
                    (Data::new(), None)
                }
                None => (Data::new(), None),
            },
            Incoming::Absent | Incoming::Rejected => (Data::new(), None),
        };
        let mut state = State::new(data, origin, inner.rules);
        state.accessed = true;
        let session = Session::from_state(state);
        let mut slot = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
        // Two concurrent first loads: keep the one that landed first.
        Ok(slot.get_or_insert(session).clone())
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
            .clone()
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
        let Some(session) = self.loaded() else {
            return Ok(SessionResponse::default());
        };
        let mut response = SessionResponse {
            vary_cookie: true,
            ..SessionResponse::default()
        };
        if status >= 500 {
            return Ok(response);
        }
        #[cfg(feature = "django")]
        if let Some(signer) = &self.inner.manager.inner.cookie_backend {
            let carried = !matches!(self.inner.cookie, Raw::Absent);
            crate::django::signed_cookies::write(
                &self.inner.manager,
                signer,
                &session,
                carried,
                &mut response,
            )?;
            return Ok(response);
        }
        let incoming = self.incoming();
        let commit = Commit {
            manager: &self.inner.manager,
            session: &session,
            response: &mut response,
            signed: match (incoming, &self.inner.cookie) {
                (Incoming::Valid { id, resign: false }, Raw::Value(value)) => {
                    Some((id, value.as_str()))
                }
                _ => None,
            },
        };
        commit.run(incoming).await?;
        Ok(response)
    }
}

/// A stored record's data (still to be decoded) and where it came from.
type Fetched = (Result<Data, CodecError>, Origin);

/// Loads the live record of `id`; `None` when there is none, it has
/// expired, or the store calls it corrupt.
async fn fetch(manager: &SessionManager, id: &SessionId) -> Result<Option<Fetched>, SessionError> {
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
    let data = inner.codec.decode(&record.data);
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

/// The wait before the retry after `losses` lost compare-and-swaps: about
/// 0.5 ms doubling up to 32 ms, each between half and all of that.
fn backoff(losses: u32) -> std::time::Duration {
    let ceiling = std::time::Duration::from_micros(500 << losses.min(6));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let half = ceiling / 2;
    half + std::time::Duration::from_nanos(u64::from(nanos) % half.as_nanos().max(1) as u64)
}

struct Commit<'a> {
    manager: &'a SessionManager,
    session: &'a Session,
    response: &'a mut SessionResponse,
    /// The request's cookie value and its ID, when the newest key signed
    /// it: signing that ID again would give the same value (HMAC is
    /// deterministic), so a cookie set for it reuses the value.
    signed: Option<(&'a SessionId, &'a str)>,
}

impl Commit<'_> {
    async fn run(mut self, incoming: &Incoming) -> Result<(), SessionError> {
        let (retired, rotating, origin, stored, empty) = {
            let mut state = self.session.lock();
            let empty = state.data.is_empty() || state.destroyed;
            // A read-only request (the common case) leaves the origin
            // where it is: `touch` reads it there and copies it only when
            // there is something to write.
            let origin = if state.modified {
                state.origin.clone()
            } else {
                None
            };
            (
                std::mem::take(&mut state.retired),
                state.rotating.take(),
                origin,
                state.origin.is_some(),
                empty,
            )
        };
        // `flush` and `destroy` (a logout) end the old record whatever
        // happened to it meanwhile: a logout always wins.
        for old in &retired {
            self.end(old).await?;
        }
        let carried = !matches!(incoming, Incoming::Absent);

        if let Some(old) = rotating {
            if !empty {
                return self.rotate(old).await;
            }
            // Rotated, then emptied: the old record ends, nothing new starts.
            self.end(&old).await?;
        } else if let Some(origin) = origin {
            // Modified: an update, or the end of a session emptied key by
            // key; both decided after merging concurrent saves.
            return self.update(origin).await;
        } else if !empty && !stored {
            return self.create().await;
        } else if !empty {
            return self
                .touch(matches!(incoming, Incoming::Valid { resign: true, .. }))
                .await;
        }
        // Nothing stored any more: the browser drops its cookie.
        if carried || !retired.is_empty() {
            self.remove_cookie();
        }
        self.forget();
        Ok(())
    }

    /// Ends a stored session whatever happened to it since this request
    /// loaded it (a logout always wins; see [`crate::rotation`]).
    async fn end(&self, old: &Origin) -> Result<(), SessionError> {
        let inner = &self.manager.inner;
        let end = crate::rotation::end_following(&*inner.store, &*inner.codec, &old.key);
        observe::store_op("delete", &old.id, end).await?;
        observe::count(observe::ENDED, 1);
        Ok(())
    }

    /// The session refers to no stored record any more.
    fn forget(&self) {
        let mut state = self.session.lock();
        state.origin = None;
        state.modified = false;
        state.changes.clear();
    }

    /// Saves a new session under a fresh ID.
    async fn create(&mut self) -> Result<(), SessionError> {
        let inner = &self.manager.inner;
        let now = now();
        for _ in 0..CREATE_ATTEMPTS {
            let (id, record) = self.new_record(now)?;
            match observe::store_op("create", &id, inner.store.create(&record)).await {
                Ok(()) => {
                    observe::count(observe::CREATED, 1);
                    observe::count(observe::SAVES, 1);
                    tracing::debug!(target: "session_core", session = %id.log_key(), "session created");
                    self.saved(id, record, now);
                    return Ok(());
                }
                Err(StoreError::Duplicate) => {
                    tracing::warn!(target: "session_core", "new session ID collided; generating another");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Duplicate.into())
    }

    /// A fresh ID and the record of this session's data under it.
    fn new_record(&self, now: time::OffsetDateTime) -> Result<(SessionId, Record), SessionError> {
        let inner = &self.manager.inner;
        let id = SessionId::generate_in(inner.id_format);
        let state = self.session.lock();
        let record = Record {
            key: id.store_key(),
            data: inner.codec.encode(&state.data)?,
            version: 1,
            created_at: now,
            expires_at: state.next_expiry(now),
            user: state.user(),
        };
        Ok((id, record))
    }

    /// After a version conflict on `origin`: reloads the latest record and
    /// re-applies this request's own changes on top of it. Returns the
    /// latest version and creation time, or `None` when the session has
    /// ended meanwhile.
    ///
    /// Before the reload, a request that lost more than once waits a
    /// little (growing with each loss, jittered), so writers that keep
    /// colliding spread out instead of spinning.
    async fn rebase(
        &self,
        origin: &Origin,
        losses: u32,
    ) -> Result<Option<(u64, time::OffsetDateTime)>, SessionError> {
        observe::count(observe::CONFLICTS, 1);
        if losses > 0 {
            tokio::time::sleep(backoff(losses)).await;
        }
        tracing::debug!(target: "session_core", session = %origin.id.log_key(), "concurrent save; re-applying this request's changes");
        let Some((data, latest)) = fetch(self.manager, &origin.id).await? else {
            return Ok(None);
        };
        // Data that no longer decodes is replaced: this request's changes
        // land on an empty map.
        let data = data.unwrap_or_else(|e| {
            tracing::warn!(target: "session_core", session = %origin.id.log_key(), error = %e, "undecodable concurrent save replaced");
            Data::new()
        });
        self.session.lock().rebase(data);
        Ok(Some((latest.version, latest.created_at)))
    }

    /// Compare-and-swap, re-applying this request's changes on conflicts.
    /// Whether the session is empty (and so ends instead of being saved)
    /// is decided on each attempt, after the merge.
    async fn update(&mut self, origin: Origin) -> Result<(), SessionError> {
        let inner = &self.manager.inner;
        let now = now();
        let (mut version, mut created_at) = (origin.version, origin.created_at);
        for attempt in 0..=inner.max_retries {
            let record = {
                let state = self.session.lock();
                if state.data.is_empty() {
                    None
                } else {
                    Some(Record {
                        key: origin.key.clone(),
                        data: inner.codec.encode(&state.data)?,
                        version: version + 1,
                        created_at,
                        expires_at: inner.rules.expires_at(state.expiry(), created_at, now),
                        user: state.user(),
                    })
                }
            };
            let outcome = match &record {
                Some(record) => {
                    observe::store_op("update", &origin.id, inner.store.update(record, version))
                        .await
                }
                // Emptied: ended against the version, so a key another
                // request added meanwhile is merged, not deleted.
                None => {
                    observe::store_op(
                        "delete",
                        &origin.id,
                        crate::store::end_at_version(&inner.store, &origin.key, version),
                    )
                    .await
                }
            };
            match outcome {
                Ok(()) => {
                    let Some(record) = record else {
                        observe::count(observe::ENDED, 1);
                        self.remove_cookie();
                        self.forget();
                        return Ok(());
                    };
                    observe::count(observe::SAVES, 1);
                    tracing::debug!(target: "session_core", session = %origin.id.log_key(), retries = attempt, "session saved");
                    self.saved(origin.id, record, now);
                    return Ok(());
                }
                Err(StoreError::NotFound) => {
                    self.ended(&origin.id);
                    return Ok(());
                }
                Err(StoreError::Conflict) => match self.rebase(&origin, attempt).await? {
                    Some(latest) => (version, created_at) = latest,
                    None => {
                        self.ended(&origin.id);
                        return Ok(());
                    }
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(SessionError::Contention(inner.max_retries))
    }

    /// Moves the session to a fresh ID (after `cycle_id`), atomically
    /// against the old record's version: if the old record was ended
    /// meanwhile (a logout, a revoke), no new session is made; if it was
    /// saved meanwhile, that save is merged and the rotation tried again.
    async fn rotate(&mut self, old: Origin) -> Result<(), SessionError> {
        let inner = &self.manager.inner;
        let now = now();
        let mut version = old.version;
        let (mut conflicts, mut collisions) = (0, 0);
        loop {
            if self.session.lock().data.is_empty() {
                // Emptied by the merge: nothing to carry over.
                return self.update(Origin { version, ..old }).await;
            }
            let (id, record) = self.new_record(now)?;
            let forward = crate::rotation::forward(
                &*inner.codec,
                &old.key,
                version,
                old.created_at,
                old.expires_at,
                &record.key,
                now,
            )?;
            match observe::store_op(
                "rotate",
                &old.id,
                inner.store.rotate(&forward, version, &record),
            )
            .await
            {
                Ok(()) => {
                    observe::count(observe::CREATED, 1);
                    observe::count(observe::ENDED, 1);
                    observe::count(observe::SAVES, 1);
                    tracing::debug!(target: "session_core", session = %id.log_key(), "session moved to a new ID");
                    self.saved(id, record, now);
                    return Ok(());
                }
                Err(StoreError::NotFound) => {
                    self.ended(&old.id);
                    return Ok(());
                }
                Err(StoreError::Conflict) => {
                    conflicts += 1;
                    if conflicts > inner.max_retries {
                        return Err(SessionError::Contention(inner.max_retries));
                    }
                    match self.rebase(&old, conflicts - 1).await? {
                        Some((latest, _)) => version = latest,
                        None => {
                            self.ended(&old.id);
                            return Ok(());
                        }
                    }
                }
                Err(StoreError::Duplicate) => {
                    collisions += 1;
                    if collisions >= CREATE_ATTEMPTS {
                        return Err(StoreError::Duplicate.into());
                    }
                    tracing::warn!(target: "session_core", "new session ID collided; generating another");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Extends the expiry of an unchanged session when it is due; re-signs
    /// its cookie when an older key signed it.
    async fn touch(&mut self, resign: bool) -> Result<(), SessionError> {
        let inner = &self.manager.inner;
        let now = now();
        // The origin, and the new expiry when one is due.
        let plan = {
            let state = self.session.lock();
            let Some(origin) = &state.origin else {
                return Ok(());
            };
            let next = state.next_expiry(now);
            let fixed = matches!(state.expiry(), crate::Expiry::At(_));
            if !fixed && inner.rules.touch_due(origin.expires_at, next) {
                Some((origin.clone(), Some(next)))
            } else if resign {
                Some((origin.clone(), None))
            } else {
                None
            }
        };
        match plan {
            None => {}
            Some((origin, None)) => self.set_cookie(&origin.id, origin.expires_at, now),
            Some((origin, Some(next))) => {
                match observe::store_op("touch", &origin.id, inner.store.touch(&origin.key, next))
                    .await
                {
                    Ok(()) => {
                        observe::count(observe::TOUCHES, 1);
                        tracing::trace!(target: "session_core", session = %origin.id.log_key(), "session expiry extended");
                        self.set_cookie(&origin.id, next, now);
                        self.session.lock().origin = Some(Origin {
                            expires_at: next,
                            ..origin
                        });
                    }
                    Err(StoreError::NotFound) => self.ended(&origin.id),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Records what was stored and sets the cookie; `now` is the time the
    /// record's expiry was computed from, so `Max-Age` is exactly the age.
    fn saved(&mut self, id: SessionId, record: Record, now: time::OffsetDateTime) {
        self.set_cookie(&id, record.expires_at, now);
        let mut state = self.session.lock();
        state.origin = Some(Origin {
            id,
            key: record.key,
            version: record.version,
            created_at: record.created_at,
            expires_at: record.expires_at,
        });
        state.modified = false;
        state.changes.clear();
    }

    fn ended(&mut self, id: &SessionId) {
        tracing::info!(target: "session_core", session = %id.log_key(), "session was ended by a concurrent request; not saving");
        self.session.lock().data.clear();
        self.forget();
        self.response.ended_concurrently = true;
        self.remove_cookie();
    }

    fn set_cookie(
        &mut self,
        id: &SessionId,
        expires_at: time::OffsetDateTime,
        now: time::OffsetDateTime,
    ) {
        let inner = &self.manager.inner;
        let value = match self.signed {
            // A plain comparison: both IDs are the server's own (the
            // request's was verified, the client holds it, and a new one is
            // sent to that same client), so timing reveals nothing, and the
            // constant-time `==` costs about 550 instructions a save.
            Some((signed_id, value)) if signed_id.expose() == id.expose() => Cow::Borrowed(value),
            _ => inner.values.encode(id),
        };
        let browser_close = {
            let state = self.session.lock();
            inner.rules.browser_close(state.expiry())
        };
        let max_age = (!browser_close).then(|| expires_at - now);
        self.response.set_cookie = Some(inner.set_cookie.render(&value, max_age, now));
    }

    fn remove_cookie(&mut self) {
        self.response.set_cookie = Some(self.manager.inner.set_cookie.removal());
    }
}
