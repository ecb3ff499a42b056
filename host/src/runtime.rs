//! The wasmtime engine, the compiled connector, and per-tenant sandboxes built from it.

use crate::bindings::{self, ConnectorPlugin, ConnectorPluginPre};
use crate::config::{Limits, TenantConfig};
use crate::egress::{EgressHooks, EgressPolicy, Origin};
use crate::secret::Secret;
use crate::state::TenantState;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};

/// How often the engine's epoch advances; the CPU budget is counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Bytes of component stderr kept per call (panic messages).
const STDERR_CAP: usize = 16 * 1024;

/// Why a host-side call failed (as opposed to a connector error returned by the component).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The component could not be compiled or linked.
    #[error("the component cannot be loaded: {0}")]
    Load(String),
    /// The component trapped (panic, bug, limit).
    #[error("the component trapped: {message}")]
    Trap {
        /// Trap description, with the component's last stderr line when there is one.
        message: String,
    },
    /// The CPU budget ran out.
    #[error("the component used its CPU budget of {cpu_ms} ms")]
    CpuExhausted {
        /// Budget.
        cpu_ms: u64,
    },
    /// Linear memory would exceed the cap.
    #[error("the component exceeded its memory limit of {memory_mib} MiB")]
    MemoryExceeded {
        /// Limit.
        memory_mib: u64,
    },
}

/// A compiled connector ready to instantiate, with what it said about itself.
pub struct LoadedConnector {
    pre: ConnectorPluginPre<TenantState>,
    /// The connector's `describe` answer.
    pub info: bindings::ConnectorInfo,
}

/// Engine + linker shared by every tenant; one per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<TenantState>,
    limits: Limits,
}

/// A tenant's settings checked against what the connector reads, and its egress policy.
pub struct PreparedTenant {
    /// Tenant name.
    pub name: Arc<str>,
    values: BTreeMap<String, ConfigValue>,
    /// Origins it may reach.
    pub policy: Arc<EgressPolicy>,
    /// Requests refused by the policy, over the process lifetime.
    pub denied: Arc<AtomicU64>,
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

impl Runtime {
    /// An engine with epoch interruption and the WASI, wasi-http and wasi-config imports linked.
    pub fn new(limits: Limits) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
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
        Ok(Runtime { engine, linker, limits })
    }

    /// The limits applied to each call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles a component, links it, and asks it to describe itself.
    pub async fn load(&self, wasm: &[u8]) -> Result<LoadedConnector, SandboxError> {
        let component = Component::new(&self.engine, wasm).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        let pre = ConnectorPluginPre::new(instance_pre).map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        let probe = PreparedTenant {
            name: Arc::from("(describe)"),
            values: BTreeMap::new(),
            policy: Arc::new(EgressPolicy::default()),
            denied: Arc::default(),
        };
        let mut session = self.session_with(&pre, &probe).await?;
        let info = session.describe().await?;
        Ok(LoadedConnector { pre, info })
    }

    /// Checks a tenant's settings against the connector's keys and derives its egress policy.
    pub fn prepare(
        &self,
        connector: &LoadedConnector,
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
        let mut origins = Vec::new();
        for spec in keys.iter().filter(|k| k.endpoint) {
            let value = values.get(&spec.name).map(ConfigValue::value).or(spec.default_value.as_deref());
            if let Some(url) = value {
                origins.push(
                    Origin::parse(url, tenant.allow_http).map_err(|e| err(format!("setting `{}`: {e}", spec.name)))?,
                );
            }
        }
        Ok(PreparedTenant {
            name: Arc::from(tenant.name.as_str()),
            values,
            policy: Arc::new(EgressPolicy::new(origins)),
            denied: Arc::default(),
        })
    }

    /// A fresh sandbox (store + instance) for one tenant's poll.
    pub async fn session(&self, connector: &LoadedConnector, tenant: &PreparedTenant) -> Result<Session, SandboxError> {
        self.session_with(&connector.pre, tenant).await
    }

    async fn session_with(
        &self,
        pre: &ConnectorPluginPre<TenantState>,
        tenant: &PreparedTenant,
    ) -> Result<Session, SandboxError> {
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        // No preopens, no environment, no args, no sockets, no stdin: only what is linked above.
        let wasi = wasmtime_wasi::WasiCtx::builder().stderr(stderr.clone()).build();
        let config: WasiConfigVariables = tenant.values.iter().map(|(k, v)| (k.as_str(), v.value())).collect();
        let memory = (self.limits.memory_mib as usize) << 20;
        let state = TenantState {
            wasi,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: EgressHooks {
                tenant: tenant.name.clone(),
                policy: tenant.policy.clone(),
                denied: tenant.denied.clone(),
            },
            config,
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .instances(16)
                .memories(8)
                .tables(32)
                .trap_on_grow_failure(true)
                .build(),
            cpu_ticks_left: (self.limits.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1),
            cpu_exhausted: false,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let s = ctx.data_mut();
            if s.cpu_ticks_left == 0 {
                s.cpu_exhausted = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            s.cpu_ticks_left -= 1;
            // Yield so a spinning guest cannot hold a tokio worker and timeouts still fire.
            Ok(UpdateDeadline::Yield(1))
        });
        let mut session = Session { store: None, plugin: None, limits: self.limits.clone() };
        let instance = pre.instantiate_async(&mut store).await;
        session.store = Some(store);
        let plugin = instance.map_err(|e| session.sandbox_error(e))?;
        session.plugin = Some(plugin);
        Ok(session)
    }
}

/// One tenant's live sandbox; dropped at the end of the poll.
pub struct Session {
    store: Option<Store<TenantState>>,
    plugin: Option<ConnectorPlugin>,
    limits: Limits,
}

macro_rules! call {
    ($self:ident, $method:ident $(, $arg:expr)*) => {{
        let plugin = $self.plugin.as_ref().expect("instantiated");
        let store = $self.store.as_mut().expect("store");
        let result = plugin.redcarbon_connector_connector().$method(&mut *store $(, $arg)*).await;
        result.map_err(|e| $self.sandbox_error(e))
    }};
}

impl Session {
    fn sandbox_error(&mut self, e: wasmtime::Error) -> SandboxError {
        let state = self.store.as_ref().map(|s| s.data());
        if state.is_some_and(|s| s.cpu_exhausted) {
            return SandboxError::CpuExhausted { cpu_ms: self.limits.cpu_ms };
        }
        let text = format!("{e:#}");
        if text.contains("forcing trap when growing memory") {
            return SandboxError::MemoryExceeded { memory_mib: self.limits.memory_mib };
        }
        let stderr =
            state.map(|s| String::from_utf8_lossy(&s.stderr.contents()).trim().to_string()).unwrap_or_default();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        let message = if last.is_empty() { text } else { format!("{text} (component stderr: {last})") };
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
}
