//! Go duration syntax: `300ms`, `1.5s`, `1m30s`, `2h45m`, `-1.5h` (negative is refused here).

use std::time::Duration;

/// A duration string that is not in Go's syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: {reason} (write it like `500ms`, `1.5s` or `1m30s`)")]
pub struct DurationError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parse a Go duration: a sequence of decimal numbers, each with an optional fraction and a
/// unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`); `0` alone is allowed.
///
/// # Errors
///
/// [`DurationError`] for anything else, including negative durations.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket_yaml::parse_duration;
///
/// assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert!(parse_duration("5 seconds").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError { input: input.to_string(), reason };
    let text = input.trim();
    if text.is_empty() {
        return Err(fail("it is empty"));
    }
    if text.starts_with('-') {
        return Err(fail("it is negative"));
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    // Whole nanoseconds, as Go computes them: `0.1s` is exactly 100ms, and sums do not drift.
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return Err(fail("a number is missing"));
        }
        let number = &rest[..number_len];
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(fail("a unit is missing")),
            _ => return Err(fail("the unit is unknown")),
        };
        rest = &rest[unit_len..];
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(fail("a number is malformed"));
        }
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| fail("it is too large"))? };
        let mut part = whole.checked_mul(unit).ok_or_else(|| fail("it is too large"))?;
        // The fraction's digits, scaled by the unit; digits past nanosecond precision are dropped.
        let mut scale = unit;
        for digit in fraction.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            part += u128::from(digit - b'0') * scale;
        }
        total = total.checked_add(part).ok_or_else(|| fail("it is too large"))?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| fail("it is too large"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// A duration as Go prints it (`1.5s`, `1m30s`, `250ms`, `2h0m0s`), so that what Pocket prints
/// reads back the same.
///
/// ```
/// use std::time::Duration;
/// use pocket_yaml::format_duration;
///
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
/// assert_eq!(format_duration(Duration::from_secs(7200)), "2h0m0s");
/// assert_eq!(format_duration(Duration::from_micros(10)), "10µs");
/// ```
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    // Go's String(): below a second, the largest unit that keeps an integer part; fractions
    // without trailing zeros.
    let fraction = |value: u128, per: u128| -> String {
        let whole = value / per;
        let rest = value % per;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = per.to_string().len() - 1;
        let text = format!("{whole}.{rest:0digits$}");
        text.trim_end_matches('0').to_string()
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let total_secs = nanos / 1_000_000_000;
    let (h, m) = (total_secs / 3_600, total_secs % 3_600 / 60);
    let s = fraction(nanos - (h * 3_600 + m * 60) * 1_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// A duration written in Go's syntax: parses (`FromStr`, `Deserialize`) and prints (`Display`,
/// `Serialize`) the same way, and its JSON Schema is a string of that syntax.
///
/// ```
/// use std::time::Duration;
/// use pocket_yaml::GoDuration;
///
/// let d: GoDuration = "1m30s".parse().unwrap();
/// assert_eq!(Duration::from(d), Duration::from_secs(90));
/// assert_eq!(d.to_string(), "1m30s");
/// assert_eq!(serde_json::to_value(d).unwrap(), "1m30s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Duration {
        d.0
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> GoDuration {
        GoDuration(d)
    }
}

impl std::str::FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, DurationError> {
        parse_duration(s).map(GoDuration)
    }
}

impl std::fmt::Display for GoDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl serde::Serialize for GoDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!(
                "must be a duration like `30s`, not {}",
                crate::value::describe(&other)
            ))),
        }
    }
}

impl schemars::JsonSchema for GoDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GoDuration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A Go duration: `500ms`, `1.5s`, `1m30s`, `2h`."
        })
    }
}

/// The syntax of a Go duration, as a regular expression (for JSON Schemas).
pub const DURATION_PATTERN: &str = r"^\+?(0|([0-9]*\.?[0-9]+(ns|us|µs|μs|ms|s|m|h))+)$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_forms() {
        let ms = Duration::from_millis;
        for (text, expected) in [
            ("0", Duration::ZERO),
            ("1s", ms(1000)),
            ("1.5s", ms(1500)),
            ("500ms", ms(500)),
            ("1m30s", ms(90_000)),
            ("2h45m", ms(9_900_000)),
            ("1h1m1s1ms", ms(3_661_001)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            (".5s", ms(500)),
            ("+3s", ms(3000)),
            ("0.1s", ms(100)),
            ("1.000000001s", Duration::new(1, 1)),
            ("2562047h", Duration::from_secs(2_562_047 * 3600)),
        ] {
            assert_eq!(parse_duration(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn refusals_say_why() {
        for (text, reason) in [
            ("", "it is empty"),
            ("5", "a unit is missing"),
            ("5x", "the unit is unknown"),
            ("-1s", "it is negative"),
            ("s", "a number is missing"),
            ("1..5s", "a number is malformed"),
            ("1 s", "the unit is unknown"),
            (".s", "a number is malformed"),
        ] {
            assert_eq!(parse_duration(text).unwrap_err().reason, reason, "{text:?}");
        }
        assert_eq!(
            parse_duration("5x").unwrap_err().to_string(),
            "invalid duration `5x`: the unit is unknown (write it like `500ms`, `1.5s` or `1m30s`)"
        );
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn printing_reads_back_the_same() {
        for text in ["1s", "1.5s", "250ms", "1m30s", "2h0m0s", "10µs", "7ns", "1h1m1.001s", "0s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
