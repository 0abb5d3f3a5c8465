//! Cross-site request forgery protection built on the session: what
//! Django's `{% csrf_token %}` and `CsrfViewMiddleware` give its forms.
//!
//! A page puts [`Session::csrf_token`] in a hidden form field named
//! [`CSRF_FIELD`] (or a script sends it in the [`CSRF_HEADER`] header);
//! the adapters' CSRF layer checks it on every request with an unsafe
//! method (anything but `GET`, `HEAD`, `OPTIONS`, `TRACE`) and answers
//! 403 when it is missing or wrong. A cross-site form cannot know the
//! token, so it cannot post as the user.
//!
//! The token is bound to the session: a random 256-bit secret kept in the
//! session (under a reserved key), handed out masked with a fresh random
//! mask each time (so a page's bytes never repeat the secret, which
//! defeats compression side channels such as BREACH), and compared in
//! constant time. [`Session::cycle_id`] (log in) replaces the secret, as
//! Django's `login` does, so a token planted before login is worthless.
//!
//! ```
//! use session_core::Session;
//!
//! let session = Session::detached();
//! let token = session.csrf_token()?; // put it in the form
//! assert_ne!(token, session.csrf_token()?, "masked afresh each time");
//! assert!(session.check_csrf(&token));
//! assert!(!session.check_csrf("forged"));
//! session.cycle_id(); // log in
//! assert!(!session.check_csrf(&token), "rotated at login");
//! # Ok::<(), session_core::SessionError>(())
//! ```
//!
//! Sessions carried in a request header (see
//! [`SessionManagerBuilder::session_header`](crate::SessionManagerBuilder::session_header))
//! need no token: browsers never send such a header on their own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::{RequestSession, Session, SessionError};

/// The request header a script sends the token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field a page sends the token in.
pub const CSRF_FIELD: &str = "csrf_token";
/// The reserved session key of the secret.
pub(crate) const SECRET_KEY: &str = "_session_csrf";
const SECRET_LEN: usize = 32;

impl Session {
    /// A token for this session's forms: the session's CSRF secret (made,
    /// and the session so marked modified, on first use) under a fresh
    /// random mask. See the [`csrf`](crate::csrf) module.
    ///
    /// # Errors
    ///
    /// [`SessionError::Ended`] after [`end`](Self::end).
    ///
    /// ```
    /// # use session_core::Session;
    /// let session = Session::detached();
    /// let token = session.csrf_token()?;
    /// assert_eq!(token.len(), 86);
    /// assert!(session.modified(), "the secret is kept in the session");
    /// let form = format!(r#"<input type="hidden" name="csrf_token" value="{token}">"#);
    /// # let _ = form;
    /// # Ok::<(), session_core::SessionError>(())
    /// ```
    pub fn csrf_token(&self) -> Result<String, SessionError> {
        let mut state = self.lock();
        let secret = match state.data.get(SECRET_KEY).and_then(secret_of) {
            Some(secret) => secret,
            None => {
                let mut secret = [0u8; SECRET_LEN];
                fill_random(&mut secret);
                let encoded = Value::String(URL_SAFE_NO_PAD.encode(secret));
                state.write(SECRET_KEY, Some(encoded))?;
                secret
            }
        };
        drop(state);
        let mut token = [0u8; 2 * SECRET_LEN];
        let (mask, masked) = token.split_at_mut(SECRET_LEN);
        fill_random(mask);
        for ((m, out), s) in mask.iter().zip(masked.iter_mut()).zip(secret) {
            *out = m ^ s;
        }
        Ok(URL_SAFE_NO_PAD.encode(token))
    }

    /// Whether `token` is one of this session's CSRF tokens (any mask of
    /// its current secret), compared in constant time; `false` when the
    /// session has no secret yet.
    ///
    /// ```
    /// # use session_core::Session;
    /// let session = Session::detached();
    /// assert!(!session.check_csrf("anything"), "no secret yet");
    /// let token = session.csrf_token()?;
    /// assert!(session.check_csrf(&token));
    /// assert!(!Session::detached().check_csrf(&token), "another session's token");
    /// # Ok::<(), session_core::SessionError>(())
    /// ```
    pub fn check_csrf(&self, token: &str) -> bool {
        let Some(secret) = self.lock().data.get(SECRET_KEY).and_then(secret_of) else {
            return false;
        };
        let mut buf = [0u8; 2 * SECRET_LEN + 3];
        let Ok(len) = URL_SAFE_NO_PAD.decode_slice(token.as_bytes(), &mut buf) else {
            return false;
        };
        if len != 2 * SECRET_LEN {
            return false;
        }
        let (mask, masked) = buf[..len].split_at(SECRET_LEN);
        let mut unmasked = [0u8; SECRET_LEN];
        for ((out, m), x) in unmasked.iter_mut().zip(mask).zip(masked) {
            *out = m ^ x;
        }
        bool::from(unmasked.ct_eq(&secret))
    }
}

impl RequestSession {
    /// Checks a request's CSRF token against its session: passes requests
    /// with a safe method (`GET`, `HEAD`, `OPTIONS`, `TRACE`) and requests
    /// whose session came in the session header; any other needs `token`
    /// (from the [`CSRF_HEADER`] header or the [`CSRF_FIELD`] form field)
    /// to match the session's secret. What the adapters' CSRF layers call.
    ///
    /// # Errors
    ///
    /// [`CsrfError::Missing`] or [`CsrfError::Mismatch`] (answer 403), or
    /// [`CsrfError::Session`] when the store fails while loading.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_core::csrf::CsrfError;
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// // The page: a session with a token in its form.
    /// let page = manager.request(None);
    /// let token = page.load().await?.csrf_token()?;
    /// let cookie = page.finish(200).await?.cookie_pair().unwrap().to_owned();
    ///
    /// let post = manager.request([cookie.as_str()]);
    /// assert!(post.check_csrf("POST", Some(&token)).await.is_ok());
    /// assert!(matches!(post.check_csrf("POST", None).await, Err(CsrfError::Missing)));
    /// assert!(matches!(post.check_csrf("POST", Some("forged")).await, Err(CsrfError::Mismatch)));
    /// assert!(post.check_csrf("GET", None).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub async fn check_csrf(&self, method: &str, token: Option<&str>) -> Result<(), CsrfError> {
        if is_safe_method(method) || self.via_header() {
            return Ok(());
        }
        let token = token.filter(|t| !t.is_empty()).ok_or(CsrfError::Missing)?;
        let session = self.load().await.map_err(CsrfError::Session)?;
        if session.check_csrf(token) {
            Ok(())
        } else {
            Err(CsrfError::Mismatch)
        }
    }
}

/// Why a request failed the CSRF check.
///
/// ```
/// use session_core::csrf::CsrfError;
/// assert_eq!(CsrfError::Missing.status_code(), 403);
/// assert_eq!(CsrfError::Mismatch.to_string(), "CSRF token incorrect");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfError {
    /// An unsafe request carried no token.
    #[error("CSRF token missing")]
    Missing,
    /// The token is not one of the session's.
    #[error("CSRF token incorrect")]
    Mismatch,
    /// The session could not be loaded to check the token.
    #[error(transparent)]
    Session(SessionError),
}

impl CsrfError {
    /// The status to answer with: 403 for a missing or wrong token, the
    /// session error's status otherwise.
    ///
    /// ```
    /// use session_core::csrf::CsrfError;
    /// use session_core::{SessionError, StoreError};
    /// let down = SessionError::from(StoreError::unavailable(std::io::Error::other("refused")));
    /// assert_eq!(CsrfError::Session(down).status_code(), 503);
    /// ```
    pub fn status_code(&self) -> u16 {
        match self {
            CsrfError::Missing | CsrfError::Mismatch => 403,
            CsrfError::Session(e) => e.status_code(),
        }
    }
}

/// Whether `method` is one that must not change anything (and so needs no
/// token): `GET`, `HEAD`, `OPTIONS`, `TRACE`.
///
/// ```
/// use session_core::csrf::is_safe_method;
/// assert!(is_safe_method("GET") && is_safe_method("HEAD"));
/// assert!(!is_safe_method("POST") && !is_safe_method("DELETE"));
/// ```
pub fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// The [`CSRF_FIELD`] of a URL-encoded form body, if it has one.
///
/// ```
/// use session_core::csrf::form_token;
/// assert_eq!(form_token(b"user=ann&csrf_token=abc%2Dd").as_deref(), Some("abc-d"));
/// assert_eq!(form_token(b"user=ann"), None);
/// ```
pub fn form_token(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(name, _)| name == CSRF_FIELD)
        .map(|(_, value)| value.into_owned())
}

/// Whether a `Content-Type` is one a form posts (and so whose body may
/// carry the token): URL-encoded or multipart.
///
/// ```
/// use session_core::csrf::is_form;
/// assert!(is_form("application/x-www-form-urlencoded; charset=utf-8"));
/// assert!(!is_form("application/json"));
/// ```
pub fn is_form(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// The secret a session keeps, when it is well formed.
fn secret_of(value: &Value) -> Option<[u8; SECRET_LEN]> {
    let mut secret = [0u8; SECRET_LEN];
    let text = value.as_str()?;
    let mut buf = [0u8; SECRET_LEN + 3];
    let len = URL_SAFE_NO_PAD.decode_slice(text, &mut buf).ok()?;
    (len == SECRET_LEN).then(|| {
        secret.copy_from_slice(&buf[..SECRET_LEN]);
        secret
    })
}

fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_one_secret_all_verify_and_differ() {
        let session = Session::detached();
        let tokens: Vec<String> = (0..8).map(|_| session.csrf_token().unwrap()).collect();
        for t in &tokens {
            assert!(session.check_csrf(t));
        }
        let mut sorted = tokens.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), tokens.len());
    }

    #[test]
    fn tampered_truncated_and_padded_tokens_fail() {
        let session = Session::detached();
        let token = session.csrf_token().unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in [0, 31, 32, 63] {
            bytes[i] ^= 1;
            assert!(
                !session.check_csrf(&URL_SAFE_NO_PAD.encode(&bytes)),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        assert!(!session.check_csrf(&token[..85]));
        assert!(!session.check_csrf(&format!("{token}AAAA")));
        assert!(!session.check_csrf(""));
        // Any mask of the secret verifies (an all-zero one included); a
        // mask of anything else does not.
        let (mask, masked) = bytes.split_at(32);
        let secret: Vec<u8> = mask.iter().zip(masked).map(|(a, b)| a ^ b).collect();
        let zero_masked = [vec![0u8; 32], secret.clone()].concat();
        assert!(session.check_csrf(&URL_SAFE_NO_PAD.encode(zero_masked)));
        let mut other = secret;
        other[0] ^= 0x80;
        let wrong = [vec![0u8; 32], other].concat();
        assert!(!session.check_csrf(&URL_SAFE_NO_PAD.encode(wrong)));
    }

    #[test]
    fn the_secret_is_reserved_and_survives_a_reload_but_not_a_login() {
        let session = Session::detached();
        let token = session.csrf_token().unwrap();
        assert!(
            session.keys().is_empty(),
            "the secret is not application data"
        );
        assert!(session.insert(SECRET_KEY, "mine").is_err());
        session.cycle_id();
        assert!(!session.check_csrf(&token));
        let fresh = session.csrf_token().unwrap();
        assert!(session.check_csrf(&fresh));
        session.flush();
        assert!(!session.check_csrf(&fresh));
    }

    #[test]
    fn a_malformed_stored_secret_is_replaced() {
        let session = Session::detached();
        std::sync::Arc::make_mut(&mut session.lock().data)
            .insert(SECRET_KEY.into(), Value::String("short".into()));
        assert!(!session.check_csrf("short"));
        let token = session.csrf_token().unwrap();
        assert!(session.check_csrf(&token));
    }
}
