//! The cookie store (`SessionManager::encrypted_cookies`): the request
//! lifecycle's rules for sessions kept whole in an encrypted cookie.
#![cfg(feature = "cookie-store")]

use session_core::time::Duration;
use session_core::{
    ConfigError, Expiry, ExpiryRules, KeyRing, SessionError, SessionManager, SessionResponse,
};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const OLD_SECRET: &[u8] = b"an older secret that still verifies";

fn manager_with(keys: KeyRing, rules: ExpiryRules) -> SessionManager {
    SessionManager::encrypted_cookies(keys)
        .expiry(rules)
        .build()
        .unwrap()
}

fn manager() -> SessionManager {
    manager_with(KeyRing::new(SECRET).unwrap(), ExpiryRules::default())
}

/// One request carrying `cookie` (if any) that runs `handler` on the
/// session and finishes with 200.
async fn request(
    manager: &SessionManager,
    cookie: Option<&str>,
    handler: impl FnOnce(&session_core::Session),
) -> SessionResponse {
    let request = manager.request(cookie);
    handler(&request.load().await.unwrap());
    request.finish(200).await.unwrap()
}

fn pair(response: &SessionResponse) -> String {
    response.cookie_pair().expect("a cookie").to_owned()
}

#[tokio::test]
async fn a_session_lives_in_its_cookie_and_is_written_only_when_it_changes() {
    let manager = manager();
    let created = request(&manager, None, |s| s.insert("n", 1).unwrap()).await;
    let cookie = pair(&created);
    assert!(
        created
            .set_cookie
            .as_deref()
            .unwrap()
            .contains("Max-Age=1209600")
    );

    let read = request(&manager, Some(&cookie), |s| {
        assert_eq!(s.get::<u32>("n").unwrap(), Some(1));
    })
    .await;
    assert_eq!(read.set_cookie, None, "a read sends no cookie");
    assert!(read.vary_cookie);

    let changed = request(&manager, Some(&cookie), |s| s.insert("n", 2).unwrap()).await;
    let next = pair(&changed);
    assert_ne!(next, cookie);
    let session = manager.request([next.as_str()]).load().await.unwrap();
    assert_eq!(session.get::<u32>("n").unwrap(), Some(2));

    let ended = request(&manager, Some(&next), |s| s.end()).await;
    assert!(ended.set_cookie.as_deref().unwrap().contains("Max-Age=0"));
    let nothing = request(&manager, None, |_| {}).await;
    assert_eq!(nothing.set_cookie, None, "an empty session sends nothing");
}

#[tokio::test]
async fn forged_and_foreign_cookies_open_a_fresh_session() {
    let manager = manager();
    let cookie = pair(&request(&manager, None, |s| s.insert("n", 1).unwrap()).await);
    let (name, value) = cookie.split_once('=').unwrap();
    let other = manager_with(KeyRing::new([9u8; 32]).unwrap(), ExpiryRules::default());
    let foreign = pair(&request(&other, None, |s| s.insert("n", 1).unwrap()).await);
    let last = if value.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{name}={}{last}", &value[..value.len() - 1]);
    for bad in [
        tampered,
        foreign,
        format!("{name}=garbage"),
        format!("{name}="),
    ] {
        let request = manager.request([bad.as_str()]);
        assert!(request.load_existing().await.unwrap().is_none(), "{bad}");
        assert!(request.load().await.unwrap().is_empty(), "{bad}");
    }
}

#[tokio::test]
async fn an_expired_cookie_is_no_session() {
    let rules = ExpiryRules::default().idle_timeout(Duration::seconds(1));
    let manager = manager_with(KeyRing::new(SECRET).unwrap(), rules);
    let cookie = pair(&request(&manager, None, |s| s.insert("n", 1).unwrap()).await);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let session = manager.request([cookie.as_str()]).load().await.unwrap();
    assert!(session.is_empty(), "the expiry sealed in the cookie passed");
}

#[tokio::test]
async fn the_absolute_lifetime_counts_from_creation_across_writes() {
    // Session times are whole seconds (the manager's clock drops the
    // fraction), so a session may end up to a second before its lifetime
    // is up; the waits leave that second.
    let rules = ExpiryRules::default()
        .idle_timeout(Duration::days(1))
        .absolute_lifetime(Duration::seconds(3));
    let manager = manager_with(KeyRing::new(SECRET).unwrap(), rules);
    let first = pair(&request(&manager, None, |s| s.insert("n", 1).unwrap()).await);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    // A later write keeps the creation time sealed in the first cookie: at
    // least a whole second of the lifetime is gone (a new one would give 3).
    let second = request(&manager, Some(&first), |s| s.insert("n", 2).unwrap()).await;
    let age: i64 = second
        .set_cookie
        .as_deref()
        .unwrap()
        .split("Max-Age=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(age <= 2, "Max-Age {age} runs past the absolute lifetime");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let session = manager
        .request([pair(&second).as_str()])
        .load()
        .await
        .unwrap();
    assert!(session.is_empty(), "outlived its absolute lifetime");
}

#[tokio::test]
async fn a_due_expiry_extension_rewrites_the_cookie() {
    let rules = ExpiryRules::default().touch_interval(Duration::ZERO);
    let manager = manager_with(KeyRing::new(SECRET).unwrap(), rules);
    let cookie = pair(&request(&manager, None, |s| s.insert("n", 1).unwrap()).await);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let touched = request(&manager, Some(&cookie), |_| {}).await;
    assert!(touched.cookie_pair().is_some(), "the idle expiry slides");
    // With the default interval, a read a second later writes nothing.
    let manager = self::manager();
    let cookie = pair(&request(&manager, None, |s| s.insert("n", 1).unwrap()).await);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(
        request(&manager, Some(&cookie), |_| {}).await.set_cookie,
        None
    );
}

#[tokio::test]
async fn a_cookie_an_older_key_sealed_is_sealed_again_with_the_newest() {
    let old = manager_with(KeyRing::new(OLD_SECRET).unwrap(), ExpiryRules::default());
    let cookie = pair(&request(&old, None, |s| s.insert("n", 1).unwrap()).await);
    let keys = KeyRing::with_fallbacks(SECRET, [OLD_SECRET]).unwrap();
    let rotated = manager_with(keys, ExpiryRules::default());
    let response = request(&rotated, Some(&cookie), |s| {
        assert_eq!(s.get::<u32>("n").unwrap(), Some(1));
    })
    .await;
    let resealed = pair(&response);
    let newest_only = self::manager();
    let session = newest_only
        .request([resealed.as_str()])
        .load()
        .await
        .unwrap();
    assert_eq!(session.get::<u32>("n").unwrap(), Some(1));
}

#[tokio::test]
async fn a_session_too_large_for_its_cookie_is_an_error_and_sends_nothing() {
    let manager = manager();
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert("blob", "x".repeat(5_000)).unwrap();
    match request.finish(200).await {
        Err(SessionError::CookieTooLarge { len, max }) => assert!(len > max),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn browser_close_sessions_get_a_session_cookie() {
    let manager = manager();
    let response = request(&manager, None, |s| {
        s.insert("n", 1).unwrap();
        s.set_expiry(Expiry::BrowserClose);
    })
    .await;
    let header = response.set_cookie.unwrap();
    assert!(!header.contains("Max-Age"), "{header}");
}

#[test]
fn a_cookie_store_has_no_header_sessions_nor_user_index() {
    let built = SessionManager::encrypted_cookies(KeyRing::new(SECRET).unwrap())
        .session_header("x-session-token")
        .build();
    assert!(matches!(built, Err(ConfigError::SessionHeader(_))));
    let manager = manager();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let listed = rt.block_on(manager.sessions_of("alice"));
    assert!(
        listed.is_err(),
        "a cookie store cannot list a user's sessions"
    );
}
