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

use std::sync::Arc;

use serde_json::Value;

use super::Inner;
use crate::codec::{CodecError, Data};
use crate::record::Record;
use crate::session::USER_KEY;

impl Inner {
    /// The record data of a session's `data`, bound to `user` (what
    /// [`Record::user`] will say).
    ///
    /// When the binding is left out of the bytes, it moves to the end of
    /// the map, where loading the record puts it back: the data saved is
    /// then exactly what loading the record gives, which lets the manager
    /// keep it as the record's decoded form. (The binding is a reserved
    /// key; the application's keys keep their order.)
    pub(crate) fn encode_data(
        &self,
        data: &mut Arc<Data>,
        user: Option<&str>,
    ) -> Result<Vec<u8>, CodecError> {
        // A binding (`user`) is one the data holds under `USER_KEY`
        // (`State::user`), so only a map that holds it is copied here.
        if !self.user_in_record || user.is_none() {
            return self.codec.encode(data);
        }
        let data = Arc::make_mut(data);
        let Some((key, value)) = data.shift_remove_entry(USER_KEY) else {
            return self.codec.encode(data);
        };
        let encoded = self.codec.encode(data);
        data.insert(key, value);
        encoded
    }

    /// The session data `record` holds, with its user binding; taken from
    /// the decoded cache when it holds `record`'s very bytes and binding.
    pub(crate) fn load_data(&self, record: &Record) -> Result<Arc<Data>, CodecError> {
        if let Some(data) = self.decoded.get(record) {
            return Ok(data);
        }
        let data = Arc::new(self.decode_data(record)?);
        self.decoded.put(record, &data);
        Ok(data)
    }

    /// `record` was just written from `data` (after
    /// [`encode_data`](Self::encode_data)): when the codec gives back
    /// exactly what it encoded, `data` is what loading `record` would
    /// give, and is kept as such.
    pub(crate) fn saved_data(&self, record: &Record, data: &Arc<Data>) {
        if self.codec.round_trips() {
            self.decoded.put(record, data);
        }
    }

    /// The session data `record` holds, with its user binding, decoded.
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
