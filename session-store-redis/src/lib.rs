//! A session store on Redis, single node or Redis Cluster.
//!
//! Redis is the cache engine: sessions expire through Redis's own TTLs, and
//! every operation of the store contract is one round trip.
//!
//! - `load` is one `HMGET` of the session's hash.
//! - `create`, `update` and `touch` are Lua scripts: `create` inserts only
//!   if absent, `update` checks the version and refuses a missing key (a
//!   compare-and-swap with no `WATCH` loop), `touch` moves the expiry alone.
//! - Each session lives under `<prefix>{<store key>}`; the braces make the
//!   key its own hash tag, and every script touches that one key only, so
//!   the same code runs on a cluster.
//! - The user index is a set per user (`<prefix>user:{<user>}`) of session
//!   keys. A write that binds a session to a user adds the entry before its
//!   script and again after it (one pipeline on a single node), so every
//!   session of a user is listed from the moment the write returns, even
//!   if the set was pruned while the write ran. Entries of sessions that
//!   ended are skipped when the set is read; on a single node they are
//!   removed by a script that checks, in the same step, that the session
//!   is not (or not yet) bound to the user; on a cluster (where the set and
//!   the session sit in different slots) only entries of sessions the
//!   store itself ended are removed, and the rest go when the set expires
//!   with the user's last session.
//! - `rotate` (a new ID on login) is one script on a single node; on a
//!   cluster, where the two keys sit in different slots, it runs
//!   [in steps](session_core::store::rotate_in_steps).
//! - Nothing uses `KEYS`.
//! - When Redis goes away, operations fail with [`StoreError::Unavailable`](session_core::StoreError::Unavailable)
//!   and the connection comes back by itself once Redis does.
//! - Durability is Redis's: an acknowledged write (a save or a logout)
//!   survives a crash of Redis as far as its persistence (`appendonly`,
//!   `appendfsync`) keeps it.
//!
//! Requires Redis 7.0 or newer (for `EXPIRE … NX|GT`).
//!
//! ```no_run
//! use session_core::{KeyRing, SessionManager};
//! use session_store_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! // Or a cluster, from any of its nodes:
//! // let store = RedisStore::connect_cluster(["redis://127.0.0.1:7000"]).await?;
//! let manager = SessionManager::new(store, KeyRing::new([6u8; 32])?);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod conn;
pub mod django_cache;
mod index;
mod scan;
mod scripts;
mod store;

pub use builder::RedisStoreBuilder;
pub use django_cache::DjangoCacheStore;
pub use store::RedisStore;
