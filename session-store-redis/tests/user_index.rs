//! The single node's user index: shared buckets that split as entries
//! grow (linear hashing, see the crate's `index` module), checked
//! against a real Redis: every user's sessions are listed exactly through
//! splits, rebinding and ending; the buckets stay compact sorted sets; the
//! entry count the index keeps is the entries it holds; and per-user
//! indexes written before the buckets are moved into them.

use std::collections::{BTreeMap, BTreeSet};

use session_conformance::fixtures::record;
use session_core::time::Duration;
use session_core::{Record, SessionStore, StoreKey, UserIndex};
use session_store_redis::RedisStore;

mod common;

use common::store_and_conn;

type Conn = redis::aio::MultiplexedConnection;

/// A record for `user` under `key` (a native digest, or any other key).
fn bound(key: Option<&str>, user: &str) -> Record {
    let mut record = record(Duration::hours(2), Some(user));
    if let Some(key) = key {
        record.key = StoreKey::new(key);
    }
    record
}

/// The store keys `user` is listed with.
async fn listed(store: &RedisStore, user: &str) -> BTreeSet<StoreKey> {
    common::listed(store, user).await.into_iter().collect()
}

async fn exists(key: &str, c: &mut Conn) -> bool {
    let found: i64 = redis::cmd("EXISTS").arg(key).query_async(c).await.unwrap();
    found == 1
}

/// The index's entry count `n` and the keys of its buckets (as its
/// level `L` and split `s` give them).
async fn buckets(store: &RedisStore, c: &mut Conn) -> (i64, Vec<String>) {
    let fields: Vec<Option<i64>> = redis::cmd("HMGET")
        .arg(store.index_key())
        .arg(&["L", "s", "n"])
        .query_async(c)
        .await
        .unwrap();
    let level = fields[0].unwrap_or(0) as u32;
    let split = fields[1].unwrap_or(0) as u32;
    let keys = (0..(1 << level) + split)
        .map(|b| format!("{}:{b}", store.index_key()))
        .collect();
    (fields[2].unwrap_or(0), keys)
}

/// The index's entry count and its buckets' sizes and encodings.
async fn shape(store: &RedisStore, c: &mut Conn) -> (i64, Vec<(usize, String)>) {
    let (n, keys) = buckets(store, c).await;
    let mut buckets = Vec::new();
    for key in keys {
        let size: usize = redis::cmd("ZCARD").arg(&key).query_async(c).await.unwrap();
        let encoding: Option<String> = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(&key)
            .query_async(c)
            .await
            .unwrap();
        buckets.push((size, encoding.unwrap_or_default()));
    }
    (n, buckets)
}

/// The index keeps `n` equal to the entries its buckets hold, every
/// bucket a compact sorted set (a listpack) of at most 128 entries.
async fn check_shape(store: &RedisStore, c: &mut Conn) -> (u32, usize) {
    let (n, buckets) = shape(store, c).await;
    let held: usize = buckets.iter().map(|(size, _)| size).sum();
    assert_eq!(n, held as i64, "the index counts {n} entries, holds {held}");
    for (b, (size, encoding)) in buckets.iter().enumerate() {
        assert!(*size <= 128, "bucket {b} holds {size} entries");
        assert!(
            *size == 0 || encoding == "listpack",
            "bucket {b} ({size} entries) is a {encoding}"
        );
    }
    (buckets.len() as u32, held)
}

#[tokio::test]
async fn buckets_split_as_users_come_and_every_user_is_listed_exactly() {
    let Some((store, mut c)) = store_and_conn("index-split").await else {
        return;
    };
    // A second store on the same keys, as another process would be: its
    // own salt for a new index, but the one the index took holds.
    let prefix = store.index_key().strip_suffix('i').unwrap().to_owned();
    let other = RedisStore::builder()
        .prefix(prefix)
        .connect(&common::url())
        .await
        .unwrap();
    // 400 users with one to three sessions each (about 800 entries): a
    // few keys of another form (a Django-style session key) among them.
    let mut expected: BTreeMap<String, BTreeSet<StoreKey>> = BTreeMap::new();
    for u in 0..400 {
        let user = format!("user-{u}");
        for s in 0..=(u % 3) {
            let key = (u % 50 == 0).then(|| format!("django{u:04}{s}abcdefghijklmnopqrstuv"));
            let record = bound(key.as_deref(), &user);
            let writer = if s == 1 { &other } else { &store };
            writer.create(&record).await.unwrap();
            expected.entry(user.clone()).or_default().insert(record.key);
        }
    }
    let salt: String = redis::cmd("HGET")
        .arg(store.index_key())
        .arg("k")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        salt.len() == 32 && salt.bytes().all(|b| b.is_ascii_hexdigit()),
        "the index's salt: {salt:?}"
    );
    let total: usize = expected.values().map(BTreeSet::len).sum();
    let (buckets, held) = check_shape(&store, &mut c).await;
    assert_eq!(held, total);
    assert!(
        buckets as usize >= total / 48,
        "{total} entries in {buckets} buckets: the index did not split"
    );
    for (user, keys) in &expected {
        assert_eq!(&listed(&store, user).await, keys, "sessions of {user}");
        assert_eq!(&listed(&other, user).await, keys, "sessions of {user}");
    }

    // Rebinding moves a session from one user's listing to another's;
    // ending a user's sessions removes them and their entries.
    let moved = expected["user-5"].iter().next().unwrap().clone();
    let mut record = store.load(&moved).await.unwrap().unwrap();
    let version = record.version;
    record.version += 1;
    record.user = Some("user-6".to_owned());
    record.expires_at += Duration::hours(3); // the entry's hour grows too
    store.update(&record, version).await.unwrap();
    expected.get_mut("user-5").unwrap().remove(&moved);
    expected.get_mut("user-6").unwrap().insert(moved);
    for user in ["user-5", "user-6"] {
        assert_eq!(&listed(&store, user).await, &expected[user], "{user}");
    }
    for u in (0..400).step_by(7) {
        let user = format!("user-{u}");
        let ended = store.delete_sessions_of(&user, None).await.unwrap();
        assert_eq!(ended as usize, expected[&user].len(), "{user}");
        expected.get_mut(&user).unwrap().clear();
    }
    // More users after the endings: the index grows on and splits again.
    for u in 400..700 {
        let record = bound(None, &format!("user-{u}"));
        store.create(&record).await.unwrap();
        expected
            .entry(format!("user-{u}"))
            .or_default()
            .insert(record.key);
    }
    let (more_buckets, held) = check_shape(&store, &mut c).await;
    assert!(more_buckets > buckets, "{more_buckets} after {buckets}");
    let listed_total: usize = expected.values().map(BTreeSet::len).sum();
    // Entries the splits did not reach yet may still stand for the
    // sessions ended above; never fewer than the live ones.
    assert!(held >= listed_total, "{held} entries for {listed_total}");
    for (user, keys) in &expected {
        assert_eq!(&listed(&store, user).await, keys, "sessions of {user}");
    }
}

#[tokio::test]
async fn per_user_indexes_from_before_the_buckets_are_moved() {
    let Some((store, mut c)) = store_and_conn("index-move").await else {
        return;
    };
    // Sessions of two users, their entries written as before the buckets:
    // a sorted set per user, scored with the expiry rounded up to the
    // hour, and no bucket.
    let mut keys = BTreeMap::new();
    for user in ["carol", "dave"] {
        let mut mine = BTreeSet::new();
        for _ in 0..2 {
            let record = bound(None, user);
            store.create(&record).await.unwrap();
            let score = (record.expires_at.unix_timestamp() / 3600 + 1) * 3600;
            let digest = hex::decode(record.key.as_str()).unwrap();
            redis::cmd("ZADD")
                .arg(store.user_key(user))
                .arg(score)
                .arg(digest)
                .query_async::<()>(&mut c)
                .await
                .unwrap();
            mine.insert(record.key);
        }
        keys.insert(user, mine);
    }
    let mut del = redis::cmd("DEL");
    del.arg(store.index_key())
        .arg(format!("{}:0", store.index_key()));
    del.query_async::<()>(&mut c).await.unwrap();
    assert!(listed(&store, "nobody").await.is_empty());

    // Listing a user moves the user's index.
    assert_eq!(listed(&store, "carol").await, keys["carol"]);
    assert!(
        !exists(&store.user_key("carol"), &mut c).await,
        "carol's old index is still there"
    );
    assert_eq!(check_shape(&store, &mut c).await.1, 2);

    // `migrate` moves the rest.
    assert_eq!(store.migrate().await.unwrap(), 0); // no session to move
    assert_eq!(check_shape(&store, &mut c).await.1, 4);
    assert!(
        !exists(&store.user_key("dave"), &mut c).await,
        "dave's old index is still there"
    );
    assert_eq!(listed(&store, "dave").await, keys["dave"]);
    assert_eq!(store.delete_sessions_of("dave", None).await.unwrap(), 2);
    assert_eq!(check_shape(&store, &mut c).await.1, 2);
}

/// Workers bind, rebind, unbind, end and list sessions of 300 users at
/// once while the buckets split; once they are done, every user is listed
/// with exactly the sessions bound to them. (Each script is one step in
/// Redis; this checks the steps between them: a listing's candidates
/// pruned while other writes rebind them, splits between a lookup and
/// its prune.) The seed is printed on failure: `SESSION_TEST_SEED=…`
/// replays the same operations (their interleaving may differ).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_through_splits_leave_every_session_listed() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use session_core::StoreError;
    use std::sync::{Arc, Mutex};

    const USERS: u32 = 300;
    let Some((store, mut c)) = store_and_conn("index-race").await else {
        return;
    };
    let seed: u64 = std::env::var("SESSION_TEST_SEED")
        .map(|s| s.parse().expect("SESSION_TEST_SEED is a number"))
        .unwrap_or_else(|_| rand::random());
    let keys: Arc<Mutex<Vec<StoreKey>>> = Arc::default();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (store, keys) = (store.clone(), Arc::clone(&keys));
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(w));
                for _ in 0..150 {
                    let user = format!("user-{}", rng.random_range(0..USERS));
                    let picked = {
                        let keys = keys.lock().unwrap();
                        (!keys.is_empty()).then(|| keys[rng.random_range(0..keys.len())].clone())
                    };
                    match (rng.random_range(0..10), picked) {
                        (0..=4, _) | (_, None) => {
                            let record = bound(None, &user);
                            store.create(&record).await.unwrap();
                            keys.lock().unwrap().push(record.key);
                        }
                        (5..=6, Some(key)) => {
                            if let Some(mut record) = store.load(&key).await.unwrap() {
                                let version = record.version;
                                record.version += 1;
                                record.user = rng.random_bool(0.8).then_some(user);
                                match store.update(&record, version).await {
                                    Ok(()) | Err(StoreError::Conflict | StoreError::NotFound) => {}
                                    Err(e) => panic!("update: {e}"),
                                }
                            }
                        }
                        (7, Some(key)) => store.delete(&key).await.unwrap(),
                        (8, _) => {
                            store.delete_sessions_of(&user, None).await.unwrap();
                        }
                        _ => {
                            store.sessions_of(&user).await.unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let mut truth: BTreeMap<String, BTreeSet<StoreKey>> = BTreeMap::new();
    let created = keys.lock().unwrap().clone();
    for key in created {
        if let Some(Record {
            user: Some(user), ..
        }) = store.load(&key).await.unwrap()
        {
            truth.entry(user).or_default().insert(key);
        }
    }
    let (buckets, _) = check_shape(&store, &mut c).await;
    assert!(buckets > 1, "the index never split (seed {seed})");
    for u in 0..USERS {
        let user = format!("user-{u}");
        assert_eq!(
            listed(&store, &user).await,
            truth.get(&user).cloned().unwrap_or_default(),
            "sessions of {user}; replay with SESSION_TEST_SEED={seed}"
        );
    }
}

/// The keys of `records` their user's listing misses, and those it lists.
async fn split_by_listing(
    store: &RedisStore,
    records: &[Record],
) -> (BTreeSet<StoreKey>, BTreeSet<StoreKey>) {
    let (mut unlisted, mut still) = (BTreeSet::new(), BTreeSet::new());
    for r in records {
        let user = r.user.as_deref().unwrap();
        if listed(store, user).await.contains(&r.key) {
            still.insert(r.key.clone());
        } else {
            unlisted.insert(r.key.clone());
        }
    }
    (unlisted, still)
}

/// With the index hash deleted (as an `allkeys-*` eviction might), the
/// check finds the bound sessions no listing reaches; ending them leaves
/// every bound session listed, the listed ones and unbound ones untouched.
#[tokio::test]
async fn sessions_an_index_lost_are_found_and_ended() {
    let Some((store, mut c)) = store_and_conn("lost-index").await else {
        return;
    };
    let mut records = Vec::new();
    for n in 0..200 {
        let r = bound(None, &format!("user{}", n % 70));
        store.create(&r).await.unwrap();
        records.push(r);
    }
    let unbound = record(Duration::hours(2), None);
    store.create(&unbound).await.unwrap();
    let check = store.check_index().await.unwrap();
    assert_eq!((check.bound, check.users, check.unlisted), (200, 70, 0));
    assert_eq!(store.end_unlisted().await.unwrap().unlisted, 0);

    // The shape and salt gone: listings look in the wrong bucket, with
    // the wrong hash.
    redis::cmd("DEL")
        .arg(store.index_key())
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let lost = store.check_index().await.unwrap();
    assert!(lost.unlisted > 0, "{lost:?}");
    let (unlisted, _) = split_by_listing(&store, &records).await;
    assert_eq!(unlisted.len() as u64, lost.unlisted);

    // A save that writes the entry again (here, the user changes) lists
    // its session again, and it is no longer counted.
    let at = records
        .iter()
        .position(|r| unlisted.contains(&r.key))
        .unwrap();
    let mut rebound = records[at].clone();
    rebound.user = Some("newcomer".into());
    rebound.version += 1;
    store.update(&rebound, rebound.version - 1).await.unwrap();
    assert!(listed(&store, "newcomer").await.contains(&rebound.key));
    records[at] = rebound.clone();
    // The listings above pruned entries while the index key was gone, yet
    // did not make it again: the new index took a salt of its own.
    let salt: Option<String> = redis::cmd("HGET")
        .arg(store.index_key())
        .arg("k")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(salt.map(|s| s.len()), Some(32), "the new index has no salt");
    // That write started a new index with a salt of its own, under which
    // another session's old entry may carry its user's hash byte by chance
    // (or stop carrying it): which sessions are listed is read again.
    let (unlisted, still) = split_by_listing(&store, &records).await;
    assert!(still.contains(&rebound.key));
    assert_eq!(
        store.check_index().await.unwrap().unlisted,
        unlisted.len() as u64
    );

    let ended = store.end_unlisted().await.unwrap();
    assert_eq!(ended.unlisted, unlisted.len() as u64);
    assert_eq!(store.check_index().await.unwrap().unlisted, 0);
    for key in &unlisted {
        assert_eq!(store.load(key).await.unwrap(), None);
    }
    for key in still.iter().chain([&unbound.key]) {
        assert!(store.load(key).await.unwrap().is_some());
    }
}

/// Every entry of the index: its member (as hex) and its hour (the score
/// less the user-hash byte it carries).
async fn entries(store: &RedisStore, c: &mut Conn) -> BTreeMap<String, i64> {
    let (_, keys) = buckets(store, c).await;
    let mut out = BTreeMap::new();
    for key in keys {
        let bucket: Vec<(Vec<u8>, i64)> = redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(c)
            .await
            .unwrap();
        for (member, score) in bucket {
            let hex: String = member.iter().map(|b| format!("{b:02x}")).collect();
            out.insert(hex, score / 256);
        }
    }
    out
}

/// Saves released together (so they share script calls, as `batching.rs`
/// shows), bound and unbound in turn, each write the index as a save
/// alone would: a save that moves its session's
/// expiry into a later hour raises its entry to that hour, a save that
/// rebinds the session lists it under its new user (and no longer under
/// the old), a save that unbinds it lists it under no one, and a save
/// that changes neither leaves the entry as it was. The batch works each
/// entry's score out from its save's expiry and reads the old value's
/// header once for the user and the old expiry, so this checks them
/// against the records the saves wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saves_in_one_batch_write_each_entry_as_alone() {
    const N: usize = 40;
    let Some((store, mut c)) = store_and_conn("index-batch").await else {
        return;
    };
    let mut records = Vec::new();
    for n in 0..N {
        let record = bound(None, &format!("first-{n}"));
        store.create(&record).await.unwrap();
        records.push(record);
    }
    let before = entries(&store, &mut c).await;
    let saved: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let mut r = r.clone();
            r.version += 1;
            r.data = format!(r#"{{"n":{n}}}"#).into_bytes();
            match n % 4 {
                // Later by five hours: the entry's hour grows.
                0 => r.expires_at += Duration::hours(5),
                // Rebound to a user of its own.
                1 => r.user = Some(format!("second-{n}")),
                // No longer bound.
                2 => r.user = None,
                // Only the data changes.
                _ => {}
            }
            r
        })
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(N));
    let saves: Vec<_> = saved
        .iter()
        .map(|r| {
            let (store, r, barrier) = (store.clone(), r.clone(), std::sync::Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                store.update(&r, r.version - 1).await
            })
        })
        .collect();
    for save in saves {
        save.await.unwrap().expect("each save of the batch lands");
    }
    let after = entries(&store, &mut c).await;
    let hex = |r: &Record| r.key.as_str().to_owned();
    for (n, r) in saved.iter().enumerate() {
        let was = &records[n];
        let old_user = was.user.clone().unwrap();
        if let Some(user) = &r.user {
            assert_eq!(
                listed(&store, user).await,
                BTreeSet::from([r.key.clone()]),
                "save {n}: listed under {user}"
            );
        }
        if r.user.as_ref() != Some(&old_user) {
            assert!(
                listed(&store, &old_user).await.is_empty(),
                "save {n}: still listed under {old_user}"
            );
        }
        let hour = entry_hour(r.expires_at.unix_timestamp());
        if n % 4 == 0 {
            assert_eq!(after.get(&hex(r)), Some(&hour), "save {n}: raised entry");
            assert!(before[&hex(r)] < hour, "save {n}: the test moves the hour");
        }
        if n % 4 == 3 {
            assert_eq!(
                after.get(&hex(r)),
                before.get(&hex(r)),
                "save {n}: untouched entry"
            );
        }
    }
    check_shape(&store, &mut c).await;
}

/// The hour an entry for an expiry at `at` (Unix seconds) holds: `at`
/// rounded up to the hour, in hours.
fn entry_hour(at: i64) -> i64 {
    (at + 3599).div_euclid(3600)
}
