//! A background task that removes expired sessions, for engines without
//! native expiry (SQL, files). Django's `clearsessions`, on a timer.

use std::time::Duration;

use session_core::SessionStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The running cleanup task; see [`spawn_expired_cleanup`]. Dropping it
/// stops the task at once; [`stop`](Self::stop) lets a sweep in progress
/// finish first.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = sessions::open_store("memory:").await?;
/// let cleanup = sessions::spawn_expired_cleanup(store, std::time::Duration::from_secs(600))?;
/// drop(cleanup); // stops the task at once
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CleanupTask {
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl CleanupTask {
    /// Stops the task, waiting for a sweep in progress to finish.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = sessions::open_store("memory:").await?;
    /// let cleanup = sessions::spawn_expired_cleanup(store, std::time::Duration::from_millis(10))?;
    /// tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    /// cleanup.stop().await; // returns once no sweep is running
    /// # Ok(()) }
    /// ```
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }

    /// Lets the task run on its own until the runtime shuts down, for an
    /// application that sweeps for as long as it serves and has nowhere to
    /// keep the handle.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = sessions::open_store("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// sessions::spawn_expired_cleanup(store, std::time::Duration::from_secs(3600))?.detach();
    /// # Ok(()) }
    /// ```
    pub fn detach(mut self) {
        // Dropping the sender unsent disables the task's stop branch, and
        // a JoinHandle dropped without `abort` leaves its task running.
        self.stop.take();
        self.handle.take();
    }
}

impl Drop for CleanupTask {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// Why [`spawn_expired_cleanup`] could not start the task.
///
/// ```
/// let store = sessions::MemoryStore::new();
/// let err = sessions::spawn_expired_cleanup(store, std::time::Duration::ZERO).unwrap_err();
/// assert_eq!(err, sessions::CleanupError::ZeroInterval);
/// assert_eq!(err.to_string(), "the expired-session cleanup interval must be above zero");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CleanupError {
    /// Called outside a Tokio runtime, so there is nothing to run the task on.
    NoRuntime,
    /// The interval was zero: the task would sweep without pause.
    ZeroInterval,
}

impl std::fmt::Display for CleanupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoRuntime => {
                "the expired-session cleanup needs a Tokio runtime: start it from async code"
            }
            Self::ZeroInterval => "the expired-session cleanup interval must be above zero",
        })
    }
}

impl std::error::Error for CleanupError {}

/// Sweeps `store` every `every` on the current Tokio runtime, logging what
/// it removed (and failures, which do not stop it). Stores that expire
/// sessions themselves (Redis) need no sweeping: the task then ends at once.
/// The memory store runs a sweeper of its own (its builder's
/// `sweep_every`), so a task over it only repeats that work.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = sessions::open_store("sqlite::memory:").await?;
/// store.migrate().await?;
/// let cleanup = sessions::spawn_expired_cleanup(store.clone(), std::time::Duration::from_secs(3600))?;
/// // … serve requests …
/// cleanup.stop().await;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`CleanupError::NoRuntime`] outside a Tokio runtime (where
/// `tokio::spawn` would panic), [`CleanupError::ZeroInterval`] for a zero
/// `every`.
///
/// ```
/// let store = sessions::MemoryStore::new();
/// let outside = sessions::spawn_expired_cleanup(store, std::time::Duration::from_secs(60));
/// assert_eq!(outside.unwrap_err(), sessions::CleanupError::NoRuntime);
/// ```
pub fn spawn_expired_cleanup<S: SessionStore>(
    store: S,
    every: Duration,
) -> Result<CleanupTask, CleanupError> {
    if every.is_zero() {
        return Err(CleanupError::ZeroInterval);
    }
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| CleanupError::NoRuntime)?;
    let (stop_tx, mut stop_rx) = oneshot::channel();
    let handle = runtime.spawn(async move {
        if store.expires_natively() {
            tracing::debug!(target: "sessions", "the store expires sessions itself; no cleanup task needed");
            return;
        }
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Set once the handle is detached: the sender is gone unsent, and
        // a finished receiver must not be polled again.
        let mut detached = false;
        loop {
            tokio::select! {
                stopped = &mut stop_rx, if !detached => match stopped {
                    Ok(()) => return,
                    Err(_) => {
                        detached = true;
                        continue;
                    }
                },
                _ = ticker.tick() => {}
            }
            match store.delete_expired().await {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(target: "sessions", removed, "removed expired sessions")
                }
                Err(e) => {
                    tracing::warn!(target: "sessions", error = %e, "could not remove expired sessions")
                }
            }
        }
    });
    Ok(CleanupTask {
        stop: Some(stop_tx),
        handle: Some(handle),
    })
}

#[cfg(all(test, feature = "file"))]
mod tests {
    use super::*;
    use session_core::time::Duration as TimeDuration;
    use session_core::{Maintenance, Record, SessionId, StoreKey, now};

    fn temp_store(name: &str) -> (crate::FileStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "cleanup-{name}-{}-{}",
            std::process::id(),
            now().unix_timestamp_nanos()
        ));
        (crate::FileStore::open(&dir).unwrap(), dir)
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let (store, dir) = temp_store("outside");
        let err = spawn_expired_cleanup(store, Duration::from_secs(60)).unwrap_err();
        assert_eq!(err, CleanupError::NoRuntime);
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_zero_interval_is_an_error_not_a_busy_loop() {
        let (store, dir) = temp_store("zero");
        let err = spawn_expired_cleanup(store, Duration::ZERO).unwrap_err();
        assert_eq!(err, CleanupError::ZeroInterval);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn record(key: &StoreKey, expires_in: i64) -> Record {
        let now = now();
        Record {
            key: key.clone(),
            data: b"{}".to_vec(),
            version: 1,
            created_at: now,
            expires_at: now + TimeDuration::seconds(expires_in),
            user: None,
        }
    }

    #[tokio::test]
    async fn a_detached_task_keeps_sweeping() {
        let (store, dir) = temp_store("detached");
        spawn_expired_cleanup(store.clone(), Duration::from_millis(50))
            .unwrap()
            .detach();
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..2 {
            store
                .create(&record(&SessionId::generate().store_key(), -5))
                .await
                .unwrap();
        }
        // Sweeps every 50 ms; a loaded CI machine gets up to 5 s.
        let mut expired = None;
        for _ in 0..100 {
            expired = store.stats(0).await.unwrap().expired;
            if expired == Some(0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            expired,
            Some(0),
            "sessions expired after the handle was detached were not swept"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn sweeps_expired_sessions_until_stopped() {
        let (store, dir) = temp_store("sweeps");
        let (old, new) = (
            SessionId::generate().store_key(),
            SessionId::generate().store_key(),
        );
        store.create(&record(&old, -5)).await.unwrap();
        store.create(&record(&new, 3600)).await.unwrap();
        let task = spawn_expired_cleanup(store.clone(), Duration::from_millis(50)).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            store.stats(0).await.unwrap().expired,
            Some(0),
            "the expired session was not swept"
        );
        assert!(store.load(&new).await.unwrap().is_some());
        tokio::time::timeout(Duration::from_secs(2), task.stop())
            .await
            .expect("stop returns promptly");
        // Stopped: nothing sweeps any more.
        store
            .create(&record(&SessionId::generate().store_key(), -5))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.stats(0).await.unwrap().expired, Some(1));
        let _ = std::fs::remove_dir_all(dir);
    }
}
