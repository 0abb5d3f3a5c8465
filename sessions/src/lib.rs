//! Server-side web sessions for Rust: one dependency, with the storage
//! engine and the web framework chosen by feature flags.
//!
//! | feature | gives you |
//! |---|---|
//! | `memory` (default) | [`MemoryStore`]: in-process, bounded, swept |
//! | `sqlite` (default) | [`SqlStore`] on SQLite: the embedded default, no server |
//! | `file` | [`FileStore`]: one file per session |
//! | `postgres` | [`SqlStore`] on PostgreSQL |
//! | `mysql` | [`SqlStore`] on MySQL/MariaDB |
//! | `redis` | [`RedisStore`]: Redis single node or cluster |
//! | `axum` | [`axum`]: `SessionLayer` and the `Session` extractor |
//! | `actix` | [`actix`]: `SessionMiddleware` and the `Session` extractor |
//! | `rocket` | [`rocket`]: `SessionFairing` and the `Session` guard |
//! | `django` | Django's session formats (`django` module) and the manager's Django mode; with a SQL engine, `DjangoSqlStore` on Django's table |
//! | `cookie-store` | `SessionManager::encrypted_cookies`: each session whole in an encrypted cookie, no store |
//! | `metrics` | the core's counters and histograms (see [`observe`]) |
//!
//! Everything of `session-core` is re-exported at the root ([`Session`],
//! [`SessionManager`], [`KeyRing`], …), and `open_store` opens any enabled
//! engine from a URL, as the demo and the CLI do (with any store feature).
//! [`spawn_expired_cleanup`] sweeps expired sessions in the background for
//! engines without native expiry. The `metrics` feature turns on the core's
//! counters (see [`observe`]).
//!
//! ```toml
//! [dependencies]
//! sessions = { version = "0.1", features = ["axum", "postgres"] }
//! ```
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = sessions::open_store("memory:").await?;
//! let manager = sessions::SessionManager::new(store, sessions::KeyRing::new([2u8; 32])?);
//! let request = manager.request(None);
//! request.load().await?.insert("user_id", 1)?;
//! assert!(request.finish(200).await?.set_cookie.is_some());
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cleanup;

/// Puts one `cfg` on each of several items.
macro_rules! cfg_items {
    (#[$cfg:meta] $($item:item)*) => { $( #[$cfg] $item )* };
}

cfg_items! {
    #[cfg(any(
        feature = "memory",
        feature = "file",
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "redis"
    ))]
    mod any_store;
    mod store_url;
    pub use any_store::{AnyStore, OpenError, open_store};
    pub use store_url::StoreUrl;
}

cfg_items! {
    #[cfg(all(
        feature = "django",
        feature = "redis",
        any(feature = "sqlite", feature = "postgres")
    ))]
    mod django_cached_db;
    pub use django_cached_db::DjangoCachedDbStore;
}

pub use cleanup::{CleanupError, CleanupTask, spawn_expired_cleanup};
pub use session_core::*;
#[cfg(feature = "file")]
pub use session_store_file::FileStore;
#[cfg(feature = "memory")]
pub use session_store_memory::{MemoryStore, WhenFull};
#[cfg(feature = "redis")]
pub use session_store_redis::{RedisStore, django_cache};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use session_store_sql::{DjangoSqlStore, SqlStore};

/// The axum adapter (feature `axum`); see [`session_axum`].
#[cfg(feature = "axum")]
pub mod axum {
    pub use session_axum::*;
}

/// The actix-web adapter (feature `actix`); see [`session_actix`].
#[cfg(feature = "actix")]
pub mod actix {
    pub use session_actix::*;
}

/// The rocket adapter (feature `rocket`); see [`session_rocket`].
#[cfg(feature = "rocket")]
pub mod rocket {
    pub use session_rocket::*;
}

/// The README's examples, compiled as doctests.
#[cfg(all(doctest, feature = "axum", feature = "sqlite"))]
#[doc = include_str!("../../README.md")]
mod readme {}

/// The Django guide's example, compiled as a doctest.
#[cfg(all(doctest, feature = "axum", feature = "postgres", feature = "django"))]
#[doc = include_str!("../../docs/django.md")]
mod django_guide {}
