//! Allocations per request of the axum apps the `http` and `axum` benches
//! measure, counted by a global allocator that wraps the system's: a
//! figure that does not move with the machine's speed, so it shows what a
//! change to the layer costs or saves without any timing noise.
//!
//! `cargo bench -p session-bench --bench allocs`; with `ALLOCS_ONLY=N`
//! and `ALLOCS_REQUESTS=M` it runs only scenario N for M requests and
//! prints nothing, for counting instructions under
//! `valgrind --tool=callgrind` (run it at two values of M and subtract).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use scenarios::App;

mod scenarios;

/// The system allocator, counting calls and bytes.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and bytes per request over `requests` calls.
async fn count(app: &App, cookie: Option<&str>, requests: u64) -> (f64, f64) {
    let (calls, bytes) = (ALLOCATIONS.load(Relaxed), BYTES.load(Relaxed));
    for _ in 0..requests {
        app.get(cookie).await;
    }
    let calls = ALLOCATIONS.load(Relaxed) - calls;
    let bytes = BYTES.load(Relaxed) - bytes;
    (
        calls as f64 / requests as f64,
        bytes as f64 / requests as f64,
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let only: Option<usize> = std::env::var("ALLOCS_ONLY")
        .ok()
        .map(|v| v.parse().unwrap());
    let requests: u64 = std::env::var("ALLOCS_REQUESTS")
        .ok()
        .map_or(10_000, |v| v.parse().unwrap());
    let scenarios = scenarios::scenarios();
    if let Some(i) = only {
        let app = &scenarios[i].1;
        rt.block_on(async {
            let cookie = app.init().await;
            count(app, cookie.as_deref(), requests).await;
        });
        return;
    }
    println!("| scenario | allocations/request | bytes allocated/request |");
    println!("|---|---|---|");
    for (name, app) in &scenarios {
        let (calls, bytes) = rt.block_on(async {
            let cookie = app.init().await;
            // Warm up: lazily built router state, the store's first entries.
            count(app, cookie.as_deref(), 1_000).await;
            count(app, cookie.as_deref(), requests).await
        });
        println!("| {name} | {calls:.2} | {bytes:.0} |");
    }
}
