//! Cases on the user index and the operator's statistics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use session_core::time::Duration;
use session_core::{Record, SessionStore, StoreError, StoreKey};
use tokio::task::JoinSet;

use super::{fresh_key, manager, next, record};

/// `stats` counts live sessions, those expiring soon, and the users with
/// the most sessions (or answers `Unsupported`).
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::stats_count_live_expiring_and_users(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn stats_count_live_expiring_and_users<S: SessionStore>(store: S) {
    let cases: [(Duration, Option<&str>); 6] = [
        (Duration::days(3), Some("alice")),
        (Duration::days(3), Some("alice")),
        (Duration::minutes(30), Some("bob")),
        (Duration::hours(5), None),
        (Duration::seconds(-30), Some("alice")),
        (Duration::seconds(-30), None),
    ];
    for (expires_in, user) in cases {
        store
            .create(&record(&fresh_key(), b"{}", expires_in, user))
            .await
            .expect("create");
    }
    let Some(tools) = store.maintenance() else {
        return;
    };
    let stats = match tools.stats(10).await {
        Err(StoreError::Unsupported(_)) => return,
        other => other.expect("stats"),
    };
    assert_eq!(stats.live, 4, "{stats:?}");
    assert_eq!(stats.expiring_within_hour, 1, "{stats:?}");
    assert_eq!(stats.expiring_within_day, 2, "{stats:?}");
    match stats.expired {
        Some(n) if !store.expires_natively() => assert_eq!(n, 2, "{stats:?}"),
        Some(n) => assert!(n <= 2, "{stats:?}"),
        None => assert!(
            store.expires_natively(),
            "a store that keeps expired records must count them"
        ),
    }
    if store.user_index().is_some() {
        assert_eq!(
            stats.top_users,
            [("alice".to_owned(), 2), ("bob".to_owned(), 1)],
            "{stats:?}"
        );
        assert_eq!(tools.stats(1).await.expect("stats").top_users.len(), 1);
    }
}

/// The user index lists every session of a user whatever its key's
/// bytes: 256 native keys, each starting with another byte value (a store
/// that packs keys into its index must not mistake any for another shape),
/// and keys of other shapes and lengths.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::user_index_lists_keys_of_every_shape(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn user_index_lists_keys_of_every_shape<S: SessionStore>(store: S) {
    if store.user_index().is_none() {
        return;
    }
    let user = format!("shapes-{}", &fresh_key().as_str()[..8]);
    let mut keys: Vec<StoreKey> = (0..=255u8)
        .map(|first| StoreKey::new(format!("{first:02x}{}", &fresh_key().as_str()[2..])))
        .collect();
    let tail = fresh_key();
    keys.extend((28..=36).map(|n| StoreKey::new(&tail.as_str()[..n])));
    keys.push(StoreKey::new(format!("!{}", &tail.as_str()[..31])));
    keys.push(StoreKey::new(tail.as_str().to_uppercase()));
    for key in &keys {
        store
            .create(&record(key, b"{}", Duration::hours(1), Some(&user)))
            .await
            .expect("create");
    }
    let listed = crate::listed(&store, &user).await;
    keys.sort();
    assert_eq!(
        listed, keys,
        "sessions_of must list every session of the user"
    );
    assert_eq!(
        crate::index(&store)
            .delete_sessions_of(&user, None)
            .await
            .expect("delete_sessions_of"),
        keys.len() as u64
    );
}

/// The user index lists a user's live sessions and ends them, sparing `keep`.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::user_index_lists_and_ends_a_users_sessions(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn user_index_lists_and_ends_a_users_sessions<S: SessionStore>(store: S) {
    if store.user_index().is_none() {
        // The manager then answers that there is none.
        match manager(store).sessions_of("alice").await {
            Err(StoreError::Unsupported(_)) => return,
            other => {
                panic!("without a user index, sessions_of must answer Unsupported, got {other:?}")
            }
        }
    }
    let alice: Vec<StoreKey> = (0..3).map(|_| fresh_key()).collect();
    for key in &alice {
        store
            .create(&record(key, b"a", Duration::hours(1), Some("alice")))
            .await
            .expect("create");
    }
    let stale = fresh_key();
    store
        .create(&record(&stale, b"a", Duration::seconds(-5), Some("alice")))
        .await
        .expect("create");
    let bob = fresh_key();
    store
        .create(&record(&bob, b"b", Duration::hours(1), Some("bob")))
        .await
        .expect("create");
    let anon = fresh_key();
    store
        .create(&record(&anon, b"n", Duration::hours(1), None))
        .await
        .expect("create");

    let listed = crate::listed(&store, "alice").await;
    let mut want = alice.clone();
    want.sort();
    assert_eq!(
        listed, want,
        "sessions_of must list exactly the user's live sessions"
    );
    let info = crate::index(&store)
        .sessions_of("bob")
        .await
        .expect("sessions_of")
        .pop()
        .expect("bob's session");
    let bob_rec = store.load(&bob).await.expect("load").expect("record");
    assert_eq!(
        (info.created_at, info.expires_at),
        (bob_rec.created_at, bob_rec.expires_at)
    );
    assert!(
        crate::index(&store)
            .sessions_of("nobody")
            .await
            .expect("sessions_of")
            .is_empty()
    );

    let ended = crate::index(&store)
        .delete_sessions_of("alice", Some(&alice[0]))
        .await
        .expect("delete_sessions_of");
    assert_eq!(
        ended, 2,
        "delete_sessions_of must count the live sessions it ended"
    );
    assert!(
        store.load(&alice[0]).await.expect("load").is_some(),
        "the kept session was ended"
    );
    for key in &alice[1..] {
        assert!(
            store.load(key).await.expect("load").is_none(),
            "a session of the user survived"
        );
    }
    assert!(
        store.load(&bob).await.expect("load").is_some(),
        "another user's session was ended"
    );
    assert!(
        store.load(&anon).await.expect("load").is_some(),
        "an anonymous session was ended"
    );
    assert_eq!(
        crate::index(&store)
            .sessions_of("alice")
            .await
            .expect("sessions_of")
            .len(),
        1
    );
    assert_eq!(
        crate::index(&store)
            .delete_sessions_of("alice", None)
            .await
            .expect("delete_sessions_of"),
        1
    );
    assert!(
        crate::index(&store)
            .sessions_of("alice")
            .await
            .expect("sessions_of")
            .is_empty()
    );
}

/// The user index follows a record's user through updates and deletes.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::user_index_follows_updates_and_deletes(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn user_index_follows_updates_and_deletes<S: SessionStore>(store: S) {
    if store.user_index().is_none() {
        return;
    }
    let key = fresh_key();
    let v1 = record(&key, b"x", Duration::hours(1), Some("alice"));
    store.create(&v1).await.expect("create");
    let v2 = Record {
        user: Some("bob".into()),
        ..next(&v1, b"y")
    };
    store.update(&v2, 1).await.expect("update");
    assert!(
        crate::index(&store)
            .sessions_of("alice")
            .await
            .expect("sessions_of")
            .is_empty(),
        "the old user still lists the session"
    );
    assert_eq!(
        crate::index(&store)
            .sessions_of("bob")
            .await
            .expect("sessions_of")
            .len(),
        1
    );
    let v3 = Record {
        user: None,
        ..next(&v2, b"z")
    };
    store.update(&v3, 2).await.expect("update");
    assert!(
        crate::index(&store)
            .sessions_of("bob")
            .await
            .expect("sessions_of")
            .is_empty(),
        "an unbound session is still listed"
    );
    let v4 = Record {
        user: Some("bob".into()),
        ..next(&v3, b"w")
    };
    store.update(&v4, 3).await.expect("update");
    store.delete(&key).await.expect("delete");
    assert!(
        crate::index(&store)
            .sessions_of("bob")
            .await
            .expect("sessions_of")
            .is_empty(),
        "a deleted session is still listed"
    );
    assert_eq!(
        crate::index(&store)
            .delete_sessions_of("bob", None)
            .await
            .expect("delete_sessions_of"),
        0
    );
}

/// Sessions of many users bound, rebound, unbound, ended and listed at
/// once, as a site's logins, logouts and "log out my other devices"
/// interleave; once the writers are done, every user is listed with
/// exactly the sessions bound to them (the index never misses a session,
/// nor keeps one that moved). Randomised: a failure prints the seed
/// (`SESSION_TEST_SEED` replays the operations; their interleaving may
/// differ).
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::concurrent_rebinding_keeps_the_user_index_exact(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn concurrent_rebinding_keeps_the_user_index_exact<S: SessionStore>(store: S) {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const USERS: u64 = 60;
    const WORKERS: u64 = 6;
    const OPS: usize = 60;
    if store.user_index().is_none() {
        return;
    }
    let seed = crate::seed();
    // Users of this case alone, should the store be shared.
    let user = move |u: u64| format!("ix{:x}-{u}", seed % 0xffff_ffff);
    let store = Arc::new(store);
    let keys: Arc<Mutex<Vec<StoreKey>>> = Arc::default();
    let mut workers = JoinSet::new();
    for w in 0..WORKERS {
        let (store, keys) = (Arc::clone(&store), Arc::clone(&keys));
        workers.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(w));
            let index = crate::index(&*store);
            for _ in 0..OPS {
                let who = user(rng.random_range(0..USERS));
                let picked = {
                    let keys = keys.lock().unwrap_or_else(|p| p.into_inner());
                    (!keys.is_empty()).then(|| keys[rng.random_range(0..keys.len())].clone())
                };
                match (rng.random_range(0..10), picked) {
                    (0..=4, _) | (_, None) => {
                        let r = record(&fresh_key(), b"{}", Duration::hours(1), Some(&who));
                        store.create(&r).await.expect("create");
                        keys.lock().unwrap_or_else(|p| p.into_inner()).push(r.key);
                    }
                    (5..=6, Some(key)) => {
                        if let Some(current) = store.load(&key).await.expect("load") {
                            let moved = Record {
                                user: rng.random_bool(0.8).then_some(who),
                                ..next(&current, b"{}")
                            };
                            match store.update(&moved, current.version).await {
                                Ok(()) | Err(StoreError::Conflict | StoreError::NotFound) => {}
                                Err(e) => panic!("update: {e} (seed {seed})"),
                            }
                        }
                    }
                    (7, Some(key)) => store.delete(&key).await.expect("delete"),
                    (8, _) => {
                        index.delete_sessions_of(&who, None).await.expect("end");
                    }
                    _ => {
                        index.sessions_of(&who).await.expect("sessions_of");
                    }
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("a worker panicked");
    }
    let mut truth: BTreeMap<String, BTreeSet<StoreKey>> = BTreeMap::new();
    let created = keys.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for key in created {
        if let Some(Record { user: Some(u), .. }) = store.load(&key).await.expect("load") {
            truth.entry(u).or_default().insert(key);
        }
    }
    for u in 0..USERS {
        let who = user(u);
        let truth: Vec<StoreKey> = truth.remove(&who).unwrap_or_default().into_iter().collect();
        assert_eq!(
            crate::listed(&*store, &who).await,
            truth,
            "the sessions {who} is listed with; replay with SESSION_TEST_SEED={seed}"
        );
    }
}
