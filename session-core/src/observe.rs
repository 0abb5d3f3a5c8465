//! What the session layer tells operators: `tracing` spans and events, and
//! (with the `metrics` feature) counters and histograms through the
//! [`metrics`](https://docs.rs/metrics) facade, for any recorder you install.
//!
//! Log lines and spans carry only hashed session IDs (the `session` field is
//! the first 16 hex digits of the ID's SHA-256, see
//! [`SessionId::log_key`](crate::SessionId::log_key)), never an ID or a
//! cookie. Store operations run inside a `session_store` span (level DEBUG)
//! with fields `op` and `session`.
//!
//! # Metrics (feature `metrics`, off by default)
//!
//! | name | kind | labels | counts |
//! |---|---|---|---|
//! | `session_loads_total` | counter | | sessions read from the store (a verified cookie) |
//! | `session_saves_total` | counter | | successful creates and updates |
//! | `session_created_total` | counter | | new sessions stored |
//! | `session_ended_total` | counter | | sessions deleted (logout, flush, rotation, emptied, revoked) |
//! | `session_touches_total` | counter | | expiry extensions |
//! | `session_conflicts_retried_total` | counter | | saves re-applied after a concurrent save |
//! | `session_store_errors_total` | counter | `op` | store failures (not contract answers such as a conflict) |
//! | `session_store_latency_seconds` | histogram | `op` | time of each store operation |
//!
//! `op` is one of `load`, `create`, `update`, `touch`, `delete`.

use std::future::Future;

use tracing::Instrument;

use crate::{SessionId, StoreError};

pub(crate) const LOADS: &str = "session_loads_total";
pub(crate) const SAVES: &str = "session_saves_total";
pub(crate) const CREATED: &str = "session_created_total";
pub(crate) const ENDED: &str = "session_ended_total";
pub(crate) const TOUCHES: &str = "session_touches_total";
pub(crate) const CONFLICTS: &str = "session_conflicts_retried_total";
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const STORE_ERRORS: &str = "session_store_errors_total";
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const STORE_LATENCY: &str = "session_store_latency_seconds";

/// Adds `n` to the counter `name`.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn count(name: &'static str, n: u64) {
    #[cfg(feature = "metrics")]
    metrics::counter!(name).increment(n);
}

/// Runs a store operation inside a `session_store` span, timing it and
/// counting its failures.
///
/// The log key (a digest of the ID) is only computed when the span or the
/// failure event is actually recorded.
pub(crate) async fn store_op<T, F>(
    op: &'static str,
    id: &SessionId,
    fut: F,
) -> Result<T, StoreError>
where
    F: Future<Output = Result<T, StoreError>>,
{
    let span =
        tracing::debug_span!(target: "session_core", "session_store", op, session = %LogKey(id));
    #[cfg(feature = "metrics")]
    let start = std::time::Instant::now();
    let result = fut.instrument(span).await;
    #[cfg(feature = "metrics")]
    {
        metrics::histogram!(STORE_LATENCY, "op" => op).record(start.elapsed().as_secs_f64());
        if let Err(e) = &result
            && !matches!(
                e,
                StoreError::NotFound | StoreError::Conflict | StoreError::Duplicate
            )
        {
            metrics::counter!(STORE_ERRORS, "op" => op).increment(1);
        }
    }
    if let Err(e) = &result
        && !matches!(
            e,
            StoreError::NotFound | StoreError::Conflict | StoreError::Duplicate
        )
    {
        tracing::warn!(target: "session_core", op, session = %LogKey(id), error = %e, "session store operation failed");
    }
    result
}

/// Displays an ID's log key, computing the digest only when a span or an
/// event is actually recorded (field values are evaluated eagerly when
/// `tracing` forwards to `log`).
struct LogKey<'a>(&'a SessionId);

impl std::fmt::Display for LogKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.log_key())
    }
}
