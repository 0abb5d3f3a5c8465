//! The session cookie: its attributes, reading it from a request and writing
//! `Set-Cookie` headers.
//!
//! Defaults are the safe ones: `HttpOnly`, `Secure`, `SameSite=Lax`,
//! `Path=/`, no `Domain`. Names with the `__Host-` or `__Secure-` prefixes
//! are checked against the attributes those prefixes require when the
//! manager is built.
//!
//! # The `__Host-` recipe
//!
//! For an app served over HTTPS on one host, name the cookie with the
//! `__Host-` prefix: browsers then accept it only if it is `Secure`, has
//! `Path=/` and no `Domain`, so a sibling subdomain (or a man in the middle
//! on plain HTTP) cannot plant or overwrite the session cookie ("cookie
//! tossing"). The defaults already meet the prefix's rules, and
//! [`CookieConfig::validate`] (run when the manager is built) refuses a
//! configuration that breaks them.
//!
//! ```
//! use session_core::{CookieConfig, SameSite};
//!
//! let cookie = CookieConfig::new("__Host-session").same_site(SameSite::Strict);
//! assert!(cookie.validate().is_ok());
//! // A __Host- cookie may not name a domain, nor a path other than `/`.
//! assert!(cookie.clone().domain("example.com").validate().is_err());
//! assert!(cookie.clone().path("/app").validate().is_err());
//! ```
//!
//! Development over plain HTTP needs `.secure(false)`, which the prefix
//! forbids: use a plain name there (`session`), and `__Host-session` in
//! production.

pub use ::cookie::SameSite;
use ::cookie::{Cookie, Expiration};
use time::{Duration, OffsetDateTime};

use crate::ConfigError;
use crate::cookie_value::Rejection;

/// Cookies with a longer value are rejected before any other check (browsers
/// cap a whole cookie at 4096 bytes).
///
/// ```
/// # use session_core::{KeyRing, MAX_COOKIE_VALUE_LEN, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
/// let huge = format!("session={}", "a".repeat(MAX_COOKIE_VALUE_LEN + 1));
/// let session = manager.request([huge.as_str()]).load().await?;
/// assert!(session.is_empty(), "an oversized cookie opens a fresh session");
/// # Ok(()) }
/// ```
pub const MAX_COOKIE_VALUE_LEN: usize = 4096;

/// Attributes of the session cookie.
///
/// ```
/// # use session_core::{CookieConfig, SameSite};
/// let cookie = CookieConfig::new("__Host-session").same_site(SameSite::Strict);
/// assert!(cookie.validate().is_ok());
/// assert!(CookieConfig::new("__Host-session").secure(false).validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    pub(crate) name: String,
    pub(crate) domain: Option<String>,
    pub(crate) path: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) partitioned: bool,
}

impl Default for CookieConfig {
    /// A cookie named `session` with the safe defaults.
    fn default() -> Self {
        CookieConfig::new("session")
    }
}

impl CookieConfig {
    /// A cookie called `name`, with `HttpOnly`, `Secure`, `SameSite=Lax` and `Path=/`.
    ///
    /// ```
    /// # use session_core::CookieConfig;
    /// let cookie = CookieConfig::new("sid");
    /// assert_eq!(cookie.name(), "sid");
    /// assert!(cookie.is_secure());
    /// assert_eq!(cookie, CookieConfig::new("sid").http_only(true).secure(true).path("/"));
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        CookieConfig {
            name: name.into(),
            domain: None,
            path: "/".to_owned(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            partitioned: false,
        }
    }

    /// Sets the `Domain` attribute (default: none, so only the exact host gets it).
    ///
    /// ```
    /// # use session_core::CookieConfig;
    /// assert!(CookieConfig::new("sid").domain("example.com").validate().is_ok());
    /// assert!(CookieConfig::new("sid").domain("a;b").validate().is_err());
    /// // `__Host-` cookies must not name a domain.
    /// assert!(CookieConfig::new("__Host-sid").domain("example.com").validate().is_err());
    /// ```
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the `Path` attribute (default `/`).
    ///
    /// ```
    /// # use session_core::CookieConfig;
    /// assert!(CookieConfig::new("sid").path("/app").validate().is_ok());
    /// assert!(CookieConfig::new("sid").path("app").validate().is_err());
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `Secure` (default `true`). Turn it off only for plain-HTTP
    /// development servers.
    ///
    /// ```
    /// # use session_core::CookieConfig;
    /// let dev = CookieConfig::new("sid").secure(false);
    /// assert!(!dev.is_secure());
    /// ```
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets `HttpOnly` (default `true`), which keeps the cookie away from scripts.
    ///
    /// ```
    /// # use session_core::CookieConfig;
    /// let readable = CookieConfig::new("sid").http_only(false);
    /// assert_ne!(readable, CookieConfig::new("sid"));
    /// ```
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets `SameSite` (default `Lax`).
    ///
    /// ```
    /// # use session_core::{CookieConfig, SameSite};
    /// assert!(CookieConfig::new("sid").same_site(SameSite::Strict).validate().is_ok());
    /// // SameSite=None needs Secure.
    /// let none = CookieConfig::new("sid").same_site(SameSite::None);
    /// assert!(none.clone().validate().is_ok());
    /// assert!(none.secure(false).validate().is_err());
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets `Partitioned` (default `false`): a CHIPS cookie ("Cookies
    /// Having Independent Partitioned State"), which a browser keeps apart
    /// for each top-level site the app is embedded in, so an app inside a
    /// third-party iframe keeps its session where third-party cookies are
    /// blocked. Requires `Secure`; embedded apps also need `SameSite=None`.
    ///
    /// ```
    /// # use session_core::{CookieConfig, SameSite};
    /// let embedded = CookieConfig::new("__Host-sid").same_site(SameSite::None).partitioned(true);
    /// assert!(embedded.validate().is_ok());
    /// assert!(CookieConfig::new("sid").partitioned(true).secure(false).validate().is_err());
    /// ```
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        self
    }

    /// The cookie's name.
    ///
    /// ```
    /// # use session_core::CookieConfig;
    /// assert_eq!(CookieConfig::default().name(), "session");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the cookie is sent with `Secure`.
    ///
    /// ```
    /// # use session_core::CookieConfig;
    /// assert!(CookieConfig::default().is_secure());
    /// ```
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Checks the name's syntax and the `__Host-`/`__Secure-` prefix rules.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CookieName`] for a name that is not an RFC 6265 token,
    /// [`ConfigError::CookiePrefix`] when a prefix's requirements are not met,
    /// [`ConfigError::CookieAttribute`] for `SameSite=None` without `Secure`
    /// or a path or domain that would break the header.
    ///
    /// ```
    /// # use session_core::{ConfigError, CookieConfig};
    /// assert!(CookieConfig::new("sid").validate().is_ok());
    /// assert!(matches!(CookieConfig::new("s;d").validate(), Err(ConfigError::CookieName(_))));
    /// assert!(matches!(
    ///     CookieConfig::new("__Secure-sid").secure(false).validate(),
    ///     Err(ConfigError::CookiePrefix(..))
    /// ));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let token = |c: u8| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&c);
        if self.name.is_empty() || !self.name.bytes().all(token) {
            return Err(ConfigError::CookieName(self.name.clone()));
        }
        let attr_ok =
            |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_graphic() && c != b';');
        if !attr_ok(&self.path) || !self.path.starts_with('/') {
            return Err(ConfigError::CookieAttribute(
                "Path must start with '/' and contain no ';' or spaces",
            ));
        }
        if self.domain.as_deref().is_some_and(|d| !attr_ok(d)) {
            return Err(ConfigError::CookieAttribute("Domain must be a host name"));
        }
        if self.partitioned && !self.secure {
            return Err(ConfigError::CookieAttribute("Partitioned requires Secure"));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::CookieAttribute(
                "SameSite=None requires Secure",
            ));
        }
        let lower = self.name.to_ascii_lowercase();
        if lower.starts_with("__host-")
            && (!self.secure || self.domain.is_some() || self.path != "/")
        {
            return Err(ConfigError::CookiePrefix(
                "a __Host- cookie needs Secure, Path=/ and no Domain",
            ));
        }
        if lower.starts_with("__secure-") && !self.secure {
            return Err(ConfigError::CookiePrefix("a __Secure- cookie needs Secure"));
        }
        Ok(())
    }

    /// A `Set-Cookie` value carrying `value`, every attribute formatted by
    /// the `cookie` crate. With `max_age` the cookie is persistent
    /// (`Max-Age` and `Expires`, counted from `now`); without, it is a
    /// browser-session cookie. Saves use [`SetCookie::render`], which gives
    /// the same header; this is its reference and its fallback.
    fn render_each_time(
        &self,
        value: &str,
        max_age: Option<Duration>,
        now: OffsetDateTime,
    ) -> String {
        let mut cookie = self.base(value);
        if let Some(age) = max_age {
            let age = age.max(Duration::ZERO);
            cookie.set_max_age(age);
            cookie.set_expires(Expiration::DateTime(now + age));
        }
        written(&cookie)
    }

    /// The cookie with this configuration's attributes, borrowing every
    /// string (rendering runs on every save).
    fn base<'a>(&'a self, value: &'a str) -> Cookie<'a> {
        let mut cookie = Cookie::new(self.name.as_str(), value);
        cookie.set_path(self.path.as_str());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.as_str());
        }
        cookie.set_secure(self.secure);
        cookie.set_http_only(self.http_only);
        cookie.set_same_site(self.same_site);
        if self.partitioned {
            cookie.set_partitioned(true);
        }
        cookie
    }

    /// Finds this cookie's value in a request's `Cookie` headers (any text:
    /// borrowed, or read from bytes with what is not UTF-8 replaced).
    pub(crate) fn find<H: AsRef<str>>(&self, headers: impl IntoIterator<Item = H>) -> Found {
        // The first value found, judged at once (so an oversized one is
        // never copied); a second one rejects the cookie whatever it is.
        let mut found: Option<Result<String, Rejection>> = None;
        for header in headers {
            for cookie in Cookie::split_parse(header.as_ref()).flatten() {
                if cookie.name() != self.name {
                    continue;
                }
                let value = match cookie.value_raw() {
                    Some(raw) => raw,
                    None => return Found::Rejected(Rejection::Malformed),
                };
                if found.is_some() {
                    // Two cookies of the same name: a planted cookie (cookie
                    // tossing) could be either, so trust neither.
                    return Found::Rejected(Rejection::Duplicated);
                }
                found = Some(crate::cookie_value::judge_text(value).map(str::to_owned));
            }
        }
        match found {
            None => Found::Absent,
            Some(Ok(value)) => Found::Value(value),
            Some(Err(why)) => Found::Rejected(why),
        }
    }
}

/// The session cookie's `Set-Cookie` values, with everything that does
/// not change from one response to the next rendered once, by the `cookie`
/// crate, when the manager is built: a save then joins a few strings
/// instead of formatting every attribute again.
///
/// The `cookie` crate writes `name=value`, then the attributes, with
/// `Max-Age` and `Expires` last; the tests check that the joined header is
/// byte for byte what the crate writes.
#[derive(Debug)]
pub(crate) struct SetCookie {
    config: CookieConfig,
    /// What the `cookie` crate writes after the value, up to `Max-Age`.
    attributes: String,
    /// The whole header that deletes the cookie.
    removal: String,
}

impl SetCookie {
    pub(crate) fn new(config: &CookieConfig) -> SetCookie {
        let empty = written(&config.base(""));
        let attributes = empty[config.name.len() + 1..].to_owned();
        let mut removal = config.base("");
        removal.set_max_age(Duration::ZERO);
        removal.set_expires(Expiration::DateTime(OffsetDateTime::UNIX_EPOCH));
        SetCookie {
            config: config.clone(),
            attributes,
            removal: written(&removal),
        }
    }

    /// A `Set-Cookie` value carrying `value`. With `max_age` the cookie is
    /// persistent (`Max-Age` and `Expires`, counted from `now`); without,
    /// it is a browser-session cookie.
    pub(crate) fn render(
        &self,
        value: &str,
        max_age: Option<Duration>,
        now: OffsetDateTime,
    ) -> String {
        use std::fmt::Write;
        let persistent = match max_age.map(|age| age.max(Duration::ZERO)) {
            None => None,
            Some(age) => match http_date(now + age) {
                Some(date) => Some((age, date)),
                // A date the fast formatter does not cover.
                None => return self.config.render_each_time(value, Some(age), now),
            },
        };
        let name = &self.config.name;
        let mut out =
            String::with_capacity(name.len() + 1 + value.len() + self.attributes.len() + 64);
        out.push_str(name);
        out.push('=');
        out.push_str(value);
        out.push_str(&self.attributes);
        if let Some((age, date)) = persistent {
            write!(out, "; Max-Age={}; Expires={date}", age.whole_seconds())
                .expect("writing to a String cannot fail");
        }
        out
    }

    /// A `Set-Cookie` value that makes the browser drop the cookie.
    pub(crate) fn removal(&self) -> String {
        self.removal.clone()
    }
}

/// `at` as an HTTP date (`Thu, 15 Jan 1970 00:00:00 GMT`), for the years
/// the fast formatter covers (1970 to 9999); `None` outside them.
fn http_date(at: OffsetDateTime) -> Option<httpdate::HttpDate> {
    const YEAR_10000: i64 = 253_402_300_800;
    (0..YEAR_10000)
        .contains(&at.unix_timestamp())
        .then(|| httpdate::HttpDate::from(std::time::SystemTime::from(at)))
}

/// `cookie` rendered into one allocation of the usual size.
fn written(cookie: &Cookie<'_>) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(256);
    write!(out, "{cookie}").expect("writing to a String cannot fail");
    out
}

/// The outcome of looking for the session cookie in a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    Absent,
    Value(String),
    Rejected(Rejection),
}

#[cfg(test)]
mod tests;
