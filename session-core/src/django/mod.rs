//! Django compatibility (feature `django`): with the same `SECRET_KEY`, a
//! Rust service reads and writes the sessions of a Django application, so
//! endpoints can move from Django to Rust one at a time while users stay
//! logged in.
//!
//! - [`signing`]: `django.core.signing`, byte for byte.
//! - [`json`]: Django's JSON session serializer's exact output.
//! - [`DjangoCodec`]: session data as Django's database, cache and file
//!   backends store it (a signed, compressed JSON string).
//! - [`pickle`]: the unsigned pickles Django's cache backends store, read
//!   safely (plain data only, nothing is ever imported or called).
//! - [`auth`]: which Django user a session belongs to, and whether
//!   Django would still accept it (`_auth_user_hash`).

pub mod auth;
pub mod json;
pub mod pickle;
pub mod signed_cookies;
pub mod signing;

use serde_json::Value;

use crate::{Codec, CodecError, Data};
use signing::DjangoSigner;

/// The salt of Django's server-side session backends (`db`, `cache`,
/// `cached_db`, `file`): `"django.contrib.sessions." + "SessionStore"`.
///
/// ```
/// use serde_json::json;
/// use session_core::django::SESSION_SALT;
/// use session_core::django::signing::DjangoSigner;
/// let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
/// // What Django's db backend stores in `session_data`:
/// let stored = signer.sign_object(SESSION_SALT, &json!({"n": 1}), true, 1_700_000_000);
/// assert_eq!(signer.unsign_object(SESSION_SALT, &stored, None, 1_700_000_000)?, json!({"n": 1}));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SESSION_SALT: &str = "django.contrib.sessions.SessionStore";

/// The salt of `django.contrib.sessions.backends.signed_cookies`.
///
/// ```
/// use serde_json::json;
/// use session_core::django::{SESSION_SALT, SIGNED_COOKIES_SALT};
/// use session_core::django::signing::DjangoSigner;
/// let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
/// let cookie = signer.sign_object(SIGNED_COOKIES_SALT, &json!({"n": 1}), true, 1_700_000_000);
/// // A value signed for one purpose does not verify for another.
/// assert!(signer.unsign_object(SESSION_SALT, &cookie, None, 1_700_000_000).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SIGNED_COOKIES_SALT: &str = "django.contrib.sessions.backends.signed_cookies";

/// Session data encoded as Django's server-side backends do
/// (`SessionBase.encode`/`decode`): `signing.dumps(data, salt=SESSION_SALT,
/// compress=True)` with the JSON serializer.
///
/// Like Django 4 and later, it refuses the pre-3.1 format (and any value
/// whose signature does not verify): such a session decodes as an error,
/// which the manager treats as no session.
///
/// ```
/// use session_core::Codec;
/// use session_core::django::{DjangoCodec, signing::DjangoSigner};
/// use serde_json::{Map, json};
///
/// let codec = DjangoCodec::new(DjangoSigner::new("test-secret", Vec::<&str>::new())?);
/// let mut data = Map::new();
/// data.insert("user_id".into(), json!(123));
/// let stored = codec.encode(&data)?;
/// assert_eq!(codec.decode(&stored)?, data);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DjangoCodec {
    signer: DjangoSigner,
}

impl DjangoCodec {
    /// A codec signing with `signer`.
    ///
    /// ```
    /// use session_core::{Codec, Data};
    /// use session_core::django::{DjangoCodec, signing::DjangoSigner};
    /// let codec = DjangoCodec::new(DjangoSigner::new("django-secret", Vec::<&str>::new())?);
    /// let forged = b"eyJuIjoxfQ:1r31eq:forged-signature";
    /// assert!(codec.decode(forged).is_err());
    /// assert_eq!(codec.decode(&codec.encode(&Data::new())?)?, Data::new());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(signer: DjangoSigner) -> Self {
        DjangoCodec { signer }
    }

    /// The signer.
    ///
    /// ```
    /// use session_core::django::{DjangoCodec, signing::DjangoSigner};
    /// let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
    /// let codec = DjangoCodec::new(signer.clone());
    /// assert_eq!(codec.signer().signature("salt", "v"), signer.signature("salt", "v"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn signer(&self) -> &DjangoSigner {
        &self.signer
    }
}

impl Codec for DjangoCodec {
    fn encode(&self, data: &Data) -> Result<Vec<u8>, CodecError> {
        let now = crate::now().unix_timestamp();
        Ok(self
            .signer
            .sign_object(SESSION_SALT, &Value::Object(data.clone()), true, now)
            .into_bytes())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Data, CodecError> {
        let text = std::str::from_utf8(bytes).map_err(CodecError::decode)?;
        match self.signer.unsign_object(
            SESSION_SALT,
            text.trim(),
            None,
            crate::now().unix_timestamp(),
        ) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(CodecError::decode(
                "Django session data is not a JSON object",
            )),
            Err(e) => Err(CodecError::decode(e)),
        }
    }
}
