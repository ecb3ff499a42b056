//! What an analyst does from RedCarbon: update an incident, comment on it, run a hunting query.

use crate::auth::Resource;
use crate::connector::{Clock, Connector};
use crate::error::ConnectorError;
use crate::graph;
use crate::http::{HttpClient, Method, Request, Response};
use crate::hunting::{self, HuntingResult};
use crate::records::{self, Incident};
use crate::update::{self, DEFENDER_WRITE_ROLE, GRAPH_WRITE_ROLE, IncidentUpdate, UpdatePath};

/// A change that was carried out, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// The incident after the change, with its new version; `None` when the change was applied but
    /// reading it back failed (see `warning`).
    pub incident: Option<Incident>,
    /// The API that carried it out.
    pub path: UpdatePath,
    /// Why that API, in a sentence.
    pub reason: String,
    /// Set when the change was applied but could not be confirmed: do not repeat it.
    pub warning: Option<String>,
}

/// Longest incident id accepted (Graph ids are short numbers).
const MAX_ID_LEN: usize = 256;

fn roles_text(roles: &[String]) -> String {
    if roles.is_empty() { "none (no admin consent)".into() } else { roles.join(", ") }
}

impl<H: HttpClient, C: Clock> Connector<'_, H, C> {
    /// Which API can update incidents for this app, judged from the roles its tokens carry.
    pub fn update_path(&mut self) -> Result<(UpdatePath, String), ConnectorError> {
        let graph_roles = self.token_for(Resource::Graph)?.roles;
        if graph_roles.iter().any(|r| r == GRAPH_WRITE_ROLE) {
            return Ok((UpdatePath::Graph, format!("the app has the Microsoft Graph permission {GRAPH_WRITE_ROLE}")));
        }
        let needs = format!(
            "Updating incidents needs the application permission Microsoft Threat Protection {DEFENDER_WRITE_ROLE} (what the setup guide asks for) or Microsoft Graph {GRAPH_WRITE_ROLE}, with admin consent"
        );
        match self.token_for(Resource::Defender) {
            Ok(t) if t.roles.iter().any(|r| r == DEFENDER_WRITE_ROLE) => Ok((
                UpdatePath::DefenderApi,
                format!(
                    "the app has Microsoft Threat Protection {DEFENDER_WRITE_ROLE} but not Microsoft Graph {GRAPH_WRITE_ROLE}"
                ),
            )),
            Ok(t) => Err(ConnectorError::Permission {
                permission: DEFENDER_WRITE_ROLE.into(),
                message: format!(
                    "{needs}. The app has, on Microsoft Graph: {}; on Microsoft Threat Protection: {}.",
                    roles_text(&graph_roles),
                    roles_text(&t.roles)
                ),
            }),
            Err(e @ (ConnectorError::Transient(_) | ConnectorError::Throttled { .. })) => Err(e),
            Err(e) => Err(ConnectorError::Permission {
                permission: DEFENDER_WRITE_ROLE.into(),
                message: format!(
                    "{needs}. The app has, on Microsoft Graph: {}; a token for the Microsoft 365 Defender API could not be obtained: {e}",
                    roles_text(&graph_roles)
                ),
            }),
        }
    }

    fn incident_url(&self, segment: &str) -> String {
        format!("{}/v1.0/security/incidents/{segment}", self.settings.graph_endpoint)
    }

    /// Reads one incident through Graph (its alerts are not expanded).
    pub fn get_incident(&mut self, id: &str) -> Result<Incident, ConnectorError> {
        self.read_incident(id, false)
    }

    /// Reads one incident with its alerts, as the poller's records carry them: an analyst
    /// action's result is then the same record (key and version) the next poll writes.
    pub fn get_full_incident(&mut self, id: &str) -> Result<Incident, ConnectorError> {
        self.read_incident(id, true)
    }

    fn read_incident(&mut self, id: &str, expand: bool) -> Result<Incident, ConnectorError> {
        let mut url = self.incident_url(&update::id_segment(id)?);
        if expand {
            url.push_str("?$expand=alerts");
        }
        let (resp, roles) = self
            .authorized(Resource::Graph, &|| Request::get(url.clone()).header("prefer", graph::PREFER_UNKNOWN_ENUMS))?;
        if resp.status != 200 {
            return Err(self.failure(&resp, id, "read the incident", "SecurityIncident.Read.All", &roles));
        }
        let incident = parse_incident(&resp, "the incident")?;
        if incident.id != id.trim() {
            return Err(ConnectorError::invalid(
                200,
                format!("Microsoft Graph answered a read of incident {id} with incident {}", incident.id),
            ));
        }
        Ok(incident)
    }

    /// After a write that the service acknowledged: the incident read whole, checked against what
    /// was asked. A failed read is a warning (the change is in), never an error to retry on.
    fn confirm(
        &mut self,
        id: &str,
        path: UpdatePath,
        reason: String,
        check: impl Fn(&Incident) -> Option<String>,
    ) -> Result<UpdateOutcome, ConnectorError> {
        match self.get_full_incident(id) {
            Ok(incident) => match check(&incident) {
                None => Ok(UpdateOutcome { incident: Some(incident), path, reason, warning: None }),
                Some(differs) => Err(ConnectorError::Conflict {
                    expected_version: String::new(),
                    current_version: incident.last_updated.canonical(),
                    message: format!(
                        "{} accepted the change to incident {id}, but reading it back shows {differs}: another change landed at the same time, or the service ignored part of it; re-read the incident before acting again",
                        path.name()
                    ),
                }),
            },
            Err(e) => Ok(UpdateOutcome {
                incident: None,
                path,
                reason,
                warning: Some(format!(
                    "the change was applied ({} acknowledged it), but reading the incident back failed: {e}; do not repeat the change, the next poll delivers the new version",
                    path.name()
                )),
            }),
        }
    }

    /// Applies `change` to incident `id`, unless it changed since `change.expected_version`.
    pub fn update_incident(&mut self, id: &str, change: &IncidentUpdate) -> Result<UpdateOutcome, ConnectorError> {
        let valid = update::validate(change)?;
        let segment = checked_segment(id)?;
        let (path, reason) = self.update_path()?;
        let defender_body = match path {
            // Built first: a change the Defender API cannot make is refused before any read.
            UpdatePath::DefenderApi => Some(update::defender_body(&valid)?),
            UpdatePath::Graph => None,
        };
        let current = self.get_incident(id)?;
        if current.status == "redirected" {
            return Err(ConnectorError::invalid_request(
                "id",
                format!(
                    "incident {id} was merged into incident {}: change that one instead",
                    current.redirect_incident_id.as_deref().unwrap_or("(not given)")
                ),
            ));
        }
        if let Some(expected) = &valid.expected_version {
            let now = current.last_updated.canonical();
            if &now != expected {
                return Err(ConnectorError::Conflict {
                    expected_version: expected.clone(),
                    current_version: now.clone(),
                    message: format!(
                        "incident {id} changed since version {expected}: it is now at version {now} (status {}, assigned to {}); nothing was changed — re-read it and apply the change again",
                        current.status,
                        current.assigned_to.as_deref().unwrap_or("nobody")
                    ),
                });
            }
        }
        match defender_body {
            None => {
                let body = update::graph_body(&valid);
                let url = self.incident_url(&segment);
                let (resp, roles) =
                    self.authorized(Resource::Graph, &|| Request::json(Method::Patch, url.clone(), &body))?;
                if resp.status != 200 && resp.status != 204 {
                    return Err(self.failure(&resp, id, "update the incident", GRAPH_WRITE_ROLE, &roles));
                }
                // Graph answers with the incident without its alerts (or nothing, 204): check it is
                // the one we changed, then read it whole (below).
                if resp.status == 200 {
                    let answered = parse_incident(&resp, "the updated incident")?;
                    if answered.id != current.id {
                        return Err(ConnectorError::invalid(
                            200,
                            format!(
                                "Microsoft Graph answered the update of incident {id} with incident {}",
                                answered.id
                            ),
                        ));
                    }
                }
            }
            Some(body) => self.defender_patch(id, &segment, &body)?,
        }
        self.confirm(id, path, reason, |i| update::differences(&valid, i))
    }

    /// Adds an analyst comment to incident `id`.
    pub fn add_comment(&mut self, id: &str, comment: &str) -> Result<UpdateOutcome, ConnectorError> {
        update::check_comment(comment)?;
        let segment = checked_segment(id)?;
        let (path, reason) = self.update_path()?;
        match path {
            UpdatePath::Graph => {
                let url = format!("{}/comments", self.incident_url(&segment));
                let body = update::graph_comment_body(comment);
                let (resp, roles) =
                    self.authorized(Resource::Graph, &|| Request::json(Method::Post, url.clone(), &body))?;
                if resp.status != 200 && resp.status != 201 {
                    return Err(self.failure(&resp, id, "comment on the incident", GRAPH_WRITE_ROLE, &roles));
                }
                // The answer is the comment collection; an error object with a 200 is not success.
                let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
                if !v.get("value").is_some_and(serde_json::Value::is_array)
                    && !v.get("comment").is_some_and(|c| c.is_string())
                {
                    return Err(ConnectorError::invalid(
                        resp.status,
                        format!(
                            "Microsoft Graph answered the comment on incident {id} without the comment list{}; the comment may not be stored — check the incident before adding it again",
                            graph::error_message(&resp.body).map(|m| format!(" ({m})")).unwrap_or_default()
                        ),
                    ));
                }
            }
            UpdatePath::DefenderApi => {
                self.defender_patch(id, &segment, &serde_json::json!({ "comment": comment }))?;
            }
        }
        self.confirm(id, path, reason, |_| None)
    }

    fn defender_patch(&mut self, id: &str, segment: &str, body: &serde_json::Value) -> Result<(), ConnectorError> {
        let url = format!("{}/api/incidents/{segment}", self.settings.defender_endpoint);
        let (resp, roles) = self.authorized(Resource::Defender, &|| Request::json(Method::Patch, url.clone(), body))?;
        if resp.status != 200 {
            return Err(self.failure(&resp, id, "update the incident", DEFENDER_WRITE_ROLE, &roles));
        }
        // The answer is the incident entity; anything else (an error object, `{}`, `null`) means
        // the call did not do what we think.
        let v: serde_json::Value = serde_json::from_slice(&resp.body).map_err(|e| {
            ConnectorError::invalid(
                200,
                format!("the Microsoft 365 Defender API answered the update with invalid JSON: {e}"),
            )
        })?;
        let echoed = v.get("incidentId").and_then(crate::model::scalar_text);
        match echoed {
            Some(e) if e == id.trim() => Ok(()),
            Some(other) => Err(ConnectorError::invalid(
                200,
                format!("the Microsoft 365 Defender API answered the update of incident {id} with incident {other}"),
            )),
            None => Err(ConnectorError::invalid(
                200,
                format!(
                    "the Microsoft 365 Defender API answered the update of incident {id} without the incident{}; the change may not be applied — check the incident before repeating it",
                    graph::error_message(&resp.body).map(|m| format!(" ({m})")).unwrap_or_default()
                ),
            )),
        }
    }

    /// Runs a KQL query; `timespan` (ISO 8601) is sent as its own parameter, the KQL untouched.
    pub fn run_hunting_query(&mut self, query: &str, timespan: Option<&str>) -> Result<HuntingResult, ConnectorError> {
        let body = hunting::request_body(query, timespan)?;
        let url = format!("{}{}", self.settings.graph_endpoint, hunting::PATH);
        let (resp, roles) = self.authorized(Resource::Graph, &|| Request::json(Method::Post, url.clone(), &body))?;
        match resp.status {
            200 => hunting::parse_result(&resp.body),
            403 => {
                Err(permission_error(&resp, "run advanced hunting queries", hunting::ROLE, "Microsoft Graph", &roles))
            }
            _ => Err(hunting::classify_failure(&resp)),
        }
    }

    /// Types a failed incident call.
    fn failure(&self, resp: &Response, id: &str, what: &str, permission: &str, roles: &[String]) -> ConnectorError {
        let request_id = graph::request_id(resp).map(|r| format!(" (request-id {r})")).unwrap_or_default();
        let said = graph::error_message(&resp.body).map(|m| format!(": {m}")).unwrap_or_default();
        let api = if permission == DEFENDER_WRITE_ROLE { "Microsoft Threat Protection" } else { "Microsoft Graph" };
        match resp.status {
            404 => ConnectorError::NotFound(format!(
                "incident {id} does not exist in tenant {}{request_id}",
                self.settings.tenant_id
            )),
            403 => permission_error(resp, what, permission, api, roles),
            429 => ConnectorError::Throttled {
                retry_after_ms: resp.header("retry-after").and_then(graph::parse_retry_after_ms),
                message: format!("the service throttled the request to {what} {id}{request_id}"),
            },
            400 => ConnectorError::invalid_request(
                "update",
                format!("the service refused to {what} {id}{said}{request_id}"),
            ),
            s if s >= 500 => {
                ConnectorError::Transient(format!("HTTP {s} when trying to {what} {id}{said}{request_id}"))
            }
            s => {
                ConnectorError::invalid(s, format!("unexpected HTTP {s} when trying to {what} {id}{said}{request_id}"))
            }
        }
    }
}

/// The id as a path segment, refusing ids no service issues.
fn checked_segment(id: &str) -> Result<String, ConnectorError> {
    if id.len() > MAX_ID_LEN {
        return Err(ConnectorError::invalid_request(
            "id",
            format!("the incident id is {} characters long; incident ids are short numbers", id.len()),
        ));
    }
    update::id_segment(id)
}

fn permission_error(resp: &Response, what: &str, permission: &str, api: &str, roles: &[String]) -> ConnectorError {
    let request_id = graph::request_id(resp).map(|r| format!(" (request-id {r})")).unwrap_or_default();
    let message = if roles.is_empty() {
        format!(
            "the service refused to {what}: the access token carries no application permissions, so admin consent has not been granted. In the app registration, add the {api} application permission {permission} and click \"Grant admin consent\".{request_id}"
        )
    } else {
        format!(
            "the service refused to {what}: the app lacks the {api} application permission {permission} (it has: {}). Add it under API permissions and grant admin consent.{request_id}",
            roles.join(", ")
        )
    };
    ConnectorError::Permission { permission: permission.into(), message }
}

fn parse_incident(resp: &Response, what: &str) -> Result<Incident, ConnectorError> {
    let text = std::str::from_utf8(&resp.body)
        .map_err(|e| ConnectorError::invalid(200, format!("{what} is not UTF-8: {e}")))?;
    records::incident_from_raw(text).map_err(|e| match e {
        ConnectorError::InvalidResponse { message, .. } => ConnectorError::invalid(200, format!("{what}: {message}")),
        other => other,
    })
}
