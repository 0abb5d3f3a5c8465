//! How session data is turned into bytes for a store, and back.
//!
//! The manager's codec encodes the whole data map (user keys and the
//! reserved `_session_*` keys alike). The default [`JsonCodec`] writes compact
//! JSON that keeps insertion order. A Django-compatible codec plugs in the
//! same way.
//!
//! ```
//! use session_core::{Codec, JsonCodec};
//! use serde_json::{json, Map, Value};
//!
//! let mut data = Map::new();
//! data.insert("user_id".into(), json!(123));
//! let bytes = JsonCodec.encode(&data)?;
//! assert_eq!(bytes, br#"{"user_id":123}"#);
//! assert_eq!(JsonCodec.decode(&bytes)?, data);
//! assert!(JsonCodec.decode(b"[1,2]").is_err());
//! # Ok::<(), session_core::CodecError>(())
//! ```

use serde_json::{Map, Value};

/// Session data as a codec sees it: a JSON object in insertion order.
///
/// ```
/// # use session_core::{Codec, Data, JsonCodec};
/// let mut data = Data::new();
/// data.insert("user_id".into(), 123.into());
/// assert_eq!(JsonCodec.encode(&data)?, br#"{"user_id":123}"#);
/// # Ok::<(), session_core::CodecError>(())
/// ```
pub type Data = Map<String, Value>;

/// A codec failed to encode or decode session data.
///
/// ```
/// # use session_core::{Codec, JsonCodec};
/// let err = JsonCodec.decode(b"not json").unwrap_err();
/// assert!(err.to_string().starts_with("session data could not be decoded"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("session data could not be {action}: {reason}")]
pub struct CodecError {
    action: &'static str,
    reason: String,
}

impl CodecError {
    /// A failure to decode stored bytes.
    ///
    /// ```
    /// let err = session_core::CodecError::decode("bad signature");
    /// assert_eq!(err.to_string(), "session data could not be decoded: bad signature");
    /// ```
    pub fn decode(reason: impl ToString) -> Self {
        CodecError {
            action: "decoded",
            reason: reason.to_string(),
        }
    }

    /// A failure to encode session data.
    ///
    /// ```
    /// let err = session_core::CodecError::encode("too large");
    /// assert!(err.to_string().contains("encoded"));
    /// ```
    pub fn encode(reason: impl ToString) -> Self {
        CodecError {
            action: "encoded",
            reason: reason.to_string(),
        }
    }
}

/// Turns session data into the bytes a store keeps, and back.
///
/// ```
/// use session_core::{Codec, CodecError, Data};
///
/// /// JSON with a version byte in front, say for a migration.
/// struct Versioned;
///
/// impl Codec for Versioned {
///     fn encode(&self, data: &Data) -> Result<Vec<u8>, CodecError> {
///         let mut out = vec![1u8];
///         serde_json::to_writer(&mut out, data).map_err(CodecError::encode)?;
///         Ok(out)
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<Data, CodecError> {
///         match bytes.split_first() {
///             Some((1, json)) => serde_json::from_slice(json).map_err(CodecError::decode),
///             _ => Err(CodecError::decode("unknown version")),
///         }
///     }
/// }
///
/// let data = Data::from_iter([("n".to_owned(), 1.into())]);
/// assert_eq!(Versioned.decode(&Versioned.encode(&data)?)?, data);
/// assert!(Versioned.decode(b"{}").is_err());
/// # Ok::<(), CodecError>(())
/// ```
pub trait Codec: Send + Sync + 'static {
    /// Encodes the data map.
    ///
    /// ```
    /// # use session_core::{Codec, Data, JsonCodec};
    /// let data = Data::from_iter([("user_id".to_owned(), 123.into())]);
    /// assert_eq!(JsonCodec.encode(&data)?, br#"{"user_id":123}"#);
    /// # Ok::<(), session_core::CodecError>(())
    /// ```
    fn encode(&self, data: &Data) -> Result<Vec<u8>, CodecError>;

    /// Decodes stored bytes; bytes this codec did not write are an error.
    ///
    /// ```
    /// # use session_core::{Codec, JsonCodec};
    /// let data = JsonCodec.decode(br#"{"user_id":123}"#)?;
    /// assert_eq!(data["user_id"], 123);
    /// assert!(JsonCodec.decode(b"\x80\x04 a pickle").is_err());
    /// assert!(JsonCodec.decode(b"[1, 2]").is_err()); // a session is a map
    /// # Ok::<(), session_core::CodecError>(())
    /// ```
    fn decode(&self, bytes: &[u8]) -> Result<Data, CodecError>;

    /// Whether decoding what this codec encoded gives back exactly the data
    /// encoded: the same keys in the same order, with equal values.
    ///
    /// When it does, the manager keeps the data it has just saved as the
    /// decoded form of the bytes it wrote, and the next load that finds
    /// those bytes takes that data instead of decoding them (see
    /// [`SessionManagerBuilder::decoded_cache`](crate::SessionManagerBuilder::decoded_cache)).
    /// The default, `false`, is always safe: the manager then keeps only
    /// what it decoded itself.
    ///
    /// ```
    /// # use session_core::{Codec, Data, JsonCodec};
    /// assert!(JsonCodec.round_trips());
    /// let data = Data::from_iter([("b".to_owned(), 1.5.into()), ("a".to_owned(), "x".into())]);
    /// let back = JsonCodec.decode(&JsonCodec.encode(&data)?)?;
    /// assert!(back.iter().eq(data.iter()));
    /// # Ok::<(), session_core::CodecError>(())
    /// ```
    fn round_trips(&self) -> bool {
        false
    }
}

/// Compact JSON, the native format.
///
/// ```
/// # use session_core::{Codec, JsonCodec};
/// let data = JsonCodec.decode(br#"{"b":1,"a":2}"#)?;
/// assert_eq!(data.keys().collect::<Vec<_>>(), ["b", "a"]); // insertion order kept
/// # Ok::<(), session_core::CodecError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn encode(&self, data: &Data) -> Result<Vec<u8>, CodecError> {
        // Sized for a typical session, so small ones encode without regrowing.
        let mut out = Vec::with_capacity(256);
        serde_json::to_writer(&mut out, data).map_err(CodecError::encode)?;
        Ok(out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Data, CodecError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let data = serde::Deserializer::deserialize_map(&mut de, DataVisitor { len: bytes.len() })
            .map_err(CodecError::decode)?;
        de.end().map_err(CodecError::decode)?;
        Ok(data)
    }

    /// JSON keeps the keys' order (`serde_json`'s `preserve_order`), and
    /// numbers their value (integers as integers; floats with
    /// `float_roundtrip`, the shortest form that reads back the same).
    fn round_trips(&self) -> bool {
        true
    }
}

/// Reads a JSON object into a map sized for it from the start: JSON gives
/// no count, and a map grown entry by entry reallocates its entries and
/// rehashes its table on the way (fewer allocations; on a request that
/// reads, a gain within the benchmarks' noise).
struct DataVisitor {
    /// The encoded length, from which the entries are guessed: each takes
    /// at least six bytes (`"k":1,`), a typical one about sixteen.
    len: usize,
}

impl<'de> serde::de::Visitor<'de> for DataVisitor {
    type Value = Data;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
        let mut data = Data::with_capacity((self.len / 16).clamp(1, 32));
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            data.insert(key, value);
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_decode_as_serde_json_reads_them() {
        for text in [
            "{}",
            r#" {"a":1,"b":[1,2,{"c":null}],"a":"again"} "#,
            &format!(
                "{{{}}}",
                (0..100)
                    .map(|i| format!(r#""k{i}":{i}"#))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ] {
            let expected: Data = serde_json::from_str(text).unwrap();
            assert_eq!(JsonCodec.decode(text.as_bytes()).unwrap(), expected);
        }
        for not_a_map in ["[]", "1", "\"s\"", "null", "{} {}", "{", ""] {
            assert!(
                JsonCodec.decode(not_a_map.as_bytes()).is_err(),
                "{not_a_map}"
            );
        }
    }

    #[test]
    fn numbers_keep_their_value_across_saves() {
        // Found by the json_codec fuzz target: without a correctly rounded
        // parser a long literal read as one float and wrote back as
        // another, so each save moved the value.
        let stored = format!(r#"{{"n":{}}}"#, "6".repeat(85));
        let loaded = JsonCodec.decode(stored.as_bytes()).unwrap();
        let again = JsonCodec
            .decode(&JsonCodec.encode(&loaded).unwrap())
            .unwrap();
        assert_eq!(again, loaded);
    }
}
