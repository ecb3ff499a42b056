//! The Defender connector's operations, independent of WebAssembly: sign-in, paging and mapping
//! over any [`HttpClient`].

use crate::auth::{self, Resource, Token, TokenCache};
use crate::config::{Backfill, Settings};
use crate::cursor::{Cursor, Scan};
use crate::error::ConnectorError;
use crate::graph::{self, Collection, Failure};
use crate::http::{HttpClient, Request, Response, TransportError};
use crate::model::Page;
use crate::records::{self, Alert, Incident, Versioned};
use crate::time::Timestamp;

/// Wall clock, injectable for tests.
pub trait Clock {
    /// Now, in UTC.
    fn now(&self) -> Timestamp;
}

/// The system clock (`wasi:clocks/wall-clock` inside the component).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_unix(d.as_secs() as i64, d.subsec_nanos())
    }
}

/// What a successful sign-in tells the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    /// Seconds until the token expires.
    pub expires_in_seconds: u64,
    /// App roles in the token.
    pub roles: Vec<String>,
    /// Token audience.
    pub audience: Option<String>,
}

/// A page of records and where to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPage<T> {
    /// New records or new versions.
    pub records: Vec<T>,
    /// Cursor to store after the records are written.
    pub next_cursor: String,
    /// More pages are ready now.
    pub more: bool,
    /// Why the page was read in a fallback mode, if it was.
    pub degraded: Option<String>,
}

/// One tenant's connector over an HTTP client and a clock; `tokens` outlives calls.
pub struct Connector<'a, H: HttpClient, C: Clock> {
    /// Transport.
    pub http: H,
    /// Clock.
    pub clock: C,
    /// Validated settings.
    pub settings: Settings,
    /// Token reused across calls of one component instance.
    pub tokens: &'a mut TokenCache,
}

impl<H: HttpClient, C: Clock> Connector<'_, H, C> {
    fn now_secs(&self) -> u64 {
        self.clock.now().seconds.max(0) as u64
    }

    /// The current Graph token, requesting one only when the cached one is near expiry.
    fn token(&mut self) -> Result<Token, ConnectorError> {
        self.token_for(Resource::Graph)
    }

    /// The current token for `resource`, requesting one only when the cached one is near expiry.
    pub(crate) fn token_for(&mut self, resource: Resource) -> Result<Token, ConnectorError> {
        let now = self.now_secs();
        if let Some(t) = self.tokens.valid_for(resource, now) {
            return Ok(t.clone());
        }
        let request = auth::token_request_for(&self.settings, resource, now as i64, u64::from(self.tokens.requests))?;
        self.tokens.requests += 1;
        let resp = self.send(&request)?;
        let token = auth::parse_token_response(&resp, &self.settings, now)?;
        self.tokens.store_for(resource, token.clone());
        Ok(token)
    }

    /// Sends a request built around a bearer token for `resource`; a 401 refreshes the token once
    /// and resends. Any other answer is returned with the token's roles for the caller to classify.
    pub(crate) fn authorized(
        &mut self,
        resource: Resource,
        build: &dyn Fn() -> Request,
    ) -> Result<(Response, Vec<String>), ConnectorError> {
        for attempt in 0..2 {
            let token = self.token_for(resource)?;
            let request = build().header("authorization", token.access.bearer()).header("accept", "application/json");
            let resp = self.send(&request)?;
            if resp.status != 401 {
                return Ok((resp, token.roles));
            }
            self.tokens.invalidate_for(resource);
            if attempt == 1 {
                let why = graph::error_message(&resp.body).unwrap_or_else(|| "access token rejected".into());
                return Err(ConnectorError::Auth {
                    code: None,
                    error: "invalid_token".into(),
                    message: match resource {
                        Resource::Graph => graph::explain_rejected_token(&why),
                        Resource::Defender => format!(
                            "the Microsoft 365 Defender API rejected a freshly issued token ({why}); check that `defender-endpoint` belongs to the same cloud as the login endpoint"
                        ),
                    },
                });
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    pub(crate) fn send(&mut self, request: &Request) -> Result<Response, ConnectorError> {
        self.http.send(request).map_err(|e| match e {
            TransportError::Denied(target) => ConnectorError::DeniedBySandbox(format!(
                "the host refused a request to {target}; only the tenant's configured endpoints are reachable"
            )),
            TransportError::BadUrl(url) => {
                ConnectorError::invalid(0, format!("cannot request `{url}`: not an absolute http(s) URL"))
            }
            TransportError::Network(why) => {
                let host = crate::http::split_url(&request.url).map(|p| p.authority).unwrap_or_default();
                ConnectorError::Transient(format!("network error talking to {host}: {why}"))
            }
        })
    }

    /// Signs in (or reuses the current token) and reports what the token grants.
    pub fn authenticate(&mut self) -> Result<AuthInfo, ConnectorError> {
        let token = self.token()?;
        Ok(AuthInfo {
            expires_in_seconds: token.expires_at.saturating_sub(self.now_secs()),
            roles: token.roles,
            audience: token.audience,
        })
    }

    /// GET a Graph URL with a token, refreshing the token once if Graph rejects it.
    /// `Ok(Err(limit))` when Graph says `$top` is above its limit.
    pub(crate) fn graph_get(
        &mut self,
        url: &str,
        collection: Collection,
    ) -> Result<Result<Response, u32>, ConnectorError> {
        let (resp, roles) =
            self.authorized(Resource::Graph, &|| Request::get(url).header("prefer", graph::PREFER_UNKNOWN_ENUMS))?;
        if resp.status == 200 {
            return Ok(Ok(resp));
        }
        match graph::classify_failure(&resp, collection, &roles) {
            // `authorized` already refreshed the token once and turns a second 401 into an error.
            Failure::TokenRejected(why) => Err(ConnectorError::Auth {
                code: None,
                error: "invalid_token".into(),
                message: graph::explain_rejected_token(&why),
            }),
            Failure::TopTooLarge(limit) => Ok(Err(limit)),
            Failure::Error(e) => Err(e),
        }
    }

    /// The next page of incidents after `cursor`; `attempt` counts earlier transient failures of it.
    pub fn fetch_incidents(
        &mut self,
        cursor: Option<&str>,
        page_size: Option<u32>,
        attempt: u32,
    ) -> Result<RecordPage<Incident>, ConnectorError> {
        self.fetch(Collection::Incidents, cursor, page_size, attempt, records::incident_from_raw)
    }

    /// The next page of alerts after `cursor`.
    pub fn fetch_alerts(
        &mut self,
        cursor: Option<&str>,
        page_size: Option<u32>,
    ) -> Result<RecordPage<Alert>, ConnectorError> {
        self.fetch(Collection::Alerts, cursor, page_size, 0, records::alert_from_raw)
    }

    fn fetch<T: Versioned>(
        &mut self,
        collection: Collection,
        cursor: Option<&str>,
        page_size: Option<u32>,
        attempt: u32,
        parse: fn(&str) -> Result<T, ConnectorError>,
    ) -> Result<RecordPage<T>, ConnectorError> {
        let mut cursor = match cursor {
            Some(text) => Cursor::decode(text)?,
            None => {
                let now = self.clock.now();
                let since = match self.settings.backfill {
                    Backfill::Window(secs) => now.minus_seconds(secs),
                    Backfill::Since(t) => t,
                };
                if since > now {
                    return Err(ConnectorError::config(
                        crate::config::BACKFILL,
                        format!(
                            "`{}` is in the future, so the first poll would read nothing: use a past instant or a duration such as 24h",
                            since.canonical()
                        ),
                    ));
                }
                Cursor::starting_at(since)
            }
        };
        let (configured, max) = match collection {
            Collection::Incidents => (self.settings.incidents_page_size, crate::config::INCIDENTS_MAX_PAGE),
            Collection::Alerts => (self.settings.alerts_page_size, crate::config::ALERTS_MAX_PAGE),
        };
        let mut top = page_size.unwrap_or(configured).clamp(1, max).min(cursor.top_limit.unwrap_or(u32::MAX));
        // `$expand=alerts` can fail persistently on large tenants (HTTP 500) while the same page
        // without it works: after repeated failures, read the page bare and its alerts separately.
        let degrade = collection == Collection::Incidents
            && (attempt >= EXPAND_FALLBACK_AFTER || cursor.scan.as_ref().is_some_and(|s| s.degraded));
        let graph = self.settings.graph_endpoint.clone();
        let resp = loop {
            let mut url = match &cursor.scan {
                Some(scan) => scan.next_link.clone(),
                None => collection.first_page_url(&graph, cursor.watermark(), top),
            };
            if degrade {
                url = graph::without_expand(&url);
            }
            match self.graph_get(&url, collection)? {
                Ok(resp) => break resp,
                // The service told us its page limit: use it from now on. Only for URLs we built;
                // a nextLink is the service's own and is never rewritten.
                Err(limit) if cursor.scan.is_none() && limit >= 1 && limit < top => {
                    top = limit;
                    cursor.top_limit = Some(limit);
                }
                Err(limit) => {
                    return Err(ConnectorError::invalid(
                        400,
                        format!(
                            "Microsoft Graph says the {} page limit is {limit}, but the request already asked for {top} or followed the service's own nextLink",
                            collection.noun()
                        ),
                    ));
                }
            }
        };
        let page: Page = serde_json::from_slice(&resp.body).map_err(|e| {
            ConnectorError::invalid(
                200,
                format!("the {} page is not valid Graph JSON: {e}; the cursor did not move", collection.noun()),
            )
        })?;
        let Some(items) = page.value else {
            return Err(ConnectorError::invalid(
                200,
                format!("the {} page has no `value` array; the cursor did not move", collection.noun()),
            ));
        };
        let scan = cursor.scan.get_or_insert_with(|| Scan {
            next_link: String::new(),
            emitted: Default::default(),
            degraded: false,
            visited: Vec::new(),
        });
        scan.degraded |= degrade;
        let mut out = Vec::with_capacity(items.len());
        for raw in items {
            let assembled;
            let text = if degrade {
                assembled = self.with_alerts(raw.get())?;
                assembled.as_str()
            } else {
                raw.get()
            };
            let record = parse(text).map_err(|e| match e {
                ConnectorError::InvalidResponse { message, .. } => {
                    ConnectorError::invalid(200, format!("{message}; the cursor did not move"))
                }
                other => other,
            })?;
            if cursor.admit(record.id(), record.version()) {
                cursor.record(record.id(), record.version());
                out.push(record);
            }
        }
        let more = match page.next_link {
            Some(link) => {
                if !cursor.scan.as_mut().expect("scan set above").follow(link) {
                    return Err(ConnectorError::invalid(
                        200,
                        format!(
                            "Microsoft Graph returned a {} nextLink this scan already followed; stopping instead of looping",
                            collection.noun()
                        ),
                    ));
                }
                true
            }
            None => {
                cursor.finish_scan(self.settings.lookback_secs, self.clock.now());
                false
            }
        };
        let degraded = degrade.then(|| {
            "Microsoft Graph kept failing on incidents with $expand=alerts; this page was read without it and each incident's alerts were read from alerts_v2".to_string()
        });
        Ok(RecordPage { records: out, next_cursor: cursor.encode(), more, degraded })
    }

    /// The incident's JSON with an `alerts` array read from `alerts_v2` (what `$expand` would give).
    fn with_alerts(&mut self, incident: &str) -> Result<String, ConnectorError> {
        #[derive(serde::Deserialize)]
        struct Id {
            #[serde(default)]
            id: Option<serde_json::Value>,
        }
        let id = serde_json::from_str::<Id>(incident)
            .ok()
            .and_then(|i| i.id)
            .and_then(|v| crate::model::scalar_text(&v))
            .ok_or_else(|| ConnectorError::invalid(200, "an incident has no `id`; the cursor did not move"))?;
        let mut url =
            Some(graph::alerts_of_incident_url(&self.settings.graph_endpoint, &id, self.settings.alerts_page_size));
        let mut alerts: Vec<String> = Vec::new();
        let mut pages = 0;
        while let Some(next) = url.take() {
            pages += 1;
            if pages > MAX_ALERT_PAGES_PER_INCIDENT {
                return Err(ConnectorError::invalid(
                    200,
                    format!(
                        "incident {id} has more than {MAX_ALERT_PAGES_PER_INCIDENT} pages of alerts; stopping instead of looping"
                    ),
                ));
            }
            let resp = match self.graph_get(&next, Collection::Alerts)? {
                Ok(resp) => resp,
                Err(limit) => {
                    return Err(ConnectorError::invalid(
                        400,
                        format!("alerts_v2 page limit is {limit}; lower alerts-page-size"),
                    ));
                }
            };
            let page: Page = serde_json::from_slice(&resp.body).map_err(|e| {
                ConnectorError::invalid(200, format!("the alerts of incident {id} are not valid Graph JSON: {e}"))
            })?;
            alerts.extend(page.value.unwrap_or_default().into_iter().map(|a| a.get().to_string()));
            url = page.next_link.filter(|l| *l != next);
        }
        Ok(graph::insert_alerts(incident, &alerts))
    }
}

/// Transient failures of one incidents page before it is read without `$expand`.
pub const EXPAND_FALLBACK_AFTER: u32 = 2;
/// Bound on alert pages read for one incident in fallback mode.
const MAX_ALERT_PAGES_PER_INCIDENT: usize = 50;
