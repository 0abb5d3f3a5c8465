//! Writing a pickle, as Python's pickler does for these types.

use super::*;

/// Pickles `value` with protocol 5, as `pickle.dumps(obj, 5)` does for
/// plain data (floats that are integral are written as floats, integers
/// beyond 64 bits cannot occur in JSON).
///
/// ```
/// use serde_json::json;
/// use session_core::django::pickle::{dumps, loads};
/// let value = json!({"cart": [1, 2.5, null, true], "name": "Zoë"});
/// let bytes = dumps(&value);
/// assert_eq!(&bytes[..2], b"\x80\x05"); // protocol 5
/// assert_eq!(loads(&bytes)?, value);
/// # Ok::<(), session_core::django::pickle::PickleError>(())
/// ```
pub fn dumps(value: &Value) -> Vec<u8> {
    let mut body = Vec::new();
    write(&mut body, value);
    body.push(STOP);
    let mut out = Vec::with_capacity(body.len() + 11);
    out.extend_from_slice(&[PROTO, 5]);
    // One frame for the whole pickle (4 bytes or more), as Python frames a
    // small one. Python's pickler splits large ones at about 64 KiB, but
    // only between opcodes: a frame may not end inside an opcode (its
    // reader refuses that), and one frame of any size reads the same.
    if body.len() >= 4 {
        out.push(FRAME);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    }
    out.extend_from_slice(&body);
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
