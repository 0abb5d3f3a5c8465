//! Sessions carried in a request header rather than a cookie.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::target::{Target, writes};

/// One request of a client that keeps its session in the session header
/// (no cookie jar): the status, the JSON body, the header's value in the
/// answer, whether a `Set-Cookie` came, and the `Vary` values.
pub(super) async fn with_token(
    target: &Target,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>, bool, Vec<String>) {
    let name = target
        .session_header
        .as_deref()
        .expect("a target with a session header");
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}{path}", target.base));
    if let Some(token) = token {
        request = request.header(name, token);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let header = response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("an ASCII token").to_owned());
    let set_cookie = response.headers().contains_key("set-cookie");
    let vary = response
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let status = response.status();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, json, header, set_cookie, vary)
}

/// A client without a cookie jar keeps its session in the session header
/// ([`Target::session_header`]): a new session's token comes back in the
/// header, the client sends it back, and the answer carries the header
/// only when the token changes (log in: a new one; log out or a dead
/// token: an empty one), never a cookie. Forged tokens open nothing and
/// write nothing.
///
/// ```no_run
/// use session_conformance::http::{Target, a_session_travels_in_the_session_header};
/// // Against a server running the demo with `--session-header x-session-token`:
/// let target = Target::new("http://127.0.0.1:8000").session_header("x-session-token");
/// session_conformance::block_on(a_session_travels_in_the_session_header(&target));
/// ```
pub async fn a_session_travels_in_the_session_header(target: &Target) {
    let name = target.session_header.clone().expect("a session header");
    let put = Method::PUT;
    let (status, json, token, _, vary) =
        with_token(target, put.clone(), "/api/session/n", None, Some(json!(1))).await;
    assert_eq!((status.as_u16(), &json), (200, &json!({"n": 1})));
    let token = token.expect("a new session's token in the header");
    assert!(
        vary.iter().any(|v| v.eq_ignore_ascii_case(&name)),
        "Vary: {vary:?}"
    );

    let before = writes(target);
    let (_, json, header, set_cookie, _) =
        with_token(target, Method::GET, "/api/session", Some(&token), None).await;
    assert_eq!(json, json!({"n": 1}), "the token opens the session");
    assert_eq!(
        (header, set_cookie),
        (None, false),
        "a read answers nothing"
    );
    assert_eq!(writes(target), before, "a read wrote");

    let (_, _, header, set_cookie, _) =
        with_token(target, put, "/api/session/m", Some(&token), Some(json!(2))).await;
    assert_eq!(
        (header, set_cookie),
        (None, false),
        "same token, nothing sent"
    );

    let login = json!({"user_id": 5, "username": "eve"});
    let (status, _, header, set_cookie, _) = with_token(
        target,
        Method::POST,
        "/api/login",
        Some(&token),
        Some(login),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!set_cookie, "a header session was answered with a cookie");
    let rotated = header.expect("logging in changes the token");
    assert!(!rotated.is_empty() && rotated != token);
    let (_, json, header, _, _) =
        with_token(target, Method::GET, "/api/session", Some(&token), None).await;
    assert_eq!(
        json,
        json!({}),
        "the pre-login token still opens the session"
    );
    assert_eq!(header.as_deref(), Some(""), "a dead token is dropped");
    let (_, json, _, _, _) =
        with_token(target, Method::GET, "/api/whoami", Some(&rotated), None).await;
    assert_eq!(json["user"], "5");

    let before = writes(target);
    let last = if rotated.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &rotated[..rotated.len() - 1]);
    let (_, json, _, set_cookie, _) =
        with_token(target, Method::GET, "/api/session", Some(&forged), None).await;
    assert_eq!((json, set_cookie), (json!({}), false));
    assert_eq!(writes(target), before, "a forged token was written");

    let (status, _, header, set_cookie, _) = with_token(
        target,
        Method::POST,
        "/api/logout",
        Some(&rotated),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!((header.as_deref(), set_cookie), (Some(""), false));
    let (_, json, _, _, _) =
        with_token(target, Method::GET, "/api/whoami", Some(&rotated), None).await;
    assert_eq!(json["session"], false, "the logged-out token still works");
}
