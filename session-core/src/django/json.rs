//! JSON written exactly as Django's `JSONSerializer` (Python's
//! `json.dumps(obj, separators=(",", ":"))`) writes it: compact, insertion
//! order kept, every character outside printable ASCII escaped as `\uXXXX`
//! (surrogate pairs above U+FFFF), floats as Python's `repr`.
//!
//! ```
//! use serde_json::json;
//! let value = json!({"name": "Zoë", "pi": 3.14, "big": 1e16, "emoji": "😀"});
//! assert_eq!(
//!     session_core::django::json::to_string(&value),
//!     r#"{"name":"Zo\u00eb","pi":3.14,"big":1e+16,"emoji":"\ud83d\ude00"}"#,
//! );
//! ```

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// Serializes `value` as Django does.
///
/// ```
/// use serde_json::json;
/// use session_core::django::json::to_string;
/// assert_eq!(to_string(&json!({"b": 1, "a": [true, null]})), r#"{"b":1,"a":[true,null]}"#);
/// assert_eq!(to_string(&json!("café")), r#""caf\u00e9""#);
/// ```
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = Serializer::with_formatter(&mut out, PythonFormatter);
    value
        .serialize(&mut ser)
        .expect("serializing JSON values into memory cannot fail");
    String::from_utf8(out).expect("the formatter writes ASCII only")
}

/// `serde_json`'s compact output, with Python's string and float rules.
struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let s: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(writer, "\\u{byte:04x}"),
        };
        writer.write_all(s)
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }
}

/// Python's `repr` of a finite float: the shortest digits that round-trip,
/// fixed notation for decimal exponents from -4 to 15, scientific (with a
/// sign and at least two exponent digits) otherwise.
///
/// ```
/// use session_core::django::json::python_float;
/// assert_eq!(python_float(1.0), "1.0");
/// assert_eq!(python_float(0.1), "0.1");
/// assert_eq!(python_float(1e16), "1e+16");
/// assert_eq!(python_float(0.00001), "1e-05");
/// ```
pub fn python_float(value: f64) -> String {
    if !value.is_finite() {
        // JSON cannot carry these; Python would write NaN/Infinity.
        return "null".to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{value:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponents are integers");
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_match_python_repr() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.2345e-7, "1.2345e-07"),
            (123456.789, "123456.789"),
            (1e100, "1e+100"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (std::f64::consts::PI, "3.141592653589793"),
        ];
        for (value, python) in cases {
            assert_eq!(python_float(value), python, "{value:e}");
        }
    }

    #[test]
    fn strings_escape_like_ensure_ascii() {
        let s = to_string(&json!({"k": "a\"b\\c\n\t\u{7f}\u{1}é€😀/"}));
        assert_eq!(
            s,
            r#"{"k":"a\"b\\c\n\t\u007f\u0001\u00e9\u20ac\ud83d\ude00/"}"#
        );
        assert_eq!(
            to_string(&json!({"b": 1, "a": [true, null]})),
            r#"{"b":1,"a":[true,null]}"#
        );
    }
}
