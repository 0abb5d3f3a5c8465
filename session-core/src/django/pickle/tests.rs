//! Pickle's own tests: round trips, Python's bytes, hostile input.

use super::loads::MAX_DEPTH;
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
