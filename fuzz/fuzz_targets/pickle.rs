//! Django's cache backends store pickles: any bytes are a value or an
//! error, never a panic (and never code: the reader runs no opcode that
//! calls or imports).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = session_core::django::pickle::loads(data) {
        // What it read, written and read again, is the same value.
        let again = session_core::django::pickle::loads(&session_core::django::pickle::dumps(&value));
        assert_eq!(again.ok(), Some(value));
    }
});
