//! One poll cycle: every tenant concurrently (bounded), each in a fresh sandbox, pages written
//! durably before their cursor is saved; throttling and transient failures retried with bounded
//! backoff, each tenant waiting alone.

use crate::bindings::{ConnectorError, FetchRequest};
use crate::checkpoint::CheckpointStore;
use crate::config::RetryPolicy;
use crate::health::{Health, HealthError};
use crate::output::{self, Producer, RecordSink};
use crate::runtime::{PreparedTenant, Runtime, SandboxError, Session};
use crate::secret::Redactor;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// The record streams a connector offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `fetch-incidents`.
    Incidents,
    /// `fetch-alerts`.
    Alerts,
}

impl Kind {
    /// Name used in state files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Incidents => "incidents",
            Kind::Alerts => "alerts",
        }
    }
}

/// Why a tenant's stream stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The connector returned a typed error.
    #[error("{}", explain(.0))]
    Connector(ConnectorError),
    /// The sandbox stopped the component.
    #[error("{0}")]
    Sandbox(#[from] SandboxError),
    /// The tenant's poll ran past its wall-clock limit.
    #[error("the poll took longer than its limit of {0} s")]
    Timeout(u64),
    /// Records could not be written.
    #[error("writing records failed: {0}")]
    Output(std::io::Error),
    /// The cursor could not be saved (records were written; they may be re-emitted next poll).
    #[error("saving the cursor failed: {0}")]
    Checkpoint(std::io::Error),
    /// The connector produced a record the host cannot serialise.
    #[error("{0}")]
    Record(String),
    /// The tenant's config does not fit the connector version chosen for it.
    #[error("configuration: {0}")]
    Config(String),
}

impl PollError {
    /// Short machine-readable kind for health and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Connector(e) => match e {
                ConnectorError::Config(_) => "config",
                ConnectorError::Auth(_) => "auth",
                ConnectorError::Permission(_) => "permission",
                ConnectorError::Throttled(_) => "throttled",
                ConnectorError::Transient(_) => "transient",
                ConnectorError::InvalidResponse(_) => "invalid-response",
                ConnectorError::DeniedBySandbox(_) => "denied-by-sandbox",
                ConnectorError::NotFound(_) => "not-found",
                ConnectorError::Conflict(_) => "conflict",
                ConnectorError::InvalidRequest(_) => "invalid-request",
                ConnectorError::Query(_) => "query",
            },
            PollError::Sandbox(e) => e.kind(),
            PollError::Timeout(_) => "timeout",
            PollError::Output(_) => "output",
            PollError::Checkpoint(_) => "checkpoint",
            PollError::Record(_) => "record",
            PollError::Config(_) => "config",
        }
    }
}

/// `e` with the tenant's secrets scrubbed from every message the component wrote, and control
/// characters escaped: the text often quotes a server's body, which must not be able to forge
/// summary lines or send terminal escapes to an operator's screen.
pub fn redact_error(e: ConnectorError, r: &Redactor) -> ConnectorError {
    let f = |s: String| scrub(r, &s);
    match e {
        ConnectorError::Config(mut c) => {
            c.message = f(c.message);
            ConnectorError::Config(c)
        }
        ConnectorError::Auth(mut a) => {
            a.message = f(a.message);
            a.error = f(a.error);
            ConnectorError::Auth(a)
        }
        ConnectorError::Permission(mut p) => {
            p.message = f(p.message);
            ConnectorError::Permission(p)
        }
        ConnectorError::Throttled(mut t) => {
            t.message = f(t.message);
            ConnectorError::Throttled(t)
        }
        ConnectorError::Transient(m) => ConnectorError::Transient(f(m)),
        ConnectorError::InvalidResponse(mut i) => {
            i.message = f(i.message);
            ConnectorError::InvalidResponse(i)
        }
        ConnectorError::DeniedBySandbox(m) => ConnectorError::DeniedBySandbox(f(m)),
        ConnectorError::NotFound(m) => ConnectorError::NotFound(f(m)),
        ConnectorError::Conflict(mut c) => {
            c.message = f(c.message);
            c.expected_version = f(c.expected_version);
            c.current_version = f(c.current_version);
            ConnectorError::Conflict(c)
        }
        ConnectorError::InvalidRequest(mut i) => {
            i.message = f(i.message);
            i.field = f(i.field);
            ConnectorError::InvalidRequest(i)
        }
        ConnectorError::Query(mut q) => {
            q.message = f(q.message);
            q.request_id = q.request_id.map(f);
            ConnectorError::Query(q)
        }
    }
}

/// Control characters and the bidirectional-text controls (which can make `exe.gnp` read as
/// `png.exe`): never shown raw on an operator's terminal.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with [`is_unsafe_char`] characters escaped (`\u{1b}`).
pub fn escape_unsafe(s: &str) -> String {
    if s.chars().any(is_unsafe_char) {
        s.chars()
            .map(|c| match c {
                c if c.is_control() => c.escape_default().to_string(),
                c if is_unsafe_char(c) => c.escape_unicode().to_string(),
                c => c.to_string(),
            })
            .collect()
    } else {
        s.to_string()
    }
}

/// `text` without the tenant's secrets and with [`is_unsafe_char`] characters escaped: what any
/// text a component or a server produced must become before an operator sees it.
pub fn scrub(r: &Redactor, text: &str) -> String {
    escape_unsafe(&r.redact(text))
}

/// One line an operator can act on for a connector error.
pub fn explain(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Config(c) => format!("setting `{}`: {}", c.key, c.message),
        ConnectorError::Auth(a) => match &a.code {
            Some(code) => format!("sign-in failed ({code}, {}): {}", a.error, a.message),
            None => format!("sign-in failed ({}): {}", a.error, a.message),
        },
        ConnectorError::Permission(p) => format!("missing permission {}: {}", p.permission, p.message),
        ConnectorError::Throttled(t) => match t.retry_after_ms {
            Some(ms) => format!("throttled, retry after {:.1} s: {}", ms as f64 / 1000.0, t.message),
            None => format!("throttled: {}", t.message),
        },
        ConnectorError::Transient(m) => format!("temporary failure: {m}"),
        ConnectorError::InvalidResponse(r) if r.status == 0 || r.status == 200 => {
            format!("invalid response: {}", r.message)
        }
        ConnectorError::InvalidResponse(r) => format!("invalid response (HTTP {}): {}", r.status, r.message),
        ConnectorError::DeniedBySandbox(m) => format!("denied by the sandbox: {m}"),
        ConnectorError::NotFound(m) => format!("not found: {m}"),
        ConnectorError::Conflict(c) => format!("conflict: {}", c.message),
        ConnectorError::InvalidRequest(i) => format!("invalid request (`{}`): {}", i.field, i.message),
        ConnectorError::Query(q) => {
            let kind = match q.kind {
                crate::bindings::QueryFailure::InvalidQuery => "invalid query",
                crate::bindings::QueryFailure::QuotaExceeded => "quota exceeded",
                crate::bindings::QueryFailure::Timeout => "timeout",
                crate::bindings::QueryFailure::TooLarge => "result too large",
                crate::bindings::QueryFailure::Failed => "failed",
            };
            let id = q.request_id.as_deref().map(|r| format!(", request-id {r}")).unwrap_or_default();
            let retry =
                q.retry_after_ms.map(|ms| format!(", retry after {:.1} s", ms as f64 / 1000.0)).unwrap_or_default();
            format!("hunting query failed ({kind}, HTTP {}{id}{retry}): {}", q.status, q.message)
        }
    }
}

/// What happened to one stream of one tenant.
#[derive(Debug, Default)]
pub struct StreamReport {
    /// Records written.
    pub records: usize,
    /// Pages fetched.
    pub pages: usize,
    /// Failed attempts that were retried.
    pub retries: u32,
    /// Newest version written (canonical RFC 3339).
    pub newest: Option<String>,
    /// Why it stopped early, if it did.
    pub error: Option<PollError>,
}

/// What happened to one tenant in a cycle.
#[derive(Debug)]
pub struct TenantReport {
    /// Tenant name.
    pub tenant: String,
    /// Incidents stream.
    pub incidents: StreamReport,
    /// Alerts stream.
    pub alerts: StreamReport,
    /// Error before any stream ran (sandbox creation, timeout).
    pub error: Option<PollError>,
    /// Why some data was read in a fallback mode.
    pub degraded: Option<String>,
    /// Stopped early by a shutdown request (cursors are consistent).
    pub interrupted: bool,
    /// Wall time.
    pub elapsed: Duration,
    /// The connector version that ran this poll (`version (sha256:…)`); empty if none ran.
    pub connector: String,
}

impl TenantReport {
    fn new(tenant: &str) -> Self {
        TenantReport {
            tenant: tenant.to_string(),
            incidents: StreamReport::default(),
            alerts: StreamReport::default(),
            error: None,
            degraded: None,
            interrupted: false,
            elapsed: Duration::ZERO,
            connector: String::new(),
        }
    }

    /// A tenant that could not be polled at all (its config does not fit any loaded version).
    pub fn not_polled(tenant: &str, error: PollError) -> Self {
        let mut r = TenantReport::new(tenant);
        r.error = Some(error);
        r
    }

    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.incidents.error.is_none() && self.alerts.error.is_none()
    }

    /// The first error, if any.
    pub fn first_error(&self) -> Option<&PollError> {
        [&self.error, &self.incidents.error, &self.alerts.error].into_iter().flatten().next()
    }
}

/// Concurrency slot of a tenant; given back while the tenant sleeps on a retry.
struct Gate {
    semaphore: Option<Arc<Semaphore>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Gate {
    async fn enter(&mut self) {
        if let (Some(s), None) = (&self.semaphore, &self.permit) {
            self.permit = Some(s.clone().acquire_owned().await.expect("semaphore never closed"));
        }
    }

    fn leave(&mut self) {
        self.permit = None;
    }
}

/// Shared pieces of a poll cycle.
pub struct Poller {
    runtime: Arc<Runtime>,
    checkpoints: CheckpointStore,
    sink: Arc<RecordSink>,
    retry: RetryPolicy,
    shutdown: watch::Receiver<bool>,
}

impl Poller {
    /// A poller with the default retry policy and no shutdown signal.
    pub fn new(runtime: Arc<Runtime>, checkpoints: CheckpointStore, sink: Arc<RecordSink>) -> Self {
        let (tx, shutdown) = watch::channel(false);
        std::mem::forget(tx); // never signalled
        Poller { runtime, checkpoints, sink, retry: RetryPolicy::default(), shutdown }
    }

    /// Uses `retry` for throttling and transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Stops polls at the next page boundary once `shutdown` turns true.
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> Self {
        self.shutdown = shutdown;
        self
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Polls every tenant once, at most `concurrency` at a time; reports in the tenants' order.
    pub async fn poll_all(self: &Arc<Self>, tenants: &[Arc<PreparedTenant>], concurrency: usize) -> Vec<TenantReport> {
        let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
        let tasks: Vec<_> = tenants
            .iter()
            .map(|tenant| {
                let (me, tenant) = (self.clone(), tenant.clone());
                let gate = Gate { semaphore: Some(semaphore.clone()), permit: None };
                tokio::spawn(async move { me.poll_gated(&tenant, gate).await })
            })
            .collect();
        let mut reports = Vec::with_capacity(tasks.len());
        for (task, tenant) in tasks.into_iter().zip(tenants) {
            reports.push(task.await.unwrap_or_else(|e| {
                let mut r = TenantReport::new(&tenant.name);
                r.error = Some(PollError::Record(format!("the poll task failed: {e}")));
                r
            }));
        }
        reports
    }

    /// Polls one tenant: a fresh sandbox, incidents then alerts, each until caught up.
    pub async fn poll_tenant(&self, tenant: &PreparedTenant) -> TenantReport {
        self.poll_gated(tenant, Gate { semaphore: None, permit: None }).await
    }

    async fn poll_gated(&self, tenant: &PreparedTenant, mut gate: Gate) -> TenantReport {
        gate.enter().await;
        let started = Instant::now();
        let limit = tenant.limits.poll_timeout_secs;
        let deadline = started + Duration::from_secs(limit);
        let mut report = TenantReport::new(&tenant.name);
        report.connector = tenant.connector.label();
        let run = async {
            let mut session = match self.runtime.session(tenant).await {
                Ok(s) => Some(s),
                Err(e) => {
                    report.error = Some(e.into());
                    return;
                }
            };
            for kind in [Kind::Incidents, Kind::Alerts] {
                let mut stream = StreamReport::default();
                let degraded = self.poll_stream(&mut session, tenant, kind, &mut stream, &mut gate, deadline).await;
                report.degraded = report.degraded.take().or(degraded);
                report.interrupted |= self.stopping();
                let fatal = matches!(
                    &stream.error,
                    Some(PollError::Sandbox(e)) if !matches!(e, SandboxError::EgressDenied { .. })
                ) || matches!(
                    &stream.error,
                    Some(PollError::Connector(ConnectorError::Auth(_) | ConnectorError::Config(_)))
                );
                match kind {
                    Kind::Incidents => report.incidents = stream,
                    Kind::Alerts => report.alerts = stream,
                }
                if fatal || report.interrupted {
                    break; // the other stream would fail the same way, or we are stopping
                }
            }
        };
        // The backstop: a page in flight may finish (at most one call's limit) after the deadline.
        let backstop = Duration::from_secs(limit + tenant.limits.call_timeout_secs);
        if tokio::time::timeout(backstop, run).await.is_err() {
            report.error = Some(PollError::Timeout(limit));
        }
        report.elapsed = started.elapsed();
        match report.first_error() {
            None => {
                tracing::info!(tenant = %tenant.name, incidents = report.incidents.records, alerts = report.alerts.records,
                retries = report.incidents.retries + report.alerts.retries, elapsed_ms = report.elapsed.as_millis() as u64,
                degraded = report.degraded.is_some(), "tenant polled")
            }
            Some(e) => tracing::warn!(tenant = %tenant.name, kind = e.kind(), error = %e, "tenant poll failed"),
        }
        if let Some(why) = &report.degraded {
            tracing::warn!(tenant = %tenant.name, reason = %why, "tenant degraded");
        }
        self.record_health(&report).await;
        report
    }

    /// Why the output or the state journal takes no more writes, if one failed: the host must
    /// stop (it would fetch the same pages again and again) until the disk is fixed.
    pub fn storage_failure(&self) -> Option<String> {
        self.checkpoints.poisoned().or_else(|| self.sink.poisoned())
    }

    /// Folds a report into the tenant's health in the state journal.
    pub async fn record_health(&self, report: &TenantReport) {
        let mut health = self.checkpoints.load_health(&report.tenant).unwrap_or_default();
        health.update(report, chrono::Utc::now());
        if let Err(e) = self.checkpoints.save_health(&report.tenant, &health).await {
            tracing::warn!(tenant = %report.tenant, error = %e, "could not save health");
        }
    }

    /// Pages through one stream; returns why it was degraded, if it was.
    async fn poll_stream(
        &self,
        session_slot: &mut Option<Session>,
        tenant: &PreparedTenant,
        kind: Kind,
        report: &mut StreamReport,
        gate: &mut Gate,
        deadline: Instant,
    ) -> Option<String> {
        let producer =
            Producer { name: tenant.connector.info.name.clone(), version: tenant.connector.info.version.clone() };
        let mut degraded = None;
        let mut cursor = self.checkpoints.load(&tenant.name, kind.name());
        let mut attempt = 0u32;
        loop {
            if self.stopping() {
                return degraded;
            }
            // Checked at page boundaries, so the pages already written are counted and the cursor is consistent.
            if Instant::now() >= deadline {
                report.error = Some(PollError::Timeout(tenant.limits.poll_timeout_secs));
                return degraded;
            }
            let request = FetchRequest { cursor: cursor.clone(), page_size: None, attempt };
            if session_slot.is_none() {
                match self.runtime.session(tenant).await {
                    Ok(s) => *session_slot = Some(s),
                    Err(e) => {
                        report.error = Some(e.into());
                        return degraded;
                    }
                }
            }
            let session = session_slot.as_mut().expect("created above");
            let fetched = match kind {
                Kind::Incidents => session.fetch_incidents(&request).await.map(|r| {
                    r.map(|page| {
                        let lines =
                            page.incidents.iter().map(|i| output::incident_line(&tenant.name, &producer, i)).collect();
                        let newest = page.incidents.iter().map(|i| i.version.clone()).max();
                        (lines, newest, page.next_cursor, page.more, page.degraded)
                    })
                }),
                Kind::Alerts => session.fetch_alerts(&request).await.map(|r| {
                    r.map(|page| {
                        let lines =
                            page.alerts.iter().map(|a| output::alert_line(&tenant.name, &producer, a)).collect();
                        let newest = page.alerts.iter().map(|a| a.version.clone()).max();
                        (lines, newest, page.next_cursor, page.more, None)
                    })
                }),
            };
            let (lines, newest, next, more, page_degraded) = match fetched {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    let e = redact_error(e, &tenant.redactor);
                    match self.retry_delay(&e, attempt, deadline) {
                        Some(delay) => {
                            tracing::warn!(tenant = %tenant.name, stream = kind.name(), attempt = attempt + 1,
                                delay_ms = delay.as_millis() as u64, error = %explain(&e), "retrying the same page");
                            report.retries += 1;
                            attempt += 1;
                            // Give the concurrency slot and the sandbox (a slot of the instance
                            // pool) back while this one waits: sleepers holding sandboxes could
                            // otherwise use up the pool, and every tenant would stall. The next
                            // attempt runs in a fresh sandbox (one more token request).
                            *session_slot = None;
                            gate.leave();
                            let mut stop = self.shutdown.clone();
                            tokio::select! {
                                _ = tokio::time::sleep(delay) => {}
                                _ = stop.wait_for(|s| *s) => return degraded,
                            }
                            gate.enter().await;
                        }
                        None => report.error = Some(PollError::Connector(e)),
                    }
                    if report.error.is_some() {
                        return degraded;
                    }
                    continue;
                }
                Err(e) => {
                    report.error = Some(e.into());
                    return degraded;
                }
            };
            let lines: Result<Vec<String>, _> = lines;
            let lines = match lines {
                // A component must not be able to leak a secret through the records it returns.
                Ok(l) => l.into_iter().map(|l| tenant.redactor.redact(&l).into_owned()).collect::<Vec<_>>(),
                Err(e) => {
                    report.error = Some(PollError::Record(e.to_string()));
                    return degraded;
                }
            };
            // A journal that takes no more cursors: writing the page would only append it again
            // on every later poll (nothing could say it is done).
            if let Some(why) = self.checkpoints.poisoned() {
                report.error = Some(PollError::Checkpoint(std::io::Error::other(why)));
                return degraded;
            }
            // Records first, durably; only then the cursor that says they are done.
            if let Err(e) = self.sink.write_lines(&lines).await {
                report.error = Some(PollError::Output(e));
                return degraded;
            }
            if let Err(e) = self.checkpoints.save(&tenant.name, kind.name(), &next).await {
                report.error = Some(PollError::Checkpoint(e));
                return degraded;
            }
            attempt = 0;
            report.records += lines.len();
            report.pages += 1;
            report.newest = report.newest.take().max(newest);
            degraded = degraded.or(page_degraded);
            tracing::debug!(tenant = %tenant.name, stream = kind.name(), records = lines.len(), more, "page written");
            cursor = Some(next);
            if !more {
                return degraded;
            }
        }
    }

    /// How long to wait before retrying after `error`, or `None` to give up.
    fn retry_delay(&self, error: &ConnectorError, attempt: u32, deadline: Instant) -> Option<Duration> {
        if attempt + 1 >= self.retry.max_attempts {
            return None;
        }
        let delay = match error {
            ConnectorError::Throttled(t) => match t.retry_after_ms {
                Some(ms) => Duration::from_millis(ms).min(Duration::from_secs(self.retry.max_retry_after_secs)),
                None => self.retry.backoff(attempt),
            },
            ConnectorError::Transient(_) => self.retry.backoff(attempt),
            _ => return None,
        };
        // Never sleep past the poll's deadline: stop with the error instead; the cursor is unchanged.
        (Instant::now() + delay < deadline).then_some(delay)
    }
}

/// The first error of a report, for one-line logs.
pub fn first_error(report: &TenantReport) -> String {
    report.first_error().map(|e| e.to_string()).unwrap_or_default()
}

impl HealthError {
    /// From a poll error.
    pub fn from_poll(e: &PollError, at: &str) -> Self {
        HealthError { kind: e.kind().to_string(), message: e.to_string(), at: at.to_string() }
    }
}

impl Health {
    /// Folds one poll's report in.
    pub fn update(&mut self, report: &TenantReport, now: chrono::DateTime<chrono::Utc>) {
        let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.last_poll = Some(at.clone());
        self.fetched_incidents = report.incidents.records;
        self.fetched_alerts = report.alerts.records;
        self.retries = report.incidents.retries + report.alerts.retries;
        let newest = [&report.incidents.newest, &report.alerts.newest].into_iter().flatten().max().cloned();
        self.newest_seen = self.newest_seen.take().max(newest);
        self.lag_seconds = self
            .newest_seen
            .as_deref()
            .and_then(|n| chrono::DateTime::parse_from_rfc3339(n).ok())
            .map(|n| (now - n.with_timezone(&chrono::Utc)).num_seconds());
        self.degraded = report.degraded.clone();
        if !report.connector.is_empty() {
            self.connector = Some(report.connector.clone());
        }
        match report.first_error() {
            None if !report.interrupted => {
                self.last_success = Some(at);
                self.consecutive_failures = 0;
            }
            None => {}
            Some(e) => {
                self.consecutive_failures += 1;
                if matches!(e, PollError::Sandbox(_)) {
                    self.sandbox_failures += 1;
                }
                self.last_error = Some(HealthError::from_poll(e, &at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn connector_messages_lose_secrets_and_control_characters() {
        let r = Redactor::new([&Secret::new("hunter2-secret")]);
        let e = ConnectorError::Transient("HTTP 500: hunter2-secret\nt1 9 9 0.0s ok\u{1b}[2J".into());
        match redact_error(e, &r) {
            ConnectorError::Transient(m) => assert_eq!(m, "HTTP 500: ***\\nt1 9 9 0.0s ok\\u{1b}[2J"),
            other => panic!("{other:?}"),
        }
    }
}
