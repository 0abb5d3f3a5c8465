//! A session file's bytes (a disk shared with other processes, a file
//! left half-written): a record or `Corrupt`, never a panic; a record
//! that reads writes back to bytes that read the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_store_file::format;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = format::decode(data) {
        assert_eq!(format::decode(&format::encode(&record)).ok(), Some(record));
    }
});
