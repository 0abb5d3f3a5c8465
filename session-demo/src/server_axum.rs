//! The demo on axum.

use std::net::TcpListener;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Router, ServiceExt};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sessions::SessionManager;
use sessions::axum::{CsrfLayer, Layer, Session, SessionLayer, SessionService};

use crate::app::{self, Login, PutQuery, Reply};
use crate::page::{self, ExpiryForm};
use crate::{Fail, Ready, Stopper, runtime};

fn reply(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(&r.body)).into_response();
    if let Some(cache_control) = r.cache_control() {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    }
    if let Some(seconds) = r.retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
    response
}

/// The request body, read up to the demo's limit, or the answer when it
/// is larger or cannot be read.
async fn read(body: Body) -> Result<Bytes, Response> {
    match Limited::new(body, app::BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(reply(app::body_too_large())),
        Err(e) => Err(reply(app::unreadable_body(e))),
    }
}

/// The demo's routes inside the session layer, which wraps the whole
/// router: the cheapest way to install it (see `session_axum`'s docs).
pub(crate) fn app(manager: SessionManager) -> SessionService<Router> {
    let layer = SessionLayer::new(manager.clone()).on_error(|e| reply(app::session_error(e)));
    // The page's forms, behind the CSRF check (the JSON API takes JSON
    // bodies only, which a cross-site form cannot send).
    let forms = Router::new()
        .route("/login", post(login_form))
        .route(
            "/logout",
            post(|s: Session| async move {
                app::logout(&s);
                Redirect::to("/")
            }),
        )
        .route("/expiry", post(expiry_form))
        .route(
            "/sessions/end-others",
            post(|State(m): State<SessionManager>, s: Session| async move {
                home(page::end_others_form(&m, &s).await)
            }),
        )
        .route_layer(CsrfLayer::new());
    let router = Router::new()
        .route(
            "/",
            get(|State(m): State<SessionManager>, s: Session| async move {
                Html(page::page(&m, &s).await)
            }),
        )
        .merge(forms)
        .route("/health", get(|| async { reply(app::health()) }))
        .route(
            "/api/session",
            get(|s: Session| async move { reply(app::get(&s)) }),
        )
        .route("/api/session/{key}", put(put_key).delete(delete_key))
        .route(
            "/api/whoami",
            get(|s: Option<Session>| async move { reply(app::whoami(s.as_deref())) }),
        )
        .route(
            "/api/login",
            post(|s: Session, body: Body| async move {
                match read(body).await {
                    Ok(body) => reply(app::login_json(&s, &body)),
                    Err(answer) => answer,
                }
            }),
        )
        .route(
            "/api/logout",
            post(|s: Session| async move { reply(app::logout(&s)) }),
        )
        .route(
            "/api/expiry",
            post(|s: Session, body: Body| async move {
                match read(body).await {
                    Ok(body) => reply(app::expiry(&s, &body)),
                    Err(answer) => answer,
                }
            }),
        )
        .route(
            "/api/sessions",
            get(|State(m): State<SessionManager>, s: Session| async move {
                reply(app::sessions(&m, &s).await)
            }),
        )
        .route(
            "/api/sessions/end-others",
            post(|State(m): State<SessionManager>, s: Session| async move {
                reply(app::end_others(&m, &s).await)
            }),
        )
        .with_state(manager);
    layer.layer(router)
}

async fn put_key(
    session: Session,
    Path(key): Path<String>,
    Query(query): Query<PutQuery>,
    body: Body,
) -> Response {
    match read(body).await {
        Ok(body) => reply(app::put(&session, &key, &query, &body).await),
        Err(answer) => answer,
    }
}

async fn delete_key(session: Session, Path(key): Path<String>) -> Response {
    reply(app::delete(&session, &key))
}

/// A form's answer: home (303) when it worked, the error otherwise.
fn home(result: Result<(), Reply>) -> Response {
    match result {
        Ok(()) => Redirect::to("/").into_response(),
        Err(r) => reply(r),
    }
}

async fn login_form(session: Session, Form(form): Form<Login>) -> Response {
    home(page::login_form(&session, &form))
}

async fn expiry_form(session: Session, Form(form): Form<ExpiryForm>) -> Response {
    home(page::expiry_form(&session, &form))
}

pub(crate) fn run<F, Fut>(listener: TcpListener, make_manager: F, ready: Ready, fail: Fail)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<SessionManager, String>>,
{
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&ready, e),
    };
    rt.block_on(async move {
        let manager = match make_manager().await {
            Ok(m) => m,
            Err(e) => return fail(&ready, e),
        };
        let listener = match listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpListener::from_std(listener))
        {
            Ok(l) => l,
            Err(e) => return fail(&ready, e.to_string()),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let _ = ready.send(Ok(Stopper::Axum(tx)));
        let app = ServiceExt::<Request>::into_make_service(app(manager));
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!("axum server failed: {e}");
        }
    });
}
