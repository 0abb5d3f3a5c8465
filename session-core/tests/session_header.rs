//! Sessions carried in a request header (`SessionManagerBuilder::session_header`)
//! rather than the cookie: the same signing, rotation and expiry, answered
//! in the header they came in.

use session_conformance::counting::CountingStore;
use session_core::{ConfigError, CookieConfig, KeyRing, SessionManager, SessionResponse};
use session_store_memory::MemoryStore;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const OLD_SECRET: &[u8] = b"an older secret that still verifies";
const HEADER: &str = "x-session-token";

fn manager_with(store: CountingStore<MemoryStore>, keys: KeyRing) -> SessionManager {
    SessionManager::builder(store, keys)
        .session_header("X-Session-Token")
        .build()
        .unwrap()
}

fn setup() -> (SessionManager, CountingStore<MemoryStore>) {
    let store = CountingStore::new(MemoryStore::new());
    (
        manager_with(store.clone(), KeyRing::new(SECRET).unwrap()),
        store,
    )
}

/// One request that sends `token` in the header, runs `handler` on the
/// session and finishes with 200.
async fn with_token(
    manager: &SessionManager,
    token: &str,
    handler: impl FnOnce(&session_core::Session),
) -> SessionResponse {
    let request = manager.request_from_headers(None, [token.as_bytes()]);
    handler(&request.load().await.unwrap());
    request.finish(200).await.unwrap()
}

/// A new session made without a cookie or a header; returns its token.
async fn new_token(manager: &SessionManager) -> String {
    let request = manager.request_from_headers(None, None);
    request.load().await.unwrap().insert("n", 1).unwrap();
    let response = request.finish(200).await.unwrap();
    response.session_header.expect("a new session's token")
}

#[tokio::test]
async fn a_new_session_goes_out_in_the_cookie_and_the_header_alike() {
    let (manager, _) = setup();
    let request = manager.request_from_headers(None, None);
    request.load().await.unwrap().insert("n", 1).unwrap();
    let response = request.finish(200).await.unwrap();
    let token = response.session_header.clone().expect("the header");
    let pair = response.cookie_pair().expect("the cookie");
    assert_eq!(pair, format!("session={token}"), "the same signed value");
    let headers: Vec<(&str, &str)> = response.headers().collect();
    assert!(headers.contains(&("vary", "Cookie")), "{headers:?}");
    assert!(headers.contains(&("vary", HEADER)), "{headers:?}");
    assert!(headers.contains(&(HEADER, token.as_str())), "{headers:?}");
    // The cookie opens it, and so does the header.
    let by_cookie = manager.request([pair]).load().await.unwrap();
    assert_eq!(by_cookie.get::<u32>("n").unwrap(), Some(1));
    let by_header = manager.request_from_headers(None, [token.as_bytes()]);
    assert_eq!(
        by_header.load().await.unwrap().get::<u32>("n").unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn a_session_sent_in_the_header_is_answered_only_when_its_token_changes() {
    let (manager, store) = setup();
    let token = new_token(&manager).await;

    // Reads and writes keep the token: nothing to send back, and never a cookie.
    let writes = store.writes();
    let response = with_token(&manager, &token, |s| s.insert("m", 2).unwrap()).await;
    assert_eq!(store.writes(), writes + 1, "the write was saved");
    assert_eq!(
        (&response.set_cookie, &response.session_header),
        (&None, &None)
    );
    assert!(response.vary_cookie);

    // A new ID (log in) is a new token, in the header only.
    let response = with_token(&manager, &token, |s| s.cycle_id()).await;
    assert_eq!(response.set_cookie, None);
    let rotated = response.session_header.expect("the new token");
    assert_ne!(rotated, token);
    let old = with_token(&manager, &token, |_| {}).await;
    assert_eq!(
        old.session_header.as_deref(),
        Some(""),
        "the old token ended"
    );
    let session = manager.request_from_headers(None, [rotated.as_bytes()]);
    assert_eq!(
        session.load().await.unwrap().get::<u32>("m").unwrap(),
        Some(2)
    );

    // Logging out sends an empty header: the client drops its token.
    let response = with_token(&manager, &rotated, |s| s.end()).await;
    assert_eq!(response.set_cookie, None);
    assert_eq!(response.session_header.as_deref(), Some(""));
    let gone = manager.request_from_headers(None, [rotated.as_bytes()]);
    assert!(gone.load_existing().await.unwrap().is_none());
}

#[tokio::test]
async fn the_header_wins_over_the_cookie() {
    let (manager, _) = setup();
    let mine = new_token(&manager).await;
    let planted = new_token(&manager).await;
    let cookie = format!("session={planted}");
    let request = manager.request_from_headers([cookie.as_bytes()], [mine.as_bytes()]);
    let session = request.load().await.unwrap();
    assert_eq!(
        session.store_key(),
        manager
            .request_from_headers(None, [mine.as_bytes()])
            .load()
            .await
            .unwrap()
            .store_key()
    );
}

#[tokio::test]
async fn forged_duplicated_and_oversized_tokens_open_nothing_and_write_nothing() {
    let (manager, store) = setup();
    let token = new_token(&manager).await;
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let huge = vec![b'a'; 5000];
    let cases: [Vec<&[u8]>; 5] = [
        vec![&tampered],
        vec![b"garbage"],
        vec![&huge],
        vec![token.as_bytes(), token.as_bytes()],
        vec!["caf\u{e9}".as_bytes()],
    ];
    let writes = store.writes();
    for values in cases {
        let request = manager.request_from_headers(None, values.iter().copied());
        assert!(
            request.load_existing().await.unwrap().is_none(),
            "{values:?}"
        );
        let response = request.finish(200).await.unwrap();
        assert_eq!(response.set_cookie, None, "{values:?}");
        // The client is told to drop what it sent.
        assert_eq!(response.session_header.as_deref(), Some(""), "{values:?}");
    }
    assert_eq!(store.writes(), writes, "a bad token was written");
}

#[tokio::test]
async fn a_token_an_older_key_signed_is_sent_again_signed_by_the_newest() {
    let store = CountingStore::new(MemoryStore::new());
    let old_manager = manager_with(store.clone(), KeyRing::new(OLD_SECRET).unwrap());
    let token = new_token(&old_manager).await;
    let manager = manager_with(
        store,
        KeyRing::with_fallbacks(SECRET, [OLD_SECRET]).unwrap(),
    );
    let response = with_token(&manager, &token, |s| {
        assert_eq!(s.get::<u32>("n").unwrap(), Some(1));
    })
    .await;
    let fresh = response.session_header.expect("re-signed");
    assert_ne!(fresh, token);
    assert_eq!(
        fresh.split('.').next(),
        token.split('.').next(),
        "the same ID"
    );
    assert_eq!(response.set_cookie, None);
}

#[tokio::test]
async fn without_a_configured_header_the_values_are_ignored() {
    let manager = SessionManager::new(MemoryStore::new(), KeyRing::new(SECRET).unwrap());
    let with_header = SessionManager::builder(MemoryStore::new(), KeyRing::new(SECRET).unwrap())
        .session_header(HEADER)
        .build()
        .unwrap();
    let token = new_token(&with_header).await;
    let request = manager.request_from_headers(None, [token.as_bytes()]);
    assert!(request.load_existing().await.unwrap().is_none());
    request.load().await.unwrap().insert("n", 1).unwrap();
    let response = request.finish(200).await.unwrap();
    assert!(response.set_cookie.is_some());
    assert_eq!(response.session_header, None);
    assert_eq!(manager.session_header(), None);
    assert!(response.headers().all(|(name, _)| name != HEADER));
}

#[test]
fn unusable_header_names_are_refused() {
    for name in [
        "",
        "x token",
        "x:token",
        "Cookie",
        "set-cookie",
        "VARY",
        "é",
    ] {
        let built = SessionManager::builder(MemoryStore::new(), KeyRing::new(SECRET).unwrap())
            .session_header(name)
            .build();
        assert!(
            matches!(built, Err(ConfigError::SessionHeader(_))),
            "{name:?} was accepted"
        );
    }
    let ok = SessionManager::builder(MemoryStore::new(), KeyRing::new(SECRET).unwrap())
        .cookie(CookieConfig::new("sid"))
        .session_header("Authorization-Session")
        .build()
        .unwrap();
    assert_eq!(ok.session_header(), Some("authorization-session"));
}

#[test]
fn the_token_is_redacted_from_debug_output() {
    let (manager, _) = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let response = rt.block_on(async {
        let request = manager.request_from_headers(None, None);
        request.load().await.unwrap().insert("n", 1).unwrap();
        request.finish(200).await.unwrap()
    });
    let token = response.session_header.clone().unwrap();
    let id = token.split('.').next().unwrap();
    let debug = format!("{response:?}");
    assert!(!debug.contains(id), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
}

#[tokio::test]
async fn a_session_in_the_header_needs_no_csrf_token_but_a_cookie_does() {
    let (manager, _) = setup();
    let request = manager.request_from_headers(None, None);
    request.load().await.unwrap().insert("n", 1).unwrap();
    let response = request.finish(200).await.unwrap();
    let token = response.session_header.clone().unwrap();
    let cookie = response.cookie_pair().unwrap().to_owned();
    // Browsers never send the header on their own: no forgery possible.
    let by_header = manager.request_from_headers(None, [token.as_bytes()]);
    assert!(by_header.check_csrf("POST", None).await.is_ok());
    // A cookie they do send: the token is required.
    let by_cookie = manager.request_from_headers([cookie.as_bytes()], None);
    assert!(by_cookie.check_csrf("POST", None).await.is_err());
}
