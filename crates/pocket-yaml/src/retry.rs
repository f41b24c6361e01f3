//! `retry:`: one meaning wherever a workflow file writes it — a node-level `retry:` and the
//! `config.retry` of `http` and `llm` nodes are parsed by the same code, with the same
//! defaults and the same JSON Schema.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;

use crate::duration::parse_duration;
use crate::value::{describe, kind_of, number};

/// A retry policy of a workflow file: up to `max_attempts` attempts in all; after a failed
/// attempt wait `delay`, then `delay × multiplier`, `delay × multiplier²`, … each wait capped
/// at `max_delay`.
///
/// Defaults: 3 attempts, `delay: 1s`, `multiplier: 2`, `max_delay: 30s`; so `{max_attempts: 3,
/// delay: 1s}` waits 1s then 2s, wherever it is written. (The Go original waited `delay × n`
/// at node level and a constant `delay` in `http`; both keep working, with exponential waits.)
///
/// ```
/// use std::time::Duration;
/// use pocket_yaml::RetrySpec;
///
/// let spec = RetrySpec::from_value(&serde_json::json!({"max_attempts": "4", "delay": "250ms"})).unwrap();
/// assert_eq!((spec.max_attempts, spec.delay, spec.multiplier), (4, Duration::from_millis(250), 2.0));
/// assert_eq!(spec.max_delay, Duration::from_secs(30));
/// let problems = RetrySpec::from_value(&serde_json::json!({"max_attempts": 0, "delay": "1x"})).unwrap_err();
/// assert_eq!(problems.len(), 2, "every problem at once: {problems:?}");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySpec {
    /// Attempts in all (at least 1; 1 = no retry).
    pub max_attempts: u32,
    /// The wait after the first failed attempt.
    pub delay: Duration,
    /// How each wait grows (at least 1; 1 = a constant wait).
    pub multiplier: f64,
    /// The longest wait.
    pub max_delay: Duration,
}

/// The settings `retry:` knows.
pub const RETRY_KEYS: [&str; 4] = ["max_attempts", "delay", "multiplier", "max_delay"];

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            max_attempts: 3,
            delay: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetrySpec {
    /// Read a `retry:` mapping; every problem at once, each as `(setting, message)`.
    ///
    /// # Errors
    ///
    /// The problems: unknown settings, a count that is not a whole number of at least 1, a
    /// duration not in Go's syntax, a multiplier below 1.
    pub fn from_value(value: &Value) -> Result<Self, Vec<(String, String)>> {
        let Value::Object(fields) = value else {
            return Err(vec![(String::new(), format!("must be a mapping, not {}", kind_of(value)))]);
        };
        let mut problems = Vec::new();
        for key in fields.keys().filter(|k| !RETRY_KEYS.contains(&k.as_str())) {
            problems.push((key.clone(), format!("unknown retry setting (known: {})", RETRY_KEYS.join(", "))));
        }
        let mut spec = RetrySpec::default();
        if let Some(v) = fields.get("max_attempts") {
            match number(v) {
                Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => spec.max_attempts = n as u32,
                _ => problems.push(("max_attempts".into(), format!("must be a whole number of at least 1, not {v}"))),
            }
        }
        for (key, slot) in [("delay", &mut spec.delay), ("max_delay", &mut spec.max_delay)] {
            if let Some(v) = fields.get(key) {
                match duration(v) {
                    Ok(d) => *slot = d,
                    Err(message) => problems.push((key.into(), message)),
                }
            }
        }
        if let Some(v) = fields.get("multiplier") {
            match number(v) {
                Some(m) if m >= 1.0 && m.is_finite() => spec.multiplier = m,
                _ => problems.push(("multiplier".into(), format!("must be a number of at least 1, not {v}"))),
            }
        }
        if problems.is_empty() { Ok(spec) } else { Err(problems) }
    }
}

/// Deserialized from the same mapping [`RetrySpec::from_value`] reads (all problems joined
/// into the one error serde allows).
impl<'de> serde::Deserialize<'de> for RetrySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        RetrySpec::from_value(&value).map_err(|problems| {
            let text = problems
                .iter()
                .map(|(key, message)| if key.is_empty() { message.clone() } else { format!("`{key}`: {message}") })
                .collect::<Vec<_>>()
                .join("; ");
            serde::de::Error::custom(text)
        })
    }
}

/// The schema of `retry:` (what editors and `pocket nodes info` show).
#[derive(schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct RetrySchema {
    /// Attempts in all (default 3; 1 = no retry). A whole number, written as a number or a string.
    #[schemars(default = "default_attempts")]
    max_attempts: Option<u64>,
    /// The wait after the first failed attempt (a Go duration, default `1s`).
    #[schemars(default = "default_delay")]
    delay: Option<crate::GoDuration>,
    /// How each wait grows (default 2; 1 = a constant wait).
    #[schemars(default = "default_multiplier")]
    multiplier: Option<f64>,
    /// The longest wait (a Go duration, default `30s`).
    #[schemars(default = "default_max_delay")]
    max_delay: Option<crate::GoDuration>,
}

fn default_attempts() -> u64 {
    3
}
fn default_delay() -> &'static str {
    "1s"
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_max_delay() -> &'static str {
    "30s"
}

impl schemars::JsonSchema for RetrySpec {
    fn schema_name() -> Cow<'static, str> {
        "RetrySpec".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RetrySchema::json_schema(generator)
    }
}

fn duration(value: &Value) -> Result<Duration, String> {
    match value {
        Value::String(s) => parse_duration(s).map_err(|e| e.to_string()),
        other => Err(format!("must be a duration like `30s`, not {}", describe(other))),
    }
}
