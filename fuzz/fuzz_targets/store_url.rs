//! Store URLs as operators type them (the CLI, the demo, configuration):
//! read or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(url) = std::str::from_utf8(data)
        && let Ok(parsed) = sessions::StoreUrl::parse(url)
    {
        assert!(!parsed.scheme().is_empty());
        assert!(!format!("{parsed:?}").contains('@'), "Debug may show no credentials");
    }
});
