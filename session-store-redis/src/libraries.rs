//! The Redis function libraries the store's scripts run as: removing
//! those of other releases.
//!
//! Each release loads a library of its own (`session_store_<digest>`, see
//! [`crate::scripts`]) and never removes one, so a server that has served
//! several releases keeps one library for each. Removing one that a
//! running instance still calls costs that instance a reload on its next
//! call, not a failure (the store loads its library whenever Redis says
//! it has none).

use redis::Value;
use session_core::StoreError;

use crate::conn::{refused, store_error};
use crate::scripts::LIBRARY;
use crate::store::RedisStore;

impl RedisStore {
    /// Removes the function libraries of other releases of this store
    /// (`session_store_*` but this release's) from every node; returns
    /// how many it removed. `session-cli migrate` runs it.
    ///
    /// # Errors
    ///
    /// When Redis fails (or refuses `FUNCTION`: then there is nothing to
    /// remove, and `Ok(0)`).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let removed = store.remove_old_libraries().await?;
    /// println!("{removed} function libraries of other releases removed");
    /// # Ok(()) }
    /// ```
    pub async fn remove_old_libraries(&self) -> Result<u64, StoreError> {
        let mut removed = 0;
        for node in self.nodes().await? {
            let mut list = redis::cmd("FUNCTION");
            list.arg("LIST").arg("LIBRARYNAME").arg("session_store_*");
            let listed = match self.on_node(list, &node).await {
                Ok(listed) => listed,
                Err(e) if refused(&e) => return Ok(0),
                Err(e) => return Err(store_error(e)),
            };
            for name in library_names(&listed) {
                if name == LIBRARY.name {
                    continue;
                }
                let mut delete = redis::cmd("FUNCTION");
                delete.arg("DELETE").arg(&name);
                match self.on_node(delete, &node).await {
                    Ok(_) => removed += 1,
                    // Removed meanwhile (another `migrate`).
                    Err(e) if e.to_string().contains("not found") => {}
                    Err(e) => return Err(store_error(e)),
                }
            }
        }
        Ok(removed)
    }
}

/// The `library_name`s of a `FUNCTION LIST` reply (a map per library, as
/// RESP2's flat array of names and values or RESP3's map).
fn library_names(reply: &Value) -> Vec<String> {
    let Value::Array(libraries) = reply else {
        return Vec::new();
    };
    libraries
        .iter()
        .filter_map(|library| {
            let pairs: Vec<(&Value, &Value)> = match library {
                Value::Array(flat) => flat
                    .chunks(2)
                    .filter_map(|p| Some((p.first()?, p.get(1)?)))
                    .collect(),
                Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
                _ => return None,
            };
            pairs.into_iter().find_map(|(k, v)| {
                let k: String = redis::from_redis_value_ref(k).ok()?;
                (k == "library_name").then(|| redis::from_redis_value_ref(v).ok())?
            })
        })
        .collect()
}
