//! The shards that hold the sessions, each behind its own lock, with
//! their expiry order and the user index beside them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use session_core::time::OffsetDateTime;
use session_core::{Record, StoreError, StoreKey, now};

use crate::WhenFull;

pub(crate) const SHARDS: usize = 32;
/// How many expired records one sweep removes per shard lock.
pub(crate) const SWEEP_BATCH: usize = 1024;

pub(crate) struct Inner {
    pub(crate) shards: Vec<RwLock<Shard>>,
    pub(crate) users: Vec<Mutex<HashMap<String, HashSet<StoreKey>>>>,
    pub(crate) per_shard: usize,
    pub(crate) when_full: WhenFull,
}

#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) records: HashMap<StoreKey, Record, Keyed>,
    pub(crate) by_expiry: BTreeSet<(OffsetDateTime, StoreKey)>,
    /// The anonymous records (bound to no user) of `by_expiry`: the ones
    /// [`WhenFull::EvictAnonymous`] may push out.
    pub(crate) anonymous: BTreeSet<(OffsetDateTime, StoreKey)>,
}

pub(crate) fn read(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    // Every critical section leaves the shard consistent, so a panic
    // elsewhere is no reason to stop serving it.
    lock.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// The hasher of the records' map: foldhash, several times cheaper than
/// std's SipHash on 64-byte keys. Flooding a map needs many keys of one
/// hash inserted, and a store only inserts keys the manager made (a
/// digest or a fresh random key), never ones a client chose.
pub(crate) type Keyed = foldhash::fast::RandomState;

/// The shard of a key or user: foldhash with a fixed seed (the same in
/// every store of the process), read on every load.
pub(crate) fn index_of(key: &str) -> usize {
    const SPREAD: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x5e55_10ae);
    (SPREAD.hash_one(key) as usize) % SHARDS
}

impl Inner {
    pub(crate) fn shard(&self, key: &StoreKey) -> &RwLock<Shard> {
        &self.shards[index_of(key.as_str())]
    }

    pub(crate) fn users(&self, user: &str) -> MutexGuard<'_, HashMap<String, HashSet<StoreKey>>> {
        self.users[index_of(user)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The keys the user index lists for `user`.
    pub(crate) fn keys_of(&self, user: &str) -> Vec<StoreKey> {
        let users = self.users(user);
        users.get(user).into_iter().flatten().cloned().collect()
    }

    pub(crate) fn index_user(&self, user: Option<&str>, key: &StoreKey) {
        if let Some(user) = user {
            self.users(user)
                .entry(user.to_owned())
                .or_default()
                .insert(key.clone());
        }
    }

    pub(crate) fn unindex_user(&self, user: Option<&str>, key: &StoreKey) {
        if let Some(user) = user {
            let mut users = self.users(user);
            if let Some(keys) = users.get_mut(user) {
                keys.remove(key);
                if keys.is_empty() {
                    users.remove(user);
                }
            }
        }
    }

    /// Removes a record from a locked shard, keeping both indexes right.
    pub(crate) fn remove(&self, shard: &mut Shard, key: &StoreKey) -> Option<Record> {
        let record = shard.records.remove(key)?;
        let entry = (record.expires_at, key.clone());
        if record.user.is_none() {
            shard.anonymous.remove(&entry);
        }
        shard.by_expiry.remove(&entry);
        self.unindex_user(record.user.as_deref(), key);
        Some(record)
    }

    pub(crate) fn insert(&self, shard: &mut Shard, record: Record) {
        let entry = (record.expires_at, record.key.clone());
        if record.user.is_none() {
            shard.anonymous.insert(entry.clone());
        }
        shard.by_expiry.insert(entry);
        self.index_user(record.user.as_deref(), &record.key);
        shard.records.insert(record.key.clone(), record);
    }

    /// Removes up to `limit` expired records of a locked shard.
    pub(crate) fn sweep(&self, shard: &mut Shard, now: OffsetDateTime, limit: usize) -> usize {
        let mut removed = 0;
        while removed < limit {
            match shard.by_expiry.first() {
                Some((at, key)) if *at <= now => {
                    let key = key.clone();
                    self.remove(shard, &key);
                    removed += 1;
                }
                _ => break,
            }
        }
        removed
    }

    pub(crate) fn sweep_all(&self, now: OffsetDateTime) -> usize {
        let mut total = 0;
        for lock in &self.shards {
            loop {
                let removed = self.sweep(&mut write(lock), now, SWEEP_BATCH);
                total += removed;
                if removed < SWEEP_BATCH {
                    break;
                }
            }
        }
        total
    }

    /// Makes room in a full shard for `record`, as the policy says.
    pub(crate) fn make_room(
        &self,
        shard: &mut Shard,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if shard.records.len() < self.per_shard {
            return Ok(());
        }
        self.sweep(shard, now, usize::MAX);
        if shard.records.len() < self.per_shard {
            return Ok(());
        }
        let victim = match self.when_full {
            WhenFull::Reject => None,
            WhenFull::EvictAnonymous => shard.anonymous.first(),
            WhenFull::EvictSoonestExpiring => shard.by_expiry.first(),
        };
        let Some((_, victim)) = victim.cloned() else {
            let bound = if record.user.is_some() {
                "a logged-in"
            } else {
                "an anonymous"
            };
            tracing::warn!(target: "session_store_memory", "store full; refused {bound} session");
            return Err(StoreError::unavailable(format!(
                "the memory session store is full (capacity {}); refused {bound} session",
                self.per_shard * SHARDS
            )));
        };
        self.remove(shard, &victim);
        tracing::warn!(target: "session_store_memory", policy = ?self.when_full, "store full; evicted the session closest to expiry");
        Ok(())
    }

    /// `rotate` with its shards locked: `new_shard` is `None` when the new
    /// key falls in the old key's shard.
    pub(crate) fn rotate(
        &self,
        old_shard: &mut Shard,
        new_shard: Option<&mut Shard>,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        let now = now();
        let live_at = |shard: &Shard| match shard.records.get(&old.key) {
            Some(r) if r.is_live_at(now) && r.version == expected_version => Ok(()),
            Some(r) if r.is_live_at(now) => Err(StoreError::Conflict),
            _ => Err(StoreError::NotFound),
        };
        live_at(old_shard)?;
        let taken = |shard: &Shard| {
            shard
                .records
                .get(&new.key)
                .is_some_and(|r| r.is_live_at(now))
        };
        if new_shard.as_deref().map_or_else(|| taken(old_shard), taken) {
            return Err(StoreError::Duplicate);
        }
        // Room for the new record is made (or refused) before anything
        // changes, so a refusal leaves the old record as it was.
        match new_shard {
            Some(shard) => {
                self.remove(shard, &new.key);
                self.make_room(shard, new, now)?;
                self.remove(old_shard, &old.key);
                self.insert(old_shard, old.clone());
                self.insert(shard, new.clone());
            }
            None => {
                self.remove(old_shard, &new.key);
                self.make_room(old_shard, new, now)?;
                // Making room may have evicted the old record itself.
                live_at(old_shard)?;
                self.remove(old_shard, &old.key);
                self.insert(old_shard, old.clone());
                self.insert(old_shard, new.clone());
            }
        }
        Ok(())
    }

    pub(crate) fn live(&self, key: &StoreKey, now: OffsetDateTime) -> Option<Record> {
        read(self.shard(key))
            .records
            .get(key)
            .filter(|r| r.is_live_at(now))
            .cloned()
    }
}

/// Sets a stored record's expiry, moving its entry in the shard's expiry index.
/// Moves `record`'s expiry, and its place in the shard's expiry order.
pub(crate) fn move_expiry(
    by_expiry: &mut BTreeSet<(OffsetDateTime, StoreKey)>,
    anonymous: &mut BTreeSet<(OffsetDateTime, StoreKey)>,
    record: &mut Record,
    expires_at: OffsetDateTime,
) {
    if record.expires_at != expires_at {
        let (old, new) = (
            (record.expires_at, record.key.clone()),
            (expires_at, record.key.clone()),
        );
        if record.user.is_none() {
            anonymous.remove(&old);
            anonymous.insert(new.clone());
        }
        by_expiry.remove(&old);
        by_expiry.insert(new);
        record.expires_at = expires_at;
    }
}
