//! `RequestSession::finish_now`: it finishes a request at once exactly
//! when finishing needs no store call, answers exactly as `finish` would,
//! and otherwise does nothing, leaving the request to `finish`.

use session_conformance::fixtures;
use session_core::{
    ExpiryRules, KeyRing, RequestSession, SessionManager, SessionResponse, SessionStore, StoreKey,
};
use session_store_memory::MemoryStore;
use time::Duration;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const OLD_SECRET: &[u8] = b"an older secret that still verifies";

type CountingStore = session_conformance::counting::CountingStore<MemoryStore>;

fn manager(store: &CountingStore, keys: KeyRing, rules: ExpiryRules) -> SessionManager {
    SessionManager::builder(store.clone(), keys)
        .expiry(rules)
        .build()
        .unwrap()
}

fn keys() -> KeyRing {
    KeyRing::new(SECRET).unwrap()
}

fn calls(store: &CountingStore) -> (usize, usize, usize) {
    (store.loads(), store.writes(), store.touches())
}

/// `finish_now`'s answer, checked: it called no store, and `finish`
/// called after it answers the same, calling no store either.
async fn finished_now(
    request: &RequestSession,
    store: &CountingStore,
    status: u16,
) -> Option<SessionResponse> {
    let before = calls(store);
    let answer = request
        .finish_now(status)
        .map(|r| r.expect("finish_now failed"));
    assert_eq!(calls(store), before, "finish_now called the store");
    if let Some(answer) = &answer {
        let again = request.finish(status).await.unwrap();
        assert_eq!(&again, answer, "finish answers as finish_now did");
        assert_eq!(calls(store), before, "finish called the store");
    }
    answer
}

/// Loads `request`'s session and reads its `n`.
async fn n_of(request: &RequestSession) -> Option<i32> {
    request.load().await.unwrap().get("n").unwrap()
}

/// A stored session holding `n = 1`: its `name=value` cookie and key.
async fn stored(manager: &SessionManager) -> (String, StoreKey) {
    fixtures::new_session(manager, "n", 1).await
}

#[tokio::test]
async fn requests_that_need_no_store_finish_at_once() {
    let store = CountingStore::new(MemoryStore::new());
    let manager = manager(&store, keys(), ExpiryRules::default());
    let (cookie, _) = stored(&manager).await;

    // Never loaded: nothing to say.
    let request = manager.request([cookie.as_str()]);
    let answer = finished_now(&request, &store, 200).await.unwrap();
    assert_eq!(answer, SessionResponse::default());

    // Read only, expiry not due to move: no cookie, only `Vary`.
    let request = manager.request([cookie.as_str()]);
    assert_eq!(n_of(&request).await, Some(1));
    let answer = finished_now(&request, &store, 200).await.unwrap();
    assert_eq!(answer.set_cookie, None);
    assert!(answer.vary_cookie);

    // A failed response saves nothing, even a change.
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().insert("n", 2).unwrap();
    let answer = finished_now(&request, &store, 500).await.unwrap();
    assert_eq!(answer.set_cookie, None);

    // A new session left empty: nothing stored, no cookie.
    let request = manager.request(None);
    request.load().await.unwrap();
    let answer = finished_now(&request, &store, 200).await.unwrap();
    assert_eq!(answer.set_cookie, None);

    // A forged cookie, loaded and left empty: the browser drops it.
    let request = manager.request(["session=forged.value"]);
    assert!(request.load().await.unwrap().is_empty());
    let answer = finished_now(&request, &store, 200).await.unwrap();
    let removal = answer.set_cookie.expect("a removal cookie");
    assert!(removal.starts_with("session=;"), "{removal}");

    // The stored session is as it was.
    let request = manager.request([cookie.as_str()]);
    assert_eq!(n_of(&request).await, Some(1));
}

#[tokio::test]
async fn a_cookie_an_older_key_signed_is_signed_again_at_once() {
    let store = CountingStore::new(MemoryStore::new());
    let old = manager(
        &store,
        KeyRing::new(OLD_SECRET).unwrap(),
        ExpiryRules::default(),
    );
    let (cookie, _) = stored(&old).await;
    let rotated = manager(
        &store,
        KeyRing::with_fallbacks(SECRET, [OLD_SECRET]).unwrap(),
        ExpiryRules::default(),
    );
    let request = rotated.request([cookie.as_str()]);
    request.load().await.unwrap();
    let answer = finished_now(&request, &store, 200).await.unwrap();
    let set = answer
        .set_cookie
        .expect("the cookie signed by the newest key");
    let pair = set.split(';').next().unwrap();
    assert_ne!(pair, cookie, "a new signature");
    let request = manager(&store, keys(), ExpiryRules::default()).request([pair]);
    assert_eq!(n_of(&request).await, Some(1));
}

/// Runs `change` on a request for `cookie` (when given) and checks that
/// `finish_now` leaves it to `finish`, which then writes (or, with
/// `touch`, only touches) the record.
async fn needs_the_store(
    manager: &SessionManager,
    store: &CountingStore,
    cookie: Option<&str>,
    change: impl FnOnce(&session_core::Session),
    touch: bool,
) -> SessionResponse {
    let request = manager.request(cookie);
    change(&request.load().await.unwrap());
    assert_eq!(finished_now(&request, store, 200).await, None);
    let (_, w, t) = calls(store);
    let answer = request.finish(200).await.unwrap();
    let (_, w2, t2) = calls(store);
    if touch {
        assert_eq!((w2 - w, t2 - t), (0, 1), "one touch, no write");
    } else {
        assert!(w2 > w, "a write");
        assert_eq!(t2, t, "no touch");
    }
    answer
}

#[tokio::test]
async fn requests_that_need_the_store_are_left_to_finish() {
    let store = CountingStore::new(MemoryStore::new());
    let manager = manager(&store, keys(), ExpiryRules::default());
    let (cookie, key) = stored(&manager).await;
    let cookie = Some(cookie.as_str());

    // A change: one update.
    needs_the_store(
        &manager,
        &store,
        cookie,
        |s| s.insert("n", 2).unwrap(),
        false,
    )
    .await;
    let record = store.inner().load(&key).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&record.data).contains("\"n\":2"));

    // A new session with data: one create, and its cookie.
    let answer =
        needs_the_store(&manager, &store, None, |s| s.insert("a", 1).unwrap(), false).await;
    assert!(answer.set_cookie.is_some());

    // A new ID: the record moves.
    let answer = needs_the_store(&manager, &store, cookie, |s| s.cycle_id(), false).await;
    let moved = answer.set_cookie.expect("the new ID's cookie");
    let moved = moved.split(';').next().unwrap().to_owned();

    // A flush: the record ends.
    let answer = needs_the_store(&manager, &store, Some(&moved), |s| s.flush(), false).await;
    assert!(answer.set_cookie.unwrap().starts_with("session=;"));

    // An expiry due to move (a longer idle timeout than the record got):
    // one touch.
    let (cookie, _) = stored(&manager).await;
    let longer = self::manager(
        &store,
        keys(),
        ExpiryRules::default().idle_timeout(Duration::days(20)),
    );
    let answer = needs_the_store(&longer, &store, Some(&cookie), |_| {}, true).await;
    assert!(answer.set_cookie.unwrap().contains("Max-Age=1728000"));
}
