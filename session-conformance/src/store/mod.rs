//! The store cases: one async function per promise of the store contract.
//!
//! Each takes a fresh, empty store and panics with a message naming the
//! broken promise. Run them all with [`store_tests!`](crate::store_tests) or
//! [`run_all`](crate::run_all).

use std::time::Duration as StdDuration;

use session_core::time::{Duration, OffsetDateTime};
use session_core::{
    KeyRing, Record, Session, SessionId, SessionManager, SessionStore, StoreKey, now,
};

pub use crate::contention::sustained_writes_to_one_session_all_land;
pub use crate::history::concurrent_histories_keep_the_promises;
pub use crate::request_model::random_requests_follow_the_session_rules;
pub use crate::rotation::{
    logout_racing_a_rotation_ends_the_new_id, rotate_is_atomic_against_the_old_version,
    rotation_racing_a_write_keeps_both, rotation_racing_an_end_creates_nothing,
};
pub use crate::store_model::random_operations_follow_the_contract;

mod basics;
mod concurrency;
mod expiry;
mod limits;
mod user_index;

pub use basics::*;
pub use concurrency::*;
pub use expiry::*;
pub use limits::*;
pub use user_index::*;

pub(crate) fn fresh_key() -> StoreKey {
    SessionId::generate().store_key()
}

pub(crate) fn record(
    key: &StoreKey,
    data: &[u8],
    expires_in: Duration,
    user: Option<&str>,
) -> Record {
    let now = now();
    Record {
        key: key.clone(),
        data: data.to_vec(),
        version: 1,
        created_at: now - Duration::seconds(10),
        expires_at: now + expires_in,
        user: user.map(str::to_owned),
    }
}

pub(crate) fn next(record: &Record, data: &[u8]) -> Record {
    Record {
        data: data.to_vec(),
        version: record.version + 1,
        ..record.clone()
    }
}

/// A record (or its absence) in full, data included, for a failure
/// message: `Record`'s own `Debug` shows only the data's length, which
/// would hide the difference between two records of the same size.
pub(crate) fn shown(record: Option<&Record>) -> String {
    const SHOWN: usize = 200;
    let Some(r) = record else {
        return "no record".to_owned();
    };
    let data = r.data.get(..SHOWN).unwrap_or(&r.data).escape_ascii();
    let more = if r.data.len() > SHOWN { "…" } else { "" };
    format!(
        "{{ key: {}, data: b\"{data}{more}\" ({} bytes), version: {}, created_at: {}, \
         expires_at: {}, user: {:?} }}",
        r.key,
        r.data.len(),
        r.version,
        r.created_at,
        r.expires_at,
        r.user
    )
}

/// Whether what a store holds under a rotated-out key is no session: none
/// at all, or the manager's forward (bound to nobody, no session data).
pub(crate) fn holds_no_session(record: Option<Record>) -> bool {
    record.is_none_or(|r| {
        r.user.is_none()
            && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&r.data)
                .is_ok_and(|data| data.keys().all(|k| k == "_session_moved"))
    })
}

/// Panics with `what` and both records in full unless they are equal.
pub(crate) fn assert_same(got: Option<&Record>, want: Option<&Record>, what: &str) {
    assert!(
        got == want,
        "{what}\n got: {}\nwant: {}",
        shown(got),
        shown(want)
    );
}

pub(crate) fn manager(store: impl SessionStore) -> SessionManager {
    SessionManager::new(store, KeyRing::new([42u8; 32]).expect("a 32-byte key"))
}

/// Runs one request with `cookie` through `manager`, letting `handler` work
/// on the session; returns the cookie to send next time (if any).
pub(crate) async fn request<F: FnOnce(&Session)>(
    manager: &SessionManager,
    cookie: Option<&str>,
    handler: F,
) -> Option<String> {
    let request = manager.request(cookie);
    let session = request.load().await.expect("load");
    handler(&session);
    let response = request.finish(200).await.expect("finish");
    response
        .cookie_pair()
        .map(str::to_owned)
        .or_else(|| cookie.map(str::to_owned))
}

pub(crate) async fn sleep_until(at: OffsetDateTime) {
    let wait = at - OffsetDateTime::now_utc();
    if wait > Duration::ZERO {
        tokio::time::sleep(StdDuration::from_millis(wait.whole_milliseconds() as u64)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_comparison_shows_both_records_data() {
        let key = fresh_key();
        let got = record(&key, b"original", Duration::hours(1), None);
        let want = record(&key, b"intruder", Duration::hours(1), None);
        let message = std::panic::catch_unwind(|| assert_same(Some(&got), Some(&want), "differ"))
            .expect_err("records with different data must not pass")
            .downcast::<String>()
            .expect("a formatted message");
        assert!(message.starts_with("differ\n"), "{message}");
        assert!(
            message.contains(r#"data: b"original" (8 bytes)"#),
            "{message}"
        );
        assert!(
            message.contains(r#"data: b"intruder" (8 bytes)"#),
            "{message}"
        );
        assert_same(Some(&got), Some(&got.clone()), "equal records pass");
    }

    #[test]
    fn long_data_is_cut_and_bytes_are_escaped() {
        let mut data = vec![b'a'; 300];
        data[0] = 0;
        let shown = shown(Some(&record(&fresh_key(), &data, Duration::hours(1), None)));
        assert!(
            shown.contains(&format!("b\"\\x00{}…\" (300 bytes)", "a".repeat(199))),
            "{shown}"
        );
        assert_eq!(super::shown(None), "no record");
    }
}
