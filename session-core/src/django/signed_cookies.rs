//! Django's `signed_cookies` backend: the whole session lives in the
//! cookie, signed (and compressed when it helps) with the salt
//! `django.contrib.sessions.backends.signed_cookies`; nothing is stored on
//! the server. Turned on by
//! [`SessionManagerBuilder::django_signed_cookies`](crate::SessionManagerBuilder::django_signed_cookies).
//!
//! As in Django, such sessions cannot be ended on the server (a copied
//! cookie stays valid until it expires), and a tampered or expired cookie
//! is an empty session.

use serde_json::Value;

use super::SIGNED_COOKIES_SALT;
use super::signing::DjangoSigner;
use crate::codec::Data;
use crate::cookie::MAX_COOKIE_VALUE_LEN;
use crate::request::Raw;
use crate::{CodecError, Session, SessionError, SessionManager, SessionResponse};

/// The session a request's cookie carries; empty when absent, forged or
/// older than `max_age` seconds.
pub(crate) fn read(signer: &DjangoSigner, raw: &Raw, max_age: i64) -> Data {
    let Raw::Value(value) = raw else {
        return Data::new();
    };
    match signer.unsign_object(
        SIGNED_COOKIES_SALT,
        value,
        Some(max_age),
        crate::now().unix_timestamp(),
    ) {
        Ok(Value::Object(data)) => data,
        Ok(_) => Data::new(),
        Err(e) => {
            tracing::info!(target: "session_core", reason = %e, "ignoring signed session cookie");
            Data::new()
        }
    }
}

/// Writes the session back into the cookie when it changed.
pub(crate) fn write(
    manager: &SessionManager,
    signer: &DjangoSigner,
    session: &Session,
    carried: bool,
    response: &mut SessionResponse,
) -> Result<(), SessionError> {
    let inner = &manager.inner;
    let mut state = session.lock();
    if state.data.is_empty() || state.destroyed {
        if carried && (state.modified || state.destroyed) {
            response.set_cookie = Some(inner.set_cookie.removal());
        }
        return Ok(());
    }
    if !state.modified {
        return Ok(());
    }
    let now = crate::now();
    let value = signer.sign_object(
        SIGNED_COOKIES_SALT,
        &Value::Object(state.data.clone()),
        true,
        now.unix_timestamp(),
    );
    if value.len() > MAX_COOKIE_VALUE_LEN {
        return Err(CodecError::encode(format!(
            "the session is {} bytes, too large for a cookie",
            value.len()
        ))
        .into());
    }
    let max_age =
        (!inner.rules.browser_close(state.expiry())).then(|| state.next_expiry(now) - now);
    response.set_cookie = Some(inner.set_cookie.render(&value, max_age, now));
    state.modified = false;
    Ok(())
}
