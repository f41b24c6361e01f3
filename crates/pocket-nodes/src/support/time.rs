//! Wall-clock timestamps without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as RFC 3339 in UTC, to the second (`2026-11-28T01:02:03Z`).
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// `secs` since the Unix epoch as RFC 3339 in UTC.
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_741_323), "2026-11-27T01:02:03Z");
    }
}

/// A duration as Go prints it (`pocket_yaml::format_duration`).
pub(crate) use pocket_yaml::format_duration as go_duration;

#[cfg(test)]
mod go_duration_tests {
    use std::time::Duration;

    #[test]
    fn prints_like_go() {
        assert_eq!(super::go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(super::go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(super::go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(super::go_duration(Duration::from_secs(3_600)), "1h0m0s");
        assert_eq!(super::go_duration(Duration::from_nanos(12_500)), "12.5µs");
        assert_eq!(super::go_duration(Duration::from_micros(1_234_567)), "1.234567s");
    }
}

/// Seconds since the Unix epoch of an HTTP date in its standard form
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 IMF-fixdate).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn parse_http_date(text: &str) -> Option<u64> {
    let mut parts = text.trim().split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == month_name)? as i64
        + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3_600 + m * 60 + s).ok()
}

#[cfg(test)]
mod http_date_tests {
    #[test]
    fn parses_imf_fixdate() {
        assert_eq!(super::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(super::parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            super::parse_http_date("Sat, 28 Nov 2026 01:02:03 GMT").map(super::rfc3339).as_deref(),
            Some("2026-11-28T01:02:03Z")
        );
        assert_eq!(super::parse_http_date("soon"), None);
        assert_eq!(super::parse_http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
    }
}
