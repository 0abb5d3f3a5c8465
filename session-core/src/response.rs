//! What a request's session asks of the HTTP response: the
//! [`SessionResponse`] that [`RequestSession::finish`](crate::RequestSession::finish)
//! returns, which an adapter copies into the response's headers.

/// The headers a response needs after [`RequestSession::finish`](crate::RequestSession::finish).
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
    /// Whether to add `Vary: Cookie` (the response depends on the session).
    pub vary_cookie: bool,
    /// The session was deleted by a concurrent request (a logout, an ID
    /// rotation) while this one ran; this request's changes were dropped.
    pub ended_concurrently: bool,
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
        f.debug_struct("SessionResponse")
            .field("set_cookie", &set_cookie)
            .field("vary_cookie", &self.vary_cookie)
            .field("ended_concurrently", &self.ended_concurrently)
            .finish()
    }
}

impl SessionResponse {
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
