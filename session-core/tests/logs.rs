//! What operators see in logs over a whole session lifetime: spans and
//! events, and never a raw session ID.

use session_core::SessionStore;

mod support;
use session_conformance::fixtures::CapturedLogs;
use support::lifetime;

#[test]
fn no_raw_session_id_reaches_the_logs() {
    let logs = CapturedLogs::default();
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
    let text = logs.take();
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

#[tokio::test(flavor = "current_thread")]
async fn rejected_cookies_and_bad_data_are_logged_without_the_raw_id() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store =
        session_conformance::counting::CountingStore::new(session_store_memory::MemoryStore::new());
    let manager = session_core::SessionManager::new(
        store.clone(),
        session_core::KeyRing::new([5u8; 32]).unwrap(),
    );
    let (cookie, _) = session_conformance::fixtures::new_session(&manager, "user_id", 1).await;
    let raw_id = cookie
        .strip_prefix("session=")
        .unwrap()
        .split_once('.')
        .unwrap()
        .0
        .to_owned();
    let forged = format!("{}x", &cookie[..cookie.len() - 1]);
    manager.request([forged.as_str()]).load().await.unwrap();
    let mut text = logs.take();
    assert!(text.contains("signature does not verify"), "{text}");

    let key = manager
        .request([cookie.as_str()])
        .load()
        .await
        .unwrap()
        .store_key()
        .unwrap();
    let record = store.inner().load(&key).await.unwrap().unwrap();
    store
        .inner()
        .update(
            &session_core::Record {
                data: b"{broken".to_vec(),
                version: 2,
                ..record
            },
            1,
        )
        .await
        .unwrap();
    manager.request([cookie.as_str()]).load().await.unwrap();
    text += &logs.take();
    assert!(text.contains("undecodable session data"), "{text}");
    assert!(
        !text.contains(&raw_id),
        "a raw session ID reached the log:\n{text}"
    );
}
