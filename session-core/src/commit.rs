//! Writing a request's session to the store when the request finishes:
//! the rules listed in [`request`](crate::request) (create under a fresh
//! ID, compare-and-swap with merge and retry, rotate, end, touch), and the
//! `Set-Cookie` that follows.

use std::borrow::Cow;
use std::sync::Arc;

use crate::codec::Data;
use crate::cookie_value::CookieValues;
use crate::expiry::EXPIRY_KEY;
use crate::mode::{CookieBackend, CookieMeta};
use crate::request::{Incoming, Via, fetch};
use crate::session::Origin;
use crate::{
    Record, Session, SessionError, SessionId, SessionManager, SessionResponse, StoreError, now,
    observe,
};

/// How many fresh IDs `create` tries before giving up on duplicates (a
/// duplicate 256-bit ID means a broken random source or a broken store).
const CREATE_ATTEMPTS: u32 = 3;
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

/// What touching an unchanged stored session does.
enum Touch {
    /// Nothing: its expiry is not due to move, its cookie's key is current.
    Nothing,
    /// Sets its cookie again, signed by the newest key.
    Resign(Origin),
    /// Moves its expiry in the store to the given time.
    Extend(Origin, time::OffsetDateTime),
}

pub(crate) struct Commit<'a> {
    pub(crate) manager: &'a SessionManager,
    /// Writes the cookie's value.
    pub(crate) values: &'a CookieValues,
    pub(crate) session: &'a Session,
    pub(crate) response: &'a mut SessionResponse,
    /// How the request carried the session: the answer carries it back
    /// the same way.
    pub(crate) via: Via,
    /// The request's cookie value and its ID, when the newest key signed
    /// it: signing that ID again would give the same value (HMAC is
    /// deterministic), so a cookie set for it reuses the value.
    pub(crate) signed: Option<(&'a SessionId, &'a str)>,
}

impl Commit<'_> {
    pub(crate) async fn run(mut self, incoming: &Incoming) -> Result<(), SessionError> {
        if self.settle(incoming) {
            return Ok(());
        }
        let (retired, rotating, origin, stored, empty) = {
            let mut state = self.session.lock();
            let empty = state.data.is_empty() || state.ended;
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
        // `flush` and `end` (a logout) end the old record whatever
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
        inner.decoded.forget(&old.key);
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
            let (id, record, data) = self.new_record(now)?;
            match observe::store_op("create", &id, inner.store.create(&record)).await {
                Ok(()) => {
                    observe::count(observe::CREATED, 1);
                    observe::count(observe::SAVES, 1);
                    tracing::debug!(target: "session_core", session = %id.log_key(), "session created");
                    self.saved(id, record, &data, now, true);
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

    /// A fresh ID and the record of this session's data under it, with the
    /// data as encoded.
    fn new_record(
        &self,
        now: time::OffsetDateTime,
    ) -> Result<(SessionId, Record, Arc<Data>), SessionError> {
        let inner = &self.manager.inner;
        let id = SessionId::generate_in(inner.mode.id_format());
        let mut state = self.session.lock();
        let user = state.user();
        let record = Record {
            key: id.store_key(),
            data: inner.encode_data(&mut state.data, user.as_deref())?,
            version: 1,
            created_at: now,
            expires_at: state.next_expiry(now),
            user,
        };
        Ok((id, record, Arc::clone(&state.data)))
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
    ) -> Result<Option<(u64, time::OffsetDateTime, time::OffsetDateTime)>, SessionError> {
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
        let data = data.map_or_else(
            |e| {
                tracing::warn!(target: "session_core", session = %origin.id.log_key(), error = %e, "undecodable concurrent save replaced");
                Data::new()
            },
            Arc::unwrap_or_clone,
        );
        self.session.lock().rebase(data);
        Ok(Some((latest.version, latest.created_at, latest.expires_at)))
    }

    /// Compare-and-swap, re-applying this request's changes on conflicts.
    /// Whether the session is empty (and so ends instead of being saved)
    /// is decided on each attempt, after the merge.
    async fn update(&mut self, origin: Origin) -> Result<(), SessionError> {
        let inner = &self.manager.inner;
        let now = now();
        let (mut version, mut created_at, mut stored_expiry) =
            (origin.version, origin.created_at, origin.expires_at);
        for attempt in 0..=inner.max_retries {
            let record = {
                let mut state = self.session.lock();
                if state.data.is_empty() {
                    None
                } else {
                    let user = state.user();
                    let record = Record {
                        key: origin.key.clone(),
                        data: inner.encode_data(&mut state.data, user.as_deref())?,
                        version: version + 1,
                        created_at,
                        expires_at: inner.rules.save_expiry(
                            state.expiry(),
                            created_at,
                            stored_expiry,
                            now,
                        ),
                        user,
                    };
                    let expiry_set = state.changes.contains_key(EXPIRY_KEY);
                    Some((record, Arc::clone(&state.data), expiry_set))
                }
            };
            let outcome = match &record {
                Some((record, ..)) => {
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
                    let Some((record, data, expiry_set)) = record else {
                        inner.decoded.forget(&origin.key);
                        observe::count(observe::ENDED, 1);
                        self.remove_cookie();
                        self.forget();
                        return Ok(());
                    };
                    observe::count(observe::SAVES, 1);
                    tracing::debug!(target: "session_core", session = %origin.id.log_key(), retries = attempt, "session saved");
                    // The browser's cookie already says what this one
                    // would (the same value, the same expiry) unless the
                    // expiry moved, this request changed how the session
                    // expires, or the cookie is due for signing again.
                    let cookie =
                        expiry_set || record.expires_at != stored_expiry || self.signed.is_none();
                    self.saved(origin.id, record, &data, now, cookie);
                    return Ok(());
                }
                Err(StoreError::NotFound) => {
                    self.ended(&origin.id);
                    return Ok(());
                }
                Err(StoreError::Conflict) => match self.rebase(&origin, attempt).await? {
                    Some(latest) => (version, created_at, stored_expiry) = latest,
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
            let (id, record, data) = self.new_record(now)?;
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
                    self.saved(id, record, &data, now, true);
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
                        Some((latest, ..)) => version = latest,
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
        match self.touch_plan(now, resign) {
            Touch::Nothing => {}
            Touch::Resign(origin) => self.set_cookie(&origin.id, origin.expires_at, now),
            Touch::Extend(origin, next) => {
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

    /// What [`touch`](Self::touch) has to do for an unchanged stored
    /// session at `now`: extend its expiry when that is due (never for a
    /// fixed expiry), else re-sign its cookie when `resign`.
    fn touch_plan(&self, now: time::OffsetDateTime, resign: bool) -> Touch {
        let state = self.session.lock();
        let Some(origin) = &state.origin else {
            return Touch::Nothing;
        };
        // The override is read from the data once, for both questions.
        let expiry = state.expiry();
        let next = state.next_expiry_under(expiry, now);
        let fixed = matches!(expiry, crate::Expiry::At(_));
        if !fixed && self.manager.inner.rules.touch_due(origin.expires_at, next) {
            Touch::Extend(origin.clone(), next)
        } else if resign {
            Touch::Resign(origin.clone())
        } else {
            Touch::Nothing
        }
    }

    /// Finishes as [`run`](Self::run) would when that needs no store call:
    /// a stored session only read, whose expiry is not due to move
    /// (re-signing its cookie when an older key signed it), or a session
    /// empty and ended with nothing stored to end. `false`, with nothing
    /// done, when the store is needed.
    pub(crate) fn settle(&mut self, incoming: &Incoming) -> bool {
        let empty = {
            let state = self.session.lock();
            let stored = state.origin.is_some();
            let empty = state.data.is_empty() || state.ended;
            // `run`'s cases that call the store: ending retired records,
            // rotating, updating a changed stored session, creating one.
            if !state.retired.is_empty()
                || state.rotating.is_some()
                || (state.modified && stored)
                || (!empty && !stored)
            {
                return false;
            }
            empty
        };
        if !empty {
            // Stored and unchanged: `run` touches it.
            let now = now();
            let resign = matches!(incoming, Incoming::Valid { resign: true, .. });
            match self.touch_plan(now, resign) {
                Touch::Nothing => {}
                Touch::Resign(origin) => self.set_cookie(&origin.id, origin.expires_at, now),
                Touch::Extend(..) => return false,
            }
            return true;
        }
        if !matches!(incoming, Incoming::Absent) {
            self.remove_cookie();
        }
        self.forget();
        true
    }

    /// Records what was stored (`record`, written from `data`, which the
    /// decoded cache may keep as its decoded form) and, with `cookie`,
    /// sets the cookie; `now` is the time the record's expiry was computed
    /// from, so `Max-Age` is exactly the age.
    fn saved(
        &mut self,
        id: SessionId,
        record: Record,
        data: &Arc<Data>,
        now: time::OffsetDateTime,
        cookie: bool,
    ) {
        self.manager.inner.saved_data(&record, data);
        if cookie {
            self.set_cookie(&id, record.expires_at, now);
        }
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
        self.session.lock().data = Arc::default();
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
        let unchanged = self
            .signed
            .filter(|(signed_id, _)| signed_id.expose() == id.expose());
        let value = match unchanged {
            // A plain comparison: both IDs are the server's own (the
            // request's was verified, the client holds it, and a new one is
            // sent to that same client), so timing reveals nothing that a
            // constant-time `==` would hide, and a save need not pay for one.
            Some((_, value)) => Cow::Borrowed(value),
            None => self.values.encode(id),
        };
        let browser_close = {
            let state = self.session.lock();
            inner.rules.browser_close(state.expiry())
        };
        // The header goes out only when its value changed (a new
        // session, a new ID, a newer key): the client keeps it as it is.
        if self.via != Via::Cookie && inner.header.is_some() && unchanged.is_none() {
            self.response.session_header = Some(value.to_string());
        }
        if self.via == Via::Header {
            return;
        }
        let max_age = (!browser_close).then(|| expires_at - now);
        self.response.set_cookie = Some(inner.set_cookie.render(&value, max_age, now));
    }

    fn remove_cookie(&mut self) {
        if self.via == Via::Header {
            self.response.session_header = Some(String::new());
        } else {
            self.response.set_cookie = Some(self.manager.inner.set_cookie.removal());
        }
    }
}

/// Commits a session that travels whole in the cookie: written into the
/// cookie when it changed, when its expiry is due for extension, or when
/// an older key opened it; the cookie removed when the session became
/// empty or was ended (if the request carried one); nothing otherwise.
pub(crate) struct InCookie<'a> {
    pub(crate) backend: &'a dyn CookieBackend,
    /// Whether the request carried a session cookie.
    pub(crate) carried: bool,
    /// What that cookie said besides the data.
    pub(crate) meta: CookieMeta,
}

impl InCookie<'_> {
    pub(crate) fn commit(
        &self,
        manager: &SessionManager,
        session: &Session,
        response: &mut SessionResponse,
    ) -> Result<(), SessionError> {
        let inner = &manager.inner;
        let mut state = session.lock();
        if state.data.is_empty() || state.ended {
            if self.carried && (state.modified || state.ended) {
                response.set_cookie = Some(inner.set_cookie.removal());
            }
            return Ok(());
        }
        let now = now();
        let created_at = self.meta.times.map_or(now, |(created, _)| created);
        let expiry = state.expiry();
        let expires_at = inner.rules.expires_at(expiry, created_at, now);
        if !state.modified {
            let fixed = matches!(expiry, crate::Expiry::At(_));
            let due = self
                .meta
                .times
                .is_some_and(|(_, current)| !fixed && inner.rules.touch_due(current, expires_at));
            if !due && !self.meta.stale {
                return Ok(());
            }
        }
        let value = self
            .backend
            .write(&state.data, (created_at, expires_at), now)?;
        let max_age = (!inner.rules.browser_close(expiry)).then(|| expires_at - now);
        response.set_cookie = Some(inner.set_cookie.render(&value, max_age, now));
        state.modified = false;
        Ok(())
    }
}
