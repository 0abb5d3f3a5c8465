//! Random requests checked against a model of the session.

use std::fmt::Write as _;

use reqwest::Method;
use serde_json::{Value, json};

use super::browser::{Browser, seen_with};
use super::target::Target;

/// Random sequences of the demo's requests (read, set and remove keys, log
/// in, log out) from one browser, every answer checked against a model of
/// the session: each response carries the whole session the previous
/// requests left, the browser holds a cookie exactly while there is data,
/// reads set no cookie, and a cookie that a login or logout retired opens
/// an empty session. A failure names the seed (`SESSION_TEST_SEED=N`
/// replays it) and the requests so far.
///
/// ```no_run
/// use session_conformance::http::{Target, random_requests_match_a_model_of_the_session};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(random_requests_match_a_model_of_the_session(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn random_requests_match_a_model_of_the_session(target: &Target) {
    use rand::{Rng, SeedableRng};
    let seed = crate::seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut b = Browser::new(target);
    let mut model = serde_json::Map::new();
    let mut retired: Vec<String> = Vec::new();
    let mut log = String::new();
    let fail =
        |log: &str, what: String| -> ! { crate::replay_failure(what, seed, "requests", log) };
    for _ in 0..60 {
        let key = ["a", "b", "c"][rng.random_range(0..3)];
        let before = b.session_cookie();
        let (request, answer) = match rng.random_range(0..10) {
            0..=2 => ("GET /api/session".to_owned(), b.get("/api/session").await),
            3..=5 => {
                let value = rng.random_range(0..3);
                model.insert(key.to_owned(), json!(value));
                (
                    format!("PUT {key} = {value}"),
                    b.put(key, json!(value)).await,
                )
            }
            6 | 7 => {
                model.remove(key);
                let path = format!("/api/session/{key}");
                (
                    format!("DELETE {key}"),
                    b.send(Method::DELETE, &path, None).await,
                )
            }
            8 => {
                let user = rng.random_range(1..4);
                model.insert("user_id".to_owned(), json!(user));
                model.insert("username".to_owned(), json!(format!("user{user}")));
                retired.extend(before.clone());
                let body = json!({"user_id": user, "username": format!("user{user}")});
                (
                    format!("POST /api/login as {user}"),
                    b.post("/api/login", body).await,
                )
            }
            _ => {
                model.clear();
                retired.extend(before.clone());
                (
                    "POST /api/logout".to_owned(),
                    b.post("/api/logout", json!({})).await,
                )
            }
        };
        let _ = writeln!(log, "  {request}: {} {}", answer.status, answer.text);
        let expected = if request.ends_with("logout") {
            json!({})
        } else {
            Value::Object(model.clone())
        };
        if answer.status != 200 || answer.json != expected {
            fail(
                &log,
                format!(
                    "{request} answered {} {}, expected {expected}",
                    answer.status, answer.text
                ),
            );
        }
        if request.starts_with("GET") && !answer.set_cookies.is_empty() {
            fail(
                &log,
                format!("a read set cookies: {:?}", answer.set_cookies),
            );
        }
        if b.session_cookie().is_some() == model.is_empty() {
            fail(
                &log,
                format!(
                    "the browser holds {:?} for the session {}",
                    b.session_cookie(),
                    Value::Object(model.clone())
                ),
            );
        }
        if let Some(old) = retired.last() {
            let seen = seen_with(target, old).await;
            if seen != json!({}) {
                fail(&log, format!("a retired cookie opened {seen}"));
            }
        }
    }
}
