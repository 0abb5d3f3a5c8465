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
pub const SESSION_SALT: &str = "django.contrib.sessions.SessionStore";

/// The salt of `django.contrib.sessions.backends.signed_cookies`.
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
    pub fn new(signer: DjangoSigner) -> Self {
        DjangoCodec { signer }
    }

    /// The signer.
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
