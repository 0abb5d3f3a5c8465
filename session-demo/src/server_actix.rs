//! The demo on actix-web.

use std::net::TcpListener;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::web::{self, Bytes, Data, Form, Path, Query};
use actix_web::{App, HttpResponse, HttpServer};
use sessions::SessionManager;
use sessions::actix::{CsrfMiddleware, OptionalSession, Session, SessionMiddleware};

use crate::app::{self, Login, PutQuery, Reply};
use crate::page::{self, ExpiryForm};
use crate::{Fail, Ready, Stopper};

fn reply(r: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if let Some(cache_control) = r.cache_control() {
        response.insert_header((CACHE_CONTROL, cache_control));
    }
    if let Some(seconds) = r.retry_after {
        response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
    }
    response.json(r.body)
}

fn home() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish()
}

async fn page(m: Data<SessionManager>, s: Session) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page::page(&m, &s).await)
}

/// A form's answer: home (303) when it worked, the error otherwise.
fn answer(result: Result<(), Reply>) -> HttpResponse {
    match result {
        Ok(()) => home(),
        Err(r) => reply(r),
    }
}

async fn login_form(s: Session, form: Form<Login>) -> HttpResponse {
    answer(page::login_form(&s, &form))
}

async fn logout_form(s: Session) -> HttpResponse {
    app::logout(&s);
    home()
}

async fn expiry_form(s: Session, form: Form<ExpiryForm>) -> HttpResponse {
    answer(page::expiry_form(&s, &form))
}

async fn end_others_form(m: Data<SessionManager>, s: Session) -> HttpResponse {
    answer(page::end_others_form(&m, &s).await)
}

/// A page form's route, behind the CSRF check (the JSON API takes JSON
/// bodies only, which a cross-site form cannot send).
fn form<F, Args>(
    path: &str,
    handler: F,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
>
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .wrap(CsrfMiddleware::new())
        .route(web::post().to(handler))
}

async fn health() -> HttpResponse {
    reply(app::health())
}

async fn get(s: Session) -> HttpResponse {
    reply(app::get(&s))
}

/// The request body, or the answer when it is over the demo's limit
/// (set by the `PayloadConfig` of the app) or cannot be read.
fn read(body: Result<Bytes, actix_web::Error>) -> Result<Bytes, Reply> {
    body.map_err(|e| match e.as_response_error().status_code() {
        StatusCode::PAYLOAD_TOO_LARGE => app::body_too_large(),
        _ => app::unreadable_body(e),
    })
}

async fn put(
    s: Session,
    key: Path<String>,
    query: Query<PutQuery>,
    body: Result<Bytes, actix_web::Error>,
) -> HttpResponse {
    match read(body) {
        Ok(body) => reply(app::put(&s, &key, &query, &body).await),
        Err(answer) => reply(answer),
    }
}

async fn whoami(s: OptionalSession) -> HttpResponse {
    reply(app::whoami(s.as_deref()))
}

async fn delete(s: Session, key: Path<String>) -> HttpResponse {
    reply(app::delete(&s, &key))
}

async fn login(s: Session, body: Result<Bytes, actix_web::Error>) -> HttpResponse {
    match read(body) {
        Ok(body) => reply(app::login_json(&s, &body)),
        Err(answer) => reply(answer),
    }
}

async fn logout(s: Session) -> HttpResponse {
    reply(app::logout(&s))
}

async fn expiry(s: Session, body: Result<Bytes, actix_web::Error>) -> HttpResponse {
    match read(body) {
        Ok(body) => reply(app::expiry(&s, &body)),
        Err(answer) => reply(answer),
    }
}

async fn sessions(m: Data<SessionManager>, s: Session) -> HttpResponse {
    reply(app::sessions(&m, &s).await)
}

async fn end_others(m: Data<SessionManager>, s: Session) -> HttpResponse {
    reply(app::end_others(&m, &s).await)
}

pub(crate) fn run<F, Fut>(listener: TcpListener, make_manager: F, ready: Ready, fail: Fail)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<SessionManager, String>>,
{
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let manager = match make_manager().await {
            Ok(m) => m,
            Err(e) => return fail(&ready, e),
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(Data::new(manager.clone()))
                .app_data(web::PayloadConfig::new(app::BODY_LIMIT))
                .wrap(
                    SessionMiddleware::new(manager.clone())
                        .on_error(|e| reply(app::session_error(e))),
                )
                .route("/", web::get().to(page))
                .service(form("/login", login_form))
                .service(form("/logout", logout_form))
                .service(form("/expiry", expiry_form))
                .service(form("/sessions/end-others", end_others_form))
                .route("/health", web::get().to(health))
                .route("/api/session", web::get().to(get))
                .route("/api/session/{key}", web::put().to(put))
                .route("/api/session/{key}", web::delete().to(delete))
                .route("/api/whoami", web::get().to(whoami))
                .route("/api/login", web::post().to(login))
                .route("/api/logout", web::post().to(logout))
                .route("/api/expiry", web::post().to(expiry))
                .route("/api/sessions", web::get().to(sessions))
                .route("/api/sessions/end-others", web::post().to(end_others))
        })
        .workers(2)
        .disable_signals()
        .listen(listener);
        let server = match server {
            Ok(s) => s.run(),
            Err(e) => return fail(&ready, e.to_string()),
        };
        let _ = ready.send(Ok(Stopper::Actix(server.handle())));
        if let Err(e) = server.await {
            tracing::error!("actix server failed: {e}");
        }
    });
}
