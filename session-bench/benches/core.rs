//! The CPU cost of the request lifecycle itself, on the memory store:
//! what a framework adapter adds to a request that ignores, reads or
//! writes its session (no network, no engine).

use criterion::{Criterion, criterion_group, criterion_main};
use session_bench::{create, load, load_modify_save, manager};
use session_core::{KeyRing, SessionManager};
use session_store_memory::MemoryStore;

/// Sessions of the rows that take many in turn.
const ROTATED: usize = 1_000;

fn lifecycle(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let manager = rt.block_on(async { manager(MemoryStore::new()) });
    let cookie = rt.block_on(create(&manager, 1));
    // The same, decoding every load: the cost of a load the decoded cache
    // cannot serve (a session saved by another server, or one of more
    // sessions than the cache holds).
    let uncached = SessionManager::builder(MemoryStore::new(), KeyRing::new([7u8; 32]).unwrap())
        .decoded_cache(0)
        .build()
        .unwrap();
    let uncached_cookie = rt.block_on(create(&uncached, 1));
    // Many sessions, taken in turn as browsers would send them: each load
    // finds its records and cache entries out of the CPU's nearest caches,
    // as on a server, where one session's next request comes after many
    // others'.
    let many: Vec<String> = (0..ROTATED)
        .map(|i| rt.block_on(create(&manager, i as u64)))
        .collect();
    let mut group = c.benchmark_group("core");
    group.bench_function("request that never loads", |b| {
        b.to_async(&rt).iter(|| async {
            let request = manager.request([cookie.as_str()]);
            request.finish(200).await.unwrap();
        })
    });
    group.bench_function("request that reads", |b| {
        b.to_async(&rt).iter(|| load(&manager, &cookie))
    });
    group.bench_function("request that reads, decoded cache off", |b| {
        b.to_async(&rt).iter(|| load(&uncached, &uncached_cookie))
    });
    let mut turn = 0;
    group.bench_function("request that reads, 1,000 sessions in turn", |b| {
        b.to_async(&rt).iter(|| {
            turn += 1;
            load(&manager, &many[turn % ROTATED])
        })
    });
    let mut n = 0;
    group.bench_function("request that writes, 1,000 sessions in turn", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            load_modify_save(&manager, &many[n as usize % ROTATED], n)
        })
    });
    group.bench_function("request that writes", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            load_modify_save(&manager, &cookie, n)
        })
    });
    group.bench_function("request that writes, decoded cache off", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            load_modify_save(&uncached, &uncached_cookie, n)
        })
    });
    group.finish();
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
