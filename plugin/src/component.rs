//! WIT glue: exports call the plain-Rust connector and convert its types to the WIT ones.

use crate::auth::TokenCache;
use crate::config::{self, ConfigSource, Settings};
use crate::connector::{Connector, SystemClock};
use crate::error::ConnectorError;
use crate::records::{self, EvidenceSummary};
use crate::time::Timestamp;
use crate::wasi_http::WasiHttp;
use std::cell::RefCell;

wit_bindgen::generate!({
    path: "../wit",
    world: "redcarbon:connector/connector-plugin",
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:config/store@0.2.0-rc.1": generate,
    },
});

use exports::redcarbon::connector::connector::Guest;
use redcarbon::connector::types as wit;
use wasi::config::store;

thread_local! {
    // One token per component instance: the host keeps an instance for one tenant's poll.
    static TOKENS: RefCell<TokenCache> = RefCell::new(TokenCache::default());
    // The host builds a sandbox's config once and never changes it, so it is read and checked
    // once per instance, not once per call.
    static SETTINGS: RefCell<Option<Settings>> = const { RefCell::new(None) };
}

/// The tenant's settings, read from the config store on the instance's first call.
fn settings() -> Result<Settings, ConnectorError> {
    SETTINGS.with(|cached| {
        if let Some(s) = &*cached.borrow() {
            return Ok(s.clone());
        }
        let s = Settings::load(&Store)?;
        *cached.borrow_mut() = Some(s.clone());
        Ok(s)
    })
}

struct Store;

impl ConfigSource for Store {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        store::get(key).map_err(|e| match e {
            store::Error::Upstream(m) | store::Error::Io(m) => m,
        })
    }
}

fn with_connector<T>(
    f: impl FnOnce(&mut Connector<'_, WasiHttp, SystemClock>) -> Result<T, ConnectorError>,
) -> Result<T, wit::ConnectorError> {
    let settings = settings().map_err(to_wit_error)?;
    TOKENS.with(|tokens| {
        let mut tokens = tokens.borrow_mut();
        let mut connector = Connector { http: WasiHttp, clock: SystemClock, settings, tokens: &mut tokens };
        f(&mut connector).map_err(to_wit_error)
    })
}

struct Plugin;

impl Guest for Plugin {
    fn describe() -> wit::ConnectorInfo {
        wit::ConnectorInfo {
            name: crate::NAME.into(),
            version: crate::VERSION.into(),
            config_keys: config::KEYS
                .iter()
                .map(|k| wit::ConfigKey {
                    name: k.name.into(),
                    description: k.description.into(),
                    secret: k.secret,
                    required: k.required,
                    endpoint: k.endpoint,
                    default_value: k.default.map(Into::into),
                    presets: if k.name == config::CLOUD { cloud_presets() } else { Vec::new() },
                })
                .collect(),
            default_hosts: vec![
                "login.microsoftonline.com".into(),
                "graph.microsoft.com".into(),
                "api.security.microsoft.com".into(),
            ],
            permissions: vec![
                permission("Microsoft Graph", "SecurityIncident.Read.All", "read incidents and their alerts"),
                permission("Microsoft Graph", "SecurityAlert.Read.All", "read alerts (alerts_v2)"),
                permission("Microsoft Graph", "ThreatHunting.Read.All", "run advanced hunting (KQL) queries"),
                permission(
                    "Microsoft Threat Protection",
                    "Incident.ReadWrite.All",
                    "update incidents (status, assignment, classification, determination, tags, comments); Microsoft Graph SecurityIncident.ReadWrite.All works instead and also allows changing severity",
                ),
            ],
        }
    }

    fn check_config() -> Result<(), wit::ConnectorError> {
        Settings::load(&Store).map(|_| ()).map_err(to_wit_error)
    }

    fn test_connection() -> Vec<wit::Check> {
        let checks = match Settings::load(&Store) {
            Err(e) => crate::connection_test::settings_failed(&e),
            Ok(settings) => TOKENS.with(|tokens| {
                let mut tokens = tokens.borrow_mut();
                let mut connector = Connector { http: WasiHttp, clock: SystemClock, settings, tokens: &mut tokens };
                connector.test_connection()
            }),
        };
        checks.into_iter().map(|c| wit::Check { feature: c.feature, ok: c.ok, detail: c.detail }).collect()
    }

    fn update_incident(id: String, update: wit::IncidentUpdate) -> Result<wit::UpdateResult, wit::ConnectorError> {
        let change = crate::update::IncidentUpdate {
            expected_version: update.expected_version,
            status: update.status,
            assigned_to: update.assigned_to,
            classification: update.classification,
            determination: update.determination,
            severity: update.severity,
            custom_tags: update.custom_tags,
            resolving_comment: update.resolving_comment,
        };
        with_connector(|c| c.update_incident(&id, &change)).map(outcome)
    }

    fn add_incident_comment(id: String, comment: String) -> Result<wit::UpdateResult, wit::ConnectorError> {
        with_connector(|c| c.add_comment(&id, &comment)).map(outcome)
    }

    fn run_hunting_query(query: String, timespan: Option<String>) -> Result<wit::HuntingResult, wit::ConnectorError> {
        let r = with_connector(|c| c.run_hunting_query(&query, timespan.as_deref()))?;
        Ok(wit::HuntingResult {
            columns: r.columns.into_iter().map(|c| wit::HuntingColumn { name: c.name, type_: c.kind }).collect(),
            rows: r.rows,
            truncated: r.truncated,
        })
    }

    fn authenticate() -> Result<wit::AuthInfo, wit::ConnectorError> {
        with_connector(|c| c.authenticate()).map(|a| wit::AuthInfo {
            expires_in_seconds: a.expires_in_seconds,
            roles: a.roles,
            audience: a.audience,
        })
    }

    fn fetch_incidents(request: wit::FetchRequest) -> Result<wit::IncidentPage, wit::ConnectorError> {
        let page =
            with_connector(|c| c.fetch_incidents(request.cursor.as_deref(), request.page_size, request.attempt))?;
        Ok(wit::IncidentPage {
            incidents: page.records.into_iter().map(incident).collect(),
            next_cursor: page.next_cursor,
            more: page.more,
            degraded: page.degraded,
        })
    }

    fn fetch_alerts(request: wit::FetchRequest) -> Result<wit::AlertPage, wit::ConnectorError> {
        let page = with_connector(|c| c.fetch_alerts(request.cursor.as_deref(), request.page_size))?;
        Ok(wit::AlertPage {
            alerts: page.records.into_iter().map(alert).collect(),
            next_cursor: page.next_cursor,
            more: page.more,
        })
    }

    fn map_severity(severity: String) -> u8 {
        crate::severity::score(&severity)
    }
}

fn cloud_presets() -> Vec<wit::Preset> {
    let endpoint = |key: &str, url: &str| wit::EndpointDefault { key: key.into(), url: url.into() };
    crate::cloud::ALL
        .iter()
        .map(|c| wit::Preset {
            value: c.name().into(),
            endpoints: vec![
                endpoint(config::LOGIN_ENDPOINT, c.login()),
                endpoint(config::GRAPH_ENDPOINT, c.graph()),
                endpoint(config::DEFENDER_ENDPOINT, c.defender()),
            ],
        })
        .collect()
}

fn outcome(o: crate::analyst::UpdateOutcome) -> wit::UpdateResult {
    wit::UpdateResult {
        incident: o.incident.map(incident),
        warning: o.warning,
        path: match o.path {
            crate::update::UpdatePath::Graph => wit::UpdatePath::MicrosoftGraph,
            crate::update::UpdatePath::DefenderApi => wit::UpdatePath::DefenderApi,
        },
        reason: o.reason,
    }
}

fn permission(resource: &str, name: &str, reason: &str) -> wit::Permission {
    wit::Permission { api: resource.into(), name: name.into(), reason: reason.into() }
}

fn ts(t: Timestamp) -> wit::Timestamp {
    wit::Timestamp { seconds: t.seconds, nanoseconds: t.nanos }
}

fn evidence(e: EvidenceSummary) -> wit::EvidenceSummary {
    wit::EvidenceSummary {
        devices: e.devices,
        users: e.users,
        ips: e.ips,
        files: e.files,
        urls: e.urls,
        mailboxes: e.mailboxes,
        other: e.other,
    }
}

fn incident(i: records::Incident) -> wit::Incident {
    wit::Incident {
        version: i.last_updated.canonical(),
        id: i.id,
        title: i.title,
        severity: i.severity,
        score: i.score,
        status: i.status,
        classification: i.classification,
        determination: i.determination,
        created: ts(i.created),
        last_updated: ts(i.last_updated),
        service_sources: i.service_sources,
        detection_sources: i.detection_sources,
        assigned_to: i.assigned_to,
        web_url: i.web_url,
        mitre_techniques: i.mitre_techniques,
        alert_ids: i.alert_ids,
        evidence: evidence(i.evidence),
        redirect_incident_id: i.redirect_incident_id,
        raw: i.raw,
    }
}

fn alert(a: records::Alert) -> wit::Alert {
    wit::Alert {
        version: a.last_updated.canonical(),
        id: a.id,
        title: a.title,
        severity: a.severity,
        score: a.score,
        status: a.status,
        classification: a.classification,
        determination: a.determination,
        created: ts(a.created),
        last_updated: ts(a.last_updated),
        service_source: a.service_source,
        detection_source: a.detection_source,
        assigned_to: a.assigned_to,
        web_url: a.web_url,
        mitre_techniques: a.mitre_techniques,
        incident_id: a.incident_id,
        evidence: evidence(a.evidence),
        raw: a.raw,
    }
}

fn to_wit_error(e: ConnectorError) -> wit::ConnectorError {
    match e {
        ConnectorError::Config { key, message } => wit::ConnectorError::Config(wit::ConfigError { key, message }),
        ConnectorError::Auth { code, error, message } => {
            wit::ConnectorError::Auth(wit::AuthError { code, error, message })
        }
        ConnectorError::Permission { permission, message } => {
            wit::ConnectorError::Permission(wit::PermissionError { permission, message })
        }
        ConnectorError::Throttled { retry_after_ms, message } => {
            wit::ConnectorError::Throttled(wit::ThrottledError { retry_after_ms, message })
        }
        ConnectorError::Transient(m) => wit::ConnectorError::Transient(m),
        ConnectorError::InvalidResponse { status, message } => {
            wit::ConnectorError::InvalidResponse(wit::InvalidResponseError { status, message })
        }
        ConnectorError::DeniedBySandbox(m) => wit::ConnectorError::DeniedBySandbox(m),
        ConnectorError::NotFound(m) => wit::ConnectorError::NotFound(m),
        ConnectorError::Conflict { expected_version, current_version, message } => {
            wit::ConnectorError::Conflict(wit::ConflictError { expected_version, current_version, message })
        }
        ConnectorError::InvalidRequest { field, message } => {
            wit::ConnectorError::InvalidRequest(wit::InvalidRequestError { field, message })
        }
        ConnectorError::Query { kind, status, request_id, retry_after_ms, message } => {
            use crate::error::QueryFailure as Q;
            let kind = match kind {
                Q::InvalidQuery => wit::QueryFailure::InvalidQuery,
                Q::QuotaExceeded => wit::QueryFailure::QuotaExceeded,
                Q::Timeout => wit::QueryFailure::Timeout,
                Q::TooLarge => wit::QueryFailure::TooLarge,
                Q::Failed => wit::QueryFailure::Failed,
            };
            wit::ConnectorError::Query(wit::QueryError { kind, status, request_id, retry_after_ms, message })
        }
    }
}

export!(Plugin);
