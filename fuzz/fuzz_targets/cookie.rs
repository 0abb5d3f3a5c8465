//! Cookie headers as a browser (or an attacker) sends them, and session
//! header values as an API client sends them: finding the session cookie
//! or token, verifying its signature, parsing the ID, and loading the
//! session must answer a session (or "no session"), never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use session_core::{KeyRing, SessionManager};
use session_store_memory::MemoryStore;

fn manager() -> &'static (SessionManager, tokio::runtime::Runtime) {
    static MANAGER: OnceLock<(SessionManager, tokio::runtime::Runtime)> = OnceLock::new();
    MANAGER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let store = runtime.block_on(async { MemoryStore::builder().sweep_every(None).build() });
        let manager = SessionManager::builder(store, KeyRing::new([7u8; 32]).unwrap())
            .session_header("x-session-token")
            .build()
            .unwrap();
        (manager, runtime)
    })
}

fuzz_target!(|data: &[u8]| {
    let (manager, runtime) = manager();
    // Several headers, split where the input says (HTTP/2 sends one per cookie).
    let headers: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    // Headers after a 0x01 byte are session header values instead.
    let (cookies, tokens) = match headers.iter().position(|h| h.first() == Some(&1)) {
        Some(at) => headers.split_at(at),
        None => (headers.as_slice(), &[][..]),
    };
    let request = manager.request_from_headers(cookies.iter().copied(), tokens.iter().copied());
    let session = runtime.block_on(request.load()).expect("a memory store never fails");
    assert!(session.is_empty(), "no session was ever stored");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = manager.verify_cookie(text);
    }
});
