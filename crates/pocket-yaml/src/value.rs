//! How the loader reads loose scalars and names values in messages (one set of helpers for
//! the whole crate).

use serde_json::Value;

/// A number written as an integer, a float or a numeric string.
pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A value's kind in a message: `a number`, `a list`, `nothing`.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// How a value reads in an error message: `the number 5`, `the string "x"`, `a list`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// Why JSON text could not be read exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is not JSON.
    #[error("{0}")]
    Syntax(String),
    /// An integer does not fit in 64 bits: read as a float it would silently change.
    #[error(
        "line {line}, column {column}: the integer {digits} does not fit in 64 bits and would lose precision; write it as a string"
    )]
    TooLarge {
        /// The integer as written (cut after 40 characters).
        digits: String,
        /// Its line (1-based).
        line: usize,
        /// Its column (1-based).
        column: usize,
    },
}

/// Parse JSON text without changing any number: an integer beyond 64 bits (which a plain
/// parse would silently turn into the nearest float) is refused, naming where it is.
///
/// # Errors
///
/// [`JsonError`].
///
/// # Examples
///
/// ```
/// assert_eq!(pocket_yaml::json_exact(r#"{"id": 18446744073709551615}"#).unwrap()["id"], u64::MAX);
/// assert!(pocket_yaml::json_exact(r#"{"id": 18446744073709551616}"#).is_err());
/// assert!(pocket_yaml::json_exact(r#"{"id": "18446744073709551616", "x": 1e30}"#).is_ok());
/// ```
pub fn json_exact(text: &str) -> Result<Value, JsonError> {
    let value: Value = serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))?;
    if let Some(too_large) = large_integer(text) {
        return Err(too_large);
    }
    Ok(value)
}

/// The first integer literal outside strings that fits neither `i64` nor `u64`.
fn large_integer(text: &str) -> Option<JsonError> {
    let bytes = text.as_bytes();
    let (mut i, mut line, mut line_start) = (0, 1, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < bytes.len() && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    i += 1;
                }
                let literal = &text[start..i];
                let integer = !literal.contains(['.', 'e', 'E']);
                if integer && literal.parse::<i64>().is_err() && literal.parse::<u64>().is_err() {
                    return Some(JsonError::TooLarge {
                        digits: literal.chars().take(40).collect(),
                        line,
                        column: text[line_start..start].chars().count() + 1,
                    });
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// How deep JSON values may nest where Pocket makes them (the limit of JSON parsers,
/// serde_json's included: deeper values cannot be read back).
pub const MAX_DEPTH: usize = 128;

/// Whether `value` nests deeper than `max` levels (walked without recursion, so a value of any
/// depth can be checked).
///
/// ```
/// let deep = (0..10).fold(serde_json::json!(1), |v, _| serde_json::json!([v]));
/// assert!(pocket_yaml::nests_deeper_than(&deep, 9));
/// assert!(!pocket_yaml::nests_deeper_than(&deep, 10));
/// ```
pub fn nests_deeper_than(value: &Value, max: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth >= max {
            return true;
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    false
}
