//! The HTTP front: one catch-all handler that logs, applies queued faults, and dispatches.
//!
//! A single fallback handler (instead of axum routes) keeps logging and fault handling uniform,
//! makes path matching case-insensitive as Graph's is, and lets any unknown path fail loudly.

use std::sync::Arc;

use crate::errors::{response, set_header};
use crate::state::{Endpoint, Shared};
use crate::{Api, FaultResponse, RequestRecord, Route};
use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;

/// Request bodies larger than this are cut (the emulator only ever expects small forms).
const MAX_BODY: usize = 1 << 20;

pub(crate) fn spawn(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    endpoint: Endpoint,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let app = Router::new().fallback(handle).with_state((shared, Arc::new(endpoint)));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
    });
}

/// Which endpoint a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/{tenant}/oauth2/v2.0/token`, with the tenant segment percent-decoded.
    Token {
        tenant: String,
    },
    Incidents,
    Alerts,
    /// `/v1.0/security/incidents/{id}`.
    Incident {
        id: String,
    },
    /// `/v1.0/security/incidents/{id}/comments`.
    IncidentComments {
        id: String,
    },
    /// `/v1.0/security/runHuntingQuery`.
    Hunting,
    /// `/api/incidents` (Microsoft 365 Defender API).
    DefenderIncidents,
    /// `/api/incidents/{id}`.
    DefenderIncident {
        id: String,
    },
    Other,
}

impl Target {
    pub(crate) fn classify(path: &str) -> Target {
        let segments: Vec<&str> = path.split('/').collect();
        let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        match lower.as_slice() {
            ["", tenant, "oauth2", "v2.0", "token"] if !tenant.is_empty() => {
                Target::Token { tenant: percent_decode(segments[1]) }
            }
            ["", "v1.0", "security", "incidents"] => Target::Incidents,
            ["", "v1.0", "security", "alerts_v2"] => Target::Alerts,
            ["", "v1.0", "security", "incidents", id] if !id.is_empty() => {
                Target::Incident { id: percent_decode(segments[4]) }
            }
            ["", "v1.0", "security", "incidents", id, "comments"] if !id.is_empty() => {
                Target::IncidentComments { id: percent_decode(segments[4]) }
            }
            ["", "v1.0", "security", "runhuntingquery"] => Target::Hunting,
            ["", "api", "incidents"] => Target::DefenderIncidents,
            ["", "api", "incidents", id] if !id.is_empty() => {
                Target::DefenderIncident { id: percent_decode(segments[3]) }
            }
            _ => Target::Other,
        }
    }

    fn matches(&self, route: Route, query: &str, method: &str) -> bool {
        let expanded = || form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k.eq_ignore_ascii_case("$expand"));
        let writes = method != "GET";
        matches!(
            (self, route),
            (Target::Token { .. }, Route::Token)
                | (Target::Incidents, Route::Incidents)
                | (Target::Alerts, Route::Alerts)
                | (Target::Hunting, Route::Hunting)
                | (Target::DefenderIncidents | Target::DefenderIncident { .. }, Route::Defender)
                | (
                    Target::Incidents
                        | Target::Alerts
                        | Target::Incident { .. }
                        | Target::IncidentComments { .. }
                        | Target::Hunting
                        | Target::Other,
                    Route::AnyGraph
                )
        ) || (*self == Target::Incidents && route == Route::IncidentsExpanded && expanded())
            || (route == Route::IncidentUpdate
                && writes
                && matches!(self, Target::Incident { .. } | Target::IncidentComments { .. }))
    }
}

fn percent_decode(segment: &str) -> String {
    // form_urlencoded also maps '+' to space; tenant ids and domains never contain '+'.
    form_urlencoded::parse(format!("x={segment}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// A request as the handlers see it.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    /// The listener the request arrived on.
    pub(crate) endpoint: Arc<Endpoint>,
}

impl Incoming {
    /// All values of header `name` (case-insensitive), in order.
    pub(crate) fn header_values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }
}

async fn handle(State((shared, endpoint)): State<(Arc<Shared>, Arc<Endpoint>)>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.unwrap_or_default();
    let incoming = Incoming {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        endpoint,
    };
    let target = Target::classify(&incoming.path);

    let seq = shared.next_id();
    let record = log_record(&incoming, &target);
    let fault = shared.with(|s| {
        if let Target::Token { tenant } = &target {
            *s.token_counts.entry(tenant.to_ascii_lowercase()).or_default() += 1;
        }
        s.log.push(record);
        s.log_seq.push(seq);
        s.take_fault(|route| target.matches(route, &incoming.query, &incoming.method))
    });

    let resp = match fault.map(|f| f.response) {
        Some(FaultResponse::Status { status, headers, body }) => {
            let mut resp = response(status, "application/json", body);
            for (name, value) in &headers {
                set_header(&mut resp, name, value);
            }
            resp
        }
        Some(FaultResponse::Body(body)) => response(200, "application/json", body),
        Some(FaultResponse::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            dispatch(&shared, &target, &incoming)
        }
        None => dispatch(&shared, &target, &incoming),
    };

    let status = resp.status().as_u16();
    shared.with(|s| {
        // Found by sequence number: the log may have been cleared or grown meanwhile.
        if let Some(pos) = s.log_seq.iter().rposition(|&x| x == seq) {
            s.log[pos].status = status;
        }
    });
    resp
}

fn dispatch(shared: &Shared, target: &Target, req: &Incoming) -> Response {
    match (req.endpoint.api, target) {
        (Api::Graph, Target::Token { tenant }) => crate::entra::token(shared, tenant, req),
        (Api::Graph, Target::Incidents) => crate::graph::list(shared, crate::graph::Collection::Incidents, req),
        (Api::Graph, Target::Alerts) => crate::graph::list(shared, crate::graph::Collection::Alerts, req),
        (Api::Graph, Target::Incident { id }) => crate::incident::one(shared, id, req),
        (Api::Graph, Target::IncidentComments { id }) => crate::incident::comment(shared, id, req),
        (Api::Graph, Target::Hunting) => crate::hunting::run(shared, req),
        (Api::Defender, Target::DefenderIncidents) => crate::defender::list(shared, req),
        (Api::Defender, Target::DefenderIncident { id }) => crate::defender::update(shared, id, req),
        (Api::Defender, _) => crate::defender::not_found(shared, req),
        (Api::Graph, _) => crate::graph::not_found(shared, req),
    }
}

/// The log entry; token requests have their secret hidden, wherever it was sent.
fn log_record(req: &Incoming, target: &Target) -> RequestRecord {
    let is_token = matches!(target, Target::Token { .. });
    let headers = req
        .headers
        .iter()
        .map(|(n, v)| {
            let basic = v.len() >= 6 && v[..6].eq_ignore_ascii_case("basic ");
            if is_token && n.eq_ignore_ascii_case("authorization") && basic {
                (n.clone(), "Basic ***".to_string())
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    RequestRecord {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers,
        body: if is_token { redact_secret(&req.body) } else { req.body.clone() },
        status: 0,
    }
}

/// Replaces the value of every `client_secret` form field with `***`, leaving the rest verbatim.
fn redact_secret(form: &str) -> String {
    form.split('&')
        .map(|part| {
            let key = part.split('=').next().unwrap_or("");
            let decoded: String =
                form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default();
            if decoded == "client_secret" { format!("{key}=***") } else { part.to_string() }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_paths() {
        assert_eq!(
            Target::classify("/contoso.onmicrosoft.com/oauth2/v2.0/token"),
            Target::Token { tenant: "contoso.onmicrosoft.com".into() }
        );
        assert_eq!(Target::classify("/v1.0/security/alerts_V2"), Target::Alerts);
        assert_eq!(Target::classify("/v1.0/security/incidents"), Target::Incidents);
        assert_eq!(Target::classify("/v1.0/security/incidents/"), Target::Other);
        assert_eq!(Target::classify("/beta/security/incidents"), Target::Other);
        assert_eq!(Target::classify("//oauth2/v2.0/token"), Target::Other);
    }

    #[test]
    fn secret_is_redacted() {
        assert_eq!(redact_secret("client_id=a&client_secret=s%26x&scope=b"), "client_id=a&client_secret=***&scope=b");
        assert_eq!(redact_secret("client%5Fsecret=x"), "client%5Fsecret=***");
    }
}
