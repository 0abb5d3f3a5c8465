//! Django's signed values (`signing.loads`, the signed-cookie backend and
//! the database backend's data): any text is an error or a value, never a
//! panic; so is any payload a holder of the key signed (what a Django app
//! with the same secret may write), which reaches the decoding behind
//! the signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::django::signing::DjangoSigner;

const SALT: &str = "django.contrib.sessions.SessionStore";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signer = DjangoSigner::new("the fuzzer's SECRET_KEY", Vec::<&str>::new()).unwrap();
    let _ = signer.unsign_object(SALT, text, Some(1_209_600), 1_700_000_000);
    // The same text, signed: its payload is decoded (base64, zlib, JSON).
    let value = text.rsplit_once(':').map_or(text, |(value, _)| value);
    let signed = format!("{value}:{}", signer.signature(SALT, value));
    let _ = signer.unsign_object(SALT, &signed, None, 1_700_000_000);
});
