//! Graph `POST /v1.0/security/runHuntingQuery`: the configured answer for the query, the row cap,
//! and the permission check. Quota and timeout failures are injected with `Route::Hunting` faults.

use axum::response::Response;
use serde_json::{Value, json};

use crate::errors::{ODATA_JSON, add_graph_headers, graph_error, response};
use crate::graph::{authorize, request_ids};
use crate::server::Incoming;
use crate::state::Shared;

/// Most rows one query returns (documented for the hunting APIs).
pub const ROW_CAP: usize = 100_000;

/// `POST /v1.0/security/runHuntingQuery`.
pub(crate) fn run(shared: &Shared, req: &Incoming) -> Response {
    let ids = request_ids(shared, req);
    if req.method != "POST" {
        return graph_error(405, "BadRequest", "runHuntingQuery is an action: use POST.", false, &ids);
    }
    let token = match authorize(shared, req, &ids, &["ThreatHunting.Read.All"]) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let body: Value = match serde_json::from_str(&req.body) {
        Ok(v) => v,
        Err(e) => {
            return graph_error(400, "BadRequest", &format!("The request body is not valid JSON: {e}"), false, &ids);
        }
    };
    // The docs send `Query`/`Timespan`; the schema's parameters are `query`/`timespan`: accept both.
    let field = |name: &str| body.get(name).or_else(|| body.get(name.to_ascii_lowercase()));
    let Some(query) = field("Query").and_then(Value::as_str).filter(|q| !q.trim().is_empty()) else {
        return graph_error(400, "BadRequest", "The 'Query' parameter is required.", false, &ids);
    };
    if let Some(ts) = field("Timespan")
        && !ts.as_str().is_some_and(|t| t.starts_with(|c: char| c == 'P' || c.is_ascii_digit()))
    {
        return graph_error(400, "BadRequest", "The 'Timespan' parameter is not an ISO 8601 timespan.", false, &ids);
    }
    let answer = shared.with(|s| {
        let t = s.tenant(&token.tenant)?;
        t.hunting.iter().find(|(q, _)| q == query).map(|(_, b)| b.clone()).or_else(|| t.hunting_default.clone())
    });
    let base = req.endpoint.base_url.clone();
    let body = match answer {
        Some(text) => cap_rows(&text),
        None => json!({
            "@odata.context": format!("{base}/v1.0/$metadata#microsoft.graph.security.huntingQueryResults"),
            "schema": [],
            "results": [],
        })
        .to_string(),
    };
    let mut resp = response(200, ODATA_JSON, body);
    add_graph_headers(&mut resp, &ids);
    resp
}

/// A stored answer with at most [`ROW_CAP`] rows (served unchanged when it is within the cap).
fn cap_rows(text: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(text) else { return text.to_string() };
    match v.get_mut("results").and_then(Value::as_array_mut) {
        Some(rows) if rows.len() > ROW_CAP => {
            rows.truncate(ROW_CAP);
            v.to_string()
        }
        _ => text.to_string(),
    }
}
