//! The conformance kit and file-specific tests: permissions, names, files
//! garbled by hand, a writer killed mid-write, and two processes updating
//! one session at once.
//!
//! The last two re-run this test binary as a helper process (the ignored
//! test `helper_process`), steered by environment variables.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use session_conformance::services;
use session_core::time::Duration as TimeDuration;
use session_core::{
    KeyRing, Record, SessionId, SessionManager, SessionStore, StoreError, StoreKey, now,
};
use session_store_file::FileStore;
use sha2::{Digest, Sha256};

/// A fresh directory under the system's temporary directory; those of runs
/// more than an hour old are removed.
fn fresh_dir() -> PathBuf {
    let root = std::env::temp_dir().join("session-store-file-tests");
    let now = now().unix_timestamp() as u64;
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if services::created_at(&entry.file_name().to_string_lossy())
            .is_some_and(|t| t + 3600 < now)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    root.join(services::unique_name("store"))
}

session_conformance::store_tests!(FileStore::open(fresh_dir()).expect("open"));

fn record(key: &StoreKey, data: Vec<u8>, version: u64) -> Record {
    let now = now();
    Record {
        key: key.clone(),
        data,
        version,
        created_at: now,
        expires_at: now + TimeDuration::hours(1),
        user: None,
    }
}

fn file_of(root: &Path, key: &StoreKey) -> PathBuf {
    let name: String = Sha256::digest(key.as_str().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    root.join("sessions").join(&name[..2]).join(name)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn files_are_private_and_named_by_digest() {
    let dir = fresh_dir();
    let store = FileStore::open(&dir).unwrap();
    let key = SessionId::generate().store_key();
    let mut rec = record(&key, b"{}".to_vec(), 1);
    rec.user = Some("alice".into());
    store.create(&rec).await.unwrap();
    let file = file_of(&dir, &key);
    assert!(
        file.exists(),
        "the file is named by the SHA-256 of the store key"
    );
    assert_eq!(mode(&file), 0o600);
    for sub in ["", "sessions", "locks", "users"] {
        assert_eq!(mode(&dir.join(sub)), 0o700, "{sub}");
    }
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let names: Vec<String> = walk(&dir)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(key.as_str())),
        "a file name carries the store key: {names:?}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(entry.path());
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        }
    }
    out
}

#[tokio::test]
async fn files_garbled_by_hand_are_no_session() {
    let dir = fresh_dir();
    let store = FileStore::open(&dir).unwrap();
    let manager = SessionManager::new(store.clone(), KeyRing::new([13u8; 32]).unwrap());
    let garbage: [&[u8]; 4] = [
        b"",
        b"garbage",
        b"session-file 1\n{\"key\":1}\n",
        b"session-file 1\nno newline",
    ];
    for bad in garbage {
        let (cookie, key) =
            session_conformance::fixtures::new_session(&manager, "user_id", 1).await;
        std::fs::write(file_of(&dir, &key), bad).unwrap();
        assert!(matches!(
            store.load(&key).await,
            Err(StoreError::Corrupt(_))
        ));
        let request = manager.request([cookie.as_str()]);
        assert!(request.load().await.unwrap().is_empty());
        request.finish(200).await.unwrap();
        assert_eq!(
            std::fs::read(file_of(&dir, &key)).unwrap(),
            bad,
            "a read rewrote the file"
        );
    }
    // Another session's file copied over this one is not this session.
    let a = SessionId::generate().store_key();
    let b = SessionId::generate().store_key();
    store.create(&record(&a, b"{}".to_vec(), 1)).await.unwrap();
    store.create(&record(&b, b"{}".to_vec(), 1)).await.unwrap();
    std::fs::copy(file_of(&dir, &a), file_of(&dir, &b)).unwrap();
    match store.load(&b).await {
        Err(StoreError::Corrupt(why)) => assert!(
            !why.contains(a.as_str()) && !why.contains(b.as_str()),
            "store keys are logged with the error: {why}"
        ),
        other => panic!("another session's file must be corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn stale_temporary_files_are_swept_and_ignored() {
    let dir = fresh_dir();
    let store = FileStore::open(&dir).unwrap();
    let key = SessionId::generate().store_key();
    store
        .create(&record(&key, b"{}".to_vec(), 1))
        .await
        .unwrap();
    let sessions_dir = file_of(&dir, &key).parent().unwrap().to_owned();
    let temp = sessions_dir.join(".tmp-left-over");
    std::fs::write(&temp, b"half a reco").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert!(store.load(&key).await.unwrap().is_some());
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert!(
        !temp.exists(),
        "a two-hour-old temporary file survived the sweep"
    );
}

const HELPER: &str = "SESSION_FILE_TEST_HELPER";
const HELPER_DIR: &str = "SESSION_FILE_TEST_DIR";
const HELPER_KEY: &str = "SESSION_FILE_TEST_KEY";
const DATA_LEN: usize = 256 * 1024;

fn helper(role: &str, dir: &Path, key: &StoreKey) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "helper_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER, role)
        .env(HELPER_DIR, dir)
        .env(HELPER_KEY, key.as_str())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Run by the tests below in a separate process; does nothing on its own.
#[test]
#[ignore = "helper process for the crash and multi-process tests"]
fn helper_process() {
    let Ok(role) = std::env::var(HELPER) else {
        return;
    };
    let store = FileStore::open(std::env::var(HELPER_DIR).unwrap()).unwrap();
    let key = StoreKey::new(std::env::var(HELPER_KEY).unwrap());
    session_conformance::block_on(async move {
        match role.as_str() {
            // Rewrites the record forever: version n holds DATA_LEN copies of b'a' + n % 2.
            "writer" => loop {
                let current = store.load(&key).await.unwrap().unwrap();
                let v = current.version + 1;
                let data = vec![b'a' + (v % 2) as u8; DATA_LEN];
                store
                    .update(
                        &Record {
                            data,
                            version: v,
                            ..current
                        },
                        v - 1,
                    )
                    .await
                    .unwrap();
            },
            // Adds one to the counter in the record 50 times, retrying conflicts.
            "incrementer" => {
                for _ in 0..50 {
                    loop {
                        let current = store.load(&key).await.unwrap().unwrap();
                        let n: u64 = String::from_utf8(current.data.clone())
                            .unwrap()
                            .parse()
                            .unwrap();
                        let next = Record {
                            data: (n + 1).to_string().into_bytes(),
                            version: current.version + 1,
                            ..current.clone()
                        };
                        match store.update(&next, current.version).await {
                            Ok(()) => break,
                            Err(StoreError::Conflict) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            }
            other => panic!("unknown helper role {other}"),
        }
    });
}

#[tokio::test]
async fn a_writer_killed_mid_write_leaves_a_whole_record() {
    let dir = fresh_dir();
    let store = FileStore::open(&dir).unwrap();
    let key = SessionId::generate().store_key();
    store
        .create(&record(&key, vec![b'b'; DATA_LEN], 1))
        .await
        .unwrap();
    for round in 0..8u64 {
        let mut writer = helper("writer", &dir, &key);
        tokio::time::sleep(Duration::from_millis(150 + 37 * round)).await;
        writer.kill().unwrap();
        writer.wait().unwrap();
        let loaded = store
            .load(&key)
            .await
            .expect("a killed writer left a torn file")
            .expect("the record survived");
        let expected = b'a' + (loaded.version % 2) as u8;
        assert_eq!(loaded.data.len(), DATA_LEN, "round {round}: torn data");
        assert!(
            loaded.data.iter().all(|&b| b == expected),
            "round {round}: mixed data at version {}",
            loaded.version
        );
    }
    let last = store.load(&key).await.unwrap().unwrap();
    assert!(
        last.version > 2,
        "the writer never got to write (version {})",
        last.version
    );
}

#[tokio::test]
async fn two_processes_updating_one_session_lose_nothing() {
    let dir = fresh_dir();
    let store = FileStore::open(&dir).unwrap();
    let key = SessionId::generate().store_key();
    store.create(&record(&key, b"0".to_vec(), 1)).await.unwrap();
    let mut a = helper("incrementer", &dir, &key);
    let mut b = helper("incrementer", &dir, &key);
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let last = store.load(&key).await.unwrap().unwrap();
    assert_eq!(last.data, b"100", "increments were lost between processes");
    assert_eq!(last.version, 101);
}
