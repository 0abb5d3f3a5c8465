//! The store cases for ID rotation (`cycle_id`, as on login): the store's
//! `rotate` is atomic against the old record's version, so a rotation
//! never brings back a session that was ended meanwhile and never drops a
//! concurrent save.

use std::sync::Arc;

use session_core::time::Duration;
use session_core::{Record, SessionStore, StoreError, StoreKey};
use tokio::sync::Notify;

use crate::store::{fresh_key, manager, record, request};

/// `rotate` replaces the old record and creates the new one only when the
/// old one is live at the expected version; otherwise it changes nothing.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::rotate_is_atomic_against_the_old_version(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn rotate_is_atomic_against_the_old_version<S: SessionStore>(store: S) {
    let old = record(&fresh_key(), b"old", Duration::hours(1), Some("ada"));
    store.create(&old).await.expect("create");
    // What the manager leaves under the old key: unbound, a new version.
    let forward = Record {
        data: b"forward".to_vec(),
        version: old.version + 1,
        user: None,
        expires_at: old.expires_at - Duration::minutes(30),
        ..old.clone()
    };

    // A stale version: nothing changes, nothing is created.
    let new = record(&fresh_key(), b"new", Duration::hours(1), Some("ada"));
    let stale = store.rotate(&forward, old.version + 1, &new).await;
    assert!(
        matches!(stale, Err(StoreError::Conflict)),
        "rotate at a stale version must answer Conflict, got {stale:?}"
    );
    let unchanged = |what: &'static str| {
        let (store, old) = (&store, &old);
        async move {
            assert_eq!(
                store.load(&old.key).await.expect("load").as_ref(),
                Some(old),
                "{what} changed the old record"
            );
        }
    };
    unchanged("a refused rotation").await;
    assert!(
        store.load(&new.key).await.expect("load").is_none(),
        "a refused rotation created the new record"
    );

    // A new key that is taken: nothing changes.
    let taken = record(&fresh_key(), b"taken", Duration::hours(1), None);
    store.create(&taken).await.expect("create");
    let onto_taken = Record {
        key: taken.key.clone(),
        ..new.clone()
    };
    let duplicate = store.rotate(&forward, old.version, &onto_taken).await;
    assert!(
        matches!(duplicate, Err(StoreError::Duplicate)),
        "rotate onto a live key must answer Duplicate, got {duplicate:?}"
    );
    unchanged("a rotation onto a taken key").await;
    assert_eq!(
        store.load(&taken.key).await.expect("load").as_ref(),
        Some(&taken),
        "a rotation overwrote another session"
    );

    // The rotation itself.
    store
        .rotate(&forward, old.version, &new)
        .await
        .expect("rotate at the current version");
    assert_eq!(
        store.load(&old.key).await.expect("load").as_ref(),
        Some(&forward),
        "the old key does not hold what the rotation left there"
    );
    assert_eq!(
        store.load(&new.key).await.expect("load").as_ref(),
        Some(&new),
        "the new record is not what was rotated in"
    );
    if store.user_index().is_some() {
        assert_eq!(
            crate::listed(&store, "ada").await,
            std::slice::from_ref(&new.key),
            "the user index after rotation"
        );
    }

    // Rotating the old record again at its old version creates nothing.
    let again = record(&fresh_key(), b"again", Duration::hours(1), Some("ada"));
    let moved = store.rotate(&forward, old.version, &again).await;
    assert!(
        matches!(moved, Err(StoreError::Conflict)),
        "rotate of a record rotated already must answer Conflict, got {moved:?}"
    );
    // An ended record: NotFound, nothing created.
    store.delete(&old.key).await.expect("delete");
    let gone = store.rotate(&forward, forward.version, &again).await;
    assert!(
        matches!(gone, Err(StoreError::NotFound)),
        "rotate of an ended record must answer NotFound, got {gone:?}"
    );
    assert!(
        store.load(&again.key).await.expect("load").is_none(),
        "rotating an ended record created a session"
    );
    assert!(
        store.load(&old.key).await.expect("load").is_none(),
        "rotating an ended record brought it back"
    );
}

/// Which concurrent act a rotation races with.
#[derive(Clone, Copy, Debug)]
enum Race {
    /// "Log out everywhere": the user's sessions are revoked.
    Revoke,
    /// A logout in another tab.
    Logout,
    /// A save in another tab.
    Write,
}

/// Runs a login (`cycle_id` + `set_user`) on a session bound to "ada",
/// pausing between its load and its save while `race` happens; returns
/// the manager, the old key and the rotating request's response.
async fn rotation_racing<S: SessionStore>(
    store: S,
    race: Race,
) -> (
    session_core::SessionManager,
    StoreKey,
    session_core::SessionResponse,
) {
    let manager = manager(store);
    let cookie = request(&manager, None, |s| {
        s.set_user("ada").expect("set_user");
        s.insert("cart", 1).expect("insert");
    })
    .await
    .expect("cookie");
    let old_key = manager
        .request([cookie.as_str()])
        .load()
        .await
        .expect("load")
        .store_key()
        .expect("stored");
    let loaded = Arc::new(Notify::new());
    let raced = Arc::new(Notify::new());
    let login = {
        let (manager, cookie, loaded, raced) = (
            manager.clone(),
            cookie.clone(),
            loaded.clone(),
            raced.clone(),
        );
        tokio::spawn(async move {
            let request = manager.request([cookie.as_str()]);
            let session = request.load().await.expect("load");
            loaded.notify_one();
            raced.notified().await;
            session.cycle_id();
            session.insert("logged_in", true).expect("insert");
            request
                .finish(200)
                .await
                .expect("the rotating request's save")
        })
    };
    loaded.notified().await;
    match race {
        Race::Revoke => {
            manager.end_sessions_of("ada", None).await.expect("revoke");
        }
        Race::Logout => {
            let logout = manager.request([cookie.as_str()]);
            logout.load().await.expect("load").end();
            logout.finish(200).await.expect("logout");
        }
        Race::Write => {
            request(&manager, Some(&cookie), |s| {
                s.insert("theme", "dark").expect("insert")
            })
            .await;
        }
    }
    raced.notify_one();
    let response = login.await.expect("login task");
    (manager, old_key, response)
}

/// A session ended while a request rotated its ID (a revoke of the user's
/// sessions, or a logout in another tab) stays ended: the rotation creates
/// no new session, and the response removes the cookie.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::rotation_racing_an_end_creates_nothing(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn rotation_racing_an_end_creates_nothing<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let races: &[Race] = if store.user_index().is_some() {
        &[Race::Logout, Race::Revoke]
    } else {
        &[Race::Logout]
    };
    for &race in races {
        let (manager, old_key, response) = rotation_racing(store.clone(), race).await;
        assert!(
            response.ended_concurrently,
            "{race:?}: the rotating request must learn that the session ended"
        );
        assert!(
            response
                .set_cookie
                .as_deref()
                .is_some_and(|c| c.contains("Max-Age=0")),
            "{race:?}: the rotating request must remove the cookie, set {:?}",
            response.set_cookie
        );
        assert!(
            manager
                .store()
                .load(&old_key)
                .await
                .expect("load")
                .is_none(),
            "{race:?}: the old record came back"
        );
        if manager.store().user_index().is_some() {
            let left = manager.sessions_of("ada").await.expect("sessions_of");
            assert!(
                left.is_empty(),
                "{race:?}: the rotation brought the ended session back under a new ID: {left:?}"
            );
        }
    }
}

/// A save in another tab while a request rotates the ID lands: the new
/// session holds both requests' writes.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::rotation_racing_a_write_keeps_both(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn rotation_racing_a_write_keeps_both<S: SessionStore>(store: S) {
    let (manager, old_key, response) = rotation_racing(store, Race::Write).await;
    assert!(!response.ended_concurrently, "the session did not end");
    let cookie = response
        .cookie_pair()
        .expect("the rotation sets the new cookie")
        .to_owned();
    assert!(
        crate::store::holds_no_session(manager.store().load(&old_key).await.expect("load")),
        "the old record survived the rotation"
    );
    let session = manager
        .request([cookie.as_str()])
        .load()
        .await
        .expect("load");
    assert_eq!(
        session.get::<String>("theme").expect("theme").as_deref(),
        Some("dark"),
        "the concurrent write was lost by the rotation"
    );
    assert_eq!(
        session.get::<bool>("logged_in").expect("logged_in"),
        Some(true)
    );
    assert_eq!(session.get::<u32>("cart").expect("cart"), Some(1));
    assert_eq!(session.user().as_deref(), Some("ada"));
}

/// A logout that loaded the session before another tab's login moved it
/// to a new ID, and saves after: the logout still wins, and the new ID is
/// ended too (the old record's forward leads to it).
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::logout_racing_a_rotation_ends_the_new_id(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn logout_racing_a_rotation_ends_the_new_id<S: SessionStore>(store: S) {
    let manager = manager(store);
    let cookie = request(&manager, None, |s| s.insert("cart", 1).expect("insert"))
        .await
        .expect("cookie");
    let logout = manager.request([cookie.as_str()]);
    let session = logout.load().await.expect("load");
    // Meanwhile, another tab logs in: the session moves to a new ID.
    let rotated = request(&manager, Some(&cookie), |s| {
        s.cycle_id();
        s.set_user("ada").expect("set_user");
    })
    .await
    .expect("cookie");
    assert_ne!(rotated, cookie, "the login must issue a new cookie");
    session.end();
    let response = logout.finish(200).await.expect("logout");
    assert!(
        response
            .set_cookie
            .as_deref()
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the logout must remove the cookie"
    );
    let after = manager
        .request([rotated.as_str()])
        .load()
        .await
        .expect("load");
    assert!(
        after.is_empty(),
        "the session survived the logout under its new ID: {:?}",
        after.to_json()
    );
    if manager.store().user_index().is_some() {
        let left = manager.sessions_of("ada").await.expect("sessions_of");
        assert!(
            left.is_empty(),
            "the logged-out session is still listed: {left:?}"
        );
    }
    // The old cookie opens nothing either.
    let old = manager
        .request([cookie.as_str()])
        .load()
        .await
        .expect("load");
    assert!(old.is_empty(), "the old cookie opens a session");
}
