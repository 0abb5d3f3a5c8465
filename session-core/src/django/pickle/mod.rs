//! Python's pickle, for the plain data a session holds, as Django's cache
//! backends store sessions (an unsigned pickle of the session dict).
//!
//! [`dumps`] writes protocol 5 the way Python's pickler does for these
//! types (dicts, lists, strings, integers, floats, booleans, `None`).
//! [`loads`] reads any protocol from 2 up, but only those types (tuples
//! become lists): it refuses every opcode that would import or call
//! something, so a forged cache entry can never run code.
//!
//! ```
//! use serde_json::json;
//! use session_core::django::pickle;
//!
//! let data = json!({"user_id": 123, "username": "john_doe"});
//! let bytes = pickle::dumps(&data);
//! assert_eq!(pickle::loads(&bytes)?, data);
//! assert!(pickle::loads(b"cos\nsystem\n(S'echo hi'\ntR.").is_err());
//! # Ok::<(), pickle::PickleError>(())
//! ```

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

mod dumps;
mod loads;

pub use dumps::dumps;
pub use loads::loads;

/// Why a pickle was refused.
///
/// ```
/// use session_core::django::pickle::loads;
/// // A pickle that would import and call code (os.system) is refused.
/// let evil = b"\x80\x04cos\nsystem\n\x94.";
/// assert!(loads(evil).unwrap_err().to_string().starts_with("unsupported or malformed pickle"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported or malformed pickle: {0}")]
pub struct PickleError(&'static str);

const PROTO: u8 = 0x80;

const FRAME: u8 = 0x95;

const STOP: u8 = b'.';

const MARK: u8 = b'(';

const EMPTY_DICT: u8 = b'}';

const EMPTY_LIST: u8 = b']';

const EMPTY_TUPLE: u8 = b')';

const SETITEM: u8 = b's';

const SETITEMS: u8 = b'u';

const APPEND: u8 = b'a';

const APPENDS: u8 = b'e';

const MEMOIZE: u8 = 0x94;

const BININT: u8 = b'J';

const BININT1: u8 = b'K';

const BININT2: u8 = b'M';

const LONG1: u8 = 0x8a;

const BINFLOAT: u8 = b'G';

const SHORT_BINUNICODE: u8 = 0x8c;

const BINUNICODE: u8 = b'X';

const BINUNICODE8: u8 = 0x8d;

const NONE: u8 = b'N';

const NEWTRUE: u8 = 0x88;

const NEWFALSE: u8 = 0x89;

/// Session data as Django's `cache` backend stores it: an unsigned pickle
/// of the session dict (protocol 5). Pair it with the Django mode of the
/// manager and a store on Django's cache keys.
///
/// ```
/// use session_core::{Codec, Data};
/// use session_core::django::pickle::PickleCodec;
/// let mut data = Data::new();
/// data.insert("user_id".into(), 7.into());
/// assert_eq!(PickleCodec.decode(&PickleCodec.encode(&data)?)?, data);
/// # Ok::<(), session_core::CodecError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PickleCodec;

impl crate::Codec for PickleCodec {
    fn encode(&self, data: &crate::Data) -> Result<Vec<u8>, crate::CodecError> {
        Ok(dumps(&Value::Object(data.clone())))
    }

    fn decode(&self, bytes: &[u8]) -> Result<crate::Data, crate::CodecError> {
        match loads(bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(crate::CodecError::decode(
                "the pickled session is not a dict",
            )),
            Err(e) => Err(crate::CodecError::decode(e)),
        }
    }
}

#[cfg(test)]
mod tests;
