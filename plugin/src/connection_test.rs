//! The customer's "Test" button: sign in, read the token's roles, compare them with what each
//! feature needs, then probe each feature's endpoint with a one-item request. Every line is a
//! sentence the customer can act on.

use crate::auth::Resource;
use crate::config::Credential;
use crate::connector::{Clock, Connector};
use crate::error::ConnectorError;
use crate::graph::{self, Collection};
use crate::http::{HttpClient, Request};
use crate::update::{DEFENDER_WRITE_ROLE, GRAPH_WRITE_ROLE, UpdatePath};

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `Read alerts`.
    pub feature: String,
    /// It works.
    pub ok: bool,
    /// What was found, or what to fix.
    pub detail: String,
}

fn check(feature: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check { feature: feature.into(), ok, detail: detail.into() }
}

/// The probe of a hunting query: cheap, and present in every Defender XDR tenant.
pub const HUNTING_PROBE: &str = "AlertInfo | take 1";

/// The checklist when the settings themselves are wrong.
pub fn settings_failed(e: &ConnectorError) -> Vec<Check> {
    vec![check("Settings", false, e.to_string())]
}

impl<H: HttpClient, C: Clock> Connector<'_, H, C> {
    /// Runs every check; never fails, every problem is a failed line.
    pub fn test_connection(&mut self) -> Vec<Check> {
        let mut out = Vec::new();
        let credential = match &self.settings.credential {
            Credential::Secret(_) => "client secret".to_string(),
            Credential::Certificate { thumbprint, .. } => {
                format!("certificate {}", thumbprint.iter().map(|b| format!("{b:02X}")).collect::<String>())
            }
        };
        let token = match self.token_for(Resource::Graph) {
            Ok(t) => t,
            Err(e) => {
                out.push(check("Sign in", false, e.to_string()));
                return out;
            }
        };
        // Minutes, rounded: the exact seconds depend on when the clock ticked.
        let valid = (token.expires_at.saturating_sub(self.clock.now().seconds.max(0) as u64) + 30) / 60;
        out.push(check(
            "Sign in",
            true,
            format!(
                "{} issued a token for {} with the {credential}, valid for {valid} min",
                self.settings.login_endpoint, self.settings.graph_endpoint
            ),
        ));
        let roles = token.roles.clone();
        let consent = !roles.is_empty();
        out.push(if consent {
            check("Admin consent", true, format!("granted application permissions: {}", roles.join(", ")))
        } else {
            check(
                "Admin consent",
                false,
                "the token carries no application permissions, so admin consent has not been granted: in the app registration, open API permissions and click \"Grant admin consent for <your organisation>\"",
            )
        });
        let has = |wanted: &[&str]| roles.iter().any(|r| wanted.contains(&r.as_str()));
        let missing = |role: &str| {
            if consent {
                format!(
                    "missing the Microsoft Graph application permission {role}: add it under API permissions and grant admin consent"
                )
            } else {
                format!("needs the Microsoft Graph application permission {role}; admin consent has not been granted")
            }
        };

        for (feature, collection, wanted) in [
            ("Read incidents", Collection::Incidents, &["SecurityIncident.Read.All", GRAPH_WRITE_ROLE][..]),
            ("Read alerts", Collection::Alerts, &["SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"][..]),
        ] {
            if !has(wanted) {
                out.push(check(feature, false, missing(wanted[0])));
                continue;
            }
            out.push(match self.probe(collection) {
                Ok(n) => check(feature, true, format!("works (a one-item read of {} returned {n})", collection.noun())),
                Err(e) => check(feature, false, e.to_string()),
            });
        }

        out.push(if !has(&[crate::hunting::ROLE]) {
            check("Advanced hunting", false, missing(crate::hunting::ROLE))
        } else {
            match self.run_hunting_query(HUNTING_PROBE, Some("P1D")) {
                Ok(r) => check(
                    "Advanced hunting",
                    true,
                    format!("works (`{HUNTING_PROBE}` returned {} row(s))", r.rows.len()),
                ),
                Err(e) => check("Advanced hunting", false, e.to_string()),
            }
        });

        out.push(match self.update_path() {
            Ok((UpdatePath::Graph, _)) => check(
                "Update incidents",
                true,
                format!("allowed through Microsoft Graph ({GRAPH_WRITE_ROLE}); not probed with a write"),
            ),
            Ok((UpdatePath::DefenderApi, _)) => match self.probe_defender() {
                Ok(()) => check(
                    "Update incidents",
                    true,
                    format!(
                        "allowed through the Microsoft 365 Defender API at {} (Microsoft Threat Protection {DEFENDER_WRITE_ROLE}); read one incident there, not probed with a write",
                        self.settings.defender_endpoint
                    ),
                ),
                Err(e) => check("Update incidents", false, e.to_string()),
            },
            Err(e) => check(
                "Update incidents",
                false,
                match e {
                    ConnectorError::Permission { message, .. } => message,
                    other => other.to_string(),
                },
            ),
        });
        out
    }

    /// Lists one item of a collection; the number read, or what went wrong.
    fn probe(&mut self, collection: Collection) -> Result<usize, ConnectorError> {
        let url = format!("{}{}?$top=1", self.settings.graph_endpoint, collection.path());
        let resp = self
            .graph_get(&url, collection)?
            .map_err(|limit| ConnectorError::invalid(400, format!("Graph refused $top=1 (its limit is {limit})")))?;
        let page: crate::model::Page = serde_json::from_slice(&resp.body).map_err(|e| {
            ConnectorError::invalid(200, format!("the {} answer is not valid Graph JSON: {e}", collection.noun()))
        })?;
        page.value.map(|v| v.len()).ok_or_else(|| {
            ConnectorError::invalid(200, format!("the {} answer has no `value` array", collection.noun()))
        })
    }

    /// Reads one incident from the Microsoft 365 Defender API.
    fn probe_defender(&mut self) -> Result<(), ConnectorError> {
        let url = format!("{}/api/incidents?$top=1", self.settings.defender_endpoint);
        let (resp, roles) = self.authorized(Resource::Defender, &|| Request::get(url.clone()))?;
        match resp.status {
            200 => match serde_json::from_slice::<serde_json::Value>(&resp.body) {
                Ok(v) if v.get("value").is_some_and(serde_json::Value::is_array) => Ok(()),
                Ok(_) => Err(ConnectorError::invalid(
                    200,
                    format!(
                        "the Microsoft 365 Defender API answered the one-incident read without an incident list{}",
                        graph::error_message(&resp.body).map(|m| format!(" ({m})")).unwrap_or_default()
                    ),
                )),
                Err(e) => Err(ConnectorError::invalid(
                    200,
                    format!("the Microsoft 365 Defender API answered with invalid JSON: {e}"),
                )),
            },
            403 => Err(ConnectorError::Permission {
                permission: DEFENDER_WRITE_ROLE.into(),
                message: format!(
                    "the Microsoft 365 Defender API refused to list incidents although the token has {}; check the Microsoft Threat Protection permissions and admin consent",
                    roles.join(", ")
                ),
            }),
            404 => Err(ConnectorError::config(
                crate::config::DEFENDER_ENDPOINT,
                format!(
                    "{} answered 404 for /api/incidents: it is not the Microsoft 365 Defender API of the tenant's cloud",
                    self.settings.defender_endpoint
                ),
            )),
            s => Err(ConnectorError::Transient(format!(
                "the Microsoft 365 Defender API answered HTTP {s} to a one-incident read{}",
                graph::error_message(&resp.body).map(|m| format!(": {m}")).unwrap_or_default()
            ))),
        }
    }
}
