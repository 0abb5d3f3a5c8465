//! Small helpers that tests of stores, adapters and tools share.
//!
//! ```
//! # session_conformance::block_on(async {
//! use session_core::{KeyRing, SessionManager};
//! let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([8u8; 32]).unwrap());
//! let (cookie, key) = session_conformance::fixtures::new_session(&manager, "user_id", 1).await;
//! assert!(cookie.starts_with("session="));
//! assert!(manager.store().load(&key).await.unwrap().is_some());
//! # });
//! ```

use serde::Serialize;
use session_core::time::Duration;
use session_core::{Record, RequestSession, SessionManager, StoreKey};

/// A version-1 record under a fresh key, holding `{"n":1}`, created ten
/// seconds ago and expiring `expires_in` from now (in the past when
/// negative), bound to `user`: what a store's tests insert.
///
/// ```
/// use session_conformance::fixtures::record;
/// use session_core::time::Duration;
/// let expired = record(Duration::seconds(-5), Some("alice"));
/// assert!(!expired.is_live_at(session_core::now()));
/// assert_ne!(expired.key, record(Duration::seconds(-5), None).key);
/// ```
pub fn record(expires_in: Duration, user: Option<&str>) -> Record {
    crate::store::record(&crate::store::fresh_key(), br#"{"n":1}"#, expires_in, user)
}

/// Finishes `request` (status 200) and returns the `name=value` of the
/// cookie it set, as the client would send it next.
///
/// # Panics
///
/// When saving fails or no cookie was set (this is for tests).
///
/// ```
/// # session_conformance::block_on(async {
/// use session_conformance::fixtures;
/// use session_core::{KeyRing, SessionManager};
/// let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([8u8; 32]).unwrap());
/// let request = manager.request(None);
/// request.load().await.unwrap().insert("n", 1).unwrap();
/// let cookie = fixtures::finish(&request).await;
/// assert!(cookie.starts_with("session=") && !cookie.contains(';'));
/// # });
/// ```
pub async fn finish(request: &RequestSession) -> String {
    request
        .finish(200)
        .await
        .expect("finish")
        .cookie_pair()
        .map(str::to_owned)
        .expect("the request set a cookie")
}

/// Runs one request that stores `key = value` in a new session; returns
/// the cookie to send back (`name=value`) and the session's store key.
///
/// # Panics
///
/// When the store fails (this is for tests).
///
/// ```
/// # session_conformance::block_on(async {
/// use session_conformance::fixtures;
/// use session_core::{KeyRing, SessionManager};
/// let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([8u8; 32]).unwrap());
/// let (cookie, _key) = fixtures::new_session(&manager, "user_id", 7).await;
/// let session = manager.request([cookie.as_str()]).load().await.unwrap();
/// assert_eq!(session.get::<u32>("user_id").unwrap(), Some(7));
/// # });
/// ```
pub async fn new_session(
    manager: &SessionManager,
    key: &str,
    value: impl Serialize,
) -> (String, StoreKey) {
    let request = manager.request(None);
    let session = request.load().await.expect("load");
    session.insert(key, value).expect("insert");
    let cookie = finish(&request).await;
    let store_key = session.store_key().expect("the session was stored");
    (cookie, store_key)
}

/// Runs `writers` concurrent requests on the session of `cookie`, request
/// `i` storing `k{i} = i`, and waits for all of them.
///
/// # Panics
///
/// When a request fails (this is for tests).
///
/// ```
/// # session_conformance::block_on(async {
/// use session_conformance::fixtures;
/// use session_core::{KeyRing, SessionManager};
/// let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([8u8; 32]).unwrap());
/// let (cookie, _) = fixtures::new_session(&manager, "seed", 0).await;
/// fixtures::write_concurrently(&manager, &cookie, 8).await;
/// let session = manager.request([cookie.as_str()]).load().await.unwrap();
/// assert_eq!(session.len(), 9, "every writer's key landed");
/// # });
/// ```
pub async fn write_concurrently(manager: &SessionManager, cookie: &str, writers: usize) {
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let (manager, cookie) = (manager.clone(), cookie.to_owned());
            tokio::spawn(async move {
                let request = manager.request([cookie.as_str()]);
                request
                    .load()
                    .await
                    .expect("load")
                    .insert(&format!("k{i}"), i)
                    .expect("insert");
                request.finish(200).await.expect("finish");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
}

/// Saves every one of `records` (created at version 1) at the same moment,
/// each as version 2 holding `{"n":2}`: how a test of a batching store
/// makes saves arrive together. [`load_all_at_once`] loads them back.
///
/// # Panics
///
/// When a save does not land.
///
/// ```
/// # session_conformance::block_on(async {
/// use session_conformance::fixtures::{load_all_at_once, record, save_all_at_once};
/// use session_core::SessionStore;
/// let store = std::sync::Arc::new(session_store_memory::MemoryStore::new());
/// let records = vec![record(session_core::time::Duration::hours(1), None)];
/// store.create(&records[0]).await.unwrap();
/// save_all_at_once(&store, &records).await;
/// load_all_at_once(&store, &records).await;
/// # });
/// ```
pub async fn save_all_at_once<S: session_core::SessionStore>(
    store: &std::sync::Arc<S>,
    records: &[Record],
) {
    let saved = records.iter().map(|r| Record {
        version: 2,
        data: br#"{"n":2}"#.to_vec(),
        ..r.clone()
    });
    let saves = all_at_once(store, saved, |store, saved| async move {
        store.update(&saved, 1).await
    });
    for save in saves.await {
        save.expect("a save over the stored version lands");
    }
}

/// Loads every one of `records` at the same moment, requiring each as
/// [`save_all_at_once`] left it (version 2, `{"n":2}`).
///
/// # Panics
///
/// When a load fails or gives back anything else.
pub async fn load_all_at_once<S: session_core::SessionStore>(
    store: &std::sync::Arc<S>,
    records: &[Record],
) {
    let keys = records.iter().map(|r| r.key.clone());
    let loads = all_at_once(
        store,
        keys,
        |store, key| async move { store.load(&key).await },
    );
    for load in loads.await {
        let loaded = load.expect("load").expect("a live session");
        assert_eq!((loaded.version, &loaded.data[..]), (2, &br#"{"n":2}"#[..]));
    }
}

/// Runs `op` on `store` for each of `inputs`, each in a task of its own
/// and all released together by one barrier; answers their results in
/// order.
async fn all_at_once<S, I, F, Fut>(
    store: &std::sync::Arc<S>,
    inputs: impl ExactSizeIterator<Item = I>,
    op: F,
) -> Vec<Fut::Output>
where
    S: session_core::SessionStore,
    I: Send + 'static,
    F: Fn(std::sync::Arc<S>, I) -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(inputs.len()));
    let tasks: Vec<_> = inputs
        .map(|input| {
            let barrier = std::sync::Arc::clone(&barrier);
            let run = op(std::sync::Arc::clone(store), input);
            tokio::spawn(async move {
                barrier.wait().await;
                run.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("a task of the batch"));
    }
    results
}

/// Loads the session of `cookie` from a store that cannot answer (its
/// engine cut off, stalled or locked), requiring a 503 within `most`.
///
/// # Panics
///
/// When the load succeeds, fails otherwise, hangs (30 s), or takes
/// `most` or longer: the store does not bound its wait.
///
/// ```
/// # session_conformance::block_on(async {
/// use session_conformance::{counting::CountingStore, fixtures};
/// use session_core::{KeyRing, SessionManager};
/// let store = CountingStore::new(session_store_memory::MemoryStore::new());
/// let manager = SessionManager::new(store.clone(), KeyRing::new([8u8; 32]).unwrap());
/// let (cookie, _) = fixtures::new_session(&manager, "n", 1).await;
/// store.set_down(true); // as if its engine had gone away
/// fixtures::load_is_unavailable(&manager, &cookie, std::time::Duration::from_secs(1)).await;
/// # });
/// ```
pub async fn load_is_unavailable(
    manager: &SessionManager,
    cookie: &str,
    most: std::time::Duration,
) {
    let started = std::time::Instant::now();
    let request = manager.request([cookie]);
    let err = tokio::time::timeout(std::time::Duration::from_secs(30), request.load())
        .await
        .expect("the load hung")
        .expect_err("the load succeeded from a store that cannot answer");
    assert_eq!(err.status_code(), 503, "{err}");
    let elapsed = started.elapsed();
    assert!(
        elapsed < most,
        "the store did not bound its wait: {elapsed:?}"
    );
}

/// Loads the session of `cookie` again and again (up to 10 s) until the
/// store answers: for tests that cut an engine off and bring it back.
///
/// # Errors
///
/// The last failure, when the store never recovered.
///
/// ```
/// # session_conformance::block_on(async {
/// use session_conformance::fixtures;
/// use session_core::{KeyRing, SessionManager};
/// let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([8u8; 32]).unwrap());
/// let (cookie, _) = fixtures::new_session(&manager, "n", 1).await;
/// // After cutting the engine off and restoring it:
/// let session = fixtures::load_once_recovered(&manager, &cookie).await.expect("recovered");
/// assert_eq!(session.get::<u32>("n").unwrap(), Some(1));
/// # });
/// ```
pub async fn load_once_recovered(
    manager: &SessionManager,
    cookie: &str,
) -> Result<session_core::Session, session_core::SessionError> {
    let mut attempts = 40;
    loop {
        match manager.request([cookie]).load().await {
            Ok(session) => return Ok(session),
            Err(e) if attempts == 0 => return Err(e),
            Err(_) => attempts -= 1,
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// A log sink for tests: an [`io::Write`](std::io::Write) that keeps what
/// is written to it, to give `tracing_subscriber::fmt().with_writer(…)`
/// (each clone writes to the same buffer).
///
/// ```
/// use std::io::Write;
/// let logs = session_conformance::fixtures::CapturedLogs::default();
/// let mut writer = logs.clone();
/// writer.write_all(b"a line\n")?;
/// assert_eq!(logs.take(), "a line\n");
/// assert_eq!(logs.take(), "", "taken");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// What was written since the last call (invalid UTF-8 replaced).
    pub fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
