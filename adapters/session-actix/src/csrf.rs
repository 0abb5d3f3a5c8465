//! The CSRF check for actix-web: [`CsrfMiddleware`], inside a [`SessionMiddleware`](crate::SessionMiddleware).

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};
use session_core::csrf::{CSRF_HEADER, CsrfError, form_token, is_form, is_safe_method};

/// Checks the session's CSRF token (see [`session_core::csrf`]) on every
/// request with an unsafe method, from the `x-csrf-token` header or the
/// `csrf_token` field of a URL-encoded form (the form body is read, up to
/// the app's `PayloadConfig` limit, and handed on intact); answers 403
/// when it is missing or wrong, before the handler runs. Wrap the
/// resources that take forms with it; the [`SessionMiddleware`](crate::SessionMiddleware)
/// must be outside it (wrapped later, or on the app).
///
/// ```
/// # use actix_web::{App, test, web};
/// # use session_actix::{Session, SessionMiddleware};
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[actix_web::main]
/// # async fn main() {
/// # let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).unwrap());
/// use session_actix::CsrfMiddleware;
/// async fn page(s: Session) -> String { s.csrf_token().unwrap() }
/// let app = test::init_service(
///     App::new()
///         .wrap(SessionMiddleware::new(manager))
///         .route("/", web::get().to(page))
///         .service(web::resource("/comment").wrap(CsrfMiddleware::new()).route(web::post().to(|| async { "posted" }))),
/// )
/// .await;
/// let page = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
/// let cookie = page.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
/// let token = String::from_utf8(test::read_body(page).await.to_vec()).unwrap();
/// let post = |body: String| {
///     test::TestRequest::post()
///         .uri("/comment")
///         .insert_header(("cookie", cookie.clone()))
///         .insert_header(("content-type", "application/x-www-form-urlencoded"))
///         .set_payload(body)
///         .to_request()
/// };
/// assert_eq!(test::call_service(&app, post(format!("csrf_token={token}"))).await.status(), 200);
/// assert_eq!(test::call_service(&app, post("text=hi".into())).await.status(), 403);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CsrfMiddleware;

impl CsrfMiddleware {
    /// The middleware.
    ///
    /// ```
    /// let middleware = session_actix::CsrfMiddleware::new();
    /// # let _ = middleware;
    /// ```
    pub fn new() -> Self {
        CsrfMiddleware
    }
}

impl<S, B> Transform<S, ServiceRequest> for CsrfMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = CsrfService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CsrfService {
            service: Rc::new(service),
        }))
    }
}

/// The service [`CsrfMiddleware`] wraps around a resource.
pub struct CsrfService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for CsrfService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let method = req.method().as_str().to_owned();
            if is_safe_method(&method) {
                return service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body);
            }
            let (request, on_error) = match crate::start(req.request()) {
                Ok(started) => started,
                Err(rejection) => {
                    let response = rejection.error_response();
                    return Ok(req.into_response(response).map_into_right_body());
                }
            };
            let header = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let form = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(is_form);
            let token = match header {
                Some(token) => Some(token.to_owned()),
                None if form => {
                    let body = match req.extract::<Bytes>().await {
                        Ok(body) => body,
                        Err(err) => {
                            let response = err.error_response();
                            return Ok(req.into_response(response).map_into_right_body());
                        }
                    };
                    let token = form_token(&body);
                    req.set_payload(body.into());
                    token
                }
                None => None,
            };
            let denied = match request.check_csrf(&method, token.as_deref()).await {
                Ok(()) => {
                    return service
                        .call(req)
                        .await
                        .map(ServiceResponse::map_into_left_body);
                }
                Err(CsrfError::Session(err)) => on_error(&err),
                Err(err) => HttpResponse::build(StatusCode::FORBIDDEN)
                    .content_type("text/plain; charset=utf-8")
                    .body(err.to_string()),
            };
            Ok(req.into_response(denied).map_into_right_body())
        })
    }
}
