//! Session cookies of the cookie store (`SessionManager::encrypted_cookies`)
//! as a client may send them: any bytes, or a genuine cookie with bytes
//! flipped. Every value must open to the session it was sealed with or to
//! no session, never panic, and a changed value must never open.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use session_core::{KeyRing, SessionManager};

struct Fixture {
    manager: SessionManager,
    runtime: tokio::runtime::Runtime,
    /// A genuine cookie value, sealed once.
    genuine: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let manager = SessionManager::encrypted_cookies(KeyRing::new([7u8; 32]).unwrap())
            .build()
            .unwrap();
        let genuine = runtime.block_on(async {
            let request = manager.request(None);
            request.load().await.unwrap().insert("user_id", 7).unwrap();
            let response = request.finish(200).await.unwrap();
            let pair = response.cookie_pair().unwrap();
            pair.split_once('=').unwrap().1.to_owned()
        });
        Fixture { manager, runtime, genuine }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let value = if mode % 2 == 0 {
        // Any bytes as the cookie's value.
        String::from_utf8_lossy(rest).into_owned()
    } else {
        // The genuine value with the input XORed into it, as base64 text.
        let mut bytes = f.genuine.clone().into_bytes();
        for (b, x) in bytes.iter_mut().zip(rest) {
            *b ^= x;
        }
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let cookie = format!("session={value}");
    let session = f
        .runtime
        .block_on(f.manager.request([cookie.as_str()]).load())
        .expect("a cookie store never fails to load");
    if value == f.genuine {
        assert_eq!(session.get::<u32>("user_id").unwrap(), Some(7));
    } else if !session.is_empty() {
        // Base64 that decodes to the same bytes (a non-canonical last
        // character) opens the same session; nothing else may open.
        assert_eq!(session.get::<u32>("user_id").unwrap(), Some(7), "{value}");
        assert_eq!(value.len(), f.genuine.len(), "{value}");
    }
});
