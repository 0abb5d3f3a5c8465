//! The same axum apps as the `http` benchmark, called in-process (no
//! sockets, no HTTP parsing): what each layer costs in CPU per request,
//! without the loopback network that dominates the `http` figures.
//!
//! `cargo bench -p session-bench --bench axum`

use axum::Router;
use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http::header::{COOKIE, SET_COOKIE};
use tower::ServiceExt;

mod scenarios;

/// Calls `/init` and returns the `name=value` of the session cookie it set.
async fn init(router: &Router) -> Option<String> {
    let response = router
        .clone()
        .oneshot(Request::get("/init").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
}

async fn call(router: &Router, cookie: Option<&str>) {
    let mut request = Request::get("/");
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn in_process(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("axum in-process");
    for (i, (name, router)) in scenarios::scenarios().into_iter().enumerate() {
        let cookie = rt.block_on(init(&router));
        assert_eq!(
            cookie.is_some(),
            i != scenarios::BARE && i != scenarios::PASS_THROUGH,
            "{name}: /init should set a cookie exactly when sessions are on"
        );
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| call(&router, cookie.as_deref()))
        });
    }
    group.finish();
}

criterion_group!(benches, in_process);
criterion_main!(benches);
