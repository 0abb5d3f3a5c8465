//! Property tests: whatever a client sends, and whatever a store hands
//! back, gives a fresh session or a clear error, never a panic.
//!
//! Each property runs a few hundred generated cases (proptest's default);
//! a failure prints the smallest input that reproduces it.

use proptest::prelude::*;
use session_core::{Codec, IdFormat, JsonCodec, KeyRing, SessionId, SessionManager};
use session_store_memory::MemoryStore;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn store() -> MemoryStore {
    MemoryStore::builder().sweep_every(None).build()
}

/// Cookie headers: anything at all, things shaped like our cookie, and
/// several cookies in one header.
fn cookie_headers() -> impl Strategy<Value = Vec<String>> {
    let header = prop_oneof![
        any::<String>(),
        "session=[ -~]{0,200}",
        "(session=[A-Za-z0-9_.=-]{0,120}; ?){1,4}",
        "session=[A-Za-z0-9_-]{43}\\.[A-Za-z0-9_-]{43}",
        "session=[a-z0-9]{32}",
    ];
    prop::collection::vec(header, 0..4)
}

/// Loads and finishes one request with `headers`; returns whether the
/// session it saw was empty.
async fn serve(manager: &SessionManager, headers: &[String]) -> bool {
    let request = manager.request(headers.iter().map(String::as_str));
    let session = request
        .load()
        .await
        .expect("the memory store does not fail");
    let empty = session.is_empty();
    request.finish(200).await.expect("nothing to save");
    empty
}

proptest! {
    #[test]
    fn any_cookie_header_is_a_fresh_session(headers in cookie_headers()) {
        let store = store();
        let manager = SessionManager::new(store.clone(), KeyRing::new([7u8; 32]).unwrap());
        let empty = runtime().block_on(serve(&manager, &headers));
        prop_assert!(empty, "an unsigned cookie loaded data");
        prop_assert_eq!(store.len(), 0, "a forged cookie reached the store");
    }

    #[test]
    fn a_tampered_cookie_is_a_fresh_session(at in any::<prop::sample::Index>(), to in "[ -~]") {
        let store = store();
        let manager = SessionManager::new(store.clone(), KeyRing::new([7u8; 32]).unwrap());
        let rt = runtime();
        let request = manager.request(None);
        let cookie = rt.block_on(async {
            request.load().await.unwrap().insert("user_id", 1).unwrap();
            let response = request.finish(200).await.unwrap();
            response.cookie_pair().unwrap().to_owned()
        });
        let value_at = "session=".len() + at.index(cookie.len() - "session=".len());
        let mut tampered = cookie.clone();
        tampered.replace_range(value_at..=value_at, &to);
        prop_assume!(tampered != cookie);
        let empty = rt.block_on(serve(&manager, &[tampered]));
        prop_assert!(empty, "a tampered cookie loaded the session");
        prop_assert_eq!(store.len(), 1, "the genuine session is left alone");
    }

    #[test]
    fn any_text_parses_as_an_id_or_not_at_all(s in any::<String>(), django in any::<bool>()) {
        let format = if django { IdFormat::Django } else { IdFormat::Native };
        if let Some(id) = SessionId::parse_in(format, &s) {
            prop_assert_eq!(id.expose(), s.as_str());
        }
    }

    #[test]
    fn any_stored_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(data) = JsonCodec.decode(&bytes) {
            prop_assert_eq!(JsonCodec.decode(&JsonCodec.encode(&data).unwrap()).unwrap(), data);
        }
    }
}

#[cfg(feature = "django")]
mod django {
    use super::*;
    use serde_json::Value;
    use session_core::django::signing::{DjangoSigner, base62_decode, base62_encode};
    use session_core::django::{DjangoCodec, SESSION_SALT, SIGNED_COOKIES_SALT};

    fn signer() -> DjangoSigner {
        DjangoSigner::new("django-insecure-property-tests", ["an-older-secret"]).unwrap()
    }

    proptest! {
        #[test]
        fn any_django_cookie_is_a_fresh_session(headers in cookie_headers()) {
            let headers: Vec<String> =
                headers.iter().map(|h| h.replace("session=", "sessionid=")).collect();
            let store = store();
            let manager = SessionManager::builder(store.clone(), KeyRing::new([7u8; 32]).unwrap())
                .django(signer())
                .build()
                .unwrap();
            let empty = runtime().block_on(serve(&manager, &headers));
            prop_assert!(empty, "an unknown key loaded data");
            prop_assert_eq!(store.len(), 0);
        }

        #[test]
        fn any_signed_cookie_session_is_a_fresh_one(headers in cookie_headers()) {
            let headers: Vec<String> =
                headers.iter().map(|h| h.replace("session=", "sessionid=")).collect();
            let manager = SessionManager::builder(store(), KeyRing::new([7u8; 32]).unwrap())
                .django_signed_cookies(signer())
                .build()
                .unwrap();
            let empty = runtime().block_on(serve(&manager, &headers));
            prop_assert!(empty, "an unsigned cookie loaded data");
        }

        /// Past the signature, the payload and timestamp are whatever the
        /// secret's holder wrote: they still must not panic the reader.
        #[test]
        fn signed_values_with_any_content_unsign_or_fail_cleanly(
            payload in prop_oneof![any::<String>(), "\\.?[A-Za-z0-9_-]{0,80}"],
            timestamp in prop_oneof![any::<String>(), "-?[0-9A-Za-z]{1,11}"],
            max_age in any::<Option<i64>>(),
            now in any::<i64>(),
        ) {
            let signer = signer();
            for salt in [SESSION_SALT, SIGNED_COOKIES_SALT] {
                let value = format!("{payload}:{timestamp}");
                let signed = format!("{value}:{}", signer.signature(salt, &value));
                let _ = signer.unsign_object(salt, &signed, max_age, now);
            }
            let codec = DjangoCodec::new(signer);
            let _ = codec.decode(format!("{payload}:{timestamp}").as_bytes());
        }

        #[test]
        fn base62_round_trips(n in (i64::MIN + 1)..=i64::MAX, s in any::<String>()) {
            prop_assert_eq!(base62_decode(&base62_encode(n)), Some(n));
            let _ = base62_decode(&s);
        }

        #[test]
        fn signed_objects_round_trip(
            data in prop::collection::btree_map("[a-z_]{1,8}", any::<i64>(), 0..6),
            compress in any::<bool>(),
            timestamp in 0i64..4_102_444_800,
        ) {
            let signer = signer();
            let value = serde_json::to_value(&data).unwrap();
            let signed = signer.sign_object(SESSION_SALT, &value, compress, timestamp);
            let back: Value = signer.unsign_object(SESSION_SALT, &signed, None, timestamp).unwrap();
            prop_assert_eq!(back, value);
        }
    }
}
