//! Graph timestamps: parsed to real instants at full precision, never compared as strings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant in UTC, ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// A timestamp string that is not RFC 3339 with a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not an RFC 3339 timestamp with a time zone (e.g. 2024-03-26T13:35:45.23Z)")]
pub struct BadTimestamp {
    /// The rejected text.
    pub value: String,
}

impl Timestamp {
    /// Parses `2024-03-26T13:35:45.23Z`-style text with 0 to 9 fractional digits and any offset.
    pub fn parse(text: &str) -> Result<Self, BadTimestamp> {
        let bad = || BadTimestamp { value: text.to_string() };
        // chrono also accepts a space for `T`; Graph never sends one in record fields, but
        // tolerating it costs nothing and loses no precision.
        let parsed = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| bad())?;
        let utc = parsed.with_timezone(&Utc);
        Ok(Timestamp { seconds: utc.timestamp(), nanos: utc.timestamp_subsec_nanos() })
    }

    /// From seconds and nanoseconds since the epoch.
    pub fn from_unix(seconds: i64, nanos: u32) -> Self {
        Timestamp { seconds, nanos }
    }

    /// The instant `secs` seconds earlier.
    pub fn minus_seconds(self, secs: i64) -> Self {
        Timestamp { seconds: self.seconds - secs, nanos: self.nanos }
    }

    /// Canonical form: UTC, always 7 fractional digits (Graph's 100 ns precision), `Z`.
    ///
    /// Sub-100 ns digits are truncated, so the canonical form is never later than the instant:
    /// a `ge` filter built from it still includes the record.
    pub fn canonical(&self) -> String {
        let dt = DateTime::<Utc>::from_timestamp(self.seconds, 0).unwrap_or_default();
        format!("{}.{:07}Z", dt.format("%Y-%m-%dT%H:%M:%S"), self.nanos / 100)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn zero_to_seven_fractional_digits_order_by_time_not_text() {
        // Sorted by real time; as strings several of these would sort differently
        // (e.g. "…45Z" > "…45.1Z" because 'Z' > '.').
        let texts = [
            "2024-03-26T13:35:45Z",
            "2024-03-26T13:35:45.0000001Z",
            "2024-03-26T13:35:45.000001Z",
            "2024-03-26T13:35:45.00001Z",
            "2024-03-26T13:35:45.0001Z",
            "2024-03-26T13:35:45.001Z",
            "2024-03-26T13:35:45.01Z",
            "2024-03-26T13:35:45.1Z",
            "2024-03-26T13:35:45.23Z",
            "2024-03-26T13:35:45.2300001Z",
            "2024-03-26T13:35:45.9999999Z",
            "2024-03-26T13:35:46Z",
        ];
        let parsed: Vec<Timestamp> = texts.iter().map(|t| Timestamp::parse(t).unwrap()).collect();
        for pair in parsed.windows(2) {
            assert!(pair[0] < pair[1], "{:?} should be before {:?}", pair[0], pair[1]);
        }
        let mut shuffled = texts.to_vec();
        shuffled.sort(); // string order differs from time order
        assert_ne!(shuffled, texts.to_vec());
    }

    #[test]
    fn exact_values() {
        let t = Timestamp::parse("2024-03-26T13:35:45.23Z").unwrap();
        assert_eq!(t, Timestamp { seconds: 1_711_460_145, nanos: 230_000_000 });
        assert_eq!(t.canonical(), "2024-03-26T13:35:45.2300000Z");
        let t = Timestamp::parse("2021-05-02T14:19:01.3266667Z").unwrap();
        assert_eq!(t.nanos, 326_666_700);
        assert_eq!(t.canonical(), "2021-05-02T14:19:01.3266667Z");
        let t = Timestamp::parse("2025-02-23T09:24:00Z").unwrap();
        assert_eq!(t.canonical(), "2025-02-23T09:24:00.0000000Z");
        assert_eq!(t.nanos, 0);
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let a = Timestamp::parse("2024-03-26T15:35:45.5+02:00").unwrap();
        let b = Timestamp::parse("2024-03-26T13:35:45.5Z").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn nine_digits_truncate_in_canonical_form() {
        let t = Timestamp::parse("2024-03-26T13:35:45.123456789Z").unwrap();
        assert_eq!(t.nanos, 123_456_789);
        assert_eq!(t.canonical(), "2024-03-26T13:35:45.1234567Z");
        assert!(Timestamp::parse(&t.canonical()).unwrap() <= t);
    }

    #[test]
    fn garbage_is_rejected_with_the_value() {
        for bad in ["", "yesterday", "2020-08-18T12:51:51", "2024-13-01T00:00:00Z", "1711460145"] {
            let err = Timestamp::parse(bad).unwrap_err();
            assert_eq!(err.value, bad);
        }
    }
}
