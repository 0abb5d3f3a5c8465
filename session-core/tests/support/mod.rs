//! Shared by the observability tests (each in a binary of its own, so that
//! one test's tracing subscriber cannot race another's callsite caching).

use session_conformance::fixtures;
use session_core::time::Duration;
use session_core::{ExpiryRules, KeyRing, SessionManager};
use session_store_memory::MemoryStore;

/// Runs a session through every operation; returns the raw IDs it used.
pub async fn lifetime() -> Vec<String> {
    let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([3u8; 32]).unwrap())
        .expiry(ExpiryRules::default().touch_interval(Duration::ZERO))
        .build()
        .unwrap();
    let mut ids = Vec::new();
    let raw = |cookie: &str| {
        cookie
            .split_once('=')
            .unwrap()
            .1
            .split('.')
            .next()
            .unwrap()
            .to_owned()
    };
    // Create.
    let request = manager.request(None);
    request.load().await.unwrap().insert("a", 1).unwrap();
    let cookie = fixtures::finish(&request).await;
    ids.push(raw(&cookie));
    // Two saves of one version: one conflict, retried.
    let (x, y) = (
        manager.request([cookie.as_str()]),
        manager.request([cookie.as_str()]),
    );
    x.load().await.unwrap().insert("x", 1).unwrap();
    y.load().await.unwrap().insert("y", 1).unwrap();
    x.finish(200).await.unwrap();
    y.finish(200).await.unwrap();
    // A read a second later extends the expiry (touch).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap();
    request.finish(200).await.unwrap();
    // Rotation, then logout.
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().cycle_id();
    let cookie = fixtures::finish(&request).await;
    ids.push(raw(&cookie));
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().end();
    request.finish(200).await.unwrap();
    // A forged cookie.
    manager
        .request(["session=forged.tag"])
        .load()
        .await
        .unwrap();
    ids
}
