//! The demo's behaviour, written once: every framework's handler is a
//! translation of one of these functions, so the three servers answer
//! identically. Errors are JSON (`{"error": "..."}`) in every framework:
//! 400 for a body that is not the JSON a route expects, 413 for a body
//! over [`BODY_LIMIT`], 503 when the store is unreachable, 500 for other
//! session errors.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sessions::time::Duration;
use sessions::{Expiry, Session, SessionError, SessionManager};

/// The `Cache-Control` of every successful JSON answer: they depend on the
/// session, so no cache may keep them. (Error answers are not cached by
/// default and go without it.)
pub const CACHE_CONTROL: &str = "no-store";

/// An answer: a status and a JSON body (sent with [`CACHE_CONTROL`] when
/// it is a success).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// A `Retry-After` in seconds, if any.
    pub retry_after: Option<u32>,
}

impl Reply {
    /// The `Cache-Control` header this answer carries, if any.
    pub fn cache_control(&self) -> Option<&'static str> {
        (200..300).contains(&self.status).then_some(CACHE_CONTROL)
    }

    fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            body,
            retry_after: None,
        }
    }

    pub(crate) fn error(status: u16, message: impl Into<String>) -> Self {
        Reply {
            status,
            body: json!({ "error": message.into() }),
            retry_after: None,
        }
    }
}

/// The largest request body the JSON routes read, the same in every
/// framework (each has its own default, and answers past it in its own way).
pub const BODY_LIMIT: usize = 256 * 1024;

/// The answer to a request body over [`BODY_LIMIT`]: 413, with a JSON
/// error body like every other error of the API.
pub fn body_too_large() -> Reply {
    Reply::error(
        413,
        format!("the request body is over {} KiB", BODY_LIMIT / 1024),
    )
}

/// The answer to a request body that could not be read (other than for
/// its size): 400, with a JSON error body.
pub fn unreadable_body(error: impl std::fmt::Display) -> Reply {
    Reply::error(400, format!("could not read the request body: {error}"))
}

/// Parses a JSON request body, or answers 400 with a JSON error.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| Reply::error(400, format!("invalid JSON body: {e}")))
}

/// The answer to a session error: 503 when the store is unreachable, 500
/// otherwise, with a JSON body that names no internals.
pub fn session_error(err: &SessionError) -> Reply {
    Reply {
        retry_after: err.retry_after(),
        ..Reply::error(err.status_code(), err.public_message())
    }
}

fn written(result: Result<(), SessionError>, session: &Session) -> Reply {
    match result {
        Ok(()) => Reply::ok(session.to_json()),
        Err(e) => Reply::error(400, e.to_string()),
    }
}

/// `GET /health`: a route that never takes the session, so it never reads
/// the cookie, asks the store, or sets a cookie (for load balancers).
pub fn health() -> Reply {
    Reply::ok(json!({ "status": "ok" }))
}

/// `GET /api/session`: the whole session (`{}` when there is none).
pub fn get(session: &Session) -> Reply {
    Reply::ok(session.to_json())
}

/// `GET /api/whoami`: who is logged in, for a route that works with or
/// without a session and never creates one (`{"user": null, "session":
/// false}` for a visitor without a session, and no cookie set).
pub fn whoami(session: Option<&Session>) -> Reply {
    Reply::ok(json!({
        "session": session.is_some(),
        "user": session.and_then(Session::user),
        "username": session.and_then(|s| s.get::<String>("username").ok().flatten()),
    }))
}

/// Query parameters of `PUT /api/session/{key}`.
#[derive(Debug, Default, Deserialize)]
pub struct PutQuery {
    /// Load, wait this long, then write (for concurrency tests).
    pub delay_ms: Option<u64>,
    /// Write, then answer 500 (the session must not be saved).
    pub fail: Option<u8>,
}

/// The most `delay_ms` may ask for.
const MAX_DELAY_MS: u64 = 10_000;

/// `PUT /api/session/{key}`: sets `key` to the JSON body.
pub async fn put(session: &Session, key: &str, query: &PutQuery, body: &[u8]) -> Reply {
    let value: Value = match parse(body) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    if let Some(ms) = query.delay_ms {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(MAX_DELAY_MS))).await;
    }
    let reply = written(session.insert(key, value), session);
    if query.fail == Some(1) && reply.status == 200 {
        return Reply::error(500, "failed on purpose (fail=1): the session is not saved");
    }
    reply
}

/// `DELETE /api/session/{key}`.
pub fn delete(session: &Session, key: &str) -> Reply {
    session.remove(key);
    Reply::ok(session.to_json())
}

/// The body of `POST /api/login` (JSON), and the fields of the page's
/// `POST /login` form.
#[derive(Debug, Deserialize, rocket::FromForm)]
pub struct Login {
    /// The user's ID.
    pub user_id: u64,
    /// The user's name.
    pub username: String,
}

/// Logs `login` in: a new session ID (so an ID planted before login is
/// worthless), the user binding, and both keys.
pub fn login(session: &Session, login: &Login) -> Reply {
    session.cycle_id();
    let result = session
        .set_user(login.user_id.to_string())
        .and_then(|()| session.insert("user_id", login.user_id))
        .and_then(|()| session.insert("username", &login.username));
    written(result, session)
}

/// `POST /api/login`.
pub fn login_json(session: &Session, body: &[u8]) -> Reply {
    match parse::<Login>(body) {
        Ok(l) => login(session, &l),
        Err(reply) => reply,
    }
}

/// `POST /api/logout`: ends the session on the server; the cookie is deleted.
pub fn logout(session: &Session) -> Reply {
    session.end();
    Reply::ok(json!({}))
}

/// The body of `POST /api/expiry`.
#[derive(Debug, Deserialize)]
pub struct ExpiryBody {
    /// Expire after this many idle seconds.
    pub seconds: Option<i64>,
    /// Expire when the browser closes.
    pub browser_close: Option<bool>,
}

/// `POST /api/expiry`.
pub fn expiry(session: &Session, body: &[u8]) -> Reply {
    let body: ExpiryBody = match parse(body) {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let expiry = match (body.seconds, body.browser_close) {
        (_, Some(true)) => Expiry::BrowserClose,
        (Some(s), _) => Expiry::AfterIdle(Duration::seconds(s)),
        _ => return Reply::error(400, r#"expected {"seconds": N} or {"browser_close": true}"#),
    };
    if session.is_empty() {
        return Reply::error(400, "there is no session to set the expiry of");
    }
    session.set_expiry(expiry);
    Reply::ok(expiry_json(session))
}

fn expiry_json(session: &Session) -> Value {
    json!({
        "expiry_age": session.expiry_age().whole_seconds(),
        "expiry_date": session.expiry_date().unix_timestamp(),
        "browser_close": session.expire_at_browser_close(),
    })
}

/// `GET /api/sessions`: the logged-in user's sessions (digests of their
/// IDs, never the IDs).
pub async fn sessions(manager: &SessionManager, session: &Session) -> Reply {
    let Some(user) = session.user() else {
        return Reply::error(401, "not logged in");
    };
    let current = session.store_key();
    match manager.sessions_of(&user).await {
        Ok(list) => Reply::ok(Value::Array(
            list.into_iter()
                .map(|s| {
                    json!({
                        "id": s.key.as_str(),
                        "created": s.created_at.unix_timestamp(),
                        "expires": s.expires_at.unix_timestamp(),
                        "current": Some(&s.key) == current.as_ref(),
                    })
                })
                .collect(),
        )),
        Err(e) => session_error(&e.into()),
    }
}

/// `POST /api/sessions/end-others`: ends the user's other sessions.
pub async fn end_others(manager: &SessionManager, session: &Session) -> Reply {
    let Some(user) = session.user() else {
        return Reply::error(401, "not logged in");
    };
    match manager
        .end_sessions_of(&user, session.store_key().as_ref())
        .await
    {
        Ok(ended) => Reply::ok(json!({ "ended": ended })),
        Err(e) => session_error(&e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_is_a_400_with_a_json_error() {
        let reply = parse::<Login>(b"{nope").unwrap_err();
        assert_eq!(reply.status, 400);
        assert!(
            reply.body["error"]
                .as_str()
                .unwrap()
                .contains("invalid JSON")
        );
    }
}
