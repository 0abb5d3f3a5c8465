//! The session a handler sees: a map of JSON values with typed access.
//!
//! Once loaded, every read and write is a plain synchronous call; only
//! loading and committing (done by the framework adapter) touch the store.
//! Cloning a [`Session`] is cheap and the clones share one state.
//!
//! ```
//! use session_core::{Expiry, Session};
//! use time::Duration;
//!
//! let session = Session::detached();
//! session.insert("user_id", 123)?;
//! session.insert("cart", vec!["apple", "pear"])?;
//! assert_eq!(session.get::<u64>("user_id")?, Some(123));
//! assert_eq!(session.keys(), ["user_id", "cart"]);
//! assert!(session.modified());
//!
//! session.set_expiry(Expiry::AfterIdle(Duration::minutes(30)));
//! assert_eq!(session.expiry_age(), Duration::minutes(30));
//!
//! session.flash("notice", "Saved!")?;
//! assert_eq!(session.take_flash::<String>("notice")?, Some("Saved!".into()));
//! assert_eq!(session.take_flash::<String>("notice")?, None);
//! # Ok::<(), session_core::SessionError>(())
//! ```
//!
//! # A typed session
//!
//! Keep what belongs together in one struct under one key: one read, one
//! write, and the compiler checks the fields. A field added later with
//! `#[serde(default)]` reads sessions saved before it existed; a change
//! that old data cannot be read as goes under a new key, and the old one
//! is converted the first time it is seen ([`Session::remove_as`] takes it
//! out only if it reads as the old type, so nothing is lost on a mistake).
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use session_core::{Session, SessionError};
//!
//! /// What version 1 of the app kept under "cart".
//! #[derive(Deserialize)]
//! struct CartV1 {
//!     items: Vec<String>,
//! }
//!
//! /// Today's cart: quantities per item, under "cart.v2".
//! #[derive(Default, Serialize, Deserialize, PartialEq, Debug)]
//! struct Cart {
//!     items: Vec<(String, u32)>,
//!     #[serde(default)] // added later: older carts read as `None`
//!     coupon: Option<String>,
//! }
//!
//! fn cart(session: &Session) -> Result<Cart, SessionError> {
//!     if let Some(old) = session.remove_as::<CartV1>("cart")? {
//!         let cart = Cart { items: old.items.into_iter().map(|i| (i, 1)).collect(), coupon: None };
//!         session.insert("cart.v2", &cart)?;
//!         return Ok(cart);
//!     }
//!     session.get_or_default("cart.v2")
//! }
//!
//! let session = Session::detached();
//! session.insert("cart", serde_json::json!({"items": ["apple"]}))?;
//! assert_eq!(cart(&session)?.items, [("apple".to_owned(), 1)]);
//! assert!(!session.contains_key("cart"), "converted once");
//! assert_eq!(cart(&session)?, cart(&session)?);
//! # Ok::<(), SessionError>(())
//! ```
//!
//! # Where this differs from Django
//!
//! - Keys starting with `_session_` are reserved for the machinery (expiry,
//!   user binding, flash messages) and hidden from [`Session::keys`].
//! - [`Session::flush`] and [`Session::cycle_id`] take effect when the
//!   request ends, together with the save, so a failed request leaves the
//!   store as it was.
//! - Writes are tracked key by key: if another request saved the same
//!   session in the meantime, this request's changes are re-applied on top
//!   of that save instead of overwriting it.
//! - A value nested deeper than [`MAX_VALUE_DEPTH`] is refused by
//!   [`Session::insert`]: the codecs here read JSON at most 128 levels
//!   deep (it bounds the recursion of decoding untrusted bytes), so a
//!   deeper value would be saved and the whole session would then fail to
//!   load. Python's decoder reads deeper: a session a Django app wrote
//!   with such a value reads as no session here (and is logged).

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::codec::Data;
use crate::expiry::EXPIRY_KEY;
use crate::{Expiry, ExpiryRules, SessionError, StoreKey};

mod flash;
mod state;
mod user;

pub(crate) use state::{Origin, State};

/// Keys with this prefix belong to the session machinery.
///
/// ```
/// # use session_core::{RESERVED_PREFIX, Session, SessionError};
/// let session = Session::detached();
/// let key = format!("{RESERVED_PREFIX}user");
/// assert!(matches!(session.insert(&key, 1), Err(SessionError::ReservedKey(_))));
/// ```
pub const RESERVED_PREFIX: &str = "_session_";
/// The longest user ID [`Session::set_user`] accepts, in characters: what
/// every store can index (the SQL stores' `user_key` column is
/// `VARCHAR(255)`).
///
/// ```
/// # use session_core::{MAX_USER_LEN, Session};
/// let session = Session::detached();
/// assert!(session.set_user("é".repeat(MAX_USER_LEN)).is_ok());
/// assert!(session.set_user("é".repeat(MAX_USER_LEN + 1)).is_err());
/// ```
pub const MAX_USER_LEN: usize = 255;

/// How deeply the arrays and objects of one session value may nest.
///
/// With the session's own map around it, that is the deepest JSON the
/// codecs read back (`serde_json` stops at 128 levels, Django's pickle
/// reader here at 127). A deeper value could be saved but not loaded: the
/// whole session would then read as undecodable, and be lost, so
/// [`Session::insert`] refuses it.
///
/// ```
/// # use session_core::{MAX_VALUE_DEPTH, Session};
/// let nested = |depth: usize| -> serde_json::Value {
///     serde_json::from_str(&format!("{}{}", "[".repeat(depth), "]".repeat(depth))).unwrap()
/// };
/// let session = Session::detached();
/// assert!(session.insert("deep", nested(MAX_VALUE_DEPTH)).is_ok());
/// assert!(session.insert("deeper", nested(MAX_VALUE_DEPTH + 1)).is_err());
/// ```
pub const MAX_VALUE_DEPTH: usize = 126;
pub(crate) const USER_KEY: &str = "_session_user";

/// The server-side data of one visitor. See the [module docs](self).
///
/// ```
/// # use session_core::{Session, SessionError};
/// let session = Session::detached();
/// let clone = session.clone(); // shares the same data
/// clone.insert("user_id", 123)?;
/// assert_eq!(session.get::<u64>("user_id")?, Some(123));
/// # Ok::<(), SessionError>(())
/// ```
#[derive(Clone)]
pub struct Session {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Session")
            .field("keys", &state.data.keys().collect::<Vec<_>>())
            .field("modified", &state.modified)
            .field("stored", &state.origin.is_some())
            .finish()
    }
}

impl Session {
    pub(crate) fn from_state(state: State) -> Self {
        Session {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// A new, empty session that belongs to no request or store: for tests
    /// and for code that builds session data before it has a request.
    ///
    /// ```
    /// # use session_core::Session;
    /// let session = Session::detached();
    /// assert!(session.is_empty());
    /// assert_eq!(session.store_key(), None);
    /// ```
    pub fn detached() -> Self {
        Self::from_state(State::new(Data::new(), None, ExpiryRules::default()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another thread while it held the lock leaves the data
        // consistent (every write is a single map operation), so carry on.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value under `key`, deserialized as `T`; `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] if the stored value is not a `T`.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("visits", 3)?;
    /// assert_eq!(session.get::<u32>("visits")?, Some(3));
    /// assert_eq!(session.get::<u32>("missing")?, None);
    /// assert!(session.get::<String>("visits").is_err());
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        match self.get_value(key) {
            None => Ok(None),
            Some(v) => {
                serde_json::from_value(v)
                    .map(Some)
                    .map_err(|source| SessionError::Deserialize {
                        key: key.to_owned(),
                        source,
                    })
            }
        }
    }

    /// The value under `key`, or `T::default()` when absent.
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] if the stored value is not a `T` (a
    /// value of another type is not silently replaced by the default).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// assert_eq!(session.get_or_default::<u32>("visits")?, 0);
    /// session.insert("visits", 3)?;
    /// assert_eq!(session.get_or_default::<u32>("visits")?, 3);
    /// assert!(session.get_or_default::<Vec<String>>("visits").is_err());
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn get_or_default<T: DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<T, SessionError> {
        Ok(self.get(key)?.unwrap_or_default())
    }

    /// The value under `key`, or `default` when absent.
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] if the stored value is not a `T`.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// assert_eq!(session.get_or("theme", "light".to_owned())?, "light");
    /// session.insert("theme", "dark")?;
    /// assert_eq!(session.get_or("theme", "light".to_owned())?, "dark");
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> Result<T, SessionError> {
        Ok(self.get(key)?.unwrap_or(default))
    }

    /// Removes `key` and returns its value as a `T`; `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] if the stored value is not a `T`; the
    /// value is then left in place, so a wrong type never loses data.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("cart", ["apple", "pear"])?;
    /// assert!(session.remove_as::<u32>("cart").is_err());
    /// assert!(session.contains_key("cart"), "kept after the type error");
    /// let cart: Option<Vec<String>> = session.remove_as("cart")?;
    /// assert_eq!(cart, Some(vec!["apple".to_owned(), "pear".to_owned()]));
    /// assert!(!session.contains_key("cart"));
    /// assert_eq!(session.remove_as::<Vec<String>>("cart")?, None);
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn remove_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        if is_reserved(key) {
            return Ok(None);
        }
        let mut state = self.lock();
        let Some(value) = state.data.get(key) else {
            return Ok(None);
        };
        let typed = T::deserialize(value).map_err(|source| SessionError::Deserialize {
            key: key.to_owned(),
            source,
        })?;
        state.remove(key);
        Ok(Some(typed))
    }

    /// The raw JSON value under `key`.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// # use serde_json::json;
    /// let session = Session::detached();
    /// session.insert("cart", ["apple"])?;
    /// assert_eq!(session.get_value("cart"), Some(json!(["apple"])));
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn get_value(&self, key: &str) -> Option<Value> {
        if is_reserved(key) {
            return None;
        }
        self.lock().data.get(key).cloned()
    }

    /// Stores `value` under `key`, marking the session modified.
    ///
    /// # Errors
    ///
    /// [`SessionError::ReservedKey`] for keys starting with `_session_`,
    /// [`SessionError::Serialize`] if `value` cannot be serialized, or
    /// nests deeper than [`MAX_VALUE_DEPTH`],
    /// [`SessionError::Destroyed`] after [`destroy`](Self::destroy).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("theme", "dark")?;
    /// assert!(session.modified());
    /// assert!(session.insert("_session_user", "x").is_err());
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), SessionError> {
        if is_reserved(key) {
            return Err(SessionError::ReservedKey(key.to_owned()));
        }
        let value = session_value(key, value)?;
        self.lock().write(key, Some(value))
    }

    /// Removes `key`, returning its value; marks the session modified if it was there.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// # use serde_json::json;
    /// let session = Session::detached();
    /// session.insert("theme", "dark")?;
    /// assert_eq!(session.remove("theme"), Some(json!("dark")));
    /// assert_eq!(session.remove("theme"), None);
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn remove(&self, key: &str) -> Option<Value> {
        if is_reserved(key) {
            return None;
        }
        self.lock().remove(key)
    }

    /// Whether `key` holds a value.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("theme", "dark")?;
    /// assert!(session.contains_key("theme"));
    /// assert!(!session.contains_key("lang"));
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn contains_key(&self, key: &str) -> bool {
        !is_reserved(key) && self.lock().data.contains_key(key)
    }

    /// The keys set by the application, in insertion order (reserved keys excluded).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("b", 1)?;
    /// session.insert("a", 2)?;
    /// session.set_user("42")?;
    /// assert_eq!(session.keys(), ["b", "a"]);
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn keys(&self) -> Vec<String> {
        self.lock()
            .data
            .keys()
            .filter(|k| !is_reserved(k))
            .cloned()
            .collect()
    }

    /// How many keys the application has set.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("a", 1)?;
    /// session.set_user("42")?;
    /// assert_eq!(session.len(), 1);
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.lock().data.keys().filter(|k| !is_reserved(k)).count()
    }

    /// `true` when the session holds nothing at all: no application keys and
    /// no expiry override, user binding or flash message. An empty session is
    /// never saved.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// assert!(session.is_empty());
    /// session.set_user("42")?;
    /// assert!(!session.is_empty());
    /// assert_eq!(session.len(), 0);
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.lock().data.is_empty()
    }

    /// Removes every key, reserved ones included (the user binding, expiry
    /// override and flash messages go too). The session keeps its ID.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("a", 1)?;
    /// session.set_user("42")?;
    /// session.clear();
    /// assert!(session.is_empty());
    /// assert_eq!(session.user(), None);
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn clear(&self) {
        let mut state = self.lock();
        let keys: Vec<String> = state.data.keys().cloned().collect();
        for key in keys {
            state.remove(&key);
        }
    }

    /// The data as one JSON object (reserved keys excluded), for example to
    /// answer an API call.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// # use serde_json::json;
    /// let session = Session::detached();
    /// session.insert("n", 1)?;
    /// session.set_user("42")?;
    /// assert_eq!(session.to_json(), json!({"n": 1}));
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn to_json(&self) -> Value {
        let state = self.lock();
        Value::Object(
            state
                .data
                .iter()
                .filter(|(k, _)| !is_reserved(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Whether this request changed the session (Django's `modified`).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// assert!(!session.modified());
    /// session.insert("n", 1)?;
    /// assert!(session.modified());
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn modified(&self) -> bool {
        self.lock().modified
    }

    /// Whether this request loaded the session (Django's `accessed`); a
    /// session obtained from a request is always accessed.
    ///
    /// ```
    /// # use session_core::Session;
    /// assert!(!Session::detached().accessed());
    /// ```
    pub fn accessed(&self) -> bool {
        self.lock().accessed
    }

    /// Gives the session a new ID while keeping its data; the old ID stops
    /// working when the request ends. Call it when a user logs in, so an ID
    /// planted before login (session fixation) is worthless afterwards. The
    /// session's [CSRF secret](crate::csrf) is replaced too, as Django does
    /// at login.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("cart", ["apple"])?;
    /// session.cycle_id();
    /// assert_eq!(session.get::<Vec<String>>("cart")?, Some(vec!["apple".into()]));
    /// assert!(session.modified());
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn cycle_id(&self) {
        let mut state = self.lock();
        if let Some(origin) = state.origin.take() {
            state.rotating = Some(origin);
        }
        // A new ID is a login: CSRF tokens handed out before it stop working.
        state.remove(crate::csrf::SECRET_KEY);
        state.modified = true;
    }

    /// Drops all data and the ID: the stored record is deleted when the
    /// request ends, and anything written afterwards starts a new session
    /// with a new ID (Django's `flush`, as on logout).
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("user_id", 7)?;
    /// session.flush();
    /// assert!(session.is_empty());
    /// session.insert("theme", "dark")?; // the start of a new session
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn flush(&self) {
        let mut state = self.lock();
        state.flush();
    }

    /// Ends the session on the server: like [`flush`](Self::flush), but the
    /// session stays empty for the rest of the request (writes fail with
    /// [`SessionError::Destroyed`]) and the browser is told to drop the cookie.
    ///
    /// ```
    /// # use session_core::{Session, SessionError};
    /// let session = Session::detached();
    /// session.insert("user_id", 7)?;
    /// session.destroy();
    /// assert!(session.is_empty());
    /// assert!(matches!(session.insert("theme", "dark"), Err(SessionError::Destroyed)));
    /// # Ok::<(), SessionError>(())
    /// ```
    pub fn destroy(&self) {
        let mut state = self.lock();
        state.flush();
        state.destroyed = true;
    }

    /// Overrides when this session expires (Django's `set_expiry`).
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// # use time::Duration;
    /// let session = Session::detached();
    /// session.set_expiry(Expiry::AfterIdle(Duration::hours(1)));
    /// assert_eq!(session.expiry_age(), Duration::hours(1));
    /// session.set_expiry(Expiry::BrowserClose);
    /// assert!(session.expire_at_browser_close());
    /// ```
    pub fn set_expiry(&self, expiry: Expiry) {
        let mut state = self.lock();
        // Writes fail only after destroy, where there is nothing left to expire.
        let _ = state.write(EXPIRY_KEY, expiry.to_value());
    }

    /// The expiry override in force ([`Expiry::Default`] when there is none).
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// let session = Session::detached();
    /// assert_eq!(session.expiry(), Expiry::Default);
    /// session.set_expiry(Expiry::BrowserClose);
    /// assert_eq!(session.expiry(), Expiry::BrowserClose);
    /// ```
    pub fn expiry(&self) -> Expiry {
        Expiry::from_value(self.lock().data.get(EXPIRY_KEY))
    }

    /// When the session expires if the request ends now (Django's `get_expiry_date`).
    ///
    /// ```
    /// # use session_core::Session;
    /// # use time::Duration;
    /// let session = Session::detached(); // the default rules: 14 days idle
    /// let in_two_weeks = session_core::now() + Duration::days(14);
    /// assert!((session.expiry_date() - in_two_weeks).abs() <= Duration::seconds(1));
    /// ```
    pub fn expiry_date(&self) -> OffsetDateTime {
        let state = self.lock();
        state.next_expiry(crate::now())
    }

    /// How long from now until the session expires (Django's `get_expiry_age`).
    ///
    /// ```
    /// # use session_core::Session;
    /// # use time::Duration;
    /// let age = Session::detached().expiry_age(); // the default rules: 14 days idle
    /// assert!((age - Duration::days(14)).abs() <= Duration::seconds(1));
    /// ```
    pub fn expiry_age(&self) -> Duration {
        let now = crate::now();
        self.lock().next_expiry(now) - now
    }

    /// Whether the cookie lasts only until the browser closes (Django's
    /// `get_expire_at_browser_close`).
    ///
    /// ```
    /// # use session_core::{Expiry, Session};
    /// let session = Session::detached();
    /// assert!(!session.expire_at_browser_close());
    /// session.set_expiry(Expiry::BrowserClose);
    /// assert!(session.expire_at_browser_close());
    /// ```
    pub fn expire_at_browser_close(&self) -> bool {
        let state = self.lock();
        state.rules.browser_close(state.expiry())
    }

    /// The key the session's record is stored under (a digest of the ID, safe
    /// to show), or `None` for a session not yet saved.
    ///
    /// ```
    /// # use session_core::Session;
    /// assert_eq!(Session::detached().store_key(), None);
    /// ```
    pub fn store_key(&self) -> Option<StoreKey> {
        self.lock().origin.as_ref().map(|o| o.key.clone())
    }
}

fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_PREFIX)
}

/// `value` as JSON to keep under `key`, or why it cannot be kept.
pub(crate) fn session_value<T: Serialize>(key: &str, value: T) -> Result<Value, SessionError> {
    let serialize = |source| SessionError::Serialize {
        key: key.to_owned(),
        source,
    };
    let value = serde_json::to_value(value).map_err(serialize)?;
    if nests_deeper(&value, MAX_VALUE_DEPTH) {
        return Err(serialize(serde::ser::Error::custom(format_args!(
            "it nests deeper than {MAX_VALUE_DEPTH} arrays and objects, which could not be loaded again"
        ))));
    }
    Ok(value)
}

/// Whether `value`'s arrays and objects nest more than `levels` deep (the
/// recursion stops there, so it is bounded whatever the value).
fn nests_deeper(value: &Value, levels: usize) -> bool {
    match value {
        Value::Array(items) => levels == 0 || items.iter().any(|v| nests_deeper(v, levels - 1)),
        Value::Object(map) => levels == 0 || map.values().any(|v| nests_deeper(v, levels - 1)),
        _ => false,
    }
}

const _: () = assert!(MAX_USER_LEN == 255, "update check_user's message");

/// Why `user` cannot be a user ID, if it cannot (the refusal message
/// spells the limit out).
pub(crate) fn check_user(user: &str) -> Result<(), &'static str> {
    if user.is_empty() {
        Err("is empty")
    } else if user.chars().nth(MAX_USER_LEN).is_some() {
        Err("is longer than 255 characters")
    } else if user.chars().any(char::is_control) {
        Err("contains a control character")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;
    use serde_json::json;

    #[test]
    fn typed_access_and_flags() {
        let s = Session::detached();
        assert!(s.is_empty() && !s.modified());
        assert_eq!(s.get::<u32>("missing").unwrap(), None);
        s.insert("n", 5).unwrap();
        assert_eq!(s.get::<u32>("n").unwrap(), Some(5));
        assert!(matches!(
            s.get::<String>("n"),
            Err(SessionError::Deserialize { .. })
        ));
        assert!(s.contains_key("n") && s.modified());
        assert_eq!(s.remove("n"), Some(json!(5)));
        assert_eq!(s.remove("n"), None);
        assert!(s.is_empty());
    }

    /// A value whose arrays nest `depth` deep (`[]` is 1).
    fn nested(depth: usize) -> Value {
        (1..depth).fold(json!([]), |inner, _| json!([inner]))
    }

    #[test]
    fn values_nest_only_as_deep_as_every_codec_reads_back() {
        let s = Session::detached();
        s.insert("deepest", nested(MAX_VALUE_DEPTH)).unwrap();
        let objects = (0..MAX_VALUE_DEPTH).fold(json!(1), |inner, _| json!({ "o": inner }));
        s.insert("objects", objects).unwrap();
        for refused in [
            s.insert("deeper", nested(MAX_VALUE_DEPTH + 1)),
            s.insert("much deeper", nested(300)),
            s.flash("deeper", nested(MAX_VALUE_DEPTH + 1)),
        ] {
            let err = refused.expect_err("a value too deep to load again");
            assert!(matches!(err, SessionError::Serialize { .. }), "{err}");
            assert!(err.to_string().contains("deeper than 126"), "{err}");
        }
        assert_eq!(s.keys(), ["deepest", "objects"]);

        // What insert accepts, each codec reads back; one level more, the
        // JSON codec cannot (the limit is the decoder's, not a guess).
        let data = s.lock().data.clone();
        let json = crate::JsonCodec;
        assert_eq!(json.decode(&json.encode(&data).unwrap()).unwrap(), data);
        let mut deeper = data.clone();
        deeper.insert("deeper".into(), nested(MAX_VALUE_DEPTH + 1));
        assert!(json.decode(&json.encode(&deeper).unwrap()).is_err());
        #[cfg(feature = "django")]
        {
            use crate::django::{DjangoCodec, pickle, signing::DjangoSigner};
            let django = DjangoCodec::new(DjangoSigner::new("s", Vec::<&str>::new()).unwrap());
            assert_eq!(django.decode(&django.encode(&data).unwrap()).unwrap(), data);
            assert!(django.decode(&django.encode(&deeper).unwrap()).is_err());
            let map = Value::Object(data);
            assert_eq!(pickle::loads(&pickle::dumps(&map)).unwrap(), map);
            assert!(pickle::loads(&pickle::dumps(&Value::Object(deeper))).is_err());
        }
    }

    #[test]
    fn user_ids_are_held_to_what_every_store_keeps() {
        let s = Session::detached();
        let longest = "😀".repeat(MAX_USER_LEN);
        s.set_user(longest.as_str()).unwrap();
        assert_eq!(s.user(), Some(longest.clone()));
        for bad in [
            String::new(),
            format!("{longest}x"),
            "a\0b".to_owned(),
            "line\nbreak".to_owned(),
        ] {
            assert!(
                matches!(s.set_user(bad.as_str()), Err(SessionError::InvalidUser(_))),
                "{bad:?} was accepted"
            );
            assert_eq!(
                s.user(),
                Some(longest.clone()),
                "a refused ID replaced the binding"
            );
        }
        // A binding no one could set (stored data edited by hand) is none.
        s.lock().data.insert(USER_KEY.into(), json!("a\0b"));
        assert_eq!(s.user(), None);
    }

    #[test]
    fn reserved_keys_are_refused_and_hidden() {
        let s = Session::detached();
        assert!(matches!(
            s.insert("_session_user", 1),
            Err(SessionError::ReservedKey(_))
        ));
        s.set_user("42").unwrap();
        s.set_expiry(Expiry::BrowserClose);
        assert_eq!(s.keys(), Vec::<String>::new());
        assert_eq!(s.len(), 0);
        assert!(!s.is_empty());
        assert_eq!(s.get_value("_session_user"), None);
        assert!(!s.contains_key("_session_expiry"));
        assert_eq!(s.remove("_session_user"), None);
        assert_eq!(s.user().as_deref(), Some("42"));
        assert_eq!(s.to_json(), json!({}));
    }

    #[test]
    fn clones_share_state() {
        let a = Session::detached();
        let b = a.clone();
        a.insert("k", "v").unwrap();
        assert_eq!(b.get::<String>("k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn clear_removes_everything_and_records_each_removal() {
        let s = Session::detached();
        s.insert("a", 1).unwrap();
        s.set_user("u").unwrap();
        s.clear();
        assert!(s.is_empty());
        let state = s.lock();
        assert_eq!(state.changes.get("a"), Some(&None));
        assert_eq!(state.changes.get(USER_KEY), Some(&None));
    }

    #[test]
    fn destroy_refuses_later_writes() {
        let s = Session::detached();
        s.insert("a", 1).unwrap();
        s.destroy();
        assert!(s.is_empty());
        assert!(matches!(s.insert("b", 2), Err(SessionError::Destroyed)));
        assert!(matches!(s.set_user("u"), Err(SessionError::Destroyed)));
    }

    #[test]
    fn flush_allows_a_fresh_start() {
        let s = Session::detached();
        s.insert("a", 1).unwrap();
        s.flush();
        assert!(s.is_empty());
        s.insert("b", 2).unwrap();
        assert_eq!(s.keys(), ["b"]);
    }

    #[test]
    fn expiry_overrides() {
        let s = Session::detached();
        assert_eq!(s.expiry(), Expiry::Default);
        assert_eq!(s.expiry_age(), Duration::days(14));
        assert!(!s.expire_at_browser_close());
        s.set_expiry(Expiry::BrowserClose);
        assert!(s.expire_at_browser_close());
        s.set_expiry(Expiry::AfterIdle(Duration::seconds(90)));
        assert_eq!(s.expiry_age(), Duration::seconds(90));
        let at = crate::now() + Duration::hours(3);
        s.set_expiry(Expiry::At(at));
        assert_eq!(s.expiry_date(), at);
        s.set_expiry(Expiry::Default);
        assert!(s.is_empty(), "the default expiry is not stored");
    }

    #[test]
    fn rebase_applies_own_changes_over_concurrent_data() {
        let s = Session::detached();
        s.insert("mine", 1).unwrap();
        let mut theirs = Data::new();
        theirs.insert("theirs".into(), json!(2));
        theirs.insert("gone".into(), json!(3));
        s.lock().changes.insert("gone".into(), None);
        s.lock().rebase(theirs);
        assert_eq!(s.to_json(), json!({"theirs": 2, "mine": 1}));
    }
}
