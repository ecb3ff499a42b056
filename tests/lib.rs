//! Shared helpers for the end-to-end tests: the real component (built once by the host's build
//! script), the real host runtime, and the emulator on 127.0.0.1.

use connector_host::checkpoint::CheckpointStore;
use connector_host::config::{Limits, RetryPolicy, TenantConfig};
use connector_host::output::RecordSink;
use connector_host::poll::{Poller, TenantReport};
use connector_host::runtime::{LoadedConnector, PreparedTenant, Runtime};
use graph_emulator::{Emulator, TenantData};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// A Microsoft fixture body, read unchanged from `../shared/fixtures/graph`.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/graph").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} is required by this test: {e}", path.display()))
}

/// The engine and the compiled Defender component, shared by every test in the binary.
pub fn runtime() -> (Arc<Runtime>, Arc<LoadedConnector>) {
    static SHARED: OnceLock<(Arc<Runtime>, Arc<LoadedConnector>)> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            // Compiled on its own thread: the caller may already be inside a tokio runtime.
            std::thread::spawn(|| {
                let rt = tokio::runtime::Runtime::new().unwrap();
                let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
                let wasm = std::fs::read(connector_host::demo::DEFENDER_COMPONENT_PATH).unwrap();
                let connector = Arc::new(rt.block_on(runtime.load(&wasm)).unwrap());
                (runtime, connector)
            })
            .join()
            .unwrap()
        })
        .clone()
}

/// A tenant config pointing at the emulator, with extra settings.
pub fn tenant(name: &str, data: &TenantData, emulator: &Emulator, extra: &[(&str, &str)]) -> TenantConfig {
    let mut t = connector_host::demo::emulated_tenant(name, data, &emulator.base_url());
    t.settings.insert("defender-endpoint".to_string(), emulator.defender_url());
    for (k, v) in extra {
        t.settings.insert(k.to_string(), v.to_string());
    }
    t
}

/// One test's world: emulator, state dir, output file.
pub struct World {
    /// The emulator.
    pub emulator: Emulator,
    /// Temporary folder for state and output.
    pub dir: tempfile::TempDir,
    /// Shared runtime.
    pub runtime: Arc<Runtime>,
    /// The Defender component.
    pub connector: Arc<LoadedConnector>,
    poller: Arc<Poller>,
}

/// The Defender connector built with the version string `version` (`0.1.0-swap-a` or `-b`).
pub fn versioned_wasm(version: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("VERSIONED_GUESTS_DIR")).join(format!("defender-{version}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("versioned component {}: {e}", path.display()))
}

/// A test-only hostile component (tests/guests/hostile) by behaviour, e.g. `memory-bomb`.
pub fn hostile_wasm(behaviour: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("HOSTILE_GUESTS_DIR")).join(format!("hostile-{behaviour}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("hostile component {}: {e}", path.display()))
}

/// A hostile tenant's config: it may reach only `endpoint`, holds `secret`, and has `limits`.
pub fn hostile_tenant(name: &str, endpoint: &str, secret: &str, targets: &str, limits: &str) -> TenantConfig {
    let text = format!(
        "name = {name:?}\nallow_http = true\n[settings]\ngraph-endpoint = {endpoint:?}\n{}[secrets]\nclient-secret = {secret:?}\n[limits]\n{limits}\n",
        if targets.is_empty() { String::new() } else { format!("targets = {targets:?}\n") }
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

impl World {
    /// Starts an emulator and an empty output.
    pub async fn new() -> World {
        let (runtime, connector) = runtime();
        World::with(runtime, connector).await
    }

    /// Like [`World::new`] with a runtime of its own whose instance pool holds `slots` sandboxes.
    pub async fn with_slots(slots: u32) -> World {
        let runtime = Arc::new(Runtime::with_slots(Limits::default(), slots).unwrap());
        let wasm = std::fs::read(connector_host::demo::DEFENDER_COMPONENT_PATH).unwrap();
        let connector = Arc::new(runtime.load(&wasm).await.unwrap());
        World::with(runtime, connector).await
    }

    /// Like [`World::new`] but with a runtime of its own (its memory gauge counts only this test's sandboxes).
    pub async fn isolated() -> World {
        let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
        let wasm = std::fs::read(connector_host::demo::DEFENDER_COMPONENT_PATH).unwrap();
        let connector = Arc::new(runtime.load(&wasm).await.unwrap());
        World::with(runtime, connector).await
    }

    /// Compiles and describes a hostile component in this world's runtime.
    pub async fn hostile(&self, behaviour: &str) -> Arc<LoadedConnector> {
        Arc::new(self.runtime.load(&hostile_wasm(behaviour)).await.unwrap())
    }

    async fn with(runtime: Arc<Runtime>, connector: Arc<LoadedConnector>) -> World {
        let emulator = Emulator::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(RecordSink::file(&dir.path().join("out.ndjson")).unwrap());
        let poller = Arc::new(
            Poller::new(runtime.clone(), CheckpointStore::open(dir.path().join("state")).unwrap(), sink)
                .with_retry(RetryPolicy { base_delay_ms: 20, max_delay_ms: 200, ..RetryPolicy::default() }),
        );
        World { emulator, dir, runtime, connector, poller }
    }

    /// A fleet over this world's runtime and output, serving `initial` first.
    pub fn fleet(
        &self,
        initial: Arc<LoadedConnector>,
        policy: connector_host::registry::RolloutPolicy,
    ) -> connector_host::fleet::Fleet {
        connector_host::fleet::Fleet::new(self.runtime.clone(), initial, self.poller.clone(), policy)
    }

    /// Checks a tenant config against the connector.
    pub fn prepare(&self, config: &TenantConfig) -> Arc<PreparedTenant> {
        Arc::new(self.runtime.prepare(&self.connector, config).unwrap())
    }

    /// Checks a tenant config against another connector.
    pub fn prepare_for(&self, connector: &Arc<LoadedConnector>, config: &TenantConfig) -> Arc<PreparedTenant> {
        Arc::new(self.runtime.prepare(connector, config).unwrap())
    }

    /// One poll cycle.
    pub async fn poll(&self, tenants: &[Arc<PreparedTenant>]) -> Vec<TenantReport> {
        self.poller.poll_all(tenants, 8).await
    }

    /// One poll cycle with at most `concurrency` tenants at a time.
    pub async fn poll_with(&self, tenants: &[Arc<PreparedTenant>], concurrency: usize) -> Vec<TenantReport> {
        self.poller.poll_all(tenants, concurrency).await
    }

    /// (id, version) of every record of `kind` (`incident` or `alert`) written so far, in order.
    pub fn records(&self, kind: &str) -> Vec<(String, String)> {
        self.lines()
            .iter()
            .filter(|l| l["kind"] == kind)
            .map(|l| (l["id"].as_str().unwrap().to_string(), l["version"].as_str().unwrap().to_string()))
            .collect()
    }

    /// The stored cursor of a tenant's stream, as JSON.
    pub fn cursor_json(&self, tenant: &str, kind: &str) -> serde_json::Value {
        let text = self.cursor(tenant, kind).unwrap_or_else(|| panic!("no {kind} cursor for {tenant}"));
        serde_json::from_str(&text).unwrap()
    }

    /// Every NDJSON line written so far.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("out.ndjson"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("output line is not JSON ({e}): {l}")))
            .collect()
    }

    /// The stored cursor of a tenant's stream.
    pub fn cursor(&self, tenant: &str, kind: &str) -> Option<String> {
        connector_host::checkpoint::StateView::read(&self.dir.path().join("state"))
            .unwrap()
            .cursor(tenant, kind)
            .map(str::to_string)
    }
}

/// (id, canonical version) of every item, sorted: what the output must hold exactly once.
pub fn expected(items: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<_> = items
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_string(), canonical(i["lastUpdateDateTime"].as_str().unwrap())))
        .collect();
    v.sort();
    v
}

/// `v` sorted, for comparing with [`expected`].
pub fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

/// An instant in the connector's canonical form (7 fractional digits, `Z`), computed test-side.
pub fn canonical(text: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&chrono::Utc);
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.timestamp_subsec_nanos() / 100)
}

/// The watermark a finished scan leaves: the newest version minus the look-back (default 10 min).
pub fn watermark_after(newest: &str, lookback_secs: i64) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(newest).unwrap() - chrono::Duration::seconds(lookback_secs);
    canonical(&t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

/// The tenant a request was for: the path segment of a token request, the `tid` claim otherwise.
pub fn tenant_of(r: &graph_emulator::RequestRecord) -> Option<String> {
    if r.path.ends_with("/oauth2/v2.0/token") {
        return r.path.split('/').nth(1).map(str::to_ascii_lowercase);
    }
    let token = r.header("authorization")?.strip_prefix("Bearer ")?;
    graph_emulator::jwt_claims(token)?["tid"].as_str().map(str::to_ascii_lowercase)
}

/// The value of a query option of a logged request.
pub fn query_value(r: &graph_emulator::RequestRecord, name: &str) -> Option<String> {
    r.query_pairs().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
