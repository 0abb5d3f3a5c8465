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

use serde_json::{Map, Number, Value};

/// Why a pickle was refused.
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

/// The most a frame may hold before Python starts a new one.
const FRAME_TARGET: usize = 64 * 1024;

/// Pickles `value` with protocol 5, as `pickle.dumps(obj, 5)` does for
/// plain data (floats that are integral are written as floats, integers
/// beyond 64 bits cannot occur in JSON).
pub fn dumps(value: &Value) -> Vec<u8> {
    let mut body = Vec::new();
    write(&mut body, value);
    body.push(STOP);
    let mut out = vec![PROTO, 5];
    // Python frames the whole small pickle in one frame (4 bytes or more);
    // large ones are split by the pickler at 64 KiB, which readers accept
    // either way.
    for chunk in body.chunks(FRAME_TARGET) {
        if chunk.len() >= 4 {
            out.push(FRAME);
            out.extend_from_slice(&(chunk.len() as u64).to_le_bytes());
        }
        out.extend_from_slice(chunk);
    }
    out
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(NONE),
        Value::Bool(true) => out.push(NEWTRUE),
        Value::Bool(false) => out.push(NEWFALSE),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => {
            let bytes = s.as_bytes();
            if bytes.len() < 256 {
                out.push(SHORT_BINUNICODE);
                out.push(bytes.len() as u8);
            } else if let Ok(len) = u32::try_from(bytes.len()) {
                out.push(BINUNICODE);
                out.extend_from_slice(&len.to_le_bytes());
            } else {
                out.push(BINUNICODE8);
                out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            }
            out.extend_from_slice(bytes);
            out.push(MEMOIZE);
        }
        Value::Array(items) => {
            out.push(EMPTY_LIST);
            out.push(MEMOIZE);
            batch(out, items.iter(), APPEND, APPENDS, |out, item| {
                write(out, item)
            });
        }
        Value::Object(map) => {
            out.push(EMPTY_DICT);
            out.push(MEMOIZE);
            batch(out, map.iter(), SETITEM, SETITEMS, |out, (k, v)| {
                write(out, &Value::String(k.clone()));
                write(out, v);
            });
        }
    }
}

/// Python's `_batch_appends`/`_batch_setitems`: one item alone, else
/// `MARK … APPENDS` in batches of 1000.
fn batch<T>(
    out: &mut Vec<u8>,
    items: impl ExactSizeIterator<Item = T>,
    one: u8,
    many: u8,
    mut put: impl FnMut(&mut Vec<u8>, T),
) {
    let items: Vec<T> = items.collect();
    let mut rest = items.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<T> = rest.by_ref().take(1000).collect();
        if chunk.len() == 1 {
            for item in chunk {
                put(out, item);
            }
            out.push(one);
        } else {
            out.push(MARK);
            for item in chunk {
                put(out, item);
            }
            out.push(many);
        }
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        if (0..256).contains(&i) {
            out.extend_from_slice(&[BININT1, i as u8]);
        } else if (0..65536).contains(&i) {
            out.push(BININT2);
            out.extend_from_slice(&(i as u16).to_le_bytes());
        } else if let Ok(i) = i32::try_from(i) {
            out.push(BININT);
            out.extend_from_slice(&i.to_le_bytes());
        } else {
            long1(out, i128::from(i));
        }
    } else if let Some(u) = n.as_u64() {
        long1(out, i128::from(u));
    } else {
        out.push(BINFLOAT);
        out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
    }
}

/// `LONG1`: little-endian two's complement, as few bytes as Python uses.
fn long1(out: &mut Vec<u8>, i: i128) {
    let bytes = i.to_le_bytes();
    let mut len = 16;
    while len > 1 {
        let last = bytes[len - 1];
        let prev_sign = bytes[len - 2] & 0x80;
        if (last == 0 && prev_sign == 0) || (last == 0xff && prev_sign != 0) {
            len -= 1;
        } else {
            break;
        }
    }
    out.push(LONG1);
    out.push(len as u8);
    out.extend_from_slice(&bytes[..len]);
}

/// Unpickles plain data; refuses anything else (see the [module docs](self)).
///
/// # Errors
///
/// A [`PickleError`] for a truncated pickle, an opcode that would import
/// or call code, or a type with no JSON equivalent.
pub fn loads(bytes: &[u8]) -> Result<Value, PickleError> {
    Reader {
        bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Vec::new(),
    }
    .run()
}

enum Item {
    Value(Value),
    Mark,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Item>,
    marks: Vec<usize>,
    memo: Vec<Value>,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(PickleError("truncated"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn len(&mut self, width: usize) -> Result<usize, PickleError> {
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(self.take(width)?);
        usize::try_from(u64::from_le_bytes(buf)).map_err(|_| PickleError("length too large"))
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Item::Value(v));
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(Item::Value(v)) => Ok(v),
            _ => Err(PickleError("stack underflow")),
        }
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        match self.stack.last_mut() {
            Some(Item::Value(v)) => Ok(v),
            _ => Err(PickleError("stack underflow")),
        }
    }

    /// The values pushed since the last MARK (which is removed).
    fn since_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self.marks.pop().ok_or(PickleError("no mark"))?;
        if mark > self.stack.len() {
            return Err(PickleError("bad mark"));
        }
        let items = self.stack.split_off(mark);
        let mut values = Vec::with_capacity(items.len());
        for item in items.into_iter().skip(1) {
            match item {
                Item::Value(v) => values.push(v),
                Item::Mark => return Err(PickleError("nested mark")),
            }
        }
        Ok(values)
    }

    fn string(&mut self, n: usize) -> Result<(), PickleError> {
        let s = std::str::from_utf8(self.take(n)?)
            .map_err(|_| PickleError("string is not UTF-8"))?
            .to_owned();
        self.push(Value::String(s));
        Ok(())
    }

    fn set_items(&mut self, pairs: Vec<Value>) -> Result<(), PickleError> {
        if !pairs.len().is_multiple_of(2) {
            return Err(PickleError("odd number of dict items"));
        }
        let Value::Object(map) = self.top()? else {
            return Err(PickleError("SETITEMS on a non-dict"));
        };
        let mut it = pairs.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            let Value::String(k) = k else {
                return Err(PickleError("dict key is not a string"));
            };
            map.insert(k, v);
        }
        Ok(())
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            match self.byte()? {
                PROTO => {
                    if self.byte()? < 2 {
                        return Err(PickleError("protocol before 2"));
                    }
                }
                FRAME => {
                    self.len(8)?;
                }
                STOP => return self.pop(),
                MARK => {
                    self.marks.push(self.stack.len());
                    self.stack.push(Item::Mark);
                }
                EMPTY_DICT => self.push(Value::Object(Map::new())),
                EMPTY_LIST => self.push(Value::Array(Vec::new())),
                EMPTY_TUPLE => self.push(Value::Array(Vec::new())),
                b'\x85' | b'\x86' | b'\x87' => {
                    let n = usize::from(self.bytes[self.pos - 1] - 0x84);
                    let at = self
                        .stack
                        .len()
                        .checked_sub(n)
                        .ok_or(PickleError("stack underflow"))?;
                    let items = self.stack.split_off(at);
                    let values = items
                        .into_iter()
                        .map(|i| match i {
                            Item::Value(v) => Ok(v),
                            Item::Mark => Err(PickleError("mark in tuple")),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    self.push(Value::Array(values));
                }
                b't' => {
                    let values = self.since_mark()?;
                    self.push(Value::Array(values));
                }
                b'l' => {
                    let values = self.since_mark()?;
                    self.push(Value::Array(values));
                }
                b'd' => {
                    let pairs = self.since_mark()?;
                    self.push(Value::Object(Map::new()));
                    self.set_items(pairs)?;
                }
                SETITEM => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                SETITEMS => {
                    let pairs = self.since_mark()?;
                    self.set_items(pairs)?;
                }
                APPEND => {
                    let v = self.pop()?;
                    let Value::Array(list) = self.top()? else {
                        return Err(PickleError("APPEND on a non-list"));
                    };
                    list.push(v);
                }
                APPENDS => {
                    let values = self.since_mark()?;
                    let Value::Array(list) = self.top()? else {
                        return Err(PickleError("APPENDS on a non-list"));
                    };
                    list.extend(values);
                }
                MEMOIZE => {
                    let v = self.top()?.clone();
                    self.memo.push(v);
                }
                b'q' => {
                    let at = usize::from(self.byte()?);
                    self.put(at)?;
                }
                b'r' => {
                    let at = self.len(4)?;
                    self.put(at)?;
                }
                b'h' => {
                    let at = usize::from(self.byte()?);
                    self.get(at)?;
                }
                b'j' => {
                    let at = self.len(4)?;
                    self.get(at)?;
                }
                BININT => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                    self.push(Value::from(v));
                }
                BININT1 => {
                    let v = self.byte()?;
                    self.push(Value::from(v));
                }
                BININT2 => {
                    let v = u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes"));
                    self.push(Value::from(v));
                }
                LONG1 => {
                    let n = usize::from(self.byte()?);
                    if n > 16 {
                        return Err(PickleError("integer too large"));
                    }
                    let bytes = self.take(n)?;
                    let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                        [0xff; 16]
                    } else {
                        [0; 16]
                    };
                    buf[..n].copy_from_slice(bytes);
                    let v = i128::from_le_bytes(buf);
                    let v = i64::try_from(v)
                        .map(Value::from)
                        .or_else(|_| u64::try_from(v).map(Value::from))
                        .map_err(|_| PickleError("integer too large"))?;
                    self.push(v);
                }
                BINFLOAT => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    let n = Number::from_f64(v).ok_or(PickleError("float is not finite"))?;
                    self.push(Value::Number(n));
                }
                SHORT_BINUNICODE => {
                    let n = usize::from(self.byte()?);
                    self.string(n)?;
                }
                BINUNICODE => {
                    let n = self.len(4)?;
                    self.string(n)?;
                }
                BINUNICODE8 => {
                    let n = self.len(8)?;
                    self.string(n)?;
                }
                NONE => self.push(Value::Null),
                NEWTRUE => self.push(Value::Bool(true)),
                NEWFALSE => self.push(Value::Bool(false)),
                _ => {
                    return Err(PickleError(
                        "an opcode outside plain data (imports and calls are refused)",
                    ));
                }
            }
        }
    }

    fn put(&mut self, at: usize) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        if at >= self.memo.len() {
            self.memo.resize(at + 1, Value::Null);
        }
        self.memo[at] = v;
        Ok(())
    }

    fn get(&mut self, at: usize) -> Result<(), PickleError> {
        let v = self
            .memo
            .get(at)
            .cloned()
            .ok_or(PickleError("unknown memo entry"))?;
        self.push(v);
        Ok(())
    }
}

/// Session data as Django's `cache` backend stores it: an unsigned pickle
/// of the session dict (protocol 5). Pair it with the Django mode of the
/// manager and a store on Django's cache keys.
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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shared_vector_pickles_byte_for_byte() {
        let expected = "80059527000000000000007d94288c07757365725f6964944b7b8c08757365726e616d65948c086a6f686e5f646f6594752e";
        let bytes = dumps(&json!({"user_id": 123, "username": "john_doe"}));
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn plain_data_round_trips() {
        let data = json!({
            "s": "Zoë 😀", "long": "x".repeat(300), "ints": [0, 255, 256, 65535, 65536, -1, -129, 2147483647, -2147483648, 9007199254740993_i64, u64::MAX, i64::MIN],
            "f": [1.5, -0.0, 1e300], "b": [true, false, null], "one": [1], "nested": {"k": {"j": []}},
        });
        assert_eq!(loads(&dumps(&data)).unwrap(), data);
    }

    #[test]
    fn code_and_garbage_are_refused() {
        for bad in [
            &b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."[..],
            b"cposix\nsystem\n(S'id'\ntR.",
            b"",
            b"\x80\x05",
            b"\x80\x05}\x94(\x8c\x01a\x94u.",
            b"\x80\x05K",
            b"\x80\x05\x8a\x20",
        ] {
            assert!(loads(bad).is_err(), "{bad:?}");
        }
    }
}
