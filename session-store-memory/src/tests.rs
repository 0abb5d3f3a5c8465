//! The memory store's own tests, besides the conformance kit.

use std::sync::Arc;
use std::time::Duration;

use session_core::time::Duration as TimeDuration;
use session_core::{Record, SessionStore, StoreKey, UserIndex, now};

use crate::shard::{SHARDS, index_of};
use crate::{MemoryStore, WhenFull};

session_conformance::store_tests!(MemoryStore::new());

#[tokio::test]
async fn a_zero_sweep_interval_means_no_background_sweeper() {
    let builder = MemoryStore::builder().sweep_every(Some(Duration::ZERO));
    assert_eq!(builder.sweep_every, None);
    let store = builder.build();
    create(&store, "gone", -5, None).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.delete_expired().await.unwrap(), 1, "nothing swept it");
}

/// Creates a session under `key`.
async fn create(store: &MemoryStore, key: &str, expires_in: i64, user: Option<&str>) {
    store.create(&record(key, expires_in, user)).await.unwrap();
}

/// Whether `store` holds a live session under `key`.
async fn holds(store: &MemoryStore, key: &str) -> bool {
    store.load(&StoreKey::new(key)).await.unwrap().is_some()
}

fn record(key: &str, expires_in: i64, user: Option<&str>) -> Record {
    let now = now();
    Record {
        key: StoreKey::new(key),
        data: b"{}".to_vec(),
        version: 1,
        created_at: now,
        expires_at: now + TimeDuration::seconds(expires_in),
        user: user.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_full_store_evicts_the_soonest_expiring_session() {
    let store = MemoryStore::builder().capacity(1).build();
    // Capacity rounds up to one per shard: fill one shard with two keys.
    let same = same_shard(2);
    create(&store, &same[0], 100, None).await;
    create(&store, &same[1], 200, None).await;
    assert!(!holds(&store, &same[0]).await);
    assert!(holds(&store, &same[1]).await);
}

/// Keys that all fall in one shard.
fn same_shard(n: usize) -> Vec<String> {
    let keys: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
    let shard = index_of(&keys[0]);
    keys.into_iter()
        .filter(|k| index_of(k) == shard)
        .take(n)
        .collect()
}

#[tokio::test]
async fn a_flood_of_anonymous_sessions_never_evicts_a_logged_in_user() {
    // Four sessions per shard; in one shard two users and two visitors.
    let store = MemoryStore::builder().capacity(4 * SHARDS).build();
    let keys = same_shard(200);
    create(&store, &keys[0], 100, Some("ada")).await;
    create(&store, &keys[1], 50, Some("bob")).await;
    create(&store, &keys[2], 500, None).await;
    create(&store, &keys[3], 600, None).await;
    // The flood: each new anonymous session evicts an anonymous one.
    for key in &keys[4..] {
        create(&store, key, 1000, None).await;
    }
    for (key, user) in [(&keys[0], "ada"), (&keys[1], "bob")] {
        let kept = store.load(&StoreKey::new(key.as_str())).await.unwrap();
        assert_eq!(
            kept.and_then(|r| r.user).as_deref(),
            Some(user),
            "{user}'s session was evicted by the flood"
        );
    }
    assert!(holds(&store, &keys[199]).await);
    assert_eq!(store.sessions_of("ada").await.unwrap().len(), 1);

    // A shard holding only logged-in users refuses the newcomer.
    let store = MemoryStore::builder().capacity(2 * SHARDS).build();
    create(&store, &keys[0], 100, Some("ada")).await;
    create(&store, &keys[1], 100, Some("bob")).await;
    for user in [None, Some("eve")] {
        let err = store
            .create(&record(&keys[2], 100, user))
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(err.to_string().contains("full"), "{err}");
    }
    // A user bound by an update is protected too.
    let store = MemoryStore::builder().capacity(2 * SHARDS).build();
    create(&store, &keys[0], 100, None).await;
    create(&store, &keys[1], 900, None).await;
    let bound = Record {
        version: 2,
        ..record(&keys[0], 100, Some("ada"))
    };
    store.update(&bound, 1).await.unwrap();
    create(&store, &keys[2], 100, None).await;
    assert!(holds(&store, &keys[0]).await);
    assert!(!holds(&store, &keys[1]).await);
}

#[tokio::test]
async fn the_cache_policy_evicts_whatever_expires_soonest() {
    let store = MemoryStore::builder()
        .capacity(SHARDS)
        .when_full(WhenFull::EvictSoonestExpiring)
        .build();
    let keys = same_shard(2);
    create(&store, &keys[0], 100, Some("ada")).await;
    create(&store, &keys[1], 200, None).await;
    assert!(!holds(&store, &keys[0]).await);
    assert!(store.sessions_of("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_full_store_can_reject_new_sessions() {
    let store = MemoryStore::builder()
        .capacity(1)
        .when_full(WhenFull::Reject)
        .build();
    let same = same_shard(2);
    create(&store, &same[0], 100, None).await;
    let err = store
        .create(&record(&same[1], 100, None))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    // Expired records make room before anything is refused.
    let store = MemoryStore::builder()
        .capacity(1)
        .when_full(WhenFull::Reject)
        .build();
    create(&store, &same[0], -1, None).await;
    create(&store, &same[1], 100, None).await;
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn the_background_sweeper_removes_expired_sessions_and_stops_with_the_store() {
    let store = MemoryStore::builder()
        .sweep_every(Some(Duration::from_millis(50)))
        .build();
    create(&store, "gone", 1, Some("u")).await;
    create(&store, "kept", 600, Some("u")).await;
    assert_eq!(store.len(), 2);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(store.len(), 1);
    assert_eq!(store.sessions_of("u").await.unwrap().len(), 1);
    let weak = Arc::downgrade(&store.inner);
    drop(store);
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(weak.upgrade().is_none());
}
