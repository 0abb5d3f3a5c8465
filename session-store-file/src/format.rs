//! The layout of one session file.
//!
//! ```text
//! session-file 1\n
//! {"key":"…","version":3,"created_at":1700000000,"expires_at":1701209600,"user":"42"}\n
//! <data bytes, to the end of the file>
//! ```
//!
//! Public so that tools (and the fuzzer) can read the files the store
//! writes:
//!
//! ```
//! use session_store_file::format;
//! let record = session_conformance::fixtures::record(session_core::time::Duration::hours(1), Some("ada"));
//! assert_eq!(format::decode(&format::encode(&record))?, record);
//! assert!(format::decode(b"not a session file").is_err());
//! # Ok::<(), session_core::StoreError>(())
//! ```

use serde::{Deserialize, Serialize};
use session_core::time::OffsetDateTime;
use session_core::{Record, StoreError, StoreKey};

const MAGIC: &[u8] = b"session-file 1\n";

#[derive(Serialize, Deserialize)]
struct Header {
    key: String,
    version: u64,
    created_at: i64,
    expires_at: i64,
    user: Option<String>,
}

/// The bytes of a session file holding `record`.
///
/// ```
/// let record = session_conformance::fixtures::record(session_core::time::Duration::hours(1), None);
/// assert!(session_store_file::format::encode(&record).starts_with(b"session-file 1\n"));
/// ```
pub fn encode(record: &Record) -> Vec<u8> {
    let header = Header {
        key: record.key.as_str().to_owned(),
        version: record.version,
        created_at: record.created_at.unix_timestamp(),
        expires_at: record.expires_at.unix_timestamp(),
        user: record.user.clone(),
    };
    let header = serde_json::to_vec(&header).expect("a header of plain fields serializes");
    let mut out = Vec::with_capacity(MAGIC.len() + header.len() + 1 + record.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&header);
    out.push(b'\n');
    out.extend_from_slice(&record.data);
    out
}

/// Reads a session file; anything that is not exactly this format is
/// [`StoreError::Corrupt`] (never a panic, whatever the bytes).
///
/// # Errors
///
/// [`StoreError::Corrupt`], saying what is wrong.
///
/// ```
/// use session_core::StoreError;
/// let err = session_store_file::format::decode(b"session-file 1\n{}").unwrap_err();
/// assert!(matches!(err, StoreError::Corrupt(_)));
/// ```
pub fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("session file: {why}"));
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("unknown format"))?;
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| corrupt("truncated header"))?;
    let header: Header =
        serde_json::from_slice(&rest[..end]).map_err(|e| corrupt(&e.to_string()))?;
    let time = |secs: i64| {
        OffsetDateTime::from_unix_timestamp(secs).map_err(|_| corrupt("timestamp out of range"))
    };
    Ok(Record {
        key: StoreKey::new(header.key),
        data: rest[end + 1..].to_vec(),
        version: header.version,
        created_at: time(header.created_at)?,
        expires_at: time(header.expires_at)?,
        user: header.user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            key: StoreKey::new("ab".repeat(32)),
            data: vec![0, 10, 255, b'\n'],
            version: 7,
            created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            expires_at: OffsetDateTime::from_unix_timestamp(1_700_000_100).unwrap(),
            user: Some("ü".into()),
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(&encode(&record())).unwrap(), record());
    }

    proptest::proptest! {
        #[test]
        fn every_record_round_trips(
            key in "[0-9a-z]{1,64}",
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            version in proptest::prelude::any::<u64>(),
            created in 0i64..253_402_300_799,
            expires in 0i64..253_402_300_799,
            user in proptest::option::of(proptest::prelude::any::<String>()),
        ) {
            let record = Record {
                key: StoreKey::new(key),
                data,
                version,
                created_at: OffsetDateTime::from_unix_timestamp(created).unwrap(),
                expires_at: OffsetDateTime::from_unix_timestamp(expires).unwrap(),
                user,
            };
            proptest::prop_assert_eq!(decode(&encode(&record)).unwrap(), record);
        }

        #[test]
        fn any_file_content_reads_or_is_corrupt(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            header in "\\{[ -~]{0,120}\\}",
        ) {
            let _ = decode(&bytes);
            let mut file = MAGIC.to_vec();
            file.extend_from_slice(header.as_bytes());
            file.push(b'\n');
            file.extend_from_slice(&bytes);
            if let Err(e) = decode(&file) {
                proptest::prop_assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
            }
        }
    }

    #[test]
    fn anything_else_is_corrupt() {
        let good = encode(&record());
        for bad in [
            &b""[..],
            b"garbage",
            &good[..10],
            &good[..MAGIC.len() + 5],
            b"session-file 1\n{}\n",
        ] {
            assert!(
                matches!(decode(bad), Err(StoreError::Corrupt(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
