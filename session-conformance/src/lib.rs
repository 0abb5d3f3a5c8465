//! The conformance kit for session stores.
//!
//! Every store in this workspace, and any store you write, passes the same
//! suite: each row of the store contract (see
//! [`session_core::SessionStore`]) becomes a test, plus concurrency tests
//! that drive the store through the real request lifecycle, plus random
//! sequences of store operations checked against a model of the contract
//! ([`store_model`]) and of requests checked against a model of the
//! session rules ([`request_model`]); their failures name the seed that
//! replays them.
//!
//! # Running it on your store
//!
//! In your store's tests, one macro call adds one `#[test]` per case, each
//! with a fresh store from the expression you give (it is evaluated inside
//! an async block, so it may `.await`, and may `return` to skip):
//!
//! ```ignore
//! #[cfg(test)]
//! mod tests {
//!     use super::*;
//!     session_conformance::store_tests!(MyStore::connect("…").await.unwrap());
//! }
//! ```
//!
//! Each store given to a case must start empty. Or run every case in one test:
//!
//! ```
//! # fn main() {
//! session_conformance::block_on(async {
//!     session_conformance::run_all(|| async { session_store_memory::MemoryStore::new() }).await;
//! });
//! # }
//! ```
//!
//! A failing case panics with a message naming the broken promise.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;

mod contention;
pub mod counting;
pub mod example;
pub mod fixtures;
pub mod history;
pub mod http;
pub mod proxy;
pub mod request_model;
mod rotation;
pub mod services;
pub mod store;
pub mod store_model;
pub mod tls;

/// Runs a future to completion on a fresh multi-threaded Tokio runtime
/// (the macro's tests use this, so your crate needs no Tokio of its own).
///
/// ```
/// assert_eq!(session_conformance::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
        .block_on(future)
}

/// The seed of a randomised case: `SESSION_TEST_SEED`, else a new one
/// each run (the case prints it when it fails).
pub(crate) fn seed() -> u64 {
    match std::env::var("SESSION_TEST_SEED") {
        Ok(seed) => seed.parse().expect("SESSION_TEST_SEED is a number"),
        Err(_) => rand::random(),
    }
}

/// Fails a randomised case: what went wrong, the seed that replays it,
/// and the `steps` (requests, operations) that led there, from `log`.
pub(crate) fn replay_failure(what: impl std::fmt::Display, seed: u64, steps: &str, log: &str) -> ! {
    panic!("{what}\nreplay with SESSION_TEST_SEED={seed}; the {steps} so far:\n{log}")
}

/// Runs every store case in turn, each on a fresh store from `make`.
///
/// ```no_run
/// # async fn connect() -> session_store_memory::MemoryStore { session_store_memory::MemoryStore::new() }
/// // One test that runs every case, each on a fresh store (the module docs
/// // run this on the memory store):
/// session_conformance::block_on(session_conformance::run_all(|| async { connect().await }));
/// ```
pub async fn run_all<S, F, Fut>(make: F)
where
    S: session_core::SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! run {
        ({ $make:ident } $($case:ident),* $(,)?) => { $( store::$case($make().await).await; )* };
    }
    store_cases!(run { make });
}

/// Calls macro `$m` with the given tokens followed by the names of every
/// store case (keeps [`run_all`] and [`store_tests!`] in step).
#[doc(hidden)]
#[macro_export]
macro_rules! store_cases {
    ($m:ident { $($args:tt)* }) => {
        $m!(
            { $($args)* }
            load_of_a_missing_key_is_none,
            create_then_load_gives_back_the_same_record,
            create_refuses_a_duplicate_and_keeps_the_original,
            arbitrary_bytes_and_keys_round_trip,
            update_with_the_expected_version_replaces,
            update_with_a_stale_version_conflicts,
            update_of_a_missing_record_does_not_create_it,
            update_after_delete_does_not_resurrect,
            update_of_an_expired_record_is_not_found,
            delete_removes_and_tolerates_missing,
            expired_records_do_not_load,
            records_expire_at_their_instant,
            touch_extends_expiry_without_rewriting_data,
            touch_of_a_missing_or_expired_record_is_not_found,
            delete_expired_removes_only_expired_records,
            delete_expired_batches_add_up,
            stats_count_live_expiring_and_users,
            user_index_lists_and_ends_a_users_sessions,
            user_index_lists_keys_of_every_shape,
            user_index_follows_updates_and_deletes,
            concurrent_rebinding_keeps_the_user_index_exact,
            concurrent_writers_of_one_session_all_land,
            concurrent_saves_each_get_their_own_answer,
            logout_racing_a_slow_write_stays_logged_out,
            cycle_id_retires_the_old_id,
            rotate_is_atomic_against_the_old_version,
            rotation_racing_an_end_creates_nothing,
            rotation_racing_a_write_keeps_both,
            logout_racing_a_rotation_ends_the_new_id,
            the_latest_expiry_round_trips,
            the_longest_user_id_round_trips,
            a_large_record_round_trips,
            many_sessions_in_parallel,
            random_operations_follow_the_contract,
            random_requests_follow_the_session_rules,
            concurrent_histories_keep_the_promises,
            sustained_writes_to_one_session_all_land,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_test_fns {
    ({ $make:expr } $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::block_on(async {
                    #[allow(unreachable_code, clippy::diverging_sub_expression)]
                    let store = $make;
                    $crate::store::$case(store).await;
                });
            }
        )*
    };
}

/// Adds one `#[test]` per store case, in a module called `conformance`;
/// see the [crate docs](crate).
#[macro_export]
macro_rules! store_tests {
    ($make:expr) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            use $crate::__store_test_fns as __fns;
            $crate::store_cases!(__fns { $make });
        }
    };
}

/// The user index of a store that has one (for the kit's cases, which
/// check `user_index().is_some()` first).
pub(crate) fn index<S: session_core::SessionStore + ?Sized>(
    store: &S,
) -> &dyn session_core::UserIndex {
    store.user_index().expect("the store has a user index")
}

/// The store keys `user`'s index lists, sorted (a key listed twice stays
/// twice).
pub(crate) async fn listed<S: session_core::SessionStore + ?Sized>(
    store: &S,
    user: &str,
) -> Vec<session_core::StoreKey> {
    let mut keys: Vec<session_core::StoreKey> = index(store)
        .sessions_of(user)
        .await
        .expect("sessions_of")
        .into_iter()
        .map(|s| s.key)
        .collect();
    keys.sort();
    keys
}
