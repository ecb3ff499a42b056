//! The paging cursor the host checkpoints: where the next request goes and which records at or
//! after the watermark were already emitted, so records sharing a timestamp, and records re-read
//! by the look-back overlap, are neither lost nor repeated.

use crate::error::ConnectorError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Cursor format version; bump on incompatible change.
const VERSION: u32 = 1;

/// Opaque to the host; JSON so an operator can read a state file at 3 a.m.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Format version.
    pub v: u32,
    /// Scans ask for records updated at or after this instant (canonical RFC 3339).
    pub watermark: String,
    /// Records at or after `watermark` that were already emitted: id → version (canonical).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<String, String>,
    /// The scan in progress, if a poll stopped between pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<Scan>,
    /// Page size the service told us it accepts, when lower than ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_limit: Option<u32>,
}

/// A scan (one `$filter` query and its nextLinks) in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    /// The next page to request, exactly as the service gave it.
    pub next_link: String,
    /// Records emitted in this scan: id → version. Paging by offset repeats records when newer
    /// ones push the list down; this is what keeps them from being emitted twice.
    #[serde(default)]
    pub emitted: BTreeMap<String, String>,
    /// Pages of this scan are read without `$expand` (its nextLinks no longer carry it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub degraded: bool,
    /// FNV-1a hashes of the nextLinks already followed in this scan, to stop a paging loop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visited: Vec<u64>,
}

/// A stable 64-bit FNV-1a hash (stored in cursors, so it must not change between builds).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Scan {
    /// Moves the scan to `link`; `false` if this scan already followed it (the service is looping).
    pub fn follow(&mut self, link: String) -> bool {
        let h = fnv1a(&link);
        if self.visited.contains(&h) || link == self.next_link {
            return false;
        }
        self.visited.push(h);
        self.next_link = link;
        true
    }
}

impl Cursor {
    /// A cursor for the first poll, starting at `since`.
    pub fn starting_at(since: Timestamp) -> Self {
        Cursor { v: VERSION, watermark: since.canonical(), seen: BTreeMap::new(), scan: None, top_limit: None }
    }

    /// Reads a cursor the host stored.
    pub fn decode(text: &str) -> Result<Self, ConnectorError> {
        let bad = |why: String| {
            ConnectorError::config(
                "cursor",
                format!("the stored cursor cannot be used ({why}); delete this tenant's state to backfill again"),
            )
        };
        let cursor: Cursor = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if cursor.v != VERSION {
            return Err(bad(format!("format version {} is not {VERSION}", cursor.v)));
        }
        Timestamp::parse(&cursor.watermark).map_err(|e| bad(e.to_string()))?;
        Ok(cursor)
    }

    /// The text to hand to the host.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("cursor serialises")
    }

    /// The watermark as an instant.
    pub fn watermark(&self) -> Timestamp {
        Timestamp::parse(&self.watermark).expect("validated on decode and construction")
    }

    /// Whether a record (id, version) must be emitted; records older than the watermark (a server
    /// that ignored `$filter`) and records already emitted under this or a newer version are not
    /// (a page listing one id twice must not emit a duplicate, nor an older version after a newer).
    pub fn admit(&self, id: &str, version: Timestamp) -> bool {
        if version < self.watermark() {
            return false;
        }
        let covered = |m: &BTreeMap<String, String>| {
            m.get(id).and_then(|v| Timestamp::parse(v).ok()).is_some_and(|v| v >= version)
        };
        !(covered(&self.seen) || self.scan.as_ref().is_some_and(|s| covered(&s.emitted)))
    }

    /// Records that (id, version) was emitted in the scan in progress.
    pub fn record(&mut self, id: &str, version: Timestamp) {
        if let Some(scan) = self.scan.as_mut() {
            scan.emitted.insert(id.to_string(), version.canonical());
        }
    }

    /// Ends the scan. The next one starts `lookback_secs` before the newest version seen, because
    /// Microsoft can list a record minutes after its `lastUpdateDateTime`; the records re-read in
    /// that overlap are in `seen` and are not emitted again. The watermark never moves back, and
    /// never past `now`: one record stamped in the future (a skewed clock, a bad record) must not
    /// make every record after it invisible.
    pub fn finish_scan(&mut self, lookback_secs: i64, now: Timestamp) {
        let Some(scan) = self.scan.take() else { return };
        let old = self.watermark();
        self.seen.extend(scan.emitted);
        let newest = self.seen.values().filter_map(|v| Timestamp::parse(v).ok()).max();
        let next = match newest {
            Some(n) => n.min(now).minus_seconds(lookback_secs).max(old),
            None => old,
        };
        self.seen.retain(|_, v| Timestamp::parse(v).is_ok_and(|t| t >= next));
        self.watermark = next.canonical();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn boundary_records_are_not_emitted_twice_but_newer_versions_are() {
        let mut c = Cursor::starting_at(ts("2024-01-01T00:00:00Z"));
        c.scan =
            Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false, visited: Vec::new() });
        assert!(c.admit("a", ts("2024-01-02T00:00:00.5Z")));
        c.record("a", ts("2024-01-02T00:00:00.5Z"));
        c.record("b", ts("2024-01-02T00:00:00.50Z"));
        c.record("c", ts("2024-01-01T12:00:00Z"));
        assert!(!c.admit("a", ts("2024-01-02T00:00:00.5000000Z")), "same version, other spelling");
        c.finish_scan(0, ts("2030-01-01T00:00:00Z"));
        assert_eq!(c.watermark, "2024-01-02T00:00:00.5000000Z");
        assert_eq!(c.seen.keys().collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(c.scan.is_none());
        // Next scan: `ge` returns a and b again; they are dropped. A new record at the same instant is kept.
        assert!(!c.admit("a", ts("2024-01-02T00:00:00.5Z")));
        assert!(!c.admit("b", ts("2024-01-02T00:00:00.5Z")));
        assert!(c.admit("d", ts("2024-01-02T00:00:00.5Z")));
        assert!(c.admit("a", ts("2024-01-02T00:00:00.5000001Z")), "an update is a new version");
        assert!(!c.admit("c", ts("2024-01-01T12:00:00Z")), "older than the watermark: the server ignored $filter");
    }

    #[test]
    fn an_empty_scan_keeps_watermark_and_seen() {
        let mut c = Cursor::starting_at(ts("2024-01-01T00:00:00Z"));
        c.seen.insert("x".into(), c.watermark.clone());
        c.scan =
            Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false, visited: Vec::new() });
        c.finish_scan(600, ts("2030-01-01T00:00:00Z"));
        assert_eq!(c.watermark, "2024-01-01T00:00:00.0000000Z");
        assert_eq!(c.seen.len(), 1);
    }

    #[test]
    fn lookback_overlap_rereads_without_re_emitting_and_never_moves_back() {
        let mut c = Cursor::starting_at(ts("2024-01-01T00:00:00Z"));
        c.scan =
            Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false, visited: Vec::new() });
        c.record("old", ts("2024-01-01T11:00:00Z"));
        c.record("a", ts("2024-01-01T11:55:00Z"));
        c.record("b", ts("2024-01-01T12:00:00Z"));
        c.finish_scan(600, ts("2030-01-01T00:00:00Z"));
        assert_eq!(c.watermark, "2024-01-01T11:50:00.0000000Z");
        assert_eq!(c.seen.keys().collect::<Vec<_>>(), vec!["a", "b"], "only records inside the overlap are kept");
        assert!(!c.admit("a", ts("2024-01-01T11:55:00Z")));
        assert!(c.admit("late", ts("2024-01-01T11:52:00Z")), "listed late, inside the overlap: delivered");
        // A scan that sees only old records cannot pull the watermark back.
        c.scan =
            Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false, visited: Vec::new() });
        c.finish_scan(86_400, ts("2030-01-01T00:00:00Z"));
        assert_eq!(c.watermark, "2024-01-01T11:50:00.0000000Z");
    }

    #[test]
    fn a_record_from_the_future_does_not_push_the_watermark_past_now() {
        let mut c = Cursor::starting_at(ts("2026-12-03T00:00:00Z"));
        c.scan =
            Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false, visited: Vec::new() });
        c.record("1", ts("2026-12-03T20:00:00Z"));
        c.record("2", ts("9999-12-31T23:59:59Z"));
        c.finish_scan(600, ts("2026-12-03T21:00:00Z"));
        assert_eq!(c.watermark, "2026-12-03T20:50:00.0000000Z");
        assert!(c.admit("3", ts("2026-12-03T20:55:00Z")), "a record after the bad one still arrives");
        assert!(!c.admit("2", ts("9999-12-31T23:59:59Z")), "the future one is not emitted again");
    }

    #[test]
    fn a_repeated_or_older_version_in_one_scan_is_not_emitted() {
        let mut c = Cursor::starting_at(ts("2026-12-03T00:00:00Z"));
        c.scan =
            Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false, visited: Vec::new() });
        let (v0, v1) = (ts("2026-12-03T01:00:00Z"), ts("2026-12-03T02:00:00Z"));
        assert!(c.admit("1", v0));
        c.record("1", v0);
        assert!(c.admit("1", v1));
        c.record("1", v1);
        assert!(!c.admit("1", v0), "older than what was emitted");
        assert!(!c.admit("1", v1), "the same version twice");
    }

    #[test]
    fn a_next_link_cycle_is_detected() {
        let mut s = Scan { next_link: "A".into(), emitted: BTreeMap::new(), degraded: false, visited: Vec::new() };
        assert!(s.follow("B".into()));
        assert!(s.follow("C".into()));
        assert!(!s.follow("B".into()), "B again: a loop");
        assert!(!s.follow("C".into()), "the same link twice");
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c, "the stored hash is stable");
    }

    #[test]
    fn round_trip_and_bad_cursors() {
        let c = Cursor::starting_at(ts("2024-01-01T00:00:00Z"));
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(matches!(Cursor::decode("{"), Err(ConnectorError::Config { key, .. }) if key == "cursor"));
        assert!(matches!(
            Cursor::decode(r#"{"v":9,"watermark":"2024-01-01T00:00:00Z"}"#),
            Err(ConnectorError::Config { .. })
        ));
        assert!(matches!(Cursor::decode(r#"{"v":1,"watermark":"nope"}"#), Err(ConnectorError::Config { .. })));
    }
}
