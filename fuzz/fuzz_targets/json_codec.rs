//! The stored bytes of a session, decoded by the native codec: any bytes
//! are session data or an error, never a panic; data that decodes encodes
//! and decodes to the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::{Codec, JsonCodec};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = JsonCodec.decode(data) {
        let encoded = JsonCodec.encode(&decoded).expect("decoded data encodes");
        assert_eq!(JsonCodec.decode(&encoded).ok(), Some(decoded));
    }
});
