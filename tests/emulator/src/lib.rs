//! A local emulator of Microsoft Entra ID client credentials and the Microsoft Graph security API
//! (Defender XDR incidents and alerts), for end-to-end tests and the `demo` command.
//!
//! One [`Emulator`] serves both the login paths (`/{tenant}/oauth2/v2.0/token`) and the Graph paths
//! (`/v1.0/security/incidents`, `/v1.0/security/alerts_v2`) on `127.0.0.1`. It generates its own
//! bodies in the shape and wording of the real services; tests that want a real Microsoft body
//! byte for byte inject it with a [`Fault`] or store it with [`Emulator::upsert_incident`].
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let emulator = graph_emulator::Emulator::start().await?;
//! emulator.add_tenant(graph_emulator::demo::generate_tenant(0, 20, chrono::DateTime::UNIX_EPOCH));
//! println!("token endpoint: {}/{{tenant}}/oauth2/v2.0/token", emulator.base_url());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod assertion;
mod defender;
pub mod demo;
mod entra;
mod errors;
mod graph;
mod hunting;
mod ids;
mod incident;
mod odata;
mod server;
mod state;
mod time;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub use assertion::{thumbprint_x5t, verify_client_assertion};
pub use entra::jwt_claims;
pub use time::format_graph_time;

/// The roles a demo or test tenant usually has: read access to incidents, alerts and hunting.
pub const READ_ROLES: [&str; 3] = ["SecurityIncident.Read.All", "SecurityAlert.Read.All", "ThreatHunting.Read.All"];

/// The scope every real client sends; the emulator also accepts `{base_url}/.default`.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The Microsoft 365 Defender API's scope; the emulator also accepts `{defender_url}/.default`.
pub const DEFENDER_SCOPE: &str = "https://api.security.microsoft.com/.default";

/// The roles that let an app update incidents through each API.
pub const GRAPH_WRITE_ROLE: &str = "SecurityIncident.ReadWrite.All";
/// Microsoft Threat Protection's incident write role (the Defender API).
pub const DEFENDER_WRITE_ROLE: &str = "Incident.ReadWrite.All";

/// The cloud every emulator serves from its start; [`Emulator::add_cloud`] adds others.
pub const GLOBAL_CLOUD: &str = "global";

/// Which API a listener (and a token) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Entra ID login and Microsoft Graph (one listener, as the emulator has always served them).
    Graph,
    /// The Microsoft 365 Defender API (`/api/incidents`).
    Defender,
}

/// The base URLs of one emulated cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudUrls {
    /// The cloud's name, e.g. `global` or `usgov`.
    pub cloud: String,
    /// Login and Graph base URL.
    pub graph: String,
    /// Microsoft 365 Defender API base URL.
    pub defender: String,
}

/// One tenant's app registration and security data, as the emulator serves it.
#[derive(Debug, Clone, Default)]
pub struct TenantData {
    /// Directory (tenant) id, the `{tenant}` segment of the token path; compared case-insensitively.
    pub tenant_id: String,
    /// Application (client) id of the connector's app registration.
    pub client_id: String,
    /// The client secret value the token endpoint accepts.
    pub client_secret: String,
    /// App roles granted to the app; copied into each token's `roles` claim when it is issued.
    pub roles: Vec<String>,
    /// Graph incident objects (may already contain an `alerts` array, served as is by `$expand`).
    pub incidents: Vec<Value>,
    /// Graph alert (`alerts_v2`) objects, linked to incidents by `incidentId`.
    pub alerts: Vec<Value>,
    /// How `expires_in` is written, and how long issued tokens stay valid.
    pub token_lifetime: TokenLifetime,
    /// When set, the token endpoint answers AADSTS7000222 (expired secret) for the right secret.
    pub secret_expired: bool,
    /// Microsoft Threat Protection roles (tokens for the Defender API carry these).
    pub defender_roles: Vec<String>,
    /// PEM certificate uploaded to the app: client assertions signed by its key are accepted.
    pub certificate_pem: Option<String>,
    /// The cloud the tenant lives in (`""` = [`GLOBAL_CLOUD`]); other clouds' login does not know it.
    pub cloud: String,
    /// Hunting answers: the exact KQL and the 200 body served for it.
    pub hunting: Vec<(String, String)>,
    /// The 200 body for any other query (default: an empty schema and no rows).
    pub hunting_default: Option<String>,
}

impl TenantData {
    /// A tenant with the given credentials, [`READ_ROLES`], no data and a 3599-second token lifetime.
    pub fn new(tenant_id: &str, client_id: &str, client_secret: &str) -> TenantData {
        TenantData {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            roles: READ_ROLES.iter().map(|r| r.to_string()).collect(),
            ..TenantData::default()
        }
    }
}

/// Token lifetime in seconds, and whether `expires_in` is sent as a JSON number or a numeric string
/// (v1-style endpoints and some proxies send `"3599"`; clients must accept both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLifetime {
    /// `"expires_in": 3599`
    Number(u64),
    /// `"expires_in": "3599"`
    NumericString(u64),
}

impl TokenLifetime {
    /// The lifetime in seconds, whichever way it is written.
    pub fn seconds(&self) -> u64 {
        match self {
            TokenLifetime::Number(s) | TokenLifetime::NumericString(s) => *s,
        }
    }
}

impl Default for TokenLifetime {
    /// 3599 seconds as a number, what Entra's v2 endpoint sends.
    fn default() -> Self {
        TokenLifetime::Number(3599)
    }
}

/// Page-size rules per collection. Microsoft caps incidents at 50 (observed 400 for `$top=100`);
/// alerts_v2 limits are undocumented, so they are configurable here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Largest `$top` accepted on `security/incidents` (50).
    pub incidents_max_top: u32,
    /// Page size on `security/incidents` when `$top` is absent (50).
    pub incidents_default_top: u32,
    /// Largest `$top` accepted on `security/alerts_v2` (1000).
    pub alerts_max_top: u32,
    /// Page size on `security/alerts_v2` when `$top` is absent (100).
    pub alerts_default_top: u32,
}

impl Default for PageLimits {
    /// 50/50 for incidents, 1000/100 for alerts.
    fn default() -> Self {
        PageLimits { incidents_max_top: 50, incidents_default_top: 50, alerts_max_top: 1000, alerts_default_top: 100 }
    }
}

/// Which requests a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Any request to `/{tenant}/oauth2/v2.0/token`.
    Token,
    /// Any request to `/v1.0/security/incidents`.
    Incidents,
    /// A request to `/v1.0/security/incidents` that asks for `$expand` (the poison-page case:
    /// Graph failing only when alerts are expanded).
    IncidentsExpanded,
    /// Any request to `/v1.0/security/alerts_v2`.
    Alerts,
    /// Any request that is not a token request.
    AnyGraph,
    /// `PATCH /v1.0/security/incidents/{id}` and `POST …/{id}/comments`.
    IncidentUpdate,
    /// `POST /v1.0/security/runHuntingQuery`.
    Hunting,
    /// Any request to the Microsoft 365 Defender API (`/api/…`).
    Defender,
}

/// A one-shot response override: applied to the next request matching `route`, then discarded.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The requests this fault applies to.
    pub route: Route,
    /// What the matching request gets instead of (or before) normal handling.
    pub response: FaultResponse,
}

/// What a [`Fault`] does to the request it matches.
#[derive(Debug, Clone)]
pub enum FaultResponse {
    /// Answer `status` with these extra headers and exactly these body bytes (`application/json`
    /// unless `headers` sets another content type).
    Status {
        /// HTTP status code.
        status: u16,
        /// Extra response headers, e.g. `("Retry-After", "2")`.
        headers: Vec<(String, String)>,
        /// Exact response body.
        body: String,
    },
    /// Answer 200 with exactly this body (a fixture file's text, or deliberately malformed JSON).
    Body(String),
    /// Sleep this long, then handle the request normally.
    Delay(Duration),
}

impl Fault {
    /// A fault answering `status` with `body` and no extra headers.
    pub fn status(route: Route, status: u16, body: impl Into<String>) -> Fault {
        Fault { route, response: FaultResponse::Status { status, headers: Vec::new(), body: body.into() } }
    }

    /// A fault answering 200 with exactly `body`.
    pub fn body(route: Route, body: impl Into<String>) -> Fault {
        Fault { route, response: FaultResponse::Body(body.into()) }
    }

    /// A fault that delays the request, then lets it through.
    pub fn delay(route: Route, delay: Duration) -> Fault {
        Fault { route, response: FaultResponse::Delay(delay) }
    }

    /// Graph's throttling answer: 429, `Retry-After: {retry_after}` and a `TooManyRequests` body
    /// in the documented shape. `retry_after` is a string because real values can be fractional.
    pub fn throttled(route: Route, retry_after: &str) -> Fault {
        Fault {
            route,
            response: FaultResponse::Status {
                status: 429,
                headers: vec![("Retry-After".to_string(), retry_after.to_string())],
                body: errors::throttled_body(),
            },
        }
    }
}

/// One request as the emulator received it, and the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path without the query, exactly as received.
    pub path: String,
    /// Raw query string, not percent-decoded (empty when absent).
    pub query: String,
    /// Request headers in received order (names lower-case, as HTTP/1.1 parsing yields them).
    pub headers: Vec<(String, String)>,
    /// Request body; for token requests the `client_secret` value is replaced by `***`.
    pub body: String,
    /// Status code of the response.
    pub status: u16,
}

impl RequestRecord {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The query options percent-decoded (`+` as space), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }
}

/// A running emulator. Clones share one server; it stops on [`Emulator::shutdown`] or when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Emulator {
    handle: Arc<Handle>,
}

/// Owns the shutdown signal so that dropping the last [`Emulator`] stops the server; the server
/// task holds only the shared state, never this.
struct Handle {
    shared: Arc<state::Shared>,
    stop: Mutex<Option<tokio::sync::watch::Sender<bool>>>,
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().map(|mut s| s.take()).ok().flatten() {
            let _ = stop.send(true);
        }
    }
}

impl Emulator {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    ///
    /// # Errors
    /// If the listening socket cannot be bound.
    ///
    /// # Panics
    /// If called outside a tokio runtime.
    pub async fn start() -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(state::Shared::new(format!("http://127.0.0.1:{port}")));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let emulator = Emulator { handle: Arc::new(Handle { shared, stop: Mutex::new(Some(stop)), stopped }) };
        emulator.serve(listener, GLOBAL_CLOUD, Api::Graph)?;
        let defender = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        emulator.serve(defender, GLOBAL_CLOUD, Api::Defender)?;
        Ok(emulator)
    }

    fn serve(&self, listener: tokio::net::TcpListener, cloud: &str, api: Api) -> std::io::Result<String> {
        let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let endpoint = state::Endpoint { base_url: base.clone(), cloud: cloud.to_string(), api };
        self.shared().with(|s| s.endpoints.push(endpoint.clone()));
        server::spawn(listener, self.handle.shared.clone(), endpoint, self.handle.stopped.clone());
        Ok(base)
    }

    /// Serves another cloud (e.g. `usgov`) on two more listeners: its login and Graph, and its
    /// Defender API. Tenants whose `cloud` is another are unknown to its login, and its Graph and
    /// Defender API reject tokens issued by another cloud, as national clouds do.
    ///
    /// # Errors
    /// If a listening socket cannot be bound.
    pub async fn add_cloud(&self, cloud: &str) -> std::io::Result<CloudUrls> {
        let graph = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let defender = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(CloudUrls {
            cloud: cloud.to_string(),
            graph: self.serve(graph, cloud, Api::Graph)?,
            defender: self.serve(defender, cloud, Api::Defender)?,
        })
    }

    /// Base URL of the global cloud's Microsoft 365 Defender API listener (no trailing slash).
    pub fn defender_url(&self) -> String {
        self.shared().with(|s| {
            s.endpoints
                .iter()
                .find(|e| e.cloud == GLOBAL_CLOUD && e.api == Api::Defender)
                .map(|e| e.base_url.clone())
                .unwrap_or_default()
        })
    }

    /// Declares the stored data final, for benchmarks: each distinct list request is built once and
    /// its bytes served again, so the emulator costs next to nothing beside what is measured.
    /// Changes made afterwards (upserts, updates) are not seen by lists already served.
    pub fn freeze(&self) {
        self.shared().with(|s| s.page_cache = Some(Default::default()));
    }

    /// Replaces a tenant's Microsoft Threat Protection roles (tokens for the Defender API).
    ///
    /// # Panics
    /// If the tenant was never added.
    pub fn set_defender_roles(&self, tenant_id: &str, roles: Vec<String>) {
        self.shared().with(|s| s.tenant_mut(tenant_id).defender_roles = roles);
    }

    /// Answers runHuntingQuery for exactly `query` with `body` (status 200).
    ///
    /// # Panics
    /// If the tenant was never added.
    pub fn set_hunting_result(&self, tenant_id: &str, query: &str, body: &str) {
        self.shared().with(|s| {
            let t = s.tenant_mut(tenant_id);
            t.hunting.retain(|(q, _)| q != query);
            t.hunting.push((query.to_string(), body.to_string()));
        });
    }

    fn shared(&self) -> &state::Shared {
        &self.handle.shared
    }

    /// `http://127.0.0.1:PORT`, no trailing slash; both login and Graph paths live under it.
    pub fn base_url(&self) -> String {
        self.shared().base_url.clone()
    }

    /// Adds a tenant, replacing any tenant with the same id (tokens already issued stay valid).
    pub fn add_tenant(&self, tenant: TenantData) {
        self.shared().with(|s| s.add_tenant(tenant));
    }

    /// Replaces a tenant's app roles; only tokens issued afterwards carry them, as in Entra.
    ///
    /// # Panics
    /// If the tenant was never added (a test bug worth failing loudly on).
    pub fn set_roles(&self, tenant_id: &str, roles: Vec<String>) {
        self.shared().with(|s| s.tenant_mut(tenant_id).roles = roles);
    }

    /// Replaces a tenant's client secret.
    ///
    /// # Panics
    /// If the tenant was never added.
    pub fn set_client_secret(&self, tenant_id: &str, secret: &str) {
        self.shared().with(|s| s.tenant_mut(tenant_id).client_secret = secret.to_string());
    }

    /// Marks the tenant's secret as expired (AADSTS7000222) or valid again.
    ///
    /// # Panics
    /// If the tenant was never added.
    pub fn set_secret_expired(&self, tenant_id: &str, expired: bool) {
        self.shared().with(|s| s.tenant_mut(tenant_id).secret_expired = expired);
    }

    /// Inserts an incident, or replaces the stored one with the same `"id"`.
    ///
    /// # Panics
    /// If the tenant was never added.
    pub fn upsert_incident(&self, tenant_id: &str, incident: Value) {
        self.shared().with(|s| state::upsert_by_id(&mut s.tenant_mut(tenant_id).incidents, incident));
    }

    /// Inserts an alert, or replaces the stored one with the same `"id"`.
    ///
    /// # Panics
    /// If the tenant was never added.
    pub fn upsert_alert(&self, tenant_id: &str, alert: Value) {
        self.shared().with(|s| state::upsert_by_id(&mut s.tenant_mut(tenant_id).alerts, alert));
    }

    /// The stored incident with this id, as stored (not as served).
    pub fn incident(&self, tenant_id: &str, incident_id: &str) -> Option<Value> {
        self.shared()
            .with(|s| s.tenant(tenant_id)?.incidents.iter().find(|i| i["id"].as_str() == Some(incident_id)).cloned())
    }

    /// All stored incidents of a tenant, in insertion order (empty for an unknown tenant).
    pub fn incidents(&self, tenant_id: &str) -> Vec<Value> {
        self.shared().with(|s| s.tenant(tenant_id).map(|t| t.incidents.clone())).unwrap_or_default()
    }

    /// All stored alerts of a tenant, in insertion order (empty for an unknown tenant).
    pub fn alerts(&self, tenant_id: &str) -> Vec<Value> {
        self.shared().with(|s| s.tenant(tenant_id).map(|t| t.alerts.clone())).unwrap_or_default()
    }

    /// Queues a fault; each request consumes the first queued fault whose route it matches.
    pub fn push_fault(&self, fault: Fault) {
        self.shared().with(|s| s.faults.push_back(fault));
    }

    /// Makes `@odata.nextLink` start with `base` instead of [`Emulator::base_url`], so tests can
    /// check that a client refuses to follow a link to another host. `None` restores the default.
    pub fn set_next_link_base(&self, base: Option<String>) {
        self.shared().with(|s| s.next_link_base = base.map(|b| b.trim_end_matches('/').to_string()));
    }

    /// Makes list requests ignore `$filter` (`true`), as a misbehaving service might: every item is
    /// served regardless of the time predicate. Paging and ordering still apply.
    pub fn set_ignore_filter(&self, ignore: bool) {
        self.shared().with(|s| s.ignore_filter = ignore);
    }

    /// Replaces the page-size rules (they apply to all tenants).
    pub fn set_page_limits(&self, limits: PageLimits) {
        self.shared().with(|s| s.limits = limits);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared().with(|s| s.log.clone())
    }

    /// Forgets the request log (token counts are kept).
    pub fn clear_requests(&self) {
        self.shared().with(|s| {
            s.log.clear();
            s.log_seq.clear();
        });
    }

    /// How many token requests (successful or not, faulted included) named this tenant in the path.
    pub fn token_requests(&self, tenant_id: &str) -> usize {
        self.shared().with(|s| s.token_counts.get(&tenant_id.to_ascii_lowercase()).copied().unwrap_or(0))
    }

    /// Makes every token already issued for this tenant expired, as if an hour had passed.
    pub fn expire_tokens(&self, tenant_id: &str) {
        self.shared().with(|s| s.expire_tokens(tenant_id));
    }

    /// Stops accepting connections; requests in flight finish. Idempotent.
    pub fn shutdown(&self) {
        if let Some(stop) = self.handle.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(true);
        }
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator").field("base_url", &self.shared().base_url).finish_non_exhaustive()
    }
}
