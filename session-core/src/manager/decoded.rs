//! The decoded data of sessions recently loaded or saved, so that a load
//! whose stored bytes are the ones decoded (or written) last time takes
//! the decoded map instead of decoding again.
//!
//! An entry is the stored bytes and user binding together with the data
//! they decode to, and it is used only when a record's bytes and binding
//! are exactly those: what a store returns still decides everything
//! (version, expiry, whether the session exists), and decoding is a pure
//! function of the bytes and the binding, so a hit gives what decoding
//! would have given. Stale entries (a session saved elsewhere since) are
//! simply misses. The data is shared (`Arc`); a request that changes its
//! session first has the cache let go of it ([`DecodedCache::release`]),
//! then changes it in place if no other request holds it, or a copy if one
//! does; its save (with a codec that round-trips) keeps the changed map.
//!
//! Bounded: each of the shards keeps two generations of entries; when the
//! current one is full it becomes the previous one and the older one is
//! dropped, and an entry found in the previous generation moves back to
//! the current one (a cheap approximation of least-recently-used).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::StoreKey;
use crate::codec::Data;
use crate::record::Record;

/// Shards of the cache, each behind its own lock.
const SHARDS: usize = 16;

/// Records whose encoded data is larger than this are not kept: their
/// decoded maps would cost more memory than a cache of this kind should
/// hold (the bound is on entries, so large ones are left out).
pub(crate) const MAX_ENTRY_BYTES: usize = 4096;

pub(crate) struct DecodedCache {
    shards: Box<[Mutex<Shard>]>,
    /// Entries per generation of each shard; 0 when the cache is off.
    per_generation: usize,
    hasher: Keyed,
}

impl std::fmt::Debug for DecodedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedCache")
            .field("per_generation", &self.per_generation)
            .finish_non_exhaustive()
    }
}

/// foldhash: several times cheaper than std's SipHash on 64-byte keys.
/// Flooding a map needs many keys of one hash inserted, and the cache only
/// keeps keys of records a store returned or a save wrote, never ones a
/// client chose.
type Keyed = foldhash::fast::RandomState;

#[derive(Default)]
struct Shard {
    current: HashMap<StoreKey, Entry, Keyed>,
    previous: HashMap<StoreKey, Entry, Keyed>,
}

struct Entry {
    bytes: Box<[u8]>,
    user: Option<Box<str>>,
    data: Arc<Data>,
}

impl Entry {
    fn matches(&self, record: &Record) -> bool {
        *self.bytes == *record.data && self.user.as_deref() == record.user.as_deref()
    }
}

impl DecodedCache {
    /// A cache of at most `capacity` sessions (0: none).
    pub(crate) fn new(capacity: usize) -> Self {
        DecodedCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_generation: capacity.div_ceil(2 * SHARDS),
            hasher: Keyed::default(),
        }
    }

    /// Whether the cache keeps anything (a capacity above 0).
    pub(crate) fn is_on(&self) -> bool {
        self.per_generation > 0
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        let at = self.hasher.hash_one(key) as usize % SHARDS;
        // A panic while holding the lock leaves whole entries behind.
        self.shards[at].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The decoded data of `record`, when it is the one kept for its key.
    pub(crate) fn get(&self, record: &Record) -> Option<Arc<Data>> {
        if !self.is_on() {
            return None;
        }
        let mut shard = self.shard(&record.key);
        if let Some(entry) = shard.current.get(&record.key) {
            return entry.matches(record).then(|| Arc::clone(&entry.data));
        }
        let entry = shard.previous.remove(&record.key)?;
        let found = entry.matches(record).then(|| Arc::clone(&entry.data));
        if found.is_some() {
            let dropped = shard.insert(record.key.clone(), entry, self.per_generation);
            drop(shard);
            drop(dropped);
        }
        found
    }

    /// Keeps `data` as what `record`'s bytes and binding decode to.
    pub(crate) fn put(&self, record: &Record, data: &Arc<Data>) {
        if !self.is_on() || record.data.len() > MAX_ENTRY_BYTES {
            return;
        }
        let entry = Entry {
            bytes: record.data.as_slice().into(),
            user: record.user.as_deref().map(Into::into),
            data: Arc::clone(data),
        };
        let mut shard = self.shard(&record.key);
        shard.previous.remove(&record.key);
        let dropped = shard.insert(record.key.clone(), entry, self.per_generation);
        // The old generation is freed after the lock is released.
        drop(shard);
        drop(dropped);
    }

    /// Lets go of `data` when it is what is kept for `key`: a request about
    /// to change its copy of the session's map calls this first, so that
    /// when no other request holds the map either, the change is made in
    /// place instead of on a copy. The entry goes (the save that follows
    /// may keep the changed map instead); an entry holding another map is
    /// left as it is.
    pub(crate) fn release(&self, key: &StoreKey, data: &Arc<Data>) {
        self.remove_where(key, |entry| Arc::ptr_eq(&entry.data, data));
    }

    /// Forgets what is kept for `key` (the session ended).
    pub(crate) fn forget(&self, key: &StoreKey) {
        self.remove_where(key, |_| true);
    }

    /// Removes `key`'s entry, in either generation, where `matches` says so.
    fn remove_where(&self, key: &StoreKey, matches: impl Fn(&Entry) -> bool) {
        if !self.is_on() {
            return;
        }
        let mut shard = self.shard(key);
        let take = |generation: &mut HashMap<StoreKey, Entry, Keyed>| {
            generation
                .get(key)
                .is_some_and(&matches)
                .then(|| generation.remove(key))
                .flatten()
        };
        let current = take(&mut shard.current);
        let previous = take(&mut shard.previous);
        // The entries are freed after the lock is released.
        drop(shard);
        drop((current, previous));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap();
                s.current.len() + s.previous.len()
            })
            .sum()
    }
}

impl Shard {
    /// Inserts into the current generation, starting a new one first when
    /// it is full; returns the generation that dropped out, if any.
    fn insert(
        &mut self,
        key: StoreKey,
        entry: Entry,
        per_generation: usize,
    ) -> Option<HashMap<StoreKey, Entry, Keyed>> {
        let dropped = if self.current.len() >= per_generation && !self.current.contains_key(&key) {
            let full = std::mem::take(&mut self.current);
            Some(std::mem::replace(&mut self.previous, full))
        } else {
            None
        };
        self.current.insert(key, entry);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::OffsetDateTime;

    fn record(key: &str, bytes: &[u8], user: Option<&str>) -> Record {
        Record {
            key: StoreKey::new(key),
            data: bytes.to_vec(),
            version: 1,
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            user: user.map(str::to_owned),
        }
    }

    fn data(n: u64) -> Arc<Data> {
        Arc::new(Data::from_iter([("n".to_owned(), json!(n))]))
    }

    #[test]
    fn an_entry_serves_only_the_same_bytes_and_binding() {
        let cache = DecodedCache::new(64);
        let kept = record("k", b"{\"n\":1}", Some("alice"));
        cache.put(&kept, &data(1));
        let hit = cache.get(&kept).expect("the same bytes and binding");
        assert_eq!(*hit, *data(1));
        assert!(
            cache
                .get(&record("k", b"{\"n\":2}", Some("alice")))
                .is_none()
        );
        assert!(cache.get(&record("k", b"{\"n\":1}", None)).is_none());
        assert!(cache.get(&record("k", b"{\"n\":1}", Some("bob"))).is_none());
        assert!(
            cache
                .get(&record("other", b"{\"n\":1}", Some("alice")))
                .is_none()
        );
        cache.forget(&kept.key);
        assert!(cache.get(&kept).is_none());
    }

    #[test]
    fn release_lets_go_only_of_the_very_map_kept() {
        let cache = DecodedCache::new(64);
        let kept = record("k", b"1", None);
        let map = data(1);
        cache.put(&kept, &map);
        // An equal map that is not the one kept, or another key: kept on.
        cache.release(&kept.key, &data(1));
        cache.release(&StoreKey::new("other"), &map);
        assert!(cache.get(&kept).is_some());
        cache.release(&kept.key, &map);
        assert!(cache.get(&kept).is_none());
        assert_eq!(Arc::strong_count(&map), 1, "the cache still holds the map");
        // From the previous generation too.
        cache.put(&kept, &map);
        {
            let mut shard = cache.shard(&kept.key);
            let entry = shard.current.remove(&kept.key).unwrap();
            shard.previous.insert(kept.key.clone(), entry);
        }
        cache.release(&kept.key, &map);
        assert_eq!(Arc::strong_count(&map), 1);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_later_put_replaces_the_entry() {
        let cache = DecodedCache::new(64);
        cache.put(&record("k", b"1", None), &data(1));
        cache.put(&record("k", b"2", None), &data(2));
        assert!(cache.get(&record("k", b"1", None)).is_none());
        assert_eq!(*cache.get(&record("k", b"2", None)).unwrap(), *data(2));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_stays_within_its_bound_and_keeps_what_is_used() {
        let capacity = 256;
        let cache = DecodedCache::new(capacity);
        let hot = record("hot", b"hot", None);
        cache.put(&hot, &data(0));
        for i in 0..10_000 {
            cache.put(&record(&format!("k{i}"), b"x", None), &data(i));
            assert!(cache.get(&hot).is_some(), "a key read all along stays");
        }
        // Two generations of ceil(256 / 32) entries in each of 16 shards.
        assert!(cache.len() <= capacity, "{} entries", cache.len());
        assert!(cache.len() >= capacity / 4, "{} entries", cache.len());
    }

    #[test]
    fn large_records_and_a_cache_of_zero_keep_nothing() {
        let cache = DecodedCache::new(64);
        let large = record("big", &vec![b' '; MAX_ENTRY_BYTES + 1], None);
        cache.put(&large, &data(1));
        assert!(cache.get(&large).is_none());
        let off = DecodedCache::new(0);
        let small = record("k", b"1", None);
        off.put(&small, &data(1));
        assert!(off.get(&small).is_none());
        assert_eq!(off.len(), 0);
    }
}
