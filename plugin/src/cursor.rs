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
    /// that ignored `$filter`) and records already emitted under this version are not.
    pub fn admit(&self, id: &str, version: Timestamp) -> bool {
        if version < self.watermark() {
            return false;
        }
        let v = version.canonical();
        let seen = |m: &BTreeMap<String, String>| m.get(id) == Some(&v);
        !(seen(&self.seen) || self.scan.as_ref().is_some_and(|s| seen(&s.emitted)))
    }

    /// Records that (id, version) was emitted in the scan in progress.
    pub fn record(&mut self, id: &str, version: Timestamp) {
        if let Some(scan) = self.scan.as_mut() {
            scan.emitted.insert(id.to_string(), version.canonical());
        }
    }

    /// Ends the scan. The next one starts `lookback_secs` before the newest version seen, because
    /// Microsoft can list a record minutes after its `lastUpdateDateTime`; the records re-read in
    /// that overlap are in `seen` and are not emitted again. The watermark never moves back.
    pub fn finish_scan(&mut self, lookback_secs: i64) {
        let Some(scan) = self.scan.take() else { return };
        let old = self.watermark();
        self.seen.extend(scan.emitted);
        let newest = self.seen.values().filter_map(|v| Timestamp::parse(v).ok()).max();
        let next = match newest {
            Some(n) => n.minus_seconds(lookback_secs).max(old),
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
        c.scan = Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false });
        assert!(c.admit("a", ts("2024-01-02T00:00:00.5Z")));
        c.record("a", ts("2024-01-02T00:00:00.5Z"));
        c.record("b", ts("2024-01-02T00:00:00.50Z"));
        c.record("c", ts("2024-01-01T12:00:00Z"));
        assert!(!c.admit("a", ts("2024-01-02T00:00:00.5000000Z")), "same version, other spelling");
        c.finish_scan(0);
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
        c.scan = Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false });
        c.finish_scan(600);
        assert_eq!(c.watermark, "2024-01-01T00:00:00.0000000Z");
        assert_eq!(c.seen.len(), 1);
    }

    #[test]
    fn lookback_overlap_rereads_without_re_emitting_and_never_moves_back() {
        let mut c = Cursor::starting_at(ts("2024-01-01T00:00:00Z"));
        c.scan = Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false });
        c.record("old", ts("2024-01-01T11:00:00Z"));
        c.record("a", ts("2024-01-01T11:55:00Z"));
        c.record("b", ts("2024-01-01T12:00:00Z"));
        c.finish_scan(600);
        assert_eq!(c.watermark, "2024-01-01T11:50:00.0000000Z");
        assert_eq!(c.seen.keys().collect::<Vec<_>>(), vec!["a", "b"], "only records inside the overlap are kept");
        assert!(!c.admit("a", ts("2024-01-01T11:55:00Z")));
        assert!(c.admit("late", ts("2024-01-01T11:52:00Z")), "listed late, inside the overlap: delivered");
        // A scan that sees only old records cannot pull the watermark back.
        c.scan = Some(Scan { next_link: String::new(), emitted: BTreeMap::new(), degraded: false });
        c.finish_scan(86_400);
        assert_eq!(c.watermark, "2024-01-01T11:50:00.0000000Z");
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
