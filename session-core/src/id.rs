//! Session identifiers and the keys stores file records under.
//!
//! A [`SessionId`] is the secret a browser carries in its cookie. It is never
//! stored: stores see only its [`StoreKey`], the SHA-256 digest of the ID
//! (hex), so a leaked table or directory holds no live session IDs.
//!
//! ```
//! use session_core::SessionId;
//!
//! let id = SessionId::generate();
//! assert_eq!(id.expose().len(), 43);
//! // Parsing is strict: the exact length and the base64url alphabet.
//! assert_eq!(SessionId::parse(id.expose()), Some(id.clone()));
//! assert_eq!(SessionId::parse("not-an-id"), None);
//! // The store key is a digest, never the ID itself.
//! assert_ne!(id.store_key().as_str(), id.expose());
//! ```

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How many random bytes a native session ID carries (256 bits).
const ID_BYTES: usize = 32;
/// The length of a native ID in base64url without padding.
const NATIVE_ID_LEN: usize = 43;
/// The length of a Django-style session key.
const DJANGO_ID_LEN: usize = 32;
const DJANGO_ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Which kind of session ID a [`SessionManager`](crate::SessionManager) issues and accepts.
///
/// ```
/// use session_core::{IdFormat, SessionId};
///
/// let django = SessionId::generate_in(IdFormat::Django);
/// assert_eq!(django.expose().len(), 32);
/// assert!(SessionId::parse_in(IdFormat::Native, django.expose()).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IdFormat {
    /// 256 random bits as 43 base64url characters; stored as the SHA-256 of the ID.
    #[default]
    Native,
    /// Django's session keys: 32 characters of `[a-z0-9]` (8 to 40 are
    /// accepted, as Django accepts them), stored raw in the
    /// `session_key` column, as Django itself does (for sharing sessions with
    /// a Django application).
    Django,
}

/// A session ID: the secret a client presents in its cookie.
///
/// Its `Debug` and `Display` forms show only a short prefix, so a log line
/// never carries a live ID. Comparison is constant-time.
///
/// ```
/// # use session_core::SessionId;
/// let id = SessionId::generate();
/// assert_eq!(id.expose().len(), 43);
/// assert_eq!(format!("{id:?}").len(), "SessionId(abcd…)".len()); // a prefix only
/// assert_eq!(SessionId::parse(id.expose()), Some(id.clone()));
/// ```
#[derive(Clone, Eq)]
pub struct SessionId {
    /// Shared: a request keeps its ID in several places (what its cookie
    /// named, what its save writes), and copies are counted, not made.
    value: Arc<str>,
    format: IdFormat,
}

impl SessionId {
    /// A fresh native ID: 256 bits from the operating system's CSPRNG.
    ///
    /// ```
    /// let a = session_core::SessionId::generate();
    /// let b = session_core::SessionId::generate();
    /// assert_ne!(a, b);
    /// ```
    pub fn generate() -> Self {
        Self::generate_in(IdFormat::Native)
    }

    /// A fresh ID of the given format, from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// Only if the operating system cannot provide random bytes at all, in
    /// which case no safe session can be issued.
    ///
    /// ```
    /// # use session_core::{IdFormat, SessionId};
    /// let key = SessionId::generate_in(IdFormat::Django);
    /// assert_eq!(key.expose().len(), 32);
    /// assert!(key.expose().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    /// ```
    pub fn generate_in(format: IdFormat) -> Self {
        let value = match format {
            IdFormat::Native => {
                let mut bytes = [0u8; ID_BYTES];
                fill_random(&mut bytes);
                let mut out = [0u8; NATIVE_ID_LEN];
                let len = URL_SAFE_NO_PAD
                    .encode_slice(bytes, &mut out)
                    .expect("32 bytes are 43 base64 characters");
                ascii(&out[..len])
            }
            IdFormat::Django => {
                // Rejection sampling keeps every character uniformly likely.
                let mut out = [0u8; DJANGO_ID_LEN];
                let mut len = 0;
                let mut buf = [0u8; 64];
                while len < DJANGO_ID_LEN {
                    fill_random(&mut buf);
                    for b in buf {
                        // 252 = 7 * 36: bytes at or above it would bias the alphabet.
                        if b < 252 && len < DJANGO_ID_LEN {
                            out[len] = DJANGO_ALPHABET[(b % 36) as usize];
                            len += 1;
                        }
                    }
                }
                ascii(&out)
            }
        };
        SessionId { value, format }
    }

    /// Parses a native ID: exactly 43 base64url characters that decode to 32 bytes.
    ///
    /// ```
    /// # use session_core::SessionId;
    /// let id = SessionId::generate();
    /// assert!(SessionId::parse(id.expose()).is_some());
    /// assert!(SessionId::parse("../../etc/passwd").is_none());
    /// assert!(SessionId::parse(&"A".repeat(44)).is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_in(IdFormat::Native, s)
    }

    /// Parses an ID of the given format; anything else is `None`.
    ///
    /// ```
    /// use session_core::{IdFormat, SessionId};
    /// assert!(SessionId::parse_in(IdFormat::Django, "abcdefghijklmnopqrstuvwxyz012345").is_some());
    /// assert!(SessionId::parse_in(IdFormat::Django, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345").is_none());
    /// ```
    pub fn parse_in(format: IdFormat, s: &str) -> Option<Self> {
        let valid = match format {
            IdFormat::Native => native_shape(s.as_bytes()),
            IdFormat::Django => {
                // Django issues 32 characters and accepts any key of 8 or more.
                (8..=40).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            }
        };
        valid.then(|| SessionId {
            value: Arc::from(s),
            format,
        })
    }

    /// The format of this ID.
    ///
    /// ```
    /// # use session_core::{IdFormat, SessionId};
    /// assert_eq!(SessionId::generate().format(), IdFormat::Native);
    /// ```
    pub fn format(&self) -> IdFormat {
        self.format
    }

    /// The full ID, for writing into a cookie. Never log it.
    ///
    /// ```
    /// # use session_core::SessionId;
    /// let id = SessionId::generate();
    /// let cookie_value = id.expose();
    /// assert_eq!(SessionId::parse(cookie_value), Some(id.clone()));
    /// ```
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// A short digest of the ID for log lines: the first 16 hex digits of
    /// its SHA-256 (for native IDs, a prefix of the [`store_key`](Self::store_key)).
    ///
    /// ```
    /// let id = session_core::SessionId::generate();
    /// assert!(id.store_key().as_str().starts_with(&id.log_key()));
    /// ```
    pub fn log_key(&self) -> String {
        let mut digest = hex(&Sha256::digest(self.value.as_bytes()));
        digest.truncate(16);
        digest
    }

    /// The key this session's record is stored under.
    ///
    /// Native IDs are hashed (lowercase hex of SHA-256); Django keys are
    /// stored raw, because Django's own table is keyed that way.
    ///
    /// ```
    /// # use session_core::{IdFormat, SessionId};
    /// let id = SessionId::generate();
    /// assert_eq!(id.store_key().as_str().len(), 64); // hex SHA-256, not the ID
    /// assert_ne!(id.store_key().as_str(), id.expose());
    /// let django = SessionId::parse_in(IdFormat::Django, "abcdefghijklmnopqrstuvwxyz012345").unwrap();
    /// assert_eq!(django.store_key().as_str(), django.expose());
    /// ```
    pub fn store_key(&self) -> StoreKey {
        match self.format {
            IdFormat::Native => {
                // Hexed on the stack, then allocated once.
                let mut out = [0u8; 64];
                hex::encode_to_slice(Sha256::digest(self.value.as_bytes()), &mut out)
                    .expect("64 digits for 32 bytes");
                StoreKey(ascii(&out))
            }
            IdFormat::Django => StoreKey(Arc::clone(&self.value)),
        }
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.format == other.format
            && bool::from(self.value.as_bytes().ct_eq(other.value.as_bytes()))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", &self.value[..4])
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", &self.value[..4])
    }
}

/// The key a store files a session record under.
///
/// For native sessions it is the hex SHA-256 of the [`SessionId`]; it is safe
/// to log and to show to the session's owner (for example in a list of their
/// devices), because it cannot be turned back into a working cookie. In
/// Django mode it is Django's session key itself, which works as a
/// password; so that a `{:?}` of a key or a [`Record`](crate::Record) never
/// puts one in a log, `Debug` shows only the first 4 characters, as
/// [`SessionId`]'s does (`Display` and [`as_str`](Self::as_str) give the
/// whole key).
///
/// ```
/// use session_core::StoreKey;
/// let key = StoreKey::new("abcdefgh12345678");
/// assert_eq!(key.as_str(), "abcdefgh12345678");
/// assert_eq!(format!("{key:?}"), "StoreKey(abcd…)");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey(Arc<str>);

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(4) {
            Some((end, _)) => write!(f, "StoreKey({}…)", &self.0[..end]),
            None => write!(f, "StoreKey({})", self.0),
        }
    }
}

impl StoreKey {
    /// Wraps a key read back from a store (for example a row's primary key).
    ///
    /// Stores must treat keys as opaque: they are ASCII (`[0-9a-f]` for
    /// native sessions, `[a-z0-9]` in Django mode) and at most 64 bytes long.
    ///
    /// ```
    /// # use session_core::StoreKey;
    /// let key = StoreKey::new("0f".repeat(32));
    /// assert_eq!(key.to_string(), "0f".repeat(32));
    /// ```
    pub fn new(key: impl Into<String>) -> Self {
        StoreKey(Arc::from(key.into()))
    }

    /// The key as text.
    ///
    /// ```
    /// # use session_core::StoreKey;
    /// assert_eq!(StoreKey::new("ab12").as_str(), "ab12");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fill_random(buf: &mut [u8]) {
    // Without the OS CSPRNG no safe ID can be made; carrying on with a weak
    // ID would be worse than stopping.
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// Whether `s` is what base64url without padding makes of 32 bytes: 43
/// characters of its alphabet, the last of which encodes only the 4 bits
/// left over (its 2 low bits zero), so that each value has exactly one
/// spelling. What the `base64` crate's strict decoder accepts (a test
/// holds the two together), without decoding: every request that loads
/// parses its ID.
fn native_shape(s: &[u8]) -> bool {
    s.len() == NATIVE_ID_LEN
        && s.iter().fold(true, |all, &b| {
            all & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_'))
        })
        // The last character: one of the values 0, 4, 8, … 60.
        && b"AEIMQUYcgkosw048".contains(&s[NATIVE_ID_LEN - 1])
}

/// Shared text of ASCII bytes (the IDs and keys made here).
fn ascii(bytes: &[u8]) -> Arc<str> {
    Arc::from(std::str::from_utf8(bytes).expect("made of ASCII"))
}

/// Lower-case hex of `bytes`, written into one buffer.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    hex::encode_to_slice(bytes, &mut out).expect("the buffer holds two digits per byte");
    String::from_utf8(out).expect("hex digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_ids_are_43_chars_of_base64url_and_unique() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| SessionId::generate().expose().to_owned())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 43);
            assert!(SessionId::parse(id).is_some());
        }
    }

    #[test]
    fn parse_rejects_wrong_length_alphabet_and_non_canonical_forms() {
        let good = SessionId::generate();
        let s = good.expose();
        assert!(SessionId::parse(&s[..42]).is_none());
        assert!(SessionId::parse(&format!("{s}A")).is_none());
        assert!(SessionId::parse(&format!("{}+", &s[..42])).is_none());
        assert!(SessionId::parse(&format!("{}=", &s[..42])).is_none());
        for hostile in ['/', ' ', '\0', '.', '%'] {
            assert!(SessionId::parse(&format!("{hostile}{}", &s[1..])).is_none());
        }
        assert!(SessionId::parse("").is_none());
        assert!(SessionId::parse(&"é".repeat(22)).is_none());
        // A final character that sets bits beyond the 256th is not canonical.
        let zero = URL_SAFE_NO_PAD.encode([0u8; 32]);
        assert!(SessionId::parse(&zero).is_some());
        let mut bent = zero.clone();
        bent.replace_range(42..43, "B");
        assert!(SessionId::parse(&bent).is_none());
    }

    #[test]
    fn native_ids_are_what_the_strict_base64_decoder_takes_for_32_bytes() {
        let decodes = |v: &[u8]| {
            URL_SAFE_NO_PAD
                .decode_slice(v, &mut [0u8; 48])
                .is_ok_and(|len| len == ID_BYTES)
        };
        let id = SessionId::generate();
        for at in 0..NATIVE_ID_LEN {
            for b in 0..=u8::MAX {
                let mut v = id.expose().as_bytes().to_vec();
                v[at] = b;
                assert_eq!(native_shape(&v), decodes(&v), "{b:#x} at {at}");
            }
        }
        for len in [0, 1, 42, 44, 64] {
            let v = vec![b'A'; len];
            assert_eq!(native_shape(&v), decodes(&v), "{len} characters");
        }
    }

    #[test]
    fn store_key_is_the_sha256_of_the_id() {
        let id = SessionId::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap();
        let expected = hex(&Sha256::digest(id.expose().as_bytes()));
        assert_eq!(id.store_key().as_str(), expected);
        // Known answer (Python's hashlib).
        assert_eq!(
            id.store_key().as_str(),
            "dc4bf80c77473d130fa0de86ba4018fe98bb214005e6a5891d12ba91446f9e81"
        );
        assert_eq!(id.store_key().as_str().len(), 64);
        assert!(!id.store_key().as_str().contains(id.expose()));
    }

    #[test]
    fn debug_and_display_do_not_reveal_the_id() {
        let id = SessionId::generate();
        let shown = format!("{id:?} {id}");
        assert!(!shown.contains(id.expose()));
        assert!(!shown.contains(&id.expose()[..8]));
    }

    #[test]
    fn django_keys_are_32_lowercase_alphanumerics_stored_raw() {
        for _ in 0..200 {
            let id = SessionId::generate_in(IdFormat::Django);
            assert_eq!(id.expose().len(), 32);
            assert!(id.expose().bytes().all(|b| DJANGO_ALPHABET.contains(&b)));
            assert_eq!(id.store_key().as_str(), id.expose());
        }
        assert!(SessionId::parse_in(IdFormat::Django, "short").is_none());
        assert!(SessionId::parse_in(IdFormat::Django, "abcdefg").is_none());
        assert!(SessionId::parse_in(IdFormat::Django, "abcdefgh").is_some());
        assert!(SessionId::parse_in(IdFormat::Django, &"a".repeat(41)).is_none());
    }
}
