//! Django's signing (`django.core.signing`), exactly: salted HMAC-SHA256
//! keys, `TimestampSigner`'s `payload:timestamp:signature` layout with
//! base62 timestamps, zlib-compressed payloads marked by a leading `.`,
//! and `SECRET_KEY_FALLBACKS`.
//!
//! ```
//! use session_core::django::signing::DjangoSigner;
//! use serde_json::json;
//!
//! let signer = DjangoSigner::new("test-secret", ["old-secret"])?;
//! let data = json!({"user_id": 123, "username": "john_doe"});
//! let signed = signer.sign_object("django.contrib.sessions.SessionStore", &data, true, 1_700_000_000);
//! assert_eq!(
//!     signed,
//!     "eyJ1c2VyX2lkIjoxMjMsInVzZXJuYW1lIjoiam9obl9kb2UifQ:1r31eq:Hklfw_mWBfyEaCZ-VrYzoeph1ipG-whhoJQd8HkbwN0",
//! );
//! let back = signer.unsign_object("django.contrib.sessions.SessionStore", &signed, None, 1_700_000_010)?;
//! assert_eq!(back, data);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ConfigError;

type HmacSha256 = Hmac<Sha256>;

/// The most a compressed payload may inflate to (a guard against zip bombs
/// in forged data; signatures are checked before inflating anyway).
const MAX_INFLATED: u64 = 1 << 20;

/// Why a signed value was refused.
///
/// ```
/// use serde_json::json;
/// use session_core::django::signing::{DjangoSigner, SigningError};
/// let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
/// let signed = signer.sign_object("salt", &json!(1), false, 1_000);
/// assert_eq!(signer.unsign_object("salt", "no-colon", None, 1_000), Err(SigningError::Malformed("no signature")));
/// assert_eq!(signer.unsign_object("other", &signed, None, 1_000), Err(SigningError::BadSignature));
/// assert_eq!(
///     signer.unsign_object("salt", &signed, Some(60), 1_100),
///     Err(SigningError::Expired { age: 100, max_age: 60 })
/// );
/// # Ok::<(), session_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// Not of the `payload:timestamp:signature` form, or the payload does
    /// not decode.
    #[error("malformed signed value: {0}")]
    Malformed(&'static str),
    /// No key of the ring produced this signature.
    #[error("signature does not match")]
    BadSignature,
    /// Older than the allowed age.
    #[error("signature expired ({age} s old, {max_age} s allowed)")]
    Expired {
        /// The value's age in seconds.
        age: i64,
        /// The allowed age.
        max_age: i64,
    },
}

/// Django's `salted_hmac(key_salt, value, secret)` with SHA-256: the key is
/// `SHA256(key_salt + secret)`.
///
/// ```
/// let mac = session_core::django::signing::salted_hmac("salt", b"value", b"secret");
/// assert_eq!(mac.len(), 32);
/// ```
pub fn salted_hmac(key_salt: &str, value: &[u8], secret: &[u8]) -> [u8; 32] {
    let key = Sha256::new()
        .chain_update(key_salt.as_bytes())
        .chain_update(secret)
        .finalize();
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length");
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// Encodes a Unix time in Django's base62 (`0-9A-Za-z`).
///
/// ```
/// assert_eq!(session_core::django::signing::base62_encode(1_700_000_000), "1r31eq");
/// assert_eq!(session_core::django::signing::base62_decode("1r31eq"), Some(1_700_000_000));
/// ```
pub fn base62_encode(mut n: i64) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let negative = n < 0;
    let mut out = Vec::new();
    while n != 0 {
        out.push(DIGITS[(n % 62).unsigned_abs() as usize]);
        n /= 62;
    }
    if negative {
        out.push(b'-');
    }
    out.reverse();
    String::from_utf8(out).expect("base62 digits are ASCII")
}

/// Decodes Django's base62; `None` for anything else.
///
/// ```
/// use session_core::django::signing::base62_decode;
/// assert_eq!(base62_decode("Z"), Some(35));
/// assert_eq!(base62_decode("z"), Some(61));
/// assert_eq!(base62_decode("not base62!"), None);
/// assert_eq!(base62_decode("zzzzzzzzzzz"), None, "overflows i64");
/// ```
pub fn base62_decode(s: &str) -> Option<i64> {
    let (negative, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
    if digits.is_empty() || digits.len() > 11 {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            b'a'..=b'z' => b - b'a' + 36,
            _ => return None,
        };
        n = n.checked_mul(62)?.checked_add(i64::from(d))?;
    }
    Some(if negative { -n } else { n })
}

/// Signs and verifies values with Django's `SECRET_KEY` and
/// `SECRET_KEY_FALLBACKS`.
///
/// Django accepts secrets of any length, and so does this signer (shared
/// sessions must use the Django app's secret as it is); Django's own checks
/// warn below 50 characters.
///
/// ```
/// use serde_json::json;
/// use session_core::django::signing::DjangoSigner;
/// let signer = DjangoSigner::new("django-secret", ["older-secret"])?;
/// assert_eq!(format!("{signer:?}"), "DjangoSigner { keys: 2, .. }"); // never the secrets
/// let signed = signer.sign_object("salt", &json!({"a": 1}), false, 1_700_000_000);
/// assert_eq!(signer.unsign_object("salt", &signed, None, 1_700_000_000)?, json!({"a": 1}));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DjangoSigner {
    secrets: Vec<Vec<u8>>,
}

impl std::fmt::Debug for DjangoSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DjangoSigner")
            .field("keys", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl DjangoSigner {
    /// A signer with `SECRET_KEY` and its `SECRET_KEY_FALLBACKS`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTooShort`] for an empty secret.
    ///
    /// ```
    /// use serde_json::json;
    /// use session_core::django::signing::DjangoSigner;
    /// let old = DjangoSigner::new("old-secret", Vec::<&str>::new())?;
    /// let signed = old.sign_object("salt", &json!(1), false, 1_000);
    /// // SECRET_KEY rotated, the old one kept in SECRET_KEY_FALLBACKS:
    /// let new = DjangoSigner::new("new-secret", ["old-secret"])?;
    /// assert_eq!(new.unsign_object("salt", &signed, None, 1_000)?, json!(1));
    /// assert!(DjangoSigner::new("", Vec::<&str>::new()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new<I>(secret: impl AsRef<[u8]>, fallbacks: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut secrets = vec![secret.as_ref().to_vec()];
        secrets.extend(fallbacks.into_iter().map(|s| s.as_ref().to_vec()));
        if let Some(empty) = secrets.iter().find(|s| s.is_empty()) {
            return Err(ConfigError::KeyTooShort {
                len: empty.len(),
                min: 1,
            });
        }
        Ok(DjangoSigner { secrets })
    }

    /// The secrets, current first.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &[u8]> {
        self.secrets.iter().map(Vec::as_slice)
    }

    /// `Signer(salt=salt).signature(value)` with the current secret.
    ///
    /// ```
    /// use session_core::django::signing::DjangoSigner;
    /// let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
    /// let sig = signer.signature("salt", "value");
    /// assert_eq!(sig.len(), 43); // urlsafe base64 of an HMAC-SHA256, unpadded
    /// assert_ne!(sig, signer.signature("other-salt", "value"));
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn signature(&self, salt: &str, value: &str) -> String {
        signature_with(&self.secrets[0], salt, value)
    }

    /// `TimestampSigner(salt=salt).sign_object(data, serializer=JSONSerializer,
    /// compress=compress)` at Unix time `timestamp`.
    ///
    /// ```
    /// use serde_json::json;
    /// use session_core::django::signing::DjangoSigner;
    /// let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
    /// let big = json!({"text": "a".repeat(200)});
    /// let plain = signer.sign_object("salt", &big, false, 1_700_000_000);
    /// let packed = signer.sign_object("salt", &big, true, 1_700_000_000);
    /// assert!(packed.starts_with('.') && packed.len() < plain.len()); // "." marks zlib
    /// assert_eq!(plain.split(':').nth(1), Some("1r31eq")); // the base62 timestamp
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn sign_object(&self, salt: &str, data: &Value, compress: bool, timestamp: i64) -> String {
        let json = super::json::to_string(data).into_bytes();
        let mut payload = json.clone();
        let mut compressed = false;
        if compress {
            let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(6));
            let deflated = encoder.write_all(&json).and_then(|()| encoder.finish());
            // Django keeps the compressed form only when it saves at least 2 bytes.
            if let Ok(deflated) = deflated
                && deflated.len() < json.len().saturating_sub(1)
            {
                payload = deflated;
                compressed = true;
            }
        }
        let mut value = String::new();
        if compressed {
            value.push('.');
        }
        value.push_str(&URL_SAFE_NO_PAD.encode(&payload));
        value.push(':');
        value.push_str(&base62_encode(timestamp));
        let signature = self.signature(salt, &value);
        format!("{value}:{signature}")
    }

    /// `TimestampSigner(salt=salt).unsign_object(signed, max_age=max_age)` at
    /// Unix time `now`: checks the signature against every secret, the age,
    /// then decodes the payload.
    ///
    /// # Errors
    ///
    /// A [`SigningError`] for a malformed, forged or expired value.
    ///
    /// ```
    /// use serde_json::json;
    /// use session_core::django::signing::DjangoSigner;
    /// let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
    /// let signed = signer.sign_object("salt", &json!([1, 2]), true, 1_000);
    /// assert_eq!(signer.unsign_object("salt", &signed, Some(60), 1_030)?, json!([1, 2]));
    /// assert!(signer.unsign_object("salt", &signed, Some(60), 1_090).is_err(), "too old");
    /// let mut tampered = signed.clone();
    /// tampered.insert(0, 'x');
    /// assert!(signer.unsign_object("salt", &tampered, None, 1_000).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unsign_object(
        &self,
        salt: &str,
        signed: &str,
        max_age: Option<i64>,
        now: i64,
    ) -> Result<Value, SigningError> {
        let (value, signature) = signed
            .rsplit_once(':')
            .ok_or(SigningError::Malformed("no signature"))?;
        let good = self.secrets().any(|secret| {
            bool::from(
                signature_with(secret, salt, value)
                    .as_bytes()
                    .ct_eq(signature.as_bytes()),
            )
        });
        if !good {
            return Err(SigningError::BadSignature);
        }
        let (payload, timestamp) = value
            .rsplit_once(':')
            .ok_or(SigningError::Malformed("no timestamp"))?;
        let timestamp = base62_decode(timestamp).ok_or(SigningError::Malformed("bad timestamp"))?;
        if let Some(max_age) = max_age {
            let age = now.saturating_sub(timestamp);
            if age > max_age {
                return Err(SigningError::Expired { age, max_age });
            }
        }
        let (compressed, payload) = payload
            .strip_prefix('.')
            .map_or((false, payload), |p| (true, p));
        let mut bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| SigningError::Malformed("payload is not base64"))?;
        if compressed {
            let mut inflated = Vec::new();
            ZlibDecoder::new(bytes.as_slice())
                .take(MAX_INFLATED)
                .read_to_end(&mut inflated)
                .map_err(|_| SigningError::Malformed("payload does not inflate"))?;
            bytes = inflated;
        }
        serde_json::from_slice(&bytes).map_err(|_| SigningError::Malformed("payload is not JSON"))
    }
}

fn signature_with(secret: &[u8], salt: &str, value: &str) -> String {
    URL_SAFE_NO_PAD.encode(salted_hmac(
        &format!("{salt}signer"),
        value.as_bytes(),
        secret,
    ))
}
