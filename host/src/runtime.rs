//! The wasmtime engine, the compiled connector, and per-tenant sandboxes built from it.

use crate::bindings::{self, ConnectorPlugin, ConnectorPluginPre};
use crate::config::{Limits, TenantConfig};
use crate::egress::{EgressHooks, EgressPolicy, Origin};
use crate::guard::CallGuard;
use crate::limits::LimitExceeded;
use crate::logs::{self, ComponentLog, Stream};
use crate::memory::{MemoryGauge, SandboxLimiter};
use crate::secret::{Redactor, Secret};
use crate::state::TenantState;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};

/// How often the engine's epoch advances; the CPU budget is counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Sandboxes one runtime keeps ready in its instance pool; more at once wait for a free slot.
/// Each slot reserves (does not use) 4 GiB of address space for its linear memory.
pub const SANDBOX_SLOTS: u32 = 256;

/// Bytes of a freed sandbox's memory (and async stack) reset in place instead of returned to
/// the kernel: the next sandbox in that slot finds them mapped and does not page-fault them in.
const KEEP_RESIDENT: usize = 2 << 20;

/// A pooling engine: sandboxes reuse preallocated slots instead of mapping and unmapping memory,
/// tables and fiber stacks for every poll (the unmap's TLB shootdowns were ~8% of a fleet cycle).
/// Falls back to on-demand allocation where the address space cannot be reserved (`ulimit -v`).
fn engine(slots: u32) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let mut pooled = config.clone();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(KEEP_RESIDENT);
    pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot reserve the sandbox pool; allocating each sandbox on demand (slower)");
            Ok(Engine::new(&config)?)
        }
    }
}

/// Why a host-side call failed (as opposed to a connector error returned by the component).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The component could not be compiled or linked.
    #[error("the component cannot be loaded: {0}")]
    Load(String),
    /// The component trapped (panic, bug).
    #[error("the component trapped: {message}")]
    Trap {
        /// Trap description: the panic message, or wasmtime's with the component's last stderr line.
        message: String,
    },
    /// A sandbox limit was exceeded; the call was ended.
    #[error("{0}")]
    Limit(LimitExceeded),
    /// The component asked for origins outside the tenant's allow-list (refused; nothing was sent).
    #[error("the component tried to reach {} outside the tenant's allowed endpoints; nothing was sent", .targets.join(", "))]
    EgressDenied {
        /// `scheme://host:port` of each refused request.
        targets: Vec<String>,
    },
    /// The component targets a WIT world version this host does not serve.
    #[error(
        "the component exports {found}, but this host serves {interface}@{supported}; rebuild it against wit/ of this host"
    )]
    Incompatible {
        /// What the component exports (`redcarbon:connector/connector@X`), or `nothing of redcarbon:connector`.
        found: String,
        /// The interface this host serves.
        interface: String,
        /// The versions this host serves, comma-separated.
        supported: String,
    },
    /// An earlier limit ended this sandbox; it takes no more calls.
    #[error("the sandbox was stopped by an earlier limit and takes no more calls")]
    Stopped,
}

impl SandboxError {
    /// Short machine-readable kind, for health and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SandboxError::Load(_) => "load",
            SandboxError::Incompatible { .. } => "incompatible",
            SandboxError::Trap { .. } => "trap",
            SandboxError::Limit(l) => l.kind(),
            SandboxError::EgressDenied { .. } => "egress-denied",
            SandboxError::Stopped => "stopped",
        }
    }
}

/// A compiled connector ready to instantiate, with what it said about itself.
pub struct LoadedConnector {
    pre: ConnectorPluginPre<TenantState>,
    /// The connector's `describe` answer.
    pub info: bindings::ConnectorInfo,
    /// `sha256:<hex>` of the component's bytes: its identity.
    pub digest: String,
    /// Loaded from the compile cache instead of compiled.
    pub from_cache: bool,
}

impl LoadedConnector {
    /// `version (sha256:abcdef012345)`, for logs and listings.
    pub fn label(&self) -> String {
        format!("{} ({})", self.info.version, short_digest(&self.digest))
    }
}

/// `sha256:` and the first 12 hex digits.
pub fn short_digest(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// The binary header of a WebAssembly component (magic, then version 0x0d, layer 1).
fn is_component_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm\x0d\0\x01\0")
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Engine + linker shared by every tenant; one per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<TenantState>,
    limits: Limits,
    memory: Arc<MemoryGauge>,
    cache_dir: Option<std::path::PathBuf>,
    pool: crate::http_pool::ConnectionPool,
    /// One permit per instance-pool slot: a sandbox beyond the pool waits instead of failing.
    slots: Arc<tokio::sync::Semaphore>,
}

/// A tenant's settings checked against what the connector reads, its egress policy and limits.
pub struct PreparedTenant {
    /// Tenant name.
    pub name: Arc<str>,
    values: BTreeMap<String, ConfigValue>,
    /// Origins it may reach.
    pub policy: Arc<EgressPolicy>,
    /// Requests refused by the policy, over the process lifetime.
    pub denied: Arc<AtomicU64>,
    /// The global limits with this tenant's overrides.
    pub limits: Limits,
    /// Scrubs this tenant's secrets from what its component hands back.
    pub redactor: Arc<Redactor>,
    /// The connector this tenant runs.
    pub connector: Arc<LoadedConnector>,
}

enum ConfigValue {
    Plain(String),
    Secret(Secret),
}

impl ConfigValue {
    fn value(&self) -> &str {
        match self {
            ConfigValue::Plain(v) => v,
            ConfigValue::Secret(s) => s.expose(),
        }
    }
}

/// What a sandbox is built from: a tenant, or the settings-less probe that asks `describe`.
struct SandboxSpec<'a> {
    name: Arc<str>,
    values: Option<&'a BTreeMap<String, ConfigValue>>,
    policy: Arc<EgressPolicy>,
    denied: Arc<AtomicU64>,
    limits: Limits,
    redactor: Arc<Redactor>,
}

impl PreparedTenant {
    fn sandbox(&self) -> SandboxSpec<'_> {
        SandboxSpec {
            name: self.name.clone(),
            values: Some(&self.values),
            policy: self.policy.clone(),
            denied: self.denied.clone(),
            limits: self.limits.clone(),
            redactor: self.redactor.clone(),
        }
    }
}

impl Runtime {
    /// An engine with epoch interruption and the WASI, wasi-http and wasi-config imports linked.
    pub fn new(limits: Limits) -> anyhow::Result<Runtime> {
        Runtime::with_slots(limits, SANDBOX_SLOTS)
    }

    /// [`Runtime::new`] with `slots` sandboxes in the instance pool (tests use few).
    pub fn with_slots(limits: Limits, slots: u32) -> anyhow::Result<Runtime> {
        let slots = slots.max(1);
        let engine = engine(slots)?;
        let weak = engine.weak();
        // Ticks the epoch for every store; ends with the engine.
        std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut TenantState| WasiConfig::from(&s.config))?;
        Ok(Runtime {
            engine,
            linker,
            limits,
            memory: Arc::default(),
            cache_dir: None,
            pool: Default::default(),
            slots: Arc::new(tokio::sync::Semaphore::new(slots as usize)),
        })
    }

    /// Keeps compiled components in `dir` by digest, so a restart does not compile them again.
    pub fn with_cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The compiled form of `wasm`: from the cache when it holds this digest for this engine,
    /// else compiled (and stored). A cache entry that does not load is compiled again.
    fn compile(&self, wasm: &[u8], digest: &str) -> Result<(Component, bool), SandboxError> {
        let load_err = |e: wasmtime::Error| SandboxError::Load(format!("{e:#}"));
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, wasm).map(|c| (c, false)).map_err(load_err);
        };
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let hex = digest.trim_start_matches("sha256:");
        let path = dir.join(format!("{hex}-{:016x}.cwasm", h.finish()));
        // Read into memory rather than mapped: a cache file replaced or damaged while mapped would
        // crash the process (SIGBUS) instead of failing one load.
        // The sidecar holds the entry's own sha256: an entry copied or renamed into place for another
        // digest (or damaged) does not match it and is compiled again instead of run.
        let sidecar = path.with_extension("cwasm.sha256");
        let verified = std::fs::read(&path)
            .ok()
            .filter(|c| std::fs::read_to_string(&sidecar).is_ok_and(|want| want.trim() == digest_of(c)));
        if let Some(cached) = verified {
            // SAFETY: the file was written by `precompile_component` of an engine with this
            // compatibility hash, in a directory only this host writes; wasmtime checks its header
            // and refuses an artefact of another engine configuration.
            match unsafe { Component::deserialize(&self.engine, &cached) } {
                Ok(c) => return Ok((c, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "compile cache entry unusable; compiling again")
                }
            }
        }
        let bytes = self.engine.precompile_component(wasm).map_err(load_err)?;
        let stored = std::fs::create_dir_all(dir).and_then(|_| {
            for (target, content) in [(&sidecar, digest_of(&bytes).into_bytes()), (&path, bytes.clone())] {
                let tmp = tempfile::NamedTempFile::new_in(dir)?;
                std::fs::write(tmp.path(), &content)?;
                tmp.persist(target).map_err(|e| e.error)?;
            }
            Ok(())
        });
        if let Err(e) = stored {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the compile cache; continuing without it");
        }
        // SAFETY: `bytes` was produced just now by this engine's `precompile_component`.
        unsafe { Component::deserialize(&self.engine, &bytes) }.map(|c| (c, false)).map_err(load_err)
    }

    /// Refuses a component whose connector interface is not one this host serves, naming both versions.
    fn check_world(&self, component: &Component) -> Result<(), SandboxError> {
        let ty = component.component_type();
        let prefix = format!("{}@", bindings::WORLD_INTERFACE);
        let found: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .filter(|n| n.starts_with("redcarbon:"))
            .collect();
        let ok =
            found.iter().any(|n| n.strip_prefix(&prefix).is_some_and(|v| bindings::SUPPORTED_VERSIONS.contains(&v)));
        if ok {
            return Ok(());
        }
        Err(SandboxError::Incompatible {
            found: if found.is_empty() { "nothing of redcarbon:connector".into() } else { found.join(", ") },
            interface: bindings::WORLD_INTERFACE.into(),
            supported: bindings::SUPPORTED_VERSIONS.join(", "),
        })
    }

    /// The global limits (a tenant may override them).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The kept-alive outbound connections of every sandbox of this runtime.
    pub fn connections(&self) -> &crate::http_pool::ConnectionPool {
        &self.pool
    }

    /// Linear memory held by this runtime's live sandboxes.
    pub fn sandbox_memory(&self) -> &MemoryGauge {
        &self.memory
    }

    /// Compiles a component, links it, and asks it to describe itself.
    pub async fn load(&self, wasm: &[u8]) -> Result<LoadedConnector, SandboxError> {
        if !is_component_binary(wasm) {
            let what =
                if wasm.starts_with(b"\0asm") { "a core wasm module, not a component" } else { "not WebAssembly" };
            return Err(SandboxError::Load(format!("the file is {what} (build it with --target wasm32-wasip2)")));
        }
        let digest = digest_of(wasm);
        let (component, from_cache) = self.compile(wasm, &digest)?;
        self.check_world(&component)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        let pre = ConnectorPluginPre::new(instance_pre).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        // No settings, no reachable origin: `describe` needs neither.
        let probe = SandboxSpec {
            name: Arc::from("(describe)"),
            values: None,
            policy: Arc::default(),
            denied: Arc::default(),
            limits: self.limits.clone(),
            redactor: Arc::default(),
        };
        let mut session = self.session_with(&pre, &probe).await?;
        let info = session.describe().await?;
        Ok(LoadedConnector { pre, info, digest, from_cache })
    }

    /// Checks a tenant's settings against the connector's keys and derives its egress policy.
    pub fn prepare(
        &self,
        connector: &Arc<LoadedConnector>,
        tenant: &TenantConfig,
    ) -> Result<PreparedTenant, crate::config::ConfigError> {
        let err = |message: String| crate::config::ConfigError::Tenant { tenant: tenant.name.clone(), message };
        let keys = &connector.info.config_keys;
        let known = || keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>().join(", ");
        let mut values = BTreeMap::new();
        for (key, value) in &tenant.settings {
            let spec = keys
                .iter()
                .find(|k| &k.name == key)
                .ok_or_else(|| err(format!("unknown setting `{key}`; {} reads: {}", connector.info.name, known())))?;
            if spec.secret {
                return Err(err(format!(
                    "`{key}` is a secret: move it from settings to secrets (inline or {{ env = \"VARIABLE\" }}) so it is never shown"
                )));
            }
            values.insert(key.clone(), ConfigValue::Plain(value.clone()));
        }
        for (key, secret) in tenant.resolve_secrets()? {
            if !keys.iter().any(|k| k.name == key) {
                return Err(err(format!("unknown secret `{key}`; {} reads: {}", connector.info.name, known())));
            }
            values.insert(key, ConfigValue::Secret(secret));
        }
        if let Some(missing) = keys.iter().find(|k| k.required && !values.contains_key(&k.name)) {
            let place = if missing.secret { "secrets" } else { "settings" };
            return Err(err(format!(
                "`{}` is required ({}); add it to the tenant's {place}",
                missing.name, missing.description
            )));
        }
        // A preset key (e.g. `cloud`) supplies the endpoints a tenant does not set explicitly.
        let mut implied: BTreeMap<&str, &str> = BTreeMap::new();
        for spec in keys.iter().filter(|k| !k.presets.is_empty()) {
            let Some(chosen) = values.get(&spec.name).map(ConfigValue::value).or(spec.default_value.as_deref()) else {
                continue;
            };
            let chosen = chosen.trim();
            // Case-insensitive, `_` or a space for `-`: `GCC High` picks `gcc-high`.
            let normal = chosen.to_ascii_lowercase().replace(['_', ' '], "-");
            let preset = spec.presets.iter().find(|p| p.value.eq_ignore_ascii_case(&normal)).ok_or_else(|| {
                let allowed: Vec<&str> = spec.presets.iter().map(|p| p.value.as_str()).collect();
                err(format!(
                    "setting `{}` = `{chosen}` is not one of: {} ({})",
                    spec.name,
                    allowed.join(", "),
                    spec.description
                ))
            })?;
            for e in &preset.endpoints {
                implied.insert(e.key.as_str(), e.url.as_str());
            }
        }
        let mut origins = Vec::new();
        for spec in keys.iter().filter(|k| k.endpoint) {
            let value = values
                .get(&spec.name)
                .map(ConfigValue::value)
                .or_else(|| implied.get(spec.name.as_str()).copied())
                .or(spec.default_value.as_deref());
            if let Some(url) = value {
                origins.push(
                    Origin::parse(url, tenant.allow_http).map_err(|e| err(format!("setting `{}`: {e}", spec.name)))?,
                );
            }
        }
        let limits = self.limits.with(&tenant.limits);
        limits.check().map_err(err)?;
        let redactor = Redactor::new(values.values().filter_map(|v| match v {
            ConfigValue::Secret(s) => Some(s),
            ConfigValue::Plain(_) => None,
        }));
        Ok(PreparedTenant {
            name: Arc::from(tenant.name.as_str()),
            values,
            policy: Arc::new(EgressPolicy::new(origins)),
            denied: Arc::default(),
            limits,
            redactor: Arc::new(redactor),
            connector: connector.clone(),
        })
    }

    /// A fresh sandbox (store + instance) of the tenant's connector for one poll.
    pub async fn session(&self, tenant: &PreparedTenant) -> Result<Session, SandboxError> {
        self.session_with(&tenant.connector.pre, &tenant.sandbox()).await
    }

    async fn session_with(
        &self,
        pre: &ConnectorPluginPre<TenantState>,
        tenant: &SandboxSpec<'_>,
    ) -> Result<Session, SandboxError> {
        let slot = self.slots.clone().acquire_owned().await.expect("the slot semaphore is never closed");
        let limits = tenant.limits.clone();
        let guard = CallGuard::new(limits.clone());
        let log = ComponentLog::new(tenant.name.clone(), guard.clone(), tenant.redactor.clone());
        // No preopens, no environment, no args, no sockets, no stdin: only what is linked above.
        let wasi = wasmtime_wasi::WasiCtx::builder()
            .stdout(log.stream(Stream::Stdout))
            .stderr(log.stream(Stream::Stderr))
            .build();
        let config: WasiConfigVariables = match tenant.values {
            Some(values) => values.iter().map(|(k, v)| (k.as_str(), v.value())).collect(),
            None => WasiConfigVariables::new(),
        };
        let memory = (limits.memory_mib as usize) << 20;
        let state = TenantState {
            wasi,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: EgressHooks {
                tenant: tenant.name.clone(),
                policy: tenant.policy.clone(),
                denied: tenant.denied.clone(),
                guard: guard.clone(),
                pool: self.pool.clone(),
            },
            config,
            limiter: SandboxLimiter::new(memory, self.memory.clone(), guard.clone()),
            guard: guard.clone(),
            cpu_ticks_left: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        let cpu_ms = limits.cpu_ms;
        store.epoch_deadline_callback(move |mut ctx| {
            let s = ctx.data_mut();
            // A component that keeps running after hitting a limit is stopped at the next tick.
            if let Some(limit) = s.guard.violation() {
                return Err(wasmtime::format_err!("{limit}"));
            }
            if s.cpu_ticks_left == 0 {
                s.guard.exceed(LimitExceeded::Cpu { ms: cpu_ms });
                return Ok(UpdateDeadline::Interrupt);
            }
            s.cpu_ticks_left -= 1;
            // Yield so a spinning guest cannot hold a tokio worker and timeouts still fire.
            Ok(UpdateDeadline::Yield(1))
        });
        let mut session = Session { store: None, plugin: None, limits, guard, log, stopped: false, _slot: slot };
        session.begin_call(&mut store);
        let timeout = Duration::from_secs(session.limits.call_timeout_secs);
        let instance = tokio::time::timeout(timeout, pre.instantiate_async(&mut store)).await;
        session.store = Some(store);
        session.plugin = Some(session.finish(instance)?);
        Ok(session)
    }
}

/// One tenant's live sandbox; dropped at the end of the poll.
pub struct Session {
    store: Option<Store<TenantState>>,
    plugin: Option<ConnectorPlugin>,
    limits: Limits,
    guard: Arc<CallGuard>,
    log: ComponentLog,
    stopped: bool,
    /// Given back after the store (declared last: fields drop in order).
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Its kept-alive connections would only idle until they time out: the next poll of this
        // tenant is an interval away (60 s by default, beyond the 30 s idle limit).
        if let Some(store) = &self.store {
            let hooks = &store.data().hooks;
            hooks.pool.release(&hooks.tenant);
        }
    }
}

macro_rules! call {
    ($self:ident, $method:ident $(, $arg:expr)*) => {{
        if $self.stopped {
            return Err(SandboxError::Stopped);
        }
        let mut store = $self.store.take().expect("store");
        $self.begin_call(&mut store);
        let plugin = $self.plugin.as_ref().expect("instantiated");
        let timeout = Duration::from_secs($self.limits.call_timeout_secs);
        let result =
            tokio::time::timeout(timeout, plugin.redcarbon_connector_connector().$method(&mut store $(, $arg)*)).await;
        $self.store = Some(store);
        $self.finish(result)
    }};
}

impl Session {
    fn begin_call(&self, store: &mut Store<TenantState>) {
        self.guard.begin_call();
        store.data_mut().cpu_ticks_left = (self.limits.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1);
    }

    /// Turns a call's outcome into the host's verdict: a limit first, then a trap, then egress refusals.
    fn finish<T>(
        &mut self,
        result: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, SandboxError> {
        let result = match result {
            Err(_) => {
                self.stopped = true; // the call was dropped mid-flight: the instance is not reusable
                return Err(SandboxError::Limit(LimitExceeded::CallTimeout { secs: self.limits.call_timeout_secs }));
            }
            Ok(r) => r,
        };
        if let Some(limit) = self.guard.violation() {
            self.stopped = true;
            return Err(SandboxError::Limit(limit));
        }
        let value = result.map_err(|e| {
            self.stopped = true;
            self.trap(e)
        })?;
        let targets = self.guard.denied();
        if !targets.is_empty() {
            return Err(SandboxError::EgressDenied { targets });
        }
        Ok(value)
    }

    fn trap(&self, e: wasmtime::Error) -> SandboxError {
        let tail = self.log.tail();
        if let Some(panic) = logs::panic_message(&tail) {
            return SandboxError::Trap { message: format!("the component panicked: {panic}") };
        }
        let text = format!("{e:#}");
        let last = tail.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        let message = if last.is_empty() { text } else { format!("{text} (component output: {last})") };
        SandboxError::Trap { message }
    }

    /// `describe`.
    pub async fn describe(&mut self) -> Result<bindings::ConnectorInfo, SandboxError> {
        call!(self, call_describe)
    }

    /// `authenticate`.
    pub async fn authenticate(&mut self) -> Result<Result<bindings::AuthInfo, bindings::ConnectorError>, SandboxError> {
        call!(self, call_authenticate)
    }

    /// `fetch-incidents`.
    pub async fn fetch_incidents(
        &mut self,
        request: &bindings::FetchRequest,
    ) -> Result<Result<bindings::IncidentPage, bindings::ConnectorError>, SandboxError> {
        call!(self, call_fetch_incidents, request)
    }

    /// `fetch-alerts`.
    pub async fn fetch_alerts(
        &mut self,
        request: &bindings::FetchRequest,
    ) -> Result<Result<bindings::AlertPage, bindings::ConnectorError>, SandboxError> {
        call!(self, call_fetch_alerts, request)
    }

    /// `map-severity`.
    pub async fn map_severity(&mut self, severity: &str) -> Result<u8, SandboxError> {
        call!(self, call_map_severity, severity)
    }

    /// `check-config`.
    pub async fn check_config(&mut self) -> Result<Result<(), bindings::ConnectorError>, SandboxError> {
        call!(self, call_check_config)
    }

    /// `test-connection`.
    pub async fn test_connection(&mut self) -> Result<Vec<bindings::Check>, SandboxError> {
        call!(self, call_test_connection)
    }

    /// `update-incident`.
    pub async fn update_incident(
        &mut self,
        id: &str,
        update: &bindings::IncidentUpdate,
    ) -> Result<Result<bindings::UpdateResult, bindings::ConnectorError>, SandboxError> {
        call!(self, call_update_incident, id, update)
    }

    /// `add-incident-comment`.
    pub async fn add_incident_comment(
        &mut self,
        id: &str,
        comment: &str,
    ) -> Result<Result<bindings::UpdateResult, bindings::ConnectorError>, SandboxError> {
        call!(self, call_add_incident_comment, id, comment)
    }

    /// `run-hunting-query`.
    pub async fn run_hunting_query(
        &mut self,
        query: &str,
        timespan: Option<&str>,
    ) -> Result<Result<bindings::HuntingResult, bindings::ConnectorError>, SandboxError> {
        call!(self, call_run_hunting_query, query, timespan)
    }
}
