//! The demo on Rocket.

use std::net::TcpListener;

use rocket::data::{Data, ToByteUnit};
use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Status};
use rocket::response::{Redirect, Responder};
use rocket::{State, delete, get, post, put, routes};
use sessions::SessionManager;
use sessions::rocket::{ErrorResponse, OptionalSession, Session, SessionFairing};

use crate::app::{self, PutQuery, Reply};
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

#[derive(FromForm)]
struct LoginForm {
    user_id: u64,
    username: String,
}

#[get("/")]
fn page(s: Session) -> (ContentType, String) {
    (ContentType::HTML, app::page(&s))
}

#[post("/login", data = "<form>")]
fn login_form(s: Session, form: Form<LoginForm>) -> Result<Redirect, Json> {
    let form = app::LoginForm {
        user_id: form.user_id,
        username: form.username.clone(),
    };
    app::login_form(&s, &form)
        .map(|()| Redirect::to("/"))
        .map_err(Json)
}

#[post("/logout")]
fn logout_form(s: Session) -> Redirect {
    app::logout(&s);
    Redirect::to("/")
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

#[post("/api/sessions/revoke-others")]
async fn revoke_others(m: &State<SessionManager>, s: Session) -> Json {
    Json(app::revoke_others(m, &s).await)
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
                    page,
                    login_form,
                    logout_form,
                    health,
                    get,
                    put,
                    delete,
                    whoami,
                    login,
                    logout,
                    expiry,
                    list_sessions,
                    revoke_others
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
