//! Cases on the cookie: its attributes, when it is sent, and cookies the
//! server did not make.

use reqwest::Method;
use serde_json::json;

use super::browser::Browser;
use super::target::{Target, loads, writes};

/// A session kept whole in its cookie that grows past what a cookie holds
/// is refused: a 500 with a JSON error, no cookie, and the session as it
/// was before the request.
///
/// ```no_run
/// use session_conformance::http::{Target, a_session_too_large_for_its_cookie_is_a_500};
/// // Against the demo with `--store cookie:`:
/// session_conformance::block_on(a_session_too_large_for_its_cookie_is_a_500(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn a_session_too_large_for_its_cookie_is_a_500(target: &Target) {
    let mut b = Browser::new(target);
    assert_eq!(b.put("n", json!(1)).await.status, 200);
    let a = b.put("blob", json!("x".repeat(5_000))).await;
    assert_eq!(a.status, 500, "{}", a.text);
    assert!(a.json["error"].is_string(), "{}", a.text);
    assert!(a.set_cookies.is_empty(), "{:?}", a.set_cookies);
    assert_eq!(b.get("/api/session").await.json, json!({"n": 1}));
}

/// A new session's cookie carries the safe attributes, and responses that
/// depend on the session say `Vary: Cookie`.
///
/// ```no_run
/// use session_conformance::http::{Target, cookie_attributes_and_vary};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(cookie_attributes_and_vary(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn cookie_attributes_and_vary(target: &Target) {
    let mut b = Browser::new(target);
    let a = b.put("greeting", json!("hello")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let c = a.cookie().expect("a new session sets a cookie");
    assert_eq!(c.http_only(), Some(true), "HttpOnly: {:?}", a.set_cookies);
    assert_eq!(c.secure(), Some(true), "Secure: {:?}", a.set_cookies);
    assert_eq!(
        c.same_site(),
        Some(cookie::SameSite::Lax),
        "SameSite: {:?}",
        a.set_cookies
    );
    assert_eq!(c.path(), Some("/"), "Path: {:?}", a.set_cookies);
    assert_eq!(
        c.partitioned().unwrap_or(false),
        target.partitioned,
        "Partitioned: {:?}",
        a.set_cookies
    );
    assert!(
        c.max_age()
            .is_some_and(|m| m > cookie::time::Duration::ZERO),
        "Max-Age: {:?}",
        a.set_cookies
    );
    assert_eq!(a.set_cookies.len(), 1, "exactly one Set-Cookie");
    assert!(
        a.vary.iter().any(|v| v.eq_ignore_ascii_case("cookie")),
        "Vary: {:?}",
        a.vary
    );
    assert_eq!(a.json, json!({"greeting": "hello"}));
}

/// Reading a session sets no cookie; asking for one that does not exist
/// creates nothing.
///
/// ```no_run
/// use session_conformance::http::{Target, read_only_requests_set_no_cookie};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(read_only_requests_set_no_cookie(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn read_only_requests_set_no_cookie(target: &Target) {
    let mut b = Browser::new(target);
    let before = writes(target);
    let a = b.get("/api/session").await;
    assert_eq!((a.status.as_u16(), &a.json), (200, &json!({})));
    assert!(
        a.set_cookies.is_empty(),
        "no session, no cookie: {:?}",
        a.set_cookies
    );
    assert_eq!(
        writes(target),
        before,
        "reading no session wrote to the store"
    );
    b.put("n", json!(1)).await;
    let before = writes(target);
    let a = b.get("/api/session").await;
    assert_eq!(a.json, json!({"n": 1}));
    assert!(
        a.set_cookies.is_empty(),
        "a read-only request set a cookie: {:?}",
        a.set_cookies
    );
    assert!(
        a.vary.iter().any(|v| v.eq_ignore_ascii_case("cookie")),
        "Vary: {:?}",
        a.vary
    );
    assert_eq!(
        writes(target),
        before,
        "a read-only request wrote to the store"
    );
}

/// A route that never takes the session (`GET /health`) costs the session
/// nothing: with a live cookie or a forged one, no store load or write, no
/// `Set-Cookie`, no `Vary: Cookie`.
///
/// ```no_run
/// use session_conformance::http::{Target, routes_without_the_session_never_touch_it};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(routes_without_the_session_never_touch_it(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn routes_without_the_session_never_touch_it(target: &Target) {
    let mut browser = Browser::new(target);
    let put = browser.put("theme", json!("dark")).await;
    assert_eq!(put.status, 200, "{}", put.text);
    let (loads_before, writes_before) = (loads(target), writes(target));
    let answer = browser.get("/health").await;
    assert_eq!(answer.status, 200, "GET /health: {}", answer.text);
    assert!(
        answer.set_cookies.is_empty(),
        "a route without the session set a cookie: {:?}",
        answer.set_cookies
    );
    assert!(
        !answer
            .vary
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("cookie")),
        "a route without the session said Vary: Cookie"
    );
    let name = browser
        .session_cookie()
        .and_then(|pair| pair.split_once('=').map(|(n, _)| n.to_owned()))
        .expect("the write set a session cookie");
    let mut forger = Browser::new(target);
    forger.set_cookie_raw(&format!("{name}=forged.value"));
    let forged = forger.get("/health").await;
    assert!(
        forged.set_cookies.is_empty(),
        "a forged cookie was answered"
    );
    assert_eq!(
        loads(target),
        loads_before,
        "a route without the session asked the store"
    );
    assert_eq!(
        writes(target),
        writes_before,
        "a route without the session wrote to the store"
    );
    // The session is untouched and still there.
    let after = browser.get("/api/session").await;
    assert_eq!(after.json["theme"], "dark", "{}", after.text);
}

/// A route that takes the session only if there is one (`GET
/// /api/whoami`, the optional-session extractor) answers a visitor without
/// a session, with a forged cookie, or logged out, without creating one: no
/// store write, no `Set-Cookie` carrying a session. With a live session it
/// sees it; with the store down it answers 503, never a silent "nobody".
///
/// ```no_run
/// use session_conformance::http::{Target, an_optional_session_is_never_created};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(an_optional_session_is_never_created(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn an_optional_session_is_never_created(target: &Target) {
    let nobody = json!({"session": false, "user": null, "username": null});
    let mut visitor = Browser::new(target);
    let before = writes(target);
    let a = visitor.get("/api/whoami").await;
    assert_eq!((a.status.as_u16(), &a.json), (200, &nobody), "{}", a.text);
    assert!(a.set_cookies.is_empty(), "{:?}", a.set_cookies);
    assert_eq!(visitor.session_cookie(), None);
    assert_eq!(writes(target), before, "an optional session was written");

    let mut user = Browser::new(target);
    let login = user
        .post("/api/login", json!({"user_id": 31, "username": "ada"}))
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let cookie = user.session_cookie().expect("logged in");
    let (name, _) = cookie.split_once('=').expect("name=value");
    let before = writes(target);
    let a = user.get("/api/whoami").await;
    assert_eq!(
        a.json,
        json!({"session": true, "user": "31", "username": "ada"})
    );
    assert!(a.set_cookies.is_empty(), "a read set a cookie");
    assert!(a.vary.iter().any(|v| v.eq_ignore_ascii_case("cookie")));
    assert_eq!(writes(target), before, "reading wrote");

    let mut forger = Browser::new(target);
    forger.set_cookie_raw(&format!("{name}=forged.value"));
    let a = forger.get("/api/whoami").await;
    assert_eq!(a.json, nobody);
    assert!(
        a.set_cookies.iter().all(|c| !c.contains('.')),
        "a forged cookie got a session: {:?}",
        a.set_cookies
    );
    assert_eq!(writes(target), before, "a forged cookie was written");

    if let Some(set_down) = &target.set_down {
        set_down(true);
        let a = user.get("/api/whoami").await;
        set_down(false);
        assert_eq!(
            a.status, 503,
            "a store failure is not a logged-out user: {}",
            a.text
        );
    }
    let logout = user.post("/api/logout", json!({})).await;
    assert!(logout.deletes_cookie());
    assert_eq!(user.get("/api/whoami").await.json, nobody);
}

/// Forged, tampered, garbage and oversized cookies: a fresh session, and
/// nothing written to the store.
///
/// ```no_run
/// use session_conformance::http::{Target, forged_cookies_get_a_fresh_session_and_no_store_write};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(forged_cookies_get_a_fresh_session_and_no_store_write(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn forged_cookies_get_a_fresh_session_and_no_store_write(target: &Target) {
    let mut b = Browser::new(target);
    b.put("secret", json!("mine")).await;
    let good = b.session_cookie().expect("a session");
    let (name, value) = good.split_once('=').expect("name=value");
    let flip = |s: &str, i: usize| {
        let mut s = s.to_owned();
        let c = if &s[i..=i] == "A" { "B" } else { "A" };
        s.replace_range(i..=i, c);
        s
    };
    let forged = [
        format!("{name}={}", flip(value, value.len() - 2)),
        format!("{name}={}", flip(value, 3)),
        format!("{name}=garbage"),
        format!("{name}={}", "A".repeat(5000)),
        format!("{name}={}", &value[..value.len() / 2]),
    ];
    for cookie in forged {
        let before = writes(target);
        let mut mallory = Browser::new(target);
        mallory.set_cookie_raw(&cookie);
        let a = mallory.get("/api/session").await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.json, json!({}), "a forged cookie opened a session");
        assert_eq!(
            writes(target),
            before,
            "a forged cookie caused a store write"
        );
        assert!(
            a.set_cookies
                .iter()
                .all(|c| !c.contains(&cookie[name.len() + 1..])),
            "the forged ID was echoed"
        );
    }
    // Writing with a forged cookie starts a new session under a new ID.
    let mut mallory = Browser::new(target);
    let forged = format!("{name}={}", flip(value, value.len() - 2));
    mallory.set_cookie_raw(&forged);
    mallory.put("x", json!(1)).await;
    let issued = mallory.session_cookie().expect("a new session");
    assert_ne!(issued, forged);
    assert_ne!(issued, good);
    assert_eq!(
        b.get("/api/session").await.json,
        json!({"secret": "mine"}),
        "the real session was touched"
    );
}

/// Whatever else a browser sends in `Cookie` never hides or replaces the
/// session: another cookie with raw UTF-8 (`café`) or a byte that is not
/// UTF-8, a malformed one (`b="unterminated`), or the cookies in several
/// `Cookie` headers (as HTTP/2 sends them). Reads see the session, and
/// writes land in it.
///
/// ```no_run
/// use session_conformance::http::{Target, other_cookies_never_hide_the_session};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(other_cookies_never_hide_the_session(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn other_cookies_never_hide_the_session(target: &Target) {
    let mut b = Browser::new(target);
    b.put("kept", json!(0)).await;
    let pair = b.session_cookie().expect("a session").into_bytes();
    let joined = |parts: &[&[u8]]| parts.join(&b"; "[..]);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "raw UTF-8 after",
            vec![joined(&[&pair, "theme=café".as_bytes()])],
        ),
        (
            "raw UTF-8 before",
            vec![joined(&["name=Zoë 😀".as_bytes(), &pair])],
        ),
        (
            "a byte that is not UTF-8",
            vec![joined(&[b"theme=caf\xe9", &pair])],
        ),
        (
            "unterminated quotes before",
            vec![joined(&[b"b=\"unterminated", &pair])],
        ),
        (
            "unterminated quotes after",
            vec![joined(&[&pair, b"b=\"unterminated"])],
        ),
        (
            "one header per cookie",
            vec![b"a=1".to_vec(), pair.clone(), b"z=2".to_vec()],
        ),
        (
            "one header per cookie, non-UTF-8 beside",
            vec![b"t=\xff\xfe".to_vec(), pair.clone()],
        ),
    ];
    let mut written = Vec::new();
    for (n, (what, headers)) in cases.into_iter().enumerate() {
        if target.drops_non_utf8_headers && headers.iter().any(|h| std::str::from_utf8(h).is_err())
        {
            continue;
        }
        let mut other = Browser::new(target);
        let read = other
            .send_raw(Method::GET, "/api/session", &headers, None)
            .await;
        assert_eq!(read.status, 200, "{what}: {}", read.text);
        assert_eq!(
            read.json["kept"],
            json!(0),
            "{what}: the session was not seen: {}",
            read.text
        );
        let key = format!("k{n}");
        let body = Some(("application/json", json!(n).to_string()));
        let path = format!("/api/session/{key}");
        let write = other.send_raw(Method::PUT, &path, &headers, body).await;
        assert_eq!(write.status, 200, "{what}: {}", write.text);
        written.push(n);
        if let Some(set) = write.cookie() {
            assert_eq!(
                format!("{}={}", set.name(), set.value()).into_bytes(),
                pair,
                "{what}: the write replaced the session with another one"
            );
        }
    }
    let seen = b.get("/api/session").await.json;
    for n in written {
        assert_eq!(seen[format!("k{n}")], json!(n), "a write was lost: {seen}");
    }
}
