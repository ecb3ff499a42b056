//! Per-tenant health, kept beside the cursors: what an operator checks at 3 a.m.

use serde::{Deserialize, Serialize};

/// Health of one tenant after its latest poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// When the latest poll ended.
    pub last_poll: Option<String>,
    /// When a poll last ended without error.
    pub last_success: Option<String>,
    /// Newest `lastUpdateDateTime` ever written for this tenant.
    pub newest_seen: Option<String>,
    /// Seconds between the latest poll and `newest_seen`.
    pub lag_seconds: Option<i64>,
    /// Incidents written by the latest poll.
    pub fetched_incidents: usize,
    /// Alerts written by the latest poll.
    pub fetched_alerts: usize,
    /// Failed attempts retried in the latest poll.
    pub retries: u32,
    /// Why the latest poll read data in a fallback mode.
    pub degraded: Option<String>,
    /// Polls in a row that ended with an error.
    pub consecutive_failures: u32,
    /// Polls ever ended by the sandbox (a limit, a trap, refused egress); each started fresh after.
    pub sandbox_failures: u32,
    /// The most recent error.
    pub last_error: Option<HealthError>,
    /// The connector version that ran the latest poll.
    pub connector: Option<String>,
}

/// An error as remembered in health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthError {
    /// Kind: config, auth, permission, throttled, transient, invalid-response, denied-by-sandbox,
    /// trap, egress-denied, memory-limit, cpu-limit, call-timeout, request-limit, concurrency-limit,
    /// response-size-limit, header-size-limit, log-limit, load, timeout, output, checkpoint, record.
    pub kind: String,
    /// The sentence.
    pub message: String,
    /// When.
    pub at: String,
}

impl Health {
    /// Seconds since the latest poll ended, when that is more than `stale_after_secs`: the host
    /// stopped polling this tenant (stopped, stuck, or it no longer has it in its config).
    pub fn stale_for(&self, now: chrono::DateTime<chrono::Utc>, stale_after_secs: i64) -> Option<i64> {
        let last = chrono::DateTime::parse_from_rfc3339(self.last_poll.as_deref()?).ok()?;
        let age = (now - last.with_timezone(&chrono::Utc)).num_seconds();
        (age > stale_after_secs).then_some(age)
    }
}

/// A table of tenants' health; a tenant not polled for `stale_after_secs` is shown as STALE.
pub fn render(rows: &[(String, Option<Health>)], now: chrono::DateTime<chrono::Utc>, stale_after_secs: i64) -> String {
    let mut out = format!(
        "{:<20} {:<20} {:<20} {:>8} {:>9} {:>7}  {}\n",
        "tenant", "last success", "newest record", "lag", "incidents", "alerts", "state"
    );
    for (tenant, health) in rows {
        let Some(h) = health else {
            out.push_str(&format!(
                "{tenant:<20} {:<20} {:<20} {:>8} {:>9} {:>7}  never polled\n",
                "-", "-", "-", "-", "-"
            ));
            continue;
        };
        let state = match (&h.last_error, h.consecutive_failures, &h.degraded) {
            _ if h.stale_for(now, stale_after_secs).is_some() => format!(
                "STALE: not polled for {} min (is the host running? its log says why it stopped)",
                h.stale_for(now, stale_after_secs).unwrap_or_default() / 60
            ),
            (Some(e), n, _) if n > 0 => format!("FAILING ({n} in a row): {}: {}", e.kind, e.message),
            (_, _, Some(why)) => format!("degraded: {why}"),
            _ => "ok".to_string(),
        };
        let lag = h.lag_seconds.map(|s| format!("{s}s")).unwrap_or_else(|| "-".into());
        let newest = h.newest_seen.as_deref().map(|n| n.get(..19).unwrap_or(n)).unwrap_or("-");
        out.push_str(&format!(
            "{tenant:<20} {:<20} {newest:<20} {lag:>8} {:>9} {:>7}  {state}\n",
            h.last_success.as_deref().unwrap_or("never"),
            h.fetched_incidents,
            h.fetched_alerts,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_not_polled_for_longer_than_the_limit_is_stale() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let h =
            |last: &str| Health { last_poll: Some(last.into()), last_success: Some(last.into()), ..Health::default() };
        assert_eq!(h("2026-12-04T11:50:00Z").stale_for(now, 300), Some(600));
        assert_eq!(h("2026-12-04T11:58:00Z").stale_for(now, 300), None);
        let table = render(
            &[("old".into(), Some(h("2026-12-04T11:50:00Z"))), ("new".into(), Some(h("2026-12-04T11:58:00Z")))],
            now,
            300,
        );
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].ends_with("STALE: not polled for 10 min (is the host running? its log says why it stopped)"),
            "{table}"
        );
        assert!(lines[2].ends_with("  ok"), "{table}");
    }
}
