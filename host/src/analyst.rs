//! Analyst actions for one named tenant: update an incident, comment on it, run a hunting query.
//! Each runs in a fresh sandbox of the tenant's connector; errors are scrubbed of the tenant's secrets.

use crate::bindings::{ConnectorError, HuntingResult, IncidentUpdate, UpdatePath, UpdateResult};
use crate::output::{Producer, incident_line};
use crate::poll::{explain, redact_error};
use crate::runtime::{PreparedTenant, Runtime, SandboxError};
use serde_json::value::RawValue;

/// Why an action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The sandbox stopped the connector (limit, trap, egress).
    #[error("{0}")]
    Sandbox(#[from] SandboxError),
    /// The connector or the service refused, typed.
    #[error("{}", explain(.0))]
    Connector(ConnectorError),
}

impl ActionError {
    /// Short machine-readable kind, e.g. `conflict`.
    pub fn kind(&self) -> &'static str {
        match self {
            ActionError::Sandbox(e) => e.kind(),
            ActionError::Connector(e) => crate::poll::PollError::Connector(e.clone()).kind(),
        }
    }
}

fn connector_result<T>(
    tenant: &PreparedTenant,
    r: Result<Result<T, ConnectorError>, SandboxError>,
) -> Result<T, ActionError> {
    r?.map_err(|e| ActionError::Connector(redact_error(e, &tenant.redactor)))
}

/// Applies `update` to incident `id`.
pub async fn update_incident(
    runtime: &Runtime,
    tenant: &PreparedTenant,
    id: &str,
    update: &IncidentUpdate,
) -> Result<UpdateResult, ActionError> {
    let mut session = runtime.session(tenant).await?;
    connector_result(tenant, session.update_incident(id, update).await)
}

/// Adds `comment` to incident `id`.
pub async fn add_comment(
    runtime: &Runtime,
    tenant: &PreparedTenant,
    id: &str,
    comment: &str,
) -> Result<UpdateResult, ActionError> {
    let mut session = runtime.session(tenant).await?;
    connector_result(tenant, session.add_incident_comment(id, comment).await)
}

/// Runs a KQL query.
pub async fn hunt(
    runtime: &Runtime,
    tenant: &PreparedTenant,
    query: &str,
    timespan: Option<&str>,
) -> Result<HuntingResult, ActionError> {
    let mut session = runtime.session(tenant).await?;
    connector_result(tenant, session.run_hunting_query(query, timespan).await)
}

/// The WIT name of a hunting failure, e.g. `quota-exceeded`.
pub fn query_failure_name(kind: crate::bindings::QueryFailure) -> &'static str {
    use crate::bindings::QueryFailure as Q;
    match kind {
        Q::InvalidQuery => "invalid-query",
        Q::QuotaExceeded => "quota-exceeded",
        Q::Timeout => "timeout",
        Q::TooLarge => "too-large",
        Q::Failed => "failed",
    }
}

/// The wire name of an update path.
pub fn path_name(path: UpdatePath) -> &'static str {
    match path {
        UpdatePath::MicrosoftGraph => "microsoft-graph",
        UpdatePath::DefenderApi => "defender-api",
    }
}

/// An update's outcome as one JSON object; `incident` is the record in the NDJSON output schema.
pub fn update_json(tenant: &str, producer: &Producer, r: &UpdateResult) -> anyhow::Result<String> {
    // Built by hand: the incident line is already JSON and must not be parsed again.
    let incident = match &r.incident {
        Some(i) => incident_line(tenant, producer, i)?,
        None => "null".to_string(),
    };
    let text = |s: &str| serde_json::Value::from(s).to_string();
    Ok(format!(
        r#"{{"tenant":{},"path":{},"reason":{},"warning":{},"incident":{incident}}}"#,
        text(tenant),
        text(path_name(r.path)),
        text(&r.reason),
        r.warning.as_deref().map(text).unwrap_or_else(|| "null".into()),
    ))
}

/// An error as one JSON object (`kind`, `message`, and the typed details a script acts on).
pub fn error_json(tenant: &str, e: &ActionError) -> String {
    let mut v = serde_json::json!({ "tenant": tenant, "error": { "kind": e.kind(), "message": e.to_string() } });
    if let ActionError::Connector(c) = e {
        let details = &mut v["error"];
        match c {
            ConnectorError::Conflict(c) => {
                details["expected_version"] = c.expected_version.clone().into();
                details["current_version"] = c.current_version.clone().into();
            }
            ConnectorError::InvalidRequest(i) => details["field"] = i.field.clone().into(),
            ConnectorError::Permission(p) => details["permission"] = p.permission.clone().into(),
            ConnectorError::Query(q) => {
                details["failure"] = query_failure_name(q.kind).into();
                details["request_id"] = q.request_id.clone().into();
                details["retry_after_ms"] = q.retry_after_ms.into();
                details["status"] = q.status.into();
            }
            ConnectorError::Throttled(t) => details["retry_after_ms"] = t.retry_after_ms.into(),
            _ => {}
        }
    }
    v.to_string()
}

/// A hunting result as one JSON object: columns, rows (the service's own objects, their text kept
/// exactly: numbers beyond f64 or lone surrogates are never re-parsed), truncated.
pub fn hunting_json(tenant: &str, r: &HuntingResult) -> String {
    let text = |s: &str| serde_json::Value::from(s).to_string();
    let columns: Vec<String> =
        r.columns.iter().map(|c| format!(r#"{{"name":{},"type":{}}}"#, text(&c.name), text(&c.type_))).collect();
    let rows: Vec<String> = r.rows.iter().map(|row| crate::output::compact_json(row)).collect();
    format!(
        r#"{{"tenant":{},"columns":[{}],"rows":[{}],"truncated":{}}}"#,
        text(tenant),
        columns.join(","),
        rows.join(","),
        r.truncated
    )
}

/// Widest a table cell gets before it is cut.
const CELL_MAX: usize = 48;

fn cell(value: Option<&serde_json::Value>) -> String {
    let text = match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    // Server text must not move the cursor or colour the operator's terminal.
    let text: String = text.chars().map(|c| if crate::poll::is_unsafe_char(c) { ' ' } else { c }).collect();
    if text.chars().count() > CELL_MAX {
        format!("{}…", text.chars().take(CELL_MAX - 1).collect::<String>())
    } else {
        text
    }
}

fn raw_cell(value: Option<&RawValue>) -> String {
    match value.map(RawValue::get) {
        None | Some("null") => String::new(),
        Some(text) if text.starts_with('"') => {
            cell(Some(&serde_json::from_str::<serde_json::Value>(text).unwrap_or_else(|_| text.into())))
        }
        Some(text) => cell(Some(&serde_json::Value::String(text.to_string()))),
    }
}

/// A hunting result as a text table for a terminal.
pub fn hunting_table(r: &HuntingResult) -> String {
    if r.columns.is_empty() {
        return format!("{} row(s)\n", r.rows.len());
    }
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            // Raw values: a number beyond f64 is shown as written, not dropped.
            let v: std::collections::HashMap<String, &RawValue> = serde_json::from_str(row).unwrap_or_default();
            r.columns.iter().map(|c| raw_cell(v.get(&c.name).copied())).collect()
        })
        .collect();
    let mut widths: Vec<usize> = r.columns.iter().map(|c| c.name.chars().count().min(CELL_MAX)).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(r.columns.iter().map(|c| cell(Some(&serde_json::Value::String(c.name.clone())))).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row));
    }
    out.push_str(&format!(
        "{} row(s){}\n",
        r.rows.len(),
        if r.truncated { "; the service's row cap was reached: narrow the query or the timespan" } else { "" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::HuntingColumn;

    #[test]
    fn rows_keep_their_exact_text_in_json_and_show_in_tables() {
        let r = HuntingResult {
            columns: vec![HuntingColumn { name: "N".into(), type_: "Real".into() }],
            rows: vec![r#"{"N":1e400}"#.into(), r#"{"N":0.10000000000000000000001}"#.into(), "{\"N\": 1.50}".into()],
            truncated: false,
        };
        assert_eq!(
            hunting_json("t", &r),
            r#"{"tenant":"t","columns":[{"name":"N","type":"Real"}],"rows":[{"N":1e400},{"N":0.10000000000000000000001},{"N": 1.50}],"truncated":false}"#
        );
        assert_eq!(
            hunting_table(&r),
            "N\n-------------------------\n1e400\n0.10000000000000000000001\n1.50\n3 row(s)\n"
        );
        let empty = HuntingResult { columns: vec![], rows: vec![], truncated: false };
        assert_eq!(hunting_table(&empty), "0 row(s)\n");
    }

    #[test]
    fn tables_align_cut_long_cells_and_blank_control_characters() {
        let r = HuntingResult {
            columns: vec![
                HuntingColumn { name: "Timestamp".into(), type_: "DateTime".into() },
                HuntingColumn { name: "N".into(), type_: "Int".into() },
            ],
            rows: vec![
                r#"{"Timestamp":"2024-03-26T09:39:50.7688641Z","N":7}"#.into(),
                format!(r#"{{"Timestamp":"a\u001b[31mb{}","N":null}}"#, "x".repeat(60)),
            ],
            truncated: false,
        };
        let t = hunting_table(&r);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], format!("Timestamp{}  N", " ".repeat(39)));
        assert_eq!(lines[2], format!("2024-03-26T09:39:50.7688641Z{}  7", " ".repeat(20)));
        assert_eq!(lines[3], format!("a [31mb{}…", "x".repeat(40)));
        assert_eq!(lines[4], "2 row(s)");
    }
}
