//! The whole session in the cookie, encrypted and authenticated: for apps
//! that want sessions without a server-side store. Turned on by
//! [`SessionManager::encrypted_cookies`](crate::SessionManager::encrypted_cookies)
//! (feature `cookie-store`).
//!
//! The cookie's value is the session's data with its creation and expiry
//! times, sealed with XChaCha20-Poly1305 under a key derived from the key
//! ring's newest secret, with a random 192-bit nonce per write and the
//! cookie's name as associated data (a value made for one cookie never
//! opens as another). Every key of the ring opens it; a cookie an older
//! key sealed is sealed again with the newest on its next response. The
//! client sees only the value's length.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use session_core::{KeyRing, SessionManager};
//!
//! let manager = SessionManager::encrypted_cookies(KeyRing::new([7u8; 32])?).build()?;
//! let request = manager.request(None);
//! request.load().await?.insert("cart", ["apple"])?;
//! let cookie = request.finish(200).await?.cookie_pair().unwrap().to_owned();
//! assert!(!cookie.contains("apple"), "the data is encrypted");
//!
//! let request = manager.request([cookie.as_str()]);
//! assert_eq!(request.load().await?.get::<Vec<String>>("cart")?, Some(vec!["apple".into()]));
//! # Ok(()) }
//! ```
//!
//! # What a cookie store cannot do
//!
//! There is nothing on the server to end: a copy of the cookie stays
//! valid until it expires, so logging out removes the cookie from the
//! browser but not from whoever copied it, and "log out my other devices"
//! (the user index) does not exist. Two requests that change the session
//! at once both send a cookie and the browser keeps the last; there is no
//! compare-and-swap to merge them. A session is limited by what a cookie
//! holds ([`MAX_COOKIE_VALUE_LEN`] bytes, about 3 KB of JSON):
//! a larger one is refused with [`SessionError::CookieTooLarge`] and
//! nothing is sent. Choose a store when any of this matters.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use time::OffsetDateTime;

use crate::codec::{Codec, Data, JsonCodec};
use crate::cookie::MAX_COOKIE_VALUE_LEN;
use crate::mode::{CookieBackend, CookieMeta, Opened};
use crate::{KeyRing, SessionError};

/// The label keys for this purpose are derived under (no `=`: see
/// `KeyRing::derive_keys`).
const PURPOSE: &[u8] = b"session-core/v1/cookie-encryption";
/// The format byte that opens every value.
const FORMAT: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Creation and expiry, 8 bytes each (Unix milliseconds, so the cookie
/// keeps the times as precisely as it is given them), before the JSON
/// data.
const TIMES_LEN: usize = 16;

/// Sessions sealed into the cookie's value.
pub(crate) struct EncryptedCookies {
    /// One cipher per key of the ring, newest first.
    ciphers: Vec<XChaCha20Poly1305>,
    /// The cookie's name: the associated data of every value.
    cookie_name: String,
}

impl EncryptedCookies {
    pub(crate) fn new(keys: &KeyRing, cookie_name: &str) -> Self {
        let ciphers = keys
            .derive_keys(PURPOSE)
            .iter()
            .map(|key| XChaCha20Poly1305::new(key.into()))
            .collect();
        EncryptedCookies {
            ciphers,
            cookie_name: cookie_name.to_owned(),
        }
    }

    /// The plaintext and whether an older key opened it; `None` when no
    /// key does (forged, tampered, another cookie's, or malformed).
    fn open(&self, value: &str) -> Option<(Vec<u8>, bool)> {
        let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
        let (&format, rest) = sealed.split_first()?;
        if format != FORMAT || rest.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::from_slice(nonce);
        self.ciphers.iter().enumerate().find_map(|(i, cipher)| {
            let payload = Payload {
                msg: ciphertext,
                aad: self.cookie_name.as_bytes(),
            };
            cipher
                .decrypt(nonce, payload)
                .ok()
                .map(|plain| (plain, i > 0))
        })
    }
}

impl CookieBackend for EncryptedCookies {
    fn read(&self, value: &str, _max_age: i64, now: OffsetDateTime) -> Opened {
        let empty = || Opened {
            data: Data::new(),
            meta: CookieMeta::default(),
        };
        let Some((plain, stale)) = self.open(value) else {
            tracing::info!(target: "session_core", "ignoring a session cookie no key opens");
            return empty();
        };
        let Some((times, json)) = plain.split_first_chunk::<TIMES_LEN>() else {
            return empty();
        };
        let at = |bytes: &[u8]| {
            let millis = i64::from_be_bytes(bytes.try_into().ok()?);
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
        };
        let (Some(created_at), Some(expires_at)) = (at(&times[..8]), at(&times[8..])) else {
            return empty();
        };
        if expires_at <= now {
            return empty();
        }
        // Sealed by this server, so well-formed unless the format changed.
        let Ok(data) = JsonCodec.decode(json) else {
            return empty();
        };
        Opened {
            data,
            meta: CookieMeta {
                times: Some((created_at, expires_at)),
                stale,
            },
        }
    }

    fn write(
        &self,
        data: &Data,
        (created_at, expires_at): (OffsetDateTime, OffsetDateTime),
        _now: OffsetDateTime,
    ) -> Result<String, SessionError> {
        let json = JsonCodec.encode(data)?;
        let mut plain = Vec::with_capacity(TIMES_LEN + json.len());
        plain.extend_from_slice(&unix_millis(created_at).to_be_bytes());
        plain.extend_from_slice(&unix_millis(expires_at).to_be_bytes());
        plain.extend_from_slice(&json);
        let sealed_len = 1 + NONCE_LEN + plain.len() + TAG_LEN;
        let len = base64::encoded_len(sealed_len, false).unwrap_or(usize::MAX);
        // The browser keeps name and value together within the limit.
        let max = MAX_COOKIE_VALUE_LEN - self.cookie_name.len() - 1;
        if len > max {
            return Err(SessionError::CookieTooLarge { len, max });
        }
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| crate::CodecError::encode(format!("no random nonce: {e}")))?;
        let payload = Payload {
            msg: &plain,
            aad: self.cookie_name.as_bytes(),
        };
        let ciphertext = self.ciphers[0]
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| crate::CodecError::encode("encryption failed"))?;
        let mut sealed = Vec::with_capacity(sealed_len);
        sealed.push(FORMAT);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }
}

/// `at` in whole Unix milliseconds, the precision sealed in the cookie.
fn unix_millis(at: OffsetDateTime) -> i64 {
    // Within `OffsetDateTime`'s range (about ±10,000 years) the
    // milliseconds fit an `i64` many times over.
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"fedcba9876543210fedcba9876543210";

    fn t(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn data() -> Data {
        json!({"user_id": 7, "cart": ["apple"]})
            .as_object()
            .unwrap()
            .clone()
    }

    fn store(secret: &[u8]) -> EncryptedCookies {
        EncryptedCookies::new(&KeyRing::new(secret).unwrap(), "session")
    }

    #[test]
    fn a_value_opens_to_its_data_and_times_and_hides_them() {
        let cookies = store(A);
        let value = cookies.write(&data(), (t(100), t(1_000)), t(100)).unwrap();
        assert!(!value.contains("apple"));
        let opened = cookies.read(&value, 0, t(500));
        assert_eq!(opened.data, data());
        assert_eq!(opened.meta.times, Some((t(100), t(1_000))));
        assert!(!opened.meta.stale);
        // A random nonce: the same data seals differently each time.
        let again = cookies.write(&data(), (t(100), t(1_000)), t(100)).unwrap();
        assert_ne!(value, again);
    }

    #[test]
    fn times_keep_their_milliseconds() {
        let cookies = store(A);
        let ms = |n: i64| t(0) + time::Duration::milliseconds(n);
        let value = cookies.write(&data(), (ms(100_250), ms(1_000_900)), ms(100_250));
        let value = value.unwrap();
        // A whole-second expiry (1,000) would have ended it already.
        let opened = cookies.read(&value, 0, ms(1_000_500));
        assert_eq!(opened.meta.times, Some((ms(100_250), ms(1_000_900))));
        assert!(cookies.read(&value, 0, ms(1_000_900)).data.is_empty());
    }

    #[test]
    fn expired_tampered_foreign_and_garbage_values_open_nothing() {
        let cookies = store(A);
        let value = cookies.write(&data(), (t(100), t(1_000)), t(100)).unwrap();
        assert!(cookies.read(&value, 0, t(1_000)).data.is_empty(), "expired");
        let mut bytes = URL_SAFE_NO_PAD.decode(&value).unwrap();
        for i in [0, 1, 30, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&bytes);
            assert!(
                cookies.read(&tampered, 0, t(500)).data.is_empty(),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        assert!(
            store(B).read(&value, 0, t(500)).data.is_empty(),
            "another key"
        );
        let other_cookie = EncryptedCookies::new(&KeyRing::new(A).unwrap(), "other");
        assert!(
            other_cookie.read(&value, 0, t(500)).data.is_empty(),
            "another cookie"
        );
        for garbage in [
            "",
            "AQ",
            "not base64!",
            &"A".repeat(100),
            &value[..value.len() / 2],
        ] {
            assert!(
                cookies.read(garbage, 0, t(500)).data.is_empty(),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn an_older_key_opens_and_asks_for_sealing_again() {
        let old = store(B);
        let value = old.write(&data(), (t(100), t(1_000)), t(100)).unwrap();
        let rotated = EncryptedCookies::new(&KeyRing::with_fallbacks(A, [B]).unwrap(), "session");
        let opened = rotated.read(&value, 0, t(500));
        assert_eq!(opened.data, data());
        assert!(opened.meta.stale);
        let resealed = rotated
            .write(&opened.data, (t(100), t(1_000)), t(500))
            .unwrap();
        assert!(!rotated.read(&resealed, 0, t(500)).meta.stale);
        assert!(old.read(&resealed, 0, t(500)).data.is_empty());
    }

    #[test]
    fn a_session_too_large_for_a_cookie_is_refused() {
        let cookies = store(A);
        let mut big = Data::new();
        big.insert("blob".into(), json!("x".repeat(MAX_COOKIE_VALUE_LEN)));
        let err = cookies.write(&big, (t(0), t(10)), t(0)).unwrap_err();
        match err {
            SessionError::CookieTooLarge { len, max } => {
                assert!(len > max && max == MAX_COOKIE_VALUE_LEN - "session".len() - 1);
            }
            other => panic!("{other:?}"),
        }
        // Just under the limit fits.
        let mut fits = Data::new();
        fits.insert("blob".into(), json!("x".repeat(2_900)));
        let value = cookies.write(&fits, (t(0), t(10)), t(0)).unwrap();
        assert!(value.len() + "session=".len() <= MAX_COOKIE_VALUE_LEN);
    }
}
