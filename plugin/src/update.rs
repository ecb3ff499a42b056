//! Incident updates: what an analyst may change, checked before anything is sent, and the request
//! bodies of the two APIs that can carry it out (Microsoft Graph, or the Microsoft 365 Defender
//! API when the customer granted only Microsoft Threat Protection `Incident.ReadWrite.All`).

use crate::error::ConnectorError;
use serde_json::{Map, Value, json};

/// Graph app role that allows `PATCH /security/incidents/{id}`.
pub const GRAPH_WRITE_ROLE: &str = "SecurityIncident.ReadWrite.All";
/// Microsoft Threat Protection app role that allows `PATCH /api/incidents/{id}`.
pub const DEFENDER_WRITE_ROLE: &str = "Incident.ReadWrite.All";

/// An analyst's change to one incident; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentUpdate {
    /// The incident `version` the analyst saw; the update is refused if the incident changed since.
    pub expected_version: Option<String>,
    /// `active`, `inProgress` or `resolved`.
    pub status: Option<String>,
    /// Analyst or queue (free text; empty unassigns).
    pub assigned_to: Option<String>,
    /// `truePositive`, `falsePositive` or `informationalExpectedActivity`.
    pub classification: Option<String>,
    /// A determination allowed for the classification.
    pub determination: Option<String>,
    /// `informational`, `low`, `medium` or `high`.
    pub severity: Option<String>,
    /// Replaces the incident's custom tags.
    pub custom_tags: Option<Vec<String>>,
    /// Why it was resolved (Graph `resolvingComment`; a comment on the Defender API).
    pub resolving_comment: Option<String>,
}

/// Which API carried out a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatePath {
    /// `PATCH https://graph.microsoft.com/v1.0/security/incidents/{id}`.
    Graph,
    /// `PATCH https://api.security.microsoft.com/api/incidents/{id}`.
    DefenderApi,
}

impl UpdatePath {
    /// The API's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            UpdatePath::Graph => "Microsoft Graph",
            UpdatePath::DefenderApi => "the Microsoft 365 Defender API",
        }
    }
}

/// An update whose values are checked and spelled the way Graph spells them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidUpdate {
    /// Canonical version the caller saw.
    pub expected_version: Option<String>,
    /// Graph spelling.
    pub status: Option<&'static str>,
    /// As given.
    pub assigned_to: Option<String>,
    /// Graph spelling.
    pub classification: Option<&'static str>,
    /// Graph spelling.
    pub determination: Option<&'static str>,
    /// Graph spelling.
    pub severity: Option<&'static str>,
    /// As given.
    pub custom_tags: Option<Vec<String>>,
    /// As given.
    pub resolving_comment: Option<String>,
}

const STATUSES: &[&str] = &["active", "inProgress", "resolved"];
const SEVERITIES: &[&str] = &["informational", "low", "medium", "high"];
/// Determinations each classification allows (Graph schema names; the portal groups them so).
const PAIRS: &[(&str, &[&str])] = &[
    (
        "truePositive",
        &[
            "multiStagedAttack",
            "maliciousUserActivity",
            "compromisedAccount",
            "malware",
            "phishing",
            "unwantedSoftware",
            "other",
        ],
    ),
    ("informationalExpectedActivity", &["securityTesting", "lineOfBusinessApplication", "confirmedActivity", "other"]),
    ("falsePositive", &["notMalicious", "notEnoughDataToValidate", "other"]),
];

fn pick(field: &str, value: &str, allowed: &'static [&'static str]) -> Result<&'static str, ConnectorError> {
    let wanted: String = value.trim().chars().filter(|c| !matches!(c, '-' | '_' | ' ')).collect();
    allowed.iter().find(|a| a.eq_ignore_ascii_case(&wanted)).copied().ok_or_else(|| {
        ConnectorError::invalid_request(field, format!("`{value}` is not allowed; use one of: {}", allowed.join(", ")))
    })
}

/// Checks an update before any request: known values, a determination that fits its
/// classification, and at least one change.
pub fn validate(update: &IncidentUpdate) -> Result<ValidUpdate, ConnectorError> {
    let status = match update.status.as_deref() {
        None => None,
        Some(s) if ["redirected", "awaitingaction"].contains(&s.trim().to_ascii_lowercase().as_str()) => {
            return Err(ConnectorError::invalid_request(
                "status",
                format!(
                    "`{s}` is set by Microsoft (merging incidents, Defender Experts), not by an analyst; use active, inProgress or resolved"
                ),
            ));
        }
        Some(s) => Some(pick("status", s, STATUSES)?),
    };
    let severity = update.severity.as_deref().map(|s| pick("severity", s, SEVERITIES)).transpose()?;
    let classifications: &'static [&'static str] = &["truePositive", "falsePositive", "informationalExpectedActivity"];
    let classification =
        update.classification.as_deref().map(|c| pick("classification", c, classifications)).transpose()?;
    let determination = match (update.determination.as_deref(), classification) {
        (None, _) => None,
        (Some(d), None) => {
            return Err(ConnectorError::invalid_request(
                "determination",
                format!(
                    "`{d}` needs its classification in the same update (truePositive, falsePositive or informationalExpectedActivity)"
                ),
            ));
        }
        (Some(d), Some(c)) => {
            let lower = d.trim().to_ascii_lowercase();
            if lower == "apt" || lower == "securitypersonnel" {
                return Err(ConnectorError::invalid_request(
                    "determination",
                    format!("`{d}` was retired by Microsoft in August 2022; use multiStagedAttack or securityTesting"),
                ));
            }
            let allowed = PAIRS.iter().find(|(class, _)| *class == c).map(|(_, d)| *d).unwrap_or(&[]);
            Some(pick("determination", d, allowed).map_err(|_| {
                ConnectorError::invalid_request(
                    "determination",
                    format!("`{d}` does not go with classification {c}; with {c} use one of: {}", allowed.join(", ")),
                )
            })?)
        }
    };
    if let Some(tags) = &update.custom_tags
        && let Some(bad) = tags.iter().find(|t| t.trim().is_empty())
    {
        return Err(ConnectorError::invalid_request(
            "custom-tags",
            format!("a tag is empty (`{bad}`); give each tag some text, or an empty list to remove all tags"),
        ));
    }
    let expected_version = match update.expected_version.as_deref() {
        None => None,
        Some(v) => Some(
            crate::time::Timestamp::parse(v.trim())
                .map_err(|e| {
                    ConnectorError::invalid_request(
                        "expected-version",
                        format!("`{v}` is not an incident version (the record's `version`, an RFC 3339 instant): {e}"),
                    )
                })?
                .canonical(),
        ),
    };
    let valid = ValidUpdate {
        expected_version,
        status,
        assigned_to: update.assigned_to.clone(),
        classification,
        determination,
        severity,
        custom_tags: update.custom_tags.clone(),
        resolving_comment: update.resolving_comment.clone().filter(|c| !c.trim().is_empty()),
    };
    let nothing = ValidUpdate { expected_version: valid.expected_version.clone(), ..ValidUpdate::default() };
    if valid == nothing {
        return Err(ConnectorError::invalid_request(
            "update",
            "nothing to change: give at least one of a status, an assignment, a classification, a determination, a severity, tags or a resolving comment",
        ));
    }
    Ok(valid)
}

/// What the incident read back after an update shows differently from what was asked, if anything.
pub fn differences(u: &ValidUpdate, i: &crate::records::Incident) -> Option<String> {
    let mut out = Vec::new();
    let mut same = |what: &str, wanted: Option<&str>, now: Option<&str>| {
        if let Some(w) = wanted
            && !now.is_some_and(|n| n.eq_ignore_ascii_case(w))
        {
            out.push(format!("{what} {} instead of {w}", now.unwrap_or("(none)")));
        }
    };
    same("status", u.status, Some(i.status.as_str()));
    same("classification", u.classification, i.classification.as_deref());
    same("determination", u.determination, i.determination.as_deref());
    same("severity", u.severity, Some(i.severity.as_str()));
    // An empty assignment unassigns: Graph then shows null or "".
    if let Some(a) = u.assigned_to.as_deref() {
        let now = i.assigned_to.as_deref().unwrap_or("");
        if now != a {
            out.push(format!(
                "assigned to {} instead of {}",
                if now.is_empty() { "nobody" } else { now },
                if a.is_empty() { "nobody" } else { a }
            ));
        }
    }
    (!out.is_empty()).then(|| out.join(", "))
}

/// The `PATCH /security/incidents/{id}` body: only the fields to change, Graph's spelling.
pub fn graph_body(u: &ValidUpdate) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("status", u.status.map(Value::from));
    put("assignedTo", u.assigned_to.clone().map(Value::from));
    put("classification", u.classification.map(Value::from));
    put("determination", u.determination.map(Value::from));
    put("severity", u.severity.map(Value::from));
    put("customTags", u.custom_tags.clone().map(Value::from));
    put("resolvingComment", u.resolving_comment.clone().map(Value::from));
    Value::Object(m)
}

/// The Defender API's PascalCase spelling (its docs use the older determination names).
fn legacy_name(graph: &str) -> String {
    match graph {
        "compromisedAccount" => "CompromisedUser".into(),
        "notMalicious" => "Clean".into(),
        "notEnoughDataToValidate" => "InsufficientData".into(),
        "confirmedActivity" => "ConfirmedUserActivity".into(),
        other => {
            let mut chars = other.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        }
    }
}

/// The `PATCH /api/incidents/{id}` body of the Microsoft 365 Defender API.
pub fn defender_body(u: &ValidUpdate) -> Result<Value, ConnectorError> {
    if u.severity.is_some() {
        return Err(ConnectorError::Permission {
            permission: GRAPH_WRITE_ROLE.into(),
            message: format!(
                "the Microsoft 365 Defender API cannot change an incident's severity; grant the Microsoft Graph application permission {GRAPH_WRITE_ROLE} (with admin consent) to change it through Microsoft Graph"
            ),
        });
    }
    let mut m = Map::new();
    if let Some(s) = u.status {
        m.insert("status".into(), legacy_name(s).into());
    }
    if let Some(a) = &u.assigned_to {
        m.insert("assignedTo".into(), a.clone().into());
    }
    if let Some(c) = u.classification {
        m.insert("classification".into(), legacy_name(c).into());
    }
    if let Some(d) = u.determination {
        m.insert("determination".into(), legacy_name(d).into());
    }
    if let Some(t) = &u.custom_tags {
        m.insert("tags".into(), t.clone().into());
    }
    if let Some(c) = &u.resolving_comment {
        m.insert("comment".into(), c.clone().into());
    }
    Ok(Value::Object(m))
}

/// Graph's body for `POST /security/incidents/{id}/comments`.
pub fn graph_comment_body(comment: &str) -> Value {
    json!({ "@odata.type": "microsoft.graph.security.alertComment", "comment": comment })
}

/// Checks a comment before it is sent.
pub fn check_comment(comment: &str) -> Result<(), ConnectorError> {
    if comment.trim().is_empty() {
        return Err(ConnectorError::invalid_request("comment", "the comment is empty"));
    }
    Ok(())
}

/// An incident id as a URL path segment (ids are numeric strings; anything else is escaped).
pub fn id_segment(id: &str) -> Result<String, ConnectorError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(ConnectorError::invalid_request("id", "the incident id is empty"));
    }
    Ok(id
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> IncidentUpdate {
        IncidentUpdate::default()
    }

    #[test]
    fn the_documented_update_is_sent_in_graphs_spelling() {
        // Fixture update-incident-request.json: PascalCase as the doc shows, camelCase on the wire.
        let u = IncidentUpdate {
            classification: Some("TruePositive".into()),
            determination: Some("MultiStagedAttack".into()),
            custom_tags: Some(vec!["Demo".into()]),
            ..update()
        };
        let v = validate(&u).unwrap();
        assert_eq!(
            graph_body(&v),
            json!({"classification":"truePositive","determination":"multiStagedAttack","customTags":["Demo"]})
        );
    }

    #[test]
    fn the_documented_legacy_update_is_sent_in_pascal_case() {
        // Fixture legacy/update-incident-request.json.
        let u = IncidentUpdate {
            status: Some("resolved".into()),
            assigned_to: Some("secop2@contoso.com".into()),
            classification: Some("truePositive".into()),
            determination: Some("malware".into()),
            custom_tags: Some(vec!["Yossi's playground".into(), "Don't mess with the Zohan".into()]),
            resolving_comment: Some("pen testing".into()),
            ..update()
        };
        let body = defender_body(&validate(&u).unwrap()).unwrap();
        let fixture: Value =
            serde_json::from_str(include_str!("../../../shared/fixtures/graph/legacy/update-incident-request.json"))
                .unwrap();
        assert_eq!(body, fixture);
    }

    #[test]
    fn pairs_that_do_not_fit_are_refused_before_anything_is_sent() {
        let u = IncidentUpdate {
            classification: Some("falsePositive".into()),
            determination: Some("malware".into()),
            ..update()
        };
        assert_eq!(
            validate(&u).unwrap_err(),
            ConnectorError::invalid_request(
                "determination",
                "`malware` does not go with classification falsePositive; with falsePositive use one of: notMalicious, notEnoughDataToValidate, other"
            )
        );
        let u = IncidentUpdate { determination: Some("malware".into()), ..update() };
        assert!(
            matches!(validate(&u).unwrap_err(), ConnectorError::InvalidRequest { field, .. } if field == "determination")
        );
        let u = IncidentUpdate {
            classification: Some("truePositive".into()),
            determination: Some("apt".into()),
            ..update()
        };
        assert!(
            matches!(validate(&u).unwrap_err(), ConnectorError::InvalidRequest { message, .. } if message.contains("retired"))
        );
        let u = IncidentUpdate { status: Some("redirected".into()), ..update() };
        assert!(matches!(validate(&u).unwrap_err(), ConnectorError::InvalidRequest { field, .. } if field == "status"));
        let u = IncidentUpdate { severity: Some("critical".into()), ..update() };
        assert_eq!(
            validate(&u).unwrap_err(),
            ConnectorError::invalid_request(
                "severity",
                "`critical` is not allowed; use one of: informational, low, medium, high"
            )
        );
        let u = IncidentUpdate { expected_version: Some("2024-01-01T00:00:00Z".into()), ..update() };
        assert!(matches!(validate(&u).unwrap_err(), ConnectorError::InvalidRequest { field, .. } if field == "update"));
        let u =
            IncidentUpdate { expected_version: Some("yesterday".into()), status: Some("active".into()), ..update() };
        assert!(
            matches!(validate(&u).unwrap_err(), ConnectorError::InvalidRequest { field, .. } if field == "expected-version")
        );
    }

    #[test]
    fn spellings_are_forgiving_and_versions_canonical() {
        let u = IncidentUpdate {
            status: Some("in-progress".into()),
            severity: Some("HIGH".into()),
            expected_version: Some("2021-09-30T09:35:45.1133333Z".into()),
            ..update()
        };
        let v = validate(&u).unwrap();
        assert_eq!(v.status, Some("inProgress"));
        assert_eq!(v.severity, Some("high"));
        assert_eq!(v.expected_version.as_deref(), Some("2021-09-30T09:35:45.1133333Z"));
        assert!(
            matches!(defender_body(&v).unwrap_err(), ConnectorError::Permission { permission, .. } if permission == GRAPH_WRITE_ROLE)
        );
    }

    #[test]
    fn ids_are_escaped_as_path_segments() {
        assert_eq!(id_segment("2972395").unwrap(), "2972395");
        assert_eq!(id_segment("a/../b?c").unwrap(), "a%2F%2E%2E%2Fb%3Fc");
        assert!(id_segment(" ").is_err());
    }
}
