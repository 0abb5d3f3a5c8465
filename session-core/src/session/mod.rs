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

use crate::{ExpiryRules, SessionError};

mod expiry;
mod flash;
mod lifecycle;
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
        Self::from_state(State::new(Default::default(), None, ExpiryRules::default()))
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
    /// [`SessionError::Ended`] after [`end`](Self::end).
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
mod tests;
