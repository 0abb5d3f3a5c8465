//! Cases on a session's life: login, logout, expiry, concurrent writes,
//! and the user's other sessions.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::browser::{Browser, seen_with};
use super::target::{Target, writes};

/// Logging out deletes the cookie and the old cookie opens nothing.
///
/// ```no_run
/// use session_conformance::http::{Target, logout_deletes_the_cookie};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(logout_deletes_the_cookie(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn logout_deletes_the_cookie(target: &Target) {
    let mut b = Browser::new(target);
    b.post("/api/login", json!({"user_id": 7, "username": "seven"}))
        .await;
    let old = b.session_cookie().expect("logged in");
    let a = b.post("/api/logout", json!({})).await;
    assert_eq!(a.status, 200);
    assert!(
        a.deletes_cookie(),
        "logout must delete the cookie: {:?}",
        a.set_cookies
    );
    assert_eq!(
        seen_with(target, &old).await,
        json!({}),
        "the logged-out cookie still works"
    );
}

/// Logging in gives a new ID and the pre-login cookie stops working.
///
/// ```no_run
/// use session_conformance::http::{Target, login_rotates_the_id};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(login_rotates_the_id(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn login_rotates_the_id(target: &Target) {
    let mut b = Browser::new(target);
    b.put("cart", json!(["apple"])).await;
    let before = b.session_cookie().expect("a session");
    let a = b
        .post(
            "/api/login",
            json!({"user_id": 123, "username": "john_doe"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let after = b.session_cookie().expect("still a session");
    assert_ne!(before, after, "login must rotate the session ID");
    assert_eq!(
        a.json,
        json!({"cart": ["apple"], "user_id": 123, "username": "john_doe"})
    );
    assert_eq!(
        seen_with(target, &before).await,
        json!({}),
        "the pre-login ID still opens the session"
    );
    assert_eq!(b.get("/api/session").await.json["username"], "john_doe");
}

/// A short expiry is honoured by the server (the cookie alone is not trusted).
///
/// ```no_run
/// use session_conformance::http::{Target, expiry_is_honoured};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(expiry_is_honoured(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn expiry_is_honoured(target: &Target) {
    let mut b = Browser::new(target);
    b.put("short", json!(true)).await;
    let a = b.post("/api/expiry", json!({"seconds": 1})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        a.cookie()
            .is_some_and(|c| c.max_age() == Some(cookie::time::Duration::seconds(1))),
        "{:?}",
        a.set_cookies
    );
    let cookie = b.session_cookie().expect("a session");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        seen_with(target, &cookie).await,
        json!({}),
        "an expired session still loads"
    );

    let mut b = Browser::new(target);
    b.put("until", json!("close")).await;
    let a = b.post("/api/expiry", json!({"browser_close": true})).await;
    assert_eq!(a.json["browser_close"], true);
    let c = a.cookie().expect("the cookie is set again");
    assert!(
        c.max_age().is_none() && c.expires().is_none(),
        "a browser-session cookie: {:?}",
        a.set_cookies
    );
}

/// 64 concurrent writes of different keys to one session all land.
///
/// ```no_run
/// use session_conformance::http::{Target, parallel_writes_of_different_keys_all_land};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(parallel_writes_of_different_keys_all_land(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn parallel_writes_of_different_keys_all_land(target: &Target) {
    let mut b = Browser::new(target);
    b.put("seed", json!(0)).await;
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let mut b = b.clone();
            tokio::spawn(async move {
                let a = b.put(&format!("k{i}"), json!(i)).await;
                assert_eq!(a.status, 200, "PUT k{i}: {}", a.text);
            })
        })
        .collect();
    for h in handles {
        h.await.expect("writer");
    }
    let all = b.get("/api/session").await.json;
    let missing: Vec<usize> = (0..64)
        .filter(|i| all[format!("k{i}")] != json!(i))
        .collect();
    assert!(missing.is_empty(), "lost writes: {missing:?}");
}

/// A logout that lands while a slow write is in flight: the session stays
/// ended, and the slow request is told to drop the cookie.
///
/// ```no_run
/// use session_conformance::http::{Target, logout_during_a_slow_write_stays_logged_out};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(logout_during_a_slow_write_stays_logged_out(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn logout_during_a_slow_write_stays_logged_out(target: &Target) {
    let mut b = Browser::new(target);
    b.post("/api/login", json!({"user_id": 99, "username": "racer"}))
        .await;
    let cookie = b.session_cookie().expect("logged in");
    let mut slow = b.clone();
    let write = tokio::spawn(async move {
        slow.send(
            Method::PUT,
            "/api/session/late?delay_ms=800",
            Some(json!(1)),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    let a = b.post("/api/logout", json!({})).await;
    assert!(a.deletes_cookie(), "{:?}", a.set_cookies);
    let late = write.await.expect("slow write");
    assert_eq!(late.status, 200, "{}", late.text);
    assert!(
        late.deletes_cookie(),
        "the slow write must not keep the session: {:?}",
        late.set_cookies
    );
    assert_eq!(
        seen_with(target, &cookie).await,
        json!({}),
        "the slow write resurrected the session"
    );
}

/// A handler that fails with a 5xx after writing leaves the session as it was.
///
/// ```no_run
/// use session_conformance::http::{Target, server_errors_leave_the_session_unsaved};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(server_errors_leave_the_session_unsaved(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn server_errors_leave_the_session_unsaved(target: &Target) {
    let mut b = Browser::new(target);
    b.put("kept", json!(1)).await;
    let before = writes(target);
    let a = b
        .send(Method::PUT, "/api/session/lost?fail=1", Some(json!(2)))
        .await;
    assert_eq!(a.status, 500);
    assert!(a.set_cookies.is_empty(), "{:?}", a.set_cookies);
    assert_eq!(
        writes(target),
        before,
        "a failed request wrote to the store"
    );
    assert_eq!(b.get("/api/session").await.json, json!({"kept": 1}));
    let mut fresh = Browser::new(target);
    let a = fresh
        .send(Method::PUT, "/api/session/lost?fail=1", Some(json!(2)))
        .await;
    assert_eq!(a.status, 500);
    assert!(
        fresh.session_cookie().is_none(),
        "a failed request created a session"
    );
}

/// A logged-in user sees their sessions (digests, never IDs) and can end
/// all but the current one.
///
/// ```no_run
/// use session_conformance::http::{Target, a_user_lists_and_ends_their_other_sessions};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(a_user_lists_and_ends_their_other_sessions(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn a_user_lists_and_ends_their_other_sessions(target: &Target) {
    let user = 1_000_000
        + (std::process::id() as u64 % 1000) * 1000
        + (session_core::now().unix_timestamp() as u64 % 1000);
    let login = json!({"user_id": user, "username": "multi"});
    let mut laptop = Browser::new(target);
    let mut phone = Browser::new(target);
    laptop.post("/api/login", login.clone()).await;
    phone.post("/api/login", login).await;
    let listed = laptop.get("/api/sessions").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let list = listed.json.as_array().expect("a list").clone();
    assert_eq!(list.len(), 2, "{}", listed.text);
    for cookie in [
        laptop.session_cookie().unwrap(),
        phone.session_cookie().unwrap(),
    ] {
        let id = cookie
            .split_once('=')
            .unwrap()
            .1
            .split('.')
            .next()
            .unwrap()
            .to_owned();
        assert!(!listed.text.contains(&id), "a raw session ID was listed");
    }
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let a = laptop.post("/api/sessions/end-others", json!({})).await;
    assert_eq!(a.json, json!({"ended": 1}), "{}", a.text);
    assert_eq!(
        phone.get("/api/session").await.json,
        json!({}),
        "the other device is still logged in"
    );
    assert_eq!(laptop.get("/api/session").await.json["username"], "multi");
    assert_eq!(Browser::new(target).get("/api/sessions").await.status, 401);
}
