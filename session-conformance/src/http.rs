//! The HTTP behaviour suite: drives a running server over real HTTP, with a
//! real client and a cookie jar, and checks what a browser would see.
//!
//! The server must serve the demo's API (see `session-demo`):
//! `GET /api/session`, `PUT|DELETE /api/session/{key}` (with `?delay_ms=N`
//! and `?fail=1`), `POST /api/login`, `POST /api/logout`,
//! `POST /api/expiry`, `GET /api/sessions`, `POST /api/sessions/revoke-others`,
//! `GET /api/whoami` (a route that takes the session only if there is one),
//! `GET /`, and `GET /health` (a route that never takes the session).
//! Every adapter runs the same suite through the demo, which is how "the
//! three frameworks behave identically" is checked.
//!
//! ```no_run
//! # session_conformance::block_on(async {
//! use session_conformance::http::{Target, run_all};
//! run_all(&Target::new("http://127.0.0.1:8000")).await;
//! # });
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use cookie::Cookie;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

type Probe = Arc<dyn Fn() -> usize + Send + Sync>;
type Switch = Arc<dyn Fn(bool) + Send + Sync>;

/// The server under test, and optional hooks into its store.
///
/// ```no_run
/// use session_conformance::counting::CountingStore;
/// use session_conformance::http::{Target, run_all};
/// let store = CountingStore::new(session_store_memory::MemoryStore::new());
/// // … serve the demo's routes on 127.0.0.1:8000 with `store.clone()` …
/// let (loads, writes, down) = (store.clone(), store.clone(), store.clone());
/// let target = Target::new("http://127.0.0.1:8000")
///     .loads(move || loads.loads())
///     .writes(move || writes.writes())
///     .set_down(move |d| down.set_down(d));
/// session_conformance::block_on(run_all(&target));
/// ```
#[derive(Clone)]
pub struct Target {
    base: String,
    writes: Option<Probe>,
    loads: Option<Probe>,
    set_down: Option<Switch>,
    drops_non_utf8_headers: bool,
    session_header: Option<String>,
    partitioned: bool,
}

impl Target {
    /// A server at `base` (for example `http://127.0.0.1:8000`).
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// assert_eq!(browser.get("/api/session").await.status, 200);
    /// # });
    /// ```
    pub fn new(base: impl Into<String>) -> Self {
        Target {
            base: base.into().trim_end_matches('/').to_owned(),
            writes: None,
            loads: None,
            set_down: None,
            drops_non_utf8_headers: false,
            session_header: None,
            partitioned: false,
        }
    }

    /// Says that the server's session cookie is `Partitioned`
    /// (`CookieConfig::partitioned`), which the suite then checks.
    ///
    /// ```no_run
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000").partitioned();
    /// ```
    pub fn partitioned(mut self) -> Self {
        self.partitioned = true;
        self
    }

    /// Says that the server also takes sessions in the request header
    /// `name` (`SessionManagerBuilder::session_header`), so the suite
    /// checks sessions carried that way too.
    ///
    /// ```no_run
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .session_header("x-session-token");
    /// ```
    pub fn session_header(mut self, name: impl Into<String>) -> Self {
        self.session_header = Some(name.into());
        self
    }

    /// Says that the framework drops a header whose bytes are not UTF-8
    /// before the session layer sees it (Rocket 0.5 does), so a `Cookie`
    /// header with such a byte cannot carry the session there; the suite
    /// then skips those cases and checks all the others.
    ///
    /// ```no_run
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .drops_non_utf8_headers();
    /// ```
    pub fn drops_non_utf8_headers(mut self) -> Self {
        self.drops_non_utf8_headers = true;
        self
    }

    /// Counts the loads that reach the server's store, so the suite can
    /// check that routes which never take the session never ask the store.
    ///
    /// ```no_run
    /// use session_conformance::counting::CountingStore;
    /// let store = CountingStore::new(session_store_memory::MemoryStore::new());
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .loads(move || store.loads());
    /// ```
    pub fn loads(mut self, probe: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        self.loads = Some(Arc::new(probe));
        self
    }

    /// Counts the writes that reach the server's store, so the suite can
    /// check that forged cookies and failed requests write nothing.
    ///
    /// ```no_run
    /// use session_conformance::counting::CountingStore;
    /// let store = CountingStore::new(session_store_memory::MemoryStore::new());
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .writes(move || store.writes());
    /// ```
    pub fn writes(mut self, probe: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        self.writes = Some(Arc::new(probe));
        self
    }

    /// Takes the server's store down and up, so the suite can check the 503.
    ///
    /// ```no_run
    /// use session_conformance::counting::CountingStore;
    /// let store = CountingStore::new(session_store_memory::MemoryStore::new());
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .set_down(move |down| store.set_down(down));
    /// ```
    pub fn set_down(mut self, switch: impl Fn(bool) + Send + Sync + 'static) -> Self {
        self.set_down = Some(Arc::new(switch));
        self
    }
}

/// A browser: a client and a cookie jar that keeps what `Set-Cookie` says.
///
/// ```no_run
/// # session_conformance::block_on(async {
/// use session_conformance::http::{Browser, Target};
/// let target = Target::new("http://127.0.0.1:8000");
/// let mut browser = Browser::new(&target);
/// browser.put("theme", serde_json::json!("dark")).await;
/// // The jar kept the cookie, so the next request sees the session:
/// assert_eq!(browser.get("/api/session").await.json["theme"], "dark");
/// # });
/// ```
#[derive(Clone)]
pub struct Browser {
    client: reqwest::Client,
    base: String,
    jar: BTreeMap<String, String>,
}

/// What came back from one request.
///
/// ```no_run
/// # session_conformance::block_on(async {
/// use session_conformance::http::{Browser, Target};
/// let target = Target::new("http://127.0.0.1:8000");
/// let answer = Browser::new(&target).put("n", serde_json::json!(1)).await;
/// assert_eq!(answer.status, 200);
/// assert_eq!(answer.json, serde_json::json!({"n": 1}));
/// assert!(answer.vary.iter().any(|v| v == "Cookie"));
/// # });
/// ```
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
    /// Every `Vary` header value.
    pub vary: Vec<String>,
    /// The `Content-Type`.
    pub content_type: String,
    /// The `Location` (of a redirect).
    pub location: String,
    /// The `Cache-Control` headers, comma-joined (empty when none).
    pub cache_control: String,
    /// The body, as JSON when it is JSON (else `Null`).
    pub json: Value,
    /// The body as text.
    pub text: String,
}

impl Answer {
    /// The one `Set-Cookie` header, parsed.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let answer = Browser::new(&target).put("n", serde_json::json!(1)).await;
    /// let cookie = answer.cookie().expect("a new session sets its cookie");
    /// assert_eq!(cookie.http_only(), Some(true));
    /// # });
    /// ```
    pub fn cookie(&self) -> Option<Cookie<'static>> {
        self.set_cookies
            .first()
            .and_then(|c| Cookie::parse(c.clone()).ok())
    }

    /// Whether the response tells the browser to drop the session cookie.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// browser.put("n", serde_json::json!(1)).await;
    /// assert!(browser.post("/api/logout", serde_json::json!({})).await.deletes_cookie());
    /// # });
    /// ```
    pub fn deletes_cookie(&self) -> bool {
        self.cookie().is_some_and(|c| {
            c.value().is_empty() && c.max_age() == Some(cookie::time::Duration::ZERO)
        })
    }
}

impl Browser {
    /// A browser with an empty jar.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let browser = Browser::new(&target);
    /// assert_eq!(browser.session_cookie(), None);
    /// # });
    /// ```
    pub fn new(target: &Target) -> Self {
        // Redirects are answers to check, not to follow.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        Browser {
            client,
            base: target.base.clone(),
            jar: BTreeMap::new(),
        }
    }

    /// The `name=value` of the session cookie it holds.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// browser.put("n", serde_json::json!(1)).await;
    /// assert!(browser.session_cookie().is_some_and(|c| c.contains('=')));
    /// # });
    /// ```
    pub fn session_cookie(&self) -> Option<String> {
        self.jar.iter().next().map(|(n, v)| format!("{n}={v}"))
    }

    /// Replaces the jar with one cookie (`name=value`), as a forger would.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// browser.set_cookie_raw("session=forged.value");
    /// assert_eq!(browser.get("/api/session").await.json, serde_json::json!({}));
    /// # });
    /// ```
    pub fn set_cookie_raw(&mut self, pair: &str) {
        self.jar.clear();
        if let Some((n, v)) = pair.split_once('=') {
            self.jar.insert(n.to_owned(), v.to_owned());
        }
    }

    /// Sends a request and keeps the cookies of the answer.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// let answer = browser.send(reqwest::Method::DELETE, "/api/session/n", None).await;
    /// assert_eq!(answer.status, 200);
    /// # });
    /// ```
    pub async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| ("application/json", b.to_string()));
        self.send_body(method, path, body).await
    }

    /// Sends a request with an optional `(content type, body)` and keeps
    /// the cookies of the answer.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// let answer = browser
    ///     .send_body(reqwest::Method::PUT, "/api/session/n", Some(("application/json", "{not json".into())))
    ///     .await;
    /// assert_eq!(answer.status, 400);
    /// # });
    /// ```
    pub async fn send_body(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Answer {
        let cookie = (!self.jar.is_empty()).then(|| {
            let pairs: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            pairs.join("; ").into_bytes()
        });
        self.send_raw(method, path, cookie.as_slice(), body).await
    }

    /// Sends a request with these `Cookie` header values, byte for byte
    /// and one header each (whatever the jar holds), as a browser with
    /// other sites' cookies would, or HTTP/2 with one header per cookie;
    /// keeps the cookies of the answer.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// let headers: [&[u8]; 2] = [b"theme=caf\xc3\xa9", b"lang=fr"];
    /// let answer = browser.send_raw(reqwest::Method::GET, "/api/session", &headers, None).await;
    /// assert_eq!(answer.status, 200);
    /// # });
    /// ```
    pub async fn send_raw(
        &mut self,
        method: Method,
        path: &str,
        cookie_headers: &[impl AsRef<[u8]>],
        body: Option<(&str, String)>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for header in cookie_headers {
            let value = reqwest::header::HeaderValue::from_bytes(header.as_ref())
                .expect("a header value a browser can send");
            request = request.header("Cookie", value);
        }
        if let Some((content_type, body)) = body {
            request = request.header("Content-Type", content_type).body(body);
        }
        let response = request.send().await.expect("the server answers");
        let headers = response.headers();
        let all = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let set_cookies = all("set-cookie");
        let vary = all("vary");
        let content_type = all("content-type").join(",");
        let location = all("location").join(",");
        let cache_control = all("cache-control").join(",");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        for raw in &set_cookies {
            if let Ok(c) = Cookie::parse(raw.clone()) {
                let expired = c
                    .max_age()
                    .is_some_and(|a| a <= cookie::time::Duration::ZERO);
                if expired || c.value().is_empty() {
                    self.jar.remove(c.name());
                } else {
                    self.jar.insert(c.name().to_owned(), c.value().to_owned());
                }
            }
        }
        Answer {
            status,
            set_cookies,
            vary,
            content_type,
            location,
            cache_control,
            json,
            text,
        }
    }

    /// `POST path` with a URL-encoded form, as the HTML page's forms send it.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// let answer = browser.post_form("/login", "user_id=1&username=ann").await;
    /// assert!(answer.status.is_redirection());
    /// # });
    /// ```
    pub async fn post_form(&mut self, path: &str, form: &str) -> Answer {
        self.send_body(
            Method::POST,
            path,
            Some(("application/x-www-form-urlencoded", form.to_owned())),
        )
        .await
    }

    /// `GET path`.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// assert_eq!(Browser::new(&target).get("/api/session").await.json, serde_json::json!({}));
    /// # });
    /// ```
    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// `PUT /api/session/{key}` with a JSON value.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let answer = Browser::new(&target).put("cart", serde_json::json!(["apple"])).await;
    /// assert_eq!(answer.json["cart"][0], "apple");
    /// # });
    /// ```
    pub async fn put(&mut self, key: &str, value: Value) -> Answer {
        self.send(Method::PUT, &format!("/api/session/{key}"), Some(value))
            .await
    }

    /// `POST path` with a JSON body.
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// let answer = browser.post("/api/login", serde_json::json!({"user_id": 1, "username": "ann"})).await;
    /// assert_eq!(answer.status, 200);
    /// # });
    /// ```
    pub async fn post(&mut self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }
}

/// What `GET /api/session` answers a browser that sends only `cookie`
/// (`name=value`): `{}` once the server no longer honours it.
async fn seen_with(target: &Target, cookie: &str) -> Value {
    let mut browser = Browser::new(target);
    browser.set_cookie_raw(cookie);
    browser.get("/api/session").await.json
}

fn writes(target: &Target) -> Option<usize> {
    target.writes.as_ref().map(|w| w())
}

fn loads(target: &Target) -> Option<usize> {
    target.loads.as_ref().map(|l| l())
}

/// Runs every case against `target`, one after another.
///
/// ```no_run
/// use session_conformance::http::{Target, run_all};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(run_all(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn run_all(target: &Target) {
    cookie_attributes_and_vary(target).await;
    read_only_requests_set_no_cookie(target).await;
    routes_without_the_session_never_touch_it(target).await;
    an_optional_session_is_never_created(target).await;
    if target.session_header.is_some() {
        a_session_travels_in_the_session_header(target).await;
    }
    logout_deletes_the_cookie(target).await;
    login_rotates_the_id(target).await;
    forged_cookies_get_a_fresh_session_and_no_store_write(target).await;
    expiry_is_honoured(target).await;
    parallel_writes_of_different_keys_all_land(target).await;
    logout_during_a_slow_write_stays_logged_out(target).await;
    server_errors_leave_the_session_unsaved(target).await;
    bad_json_is_a_400_with_a_json_error(target).await;
    a_value_too_deep_to_load_again_is_refused(target).await;
    an_oversized_body_is_a_413_with_a_json_error(target).await;
    an_unreachable_store_is_a_503_with_a_json_error(target).await;
    a_failed_save_replaces_the_whole_response(target).await;
    other_cookies_never_hide_the_session(target).await;
    a_user_lists_and_ends_their_other_sessions(target).await;
    the_page_counts_visits(target).await;
    the_page_forms_log_in_and_out(target).await;
    forms_need_the_csrf_token(target).await;
    random_requests_match_a_model_of_the_session(target).await;
}

/// The suite for a server whose sessions live whole in an encrypted cookie
/// (`SessionManager::encrypted_cookies`): every case of [`run_all`] that
/// applies to a session with no server-side record.
///
/// Left out, because a cookie store cannot keep these promises (its docs
/// say so): that a logged-out or pre-login cookie opens nothing (a copy
/// stays valid until it expires: [`logout_deletes_the_cookie`],
/// [`login_rotates_the_id`]); that concurrent writes merge
/// ([`parallel_writes_of_different_keys_all_land`],
/// [`logout_during_a_slow_write_stays_logged_out`]); the store's failures
/// ([`an_unreachable_store_is_a_503_with_a_json_error`],
/// [`a_failed_save_replaces_the_whole_response`]); the user index
/// ([`a_user_lists_and_ends_their_other_sessions`]); writes from requests
/// that each send the same old cookie all landing in one session
/// ([`other_cookies_never_hide_the_session`]; the cookie is found among
/// others by the same code in both modes); a value as large as
/// the request body limit ([`an_oversized_body_is_a_413_with_a_json_error`];
/// see [`a_session_too_large_for_its_cookie_is_a_500`] instead); and the
/// model of random requests, which expects logouts to end the session on
/// the server.
///
/// ```no_run
/// use session_conformance::http::{Target, run_cookie_store};
/// // Against the demo with `--store cookie:`:
/// session_conformance::block_on(run_cookie_store(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn run_cookie_store(target: &Target) {
    cookie_attributes_and_vary(target).await;
    read_only_requests_set_no_cookie(target).await;
    routes_without_the_session_never_touch_it(target).await;
    an_optional_session_is_never_created(target).await;
    forged_cookies_get_a_fresh_session_and_no_store_write(target).await;
    expiry_is_honoured(target).await;
    server_errors_leave_the_session_unsaved(target).await;
    bad_json_is_a_400_with_a_json_error(target).await;
    a_value_too_deep_to_load_again_is_refused(target).await;
    the_page_counts_visits(target).await;
    the_page_forms_log_in_and_out(target).await;
    forms_need_the_csrf_token(target).await;
    a_session_too_large_for_its_cookie_is_a_500(target).await;
}

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

/// One request of a client that keeps its session in the session header
/// (no cookie jar): the status, the JSON body, the header's value in the
/// answer, whether a `Set-Cookie` came, and the `Vary` values.
async fn with_token(
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
    let a = laptop.post("/api/sessions/revoke-others", json!({})).await;
    assert_eq!(a.json, json!({"ended": 1}), "{}", a.text);
    assert_eq!(
        phone.get("/api/session").await.json,
        json!({}),
        "the other device is still logged in"
    );
    assert_eq!(laptop.get("/api/session").await.json["username"], "multi");
    assert_eq!(Browser::new(target).get("/api/sessions").await.status, 401);
}

/// The HTML page counts visits within a session.
///
/// ```no_run
/// use session_conformance::http::{Target, the_page_counts_visits};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(the_page_counts_visits(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn the_page_counts_visits(target: &Target) {
    let mut b = Browser::new(target);
    let first = b.get("/").await;
    assert_eq!(first.status, 200);
    assert!(
        first.content_type.contains("text/html"),
        "{}",
        first.content_type
    );
    assert!(
        first.text.contains("visited this page 1 time "),
        "{}",
        first.text
    );
    let second = b.get("/").await;
    assert!(
        second.text.contains("visited this page 2 times"),
        "{}",
        second.text
    );
}

/// The CSRF token of the page's forms (`name="csrf_token" value="…"`).
fn form_token(page: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = page
        .find(marker)
        .expect("the page's forms carry a CSRF token")
        + marker.len();
    let end = page[start..].find('"').expect("a closing quote") + start;
    page[start..end].to_owned()
}

/// The page's forms: logging in rotates the ID (and the CSRF token) and
/// redirects home; the expiry buttons change the expiry; logging out
/// deletes the cookie and redirects home. Every form carries the session's
/// CSRF token.
///
/// ```no_run
/// use session_conformance::http::{Target, the_page_forms_log_in_and_out};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(the_page_forms_log_in_and_out(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn the_page_forms_log_in_and_out(target: &Target) {
    let mut b = Browser::new(target);
    let page = b.get("/").await;
    let token = form_token(&page.text);
    let before = b.session_cookie().expect("the page starts a session");
    let form = format!("csrf_token={token}&user_id=5&username=ann%20%3Cb%3E");
    let a = b.post_form("/login", &form).await;
    assert_eq!(
        (a.status.as_u16(), a.location.as_str()),
        (303, "/"),
        "{:?} {}",
        a.set_cookies,
        a.text
    );
    assert_ne!(
        b.session_cookie(),
        Some(before),
        "logging in must rotate the ID"
    );
    let page = b.get("/").await;
    assert!(
        page.text
            .contains("Logged in as <strong>ann &lt;b&gt;</strong>"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("Welcome, ann &lt;b&gt;."),
        "{}",
        page.text
    );
    assert!(
        !page.text.contains(r#"action="/login""#),
        "only the form that fits"
    );
    // The token changed at login: the old one no longer passes.
    let a = b.post_form("/logout", &format!("csrf_token={token}")).await;
    assert_eq!(a.status, 403, "a pre-login token passed: {}", a.text);
    let token = form_token(&page.text);

    let a = b
        .post_form("/expiry", &format!("csrf_token={token}&choice=browser"))
        .await;
    assert_eq!(
        (a.status.as_u16(), a.location.as_str()),
        (303, "/"),
        "{}",
        a.text
    );
    let page = b.get("/").await;
    assert!(
        page.text.contains("when you close the browser"),
        "{}",
        page.text
    );
    let token = form_token(&page.text);

    let a = b.post_form("/logout", &format!("csrf_token={token}")).await;
    assert_eq!((a.status.as_u16(), a.location.as_str()), (303, "/"));
    assert!(
        a.set_cookies.iter().any(|c| c.contains("Max-Age=0")),
        "{:?}",
        a.set_cookies
    );
    assert!(b.get("/").await.text.contains("Not logged in."));
}

/// The page's forms refuse a post without the session's CSRF token (none,
/// a forged one, another session's) with a 403 and change nothing; the
/// token passes in the `x-csrf-token` header too.
///
/// ```no_run
/// use session_conformance::http::{Target, forms_need_the_csrf_token};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(forms_need_the_csrf_token(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn forms_need_the_csrf_token(target: &Target) {
    let mut b = Browser::new(target);
    let token = form_token(&b.get("/").await.text);
    let mut other = Browser::new(target);
    let foreign = form_token(&other.get("/").await.text);
    let cookie = b.session_cookie().expect("the page starts a session");
    let login = "user_id=9&username=mallory";
    // A character of the middle changed (the last one carries padding bits).
    let swap = if &token[40..41] == "A" { "B" } else { "A" };
    let forged = format!("{}{swap}{}", &token[..40], &token[41..]);
    for (what, body) in [
        ("no token", login.to_owned()),
        ("an empty token", format!("csrf_token=&{login}")),
        ("a forged token", format!("csrf_token={forged}&{login}")),
        (
            "another session's token",
            format!("csrf_token={foreign}&{login}"),
        ),
    ] {
        let a = b.post_form("/login", &body).await;
        assert_eq!(a.status, 403, "{what} passed: {}", a.text);
        assert_eq!(
            b.session_cookie().as_ref(),
            Some(&cookie),
            "{what} changed the cookie"
        );
    }
    assert!(
        b.get("/").await.text.contains("Not logged in."),
        "a refused login logged in"
    );
    // A form posted with the token in the header (as a script would).
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(format!("{}/login", target.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(login);
    request = request.header("x-csrf-token", &token);
    let answer = request.send().await.expect("the server answers");
    assert_eq!(answer.status(), 303, "the header's token was refused");
}

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
