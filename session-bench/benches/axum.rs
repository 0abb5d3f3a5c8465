//! The same axum apps as the `http` benchmark, called in-process (no
//! sockets, no HTTP parsing): what each layer costs in CPU per request,
//! without the loopback network that dominates the `http` figures.
//!
//! `cargo bench -p session-bench --bench axum`

use criterion::{Criterion, criterion_group, criterion_main};

mod scenarios;

fn in_process(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("axum in-process");
    let scenarios = scenarios::scenarios();
    let cookie_of = |i: usize| rt.block_on(scenarios[i].1.init()).map(|c| c.len());
    assert_eq!(
        cookie_of(scenarios::BARE),
        cookie_of(scenarios::OURS[0]),
        "the apps without sessions should send a stand-in cookie as long as ours"
    );
    assert_eq!(
        cookie_of(scenarios::THEIRS_AS_LONG_AROUND[0]),
        cookie_of(scenarios::OURS[0]),
        "tower-sessions' long-named cookie should be as long as ours"
    );
    for (name, app) in scenarios {
        let cookie = rt.block_on(app.init());
        assert!(cookie.is_some(), "{name}: /init should set a cookie");
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| app.get(cookie.as_deref()))
        });
    }
    group.finish();
}

criterion_group!(benches, in_process);
criterion_main!(benches);
