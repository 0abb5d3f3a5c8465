//! The layer takes any response body, so it can sit outside layers that
//! change the body type (compression, limits, tracing bodies).

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use http_body_util::{BodyExt, Limited};
use session_axum::{Layer, Session, SessionLayer};
use session_core::{KeyRing, SessionManager};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

#[tokio::test]
async fn the_layer_sits_outside_a_layer_that_changes_the_body_type() {
    let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([3u8; 32]).unwrap());
    let router = Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                session.insert("seen", true).unwrap();
                "hello"
            }),
        )
        .with_state(());
    // Another body type than axum's: what a compression layer would give.
    let inner =
        ServiceExt::<Request<Body>>::map_response(router, |response: axum::response::Response| {
            response.map(|body| Limited::new(body, 1 << 20))
        });
    let app = SessionLayer::new(manager).layer(inner);
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("set-cookie"));
    assert_eq!(response.headers()["vary"], "Cookie");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
}
