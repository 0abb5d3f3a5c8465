//! Cases on bad input and failures: malformed or oversized bodies, an
//! unreachable store, a save that fails.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::browser::Browser;
use super::target::Target;

/// Malformed JSON is a 400 with a JSON error body.
///
/// ```no_run
/// use session_conformance::http::{Target, bad_json_is_a_400_with_a_json_error};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(bad_json_is_a_400_with_a_json_error(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn bad_json_is_a_400_with_a_json_error(target: &Target) {
    let mut b = Browser::new(target);
    for (method, path) in [
        (Method::PUT, "/api/session/x"),
        (Method::POST, "/api/login"),
        (Method::POST, "/api/expiry"),
    ] {
        let request = b
            .client
            .request(method.clone(), format!("{}{path}", b.base))
            .header("Content-Type", "application/json")
            .body("{not json");
        let response = request.send().await.expect("answer");
        assert_eq!(response.status(), 400, "{method} {path}");
        let body: Value = response.json().await.expect("a JSON error body");
        assert!(body["error"].is_string(), "{method} {path}: {body}");
    }
    assert!(b.get("/api/session").await.json == json!({}));
}

/// A value that nests deeper than a stored session can be read back
/// ([`session_core::MAX_VALUE_DEPTH`]) is refused with a 400, and the
/// session keeps what it had; one as deep as allowed is kept. (Saving it
/// would make the whole session undecodable at the next request: the user
/// would lose everything in it.)
///
/// ```no_run
/// use session_conformance::http::{Target, a_value_too_deep_to_load_again_is_refused};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(a_value_too_deep_to_load_again_is_refused(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn a_value_too_deep_to_load_again_is_refused(target: &Target) {
    let nested = |depth: usize| (1..depth).fold(json!([]), |inner, _| json!([inner]));
    let deepest = nested(session_core::MAX_VALUE_DEPTH);
    let mut b = Browser::new(target);
    let kept = b.put("kept", json!("before")).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    let a = b.put("deepest", deepest.clone()).await;
    assert_eq!(a.status, 200, "a value as deep as allowed: {}", a.text);
    let a = b
        .put("deeper", nested(session_core::MAX_VALUE_DEPTH + 1))
        .await;
    assert_eq!(a.status, 400, "a value too deep: {}", a.text);
    assert!(a.json["error"].is_string(), "{}", a.text);
    let now = b.get("/api/session").await;
    assert_eq!(
        now.json,
        json!({"kept": "before", "deepest": deepest}),
        "the session lost what it had"
    );
}

/// A request body over the demo's limit (256 KiB, the same in every
/// framework) is a 413 with a JSON error body, and the session keeps what
/// it had; a body of exactly the limit is read whole.
///
/// ```no_run
/// use session_conformance::http::{Target, an_oversized_body_is_a_413_with_a_json_error};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(an_oversized_body_is_a_413_with_a_json_error(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn an_oversized_body_is_a_413_with_a_json_error(target: &Target) {
    const LIMIT: usize = 256 * 1024;
    // A JSON string `len` bytes long, quotes included.
    let string = |len: usize| json!("a".repeat(len - 2));
    let mut b = Browser::new(target);
    let a = b.put("whole", string(LIMIT)).await;
    assert_eq!(a.status, 200, "a body of exactly the limit: {}", a.text);
    for (path, body) in [
        ("/api/session/over", string(LIMIT + 1)),
        ("/api/session/far_over", string(2 * LIMIT)),
        (
            "/api/login",
            json!({"user_id": 1, "username": "a".repeat(LIMIT)}),
        ),
        (
            "/api/expiry",
            json!({"seconds": 60, "pad": "a".repeat(LIMIT)}),
        ),
    ] {
        let method = if path.starts_with("/api/session/") {
            Method::PUT
        } else {
            Method::POST
        };
        let a = b.send(method, path, Some(body)).await;
        assert_eq!(a.status, 413, "{path}: {}", a.text);
        assert!(a.json["error"].is_string(), "{path}: {}", a.text);
    }
    let now = b.get("/api/session").await;
    assert_eq!(
        now.json,
        json!({"whole": string(LIMIT)}),
        "an oversized request changed the session"
    );
}

/// An unreachable store is a 503 with a JSON error body, and nothing is lost.
///
/// ```no_run
/// use session_conformance::http::{Target, an_unreachable_store_is_a_503_with_a_json_error};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(an_unreachable_store_is_a_503_with_a_json_error(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn an_unreachable_store_is_a_503_with_a_json_error(target: &Target) {
    let Some(set_down) = &target.set_down else {
        return;
    };
    let mut b = Browser::new(target);
    b.put("durable", json!(true)).await;
    set_down(true);
    let read = b.get("/api/session").await;
    let write = b.put("x", json!(1)).await;
    set_down(false);
    for (what, a) in [("read", &read), ("write", &write)] {
        assert_eq!(a.status, 503, "{what}: {}", a.text);
        assert!(
            a.content_type.contains("json"),
            "{what}: {}",
            a.content_type
        );
        assert!(a.json["error"].is_string(), "{what}: {}", a.text);
        assert!(a.set_cookies.is_empty(), "{what}: {:?}", a.set_cookies);
    }
    assert_eq!(
        b.get("/api/session").await.json,
        json!({"durable": true}),
        "the outage lost the session"
    );
}

/// A save that fails (the store went away while the handler worked) is
/// answered by the error response alone: none of the handler's headers
/// (here its `Cache-Control`) and no cookie go out with it.
///
/// ```no_run
/// use session_conformance::http::{Target, a_failed_save_replaces_the_whole_response};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(a_failed_save_replaces_the_whole_response(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn a_failed_save_replaces_the_whole_response(target: &Target) {
    let Some(set_down) = target.set_down.clone() else {
        return;
    };
    let mut b = Browser::new(target);
    let first = b.put("durable", json!(true)).await;
    assert!(
        !first.cache_control.is_empty(),
        "the demo's JSON answers carry a Cache-Control of their own: {first:?}"
    );
    let mut slow = b.clone();
    let write = tokio::spawn(async move {
        slow.send(Method::PUT, "/api/session/x?delay_ms=600", Some(json!(1)))
            .await
    });
    // The handler has loaded the session and works; the store goes away.
    tokio::time::sleep(Duration::from_millis(250)).await;
    set_down(true);
    let a = write.await.expect("slow write");
    set_down(false);
    assert_eq!(a.status, 503, "{}", a.text);
    assert!(a.content_type.contains("json"), "{}", a.content_type);
    assert!(a.json["error"].is_string(), "{}", a.text);
    assert!(a.set_cookies.is_empty(), "{:?}", a.set_cookies);
    assert!(
        a.cache_control.is_empty(),
        "the handler's headers went out with the error: Cache-Control {:?}",
        a.cache_control
    );
    assert_eq!(b.get("/api/session").await.json, json!({"durable": true}));
}
