//! The synchronous file operations behind the store.
//!
//! ```text
//! <root>/sessions/<xx>/<name>   one file per session (<name> = hex SHA-256 of the store key)
//! <root>/locks/<xx>             256 lock files; <xx> = first byte of <name>
//! <root>/users/<user hash>/<name>   empty markers: the user index
//! ```
//!
//! Every change to a session happens under an exclusive lock on its
//! stripe's lock file (`flock`), so processes sharing the directory never
//! interleave a read-check-write. Writes go to a temporary file that is
//! synced and then renamed over the old one, so a reader (which takes no
//! lock) and a crash both see either the old or the new record. Removals
//! sync the directory before they return, so a logout survives a power
//! loss. A user-index marker is written (under the session's lock) before
//! the session it lists, and removed only under that lock after checking
//! that the session is not that user's, so the index never misses a
//! session that exists.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use session_core::time::OffsetDateTime;
use session_core::{Record, SessionInfo, StoreError, StoreKey, StoreStats, now};
use sha2::{Digest, Sha256};

use crate::format;

/// Temporary files older than this are left-overs of a crash and are swept.
const STALE_TEMP: Duration = Duration::from_secs(3600);
const TEMP_PREFIX: &str = ".tmp-";

pub(crate) struct Disk {
    root: PathBuf,
}

fn digest(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `file` can be a session's file name (and so a marker's).
fn is_name(file: &str) -> bool {
    file.len() == 64 && file.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Syncs a directory, so the entries added or removed in it are on disk.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(test)]
    tests::DIR_SYNCS.with(|n| n.set(n.get() + 1));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error)
}

fn io_error(e: io::Error) -> StoreError {
    StoreError::backend(e)
}

impl Disk {
    /// Creates the directory layout (mode 0700) if needed.
    pub(crate) fn open(root: &Path) -> io::Result<Disk> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for sub in ["sessions", "locks", "users"] {
            builder.create(root.join(sub))?;
        }
        Ok(Disk {
            root: root.to_owned(),
        })
    }

    fn name(key: &StoreKey) -> String {
        digest(key.as_str())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join("sessions").join(&name[..2]).join(name)
    }

    fn user_dir(&self, user: &str) -> PathBuf {
        self.root.join("users").join(digest(user))
    }

    /// Holds the exclusive lock of `name`'s stripe until dropped.
    fn lock(&self, name: &str) -> Result<File, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.root.join("locks").join(&name[..2]))
            .map_err(io_error)?;
        file.lock().map_err(io_error)?;
        Ok(file)
    }

    /// The record in `name`'s file, live or not; `None` when there is none.
    /// The locks of two sessions' stripes, taken in stripe order; one lock
    /// when they share a stripe (a second `flock` of the same file would
    /// wait for the first).
    fn lock_both(&self, a: &str, b: &str) -> Result<Vec<File>, StoreError> {
        let (first, second) = if a[..2] <= b[..2] { (a, b) } else { (b, a) };
        let mut locks = vec![self.lock(first)?];
        if first[..2] != second[..2] {
            locks.push(self.lock(second)?);
        }
        Ok(locks)
    }

    /// Removes a session's file (if any) and syncs its directory, so the
    /// removal is on disk when this returns.
    fn remove(&self, name: &str) -> Result<(), StoreError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(path.parent().expect("session files live in a directory")),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    fn read(&self, name: &str, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let bytes = match fs::read(self.path(name)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(e)),
        };
        let record = format::decode(&bytes)?;
        if &record.key != key {
            return Err(StoreError::Corrupt(
                "the session file holds another session's key".to_owned(),
            ));
        }
        Ok(Some(record))
    }

    fn live(&self, name: &str, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        Ok(self.read(name, key)?.filter(|r| r.is_live_at(now())))
    }

    /// Writes the file atomically: temporary file, fsync, rename, fsync of the directory.
    fn write(&self, name: &str, record: &Record) -> Result<(), StoreError> {
        let path = self.path(name);
        let dir = path.parent().expect("session files live in a directory");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error)?;
        let temp = dir.join(format!("{TEMP_PREFIX}{name}-{}", std::process::id()));
        let result = (|| {
            let mut file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(&format::encode(record))?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(io_error)?;
        sync_dir(dir)
    }

    fn index(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let dir = self.user_dir(user);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_error)?;
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join(name))
            .map_err(io_error)?;
        Ok(())
    }

    pub(crate) fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.live(&Self::name(key), key)
    }

    pub(crate) fn create(&self, record: &Record) -> Result<(), StoreError> {
        let name = Self::name(&record.key);
        let _lock = self.lock(&name)?;
        match self.live(&name, &record.key) {
            Ok(Some(_)) => return Err(StoreError::Duplicate),
            // An expired or unreadable file under a fresh 256-bit key is debris.
            Ok(None) | Err(StoreError::Corrupt(_)) => {}
            Err(e) => return Err(e),
        }
        if let Some(user) = &record.user {
            self.index(user, &name)?;
        }
        self.write(&name, record)
    }

    pub(crate) fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        let name = Self::name(&record.key);
        let _lock = self.lock(&name)?;
        match self.live(&name, &record.key) {
            Ok(Some(current)) if current.version == expected_version => {}
            Ok(Some(_)) => return Err(StoreError::Conflict),
            Ok(None) | Err(StoreError::Corrupt(_)) => return Err(StoreError::NotFound),
            Err(e) => return Err(e),
        }
        if let Some(user) = &record.user {
            self.index(user, &name)?;
        }
        self.write(&name, record)
    }

    pub(crate) fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let name = Self::name(key);
        let _lock = self.lock(&name)?;
        self.remove(&name)
    }

    pub(crate) fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        let (old_name, new_name) = (Self::name(&old.key), Self::name(&new.key));
        let _locks = self.lock_both(&old_name, &new_name)?;
        match self.live(&old_name, &old.key) {
            Ok(Some(current)) if current.version == expected_version => {}
            Ok(Some(_)) => return Err(StoreError::Conflict),
            Ok(None) | Err(StoreError::Corrupt(_)) => return Err(StoreError::NotFound),
            Err(e) => return Err(e),
        }
        match self.live(&new_name, &new.key) {
            Ok(Some(_)) => return Err(StoreError::Duplicate),
            Ok(None) | Err(StoreError::Corrupt(_)) => {}
            Err(e) => return Err(e),
        }
        if let Some(user) = &new.user {
            self.index(user, &new_name)?;
        }
        // New first: a crash between the two leaves the old session as it
        // was (and an orphan no client knows, which expires).
        self.write(&new_name, new)?;
        self.write(&old_name, old)
    }

    pub(crate) fn touch(
        &self,
        key: &StoreKey,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let name = Self::name(key);
        let _lock = self.lock(&name)?;
        let Some(record) = self.live(&name, key)? else {
            return Err(StoreError::NotFound);
        };
        self.write(
            &name,
            &Record {
                expires_at,
                ..record
            },
        )
    }

    /// Every session file name, and temporary files older than [`STALE_TEMP`].
    fn scan(&self) -> Result<(Vec<String>, Vec<PathBuf>), StoreError> {
        let mut names = Vec::new();
        let mut stale = Vec::new();
        for dir in fs::read_dir(self.root.join("sessions")).map_err(io_error)? {
            let dir = dir.map_err(io_error)?;
            for entry in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.starts_with(TEMP_PREFIX) {
                    let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| {
                        SystemTime::now().duration_since(t).unwrap_or_default() > STALE_TEMP
                    });
                    if old {
                        stale.push(entry.path());
                    }
                } else if is_name(&file) {
                    names.push(file);
                }
            }
        }
        Ok((names, stale))
    }

    pub(crate) fn delete_expired(&self) -> Result<u64, StoreError> {
        let (names, stale) = self.scan()?;
        for temp in stale {
            let _ = fs::remove_file(temp);
        }
        let now = now();
        let mut removed = 0;
        for name in names {
            let expired = |disk: &Disk| match fs::read(disk.path(&name)) {
                Ok(bytes) => format::decode(&bytes).is_ok_and(|r| !r.is_live_at(now)),
                Err(_) => false,
            };
            if !expired(self) {
                continue;
            }
            // Check again under the lock: it may have been touched meanwhile.
            let _lock = self.lock(&name)?;
            if expired(self) && fs::remove_file(self.path(&name)).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    pub(crate) fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        let (names, _) = self.scan()?;
        let records = names.iter().filter_map(|name| {
            let record = format::decode(&fs::read(self.path(name)).ok()?).ok()?;
            Some((record.expires_at, record.user))
        });
        Ok(StoreStats::count(now(), records, top_users))
    }

    /// The user's indexed sessions: `(name, live record)` for those still
    /// bound to the user; stale markers are removed.
    fn indexed(&self, user: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let dir = self.user_dir(user);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(e)),
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            // Markers are named like session files; anything else is not ours.
            let Some(name) = entry
                .file_name()
                .to_str()
                .filter(|n| is_name(n))
                .map(str::to_owned)
            else {
                continue;
            };
            let users = |disk: &Disk| {
                fs::read(disk.path(&name))
                    .ok()
                    .and_then(|b| format::decode(&b).ok())
                    .filter(|r| r.user.as_deref() == Some(user) && r.is_live_at(now()))
            };
            if let Some(record) = users(self) {
                found.push((name, record));
                continue;
            }
            // Not this user's live session, as far as a lock-free read can
            // tell. Only under the session's lock is that certain: a
            // create or login may be between its marker and its file.
            let _lock = self.lock(&name)?;
            match users(self) {
                Some(record) => found.push((name, record)),
                None => {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(found)
    }

    pub(crate) fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let mut sessions: Vec<SessionInfo> = self
            .indexed(user)?
            .into_iter()
            .map(|(_, r)| SessionInfo::from(&r))
            .collect();
        sessions.sort();
        Ok(sessions)
    }

    pub(crate) fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let mut ended = 0;
        for (name, record) in self.indexed(user)? {
            if Some(&record.key) == keep {
                continue;
            }
            let _lock = self.lock(&name)?;
            // Still this user's live session under the lock?
            if let Some(current) = self.live(&name, &record.key).ok().flatten()
                && current.user.as_deref() == Some(user)
            {
                self.remove(&name)?;
                ended += 1;
            }
            let _ = fs::remove_file(self.user_dir(user).join(&name));
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests;
