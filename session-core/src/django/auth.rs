//! Django's authentication keys in a session: which user is logged in, and
//! whether Django would still accept the session for that user.
//!
//! Django stores `_auth_user_id`, `_auth_user_backend` and
//! `_auth_user_hash` (an HMAC of the user's password hash). When the
//! password changes, the hash no longer matches and Django logs the user
//! out; a Rust endpoint that checks [`session_is_valid_for`] does the same.
//!
//! ```
//! use session_core::django::auth::{logged_in_user, session_auth_hash, session_is_valid_for};
//! use session_core::django::signing::DjangoSigner;
//! use session_core::Session;
//!
//! let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
//! let password = "pbkdf2_sha256$870000$salt$hash=";
//! let session = Session::detached();
//! session.insert("_auth_user_id", "42")?;
//! session.insert("_auth_user_backend", "django.contrib.auth.backends.ModelBackend")?;
//! session.insert("_auth_user_hash", session_auth_hash(&signer, password))?;
//!
//! let user = logged_in_user(&session).expect("a Django login");
//! assert_eq!(user.id, "42");
//! assert!(session_is_valid_for(&signer, &session, password));
//! assert!(!session_is_valid_for(&signer, &session, "pbkdf2_sha256$870000$salt$changed="));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use subtle::ConstantTimeEq;

use super::signing::{DjangoSigner, salted_hmac};
use crate::Session;
use crate::id::hex;

/// The key salt of `AbstractBaseUser.get_session_auth_hash`.
const AUTH_HASH_SALT: &str = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";

/// A Django login found in a session.
///
/// ```
/// # use session_core::Session;
/// use session_core::django::auth::{DjangoUser, logged_in_user};
/// let session = Session::detached();
/// session.insert("_auth_user_id", "42")?;
/// assert_eq!(
///     logged_in_user(&session),
///     Some(DjangoUser { id: "42".into(), backend: None, hash: None })
/// );
/// # Ok::<(), session_core::SessionError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DjangoUser {
    /// `_auth_user_id` (Django stores the primary key as a string).
    pub id: String,
    /// `_auth_user_backend`.
    pub backend: Option<String>,
    /// `_auth_user_hash`.
    pub hash: Option<String>,
}

/// The Django user logged in to `session`, if any.
///
/// ```
/// # use session_core::Session;
/// use session_core::django::auth::logged_in_user;
/// let session = Session::detached();
/// assert_eq!(logged_in_user(&session), None);
/// session.insert("_auth_user_id", 42)?; // a number is read as Django's string form
/// assert_eq!(logged_in_user(&session).map(|u| u.id).as_deref(), Some("42"));
/// # Ok::<(), session_core::SessionError>(())
/// ```
pub fn logged_in_user(session: &Session) -> Option<DjangoUser> {
    let id = match session.get_value("_auth_user_id")? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(DjangoUser {
        id,
        backend: session.get::<String>("_auth_user_backend").ok().flatten(),
        hash: session.get::<String>("_auth_user_hash").ok().flatten(),
    })
}

/// `user.get_session_auth_hash()` for a user whose `password` field is
/// `password_hash`, with the signer's current secret (hex).
///
/// ```
/// use session_core::django::auth::session_auth_hash;
/// use session_core::django::signing::DjangoSigner;
/// let signer = DjangoSigner::new("django-secret", Vec::<&str>::new())?;
/// let hash = session_auth_hash(&signer, "pbkdf2_sha256$870000$salt$hash=");
/// assert_eq!(hash.len(), 64); // hex SHA-256, as Django's hexdigest()
/// assert_ne!(hash, session_auth_hash(&signer, "pbkdf2_sha256$870000$salt$other="));
/// # Ok::<(), session_core::ConfigError>(())
/// ```
pub fn session_auth_hash(signer: &DjangoSigner, password_hash: &str) -> String {
    let secret = signer.secrets().next().expect("a signer has a secret");
    hex(&salted_hmac(
        AUTH_HASH_SALT,
        password_hash.as_bytes(),
        secret,
    ))
}

/// Whether Django would keep `session` logged in for a user whose password
/// hash is `password_hash`: its `_auth_user_hash` matches under the current
/// secret or a fallback (constant-time).
///
/// ```
/// use session_core::Session;
/// use session_core::django::auth::{session_auth_hash, session_is_valid_for};
/// use session_core::django::signing::DjangoSigner;
/// let password = "pbkdf2_sha256$870000$salt$hash=";
/// let old = DjangoSigner::new("old-secret", Vec::<&str>::new())?;
/// let session = Session::detached();
/// session.insert("_auth_user_id", "42")?;
/// session.insert("_auth_user_hash", session_auth_hash(&old, password))?;
/// // After rotating SECRET_KEY with the old one in SECRET_KEY_FALLBACKS:
/// let rotated = DjangoSigner::new("new-secret", ["old-secret"])?;
/// assert!(session_is_valid_for(&rotated, &session, password));
/// assert!(!session_is_valid_for(&DjangoSigner::new("new-secret", Vec::<&str>::new())?, &session, password));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn session_is_valid_for(signer: &DjangoSigner, session: &Session, password_hash: &str) -> bool {
    let Some(stored) = logged_in_user(session).and_then(|u| u.hash) else {
        return false;
    };
    signer.secrets().any(|secret| {
        let expected = hex(&salted_hmac(
            AUTH_HASH_SALT,
            password_hash.as_bytes(),
            secret,
        ));
        bool::from(expected.as_bytes().ct_eq(stored.as_bytes()))
    })
}
