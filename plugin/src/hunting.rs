//! Advanced hunting: `POST /security/runHuntingQuery` with the user's KQL untouched, typed results,
//! and the documented failure modes (quota 429, backend timeouts with an empty message, result size).

use crate::error::{ConnectorError, QueryFailure};
use crate::http::Response;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Graph app role that allows hunting queries.
pub const ROLE: &str = "ThreatHunting.Read.All";
/// Path below the Graph base URL.
pub const PATH: &str = "/v1.0/security/runHuntingQuery";
/// Most rows the service returns for one query (documented for the hunting APIs).
pub const ROW_CAP: usize = 100_000;

/// One column of the result schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Kusto type name as the service reports it (`DateTime`, `String`, ...).
    pub kind: String,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuntingResult {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// Each row as the JSON object text the service sent.
    pub rows: Vec<String>,
    /// The service's row cap was reached: more rows may exist (narrow the query or the timespan).
    pub truncated: bool,
}

/// The request body: the KQL exactly as given, and the timespan as its own parameter.
pub fn request_body(query: &str, timespan: Option<&str>) -> Result<serde_json::Value, ConnectorError> {
    if query.trim().is_empty() {
        return Err(ConnectorError::invalid_request("query", "the KQL query is empty"));
    }
    let mut body = serde_json::json!({ "Query": query });
    if let Some(ts) = timespan {
        let ts = ts.trim();
        if !is_timespan(ts) {
            let short = ts.len() > 1 && ts[..ts.len() - 1].chars().all(|c| c.is_ascii_digit());
            let n = if short { &ts[..ts.len() - 1] } else { "" };
            let hint = match ts.chars().last() {
                Some('d') if short => format!(" (for `{ts}` write P{n}D)"),
                Some(u @ ('h' | 'm' | 's')) if short => format!(" (for `{ts}` write PT{n}{})", u.to_ascii_uppercase()),
                _ => String::new(),
            };
            return Err(ConnectorError::invalid_request(
                "timespan",
                format!(
                    "`{ts}` is not an ISO 8601 timespan{hint}: use a duration such as P7D or PT12H, an instant, or an interval such as 2024-02-01T08:00:00Z/P30D"
                ),
            ));
        }
        body["Timespan"] = ts.into();
    }
    Ok(body)
}

/// An ISO 8601 duration: `P` then date parts (`nY nM nW nD`), optionally `T` and time parts
/// (`nH nM nS`, seconds may be fractional); at least one part.
fn is_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else { return false };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let parts = |text: &str, units: &[char], fraction: bool| -> Option<usize> {
        let (mut n, mut digits, mut seen) = (0, String::new(), Vec::new());
        for c in text.chars() {
            if c.is_ascii_digit() || (fraction && c == '.' && !digits.is_empty() && !digits.contains('.')) {
                digits.push(c);
            } else if units.contains(&c) && !digits.is_empty() && !seen.contains(&c) {
                if digits.contains('.') && c != 'S' {
                    return None;
                }
                seen.push(c);
                digits.clear();
                n += 1;
            } else {
                return None;
            }
        }
        digits.is_empty().then_some(n)
    };
    let Some(d) = parts(date, &['Y', 'M', 'W', 'D'], false) else { return false };
    match time {
        None => d > 0,
        Some(t) => parts(t, &['H', 'M', 'S'], true).is_some_and(|n| n > 0),
    }
}

/// A timespan the service accepts: a duration, an instant, or `start/end` of those (not two durations).
pub fn is_timespan(s: &str) -> bool {
    let one = |p: &str| is_duration(p) || crate::time::Timestamp::parse(p).is_ok();
    match s.split_once('/') {
        None => one(s),
        Some((a, b)) => one(a) && one(b) && !(is_duration(a) && is_duration(b)),
    }
}

#[derive(Deserialize)]
struct RawColumn {
    #[serde(alias = "Name")]
    name: Option<String>,
    #[serde(alias = "Type", rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct RawResult<'a> {
    #[serde(alias = "Schema")]
    schema: Option<Vec<RawColumn>>,
    #[serde(alias = "Results", borrow)]
    results: Option<Vec<&'a RawValue>>,
}

/// Parses a 200 answer. Rows stay the service's own JSON text (no re-serialisation).
pub fn parse_result(body: &[u8]) -> Result<HuntingResult, ConnectorError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ConnectorError::invalid(200, format!("the hunting result is not UTF-8: {e}")))?;
    let raw: RawResult = serde_json::from_str(text)
        .map_err(|e| ConnectorError::invalid(200, format!("the hunting result is not valid JSON: {e}")))?;
    let schema = raw.schema.ok_or_else(|| ConnectorError::invalid(200, "the hunting result has no `schema`"))?;
    let results = raw.results.ok_or_else(|| ConnectorError::invalid(200, "the hunting result has no `results`"))?;
    let columns = schema
        .into_iter()
        .enumerate()
        .map(|(i, c)| match c.name.filter(|n| !n.is_empty()) {
            Some(name) => Ok(Column { name, kind: c.kind.unwrap_or_default() }),
            None => Err(ConnectorError::invalid(200, format!("column {} of the hunting result has no name", i + 1))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::with_capacity(results.len());
    for (i, row) in results.into_iter().enumerate() {
        if !row.get().trim_start().starts_with('{') {
            return Err(ConnectorError::invalid(
                200,
                format!("row {} of the hunting result is not a JSON object", i + 1),
            ));
        }
        // A lone UTF-16 surrogate (Windows file names have them) is not valid text anywhere
        // downstream: U+FFFD, as in incident records.
        rows.push(crate::records::repair_lone_surrogates(row.get()).into_owned());
    }
    Ok(HuntingResult { truncated: rows.len() >= ROW_CAP, columns, rows })
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorInner,
}

#[derive(Deserialize, Default)]
struct ErrorInner {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "innerError")]
    inner: Option<Inner>,
}

#[derive(Deserialize, Default)]
struct Inner {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
}

/// Types a non-200 answer other than 401/403 (those are the caller's: token refresh, permission).
pub fn classify_failure(resp: &Response) -> ConnectorError {
    let body: ErrorBody = serde_json::from_slice(&resp.body).unwrap_or_default();
    let err = body.error;
    let request_id = err
        .inner
        .and_then(|i| i.request_id)
        .or_else(|| resp.header("request-id").map(str::to_string))
        .filter(|id| !id.is_empty());
    let said = if err.message.trim().is_empty() {
        String::new()
    } else {
        format!(" (the service said: {})", err.message.trim())
    };
    let lower = err.message.to_ascii_lowercase();
    // A gateway's HTML page is not the service's own empty answer to a query past its time.
    let foreign = !resp.body.iter().all(u8::is_ascii_whitespace)
        && serde_json::from_slice::<serde_json::Value>(&resp.body).is_err();
    let status = resp.status;
    let retry_after_ms = resp.header("retry-after").and_then(crate::graph::parse_retry_after_ms);
    let (kind, message) = match status {
        429 => (
            QueryFailure::QuotaExceeded,
            format!(
                "the tenant's advanced hunting quota is used up (calls per minute or CPU per 15 minutes); wait and run the query again, or make it cheaper{said}"
            ),
        ),
        400 if lower.contains("result size") => (
            QueryFailure::TooLarge,
            format!(
                "the result is larger than advanced hunting returns; project fewer columns or narrow the timespan{said}"
            ),
        ),
        400 if lower.contains("exceeded the allowed limits") || lower.contains("preempted") => (
            QueryFailure::QuotaExceeded,
            format!("the query used more CPU or memory than the tenant's allocation; optimise it and try again{said}"),
        ),
        400 => (QueryFailure::InvalidQuery, format!("the service rejected the query{said}")),
        504 | 408 => (
            QueryFailure::Timeout,
            format!(
                "the query ran out of time in the service (HTTP {status}); narrow the timespan or add filters early in the query{said}"
            ),
        ),
        500 | 502 | 503 if said.is_empty() && !foreign => (
            QueryFailure::Timeout,
            format!(
                "the service failed without a message (HTTP {status}), which advanced hunting does when a query runs past its time limit; narrow the timespan or the query, then retry"
            ),
        ),
        s if s >= 500 => {
            (QueryFailure::Failed, format!("the service failed (HTTP {s}{}); retry later{said}", code(&err.code)))
        }
        s => (QueryFailure::Failed, format!("unexpected HTTP {s}{}{said}", code(&err.code))),
    };
    ConnectorError::Query { kind, status, request_id, retry_after_ms, message }
}

fn code(code: &str) -> String {
    if code.is_empty() { String::new() } else { format!(" {code}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/../../shared/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn documented_requests_are_built_exactly() {
        let doc: serde_json::Value = serde_json::from_str(&fixture("hunting-query-request.json")).unwrap();
        let kql = doc["Query"].as_str().unwrap();
        assert_eq!(request_body(kql, None).unwrap(), doc);
        let doc: serde_json::Value = serde_json::from_str(&fixture("hunting-query-request-timespan.json")).unwrap();
        assert_eq!(request_body("DeviceProcessEvents", Some("P90D")).unwrap(), doc);
        assert!(
            matches!(request_body(" ", None).unwrap_err(), ConnectorError::InvalidRequest { field, .. } if field == "query")
        );
        assert!(
            matches!(request_body("x", Some("last week")).unwrap_err(), ConnectorError::InvalidRequest { field, .. } if field == "timespan")
        );
        for good in [
            "P30D",
            "PT12H",
            "P1DT2H30M",
            "PT0.5S",
            "P2W",
            "2024-02-01T08:00:00Z",
            "2024-02-01T08:00:00Z/2024-02-15T08:00:00Z",
            "P30D/2024-02-15T08:00:00Z",
            "2024-02-01T08:00:00Z/P30D",
        ] {
            assert!(is_timespan(good), "{good}");
        }
        for bad in ["7d", "P7", "P", "PT", "P1.5D", "P30D/P1D", "30D", "P1DD", "2024-02-01"] {
            assert!(!is_timespan(bad), "{bad}");
        }
        match request_body("x", Some("7d")).unwrap_err() {
            ConnectorError::InvalidRequest { message, .. } => {
                assert!(message.starts_with("`7d` is not an ISO 8601 timespan (for `7d` write P7D)"), "{message}")
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn documented_results_parse_exactly_including_the_legacy_casing() {
        let r = parse_result(fixture("hunting-query-response.json").as_bytes()).unwrap();
        let names: Vec<_> = r.columns.iter().map(|c| (c.name.as_str(), c.kind.as_str())).collect();
        assert_eq!(names, [("Timestamp", "DateTime"), ("FileName", "String"), ("InitiatingProcessFileName", "String")]);
        assert_eq!(r.rows.len(), 2);
        let row: serde_json::Value = serde_json::from_str(&r.rows[1]).unwrap();
        assert_eq!(
            row,
            serde_json::json!({"Timestamp":"2024-03-26T09:39:49.4353788Z","FileName":"cmd.exe","InitiatingProcessFileName":"powershell.exe"})
        );
        assert!(!r.truncated);
        let legacy = parse_result(fixture("legacy/advanced-hunting-response.json").as_bytes()).unwrap();
        assert!(!legacy.columns.is_empty() && !legacy.rows.is_empty());
        assert!(parse_result(b"{\"schema\":[]}").is_err());
        assert!(parse_result(b"{\"schema\":[],\"results\":[1]}").is_err());
    }

    #[test]
    fn failures_are_typed_with_their_request_id() {
        let r = Response {
            status: 429,
            headers: vec![("Retry-After".into(), "30".into())],
            body: fixture("error-429.json").into_bytes(),
        };
        match classify_failure(&r) {
            ConnectorError::Query { kind, status, request_id, retry_after_ms, .. } => {
                assert_eq!((kind, status, retry_after_ms), (QueryFailure::QuotaExceeded, 429, Some(30_000)));
                assert!(request_id.is_some());
            }
            e => panic!("{e:?}"),
        }
        let r = Response {
            status: 504,
            headers: vec![("request-id".into(), "abc".into())],
            body: br#"{"error":{"code":"","message":""}}"#.to_vec(),
        };
        assert!(
            matches!(classify_failure(&r), ConnectorError::Query { kind: QueryFailure::Timeout, status: 504, request_id: Some(id), .. } if id == "abc")
        );
        let r = Response { status: 500, headers: vec![], body: b"".to_vec() };
        assert!(matches!(classify_failure(&r), ConnectorError::Query { kind: QueryFailure::Timeout, .. }));
        let r = Response {
            status: 400,
            headers: vec![],
            body:
                br#"{"error":{"code":"BadRequest","message":"Query execution has exceeded the allowed result size"}}"#
                    .to_vec(),
        };
        assert!(matches!(classify_failure(&r), ConnectorError::Query { kind: QueryFailure::TooLarge, .. }));
        let r = Response {
            status: 400,
            headers: vec![],
            body: br#"{"error":{"code":"BadRequest","message":"Failed to resolve table 'Nope'"}}"#.to_vec(),
        };
        assert!(
            matches!(classify_failure(&r), ConnectorError::Query { kind: QueryFailure::InvalidQuery, message, .. } if message.ends_with("(the service said: Failed to resolve table 'Nope')"))
        );
    }
}
