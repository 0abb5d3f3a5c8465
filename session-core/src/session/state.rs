//! What a [`Session`](super::Session) holds: its data, the changes this
//! request made, and the stored record it came from.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;

use super::{USER_KEY, check_user};
use crate::codec::Data;
use crate::expiry::EXPIRY_KEY;
use crate::manager::DecodedCache;
use crate::{Expiry, ExpiryRules, SessionError, SessionId, StoreKey};

/// The record a session was loaded from.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) id: SessionId,
    /// `id`'s store key, kept so that saving does not hash the ID again.
    pub(crate) key: StoreKey,
    pub(crate) version: u64,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
}

#[derive(Debug)]
pub(crate) struct State {
    /// Shared with the manager's decoded cache (and so with other requests
    /// of the same session) until a change copies it.
    pub(crate) data: Arc<Data>,
    /// This request's own changes, key by key (`None` = removed), re-applied
    /// on top of a concurrent save when a compare-and-swap fails.
    pub(crate) changes: BTreeMap<String, Option<Value>>,
    pub(crate) modified: bool,
    pub(crate) accessed: bool,
    /// The stored record this session still refers to.
    pub(crate) origin: Option<Origin>,
    /// Sessions to delete when the request ends (after `flush`).
    pub(crate) retired: Vec<Origin>,
    /// The stored record [`Session::cycle_id`] moves to a new ID when the
    /// request ends (atomically against its version).
    pub(crate) rotating: Option<Origin>,
    pub(crate) ended: bool,
    pub(crate) rules: ExpiryRules,
    /// The decoded cache that may keep `data` for the origin's key, until
    /// the first change lets it go (see [`data_mut`](Self::data_mut)).
    pub(crate) cache: Option<Arc<DecodedCache>>,
}

impl State {
    pub(crate) fn new(data: Arc<Data>, origin: Option<Origin>, rules: ExpiryRules) -> Self {
        State {
            data,
            changes: BTreeMap::new(),
            modified: false,
            accessed: false,
            origin,
            retired: Vec::new(),
            rotating: None,
            ended: false,
            rules,
            cache: None,
        }
    }

    /// The data, to change. A map the decoded cache shares is copied
    /// first (copy on write), unless the cache lets go of it and no other
    /// request holds it: the first change of a session most requests only
    /// read then costs no copy of the whole map.
    fn data_mut(&mut self) -> &mut Data {
        if let Some(cache) = self.cache.take()
            && Arc::strong_count(&self.data) > 1
            && let Some(origin) = &self.origin
        {
            cache.release(&origin.key, &self.data);
        }
        Arc::make_mut(&mut self.data)
    }

    pub(crate) fn write(&mut self, key: &str, value: Option<Value>) -> Result<(), SessionError> {
        if self.ended {
            return Err(SessionError::Ended);
        }
        match value {
            Some(v) => {
                self.data_mut().insert(key.to_owned(), v.clone());
                self.changes.insert(key.to_owned(), Some(v));
                self.modified = true;
            }
            None => {
                self.remove(key);
            }
        }
        Ok(())
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        if !self.data.contains_key(key) {
            return None;
        }
        let old = self.data_mut().shift_remove(key);
        if old.is_some() {
            self.changes.insert(key.to_owned(), None);
            self.modified = true;
        }
        old
    }

    pub(crate) fn flush(&mut self) {
        // A rotation not yet done is moot: the old record just ends.
        let stored = self.origin.take().into_iter().chain(self.rotating.take());
        self.retired.extend(stored);
        self.data = Arc::default();
        self.cache = None;
        self.changes.clear();
        self.modified = true;
    }

    pub(crate) fn expiry(&self) -> Expiry {
        Expiry::from_value(self.data.get(EXPIRY_KEY))
    }

    /// The user binding; one that `set_user` would refuse (stored data
    /// edited by hand, say) counts as none.
    pub(crate) fn user(&self) -> Option<String> {
        match self.data.get(USER_KEY) {
            Some(Value::String(s)) if check_user(s).is_ok() => Some(s.clone()),
            _ => None,
        }
    }

    pub(crate) fn created_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.origin.as_ref().map_or(now, |o| o.created_at)
    }

    pub(crate) fn next_expiry(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.next_expiry_under(self.expiry(), now)
    }

    /// [`next_expiry`](Self::next_expiry) under `expiry`, the session's
    /// [`expiry`](Self::expiry) already read.
    pub(crate) fn next_expiry_under(&self, expiry: Expiry, now: OffsetDateTime) -> OffsetDateTime {
        self.rules.expires_at(expiry, self.created_at(now), now)
    }

    /// Applies this request's own changes on top of `data` (a concurrent save).
    pub(crate) fn rebase(&mut self, mut data: Data) {
        for (key, change) in &self.changes {
            match change {
                Some(v) => {
                    data.insert(key.clone(), v.clone());
                }
                None => {
                    data.shift_remove(key);
                }
            }
        }
        self.data = Arc::new(data);
    }
}
