//! ID rotation and the ending of sessions that may have rotated.
//!
//! A rotation (`cycle_id`, as on login) moves a session to a fresh ID
//! with one atomic store operation, [`SessionStore::rotate`]: only if the
//! old record is still at the version the request loaded, it replaces the
//! old record with a short-lived *forward* (which names the new record's
//! store key and holds no data) and creates the new record. So:
//!
//! - a logout or revoke that ended the old record first leaves nothing to
//!   rotate: no new session appears;
//! - a save to the old record in another tab makes the rotation conflict,
//!   and it is merged and tried again;
//! - a logout that loaded the old ID before the rotation committed finds
//!   the forward when it ends the session, and ends the new record too:
//!   the logout wins either way.
//!
//! A forward is never loaded as a session (the old ID gives an empty
//! session, as a deleted one would: following it would hand the new ID's
//! data to whoever held the old one, which is what rotation prevents).

use time::{Duration, OffsetDateTime};

use crate::codec::Data;
use crate::store::end_at_version;
use crate::{Codec, CodecError, Record, SessionStore, StoreError, StoreKey};

/// The reserved key under which a forward names the new store key.
const MOVED_KEY: &str = "_session_moved";
/// How long a forward lives at most: enough for requests in flight with
/// the old ID to meet it.
const FORWARD_TTL: Duration = Duration::minutes(10);
/// How many times an end re-reads a record that keeps changing before it
/// deletes it unconditionally (the record is then a session, not a
/// forward, so a plain delete is right).
const END_ATTEMPTS: usize = 8;
/// How many forwards an end follows (each rotation adds one).
const MAX_HOPS: usize = 16;

/// The forward to leave under `old` (at `old_version`, expiring at
/// `old_expires`) when its session moves to `new`.
pub(crate) fn forward(
    codec: &dyn Codec,
    old: &StoreKey,
    old_version: u64,
    old_created: OffsetDateTime,
    old_expires: OffsetDateTime,
    new: &StoreKey,
    now: OffsetDateTime,
) -> Result<Record, CodecError> {
    let mut data = Data::new();
    data.insert(MOVED_KEY.to_owned(), new.as_str().into());
    Ok(Record {
        key: old.clone(),
        data: codec.encode(&data)?,
        version: old_version + 1,
        created_at: old_created,
        expires_at: old_expires.min(now + FORWARD_TTL),
        user: None,
    })
}

/// The new store key when `data` is a forward.
pub(crate) fn moved_to(data: &Data) -> Option<StoreKey> {
    data.get(MOVED_KEY)?.as_str().map(StoreKey::new)
}

/// Ends the session stored under `key`, following forwards: a logout
/// always wins, whether the session was saved, or moved to a new ID,
/// after the logout's request loaded it. Deletes are durable as far as
/// the store's `delete` is.
pub(crate) async fn end_following(
    store: &dyn SessionStore,
    codec: &dyn Codec,
    key: &StoreKey,
) -> Result<(), StoreError> {
    // The forwards passed, removed once the session they lead to is ended
    // (so a failure half-way leaves the way to it).
    let mut forwards = Vec::new();
    let mut key = key.clone();
    'hops: loop {
        if forwards.len() > MAX_HOPS {
            return Err(StoreError::backend(
                "a chain of session forwards too long to follow",
            ));
        }
        for _ in 0..END_ATTEMPTS {
            let Some(record) = store.load(&key).await? else {
                break 'hops;
            };
            if let Some(target) = codec.decode(&record.data).ok().as_ref().and_then(moved_to) {
                forwards.push(std::mem::replace(&mut key, target));
                continue 'hops;
            }
            match end_at_version(store, &key, record.version).await {
                Ok(()) => break 'hops,
                // Saved or moved meanwhile: look again.
                Err(StoreError::Conflict | StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        // A session that keeps being saved: it is no forward, so a plain
        // delete ends it.
        store.delete(&key).await?;
        break;
    }
    for forward in &forwards {
        store.delete(forward).await?;
    }
    Ok(())
}
