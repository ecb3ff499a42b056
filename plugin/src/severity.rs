//! Provider severity to RedCarbon score.

/// Score for informational severity.
pub const INFORMATIONAL: u8 = 0;
/// Score for low severity.
pub const LOW: u8 = 10;
/// Score for medium severity.
pub const MEDIUM: u8 = 40;
/// Score for high severity.
pub const HIGH: u8 = 70;
/// Score for critical severity (not in Graph's enum; other Microsoft APIs and future values may use it).
pub const CRITICAL: u8 = 90;
/// Score for `unknown`, `unknownFutureValue`, an empty value and anything unrecognised.
///
/// Medium, not zero: a record Microsoft could not grade must reach an analyst's queue rather than hide
/// among informational noise. The original string stays on the record.
pub const UNRECOGNISED: u8 = MEDIUM;

/// RedCarbon score for a severity string, case-insensitive and trimmed.
pub fn score(severity: &str) -> u8 {
    match severity.trim().to_ascii_lowercase().as_str() {
        "informational" => INFORMATIONAL,
        "low" => LOW,
        "medium" => MEDIUM,
        "high" => HIGH,
        "critical" => CRITICAL,
        _ => UNRECOGNISED,
    }
}

#[cfg(test)]
mod tests {
    use super::score;

    #[test]
    fn the_table() {
        assert_eq!(score("informational"), 0);
        assert_eq!(score("low"), 10);
        assert_eq!(score("medium"), 40);
        assert_eq!(score("high"), 70);
        assert_eq!(score("critical"), 90);
    }

    #[test]
    fn case_and_space_do_not_matter() {
        assert_eq!(score("Informational"), 0);
        assert_eq!(score("LOW"), 10);
        assert_eq!(score("Medium"), 40);
        assert_eq!(score("hIgH"), 70);
        assert_eq!(score("Critical"), 90);
        assert_eq!(score(" high\t"), 70);
    }

    #[test]
    fn unknown_values_get_the_documented_score() {
        assert_eq!(score("unknown"), 40);
        assert_eq!(score("unknownFutureValue"), 40);
        assert_eq!(score("UnknownFutureValue"), 40);
        assert_eq!(score(""), 40);
        assert_eq!(score("sev-3 🔥"), 40);
        assert_eq!(score("5"), 40);
    }
}
