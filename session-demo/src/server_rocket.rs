//! The demo on Rocket.

use std::net::TcpListener;

use rocket::data::{Data, ToByteUnit};
use rocket::http::{ContentType, Status};
use rocket::response::{Redirect, Responder};
use rocket::{State, delete, get, post, put, routes};
use sessions::SessionManager;
use sessions::rocket::{CsrfForm, ErrorResponse, OptionalSession, Session, SessionFairing};

use crate::app::{self, Login, PutQuery, Reply};
use crate::page::{self, ExpiryForm};
use crate::{Fail, Ready, Stopper, runtime};

struct Json(Reply);

impl<'r> Responder<'r, 'static> for Json {
    fn respond_to(self, req: &'r rocket::Request<'_>) -> rocket::response::Result<'static> {
        let status = Status::new(self.0.status);
        let mut response =
            (status, (ContentType::JSON, self.0.body.to_string())).respond_to(req)?;
        if let Some(cache_control) = self.0.cache_control() {
            response.set_raw_header("Cache-Control", cache_control);
        }
        if let Some(seconds) = self.0.retry_after {
            response.set_raw_header("Retry-After", seconds.to_string());
        }
        Ok(response)
    }
}

/// The request body, read up to the demo's limit, or the answer when it
/// is larger or cannot be read (Rocket itself would cut it short).
async fn read(body: Data<'_>) -> Result<Vec<u8>, Json> {
    match body.open(app::BODY_LIMIT.bytes()).into_bytes().await {
        Ok(bytes) if bytes.is_complete() => Ok(bytes.into_inner()),
        Ok(_) => Err(Json(app::body_too_large())),
        Err(e) => Err(Json(app::unreadable_body(e))),
    }
}

#[get("/")]
async fn home_page(m: &State<SessionManager>, s: Session) -> (ContentType, String) {
    (ContentType::HTML, page::page(m, &s).await)
}

/// A form's answer: home (303) when it worked, the error otherwise.
fn home(result: Result<(), Reply>) -> Result<Redirect, Json> {
    result.map(|()| Redirect::to("/")).map_err(Json)
}

/// A form with nothing but its token (checked by `CsrfForm`).
#[derive(rocket::FromForm)]
struct TokenOnly {
    #[allow(dead_code)]
    csrf_token: String,
}

// The page's forms, behind the CSRF check (`CsrfForm`); the JSON API takes
// JSON bodies only, which a cross-site form cannot send.

#[post("/login", data = "<form>")]
fn login_form(s: Session, form: CsrfForm<Login>) -> Result<Redirect, Json> {
    home(page::login_form(&s, &form))
}

#[post("/logout", data = "<_form>")]
fn logout_form(s: Session, _form: CsrfForm<TokenOnly>) -> Redirect {
    app::logout(&s);
    Redirect::to("/")
}

#[post("/expiry", data = "<form>")]
fn expiry_form(s: Session, form: CsrfForm<ExpiryForm>) -> Result<Redirect, Json> {
    home(page::expiry_form(&s, &form))
}

#[post("/sessions/end-others", data = "<_form>")]
async fn end_others_form(
    m: &State<SessionManager>,
    s: Session,
    _form: CsrfForm<TokenOnly>,
) -> Result<Redirect, Json> {
    home(page::end_others_form(m, &s).await)
}

#[get("/health")]
fn health() -> Json {
    Json(app::health())
}

#[get("/api/session")]
fn get(s: Session) -> Json {
    Json(app::get(&s))
}

#[put("/api/session/<key>?<delay_ms>&<fail>", data = "<body>")]
async fn put(
    s: Session,
    key: &str,
    delay_ms: Option<u64>,
    fail: Option<u8>,
    body: Data<'_>,
) -> Json {
    match read(body).await {
        Ok(body) => Json(app::put(&s, key, &PutQuery { delay_ms, fail }, &body).await),
        Err(answer) => answer,
    }
}

#[get("/api/whoami")]
fn whoami(s: OptionalSession) -> Json {
    Json(app::whoami(s.as_deref()))
}

#[delete("/api/session/<key>")]
fn delete(s: Session, key: &str) -> Json {
    Json(app::delete(&s, key))
}

#[post("/api/login", data = "<body>")]
async fn login(s: Session, body: Data<'_>) -> Json {
    match read(body).await {
        Ok(body) => Json(app::login_json(&s, &body)),
        Err(answer) => answer,
    }
}

#[post("/api/logout")]
fn logout(s: Session) -> Json {
    Json(app::logout(&s))
}

#[post("/api/expiry", data = "<body>")]
async fn expiry(s: Session, body: Data<'_>) -> Json {
    match read(body).await {
        Ok(body) => Json(app::expiry(&s, &body)),
        Err(answer) => answer,
    }
}

#[get("/api/sessions")]
async fn list_sessions(m: &State<SessionManager>, s: Session) -> Json {
    Json(app::sessions(m, &s).await)
}

#[post("/api/sessions/end-others")]
async fn end_others(m: &State<SessionManager>, s: Session) -> Json {
    Json(app::end_others(m, &s).await)
}

fn error_response(e: &::sessions::SessionError) -> ErrorResponse {
    let r = app::session_error(e);
    ErrorResponse {
        status: r.status,
        content_type: ContentType::JSON,
        body: r.body.to_string(),
        retry_after: r.retry_after,
    }
}

pub(crate) fn run<F, Fut>(listener: TcpListener, make_manager: F, ready: Ready, fail: Fail)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<SessionManager, String>>,
{
    // Rocket binds its own socket: hand the address over.
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return fail(&ready, e.to_string()),
    };
    drop(listener);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&ready, e),
    };
    rt.block_on(async move {
        let manager = match make_manager().await {
            Ok(m) => m,
            Err(e) => return fail(&ready, e),
        };
        let figment = rocket::Config::figment()
            .merge(("address", addr.ip()))
            .merge(("port", addr.port()))
            .merge(("workers", 2))
            .merge(("log_level", rocket::config::LogLevel::Off))
            .merge(("shutdown.ctrlc", false))
            .merge(("cli_colors", false));
        let rocket = rocket::custom(figment)
            .manage(manager.clone())
            .attach(SessionFairing::new(manager).on_error(error_response))
            .mount(
                "/",
                routes![
                    home_page,
                    login_form,
                    logout_form,
                    expiry_form,
                    end_others_form,
                    health,
                    get,
                    put,
                    delete,
                    whoami,
                    login,
                    logout,
                    expiry,
                    list_sessions,
                    end_others
                ],
            );
        let rocket = match rocket.ignite().await {
            Ok(r) => r,
            Err(e) => return fail(&ready, e.to_string()),
        };
        let _ = ready.send(Ok(Stopper::Rocket(rocket.shutdown())));
        if let Err(e) = rocket.launch().await {
            tracing::error!("rocket server failed: {e}");
        }
    });
}
