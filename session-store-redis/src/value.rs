//! How a session is laid out in Redis: one string per session, under a
//! short key, so that a session costs about what the data itself does.
//!
//! The value is a short header followed by the user and the data. It
//! comes in two formats: format `2`, which this release writes, with the
//! version and the user ID's length as variable-length numbers (LEB128:
//! seven bits a byte, low first, the top bit set on every byte but the
//! last; a session saved fewer than 128 times has a one-byte version), and
//! format `1`, the earlier layout with fixed widths, which it reads and
//! saves over.
//!
//! | format 2 | format 1 | field |
//! |---|---|---|
//! | 1 | 1 | format, `2` or `1` |
//! | 1–10 | 8 | version (format 1: big-endian) |
//! | 5 | 5 | created, Unix seconds, big-endian (up to the year 36812) |
//! | 5 | 5 | expires, likewise |
//! | 1–3 | 2 | length of the user ID in bytes (`0`: not bound; format 1: big-endian) |
//! | n | n | the user ID, UTF-8 |
//! | rest | rest | the data, as the manager encoded it |
//!
//! The format and version come first, and a number's encoding is never
//! the start of another's, so a compare-and-swap script checks them with
//! one comparison of the value's first bytes; it takes a format 1 value
//! as at its version too, so a record written in format 1 saves into
//! format 2 like any other.
//!
//! ```
//! use session_core::{Record, StoreKey, time::OffsetDateTime};
//! use session_store_redis::value;
//!
//! let at = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
//! let record = Record {
//!     key: StoreKey::new("k"),
//!     data: br#"{"n":1}"#.to_vec(),
//!     version: 7,
//!     created_at: at(1_700_000_000),
//!     expires_at: at(1_701_209_600),
//!     user: Some("alice".into()),
//! };
//! let stored = value::encode(&record)?;
//! assert_eq!(stored[..2], [2, 7]); // format 2, version 7
//! assert_eq!(stored.len(), 13 + "alice".len() + record.data.len());
//! assert_eq!(value::decode(record.key.clone(), &stored)?, record);
//! # Ok::<(), session_core::StoreError>(())
//! ```
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

/// The format this release writes: variable-length numbers.
const FORMAT: u8 = 2;

/// The earlier format, with fixed widths.
const FORMAT_WIDE: u8 = 1;

/// The length of format 1's header, before the user ID.
const HEADER_WIDE: usize = 21;

/// The longest LEB128 encoding of a `u64`.
const MAX_VARINT: usize = 10;

/// Appends `n` in LEB128.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The LEB128 number at the start of `bytes` and the bytes after it;
/// `None` when it runs past them, past ten bytes or past `u64`, or is not
/// in its shortest form (which [`put_varint`] writes, and a
/// compare-and-swap compares).
fn take_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut n: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(MAX_VARINT) {
        let part = u64::from(b & 0x7f);
        let shift = 7 * i as u32;
        if shift == 63 && part > 1 {
            return None;
        }
        n |= part << shift;
        if b < 0x80 {
            return (i == 0 || b != 0).then(|| (n, &bytes[i + 1..]));
        }
    }
    None
}

/// The index score of a session is its expiry rounded up to this many
/// seconds, so a save that moves the expiry within the same step leaves
/// the index alone.
pub(crate) const INDEX_STEP: i64 = 3600;

/// The part of a store key that names its Redis key: base64url of the
/// first 12 bytes of the digest for the native hex keys, `!` and the key for
/// any other (a character base64url never uses, so the two never meet).
pub(crate) fn key_part(key: &StoreKey) -> String {
    let mut part = String::new();
    push_key_part(&mut part, key);
    part
}

/// Appends [`key_part`] of `key` to `out`.
pub(crate) fn push_key_part(out: &mut String, key: &StoreKey) {
    match digest::<12>(key) {
        Some(bytes) => URL_SAFE_NO_PAD.encode_string(bytes, out),
        None => {
            out.push('!');
            out.push_str(key.as_str());
        }
    }
}

/// The member that stands for `key` in a user index: the whole digest as
/// 32 bytes for native keys; for others `!` and the key, and a `#` after
/// it when it is 31 bytes or longer, so that no such member is 32 bytes
/// long (a digest can start with any byte, `!` included).
pub(crate) fn member(key: &StoreKey) -> Vec<u8> {
    match digest::<32>(key) {
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

/// The first `N` of the 32 bytes of a native store key (64 lowercase hex
/// digits, all checked; only those `N` decoded, since a session's Redis
/// key, made on every load and save, needs 12).
fn digest<const N: usize>(key: &StoreKey) -> Option<[u8; N]> {
    let hex = key.as_str();
    if hex.len() != 64 || !hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut bytes = [0u8; N];
    hex::decode_to_slice(hex.get(..2 * N)?, &mut bytes).ok()?;
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

/// The value that stores `record`, in format 2.
///
/// # Errors
///
/// [`StoreError::Backend`] when a time is before 1970 or after the year
/// 36812, or the user ID is longer than 65535 bytes.
pub fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    let user = record.user.as_deref().unwrap_or("").as_bytes();
    let user_len = u16::try_from(user.len())
        .map_err(|_| StoreError::backend("the user ID is longer than 65535 bytes"))?;
    let mut value = Vec::with_capacity(HEADER_WIDE + 4 + user.len() + record.data.len());
    value.push(FORMAT);
    put_varint(&mut value, record.version);
    value.extend_from_slice(&seconds(record.created_at, "created")?);
    value.extend_from_slice(&seconds(record.expires_at, "expiry")?);
    put_varint(&mut value, u64::from(user_len));
    value.extend_from_slice(user);
    value.extend_from_slice(&record.data);
    Ok(value)
}

/// The record a stored value holds under `key`.
///
/// # Errors
///
/// [`StoreError::Corrupt`] when the value is in neither format (the error
/// never quotes the value, which holds session data).
pub fn decode(key: StoreKey, value: &[u8]) -> Result<Record, StoreError> {
    Stored::parse(value).map(|stored| stored.into_record(key))
}

/// The first bytes of a value at `version`, which a compare-and-swap
/// expects to find: the format byte and the version, as [`encode`] writes
/// them (the scripts also take a format 1 value at that version).
pub(crate) fn expected(version: u64) -> Vec<u8> {
    let mut prefix = vec![FORMAT];
    put_varint(&mut prefix, version);
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
        let short = || corrupt("is shorter than its header");
        let time = |bytes: &[u8]| {
            let secs = bytes[..5].iter().fold(0i64, |n, b| n << 8 | i64::from(*b));
            OffsetDateTime::from_unix_timestamp(secs)
                .map_err(|_| corrupt("has a time out of range"))
        };
        let (version, times, user_len, rest) = match value.first() {
            Some(&FORMAT) => {
                let (version, after) = take_varint(&value[1..]).ok_or_else(short)?;
                let (times, after) = after.split_at_checked(10).ok_or_else(short)?;
                let (user_len, rest) = take_varint(after).ok_or_else(short)?;
                (version, times, user_len, rest)
            }
            Some(&FORMAT_WIDE) if value.len() >= HEADER_WIDE => {
                let mut version = [0u8; 8];
                version.copy_from_slice(&value[1..9]);
                let user_len = u16::from_be_bytes([value[19], value[20]]);
                (
                    u64::from_be_bytes(version),
                    &value[9..19],
                    u64::from(user_len),
                    &value[HEADER_WIDE..],
                )
            }
            Some(&FORMAT_WIDE) | None => return Err(short()),
            Some(_) => return Err(corrupt("has an unknown format")),
        };
        let user_len = u16::try_from(user_len)
            .ok()
            .map(usize::from)
            .filter(|n| *n <= rest.len())
            .ok_or_else(|| corrupt("is shorter than its user ID"))?;
        let (user, data) = rest.split_at(user_len);
        let user = match user_len {
            0 => None,
            _ => Some(
                std::str::from_utf8(user)
                    .map_err(|_| corrupt("has a user ID that is not UTF-8"))?,
            ),
        };
        Ok(Stored {
            version,
            created_at: time(&times[..5])?,
            expires_at: time(&times[5..])?,
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
            version: 0x0102_0304,
            created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            expires_at: OffsetDateTime::from_unix_timestamp(1_701_209_600).unwrap(),
            user: user.map(str::to_owned),
        }
    }

    /// The bytes of `n` in LEB128.
    fn varint(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, n);
        out
    }

    #[test]
    fn numbers_take_as_many_bytes_as_they_need() {
        for (n, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::from(u32::MAX), 5),
            (u64::MAX, 10),
        ] {
            let bytes = varint(n);
            assert_eq!(bytes.len(), len, "{n}");
            assert_eq!(take_varint(&bytes), Some((n, &[][..])), "{n}");
        }
        // Cut off, past u64, past ten bytes, or not in the shortest form.
        for bad in [
            &[0x80][..],
            &[0xff; 9][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..],
            &[0x80; 11][..],
            &[0x80, 0x00][..],
            &[0x81, 0x80, 0x00][..],
        ] {
            assert_eq!(take_varint(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn records_come_back_as_they_were_stored() {
        for (user, data) in [
            (None, &b"{}"[..]),
            (Some("alice"), &br#"{"a":1}"#[..]),
            (Some(&*"u".repeat(127)), &b"{}"[..]),
            (Some(&*"é".repeat(255)), &[0u8, 255, 1][..]),
            (Some("u"), &b""[..]),
        ] {
            for version in [0, 1, 127, 128, 16_384, u64::from(u32::MAX) + 1, u64::MAX] {
                let r = Record {
                    version,
                    ..record(user, data)
                };
                let stored = encode(&r).unwrap();
                let user_len = user.map_or(0, str::len);
                let header = 1 + varint(version).len() + 10 + varint(user_len as u64).len();
                assert_eq!(stored.len(), header + user_len + data.len());
                assert_eq!(stored[..1 + varint(version).len()], expected(version)[..]);
                assert_eq!(decode(r.key.clone(), &stored).unwrap(), r);
            }
        }
    }

    #[test]
    fn the_fields_sit_where_the_scripts_read_them() {
        // Lua's 1-based positions (see `scripts`): the version from 2, then
        // (at `p`) created, expires at p + 5 .. p + 9, the user's length
        // from p + 10 and the user after it.
        for version in [3, 300] {
            let r = Record {
                version,
                ..record(Some("bob"), b"data")
            };
            let stored = encode(&r).unwrap();
            let p = 2 + varint(version).len();
            assert_eq!(stored[0], 2);
            assert_eq!(stored[1..p - 1], varint(version)[..]);
            assert_eq!(
                stored[p - 1 + 5..p - 1 + 10],
                1_701_209_600u64.to_be_bytes()[3..]
            );
            assert_eq!(stored[p - 1 + 10], 3);
            assert_eq!(&stored[p - 1 + 11..p - 1 + 14], b"bob");
        }
    }

    /// A value in format 1, as the releases before format 2 wrote it.
    fn format_1(version: u64, user: &str, data: &[u8]) -> Vec<u8> {
        let mut old = vec![1];
        old.extend_from_slice(&version.to_be_bytes());
        old.extend_from_slice(&1_700_000_000u64.to_be_bytes()[3..]);
        old.extend_from_slice(&1_701_209_600u64.to_be_bytes()[3..]);
        old.extend_from_slice(&u16::try_from(user.len()).unwrap().to_be_bytes());
        old.extend_from_slice(user.as_bytes());
        old.extend_from_slice(data);
        old
    }

    #[test]
    fn values_an_earlier_release_wrote_still_load() {
        let old = format_1(5, "alice", b"{}");
        let key = SessionId::generate().store_key();
        let loaded = decode(key.clone(), &old).unwrap();
        let expected = Record {
            key,
            version: 5,
            ..record(Some("alice"), b"{}")
        };
        assert_eq!(loaded, expected);
        // Written again, it takes format 2: a one-byte version and a
        // one-byte length, eight bytes less.
        assert_eq!(encode(&loaded).unwrap().len(), old.len() - 8);
    }

    #[test]
    fn malformed_values_are_corrupt_without_quoting_them() {
        let good = encode(&record(Some("carol"), b"secret-data")).unwrap();
        let old = format_1(7, "carol", b"secret-data");
        // Format 2 here: version 0x0102_0304 takes four bytes, so the
        // user's length is at 15 and the user at 16.
        let mut wrong_format = good.clone();
        wrong_format[0] = 3;
        let mut long_user = good.clone();
        long_user[15] = 0x7f;
        let mut bad_utf8 = good.clone();
        bad_utf8[16] = 0xff;
        let mut endless_version = good.clone();
        endless_version[1..5].copy_from_slice(&[0xff; 4]);
        endless_version.truncate(11);
        let mut old_long_user = old.clone();
        old_long_user[19] = 0xff;
        for value in [
            &b""[..],
            &b"garbage"[..],
            &[2][..],
            &good[..15],
            &wrong_format,
            &long_user,
            &bad_utf8,
            &endless_version,
            &old[..20],
            &old_long_user,
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
        // The part is the first 12 bytes of the digest in base64url: what
        // every release wrote (a session's key must not move).
        let known = StoreKey::new("00112233445566778899aabbccddeeff".repeat(2));
        assert_eq!(key_part(&known), "ABEiM0RVZneImaq7");
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
