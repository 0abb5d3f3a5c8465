//! A Redis session value's bytes (a Redis shared with other programs, a
//! value from another release): a record or `Corrupt`, never a panic; a
//! record that reads writes back to bytes that read the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::{StoreError, StoreKey};
use session_store_redis::value;

fuzz_target!(|data: &[u8]| {
    let key = StoreKey::new("k");
    match value::decode(key.clone(), data) {
        Ok(record) => {
            let again = value::encode(&record).expect("a record that read encodes");
            assert_eq!(value::decode(key, &again).ok(), Some(record));
        }
        Err(StoreError::Corrupt(_)) => {}
        Err(other) => panic!("{other:?}"),
    }
});
