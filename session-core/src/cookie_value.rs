//! The session cookie's value: how a session ID is written into it and read
//! back out. The request lifecycle, [`SessionManager::verify_cookie`](crate::SessionManager::verify_cookie)
//! and the operations CLI all go through here, so a value is judged the
//! same way everywhere.
//!
//! With native IDs the value is `<id>.<tag>`: the tag is an HMAC of the
//! cookie's name and the ID under the key ring's newest key (43 base64url
//! characters), and a value any key of the ring signed is accepted. In
//! Django mode the value is Django's bare session key, as Django sends it.
//!
//! ```
//! use session_core::cookie_value::Rejection;
//! use session_core::{KeyRing, SessionManager};
//! let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32])?);
//! assert_eq!(manager.verify_cookie("forged.value"), Err(Rejection::Malformed));
//! assert_eq!(Rejection::BadSignature.to_string(), "the session cookie's signature does not verify");
//! # Ok::<(), session_core::ConfigError>(())
//! ```

use std::borrow::Cow;

use crate::keys::{TAG_LEN, Verified};
use crate::{IdFormat, KeyRing, SessionId};

/// Why a session cookie was not accepted. The request goes on without a
/// session (a fresh one if the handler writes), as it would with no cookie.
///
/// ```
/// # use session_core::cookie_value::Rejection;
/// assert_eq!(Rejection::Duplicated.to_string(), "more than one session cookie");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Not the shape of a session cookie's value: no tag, a tag of the
    /// wrong length, an ID that is not one, a value that is not ASCII.
    #[error("malformed session cookie")]
    Malformed,
    /// The request carried the session cookie more than once.
    #[error("more than one session cookie")]
    Duplicated,
    /// A value past [`MAX_COOKIE_VALUE_LEN`](crate::MAX_COOKIE_VALUE_LEN).
    #[error("oversized session cookie")]
    Oversized,
    /// Well formed, but no key of the ring signed it.
    #[error("the session cookie's signature does not verify")]
    BadSignature,
}

/// Judges a session value as it arrives, in a cookie or in the session
/// header, before anything else looks at it: at most
/// [`MAX_COOKIE_VALUE_LEN`](crate::MAX_COOKIE_VALUE_LEN) bytes, and
/// printable ASCII without spaces (what every value the manager writes
/// is), never empty.
pub(crate) fn judge(value: &[u8]) -> Result<&str, Rejection> {
    shape(value)?;
    // Printable ASCII, so UTF-8.
    std::str::from_utf8(value).map_err(|_| Rejection::Malformed)
}

/// [`judge`] for a value that is already text (a cookie's).
pub(crate) fn judge_text(value: &str) -> Result<&str, Rejection> {
    shape(value.as_bytes()).map(|()| value)
}

fn shape(value: &[u8]) -> Result<(), Rejection> {
    if value.len() > crate::MAX_COOKIE_VALUE_LEN {
        Err(Rejection::Oversized)
    } else if value.is_empty() || !all_graphic(value) {
        Err(Rejection::Malformed)
    } else {
        Ok(())
    }
}

/// Whether every byte is printable ASCII other than space (`!` to `~`).
/// Every byte is looked at, without stopping at the first bad one, so that
/// the compiler checks many bytes per instruction: this runs on every
/// request that carries a session.
fn all_graphic(value: &[u8]) -> bool {
    value
        .iter()
        .fold(true, |all, &b| all & (b.wrapping_sub(b'!') <= b'~' - b'!'))
}

/// Writes and reads cookie values for one manager: its key ring (none in
/// Django mode, where the value is the bare key), cookie name and ID
/// format.
pub(crate) struct CookieValues {
    keys: Option<KeyRing>,
    name: String,
    format: IdFormat,
}

impl CookieValues {
    pub(crate) fn new(keys: Option<KeyRing>, name: &str, format: IdFormat) -> Self {
        CookieValues {
            keys,
            name: name.to_owned(),
            format,
        }
    }

    /// The format of the IDs these values carry.
    pub(crate) fn format(&self) -> IdFormat {
        self.format
    }

    /// The key ring, for the manager's `Debug` output.
    pub(crate) fn keys(&self) -> Option<&KeyRing> {
        self.keys.as_ref()
    }

    /// The ID a cookie value carries, and which key signed it (always
    /// [`Verified::Current`] for Django's unsigned keys).
    pub(crate) fn decode(&self, value: &str) -> Result<(SessionId, Verified), Rejection> {
        let Some(keys) = &self.keys else {
            return SessionId::parse_in(self.format, value)
                .map(|id| (id, Verified::Current))
                .ok_or(Rejection::Malformed);
        };
        // "<id>.<tag>": the tag has a fixed length, so split from the end.
        let (id, tag) = value
            .rsplit_once('.')
            .filter(|(_, tag)| tag.len() == TAG_LEN)
            .ok_or(Rejection::Malformed)?;
        let verified = keys
            .verify(&self.name, id, tag)
            .ok_or(Rejection::BadSignature)?;
        let id = SessionId::parse_in(self.format, id).ok_or(Rejection::Malformed)?;
        Ok((id, verified))
    }

    /// The cookie value that carries `id`, signed by the newest key.
    pub(crate) fn encode<'a>(&self, id: &'a SessionId) -> Cow<'a, str> {
        let id = id.expose();
        let Some(keys) = &self.keys else {
            return Cow::Borrowed(id);
        };
        let mut value = String::with_capacity(id.len() + 1 + TAG_LEN);
        value.push_str(id);
        value.push('.');
        keys.append_tag(&self.name, id, &mut value);
        Cow::Owned(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_judged_alike_wherever_they_arrive() {
        assert_eq!(judge(b"abc.DEF-_~"), Ok("abc.DEF-_~"));
        assert_eq!(judge_text("abc.DEF-_~"), Ok("abc.DEF-_~"));
        for bad in [&b""[..], b"a b", b"a\tb", b"a\x7fb", "zoë".as_bytes()] {
            assert_eq!(judge(bad), Err(Rejection::Malformed), "{bad:?}");
            let text = std::str::from_utf8(bad).unwrap();
            assert_eq!(judge_text(text), Err(Rejection::Malformed), "{bad:?}");
        }
        let long = vec![b'a'; crate::MAX_COOKIE_VALUE_LEN + 1];
        assert_eq!(judge(&long), Err(Rejection::Oversized));
        let text = std::str::from_utf8(&long).unwrap();
        assert_eq!(judge_text(text), Err(Rejection::Oversized));
        assert!(judge(&long[1..]).is_ok());
        assert!(judge_text(&text[1..]).is_ok());
        // The cookie and the session header use it both.
        let config = crate::CookieConfig::new("session");
        assert!(matches!(
            config.find(["session=a\tb"]),
            crate::cookie::Found::Rejected(Rejection::Malformed)
        ));
    }

    #[test]
    fn all_graphic_is_is_ascii_graphic_for_every_byte_anywhere() {
        for b in 0..=u8::MAX {
            for at in [0, 1, 31, 32, 94] {
                let mut value = vec![b'a'; 95];
                value[at] = b;
                assert_eq!(all_graphic(&value), b.is_ascii_graphic(), "{b:#x} at {at}");
            }
        }
    }

    fn values(signed: bool) -> CookieValues {
        let format = if signed {
            IdFormat::Native
        } else {
            IdFormat::Django
        };
        let keys = signed.then(|| KeyRing::new([3u8; 32]).unwrap());
        CookieValues::new(keys, "session", format)
    }

    #[test]
    fn what_is_encoded_decodes_to_the_same_id() {
        for signed in [true, false] {
            let v = values(signed);
            let id = SessionId::generate_in(v.format);
            let (back, verified) = v.decode(&v.encode(&id)).unwrap();
            assert_eq!((back.expose(), verified), (id.expose(), Verified::Current));
        }
    }

    #[test]
    fn values_are_judged_by_their_shape_then_their_signature() {
        let v = values(true);
        let id = SessionId::generate();
        let good = v.encode(&id).into_owned();
        let (raw, tag) = good.rsplit_once('.').unwrap();
        let other = SessionId::generate();
        let cases = [
            (raw.to_owned(), Rejection::Malformed),
            (format!("{raw}.{}", &tag[1..]), Rejection::Malformed),
            (format!("{raw}.{tag}x"), Rejection::Malformed),
            (format!("{}.{tag}", other.expose()), Rejection::BadSignature),
            (
                format!("{raw}.{}", "A".repeat(TAG_LEN)),
                Rejection::BadSignature,
            ),
            (format!("short.{tag}"), Rejection::BadSignature),
        ];
        for (value, why) in cases {
            assert_eq!(v.decode(&value).err(), Some(why), "{value}");
        }
        // Signed by the ring's own key for another cookie name: refused.
        let elsewhere = CookieValues::new(
            Some(KeyRing::new([3u8; 32]).unwrap()),
            "other",
            IdFormat::Native,
        );
        assert_eq!(
            v.decode(&elsewhere.encode(&id)).err(),
            Some(Rejection::BadSignature)
        );
    }

    #[test]
    fn an_older_key_verifies_as_a_fallback() {
        let old = values(true);
        let id = SessionId::generate();
        let value = old.encode(&id).into_owned();
        let ring = KeyRing::with_fallbacks([4u8; 32], [[3u8; 32]]).unwrap();
        let rotated = CookieValues::new(Some(ring), "session", IdFormat::Native);
        assert_eq!(rotated.decode(&value).unwrap().1, Verified::Fallback);
    }

    #[test]
    fn django_keys_are_taken_bare() {
        let v = values(false);
        assert_eq!(v.decode("not a key").err(), Some(Rejection::Malformed));
        let id = SessionId::generate_in(IdFormat::Django);
        assert_eq!(v.encode(&id), id.expose());
    }
}
