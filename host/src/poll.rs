//! One poll cycle: every tenant concurrently (bounded), each in a fresh sandbox, pages written
//! durably before their cursor is saved.

use crate::bindings::{ConnectorError, FetchRequest};
use crate::checkpoint::CheckpointStore;
use crate::output::{self, Producer, RecordSink};
use crate::runtime::{LoadedConnector, PreparedTenant, Runtime, SandboxError};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
}

/// One line an operator can act on for a connector error.
pub fn explain(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Config(c) => format!("configuration: `{}`: {}", c.key, c.message),
        ConnectorError::Auth(a) => match &a.code {
            Some(code) => format!("sign-in failed ({code}, {}): {}", a.error, a.message),
            None => format!("sign-in failed ({}): {}", a.error, a.message),
        },
        ConnectorError::Permission(p) => {
            format!("missing permission {}: {}", p.permission, p.message)
        }
        ConnectorError::Throttled(t) => match t.retry_after_ms {
            Some(ms) => format!("throttled, retry after {:.1} s: {}", ms as f64 / 1000.0, t.message),
            None => format!("throttled: {}", t.message),
        },
        ConnectorError::Transient(m) => format!("temporary failure: {m}"),
        ConnectorError::InvalidResponse(r) if r.status == 0 || r.status == 200 => {
            format!("invalid response: {}", r.message)
        }
        ConnectorError::InvalidResponse(r) => {
            format!("invalid response (HTTP {}): {}", r.status, r.message)
        }
        ConnectorError::DeniedBySandbox(m) => format!("denied by the sandbox: {m}"),
    }
}

/// What happened to one stream of one tenant.
#[derive(Debug, Default)]
pub struct StreamReport {
    /// Records written.
    pub records: usize,
    /// Pages fetched.
    pub pages: usize,
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
    /// Wall time.
    pub elapsed: Duration,
}

impl TenantReport {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.incidents.error.is_none() && self.alerts.error.is_none()
    }
}

/// Shared pieces of a poll cycle.
pub struct Poller {
    /// Engine and limits.
    pub runtime: Arc<Runtime>,
    /// The connector.
    pub connector: Arc<LoadedConnector>,
    /// Cursors.
    pub checkpoints: CheckpointStore,
    /// Output.
    pub sink: Arc<RecordSink>,
}

impl Poller {
    /// Polls every tenant once, at most `concurrency` at a time; reports in the tenants' order.
    pub async fn poll_all(self: &Arc<Self>, tenants: &[Arc<PreparedTenant>], concurrency: usize) -> Vec<TenantReport> {
        let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let tasks: Vec<_> = tenants
            .iter()
            .map(|tenant| {
                let (me, tenant, permits) = (self.clone(), tenant.clone(), permits.clone());
                tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await.expect("semaphore never closed");
                    me.poll_tenant(&tenant).await
                })
            })
            .collect();
        let mut reports = Vec::with_capacity(tasks.len());
        for (task, tenant) in tasks.into_iter().zip(tenants) {
            reports.push(task.await.unwrap_or_else(|e| TenantReport {
                tenant: tenant.name.to_string(),
                incidents: StreamReport::default(),
                alerts: StreamReport::default(),
                error: Some(PollError::Record(format!("the poll task failed: {e}"))),
                elapsed: Duration::ZERO,
            }));
        }
        reports
    }

    /// Polls one tenant: a fresh sandbox, incidents then alerts, each until caught up.
    pub async fn poll_tenant(&self, tenant: &PreparedTenant) -> TenantReport {
        let started = Instant::now();
        let limit = self.runtime.limits().poll_timeout_secs;
        let mut report = TenantReport {
            tenant: tenant.name.to_string(),
            incidents: StreamReport::default(),
            alerts: StreamReport::default(),
            error: None,
            elapsed: Duration::ZERO,
        };
        let run = async {
            let mut session = match self.runtime.session(&self.connector, tenant).await {
                Ok(s) => s,
                Err(e) => {
                    report.error = Some(e.into());
                    return;
                }
            };
            for kind in [Kind::Incidents, Kind::Alerts] {
                let stream = match kind {
                    Kind::Incidents => &mut report.incidents,
                    Kind::Alerts => &mut report.alerts,
                };
                self.poll_stream(&mut session, tenant, kind, stream).await;
                let fatal = matches!(
                    &stream.error,
                    Some(PollError::Sandbox(_))
                        | Some(PollError::Connector(ConnectorError::Auth(_) | ConnectorError::Config(_)))
                );
                if fatal {
                    break; // the other stream would fail the same way
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(limit), run).await.is_err() {
            report.error = Some(PollError::Timeout(limit));
        }
        report.elapsed = started.elapsed();
        match report.ok() {
            true => {
                tracing::info!(tenant = %tenant.name, incidents = report.incidents.records, alerts = report.alerts.records,
                elapsed_ms = report.elapsed.as_millis() as u64, "tenant polled")
            }
            false => {
                tracing::warn!(tenant = %tenant.name, error = %first_error(&report), "tenant poll failed")
            }
        }
        report
    }

    async fn poll_stream(
        &self,
        session: &mut crate::runtime::Session,
        tenant: &PreparedTenant,
        kind: Kind,
        report: &mut StreamReport,
    ) {
        let producer =
            Producer { name: self.connector.info.name.clone(), version: self.connector.info.version.clone() };
        let mut cursor = match self.checkpoints.load(&tenant.name, kind.name()) {
            Ok(c) => c,
            Err(e) => {
                report.error = Some(PollError::Checkpoint(e));
                return;
            }
        };
        loop {
            let request = FetchRequest { cursor: cursor.clone(), page_size: None };
            let (lines, next, more) = match kind {
                Kind::Incidents => match session.fetch_incidents(&request).await {
                    Ok(Ok(page)) => {
                        let lines: Result<Vec<_>, _> =
                            page.incidents.iter().map(|i| output::incident_line(&tenant.name, &producer, i)).collect();
                        (lines, page.next_cursor, page.more)
                    }
                    Ok(Err(e)) => return report.error = Some(PollError::Connector(e)),
                    Err(e) => return report.error = Some(e.into()),
                },
                Kind::Alerts => match session.fetch_alerts(&request).await {
                    Ok(Ok(page)) => {
                        let lines: Result<Vec<_>, _> =
                            page.alerts.iter().map(|a| output::alert_line(&tenant.name, &producer, a)).collect();
                        (lines, page.next_cursor, page.more)
                    }
                    Ok(Err(e)) => return report.error = Some(PollError::Connector(e)),
                    Err(e) => return report.error = Some(e.into()),
                },
            };
            let lines = match lines {
                Ok(l) => l,
                Err(e) => return report.error = Some(PollError::Record(e.to_string())),
            };
            // Records first, durably; only then the cursor that says they are done.
            if let Err(e) = self.sink.write_lines(&lines) {
                return report.error = Some(PollError::Output(e));
            }
            if let Err(e) = self.checkpoints.save(&tenant.name, kind.name(), &next) {
                return report.error = Some(PollError::Checkpoint(e));
            }
            report.records += lines.len();
            report.pages += 1;
            tracing::debug!(tenant = %tenant.name, kind = kind.name(), records = lines.len(), more, "page written");
            cursor = Some(next);
            if !more {
                return;
            }
        }
    }
}

/// The first error of a report, for one-line logs.
pub fn first_error(report: &TenantReport) -> String {
    [&report.error, &report.incidents.error, &report.alerts.error]
        .into_iter()
        .flatten()
        .next()
        .map(|e| e.to_string())
        .unwrap_or_default()
}
