//! The CSRF check for Rocket: the [`CsrfForm`] data guard for forms and
//! the [`Csrf`] request guard for scripts that send the header.

use rocket::data::{self, FromData, ToByteUnit};
use rocket::form::{Form, FromForm};
use rocket::http::{RawStr, Status};
use rocket::request::{self, FromRequest, Outcome};
use rocket::{Data, Request};
use session_core::csrf::{CSRF_HEADER, CsrfError, form_token};

use crate::{SessionRejection, start, store_failed};

/// The largest form [`CsrfForm`] reads when Rocket's `limits.form` is not set.
const DEFAULT_FORM_LIMIT: u64 = 32 * 1024;

/// Why a CSRF guard failed.
///
/// ```
/// use rocket::http::Status;
/// use session_rocket::CsrfRejection;
/// assert_eq!(CsrfRejection::Token.status(), Status::Forbidden);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfRejection {
    /// The session could not be had (the fairing is missing, or the store
    /// failed: the fairing then answers with its error handler).
    Session(SessionRejection),
    /// The token is missing or is not the session's: 403.
    Token,
    /// The form is larger than Rocket's `limits.form`: 413.
    TooLarge,
    /// The form's fields are not the route's form type: 422.
    Form(String),
}

impl CsrfRejection {
    /// The status Rocket answers with.
    ///
    /// ```
    /// use rocket::http::Status;
    /// use session_rocket::CsrfRejection;
    /// assert_eq!(CsrfRejection::TooLarge.status(), Status::PayloadTooLarge);
    /// ```
    pub fn status(&self) -> Status {
        match self {
            CsrfRejection::Session(SessionRejection::MissingFairing) => Status::InternalServerError,
            CsrfRejection::Session(SessionRejection::Store) => Status::ServiceUnavailable,
            CsrfRejection::Token => Status::Forbidden,
            CsrfRejection::TooLarge => Status::PayloadTooLarge,
            CsrfRejection::Form(_) => Status::UnprocessableEntity,
        }
    }
}

/// Checks the CSRF token (see [`session_core::csrf`]) of a request with an
/// unsafe method against its session, from `token` (the header, or the
/// form's field); the guard's error when it fails.
async fn check(req: &Request<'_>, token: Option<&str>) -> Result<(), (Status, CsrfRejection)> {
    let (handle, request) =
        start(req).map_err(|(status, why)| (status, CsrfRejection::Session(why)))?;
    match request.check_csrf(req.method().as_str(), token).await {
        Ok(()) => Ok(()),
        Err(CsrfError::Session(err)) => {
            let (status, why) = store_failed(handle, err);
            Err((status, CsrfRejection::Session(why)))
        }
        Err(_) => Err((Status::Forbidden, CsrfRejection::Token)),
    }
}

/// A form whose request carried the session's CSRF token, in its
/// `csrf_token` field or the `x-csrf-token` header; the route answers 403
/// otherwise, before its handler runs. Use it in place of Rocket's
/// `Form<T>` on routes that take forms (the [`SessionFairing`](crate::SessionFairing)
/// must be attached).
///
/// ```
/// # use rocket::local::blocking::Client;
/// # use rocket::{get, post, routes, FromForm};
/// # use rocket::http::{ContentType, Header};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_rocket::{Session, SessionFairing};
/// # use session_store_memory::MemoryStore;
/// # fn manager() -> SessionManager { SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap()) }
/// use session_rocket::CsrfForm;
/// #[derive(FromForm)]
/// struct Comment { text: String }
/// #[get("/")]
/// fn page(session: Session) -> String { session.csrf_token().unwrap() }
/// #[post("/comment", data = "<form>")]
/// fn comment(form: CsrfForm<Comment>) -> String { form.into_inner().text }
/// # fn main() {
/// let rocket = rocket::build().attach(SessionFairing::new(manager())).mount("/", routes![page, comment]);
/// let client = Client::untracked(rocket).unwrap();
/// let page = client.get("/").dispatch();
/// let cookie = page.headers().get_one("Set-Cookie").unwrap().split(';').next().unwrap().to_owned();
/// let token = page.into_string().unwrap();
/// let post = |body: String| {
///     client.post("/comment").header(ContentType::Form).header(Header::new("Cookie", cookie.clone())).body(body).dispatch()
/// };
/// assert_eq!(post(format!("csrf_token={token}&text=hi%20there")).into_string().as_deref(), Some("hi there"));
/// assert_eq!(post("text=hi".into()).status().code, 403);
/// # }
/// ```
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

impl<T> CsrfForm<T> {
    /// The form.
    ///
    /// ```
    /// let form = session_rocket::CsrfForm(3);
    /// assert_eq!(form.into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for CsrfForm<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r, T> FromData<'r> for CsrfForm<T>
where
    T: for<'a> FromForm<'a> + Send + 'static,
{
    type Error = CsrfRejection;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let limit = req
            .limits()
            .get("form")
            .unwrap_or_else(|| DEFAULT_FORM_LIMIT.bytes());
        let body = match data.open(limit).into_string().await {
            Ok(body) if body.is_complete() => body.into_inner(),
            Ok(_) => {
                return data::Outcome::Error((Status::PayloadTooLarge, CsrfRejection::TooLarge));
            }
            Err(e) => {
                let why = CsrfRejection::Form(e.to_string());
                return data::Outcome::Error((Status::BadRequest, why));
            }
        };
        let token = match req.headers().get_one(CSRF_HEADER) {
            Some(token) => Some(token.to_owned()),
            None => form_token(body.as_bytes()),
        };
        if let Err(failure) = check(req, token.as_deref()).await {
            return data::Outcome::Error(failure);
        }
        match Form::<T>::parse_encoded(RawStr::new(&body)) {
            Ok(form) => data::Outcome::Success(CsrfForm(form)),
            Err(errors) => {
                let why = CsrfRejection::Form(errors.to_string());
                data::Outcome::Error((Status::UnprocessableEntity, why))
            }
        }
    }
}

/// A request guard for routes whose unsafe requests carry the session's
/// CSRF token in the `x-csrf-token` header (scripts); 403 otherwise.
///
/// ```
/// # use rocket::local::blocking::Client;
/// # use rocket::{get, post, routes};
/// # use rocket::http::Header;
/// # use session_core::{KeyRing, SessionManager};
/// # use session_rocket::{Session, SessionFairing};
/// # use session_store_memory::MemoryStore;
/// # fn manager() -> SessionManager { SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap()) }
/// use session_rocket::Csrf;
/// #[get("/")]
/// fn page(session: Session) -> String { session.csrf_token().unwrap() }
/// #[post("/like")]
/// fn like(_checked: Csrf) -> &'static str { "liked" }
/// # fn main() {
/// let rocket = rocket::build().attach(SessionFairing::new(manager())).mount("/", routes![page, like]);
/// let client = Client::untracked(rocket).unwrap();
/// let page = client.get("/").dispatch();
/// let cookie = page.headers().get_one("Set-Cookie").unwrap().split(';').next().unwrap().to_owned();
/// let token = page.into_string().unwrap();
/// let like = |token: &str| {
///     client.post("/like").header(Header::new("Cookie", cookie.clone())).header(Header::new("x-csrf-token", token.to_owned())).dispatch().status().code
/// };
/// assert_eq!(like(&token), 200);
/// assert_eq!(like("forged"), 403);
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Csrf;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Csrf {
    type Error = CsrfRejection;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let token = req.headers().get_one(CSRF_HEADER);
        match check(req, token).await {
            Ok(()) => Outcome::Success(Csrf),
            Err(failure) => Outcome::Error(failure),
        }
    }
}
