//! The Redis function library the store's scripts run as: the libraries
//! of other releases are removed, this release's is kept (and loaded
//! again by any store that finds it gone).

use session_conformance::fixtures::record;
use session_conformance::services;
use session_core::time::Duration;
use session_core::{SessionStore, UserIndex};
use session_store_redis::RedisStore;

/// The `session_store_*` libraries the server holds.
async fn libraries(c: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let listed: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg("session_store_*")
        .query_async(c)
        .await
        .unwrap();
    let mut names: Vec<String> = listed
        .iter()
        .filter_map(|l| redis::from_redis_value_ref(l.get("library_name")?).ok())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn libraries_of_other_releases_are_removed() {
    let url = services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let store = match RedisStore::builder()
        .prefix(format!("{}:", services::unique_name("libraries")))
        .connect(&url)
        .await
    {
        Ok(store) => store,
        Err(e) => return services::unavailable::<()>("Redis", e).unwrap_or(()),
    };
    let mut c = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // A bound session: its create runs a script, so this release's
    // library is there.
    let r = record(Duration::hours(1), Some("ann"));
    store.create(&r).await.unwrap();
    // Whatever earlier builds left on this server goes first.
    store.remove_old_libraries().await.unwrap();
    let ours = libraries(&mut c).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    // An older release's library.
    let old = "session_store_0000000000000000";
    redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(format!(
            "#!lua name={old}\nredis.register_function('{old}_x', function() return 1 end)"
        ))
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    assert_eq!(libraries(&mut c).await.len(), 2);

    assert_eq!(store.remove_old_libraries().await.unwrap(), 1);
    assert_eq!(libraries(&mut c).await, ours);
    assert_eq!(store.remove_old_libraries().await.unwrap(), 0);
    // The store goes on with its own.
    let mut next = r.clone();
    next.version += 1;
    store.update(&next, r.version).await.unwrap();
    let listed: Vec<_> = store
        .sessions_of("ann")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&r.key));
}
