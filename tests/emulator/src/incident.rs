//! Graph `GET`/`PATCH /v1.0/security/incidents/{id}` and `POST …/{id}/comments`, applied to the
//! stored incidents so that later lists and reads see the change with a new `lastUpdateDateTime`.

use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::errors::{ODATA_JSON, add_graph_headers, graph_error, response};
use crate::graph::{authorize, hide_new_members, request_ids, wants_unknown_members};
use crate::odata::Collection;
use crate::server::Incoming;
use crate::state::{IssuedToken, Shared};
use crate::time::{format_graph_time, now, parse_instant};
use crate::{GRAPH_WRITE_ROLE, TenantData};

/// Incident enum members an app may set (Graph schema), per property.
pub(crate) const STATUSES: &[&str] = &["active", "resolved", "inProgress"];
pub(crate) const CLASSIFICATIONS: &[&str] =
    &["unknown", "falsePositive", "truePositive", "informationalExpectedActivity"];
pub(crate) const DETERMINATIONS: &[&str] = &[
    "unknown",
    "apt",
    "malware",
    "securityPersonnel",
    "securityTesting",
    "unwantedSoftware",
    "other",
    "multiStagedAttack",
    "compromisedAccount",
    "phishing",
    "maliciousUserActivity",
    "notMalicious",
    "notEnoughDataToValidate",
    "confirmedActivity",
    "lineOfBusinessApplication",
];
pub(crate) const SEVERITIES: &[&str] = &["unknown", "informational", "low", "medium", "high"];

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The stored incident with this id.
pub(crate) fn find<'a>(tenant: &'a mut TenantData, id: &str) -> Option<&'a mut Value> {
    tenant.incidents.iter_mut().find(|i| i.get("id").map(id_text).as_deref() == Some(id))
}

/// Sets `lastUpdateDateTime` to now, strictly after its previous value (fast tests change an
/// incident twice within Graph's 100 ns precision).
pub(crate) fn touch(incident: &mut Value, by: &str) {
    let previous = incident.get("lastUpdateDateTime").and_then(Value::as_str).and_then(parse_instant);
    let mut at = now();
    if let Some(p) = previous
        && at <= p
    {
        at = p + chrono::Duration::microseconds(1);
    }
    incident["lastUpdateDateTime"] = json!(format_graph_time(at));
    incident["lastModifiedBy"] = json!(by);
}

/// The value of `allowed` that `given` names (case-insensitive), else a 400 message.
pub(crate) fn member(property: &str, given: &Value, allowed: &[&str]) -> Result<String, String> {
    let text = given.as_str().ok_or_else(|| format!("Invalid value for property '{property}': expected a string."))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(text))
        .map(|a| a.to_string())
        .ok_or_else(|| format!("Invalid value '{text}' for property '{property}'; allowed: {}.", allowed.join(", ")))
}

/// The incident as Graph serves one entity (no expanded alerts unless asked).
fn entity(base: &str, incident: &Value, expand: bool, prefer: bool) -> Value {
    let mut item = incident.clone();
    if !expand && let Some(obj) = item.as_object_mut() {
        obj.remove("alerts");
    }
    if !prefer {
        hide_new_members(&mut item, Collection::Incidents);
    }
    let mut out = Map::new();
    out.insert("@odata.context".into(), json!(format!("{base}/v1.0/$metadata#security/incidents/$entity")));
    if let Value::Object(fields) = item {
        out.extend(fields);
    }
    Value::Object(out)
}

fn not_found_body(shared: &Shared, req: &Incoming, id: &str) -> Response {
    let ids = request_ids(shared, req);
    graph_error(404, "NotFound", &format!("The incident {id} was not found."), false, &ids)
}

/// `GET` and `PATCH /v1.0/security/incidents/{id}`.
pub(crate) fn one(shared: &Shared, id: &str, req: &Incoming) -> Response {
    let ids = request_ids(shared, req);
    let write = match req.method.as_str() {
        "GET" => false,
        "PATCH" => true,
        other => {
            return graph_error(405, "BadRequest", &format!("{other} is not supported on an incident."), false, &ids);
        }
    };
    let roles: &[&str] = if write { &[GRAPH_WRITE_ROLE] } else { &["SecurityIncident.Read.All", GRAPH_WRITE_ROLE] };
    let token = match authorize(shared, req, &ids, roles) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let changes = if write {
        match parse_changes(&req.body) {
            Ok(c) => Some(c),
            Err(message) => return graph_error(400, "BadRequest", &message, false, &ids),
        }
    } else {
        None
    };
    let expand = req.query.to_ascii_lowercase().contains("expand=alerts");
    let prefer = wants_unknown_members(req);
    let base = req.endpoint.base_url.clone();
    let body = shared.with(|s| {
        let tenant = s.tenants.get_mut(&token.tenant)?;
        // `$expand=alerts` on one incident: its own `alerts`, else the alerts linked by incidentId.
        let linked: Vec<Value> =
            tenant.alerts.iter().filter(|a| a.get("incidentId").map(id_text).as_deref() == Some(id)).cloned().collect();
        let incident = find(tenant, id)?;
        if let Some(changes) = &changes {
            apply(incident, changes, &token);
        }
        let mut body = entity(&base, incident, expand, prefer);
        if expand && !body.get("alerts").is_some_and(Value::is_array) {
            body["alerts"] = Value::Array(linked);
        }
        Some(body)
    });
    match body {
        Some(body) => {
            let mut resp = response(200, ODATA_JSON, body.to_string());
            add_graph_headers(&mut resp, &ids);
            resp
        }
        None => not_found_body(shared, req, id),
    }
}

/// A validated PATCH body: property → new value, Graph's spelling.
fn parse_changes(body: &str) -> Result<Map<String, Value>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("The request body is not valid JSON: {e}"))?;
    let Value::Object(fields) = v else { return Err("The request body must be a JSON object.".into()) };
    let mut out = Map::new();
    for (key, value) in fields {
        let canonical = match key.as_str() {
            "status" => json!(member("status", &value, STATUSES)?),
            "classification" => json!(member("classification", &value, CLASSIFICATIONS)?),
            "determination" => json!(member("determination", &value, DETERMINATIONS)?),
            "severity" => json!(member("severity", &value, SEVERITIES)?),
            "assignedTo" | "resolvingComment" | "displayName" | "description" | "summary" => {
                if !value.is_string() && !value.is_null() {
                    return Err(format!("Invalid value for property '{key}': expected a string."));
                }
                value
            }
            "customTags" => {
                if !value.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                    return Err("Invalid value for property 'customTags': expected a collection of strings.".into());
                }
                value
            }
            other => {
                return Err(format!(
                    "Property '{other}' does not exist on type 'microsoft.graph.security.incident' or cannot be updated."
                ));
            }
        };
        out.insert(key, canonical);
    }
    if out.is_empty() {
        return Err("The request body has no properties to update.".into());
    }
    Ok(out)
}

fn apply(incident: &mut Value, changes: &Map<String, Value>, token: &IssuedToken) {
    for (k, v) in changes {
        incident[k] = v.clone();
    }
    touch(incident, &format!("API-App:{}", token.client_id));
}

/// `POST /v1.0/security/incidents/{id}/comments`.
pub(crate) fn comment(shared: &Shared, id: &str, req: &Incoming) -> Response {
    let ids = request_ids(shared, req);
    if req.method != "POST" {
        return graph_error(405, "BadRequest", "Only POST is supported on comments.", false, &ids);
    }
    let token = match authorize(shared, req, &ids, &[GRAPH_WRITE_ROLE]) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let text = match serde_json::from_str::<Value>(&req.body).ok().and_then(|v| v.get("comment").cloned()) {
        Some(Value::String(t)) if !t.trim().is_empty() => t,
        _ => return graph_error(400, "BadRequest", "The request body must have a non-empty 'comment'.", false, &ids),
    };
    let base = req.endpoint.base_url.clone();
    let comments = shared.with(|s| {
        let tenant = s.tenants.get_mut(&token.tenant)?;
        let incident = find(tenant, id)?;
        let by = format!("API-App:{}", token.client_id);
        add_comment(incident, &text, &by);
        touch(incident, &by);
        Some(incident["comments"].clone())
    });
    match comments {
        Some(list) => {
            let body = json!({
                "@odata.context": format!("{base}/v1.0/$metadata#Collection(microsoft.graph.security.alertComment)"),
                "value": list,
            });
            let mut resp = response(200, ODATA_JSON, body.to_string());
            add_graph_headers(&mut resp, &ids);
            resp
        }
        None => not_found_body(shared, req, id),
    }
}

/// Appends a comment in the schema's shape.
pub(crate) fn add_comment(incident: &mut Value, text: &str, by: &str) {
    let entry = json!({
        "@odata.type": "microsoft.graph.security.alertComment",
        "comment": text,
        "createdByDisplayName": by,
        "createdDateTime": format_graph_time(now()),
    });
    match incident.get_mut("comments").and_then(Value::as_array_mut) {
        Some(list) => list.push(entry),
        None => incident["comments"] = json!([entry]),
    }
}
