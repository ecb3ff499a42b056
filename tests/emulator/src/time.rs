//! Timestamp formats used by the two services.

use chrono::{DateTime, Utc};

/// Formats an instant the way Graph serializes `Edm.DateTimeOffset`: UTC, `Z`, and 0–7 fractional
/// digits with trailing zeros dropped (`…:45Z`, `…:45.23Z`, `…:45.5533333Z`); precision is 100 ns.
pub fn format_graph_time(at: DateTime<Utc>) -> String {
    let ticks = at.timestamp_subsec_nanos() / 100;
    let whole = at.format("%Y-%m-%dT%H:%M:%S");
    if ticks == 0 {
        return format!("{whole}Z");
    }
    let frac = format!("{ticks:07}");
    format!("{whole}.{}Z", frac.trim_end_matches('0'))
}

/// Graph error `innerError.date`: no fraction and no `Z`.
pub(crate) fn graph_error_date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Entra error `timestamp`: a space instead of `T`, whole seconds, `Z`.
pub(crate) fn entra_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// The wall clock as a chrono instant (the workspace builds chrono without its `clock` feature).
pub(crate) fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

/// Parses an RFC 3339 instant with 0–9 fractional digits, the way `$filter` literals and stored
/// timestamps are read; `None` for anything else (e.g. a space instead of `T`).
pub(crate) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if !looks_like_rfc3339(text) {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// Strict shape check: `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`. chrono alone is more lenient.
fn looks_like_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if !(1..=9).contains(&(i - start)) {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] => true,
        [s, h1, h2, b':', m1, m2] if (*s == b'+' || *s == b'-') => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_instant(text).unwrap()
    }

    #[test]
    fn graph_time_drops_trailing_zeros() {
        assert_eq!(format_graph_time(at("2024-03-26T13:35:45Z")), "2024-03-26T13:35:45Z");
        assert_eq!(format_graph_time(at("2024-03-26T13:35:45.230Z")), "2024-03-26T13:35:45.23Z");
        assert_eq!(format_graph_time(at("2021-08-13T08:43:35.5533333Z")), "2021-08-13T08:43:35.5533333Z");
        // Below 100 ns is not representable on the wire.
        assert_eq!(format_graph_time(at("2021-08-13T08:43:35.000000099Z")), "2021-08-13T08:43:35Z");
    }

    #[test]
    fn parse_accepts_0_to_9_digits_and_offsets() {
        assert!(parse_instant("2024-01-01T00:00:00Z").is_some());
        assert!(parse_instant("2024-01-01T00:00:00.1Z").is_some());
        assert!(parse_instant("2024-01-01T00:00:00.123456789Z").is_some());
        assert_eq!(at("2024-01-01T01:00:00+01:00"), at("2024-01-01T00:00:00Z"));
        assert!(parse_instant("2024-01-01T00:00:00.1234567890Z").is_none());
        assert!(parse_instant("2024-01-01 00:00:00Z").is_none());
        assert!(parse_instant("2024-01-01T00:00:00").is_none());
        assert!(parse_instant("2024-01-01T00:00:00.Z").is_none());
        assert!(parse_instant("'2024-01-01T00:00:00Z'").is_none());
    }

    #[test]
    fn error_dates() {
        let t = at("2025-01-11T19:43:26.5Z");
        assert_eq!(graph_error_date(t), "2025-01-11T19:43:26");
        assert_eq!(entra_timestamp(t), "2025-01-11 19:43:26Z");
    }
}
