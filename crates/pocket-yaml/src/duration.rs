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
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return Err(fail("a number is missing"));
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| fail("a number is malformed"))?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(fail("a unit is missing")),
            _ => return Err(fail("the unit is unknown")),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).map_err(|_| fail("it is too large"))
}

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
        ] {
            assert_eq!(parse_duration(text).unwrap_err().reason, reason, "{text:?}");
        }
        assert_eq!(
            parse_duration("5x").unwrap_err().to_string(),
            "invalid duration `5x`: the unit is unknown (write it like `500ms`, `1.5s` or `1m30s`)"
        );
    }
}
