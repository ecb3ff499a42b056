//! A running host's tenants and connector versions. Each cycle resolves every tenant's version
//! from the registry (pin, canary, rollback), prepares the tenant from the *current* config (so
//! added, removed and re-keyed tenants take effect on the next poll), polls, and feeds each
//! outcome back to the rollout. New versions are loaded from files, validated, and offered.

use crate::config::TenantConfig;
use crate::poll::{PollError, Poller, TenantReport};
use crate::registry::{ConnectorRegistry, Event, Outcome};
use crate::runtime::{LoadedConnector, PreparedTenant, Runtime, SandboxError, short_digest};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Runtime, versions and poller of one host process.
pub struct Fleet {
    /// The engine.
    pub runtime: Arc<Runtime>,
    /// The loaded versions and who runs which.
    pub registry: ConnectorRegistry<LoadedConnector>,
    poller: Arc<Poller>,
    /// Files already loaded or refused, by path and (mtime, size, inode), so a scan reloads only changes.
    seen_files: Mutex<BTreeMap<PathBuf, FileKey>>,
    /// Where `versions.json` (which tenant runs which version, and why) is written; none: not written.
    listing: Option<PathBuf>,
    /// The version each tenant ran last: a new one must fit the tenant as well as this one did.
    last: Mutex<BTreeMap<String, Arc<LoadedConnector>>>,
}

/// Largest component file read; anything bigger is refused before it is read.
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;

type FileKey = (Option<std::time::SystemTime>, u64, u64);

fn file_key(meta: &std::fs::Metadata) -> FileKey {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0;
    (meta.modified().ok(), meta.len(), inode)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees half of it.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), bytes)?;
    tmp.persist(path).map(|_| ()).map_err(|e| e.error)
}

/// One tenant's line in `versions.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantVersion {
    /// Tenant name.
    pub tenant: String,
    /// Connector version that ran its latest poll.
    pub version: String,
    /// Its digest.
    pub digest: String,
    /// Why it runs this one when it is not the stable version (pin, canary, rollback), if so.
    pub note: Option<String>,
}

impl Fleet {
    /// A fleet serving `initial` to every tenant.
    pub fn new(
        runtime: Arc<Runtime>,
        initial: Arc<LoadedConnector>,
        poller: Arc<Poller>,
        policy: crate::registry::RolloutPolicy,
    ) -> Self {
        let registry = ConnectorRegistry::new(initial, policy);
        Fleet { runtime, registry, poller, seen_files: Mutex::default(), listing: None, last: Mutex::default() }
    }

    /// Writes `<dir>/versions.json` and `<dir>/rollout.json` after every cycle, and picks up the
    /// rollout a previous run left there (refused versions, rollbacks, the stable version).
    pub fn with_listing(mut self, dir: &Path) -> Self {
        let memory = dir.join("rollout.json");
        match std::fs::read_to_string(&memory) {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(m) => self.registry.restore(m),
                Err(e) => {
                    tracing::error!(path = %memory.display(), error = %e, "rollout memory unreadable; starting without it")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(path = %memory.display(), error = %e, "rollout memory unreadable; starting without it")
            }
        }
        self.listing = Some(dir.join("versions.json"));
        self
    }

    /// Loads and validates a component file and offers it; a refused one leaves the versions as they were.
    pub async fn load_file(&self, path: &Path) -> Result<Event, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        self.load_bytes(&bytes).await.map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Validates (header, WIT version, compiles, `describe` answers) and offers a component.
    pub async fn load_bytes(&self, bytes: &[u8]) -> Result<Event, SandboxError> {
        let connector = Arc::new(self.runtime.load(bytes).await?);
        let event = self.registry.offer(connector);
        log_event(&event);
        Ok(event)
    }

    /// Loads every `*.wasm` in `dir` that is new or changed since the last scan, oldest first;
    /// returns what happened to each, refusals included (the previous version keeps serving).
    pub async fn scan_dir(&self, dir: &Path) -> Vec<(PathBuf, Result<Event, String>)> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
                .collect(),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the components directory");
                return Vec::new();
            }
        };
        files.sort();
        let mut results = Vec::new();
        for (_, path) in files {
            // Identity of the file as it is now: a copy that keeps the old mtime (cp -p, rsync -a)
            // is still a new inode or a new size.
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            let key = file_key(&meta);
            if self.seen_files.lock().unwrap().get(&path) == Some(&key) {
                continue;
            }
            let result = if !meta.is_file() {
                Err(format!("{}: not a regular file", path.display()))
            } else if meta.len() > MAX_COMPONENT_BYTES {
                Err(format!(
                    "{}: {} bytes is more than a connector can be ({MAX_COMPONENT_BYTES})",
                    path.display(),
                    meta.len()
                ))
            } else {
                self.load_file(&path).await
            };
            if let Err(e) = &result {
                let stable = self.registry.stable();
                tracing::error!(file = %path.display(), error = %e, serving = %stable.label(), "new component refused; the current version keeps serving");
            }
            self.seen_files.lock().unwrap().insert(path.clone(), key);
            results.push((path, result));
        }
        results
    }

    /// The version a tenant runs now, prepared from its current config. A new version that cannot
    /// run the tenant (unknown or missing settings, or reaching origins its current version does
    /// not) is skipped for that tenant, which keeps its current version; the reason is logged.
    pub fn prepare(&self, tenant: &TenantConfig) -> Result<(Arc<PreparedTenant>, Option<String>), PollError> {
        let config_err = |e: crate::config::ConfigError| PollError::Config(e.to_string());
        let chosen =
            self.registry.resolve(&tenant.name, tenant.connector_version.as_deref()).map_err(PollError::Config)?;
        let stable = self.registry.stable();
        let note = match &tenant.connector_version {
            Some(pin) => Some(format!("pinned to {pin}")),
            None if chosen.digest != stable.digest => Some(format!("canary or rollback; stable is {}", stable.label())),
            None => None,
        };
        // What the tenant ran last, or, for a tenant new to this process, the version the host was
        // started with: the one its config was checked against.
        let initial = self.registry.versions()[0].clone();
        let current = self.last.lock().unwrap().get(&tenant.name).cloned().unwrap_or(initial);
        if chosen.digest == current.digest || tenant.connector_version.is_some() {
            let p = self.runtime.prepare(&chosen, tenant).map_err(config_err)?;
            self.last.lock().unwrap().insert(tenant.name.clone(), chosen);
            return Ok((Arc::new(p), note));
        }
        let fallback = self.runtime.prepare(&current, tenant).map_err(config_err)?;
        let candidate = self.runtime.prepare(&chosen, tenant);
        let refused = match &candidate {
            Ok(p) if p.policy.is_within(&fallback.policy) => None,
            Ok(_) => Some(format!("{} would reach origins the current version does not", chosen.info.version)),
            Err(e) => Some(format!("{} does not accept the tenant's settings ({e})", chosen.info.version)),
        };
        match (candidate, refused) {
            (Ok(p), None) => {
                self.last.lock().unwrap().insert(tenant.name.clone(), chosen);
                Ok((Arc::new(p), note))
            }
            (_, why) => {
                let why = why.unwrap_or_default();
                tracing::warn!(tenant = %tenant.name, version = %chosen.label(), current = %current.label(), "{why}; keeping the current version for this tenant");
                Ok((Arc::new(fallback), Some(format!("kept on {}: {why}", current.info.version))))
            }
        }
    }

    /// One poll cycle over `tenants` as configured now; reports in the tenants' order.
    pub async fn cycle(&self, tenants: &[TenantConfig], concurrency: usize) -> Vec<TenantReport> {
        let mut prepared = Vec::new();
        // None: polled (its report comes from poll_all, in order); Some: could not be polled.
        let mut slots: Vec<Option<TenantReport>> = Vec::new();
        let mut notes = Vec::new();
        for t in tenants {
            match self.prepare(t) {
                Ok((p, note)) => {
                    slots.push(None);
                    prepared.push(p);
                    notes.push(note);
                }
                Err(e) => {
                    tracing::error!(tenant = %t.name, error = %e, "tenant not polled: its config does not fit the connector version chosen for it");
                    let report = TenantReport::not_polled(&t.name, e);
                    self.poller.record_health(&report).await;
                    slots.push(Some(report));
                }
            }
        }
        let reports = self.poller.poll_all(&prepared, concurrency).await;
        for (report, tenant) in reports.iter().zip(&prepared) {
            if let Some(event) = self.registry.report(&tenant.name, &tenant.connector.digest, &outcome(report)) {
                log_event(&event);
            }
        }
        if let Some(path) = &self.listing {
            let listing: Vec<TenantVersion> = prepared
                .iter()
                .zip(&notes)
                .map(|(p, note)| TenantVersion {
                    tenant: p.name.to_string(),
                    version: p.connector.info.version.clone(),
                    digest: p.connector.digest.clone(),
                    note: note.clone(),
                })
                .collect();
            let mut listing = listing;
            for r in slots.iter().flatten() {
                let why = r.first_error().map(|e| e.to_string()).unwrap_or_default();
                listing.push(TenantVersion {
                    tenant: r.tenant.clone(),
                    version: "-".into(),
                    digest: String::new(),
                    note: Some(format!("NOT POLLED: {why}")),
                });
            }
            let text = serde_json::to_vec_pretty(&listing).unwrap_or_default();
            let memory = serde_json::to_vec_pretty(&self.registry.memory()).unwrap_or_default();
            for (path, bytes) in [(path.clone(), text), (path.with_file_name("rollout.json"), memory)] {
                if let Err(e) = write_replacing(&path, &bytes) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the rollout state");
                }
            }
        }
        let mut reports = reports.into_iter();
        slots.into_iter().map(|s| s.unwrap_or_else(|| reports.next().expect("one report per polled tenant"))).collect()
    }
}

/// How a poll's outcome counts for rollout: connector faults regress, service faults do not.
pub fn outcome(report: &TenantReport) -> Outcome {
    use crate::bindings::ConnectorError;
    match report.first_error() {
        None if report.interrupted => Outcome::Other,
        None => Outcome::Ok,
        Some(e @ PollError::Sandbox(_)) => Outcome::Regression(e.kind().to_string()),
        Some(PollError::Connector(ConnectorError::InvalidResponse(_))) | Some(PollError::Record(_)) => {
            Outcome::Regression(report.first_error().map(PollError::kind).unwrap_or_default().to_string())
        }
        Some(_) => Outcome::Other,
    }
}

fn log_event(event: &Event) {
    match event {
        Event::Promoted { version, digest } => {
            tracing::info!(%version, digest = short_digest(digest), "connector version promoted: every tenant it fits takes it on its next poll")
        }
        Event::Canary { version, digest, tenants } => {
            tracing::info!(%version, digest = short_digest(digest), canary = ?tenants, "connector version goes to the canary tenants first")
        }
        Event::Withdrawn { version, digest, tenant, kind } => {
            tracing::error!(%version, digest = short_digest(digest), %tenant, %kind, "canary failed: version withdrawn, every tenant stays on the stable version")
        }
        Event::RolledBack { tenant, from, to, kind } => {
            tracing::error!(%tenant, %from, %to, %kind, "new connector version failed this tenant where the previous did not: tenant returned to the previous version")
        }
        Event::Known { digest } => tracing::debug!(digest = short_digest(digest), "connector version already loaded"),
    }
}
