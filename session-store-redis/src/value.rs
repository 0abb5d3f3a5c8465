//! How a session is laid out in Redis: one string per session, under a
//! short key, so that a session costs about what the data itself does.
//!
//! The value is a fixed header followed by the user and the data:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format, `1` |
//! | 8 | version, big-endian |
//! | 5 | created, Unix seconds, big-endian (up to the year 36812) |
//! | 5 | expires, likewise |
//! | 2 | length of the user ID in bytes, big-endian (`0`: not bound) |
//! | n | the user ID, UTF-8 |
//! | rest | the data, as the manager encoded it |
//!
//! The format byte and the version come first, so a compare-and-swap
//! script checks them with one comparison of nine bytes.
//!
//! The key carries the first 12 bytes (96 bits) of the store key's SHA-256
//! digest in base64url: 16 characters, which keeps `session:{…}` within
//! Redis's 32-byte allocation for a key. Two live sessions share a key
//! with odds of about n² / 2⁹⁷ (one in 10¹¹ for a billion live sessions),
//! and a clash costs nothing but a new ID: `create` and `rotate` refuse a
//! key that is taken, and the manager draws another ID. The key names no
//! live ID (nor does it let one be made: a cookie also needs the
//! secret's signature). The user index keeps the whole digest, so it
//! lists each session under its full store key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use session_core::time::OffsetDateTime;
use session_core::{Record, StoreError, StoreKey};

/// The format byte of the layout above.
pub(crate) const FORMAT: u8 = 1;

/// The length of the fixed header, before the user ID.
pub(crate) const HEADER: usize = 21;

/// The index score of a session is its expiry rounded up to this many
/// seconds, so a save that moves the expiry within the same step leaves
/// the index alone.
pub(crate) const INDEX_STEP: i64 = 3600;

/// The part of a store key that names its Redis key: base64url of the
/// first 12 bytes of the digest for the native hex keys, `!` and the key for
/// any other (a character base64url never uses, so the two never meet).
pub(crate) fn key_part(key: &StoreKey) -> String {
    match digest(key) {
        Some(bytes) => URL_SAFE_NO_PAD.encode(&bytes[..12]),
        None => format!("!{}", key.as_str()),
    }
}

/// The member that stands for `key` in a user index: the whole digest as
/// 32 bytes for native keys; for others `!` and the key, and a `#` after
/// it when it is 31 bytes or longer, so that no such member is 32 bytes
/// long (a digest can start with any byte, `!` included).
pub(crate) fn member(key: &StoreKey) -> Vec<u8> {
    match digest(key) {
        Some(bytes) => bytes.to_vec(),
        None => {
            let mut member = format!("!{}", key.as_str()).into_bytes();
            if member.len() >= 32 {
                member.push(b'#');
            }
            member
        }
    }
}

/// The store key a user-index member stands for.
pub(crate) fn key_of_member(member: &[u8]) -> Option<StoreKey> {
    let text = match member.len() {
        32 => return Some(StoreKey::new(hex::encode(member))),
        0..32 => member.strip_prefix(b"!")?,
        _ => member.strip_prefix(b"!")?.strip_suffix(b"#")?,
    };
    std::str::from_utf8(text).ok().map(StoreKey::new)
}

/// The 32 bytes of a native store key (64 lowercase hex digits).
fn digest(key: &StoreKey) -> Option<[u8; 32]> {
    let hex = key.as_str();
    if hex.len() != 64 || !hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex, &mut bytes).ok()?;
    Some(bytes)
}

/// The largest time the header holds, in Unix seconds.
const MAX_SECONDS: i64 = (1 << 40) - 1;

/// A time as the header holds it: five big-endian bytes.
pub(crate) fn seconds(at: OffsetDateTime, what: &str) -> Result<[u8; 5], StoreError> {
    let secs = at.unix_timestamp();
    if !(0..=MAX_SECONDS).contains(&secs) {
        return Err(StoreError::backend(format!(
            "the {what} time is before 1970 or after the year 36812"
        )));
    }
    let bytes = secs.to_be_bytes();
    Ok([bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// The score of a session's user-index entry: its expiry, rounded up to
/// [`INDEX_STEP`].
pub(crate) fn index_score(expires_at: OffsetDateTime) -> i64 {
    index_score_of(expires_at.unix_timestamp())
}

/// The value that stores `record`.
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    let user = record.user.as_deref().unwrap_or("").as_bytes();
    let user_len = u16::try_from(user.len())
        .map_err(|_| StoreError::backend("the user ID is longer than 65535 bytes"))?;
    let mut value = Vec::with_capacity(HEADER + user.len() + record.data.len());
    value.push(FORMAT);
    value.extend_from_slice(&record.version.to_be_bytes());
    value.extend_from_slice(&seconds(record.created_at, "created")?);
    value.extend_from_slice(&seconds(record.expires_at, "expiry")?);
    value.extend_from_slice(&user_len.to_be_bytes());
    value.extend_from_slice(user);
    value.extend_from_slice(&record.data);
    Ok(value)
}

/// The format byte and version a compare-and-swap expects to find.
pub(crate) fn expected(version: u64) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(9);
    prefix.push(FORMAT);
    prefix.extend_from_slice(&version.to_be_bytes());
    prefix
}

/// The parts of a stored value, borrowed from it.
pub(crate) struct Stored<'a> {
    pub(crate) version: u64,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) user: Option<&'a str>,
    pub(crate) data: &'a [u8],
}

impl<'a> Stored<'a> {
    /// Reads a stored value; a value in any other shape is corrupt (the
    /// error never quotes the value, which holds session data).
    pub(crate) fn parse(value: &'a [u8]) -> Result<Self, StoreError> {
        let corrupt = |why: &str| StoreError::Corrupt(format!("stored session {why}"));
        if value.len() < HEADER {
            return Err(corrupt("is shorter than its header"));
        }
        if value[0] != FORMAT {
            return Err(corrupt("has an unknown format"));
        }
        let time = |at: usize| {
            let secs = value[at..at + 5]
                .iter()
                .fold(0i64, |n, b| n << 8 | i64::from(*b));
            OffsetDateTime::from_unix_timestamp(secs)
                .map_err(|_| corrupt("has a time out of range"))
        };
        let mut version = [0u8; 8];
        version.copy_from_slice(&value[1..9]);
        let user_len = usize::from(u16::from_be_bytes([value[19], value[20]]));
        let rest = &value[HEADER..];
        if rest.len() < user_len {
            return Err(corrupt("is shorter than its user ID"));
        }
        let (user, data) = rest.split_at(user_len);
        let user = match user_len {
            0 => None,
            _ => Some(
                std::str::from_utf8(user)
                    .map_err(|_| corrupt("has a user ID that is not UTF-8"))?,
            ),
        };
        Ok(Stored {
            version: u64::from_be_bytes(version),
            created_at: time(9)?,
            expires_at: time(14)?,
            user,
            data,
        })
    }

    /// The record these parts make under `key`.
    pub(crate) fn into_record(self, key: StoreKey) -> Record {
        Record {
            key,
            data: self.data.to_vec(),
            version: self.version,
            created_at: self.created_at,
            expires_at: self.expires_at,
            user: self.user.map(str::to_owned),
        }
    }
}

/// [`index_score`] of a time in Unix seconds.
pub(crate) fn index_score_of(at: i64) -> i64 {
    let steps = at.div_euclid(INDEX_STEP) + i64::from(at.rem_euclid(INDEX_STEP) != 0);
    steps * INDEX_STEP
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::SessionId;

    fn record(user: Option<&str>, data: &[u8]) -> Record {
        Record {
            key: SessionId::generate().store_key(),
            data: data.to_vec(),
            version: 0x0102_0304_0506_0708,
            created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            expires_at: OffsetDateTime::from_unix_timestamp(1_701_209_600).unwrap(),
            user: user.map(str::to_owned),
        }
    }

    #[test]
    fn records_come_back_as_they_were_stored() {
        for (user, data) in [
            (None, &b"{}"[..]),
            (Some("alice"), &br#"{"a":1}"#[..]),
            (Some(&*"é".repeat(255)), &[0u8, 255, 1][..]),
            (Some("u"), &b""[..]),
        ] {
            let r = record(user, data);
            let stored = encode(&r).unwrap();
            assert_eq!(stored.len(), HEADER + user.map_or(0, str::len) + data.len());
            assert_eq!(stored[..9], expected(r.version)[..]);
            assert_eq!(
                Stored::parse(&stored).unwrap().into_record(r.key.clone()),
                r
            );
        }
    }

    #[test]
    fn the_fixed_fields_sit_where_the_scripts_read_them() {
        let r = record(Some("bob"), b"data");
        let stored = encode(&r).unwrap();
        // Lua's 1-based positions 15..19 and 20..21 (see `scripts`).
        assert_eq!(stored[14..19], 1_701_209_600u64.to_be_bytes()[3..]);
        assert_eq!(stored[19..21], [0, 3]);
        assert_eq!(&stored[21..24], b"bob");
    }

    #[test]
    fn malformed_values_are_corrupt_without_quoting_them() {
        let good = encode(&record(Some("carol"), b"secret-data")).unwrap();
        let mut wrong_format = good.clone();
        wrong_format[0] = 2;
        let mut long_user = good.clone();
        long_user[19] = 0xff;
        let mut bad_utf8 = good.clone();
        bad_utf8[21] = 0xff;
        for value in [
            &b""[..],
            &b"garbage"[..],
            &good[..HEADER - 1],
            &wrong_format,
            &long_user,
            &bad_utf8,
        ] {
            match Stored::parse(value) {
                Err(StoreError::Corrupt(why)) => assert!(!why.contains("secret")),
                Err(other) => panic!("{other:?}"),
                Ok(_) => panic!("{value:?} parsed"),
            }
        }
    }

    #[test]
    fn times_outside_the_header_range_are_refused() {
        let mut r = record(None, b"{}");
        r.expires_at = OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap();
        let latest = encode(&r).unwrap();
        assert_eq!(Stored::parse(&latest).unwrap().expires_at, r.expires_at);
        r.expires_at = OffsetDateTime::from_unix_timestamp(-1).unwrap();
        assert!(encode(&r).is_err());
    }

    #[test]
    fn keys_are_short_and_members_name_the_whole_key() {
        let key = SessionId::generate().store_key();
        let part = key_part(&key);
        assert_eq!(part.len(), 16);
        assert!(
            part.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(key_of_member(&member(&key)), Some(key.clone()));
        // A digest may start with `!`, the mark of other keys' members.
        let bang = StoreKey::new(format!("21{}", &key.as_str()[2..]));
        assert_eq!(key_of_member(&member(&bang)), Some(bang.clone()));
        assert_eq!(member(&bang).len(), 32);
        // Keys of another shape (Django's, a custom store key) are kept
        // whole, at every length around the digest's.
        let long = "k".repeat(40);
        let others = (28..=34).map(|n| long[..n].to_owned());
        for other in others.chain([
            "abc".into(),
            key.as_str().to_uppercase(),
            key.as_str()[..63].into(),
        ]) {
            let other = StoreKey::new(other);
            assert_eq!(key_part(&other), format!("!{}", other.as_str()));
            assert_eq!(key_of_member(&member(&other)), Some(other.clone()));
            assert_ne!(member(&other).len(), 32, "{other:?}");
        }
        assert_eq!(key_of_member(b"short"), None);
    }

    #[test]
    fn index_scores_round_up_to_the_step() {
        assert_eq!(index_score_of(0), 0);
        assert_eq!(index_score_of(1), INDEX_STEP);
        assert_eq!(index_score_of(INDEX_STEP), INDEX_STEP);
        assert_eq!(index_score_of(INDEX_STEP + 1), 2 * INDEX_STEP);
    }
}
