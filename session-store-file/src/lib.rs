//! A session store of one file per session.
//!
//! [`FileStore`] keeps sessions in a directory: no server to run, and the
//! sessions survive restarts. Several processes may share the directory.
//!
//! - **Names from digests**: a session's file is named by the SHA-256 of
//!   its store key, never by anything a client sent.
//! - **Atomic writes**: each write goes to a temporary file that is synced
//!   and renamed over the old one (and the directory synced), so a crash
//!   leaves either the old or the new record, never a torn one.
//! - **Private**: directories are created 0700 and files 0600.
//! - **No lost updates**: compare-and-swap happens under an exclusive
//!   `flock` on one of 256 lock files, which every process sharing the
//!   directory respects. Reads take no lock.
//! - **User index**: one marker file per session in a directory per user;
//!   listing a user's sessions reads only those.
//! - **Sweeping**: [`SessionStore::delete_expired`] walks the directory;
//!   run it periodically (the files are never removed by themselves).
//! - **Durable**: a save and a removal (logout, revoke, flush) are synced,
//!   file and directory, before they return: a crash, power loss
//!   included, undoes neither. A rotation writes the new file before it
//!   replaces the old one, so a crash between them leaves the user logged
//!   in under the old ID.
//!
//! Unix only (it relies on `flock` and file modes).
//!
//! ```
//! use session_core::{KeyRing, SessionManager};
//! use session_store_file::FileStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("file-store-doc-{}", std::process::id()));
//! let store = FileStore::open(&dir)?;
//! let manager = SessionManager::new(store, KeyRing::new([4u8; 32])?);
//!
//! let request = manager.request(None);
//! request.load().await?.insert("user_id", 123)?;
//! assert!(request.finish(200).await?.set_cookie.is_some());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod disk;
pub mod format;

use std::path::Path;
use std::sync::Arc;

use session_core::time::OffsetDateTime;
use session_core::{
    Maintenance, Record, SessionInfo, SessionStore, StoreError, StoreKey, StoreStats, UserIndex,
    async_trait,
};

use crate::disk::Disk;

/// A [`SessionStore`] on a directory. See the [crate docs](crate). Cheap to clone.
///
/// ```
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_file::FileStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("file-store-doc-restart-{}", std::process::id()));
/// let cookie = {
///     let manager = SessionManager::new(FileStore::open(&dir)?, KeyRing::new([4u8; 32])?);
///     let request = manager.request(None);
///     request.load().await?.insert("user_id", 123)?;
///     request.finish(200).await?.cookie_pair().unwrap().to_owned()
/// };
/// // A new process (here: a new store and manager) on the same directory.
/// let manager = SessionManager::new(FileStore::open(&dir)?, KeyRing::new([4u8; 32])?);
/// let session = manager.request([cookie.as_str()]).load().await?;
/// assert_eq!(session.get::<u32>("user_id")?, Some(123));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FileStore {
    disk: Arc<Disk>,
    root: Arc<Path>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("root", &self.root)
            .finish()
    }
}

impl FileStore {
    /// Opens (creating if needed, mode 0700) the store in directory `root`.
    ///
    /// # Errors
    ///
    /// When the directories cannot be created.
    ///
    /// ```
    /// # use session_store_file::FileStore;
    /// # use std::os::unix::fs::PermissionsExt;
    /// # let dir = std::env::temp_dir().join(format!("file-store-doc-open-{}", std::process::id()));
    /// let store = FileStore::open(&dir)?;
    /// let mode = std::fs::metadata(store.root())?.permissions().mode();
    /// assert_eq!(mode & 0o777, 0o700);
    /// assert!(FileStore::open("/proc/no-such-place").is_err());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = root.as_ref();
        Ok(FileStore {
            disk: Arc::new(Disk::open(root)?),
            root: root.into(),
        })
    }

    /// The store's directory.
    ///
    /// ```
    /// # use session_store_file::FileStore;
    /// # let dir = std::env::temp_dir().join(format!("file-store-doc-root-{}", std::process::id()));
    /// let store = FileStore::open(&dir)?;
    /// assert_eq!(store.root(), dir.as_path());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs a blocking file operation off the async executor.
    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Disk) -> Result<T, StoreError> + Send + 'static,
    {
        let disk = Arc::clone(&self.disk);
        tokio::task::spawn_blocking(move || op(&disk))
            .await
            .map_err(|e| StoreError::backend(format!("file store task failed: {e}")))?
    }
}

#[async_trait]
impl SessionStore for FileStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let key = key.clone();
        self.run(move |d| d.load(&key)).await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let record = record.clone();
        self.run(move |d| d.create(&record)).await
    }

    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        let record = record.clone();
        self.run(move |d| d.update(&record, expected_version)).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.run(move |d| d.delete(&key)).await
    }

    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        let (old, new) = (old.clone(), new.clone());
        self.run(move |d| d.rotate(&old, expected_version, &new))
            .await
    }

    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        let key = key.clone();
        self.run(move |d| d.touch(&key, expires_at)).await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.run(Disk::delete_expired).await
    }

    fn user_index(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        Some(self)
    }
}

#[async_trait]
impl Maintenance for FileStore {
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        self.run(move |d| d.stats(top_users)).await
    }
    /// All at once: the store sweeps in one pass.
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        let _ = max;
        SessionStore::delete_expired(self).await
    }
}

#[async_trait]
impl UserIndex for FileStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let user = user.to_owned();
        self.run(move |d| d.sessions_of(&user)).await
    }

    async fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let (user, keep) = (user.to_owned(), keep.cloned());
        self.run(move |d| d.delete_sessions_of(&user, keep.as_ref()))
            .await
    }
}
