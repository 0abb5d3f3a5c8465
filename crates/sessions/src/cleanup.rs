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
/// let cleanup = sessions::spawn_expired_cleanup(store, std::time::Duration::from_secs(600));
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
    /// let cleanup = sessions::spawn_expired_cleanup(store, std::time::Duration::from_millis(10));
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
}

impl Drop for CleanupTask {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// Sweeps `store` every `every` on the current Tokio runtime, logging what
/// it removed (and failures, which do not stop it). Stores that expire
/// sessions themselves (Redis) need no sweeping: the task then ends at once.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = sessions::open_store("sqlite::memory:").await?;
/// store.migrate().await?;
/// let cleanup = sessions::spawn_expired_cleanup(store.clone(), std::time::Duration::from_secs(3600));
/// // … serve requests …
/// cleanup.stop().await;
/// # Ok(()) }
/// ```
///
/// # Panics
///
/// Outside a Tokio runtime.
pub fn spawn_expired_cleanup<S: SessionStore>(store: S, every: Duration) -> CleanupTask {
    let (stop_tx, mut stop_rx) = oneshot::channel();
    let handle = tokio::spawn(async move {
        if store.expires_natively() {
            tracing::debug!(target: "sessions", "the store expires sessions itself; no cleanup task needed");
            return;
        }
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop_rx => return,
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
    CleanupTask {
        stop: Some(stop_tx),
        handle: Some(handle),
    }
}

#[cfg(all(test, feature = "file"))]
mod tests {
    use super::*;
    use session_core::time::Duration as TimeDuration;
    use session_core::{Record, SessionId, StoreKey, now};

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
    async fn sweeps_expired_sessions_until_stopped() {
        let dir = std::env::temp_dir().join(format!(
            "cleanup-{}-{}",
            std::process::id(),
            now().unix_timestamp()
        ));
        let store = crate::FileStore::open(&dir).unwrap();
        let (old, new) = (
            SessionId::generate().store_key(),
            SessionId::generate().store_key(),
        );
        store.create(&record(&old, -5)).await.unwrap();
        store.create(&record(&new, 3600)).await.unwrap();
        let task = spawn_expired_cleanup(store.clone(), Duration::from_millis(50));
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
