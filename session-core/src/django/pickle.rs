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

/// How many containers may nest, the limit `serde_json` applies when it
/// reads JSON: deeper data could not be read back as JSON, and building
/// and dropping it recurses once per level.
const MAX_DEPTH: usize = 127;

/// How far shared references may expand the data, in values plus string
/// bytes: this much beyond eight times the pickle's own length. Python
/// shares one object between all its references; the JSON model copies
/// it, so a small pickle that refers to the same list again and again
/// would otherwise grow exponentially.
const EXPANSION_ALLOWANCE: usize = 1 << 20;

/// Unpickles plain data; refuses anything else (see the [module docs](self)).
///
/// References to an earlier object (Python's memo) read as a copy of that
/// object as it is at the end of the pickle, as Python would see it.
/// More than 127 nested containers, a container that contains itself,
/// and references that would copy more than eight times the pickle's size
/// (plus 1 MiB) are refused.
///
/// # Errors
///
/// A [`PickleError`] for a truncated pickle, an opcode that would import
/// or call code, a type with no JSON equivalent, or data past the limits
/// above.
///
/// ```
/// use serde_json::json;
/// use session_core::django::pickle::loads;
/// // pickle.dumps({"n": 1}, 4) in Python:
/// let bytes = b"\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01n\x94K\x01s.";
/// assert_eq!(loads(bytes)?, json!({"n": 1}));
/// assert!(loads(&bytes[..10]).is_err(), "truncated");
/// # Ok::<(), session_core::django::pickle::PickleError>(())
/// ```
pub fn loads(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = reader.run()?;
    let mut budget = bytes
        .len()
        .saturating_mul(8)
        .saturating_add(EXPANSION_ALLOWANCE);
    reader.build(root, 0, &mut budget)
}

/// An object under construction. Containers hold the indices of their
/// items in [`Reader::nodes`], so that every reference to a container sees
/// what is added to it later, as in Python.
enum Node {
    Leaf(Value),
    List(Vec<usize>),
    Dict(Vec<(String, usize)>),
}

enum Item {
    Node(usize),
    Mark,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Item>,
    marks: Vec<usize>,
    memo: HashMap<usize, usize>,
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

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut buf = [0u8; N];
        buf.copy_from_slice(self.take(N)?);
        Ok(buf)
    }

    fn len(&mut self, width: usize) -> Result<usize, PickleError> {
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(self.take(width)?);
        usize::try_from(u64::from_le_bytes(buf)).map_err(|_| PickleError("length too large"))
    }

    fn push(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(Item::Node(self.nodes.len() - 1));
    }

    fn pop(&mut self) -> Result<usize, PickleError> {
        match self.stack.pop() {
            Some(Item::Node(at)) => Ok(at),
            _ => Err(PickleError("stack underflow")),
        }
    }

    fn top(&self) -> Result<usize, PickleError> {
        match self.stack.last() {
            Some(Item::Node(at)) => Ok(*at),
            _ => Err(PickleError("stack underflow")),
        }
    }

    /// The objects pushed since the last MARK (which is removed).
    fn since_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let mark = self.marks.pop().ok_or(PickleError("no mark"))?;
        if mark > self.stack.len() {
            return Err(PickleError("bad mark"));
        }
        let items = self.stack.split_off(mark);
        items.into_iter().skip(1).map(Self::node).collect()
    }

    /// The last `n` objects on the stack, removed.
    fn last(&mut self, n: usize) -> Result<Vec<usize>, PickleError> {
        let at = self
            .stack
            .len()
            .checked_sub(n)
            .ok_or(PickleError("stack underflow"))?;
        let items = self.stack.split_off(at);
        items.into_iter().map(Self::node).collect()
    }

    fn node(item: Item) -> Result<usize, PickleError> {
        match item {
            Item::Node(at) => Ok(at),
            Item::Mark => Err(PickleError("mark among items")),
        }
    }

    fn string(&mut self, n: usize) -> Result<(), PickleError> {
        let s = std::str::from_utf8(self.take(n)?)
            .map_err(|_| PickleError("string is not UTF-8"))?
            .to_owned();
        self.push(Node::Leaf(Value::String(s)));
        Ok(())
    }

    fn set_items(&mut self, pairs: Vec<usize>) -> Result<(), PickleError> {
        if !pairs.len().is_multiple_of(2) {
            return Err(PickleError("odd number of dict items"));
        }
        let mut entries = Vec::with_capacity(pairs.len() / 2);
        for pair in pairs.chunks_exact(2) {
            let Node::Leaf(Value::String(key)) = &self.nodes[pair[0]] else {
                return Err(PickleError("dict key is not a string"));
            };
            entries.push((key.clone(), pair[1]));
        }
        let dict = self.top()?;
        let Node::Dict(items) = &mut self.nodes[dict] else {
            return Err(PickleError("SETITEMS on a non-dict"));
        };
        items.extend(entries);
        Ok(())
    }

    fn append(&mut self, values: Vec<usize>) -> Result<(), PickleError> {
        let list = self.top()?;
        let Node::List(items) = &mut self.nodes[list] else {
            return Err(PickleError("APPEND on a non-list"));
        };
        items.extend(values);
        Ok(())
    }

    /// Reads opcodes up to STOP; returns the node of the pickled object.
    fn run(&mut self) -> Result<usize, PickleError> {
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
                EMPTY_DICT => self.push(Node::Dict(Vec::new())),
                EMPTY_LIST | EMPTY_TUPLE => self.push(Node::List(Vec::new())),
                op @ (b'\x85' | b'\x86' | b'\x87') => {
                    let items = self.last(usize::from(op - 0x84))?;
                    self.push(Node::List(items));
                }
                b't' | b'l' => {
                    let items = self.since_mark()?;
                    self.push(Node::List(items));
                }
                b'd' => {
                    let pairs = self.since_mark()?;
                    self.push(Node::Dict(Vec::new()));
                    self.set_items(pairs)?;
                }
                SETITEM => {
                    let pair = self.last(2)?;
                    self.set_items(pair)?;
                }
                SETITEMS => {
                    let pairs = self.since_mark()?;
                    self.set_items(pairs)?;
                }
                APPEND => {
                    let value = self.pop()?;
                    self.append(vec![value])?;
                }
                APPENDS => {
                    let values = self.since_mark()?;
                    self.append(values)?;
                }
                MEMOIZE => {
                    let at = self.memo.len();
                    self.put(at)?;
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
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Node::Leaf(Value::from(v)));
                }
                BININT1 => {
                    let v = self.byte()?;
                    self.push(Node::Leaf(Value::from(v)));
                }
                BININT2 => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(Node::Leaf(Value::from(v)));
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
                    self.push(Node::Leaf(v));
                }
                BINFLOAT => {
                    let v = f64::from_be_bytes(self.array()?);
                    let n = Number::from_f64(v).ok_or(PickleError("float is not finite"))?;
                    self.push(Node::Leaf(Value::Number(n)));
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
                NONE => self.push(Node::Leaf(Value::Null)),
                NEWTRUE => self.push(Node::Leaf(Value::Bool(true))),
                NEWFALSE => self.push(Node::Leaf(Value::Bool(false))),
                _ => {
                    return Err(PickleError(
                        "an opcode outside plain data (imports and calls are refused)",
                    ));
                }
            }
        }
    }

    /// Remembers the object on top of the stack (not a copy: later
    /// additions to a container show through every reference).
    fn put(&mut self, at: usize) -> Result<(), PickleError> {
        let node = self.top()?;
        self.memo.insert(at, node);
        Ok(())
    }

    fn get(&mut self, at: usize) -> Result<(), PickleError> {
        let node = *self
            .memo
            .get(&at)
            .ok_or(PickleError("unknown memo entry"))?;
        self.stack.push(Item::Node(node));
        Ok(())
    }

    /// The value of `node`, which `depth` containers enclose, copying
    /// shared objects, within the depth and expansion limits (`budget`
    /// counts values and string bytes).
    fn build(&self, node: usize, depth: usize, budget: &mut usize) -> Result<Value, PickleError> {
        let cost = match &self.nodes[node] {
            Node::Leaf(Value::String(s)) => s.len().saturating_add(1),
            Node::Leaf(_) => 1,
            Node::List(_) | Node::Dict(_) if depth < MAX_DEPTH => 1,
            Node::List(_) | Node::Dict(_) => {
                return Err(PickleError(
                    "containers nested too deeply, or a container that contains itself",
                ));
            }
        };
        *budget = budget
            .checked_sub(cost)
            .ok_or(PickleError("shared references expand too far"))?;
        Ok(match &self.nodes[node] {
            Node::Leaf(value) => value.clone(),
            Node::List(items) => Value::Array(
                items
                    .iter()
                    .map(|&item| self.build(item, depth + 1, budget))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Dict(items) => {
                let mut map = Map::new();
                for (key, item) in items {
                    map.insert(key.clone(), self.build(*item, depth + 1, budget)?);
                }
                Value::Object(map)
            }
        })
    }
}

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

    /// `n` lists, each holding the next, written the way Python does.
    fn nested(n: usize) -> Vec<u8> {
        let mut bytes = vec![PROTO, 5];
        bytes.extend(std::iter::repeat_n(EMPTY_LIST, n));
        bytes.extend(std::iter::repeat_n(APPEND, n - 1));
        bytes.push(STOP);
        bytes
    }

    #[test]
    fn shared_objects_read_as_python_sees_them() {
        // Written by Python 3: `l = [1]; pickle.dumps({"a": l, "b": l}, 5)`.
        // The list is remembered while still empty and filled afterwards;
        // the reference to it must see the filled list.
        let shared_list =
            hex::decode("80059514000000000000007d94288c0161945d944b01618c0162946802752e").unwrap();
        assert_eq!(loads(&shared_list).unwrap(), json!({"a": [1], "b": [1]}));
        // `s = "shared"; pickle.dumps({"a": s, "b": s}, 5)`
        let shared_str =
            hex::decode("80059518000000000000007d94288c0161948c06736861726564948c0162946802752e")
                .unwrap();
        assert_eq!(
            loads(&shared_str).unwrap(),
            json!({"a": "shared", "b": "shared"})
        );
        // Protocol 2, with `BINPUT` memo entries and a tuple:
        // `pickle.dumps({"t": (1, 2), "d": {"x": [1, {"y": None}]}}, 2)`.
        let proto2 = hex::decode("80027d71002858010000007471014b014b0286710258010000006471037d710458010000007871055d7106284b017d710758010000007971084e736573752e").unwrap();
        assert_eq!(
            loads(&proto2).unwrap(),
            json!({"t": [1, 2], "d": {"x": [1, {"y": null}]}})
        );
    }

    #[test]
    fn a_list_that_contains_itself_is_refused() {
        // Python 3: `l = []; l.append(l); pickle.dumps(l, 5)`.
        let cycle = hex::decode("80059506000000000000005d946800612e").unwrap();
        let err = loads(&cycle).unwrap_err();
        assert!(err.to_string().contains("contains itself"), "{err}");
    }

    /// A list of two references to the previous list, `levels` times over:
    /// `2^levels` ones from a pickle of about `5 * levels` bytes.
    fn doubling(levels: u8) -> Vec<u8> {
        let mut bytes = vec![PROTO, 5, EMPTY_LIST, BININT1, 1, APPEND, MEMOIZE];
        for level in 0..levels {
            bytes.extend_from_slice(&[MARK, b'h', level, b'h', level, b'l', MEMOIZE]);
        }
        bytes.push(STOP);
        bytes
    }

    #[test]
    fn references_expand_only_so_far() {
        let mut expected = json!([1]);
        for _ in 0..10 {
            expected = json!([expected.clone(), expected]);
        }
        assert_eq!(loads(&doubling(10)).unwrap(), expected, "1024 ones load");
        // 2^100 ones would never finish (nor fit in memory).
        let err = loads(&doubling(100)).unwrap_err();
        assert!(err.to_string().contains("expand too far"), "{err}");
    }

    #[test]
    fn nesting_is_held_to_what_json_can_read_back() {
        let deepest = loads(&nested(MAX_DEPTH)).unwrap();
        let json = serde_json::to_vec(&deepest).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&json).unwrap(), deepest);
        let err = loads(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
        // Far deeper: refused without recursing once per level.
        assert!(loads(&nested(1_000_000)).is_err());
    }

    #[test]
    fn a_pickle_past_64_kib_reads_back() {
        // Found by the pickle fuzz target: dumps cut frames every 64 KiB
        // even inside an opcode, which no reader (Python's included) takes.
        let value = json!({"big": (0..30_000).map(|i| format!("v{i}")).collect::<Vec<_>>()});
        let bytes = dumps(&value);
        assert!(bytes.len() > 3 * 64 * 1024, "{}", bytes.len());
        assert_eq!(loads(&bytes).unwrap(), value);
    }

    #[test]
    fn far_memo_indices_cost_nothing() {
        // `BINPUT`/`LONG_BINGET` at index 2^32 - 1: remembered, not a
        // table of four billion entries.
        let bytes = [
            PROTO, 2, BININT1, 7, b'r', 0xff, 0xff, 0xff, 0xff, b'j', 0xff, 0xff, 0xff, 0xff, 0x86,
            STOP,
        ];
        assert_eq!(loads(&bytes).unwrap(), json!([7, 7]));
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
