//! What a request's session asks of the HTTP response: the
//! [`SessionResponse`] that [`RequestSession::finish`](crate::RequestSession::finish)
//! returns, which an adapter copies into the response's headers.

use std::sync::Arc;

/// The headers a response needs after [`RequestSession::finish`](crate::RequestSession::finish);
/// [`headers`](Self::headers) lists them all, as an adapter adds them.
///
/// Its `Debug` output leaves out the cookie's value, which would let
/// anyone reading a log line take over the session:
///
/// ```
/// # use session_core::SessionResponse;
/// let mut response = SessionResponse::default();
/// response.set_cookie = Some("session=abc.tag; HttpOnly; Path=/".to_owned());
/// assert!(format!("{response:?}").contains(r#""session=[redacted]; HttpOnly; Path=/""#));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionResponse {
    /// A `Set-Cookie` header value to add, if any (a new or refreshed
    /// cookie, or one that deletes it).
    pub set_cookie: Option<String>,
    /// A value for the session header, when the manager has one
    /// ([`SessionManager::session_header`](crate::SessionManager::session_header)):
    /// the session's token when it is new or its ID changed, and an empty
    /// value when a session that came in the header has ended.
    pub session_header: Option<String>,
    /// Whether to add `Vary: Cookie` (the response depends on the session;
    /// also `Vary` with the session header's name when there is one).
    pub vary_cookie: bool,
    /// The session was deleted by a concurrent request (a logout, an ID
    /// rotation) while this one ran; this request's changes were dropped.
    pub ended_concurrently: bool,
    /// The session header's name, when the manager has one.
    pub(crate) header_name: Option<Arc<str>>,
}

impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A cookie that carries a value shows its name and attributes; a
        // removal (no value) shows as it is.
        let set_cookie = self
            .set_cookie
            .as_deref()
            .map(|header| match self.cookie_pair() {
                Some(pair) => {
                    let name = pair.split_once('=').map_or(pair, |(name, _)| name);
                    format!("{name}=[redacted]{}", &header[pair.len()..])
                }
                None => header.to_owned(),
            });
        let session_header = self
            .session_header
            .as_deref()
            .map(|v| if v.is_empty() { "" } else { "[redacted]" });
        f.debug_struct("SessionResponse")
            .field("set_cookie", &set_cookie)
            .field("session_header", &session_header)
            .field("vary_cookie", &self.vary_cookie)
            .field("ended_concurrently", &self.ended_concurrently)
            .finish()
    }
}

impl SessionResponse {
    /// Every header to add to the response, as `(name, value)` pairs, in
    /// order (`Set-Cookie`, `Vary`, the session header): what an adapter
    /// appends, so that all adapters answer alike.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32])?)
    ///     .session_header("x-session-token")
    ///     .build()?;
    /// let request = manager.request(None);
    /// request.load().await?.insert("n", 1)?;
    /// let response = request.finish(200).await?;
    /// let names: Vec<&str> = response.headers().map(|(name, _)| name).collect();
    /// assert_eq!(names, ["set-cookie", "vary", "vary", "x-session-token"]);
    /// # Ok(()) }
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let name = self.header_name.as_deref();
        let set_cookie = self.set_cookie.as_deref().map(|c| ("set-cookie", c));
        let vary = self.vary_cookie.then_some(("vary", "Cookie"));
        let vary_header = name.filter(|_| self.vary_cookie).map(|n| ("vary", n));
        let header = name.zip(self.session_header.as_deref());
        set_cookie
            .into_iter()
            .chain(vary)
            .chain(vary_header)
            .chain(header)
    }

    /// The `name=value` pair of a newly set cookie, as a client sends it
    /// back in its `Cookie` header; `None` when no cookie is set or the
    /// cookie is deleted.
    ///
    /// ```
    /// # use session_core::SessionResponse;
    /// let mut response = SessionResponse::default();
    /// response.set_cookie = Some("id=abc.tag; HttpOnly; Path=/".to_owned());
    /// assert_eq!(response.cookie_pair(), Some("id=abc.tag"));
    /// response.set_cookie = Some("id=; Max-Age=0".to_owned());
    /// assert_eq!(response.cookie_pair(), None);
    /// ```
    pub fn cookie_pair(&self) -> Option<&str> {
        let pair = self.set_cookie.as_deref()?.split(';').next()?;
        let (_, value) = pair.split_once('=')?;
        (!value.is_empty()).then_some(pair)
    }
}
