//! The disk module's own tests.

use std::cell::Cell;

use session_core::time::Duration;
use session_core::{SessionId, StoreKey};

use super::*;

thread_local! {
    /// Directory syncs made by this thread.
    pub(super) static DIR_SYNCS: Cell<usize> = const { Cell::new(0) };
}

fn disk() -> (Disk, PathBuf) {
    let root = std::env::temp_dir().join(format!(
        "session-disk-{}-{}",
        std::process::id(),
        SessionId::generate().store_key()
    ));
    (Disk::open(&root).unwrap(), root)
}

fn record(user: Option<&str>) -> Record {
    let now = now();
    Record {
        key: SessionId::generate().store_key(),
        data: b"{}".to_vec(),
        version: 1,
        created_at: now,
        expires_at: now + Duration::hours(1),
        user: user.map(str::to_owned),
    }
}

fn syncs_during(f: impl FnOnce()) -> usize {
    let before = DIR_SYNCS.with(Cell::get);
    f();
    DIR_SYNCS.with(Cell::get) - before
}

#[test]
fn removals_sync_the_directory() {
    let (disk, root) = disk();
    let a = record(Some("ada"));
    let b = record(Some("ada"));
    disk.create(&a).unwrap();
    disk.create(&b).unwrap();
    assert_eq!(syncs_during(|| disk.delete(&a.key).unwrap()), 1, "logout");
    assert_eq!(
        syncs_during(|| assert_eq!(disk.delete_sessions_of("ada", None).unwrap(), 1)),
        1,
        "revoke"
    );
    // Nothing removed, nothing to sync.
    assert_eq!(syncs_during(|| disk.delete(&a.key).unwrap()), 0);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn stray_files_in_a_user_directory_are_left_alone() {
    let (disk, root) = disk();
    let live = record(Some("ada"));
    disk.create(&live).unwrap();
    let dir = disk.user_dir("ada");
    fs::write(dir.join("x"), b"").unwrap();
    fs::write(dir.join("é"), b"").unwrap();
    fs::write(dir.join("z".repeat(64)), b"").unwrap();
    {
        use std::os::unix::ffi::OsStrExt;
        fs::write(dir.join(std::ffi::OsStr::from_bytes(b"\xff\xfe")), b"").unwrap();
    }
    let listed = disk.sessions_of("ada").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, live.key);
    assert_eq!(disk.delete_sessions_of("ada", None).unwrap(), 1);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_marker_is_pruned_only_under_its_sessions_lock() {
    // A create that has written its marker but not yet its file holds
    // the session's lock; a listing meanwhile must not drop the marker.
    let (disk, root) = disk();
    let record = record(Some("ada"));
    let name = Disk::name(&record.key);
    let lock = disk.lock(&name).unwrap();
    disk.index("ada", &name).unwrap();
    let (disk, record) = (std::sync::Arc::new(disk), std::sync::Arc::new(record));
    let listing = {
        let disk = disk.clone();
        std::thread::spawn(move || disk.sessions_of("ada").unwrap())
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    disk.write(&name, &record).unwrap();
    drop(lock);
    assert_eq!(
        listing.join().unwrap().len(),
        1,
        "the listing waited for the create"
    );
    let key: &StoreKey = &record.key;
    assert_eq!(
        disk.sessions_of("ada").unwrap()[0].key,
        *key,
        "the marker survived"
    );
    fs::remove_dir_all(root).unwrap();
}
