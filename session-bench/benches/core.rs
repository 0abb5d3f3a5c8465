//! The CPU cost of the request lifecycle itself, on the memory store:
//! what a framework adapter adds to a request that ignores, reads or
//! writes its session (no network, no engine).

use criterion::{Criterion, criterion_group, criterion_main};
use session_bench::{create, load, load_modify_save, manager};
use session_core::{KeyRing, SessionManager};
use session_store_memory::MemoryStore;

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
    let mut n = 0;
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
