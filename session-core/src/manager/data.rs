//! How a session's data goes into a record and comes back: encoded by the
//! manager's codec, with the user binding kept once.
//!
//! A store with a user index keeps the binding in [`Record::user`] (it
//! must, to index it; the conformance kit checks that it comes back), so
//! for such a store the encoded data leaves the binding out and loading
//! puts it back from `Record::user`: a bound session does not carry its
//! user twice (with JSON, 19 bytes and the user ID less per record).
//! Records that carry the binding in their
//! data too (written before this, or by a store without an index) load as
//! they are.

use serde_json::Value;

use super::Inner;
use crate::codec::{CodecError, Data};
use crate::record::Record;
use crate::session::USER_KEY;

impl Inner {
    /// The record data of a session's `data`, bound to `user` (what
    /// [`Record::user`] will say).
    pub(crate) fn encode_data(
        &self,
        data: &mut Data,
        user: Option<&str>,
    ) -> Result<Vec<u8>, CodecError> {
        if !self.user_in_record || user.is_none() {
            return self.codec.encode(data);
        }
        let Some(at) = data.keys().position(|k| k == USER_KEY) else {
            return self.codec.encode(data);
        };
        let Some((key, value)) = data.shift_remove_entry(USER_KEY) else {
            return self.codec.encode(data);
        };
        let encoded = self.codec.encode(data);
        data.shift_insert(at, key, value);
        encoded
    }

    /// The session data `record` holds, with its user binding.
    pub(crate) fn decode_data(&self, record: &Record) -> Result<Data, CodecError> {
        let mut data = self.codec.decode(&record.data)?;
        if self.user_in_record
            && let Some(user) = &record.user
            && !data.contains_key(USER_KEY)
        {
            data.insert(USER_KEY.to_owned(), Value::String(user.clone()));
        }
        Ok(data)
    }
}
