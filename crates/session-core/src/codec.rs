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
pub type Data = Map<String, Value>;

/// A codec failed to encode or decode session data.
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
pub trait Codec: Send + Sync + 'static {
    /// Encodes the data map.
    fn encode(&self, data: &Data) -> Result<Vec<u8>, CodecError>;
    /// Decodes stored bytes; bytes this codec did not write are an error.
    fn decode(&self, bytes: &[u8]) -> Result<Data, CodecError>;
}

/// Compact JSON, the native format.
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
        serde_json::from_slice(bytes).map_err(CodecError::decode)
    }
}
