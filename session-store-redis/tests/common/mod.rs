//! What this crate's test binaries share: the Redis they test against, a
//! store on it with a prefix of its own beside a plain connection, the
//! function libraries the server holds, and a user's listed sessions. (Each binary uses a part, so
//! the rest is dead code in it.)
#![allow(dead_code)]

use redis::aio::{ConnectionLike, MultiplexedConnection};
use session_conformance::services;
use session_core::{StoreKey, UserIndex};
use session_store_redis::RedisStore;

/// The single Redis node the tests use.
pub fn url() -> String {
    services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// A store on [`url`] with a prefix of its own (from `name`), and a plain
/// connection to the same server; `None` (having said why) when Redis is
/// unreachable and the tests may skip.
pub async fn store_and_conn(name: &str) -> Option<(RedisStore, MultiplexedConnection)> {
    let store = match RedisStore::builder()
        .prefix(format!("{}:", services::unique_name(name)))
        .connect(&url())
        .await
    {
        Ok(store) => store,
        Err(e) => return services::unavailable("Redis", e),
    };
    let c = redis::Client::open(url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    Some((store, c))
}

/// The names of the `session_store_*` function libraries the server
/// holds, sorted.
pub async fn libraries<C: ConnectionLike + Send>(c: &mut C) -> Vec<String> {
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

/// The name of the library [`load_old_library`] loads.
pub const OLD_LIBRARY: &str = "session_store_0000000000000000";

/// Loads a library as an older release of the store would have (on a
/// cluster, on every primary).
pub async fn load_old_library<C: ConnectionLike + Send>(c: &mut C) {
    redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(format!(
            "#!lua name={OLD_LIBRARY}\nredis.register_function('{OLD_LIBRARY}_x', function() return 1 end)"
        ))
        .query_async::<()>(c)
        .await
        .unwrap();
}

/// The store keys `store`'s user index lists for `user`, in its order.
pub async fn listed(store: &RedisStore, user: &str) -> Vec<StoreKey> {
    store
        .sessions_of(user)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect()
}
