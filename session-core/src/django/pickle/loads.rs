//! Reading a pickle: plain data only, nothing that imports or calls.

use super::*;

/// How many containers may nest, the limit `serde_json` applies when it
/// reads JSON: deeper data could not be read back as JSON, and building
/// and dropping it recurses once per level.
pub(super) const MAX_DEPTH: usize = 127;

/// How far shared references may expand the data, in values plus string
/// bytes: this much beyond eight times the pickle's own length. Python
/// shares one object between all its references; the JSON model copies
/// it, so a small pickle that refers to the same list again and again
/// would otherwise grow exponentially.
const EXPANSION_ALLOWANCE: usize = 1 << 20;

/// Unpickles plain data; refuses anything else (see the [module docs](super)).
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
