//! Lenient deserializers for config fields: numbers written as integers, floats or numeric
//! strings, and Go durations.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;

/// A Go duration string (`500ms`, `1.5s`, `1m30s`): [`pocket_yaml::GoDuration`]'s parsing.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    pocket_yaml::GoDuration::deserialize(d).map(Duration::from)
}

/// An optional Go duration string.
pub(crate) fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// A required count: `3`, `3.0` or `"3"`; at least 1.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    opt_count(d)?.ok_or_else(|| D::Error::custom("must be a whole number of at least 1"))
}

/// A count: `3`, `3.0` or `"3"`; at least 1.
pub(crate) fn opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = Value::deserialize(d)?;
    let n = match &value {
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        }
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64),
        _ => None,
    };
    match n {
        Some(n) if n >= 1 => Ok(Some(n)),
        _ => Err(D::Error::custom(format!("must be a whole number of at least 1, not {}", describe(&value)))),
    }
}

/// A size in bytes: `1048576`, `"10MiB"`, `"512 KB"` (`KB` is 1000 bytes, `KiB` 1024).
pub(crate) fn opt_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = Value::deserialize(d)?;
    let bytes = match &value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<bytesize::ByteSize>().ok().map(|b| b.as_u64()),
        _ => None,
    };
    match bytes {
        Some(n) if n >= 1 => Ok(Some(n)),
        _ => Err(D::Error::custom(format!(
            "must be a size in bytes (`1048576`, `10MiB`, `512KB`), not {}",
            describe(&value)
        ))),
    }
}

/// `bytes` for people: `10 MiB`.
pub(crate) fn show_bytes(bytes: u64) -> String {
    // Whole units as written in a config (`1 MiB`, not `1.0 MiB`).
    for (unit, name) in [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    bytesize::ByteSize(bytes).display().iec().to_string()
}

pub(crate) use pocket_yaml::describe;
