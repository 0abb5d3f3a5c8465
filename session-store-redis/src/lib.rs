//! A session store on Redis, single node or Redis Cluster.
//!
//! Redis is the cache engine: sessions expire through Redis's own TTLs, and
//! every operation of the store contract is one round trip.
//!
//! - A session is one string: a header of 13 bytes or a few more (format,
//!   version, created, expires, the user ID's length; [`value`] has the
//!   layout, and reads values of the earlier format with fixed widths),
//!   the user ID and the data, under `<prefix>{<key>}` where
//!   `<key>` is 16 characters (96 bits) of the store key's digest, which
//!   keeps the key within Redis's smallest allocation for it (a clash of
//!   two live sessions is as likely as one in 10¹¹ for a billion of them,
//!   and is refused as a duplicate, so the manager draws another ID); the
//!   braces make it the key's hash tag, so the same code runs on a
//!   cluster. A session costs Redis within a few bytes of what the data
//!   itself does (see BENCHMARKS.md).
//! - `load` is one `GET` (or, under load, a share of an `MGET`: below).
//! - `create`, `update` and `touch` are Lua scripts (or a plain `SET … NX`
//!   for an anonymous create): `create` inserts only if absent, `update`
//!   compares the stored version in the same step as it writes and refuses
//!   a missing key (a compare-and-swap with no `WATCH` loop), `touch`
//!   moves the expiry alone. The scripts are the functions of one Redis
//!   library, which the store loads (`FUNCTION LOAD`) the first time Redis
//!   lacks it and calls with `FCALL`, so a call does not define the
//!   scripts' helpers again (about a microsecond less of Redis's CPU a
//!   call, see BENCHMARKS.md). The library is named
//!   `session_store_<digest of its code>`: each release calls its own, and
//!   [`RedisStore::remove_old_libraries`] (`session-cli migrate`) removes
//!   the ones older releases loaded (an instance of such a release still
//!   running loads its own again on its next call). Where Redis refuses functions (an
//!   ACL without `FCALL` or `FUNCTION`, a proxy), the store runs the same
//!   scripts with `EVALSHA`.
//! - The user index lists each user's sessions, each entry kept until its
//!   session's expiry rounded up to the hour; a save that keeps the user
//!   and the hour leaves it alone. On a single node all users' entries
//!   share buckets (sorted sets under `<prefix>i:<n>`, as many as the
//!   entries need: they split as they fill, by linear hashing on a hash
//!   of the user ID), so an entry costs about 45 bytes rather than a key
//!   of its own, and a write that binds a session adds its entry in the
//!   same script. On a cluster (where the index and the session sit in
//!   different slots) each user has a sorted set (`<prefix>u:{<user>}`),
//!   and the entry is written before the script and again after it, so
//!   every session of a user is listed from the moment the write returns,
//!   even if the index was pruned while the write ran. Entries go when
//!   their score has passed; entries of ended sessions are skipped when
//!   the index is read and, on a single node, removed by a script that
//!   checks in the same step that the session is not (or not yet) bound to
//!   the user. The index keys carry no TTL of their own: run Redis with
//!   `maxmemory-policy` `noeviction` or a `volatile-*` policy (an
//!   `allkeys-*` policy may evict an index, and the sessions it listed
//!   would no longer be found by user). [`RedisStore::check_index`]
//!   (`session-cli check`) finds bound sessions their user's index does
//!   not list, and [`RedisStore::end_unlisted`] (`session-cli migrate
//!   --end-unlisted`) ends them.
//! - Sessions written by the 0.1 releases (a hash per session under the
//!   whole hex key, a plain set per user) still load: each moves to the
//!   current layout the first time it is loaded or listed, and
//!   [`RedisStore::migrate`] (`session-cli migrate`) moves them all. So do
//!   per-user indexes a single node kept before the shared buckets.
//! - On a single node, loads that arrive while others run share one
//!   `MGET` (up to four in flight), and saves one call of a script that
//!   makes each as `update` would, in turn, and answers each: Redis parses
//!   one command and starts one script for a batch. A batch takes only
//!   what is waiting when it starts, so a load sees every save answered
//!   before it; a batch that fails sends its operations back to run alone.
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

mod batch;
mod builder;
mod conn;
pub mod django_cache;
mod index;
mod index_check;
mod legacy;
mod libraries;
mod scan;
mod scripts;
mod store;
pub mod value;

pub use builder::RedisStoreBuilder;
pub use django_cache::DjangoCacheStore;
pub use index_check::IndexCheck;
pub use store::RedisStore;
