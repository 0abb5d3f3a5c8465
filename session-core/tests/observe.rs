//! What operators see in metrics over a whole session lifetime (create,
//! load, conflicting saves, touch, rotation, logout).
#![cfg(feature = "metrics")]

mod support;
use support::lifetime;

#[test]
fn counters_follow_the_lifecycle() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(lifetime());
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str| -> u64 {
        snapshot
            .iter()
            .filter(|(key, _, _, _)| key.key().name() == name)
            .map(|(_, _, _, value)| match value {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum()
    };
    assert_eq!(
        counter("session_created_total"),
        2,
        "the first session and the rotated one"
    );
    assert_eq!(counter("session_conflicts_retried_total"), 1);
    assert_eq!(
        counter("session_saves_total"),
        4,
        "two creates, two updates"
    );
    assert_eq!(counter("session_touches_total"), 1);
    assert_eq!(
        counter("session_ended_total"),
        2,
        "the rotated-away ID and the logout"
    );
    assert_eq!(
        counter("session_loads_total"),
        6,
        "one per request with a verified cookie, and the reload after the conflict"
    );
    assert_eq!(counter("session_store_errors_total"), 0);
    let latency = snapshot
        .iter()
        .filter(|(key, _, _, _)| key.key().name() == "session_store_latency_seconds")
        .map(|(_, _, _, value)| match value {
            DebugValue::Histogram(v) => v.len(),
            _ => 0,
        })
        .sum::<usize>();
    assert!(latency >= 12, "every store operation is timed ({latency})");
}
