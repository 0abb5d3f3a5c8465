//! An in-process session store.
//!
//! [`MemoryStore`] keeps sessions in the application's memory: the fastest
//! engine, and the right one for tests, development and single-process
//! services that can afford to log everybody out on restart.
//!
//! - **Sharded**: records are spread over independently locked shards, so
//!   concurrent requests rarely wait for each other.
//! - **Bounded**: it holds at most [`capacity`](MemoryStoreBuilder::capacity)
//!   sessions (default 100 000). When a shard is full, expired records go
//!   first; then, by default, the anonymous session closest to expiry is
//!   evicted, and a logged-in user's session never is: with no anonymous
//!   session left to evict, the new one is refused with
//!   [`StoreError::Unavailable`](session_core::StoreError::Unavailable) ([`WhenFull::EvictAnonymous`]). A client
//!   that creates sessions in a loop can so push out only other anonymous
//!   sessions. [`WhenFull::EvictSoonestExpiring`] (a cache's policy) and
//!   [`WhenFull::Reject`] are the alternatives.
//! - **Swept**: expired records are removed when a shard fills up, and
//!   by a background task every minute when the store is built inside a
//!   Tokio runtime. The task stops when the last clone of the store is
//!   dropped.
//! - **Not durable**: the sessions live and die with the process.
//! - **User index**: [`UserIndex::sessions_of`](session_core::UserIndex::sessions_of) and
//!   [`UserIndex::delete_sessions_of`](session_core::UserIndex::delete_sessions_of) answer from an index, not a scan.
//!
//! ```
//! use session_core::{KeyRing, SessionManager};
//! use session_store_memory::{MemoryStore, WhenFull};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::builder()
//!     .capacity(10_000)
//!     .when_full(WhenFull::Reject)
//!     .build();
//! let manager = SessionManager::new(store.clone(), KeyRing::new([3u8; 32])?);
//!
//! let request = manager.request(None);
//! request.load().await?.insert("hello", "world")?;
//! request.finish(200).await?;
//! assert_eq!(store.len(), 1);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod shard;
mod store;
#[cfg(test)]
mod tests;

pub use builder::{MemoryStoreBuilder, WhenFull};
pub use store::MemoryStore;
