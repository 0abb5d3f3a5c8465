//! An error from the services inside the middleware (another middleware,
//! a guard) is an answer like any other: the session is saved by its
//! status and the response carries `Vary` and the cookie, as the axum and
//! Rocket adapters do.

use actix_web::body::BoxBody;
use actix_web::dev::Service;
use actix_web::dev::ServiceResponse;
use actix_web::test::{TestRequest, init_service, try_call_service};
use actix_web::{App, HttpResponse, web};
use session_actix::{Session, SessionMiddleware};
use session_core::{KeyRing, SessionManager};
use session_store_memory::MemoryStore;

#[test]
fn an_inner_error_still_saves_the_session_and_sets_vary() {
    actix_web::rt::System::new().block_on(inner_error());
}

async fn inner_error() {
    let store = MemoryStore::new();
    let manager = SessionManager::new(store.clone(), KeyRing::new([4u8; 32]).unwrap());
    let app = init_service(
        App::new()
            // Inside the session middleware: turns the handler's answer
            // into an error, as an authorization layer might.
            .wrap_fn(|req, srv| {
                let answer = srv.call(req);
                async move {
                    answer.await?;
                    Err::<ServiceResponse<BoxBody>, _>(actix_web::error::ErrorForbidden(
                        "not for you",
                    ))
                }
            })
            .wrap(SessionMiddleware::new(manager))
            .route(
                "/",
                web::get().to(|session: Session| async move {
                    session.insert("seen", true).unwrap();
                    HttpResponse::Ok().finish()
                }),
            ),
    )
    .await;
    // The error goes on outwards (to other middleware), and is answered
    // by its response, which carries the session's headers.
    let error = try_call_service(&app, TestRequest::get().uri("/").to_request())
        .await
        .expect_err("the inner error goes on outwards");
    let response = error.error_response();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers().get("vary").and_then(|v| v.to_str().ok()),
        Some("Cookie")
    );
    assert!(
        response.headers().get("set-cookie").is_some(),
        "a 4xx answer saves the session and sets its cookie"
    );
    assert_eq!(store.len(), 1, "the session was not saved");
}
