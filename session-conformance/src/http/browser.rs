//! A browser: a client with a cookie jar, and what the server answered it.

use std::collections::BTreeMap;

use cookie::Cookie;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::target::Target;

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
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) jar: BTreeMap<String, String>,
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
pub(super) async fn seen_with(target: &Target, cookie: &str) -> Value {
    let mut browser = Browser::new(target);
    browser.set_cookie_raw(cookie);
    browser.get("/api/session").await.json
}
