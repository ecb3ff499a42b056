//! Graph `GET /v1.0/security/incidents` and `GET /v1.0/security/alerts_v2`.

use std::cmp::Ordering;
use std::time::Instant;

use axum::response::Response;
use serde_json::{Value, json};

use crate::errors::{ODATA_JSON, RequestIds, add_graph_headers, graph_error, response, set_header};
pub(crate) use crate::odata::Collection;
use crate::odata::{self, ListQuery};
use crate::server::Incoming;
use crate::state::{IssuedToken, Shared};
use crate::time::{now, parse_instant};

/// Roles that grant each list (documented least/higher privilege pairs). Note: the one observed
/// real 403 for alerts_v2 (fixture `error-403-forbidden.json`) lists the two SecurityIncident roles
/// as well, which suggests the service also accepts them there; the emulator keeps the documented,
/// stricter rule so a connector that lacks SecurityAlert.Read.All is caught.
fn accepted_roles(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::Incidents => &["SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"],
        // The real 403 for alerts_v2 (fixture error-403-forbidden.json) lists the incident roles too.
        Collection::Alerts => &[
            "SecurityAlert.Read.All",
            "SecurityAlert.ReadWrite.All",
            "SecurityIncident.Read.All",
            "SecurityIncident.ReadWrite.All",
        ],
    }
}

/// Evolvable-enum members after `unknownFutureValue` (CSDL v1.0); hidden unless the client opts in.
const INCIDENT_STATUS_NEW: &[&str] = &["awaitingAction"];
const SERVICE_SOURCE_NEW: &[&str] = &[
    "microsoftDefenderForCloud",
    "microsoftSentinel",
    "microsoftInsiderRiskManagement",
    "microsoftThreatIntelligence",
    "microsoftSecurityForAI",
];
const DETECTION_SOURCE_NEW: &[&str] = &[
    "microsoftDefenderForCloud",
    "microsoftDefenderForIoT",
    "microsoftDefenderForServers",
    "microsoftDefenderForStorage",
    "microsoftDefenderForDNS",
    "microsoftDefenderForDatabases",
    "microsoftDefenderForContainers",
    "microsoftDefenderForNetwork",
    "microsoftDefenderForAppService",
    "microsoftDefenderForKeyVault",
    "microsoftDefenderForResourceManager",
    "microsoftDefenderForApiManagement",
    "nrtAlerts",
    "scheduledAlerts",
    "microsoftDefenderThreatIntelligenceAnalytics",
    "builtInMl",
    "microsoftInsiderRiskManagement",
    "microsoftThreatIntelligence",
    "microsoftDefenderForAIServices",
    "securityCopilot",
    "microsoftSentinel",
];
const REMEDIATION_STATUS_NEW: &[&str] =
    &["active", "pendingApproval", "declined", "unremediated", "running", "partiallyRemediated"];

const OPT_IN: &str = "include-unknown-enum-members";

pub(crate) fn request_ids(shared: &Shared, req: &Incoming) -> RequestIds {
    let request_id = shared.next_guid();
    RequestIds {
        client_request_id: req.header("client-request-id").map(str::to_string).unwrap_or_else(|| request_id.clone()),
        request_id,
        at: now(),
    }
}

/// Any path the emulator does not serve: a loud 404 naming the method and path.
pub(crate) fn not_found(shared: &Shared, req: &Incoming) -> Response {
    let ids = request_ids(shared, req);
    graph_error(
        404,
        "ResourceNotFound",
        &format!(
            "The emulator has no resource for {} {}. It serves POST /{{tenant}}/oauth2/v2.0/token, GET /v1.0/security/incidents, GET and PATCH /v1.0/security/incidents/{{id}}, POST /v1.0/security/incidents/{{id}}/comments, GET /v1.0/security/alerts_v2 and POST /v1.0/security/runHuntingQuery.",
            req.method, req.path
        ),
        false,
        &ids,
    )
}

fn unauthorized(ids: &RequestIds, message: &str) -> Response {
    let mut resp = graph_error(401, "InvalidAuthenticationToken", message, false, ids);
    set_header(
        &mut resp,
        "www-authenticate",
        r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#,
    );
    resp
}

/// Checks the bearer token of a Graph request: issued by this emulator, unexpired, for Graph, by
/// this listener's cloud, and carrying one of `accepted` roles. The error is Graph's own answer.
#[allow(clippy::result_large_err)] // the error is the response itself, built once per request
pub(crate) fn authorize(
    shared: &Shared,
    req: &Incoming,
    ids: &RequestIds,
    accepted: &[&str],
) -> Result<IssuedToken, Response> {
    let Some(token) = bearer(req) else {
        // Graph's wording when the header is missing or has no token.
        return Err(unauthorized(ids, "Access token is empty."));
    };
    let issued: Option<IssuedToken> = shared.with(|s| s.tokens.get(token).cloned());
    let Some(issued) = issued.filter(|t| Instant::now() < t.expires_at) else {
        return Err(unauthorized(ids, "Access token has expired or is not yet valid."));
    };
    // Another cloud's token (or one for another API) fails signature/audience validation.
    if issued.cloud != req.endpoint.cloud {
        return Err(unauthorized(ids, "Access token validation failure. The token signature is invalid."));
    }
    if issued.api != crate::Api::Graph {
        return Err(unauthorized(ids, "Access token validation failure. Invalid audience."));
    }
    if !issued.roles.iter().any(|r| accepted.contains(&r.as_str())) {
        return Err(graph_error(
            403,
            "Forbidden",
            &format!(
                "Missing application roles. API required roles: {}, application roles: {}.",
                accepted.join(","),
                issued.roles.join(",")
            ),
            false,
            ids,
        ));
    }
    Ok(issued)
}

pub(crate) fn bearer(req: &Incoming) -> Option<&str> {
    let value = req.header("authorization")?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub(crate) fn wants_unknown_members(req: &Incoming) -> bool {
    req.header_values("prefer")
        .any(|v| v.split(',').any(|p| p.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(OPT_IN)))
}

/// Lists one collection for the token's tenant.
pub(crate) fn list(shared: &Shared, collection: Collection, req: &Incoming) -> Response {
    let ids = request_ids(shared, req);
    if req.method != "GET" {
        return graph_error(
            405,
            "BadRequest",
            &format!("The emulator does not support {} on {}; it serves GET only.", req.method, req.path),
            false,
            &ids,
        );
    }

    let accepted = accepted_roles(collection);
    let issued = match authorize(shared, req, &ids, accepted) {
        Ok(t) => t,
        Err(resp) => return resp,
    };

    let limits = shared.with(|s| s.limits);
    let (max_top, default_top) = match collection {
        Collection::Incidents => (limits.incidents_max_top, limits.incidents_default_top),
        Collection::Alerts => (limits.alerts_max_top, limits.alerts_default_top),
    };
    let query = match odata::parse(&req.query, collection, max_top) {
        Ok(q) => q,
        Err(e) => return graph_error(400, e.code, &e.message, e.details, &ids),
    };

    let prefer = wants_unknown_members(req);
    // Frozen data (benchmarks): the same request gets the same bytes, built once.
    let cache_key = format!("{}|{:?}|{}|{}|{prefer}", issued.tenant, collection, req.endpoint.base_url, req.query);
    if let Some(body) = shared.with(|s| s.page_cache.as_ref().and_then(|c| c.get(&cache_key).cloned())) {
        let mut resp = response(200, ODATA_JSON, (*body).clone());
        add_graph_headers(&mut resp, &ids);
        set_header(&mut resp, "odata-version", "4.0");
        if prefer {
            set_header(&mut resp, "preference-applied", OPT_IN);
        }
        return resp;
    }
    let page = shared.with(|s| {
        let next_base = s.next_link_base.clone().unwrap_or_else(|| req.endpoint.base_url.clone());
        let empty = Vec::new();
        let (incidents, alerts) =
            s.tenant(&issued.tenant).map(|t| (&t.incidents, &t.alerts)).unwrap_or((&empty, &empty));
        let source = match collection {
            Collection::Incidents => incidents,
            Collection::Alerts => alerts,
        };
        build_page(source, alerts, collection, &query, u64::from(default_top), &next_base, s.ignore_filter)
    });

    let mut items = page.items;
    for item in &mut items {
        if !query.expand_alerts
            && let Some(obj) = item.as_object_mut()
        {
            obj.remove("alerts");
        }
        if !prefer {
            hide_new_members(item, collection);
        }
        if let Some(fields) = &query.select {
            select(item, fields, query.expand_alerts);
        }
    }

    let segment = match collection {
        Collection::Incidents => "incidents",
        Collection::Alerts => "alerts_v2",
    };
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#security/{segment}", req.endpoint.base_url),
        "value": items,
    });
    if query.count {
        body["@odata.count"] = json!(page.total);
    }
    if let Some(next) = page.next_link {
        body["@odata.nextLink"] = json!(next);
    }
    let body = body.to_string();
    shared.with(|s| {
        if let Some(cache) = s.page_cache.as_mut() {
            cache.insert(cache_key, std::sync::Arc::new(body.clone()));
        }
    });
    let mut resp = response(200, ODATA_JSON, body);
    add_graph_headers(&mut resp, &ids);
    set_header(&mut resp, "odata-version", "4.0");
    if prefer {
        set_header(&mut resp, "preference-applied", OPT_IN);
    }
    resp
}

struct Page {
    items: Vec<Value>,
    total: usize,
    next_link: Option<String>,
}

fn build_page(
    source: &[Value],
    alerts: &[Value],
    collection: Collection,
    query: &ListQuery,
    default_top: u64,
    next_base: &str,
    ignore_filter: bool,
) -> Page {
    let (property, descending) = query.order.clone().unwrap_or_else(|| ("lastUpdateDateTime".to_string(), true));
    // Sort keys computed once per item, not once per comparison (benchmarks list thousands).
    let mut matched: Vec<(Option<chrono::DateTime<chrono::Utc>>, String, &Value)> = source
        .iter()
        .filter(|item| ignore_filter || query.filter.iter().all(|c| c.matches(item)))
        .map(|item| (time_key(item, &property), item.get("id").map(id_text).unwrap_or_default(), item))
        .collect();
    // Newest first by default, as Microsoft documents; ties by id in the same direction. The sort
    // is stable, so items with equal keys and ids keep insertion order.
    matched.sort_by(|a, b| {
        let ord = a.0.cmp(&b.0).then_with(|| id_cmp(&a.1, &b.1));
        if descending { ord.reverse() } else { ord }
    });
    let matched: Vec<&Value> = matched.into_iter().map(|(_, _, v)| v).collect();

    let total = matched.len();
    let top = query.top.unwrap_or(default_top);
    let start = usize::try_from(query.skip).unwrap_or(usize::MAX).min(total);
    let end = start.saturating_add(usize::try_from(top).unwrap_or(usize::MAX)).min(total);
    let mut items: Vec<Value> = matched[start..end].iter().map(|v| (*v).clone()).collect();

    if collection == Collection::Incidents && query.expand_alerts {
        // One pass over the alerts for the whole page, in the alerts' order.
        let mut wanted: std::collections::HashMap<String, Vec<Value>> = items
            .iter()
            .filter(|i| !i.get("alerts").is_some_and(Value::is_array))
            .filter_map(|i| Some((i.get("id").map(id_text)?, Vec::new())))
            .collect();
        if !wanted.is_empty() {
            for alert in alerts {
                if let Some(list) = alert.get("incidentId").map(id_text).and_then(|id| wanted.get_mut(&id)) {
                    list.push(alert.clone());
                }
            }
        }
        for incident in &mut items {
            if incident.get("alerts").is_some_and(Value::is_array) {
                continue;
            }
            let linked = incident.get("id").map(id_text).and_then(|id| wanted.get(&id).cloned()).unwrap_or_default();
            incident["alerts"] = Value::Array(linked);
        }
    }

    // top == 0 would never advance, so it gets no link.
    let next_link = (end < total && top > 0).then(|| {
        let segment = match collection {
            Collection::Incidents => "incidents",
            Collection::Alerts => "alerts_v2",
        };
        let mut options = query.kept.clone();
        options.push(("$skip".to_string(), end.to_string()));
        format!("{next_base}/v1.0/security/{segment}?{}", encode_options(&options))
    });
    Page { items, total, next_link }
}

/// Percent-encodes options for a nextLink; the `$` of system options stays literal, as in
/// Graph's own links (`?$skip=50`).
fn encode_options(options: &[(String, String)]) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    options
        .iter()
        .map(|(name, value)| {
            let name = match name.strip_prefix('$') {
                Some(rest) => format!("${}", enc(rest)),
                None => enc(name),
            };
            format!("{name}={}", enc(value))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn time_key(item: &Value, property: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    item.get(property).and_then(Value::as_str).and_then(parse_instant)
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Numeric ids compare as numbers ("9" < "10"), others as text.
fn id_cmp(a: &str, b: &str) -> Ordering {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn replace_if(value: &mut Value, key: &str, newer: &[&str]) {
    if let Some(v) = value.get_mut(key)
        && v.as_str().is_some_and(|s| newer.contains(&s))
    {
        *v = json!("unknownFutureValue");
    }
}

/// Without the opt-in header Graph replaces post-sentinel members with `unknownFutureValue`.
pub(crate) fn hide_new_members(item: &mut Value, collection: Collection) {
    match collection {
        Collection::Incidents => {
            replace_if(item, "status", INCIDENT_STATUS_NEW);
            if let Some(alerts) = item.get_mut("alerts").and_then(Value::as_array_mut) {
                alerts.iter_mut().for_each(hide_alert_members);
            }
        }
        Collection::Alerts => hide_alert_members(item),
    }
}

fn hide_alert_members(alert: &mut Value) {
    replace_if(alert, "serviceSource", SERVICE_SOURCE_NEW);
    replace_if(alert, "detectionSource", DETECTION_SOURCE_NEW);
    if let Some(evidence) = alert.get_mut("evidence").and_then(Value::as_array_mut) {
        for e in evidence {
            replace_if(e, "remediationStatus", REMEDIATION_STATUS_NEW);
        }
    }
}

/// Keeps the selected properties (and annotations, and `alerts` when expanded).
fn select(item: &mut Value, fields: &[String], keep_alerts: bool) {
    if let Some(obj) = item.as_object_mut() {
        obj.retain(|k, _| k.starts_with("@odata.") || fields.iter().any(|f| f == k) || (keep_alerts && k == "alerts"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_encoding_keeps_dollar() {
        let options = vec![
            ("$filter".to_string(), "lastUpdateDateTime ge 2024-01-01T00:00:00.5Z".to_string()),
            ("$skip".to_string(), "50".to_string()),
        ];
        assert_eq!(encode_options(&options), "$filter=lastUpdateDateTime+ge+2024-01-01T00%3A00%3A00.5Z&$skip=50");
    }

    #[test]
    fn ids_compare_numerically() {
        assert_eq!(id_cmp("9", "10"), Ordering::Less);
        assert_eq!(id_cmp("b", "a"), Ordering::Greater);
    }

    #[test]
    fn hides_post_sentinel_members_in_expanded_alerts() {
        let mut incident = json!({
            "status": "awaitingAction",
            "alerts": [{"serviceSource": "microsoftSentinel", "detectionSource": "antivirus",
                        "evidence": [{"remediationStatus": "pendingApproval"}, {"remediationStatus": "none"}]}]
        });
        hide_new_members(&mut incident, Collection::Incidents);
        assert_eq!(
            incident,
            json!({
                "status": "unknownFutureValue",
                "alerts": [{"serviceSource": "unknownFutureValue", "detectionSource": "antivirus",
                            "evidence": [{"remediationStatus": "unknownFutureValue"}, {"remediationStatus": "none"}]}]
            })
        );
    }
}
