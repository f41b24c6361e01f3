//! How the loader reads loose scalars and names values in messages (one set of helpers for
//! the whole crate).

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize as _;
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
    /// Lists and objects nest deeper than [`max_depth`] allows.
    #[error("line {line}, column {column}: the value nests deeper than {max} levels")]
    TooDeep {
        /// The limit ([`max_depth`] when the text was read).
        max: usize,
        /// The line of the first list or object past the limit (1-based).
        line: usize,
        /// Its column (1-based).
        column: usize,
    },
}

/// Parse JSON text without changing any number: an integer beyond 64 bits (which a plain
/// parse would silently turn into the nearest float) is refused, naming where it is. Lists and
/// objects may nest [`max_depth`] levels; deeper text is refused before it is parsed.
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
/// let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
/// assert!(pocket_yaml::json_exact(&deep).unwrap_err().to_string().contains("deeper than 128 levels"));
/// ```
pub fn json_exact(text: &str) -> Result<Value, JsonError> {
    let found = scan(text, max_depth());
    if let Some(too_deep) = found.too_deep {
        return Err(too_deep);
    }
    let mut parser = serde_json::Deserializer::from_str(text);
    let value = if found.deepest < SERDE_JSON_DEPTH {
        Value::deserialize(&mut parser)
    } else {
        // The depth is checked above, so serde_json's own limit is lifted; its recursion runs
        // on a stack that grows on the heap as needed, whatever thread reads the text (at a
        // cost per value, so only for text this deep).
        parser.disable_recursion_limit();
        Value::deserialize(serde_stacker::Deserializer::new(&mut parser))
    };
    let value = value.and_then(|value| parser.end().map(|()| value)).map_err(|e| JsonError::Syntax(e.to_string()))?;
    if let Some(too_large) = found.too_large {
        return Err(too_large);
    }
    Ok(value)
}

/// serde_json's own nesting limit.
const SERDE_JSON_DEPTH: usize = 128;

/// What one pass over JSON text finds before it is parsed.
#[derive(Default)]
struct Scanned {
    too_deep: Option<JsonError>,
    too_large: Option<JsonError>,
    /// How deep lists and objects nest.
    deepest: usize,
}

/// The first list or object nested deeper than `max`, and the first integer literal that fits
/// neither `i64` nor `u64` (both outside strings), in one pass over the text.
fn scan(text: &str, max: usize) -> Scanned {
    let bytes = text.as_bytes();
    let (mut i, mut line, mut line_start, mut depth) = (0, 1, 0, 0usize);
    let mut found = Scanned::default();
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'[' | b'{' => {
                depth += 1;
                found.deepest = found.deepest.max(depth);
                if depth > max {
                    let column = text[line_start..i].chars().count() + 1;
                    found.too_deep = Some(JsonError::TooDeep { max, line, column });
                    return found;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
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
                if found.too_large.is_none()
                    && integer
                    && literal.parse::<i64>().is_err()
                    && literal.parse::<u64>().is_err()
                {
                    found.too_large = Some(JsonError::TooLarge {
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
    found
}

/// How deep values may nest unless [`set_max_depth`] says otherwise: what JSON parsers
/// commonly allow (serde_json's own limit), and shallow enough that cloning, comparing or
/// printing such a value fits in any thread's stack (tokio's workers have 2 MiB).
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// The most [`set_max_depth`] allows: jq's own limit.
pub const DEEPEST: usize = 10_000;

static MAX_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_DEPTH);

/// How deep lists and objects may nest in the values Pocket reads ([`json_exact`]) and makes
/// (jq's outputs, `echo`): [`DEFAULT_MAX_DEPTH`] unless the process set it otherwise.
pub fn max_depth() -> usize {
    MAX_DEPTH.load(Ordering::Relaxed)
}

/// Let values nest up to `levels` deep (at least 1, at most [`DEEPEST`]) in this process.
///
/// Only for a process whose threads all have the stack for it: serde_json clones, compares
/// and drops values recursively, about 600 bytes of stack per level in a release build and
/// 2.5 KiB in a debug build, so 10,000 levels take 6 MiB (25 MiB in debug) — past the 2 MiB
/// of tokio's default workers. The `pocket` command sets [`DEEPEST`] and gives its threads
/// 64 MiB stacks.
///
/// ```
/// pocket_yaml::set_max_depth(200);
/// let deep = format!("{}{}", "[".repeat(150), "]".repeat(150));
/// assert!(pocket_yaml::json_exact(&deep).is_ok());
/// pocket_yaml::set_max_depth(pocket_yaml::DEFAULT_MAX_DEPTH);
/// ```
pub fn set_max_depth(levels: usize) {
    MAX_DEPTH.store(levels.clamp(1, DEEPEST), Ordering::Relaxed);
}

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
