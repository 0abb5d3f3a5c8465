//! What operators see: metrics counters and log lines, over a whole
//! session lifetime (create, load, conflicting saves, touch, rotation,
//! logout).

use std::sync::{Arc, Mutex};

use session_core::time::Duration;
use session_core::{ExpiryRules, KeyRing, SessionManager};
use session_store_memory::MemoryStore;

/// Runs a session through every operation; returns the raw IDs it used.
async fn lifetime() -> Vec<String> {
    let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([3u8; 32]).unwrap())
        .expiry(ExpiryRules::default().touch_interval(Duration::ZERO))
        .build()
        .unwrap();
    let mut ids = Vec::new();
    let raw = |cookie: &str| {
        cookie
            .split_once('=')
            .unwrap()
            .1
            .split('.')
            .next()
            .unwrap()
            .to_owned()
    };
    // Create.
    let request = manager.request(None);
    request.load().await.unwrap().insert("a", 1).unwrap();
    let cookie = request.finish(200).await.unwrap().cookie_pair.unwrap();
    ids.push(raw(&cookie));
    // Two saves of one version: one conflict, retried.
    let (x, y) = (
        manager.request([cookie.as_str()]),
        manager.request([cookie.as_str()]),
    );
    x.load().await.unwrap().insert("x", 1).unwrap();
    y.load().await.unwrap().insert("y", 1).unwrap();
    x.finish(200).await.unwrap();
    y.finish(200).await.unwrap();
    // A read a second later extends the expiry (touch).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap();
    request.finish(200).await.unwrap();
    // Rotation, then logout.
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().cycle_id();
    let cookie = request.finish(200).await.unwrap().cookie_pair.unwrap();
    ids.push(raw(&cookie));
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().destroy();
    request.finish(200).await.unwrap();
    // A forged cookie.
    manager
        .request(["session=forged.tag"])
        .load()
        .await
        .unwrap();
    ids
}

#[cfg(feature = "metrics")]
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

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_raw_session_id_reaches_the_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let ids = tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(lifetime())
    });
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("session_store"),
        "store spans are logged:\n{text}"
    );
    assert!(
        text.contains("concurrent save"),
        "conflicts are logged:\n{text}"
    );
    for id in ids {
        assert!(
            !text.contains(&id),
            "a raw session ID reached the log:\n{text}"
        );
        assert!(
            !text.contains(&id[..12]),
            "part of a raw session ID reached the log:\n{text}"
        );
    }
}
