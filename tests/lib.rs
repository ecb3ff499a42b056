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

impl World {
    /// Starts an emulator and an empty output.
    pub async fn new() -> World {
        let emulator = Emulator::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (runtime, connector) = runtime();
        let sink = Arc::new(RecordSink::file(&dir.path().join("out.ndjson")).unwrap());
        let poller = Arc::new(
            Poller::new(runtime.clone(), connector.clone(), CheckpointStore::new(dir.path().join("state")), sink)
                .with_retry(RetryPolicy { base_delay_ms: 20, max_delay_ms: 200, ..RetryPolicy::default() }),
        );
        World { emulator, dir, runtime, connector, poller }
    }

    /// Checks a tenant config against the connector.
    pub fn prepare(&self, config: &TenantConfig) -> Arc<PreparedTenant> {
        Arc::new(self.runtime.prepare(&self.connector, config).unwrap())
    }

    /// One poll cycle.
    pub async fn poll(&self, tenants: &[Arc<PreparedTenant>]) -> Vec<TenantReport> {
        self.poller.poll_all(tenants, 8).await
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
        CheckpointStore::new(self.dir.path().join("state")).load(tenant, kind).unwrap()
    }
}
