//! The Microsoft 365 Defender API (`https://api.security.microsoft.com`): `GET /api/incidents` and
//! `PATCH /api/incidents/{id}`, in its own PascalCase shape, over the same stored incidents as Graph.

use std::time::Instant;

use axum::response::Response;
use serde_json::{Value, json};

use crate::errors::response;
use crate::graph::bearer;
use crate::incident::{CLASSIFICATIONS, DETERMINATIONS, STATUSES, add_comment, find, member, touch};
use crate::server::Incoming;
use crate::state::{IssuedToken, Shared};
use crate::{Api, DEFENDER_WRITE_ROLE};

/// Largest `$top` of the list (documented).
const MAX_TOP: usize = 100;

fn error(shared: &Shared, status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "target": shared.next_guid() } });
    response(status, "application/json; charset=utf-8", body.to_string())
}

/// Any path this API does not serve.
pub(crate) fn not_found(shared: &Shared, req: &Incoming) -> Response {
    error(
        shared,
        404,
        "ResourceNotFound",
        &format!(
            "The emulated Microsoft 365 Defender API has no resource for {} {}; it serves GET /api/incidents and PATCH /api/incidents/{{id}}.",
            req.method, req.path
        ),
    )
}

// The error is the response itself; these run once per request, so its size does not matter.
#[allow(clippy::result_large_err)]
fn authorize(shared: &Shared, req: &Incoming, accepted: &[&str]) -> Result<IssuedToken, Response> {
    let unauthorized = |m: &str| error(shared, 401, "Unauthorized", m);
    let Some(token) = bearer(req) else { return Err(unauthorized("Authorization header is missing.")) };
    let issued = shared.with(|s| s.tokens.get(token).cloned());
    let Some(issued) = issued.filter(|t| Instant::now() < t.expires_at) else {
        return Err(unauthorized("The access token has expired."));
    };
    if issued.api != Api::Defender || issued.cloud != req.endpoint.cloud {
        return Err(unauthorized("The access token is not valid for this API: invalid audience or signature."));
    }
    if !issued.roles.iter().any(|r| accepted.contains(&r.as_str())) {
        return Err(error(
            shared,
            403,
            "Forbidden",
            &format!("The application does not have any of the required application roles: {}.", accepted.join(", ")),
        ));
    }
    Ok(issued)
}

/// Graph camelCase → this API's PascalCase (its older determination names included).
fn pascal(graph: &str) -> String {
    match graph {
        "compromisedAccount" => "CompromisedUser".into(),
        "notMalicious" => "Clean".into(),
        "notEnoughDataToValidate" => "InsufficientData".into(),
        "confirmedActivity" => "ConfirmedUserActivity".into(),
        "unknown" => "NotAvailable".into(),
        other => {
            let mut c = other.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        }
    }
}

/// PascalCase (either spelling) → Graph camelCase, if it is a member of `allowed`.
fn camel(property: &str, given: &Value, allowed: &[&str]) -> Result<String, String> {
    let text = given.as_str().unwrap_or_default();
    let renamed = match text.to_ascii_lowercase().as_str() {
        "compromiseduser" => "compromisedAccount",
        "clean" => "notMalicious",
        "insufficientdata" => "notEnoughDataToValidate",
        "confirmeduseractivity" => "confirmedActivity",
        "notavailable" => "unknown",
        _ => text,
    };
    member(property, &json!(renamed), allowed)
}

/// One stored (Graph-shaped) incident in this API's shape.
fn legacy(incident: &Value) -> Value {
    let s = |k: &str| incident.get(k).cloned().unwrap_or(Value::Null);
    let p = |k: &str| incident.get(k).and_then(Value::as_str).map(pascal).map(Value::from).unwrap_or(Value::Null);
    let id = incident.get("id").and_then(Value::as_str).unwrap_or_default();
    let comments: Vec<Value> = incident
        .get("comments")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|c| {
                    json!({
                        "comment": c.get("comment").cloned().unwrap_or(Value::Null),
                        "createdBy": c.get("createdByDisplayName").or_else(|| c.get("createdBy")).cloned().unwrap_or(Value::Null),
                        "createdTime": c.get("createdDateTime").or_else(|| c.get("createdTime")).cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "incidentId": id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(id)),
        "redirectIncidentId": s("redirectIncidentId"),
        "incidentName": s("displayName"),
        "createdTime": s("createdDateTime"),
        "lastUpdateTime": s("lastUpdateDateTime"),
        "assignedTo": s("assignedTo"),
        "classification": p("classification"),
        "determination": p("determination"),
        "status": p("status"),
        "severity": p("severity"),
        "tags": incident.get("customTags").cloned().unwrap_or_else(|| json!([])),
        "comments": comments,
        "alerts": [],
    })
}

/// `GET /api/incidents?$top=N`, newest first.
pub(crate) fn list(shared: &Shared, req: &Incoming) -> Response {
    if req.method != "GET" {
        return error(shared, 405, "BadRequest", "Use GET to list incidents.");
    }
    let token = match authorize(shared, req, &["Incident.Read.All", DEFENDER_WRITE_ROLE]) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let top = form_urlencoded::parse(req.query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("$top"))
        .map(|(_, v)| v.parse::<usize>());
    let top = match top {
        None => MAX_TOP,
        Some(Ok(n)) if n <= MAX_TOP => n,
        Some(_) => return error(shared, 400, "InvalidInput", "$top must be a whole number from 0 to 100."),
    };
    let items = shared.with(|s| {
        let mut all: Vec<Value> = s.tenant(&token.tenant).map(|t| t.incidents.clone()).unwrap_or_default();
        all.sort_by(|a, b| {
            let key = |v: &Value| v.get("lastUpdateDateTime").and_then(Value::as_str).unwrap_or_default().to_string();
            key(b).cmp(&key(a))
        });
        all.iter().take(top).map(legacy).collect::<Vec<_>>()
    });
    let body = json!({
        "@odata.context": format!("{}/api/$metadata#Incidents", req.endpoint.base_url),
        "value": items,
    });
    response(200, "application/json; odata.metadata=minimal; charset=utf-8", body.to_string())
}

/// `PATCH /api/incidents/{id}`: status, assignedTo, classification, determination, tags, comment.
pub(crate) fn update(shared: &Shared, id: &str, req: &Incoming) -> Response {
    if req.method != "PATCH" {
        return error(shared, 405, "BadRequest", "Use PATCH to update an incident.");
    }
    let token = match authorize(shared, req, &[DEFENDER_WRITE_ROLE]) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let body: Value = match serde_json::from_str(&req.body) {
        Ok(Value::Object(m)) if !m.is_empty() => Value::Object(m),
        _ => return error(shared, 400, "InvalidRequestBody", "The request body must be a non-empty JSON object."),
    };
    let mut changes = Vec::new();
    let mut comment = None;
    for (key, value) in body.as_object().into_iter().flatten() {
        let change = match key.as_str() {
            "status" => camel("status", value, STATUSES).map(|v| ("status", json!(v))),
            "classification" => camel("classification", value, CLASSIFICATIONS).map(|v| ("classification", json!(v))),
            "determination" => camel("determination", value, DETERMINATIONS).map(|v| ("determination", json!(v))),
            "assignedTo" if value.is_string() => Ok(("assignedTo", value.clone())),
            "tags" if value.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
                Ok(("customTags", value.clone()))
            }
            "comment" if value.is_string() => {
                comment = value.as_str().map(str::to_string);
                continue;
            }
            other => Err(format!("Property '{other}' cannot be updated or has an invalid value.")),
        };
        match change {
            Ok(c) => changes.push(c),
            Err(m) => return error(shared, 400, "InvalidInput", &m),
        }
    }
    let updated = shared.with(|s| {
        let tenant = s.tenants.get_mut(&token.tenant)?;
        let incident = find(tenant, id)?;
        let by = format!("API-App:{}", token.client_id);
        for (k, v) in &changes {
            incident[*k] = v.clone();
        }
        if let Some(text) = &comment {
            add_comment(incident, text, &by);
        }
        touch(incident, &by);
        Some(legacy(incident))
    });
    match updated {
        Some(body) => response(200, "application/json; odata.metadata=minimal; charset=utf-8", body.to_string()),
        None => error(shared, 404, "ResourceNotFound", &format!("Incident {id} was not found")),
    }
}
