//! Property tests of the pickle reader Django's cache backends need: any
//! bytes read or fail cleanly, and plain data written in any encoding
//! Python's picklers use (shared references included) reads back the same.
#![cfg(feature = "django")]

use proptest::prelude::*;
use serde_json::Value;
use session_core::django::pickle;

/// Opcodes of plain-data pickles with small arguments, in any order:
/// far likelier than random bytes to get deep into the reader.
fn pickle_ops() -> impl Strategy<Value = Vec<u8>> {
    let op = prop_oneof![
        // Pushes outweigh the rest, so that most sequences build
        // something rather than run out of stack.
        3 => Just(vec![b'(']),
        3 => Just(vec![b'}']),
        3 => Just(vec![b']']),
        1 => Just(vec![b')']),
        2 => Just(vec![b's']),
        2 => Just(vec![b'u']),
        2 => Just(vec![b'a']),
        2 => Just(vec![b'e']),
        1 => Just(vec![b't']),
        1 => Just(vec![b'l']),
        1 => Just(vec![b'd']),
        1 => Just(vec![0x85]),
        1 => Just(vec![0x86]),
        1 => Just(vec![0x87]),
        3 => Just(vec![0x94]),
        1 => Just(vec![b'N']),
        1 => Just(vec![0x88]),
        3 => (0u8..6).prop_map(|i| vec![b'h', i]),
        1 => (0u8..6).prop_map(|i| vec![b'q', i]),
        3 => any::<u8>().prop_map(|i| vec![b'K', i]),
        1 => any::<i32>().prop_map(|i| [&[b'J'][..], &i.to_le_bytes()].concat()),
        1 => any::<f64>().prop_map(|f| [&[b'G'][..], &f.to_be_bytes()].concat()),
        1 => (0usize..17, any::<[u8; 16]>())
            .prop_map(|(n, b)| [&[0x8a, n as u8][..], &b[..n]].concat()),
        6 => "[a-c]{0,2}".prop_map(|s| [&[0x8c, s.len() as u8][..], s.as_bytes()].concat()),
    ];
    prop::collection::vec(op, 0..40).prop_map(|ops| {
        let mut bytes = vec![0x80, 5];
        bytes.extend(ops.concat());
        bytes.push(b'.');
        bytes
    })
}

/// Session-like data with small alphabets, so that equal strings and
/// containers recur (and can be written as references).
fn plain_data() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..300).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ab]{0,2}".prop_map(Value::from),
        "[a-zé😀]{250,260}".prop_map(Value::from),
    ];
    // Containers often hold a second copy of their first item, which
    // the pickler may then write as a reference.
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..5), any::<bool>()).prop_map(
                |(mut items, again)| {
                    if let (true, Some(first)) = (again, items.first()) {
                        items.push(first.clone());
                    }
                    Value::Array(items)
                }
            ),
            (
                prop::collection::vec(("[ab]{1,2}", inner), 0..5),
                any::<bool>()
            )
                .prop_map(|(pairs, again)| {
                    let mut map: serde_json::Map<_, _> = pairs.into_iter().collect();
                    if let (true, Some(first)) = (again, map.values().next()) {
                        map.insert("again".to_owned(), first.clone());
                    }
                    Value::Object(map)
                }),
        ]
    })
}

/// Writes plain data in any of the encodings Python's picklers use
/// (protocols 2 to 5: batched or single appends and set-items,
/// MARK-built lists, dicts and tuples, every integer and string width,
/// memo entries by `MEMOIZE` or `BINPUT`), each picked by the next of
/// `choices`; an object equal to one remembered earlier may be written
/// as a reference to it, as Python does for a shared object.
struct Pickler<'a> {
    out: Vec<u8>,
    choices: std::iter::Cycle<std::slice::Iter<'a, u8>>,
    memo: Vec<Value>,
}

impl<'a> Pickler<'a> {
    fn new(choices: &'a [u8]) -> Self {
        Pickler {
            out: Vec::new(),
            choices: choices.iter().cycle(),
            memo: Vec::new(),
        }
    }

    fn choose(&mut self, n: u8) -> u8 {
        self.choices.next().map_or(0, |c| c % n)
    }

    fn pickle(mut self, value: &Value) -> Vec<u8> {
        let protocol = 2 + self.choose(4);
        self.out.extend_from_slice(&[0x80, protocol]);
        if protocol >= 4 && self.choose(2) == 0 {
            // A frame's length is advisory to a reader that has it all.
            self.out.push(0x95);
            self.out.extend_from_slice(&0u64.to_le_bytes());
        }
        self.write(value);
        self.out.push(b'.');
        self.out
    }

    /// Remembers `value` (the object just pushed) under the next index.
    fn remember(&mut self, value: &Value) {
        match self.choose(3) {
            0 => return,
            1 => self.out.push(0x94),
            _ => {
                let at = self.memo.len();
                match u8::try_from(at) {
                    Ok(at) => self.out.extend_from_slice(&[b'q', at]),
                    Err(_) => {
                        self.out.push(b'r');
                        self.out.extend_from_slice(&(at as u32).to_le_bytes());
                    }
                }
            }
        }
        self.memo.push(value.clone());
    }

    fn write(&mut self, value: &Value) {
        if self.choose(2) == 0
            && let Some(at) = self.memo.iter().position(|m| m == value)
        {
            match u8::try_from(at) {
                Ok(at) => self.out.extend_from_slice(&[b'h', at]),
                Err(_) => {
                    self.out.push(b'j');
                    self.out.extend_from_slice(&(at as u32).to_le_bytes());
                }
            }
            return;
        }
        match value {
            Value::Null => self.out.push(b'N'),
            Value::Bool(b) => self.out.push(if *b { 0x88 } else { 0x89 }),
            Value::Number(n) => self.number(n),
            Value::String(s) => {
                let len = s.len() as u64;
                match self.choose(3) {
                    0 if len < 256 => self.out.extend_from_slice(&[0x8c, len as u8]),
                    1 => {
                        self.out.push(b'X');
                        self.out.extend_from_slice(&(len as u32).to_le_bytes());
                    }
                    _ => {
                        self.out.push(0x8d);
                        self.out.extend_from_slice(&len.to_le_bytes());
                    }
                }
                self.out.extend_from_slice(s.as_bytes());
                self.remember(value);
            }
            Value::Array(items) => match self.choose(3) {
                0 => {
                    self.out.push(b']');
                    self.remember(value);
                    self.items(items.iter(), b'a', b'e', |p, item| p.write(item));
                }
                1 if items.len() <= 3 => {
                    if items.is_empty() {
                        self.out.push(b')');
                    } else {
                        items.iter().for_each(|item| self.write(item));
                        self.out.push(0x84 + items.len() as u8);
                    }
                    self.remember(value);
                }
                _ => {
                    self.out.push(b'(');
                    items.iter().for_each(|item| self.write(item));
                    let op = if self.choose(2) == 0 { b'l' } else { b't' };
                    self.out.push(op);
                    self.remember(value);
                }
            },
            Value::Object(map) => {
                let put = |p: &mut Self, (k, v): (&String, &Value)| {
                    p.write(&Value::String(k.clone()));
                    p.write(v);
                };
                if self.choose(2) == 0 {
                    self.out.push(b'}');
                    self.remember(value);
                    self.items(map.iter(), b's', b'u', put);
                } else {
                    self.out.push(b'(');
                    map.iter().for_each(|pair| put(self, pair));
                    self.out.push(b'd');
                    self.remember(value);
                }
            }
        }
    }

    /// Adds items to the container on the stack, one at a time or in
    /// MARK-delimited batches.
    fn items<T>(
        &mut self,
        items: impl Iterator<Item = T>,
        one: u8,
        many: u8,
        mut put: impl FnMut(&mut Self, T),
    ) {
        let mut items = items.peekable();
        while items.peek().is_some() {
            if self.choose(2) == 0 {
                put(self, items.next().unwrap());
                self.out.push(one);
            } else {
                self.out.push(b'(');
                for _ in 0..=self.choose(3) {
                    if let Some(item) = items.next() {
                        put(self, item);
                    }
                }
                self.out.push(many);
            }
        }
    }

    fn number(&mut self, n: &serde_json::Number) {
        let Some(i) = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) else {
            self.out.push(b'G');
            self.out
                .extend_from_slice(&n.as_f64().unwrap().to_be_bytes());
            return;
        };
        match (
            self.choose(2),
            u8::try_from(i),
            u16::try_from(i),
            i32::try_from(i),
        ) {
            (0, Ok(b), _, _) => self.out.extend_from_slice(&[b'K', b]),
            (0, _, Ok(w), _) => {
                self.out.push(b'M');
                self.out.extend_from_slice(&w.to_le_bytes());
            }
            (0, _, _, Ok(d)) => {
                self.out.push(b'J');
                self.out.extend_from_slice(&d.to_le_bytes());
            }
            _ => {
                // LONG1 with all 16 bytes: longer than Python writes,
                // still the same integer.
                self.out.extend_from_slice(&[0x8a, 16]);
                self.out.extend_from_slice(&i.to_le_bytes());
            }
        }
    }
}

proptest! {
    #[test]
    fn any_bytes_unpickle_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = pickle::loads(&bytes);
    }

    #[test]
    fn any_opcode_sequence_unpickles_or_fails_cleanly(bytes in pickle_ops()) {
        if let Ok(value) = pickle::loads(&bytes) {
            prop_assert_eq!(pickle::loads(&pickle::dumps(&value)).unwrap(), value);
        }
    }

    #[test]
    fn every_way_python_pickles_plain_data_reads_back(
        value in plain_data(),
        choices in prop::collection::vec(any::<u8>(), 64),
    ) {
        let bytes = Pickler::new(&choices).pickle(&value);
        prop_assert_eq!(pickle::loads(&bytes), Ok(value));
    }

}
