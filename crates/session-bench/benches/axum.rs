//! The same axum apps as the `http` benchmark, called in-process (no
//! sockets, no HTTP parsing): what each layer costs in CPU per request,
//! without the loopback network that dominates the `http` figures.
//!
//! `cargo bench -p session-bench --bench axum`

use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http::header::{COOKIE, SET_COOKIE};
use scenarios::App;

mod scenarios;

/// Calls `/init` and returns the `name=value` of the session cookie it set.
async fn init(app: &App) -> Option<String> {
    let response = app
        .call(Request::get("/init").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
}

async fn call(app: &App, cookie: Option<&str>) {
    let mut request = Request::get("/");
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = app.call(request.body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), 200);
}

fn in_process(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("axum in-process");
    let scenarios = scenarios::scenarios();
    let cookie_of = |i: usize| rt.block_on(init(&scenarios[i].1)).map(|c| c.len());
    assert_eq!(
        cookie_of(scenarios::BARE),
        cookie_of(scenarios::OURS[0]),
        "the apps without sessions should send a stand-in cookie as long as ours"
    );
    for (name, app) in scenarios {
        let cookie = rt.block_on(init(&app));
        assert!(cookie.is_some(), "{name}: /init should set a cookie");
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| call(&app, cookie.as_deref()))
        });
    }
    group.finish();
}

criterion_group!(benches, in_process);
criterion_main!(benches);
