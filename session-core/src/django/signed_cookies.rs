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
use time::OffsetDateTime;

use super::SIGNED_COOKIES_SALT;
use super::signing::DjangoSigner;
use crate::SessionError;
use crate::codec::Data;
use crate::cookie::MAX_COOKIE_VALUE_LEN;
use crate::mode::{CookieBackend, CookieMeta, Opened};

/// The session in a cookie signed as Django signs it.
pub(crate) struct SignedCookies(pub(crate) DjangoSigner);

impl CookieBackend for SignedCookies {
    fn read(&self, value: &str, max_age: i64, now: OffsetDateTime) -> Opened {
        let data = match self.0.unsign_object(
            SIGNED_COOKIES_SALT,
            value,
            Some(max_age),
            now.unix_timestamp(),
        ) {
            Ok(Value::Object(data)) => data,
            Ok(_) => Data::new(),
            Err(e) => {
                tracing::info!(target: "session_core", reason = %e, "ignoring signed session cookie");
                Data::new()
            }
        };
        // Django's format records neither the times nor the key.
        Opened {
            data,
            meta: CookieMeta::default(),
        }
    }

    fn write(
        &self,
        data: &Data,
        _times: (OffsetDateTime, OffsetDateTime),
        now: OffsetDateTime,
    ) -> Result<String, SessionError> {
        let value = self.0.sign_object(
            SIGNED_COOKIES_SALT,
            &Value::Object(data.clone()),
            true,
            now.unix_timestamp(),
        );
        if value.len() > MAX_COOKIE_VALUE_LEN {
            return Err(SessionError::CookieTooLarge {
                len: value.len(),
                max: MAX_COOKIE_VALUE_LEN,
            });
        }
        Ok(value)
    }
}
