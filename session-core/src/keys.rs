//! Secret keys and cookie signatures.
//!
//! A [`KeyRing`] holds one current key, which signs, and any number of older
//! keys, which still verify. Rotate a key by making the old current key the
//! first fallback: cookies signed with it keep working (and are re-signed
//! with the new key on their next response), so nobody is logged out.
//!
//! The signature is an HMAC-SHA256 tag over the cookie name and the session
//! ID, under a key derived from the secret for this one purpose, so a tag
//! made for one cookie name (or by another part of the application sharing
//! the secret) never verifies for another. Verification is constant-time.
//!
//! ```
//! use session_core::KeyRing;
//!
//! let ring = KeyRing::new(b"a secret of at least thirty-two bytes!!")?;
//! let rotated = KeyRing::with_fallbacks(
//!     b"the next secret, also thirty-two bytes long",
//!     [b"a secret of at least thirty-two bytes!!"],
//! )?;
//! assert_eq!(rotated.len(), 2);
//! assert!(KeyRing::new(b"too short").is_err());
//! # let _ = ring;
//! # Ok::<(), session_core::ConfigError>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ConfigError;

type HmacSha256 = Hmac<Sha256>;

/// The shortest secret accepted, in bytes.
///
/// ```
/// # use session_core::{ConfigError, KeyRing, MIN_SECRET_LEN};
/// assert!(KeyRing::new([1u8; MIN_SECRET_LEN]).is_ok());
/// assert!(matches!(KeyRing::new([1u8; MIN_SECRET_LEN - 1]), Err(ConfigError::KeyTooShort { .. })));
/// ```
pub const MIN_SECRET_LEN: usize = 32;

/// The label that binds derived keys to session cookie signatures.
const COOKIE_SIGNING_PURPOSE: &[u8] = b"session-core/v1/cookie-signature";

/// Length of a signature tag in base64url without padding (32 bytes).
pub(crate) const TAG_LEN: usize = 43;

/// The secrets that sign and verify session cookies. See the [module docs](self).
///
/// ```
/// # use session_core::KeyRing;
/// let ring = KeyRing::with_fallbacks(b"the new secret, thirty-two bytes+", [b"the old secret, thirty-two bytes++"])?;
/// assert_eq!(ring.len(), 2);
/// assert_eq!(format!("{ring:?}"), "KeyRing { keys: 2, .. }"); // never the secrets
/// # Ok::<(), session_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct KeyRing {
    /// HMAC states keyed with the derived signing keys (the key schedule is
    /// done once, here); the first one signs.
    keys: Vec<HmacSha256>,
}

/// Which key of a ring verified a signature.
///
/// ```
/// # use session_core::{KeyRing, Verified};
/// let old = KeyRing::new([1u8; 32])?;
/// let tag = old.sign("session", "an-id");
/// let rotated = KeyRing::with_fallbacks([2u8; 32], [[1u8; 32]])?;
/// assert_eq!(rotated.verify("session", "an-id", &tag), Some(Verified::Fallback));
/// # Ok::<(), session_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The current key.
    Current,
    /// An older key: the cookie is re-signed with the current one.
    Fallback,
}

impl KeyRing {
    /// A ring with a single key.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTooShort`] if the secret has fewer than 32 bytes.
    ///
    /// ```
    /// # use session_core::KeyRing;
    /// let ring = KeyRing::new(b"a secret of at least thirty-two bytes!!")?;
    /// assert_eq!(ring.len(), 1);
    /// assert!(KeyRing::new("too short").is_err());
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::with_fallbacks(secret, std::iter::empty::<&[u8]>())
    }

    /// A ring whose `current` secret signs and whose `fallbacks` (newest
    /// first) still verify.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTooShort`] if any secret has fewer than 32 bytes.
    ///
    /// ```
    /// # use session_core::{KeyRing, Verified};
    /// let before = KeyRing::new([1u8; 32])?;
    /// let tag = before.sign("session", "an-id");
    /// // Rotate: a new current key, the old one kept to verify.
    /// let after = KeyRing::with_fallbacks([2u8; 32], [[1u8; 32]])?;
    /// assert_eq!(after.verify("session", "an-id", &tag), Some(Verified::Fallback));
    /// assert_eq!(after.verify("session", "an-id", &after.sign("session", "an-id")), Some(Verified::Current));
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn with_fallbacks<I>(current: impl AsRef<[u8]>, fallbacks: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut keys = vec![keyed(&derive(current.as_ref())?)];
        for secret in fallbacks {
            keys.push(keyed(&derive(secret.as_ref())?));
        }
        Ok(KeyRing { keys })
    }

    /// How many keys the ring holds (the current one included).
    ///
    /// ```
    /// # use session_core::KeyRing;
    /// assert_eq!(KeyRing::with_fallbacks([2u8; 32], [[1u8; 32]])?.len(), 2);
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a ring holds at least its current key.
    ///
    /// ```
    /// # use session_core::KeyRing;
    /// assert!(!KeyRing::new([1u8; 32])?.is_empty());
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The tag for `value` in a cookie called `cookie_name`, under the
    /// current key (43 base64url characters). The session cookie carries
    /// `<id>.<tag>`.
    ///
    /// ```
    /// use session_core::{KeyRing, Verified};
    /// let ring = KeyRing::new([9u8; 32])?;
    /// let tag = ring.sign("session", "some-id");
    /// assert_eq!(ring.verify("session", "some-id", &tag), Some(Verified::Current));
    /// assert_eq!(ring.verify("other-cookie", "some-id", &tag), None);
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn sign(&self, cookie_name: &str, value: &str) -> String {
        let mut tag = String::with_capacity(TAG_LEN);
        self.append_tag(cookie_name, value, &mut tag);
        tag
    }

    /// Appends the tag [`sign`](Self::sign) gives to `out` (saves an
    /// allocation where the tag joins the ID in one string).
    pub(crate) fn append_tag(&self, cookie_name: &str, value: &str, out: &mut String) {
        let tag = mac(&self.keys[0], cookie_name, value)
            .finalize()
            .into_bytes();
        URL_SAFE_NO_PAD.encode_string(tag, out);
    }

    /// One key for another purpose per key of the ring, newest first:
    /// HMAC-SHA256 under each signing key of `label`, which holds no `=`
    /// and so is never a message those keys sign (`name=value`).
    #[cfg(feature = "cookie-store")]
    pub(crate) fn derive_keys(&self, label: &[u8]) -> Vec<[u8; 32]> {
        debug_assert!(!label.contains(&b'='));
        self.keys
            .iter()
            .map(|key| {
                let mut mac = key.clone();
                mac.update(label);
                mac.finalize().into_bytes().into()
            })
            .collect()
    }

    /// Checks `tag` against every key of the ring, in constant time per key;
    /// says which key verified it, or `None` when none did.
    ///
    /// ```
    /// # use session_core::{KeyRing, Verified};
    /// let ring = KeyRing::new([9u8; 32])?;
    /// let tag = ring.sign("session", "some-id");
    /// assert_eq!(ring.verify("session", "some-id", &tag), Some(Verified::Current));
    /// assert_eq!(ring.verify("session", "other-id", &tag), None);
    /// assert_eq!(ring.verify("session", "some-id", "not a tag"), None);
    /// # Ok::<(), session_core::ConfigError>(())
    /// ```
    pub fn verify(&self, cookie_name: &str, value: &str, tag: &str) -> Option<Verified> {
        if tag.len() != TAG_LEN {
            return None;
        }
        // Decoded on the stack: this runs for every request that loads.
        let mut buf = [0u8; 48];
        let len = URL_SAFE_NO_PAD.decode_slice(tag, &mut buf).ok()?;
        let tag = &buf[..len];
        self.keys.iter().enumerate().find_map(|(i, key)| {
            mac(key, cookie_name, value)
                .verify_slice(tag)
                .ok()
                .map(|()| {
                    if i == 0 {
                        Verified::Current
                    } else {
                        Verified::Fallback
                    }
                })
        })
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn derive(secret: &[u8]) -> Result<[u8; 32], ConfigError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(ConfigError::KeyTooShort {
            len: secret.len(),
            min: MIN_SECRET_LEN,
        });
    }
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(COOKIE_SIGNING_PURPOSE);
    Ok(mac.finalize().into_bytes().into())
}

fn keyed(key: &[u8; 32]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn mac(key: &HmacSha256, cookie_name: &str, value: &str) -> HmacSha256 {
    let mut mac = key.clone();
    // Cookie names cannot contain '=', so "name=value" is unambiguous.
    mac.update(cookie_name.as_bytes());
    mac.update(b"=");
    mac.update(value.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn short_keys_are_refused() {
        let err = KeyRing::new(&A[..31]).unwrap_err();
        assert!(matches!(err, ConfigError::KeyTooShort { len: 31, min: 32 }));
        assert!(KeyRing::with_fallbacks(A, [&B[..5]]).is_err());
        assert!(KeyRing::new(b"").is_err());
    }

    #[test]
    fn signatures_verify_and_bind_the_name_and_value() {
        let ring = KeyRing::new(A).unwrap();
        let tag = ring.sign("session", "value");
        assert_eq!(tag.len(), TAG_LEN);
        assert_eq!(
            ring.verify("session", "value", &tag),
            Some(Verified::Current)
        );
        assert_eq!(ring.verify("other", "value", &tag), None);
        assert_eq!(ring.verify("session", "valuf", &tag), None);
        assert_eq!(ring.verify("session", "value", &tag[..42]), None);
        let mut flipped = tag.clone();
        flipped.replace_range(0..1, if tag.starts_with('A') { "B" } else { "A" });
        assert_eq!(ring.verify("session", "value", &flipped), None);
    }

    #[test]
    fn fallback_keys_verify_but_do_not_sign() {
        let old = KeyRing::new(B).unwrap();
        let rotated = KeyRing::with_fallbacks(A, [B]).unwrap();
        let old_tag = old.sign("session", "v");
        assert_eq!(
            rotated.verify("session", "v", &old_tag),
            Some(Verified::Fallback)
        );
        assert_ne!(rotated.sign("session", "v"), old_tag);
        assert_eq!(
            KeyRing::new(A).unwrap().verify("session", "v", &old_tag),
            None
        );
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let ring = KeyRing::new(A).unwrap();
        let shown = format!("{ring:?}");
        assert!(!shown.contains("0123"));
        assert!(shown.contains("keys: 1"));
    }
}
