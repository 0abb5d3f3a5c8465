//! The stored bytes of a session, decoded by the native codec: any bytes
//! are session data or an error, never a panic; data that decodes encodes
//! and decodes to the same, key order included, which is what
//! `JsonCodec::round_trips` promises (the manager keeps the data it saved
//! as what loading the saved bytes gives).
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::{Codec, JsonCodec};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = JsonCodec.decode(data) {
        let encoded = JsonCodec.encode(&decoded).expect("decoded data encodes");
        let again = JsonCodec.decode(&encoded).expect("encoded data decodes");
        assert!(again.iter().eq(decoded.iter()), "keys, their order and values");
        // Encoded again byte for byte: nested objects kept their order too.
        assert_eq!(JsonCodec.encode(&again).expect("encodes"), encoded);
    }
});
