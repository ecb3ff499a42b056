//! `connector-host demo`: the real host and the real Defender component against a local
//! emulator of Entra ID + Graph serving generated, schema-faithful tenants. No Azure account.

use crate::checkpoint::CheckpointStore;
use crate::config::{Limits, SecretSource, TenantConfig};
use crate::output::RecordSink;
use crate::poll::{Poller, TenantReport};
use crate::runtime::Runtime;
use graph_emulator::{Emulator, demo as data};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The Defender connector component, built by `build.rs` for wasm32-wasip2.
pub const DEFENDER_COMPONENT: &[u8] = include_bytes!(env!("DEFENDER_COMPONENT_PATH"));

/// Path of the component file the host embedded (tests load it from here).
pub const DEFENDER_COMPONENT_PATH: &str = env!("DEFENDER_COMPONENT_PATH");

const NAMES: &[&str] = &["contoso", "fabrikam", "northwind", "tailspin", "woodgrove", "adatum", "litware", "proseware"];

/// Config of one emulated tenant pointing at `base` (plain http is allowed only for this loopback emulator).
pub fn emulated_tenant(name: &str, data: &graph_emulator::TenantData, base: &str) -> TenantConfig {
    TenantConfig {
        name: name.to_string(),
        allow_http: true,
        settings: BTreeMap::from([
            ("tenant-id".to_string(), data.tenant_id.clone()),
            ("client-id".to_string(), data.client_id.clone()),
            ("login-endpoint".to_string(), base.to_string()),
            ("graph-endpoint".to_string(), base.to_string()),
        ]),
        secrets: BTreeMap::from([("client-secret".to_string(), SecretSource::Inline(data.client_secret.clone()))]),
        limits: Default::default(),
        connector_version: None,
    }
}

fn tenant_name(i: usize) -> String {
    match NAMES.get(i) {
        Some(n) => n.to_string(),
        None => format!("tenant-{i}"),
    }
}

/// Runs the demo and prints what a poll produces.
pub async fn run(tenants: usize, incidents: usize, output: Option<PathBuf>) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = std::env::temp_dir().join("redcarbon-connector-demo");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    anyhow::ensure!(tenants >= 1, "--tenants must be at least 1");
    let output = match output {
        // Never overwrite or append to a file the user already has: the demo's output is its own.
        Some(path) if path.exists() => {
            anyhow::bail!(
                "{} already exists; give --output a new file name (the demo never overwrites)",
                path.display()
            )
        }
        Some(path) => path,
        None => work.join("records.ndjson"),
    };

    let emulator = Emulator::start().await?;
    let base = emulator.base_url();
    let now = chrono::Utc::now();
    let mut configs = Vec::new();
    let mut tenant_ids = Vec::new();
    for i in 0..tenants {
        let data = data::generate_tenant(i, incidents, now);
        configs.push(emulated_tenant(&tenant_name(i), &data, &base));
        tenant_ids.push(data.tenant_id.clone());
        emulator.add_tenant(data);
    }
    println!("Microsoft 365 Defender connector demo");
    println!(
        "  emulated Entra ID + Microsoft Graph at {base}: {} tenant(s), {incidents} incidents each (generated, last 20 h)",
        configs.len()
    );

    let compile = Instant::now();
    let runtime = Arc::new(Runtime::new(Limits::default())?);
    let connector = Arc::new(runtime.load(DEFENDER_COMPONENT).await?);
    println!(
        "  component {} {} ({} KiB) compiled and described in {} ms",
        connector.info.name,
        connector.info.version,
        DEFENDER_COMPONENT.len() / 1024,
        compile.elapsed().as_millis()
    );
    let prepared =
        configs.iter().map(|c| runtime.prepare(&connector, c).map(Arc::new)).collect::<Result<Vec<_>, _>>()?;
    let sink = Arc::new(RecordSink::file(&output)?);
    let poller = Arc::new(Poller::new(runtime, CheckpointStore::open(work.join("state"))?, sink));

    println!("\nPoll 1: first run, backfilling the last 24 h");
    let t = Instant::now();
    let reports = poller.poll_all(&prepared, 16).await;
    print_reports(&reports, t.elapsed());

    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&output)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    print_severities(&lines);
    println!(
        "\nA few records (NDJSON schema {}; `raw` holds Microsoft's full JSON and is left out here):",
        crate::output::SCHEMA
    );
    let picks = [
        lines.iter().find(|l| {
            l["kind"] == "incident" && l["severity"] == "high" && l["alert_ids"].as_array().is_some_and(|a| a.len() > 1)
        }),
        lines.iter().find(|l| l["kind"] == "incident" && l["severity"] == "unknownFutureValue"),
        lines.iter().find(|l| l["kind"] == "alert" && l["evidence"]["users"].as_array().is_some_and(|a| !a.is_empty())),
    ];
    for line in picks.into_iter().flatten() {
        let mut shown = line.clone();
        if let Some(o) = shown.as_object_mut() {
            o.remove("raw");
            o.remove("schema");
        }
        println!("{}", serde_json::to_string(&shown)?);
    }

    // Analysts work incidents in the portal; the next poll must bring exactly those changes.
    let touched: Vec<String> = lines
        .iter()
        .filter(|l| l["kind"] == "incident" && l["tenant"] == tenant_name(0).as_str() && l["status"] == "active")
        .take(3)
        .filter_map(|l| l["id"].as_str().map(String::from))
        .collect();
    let later = chrono::Utc::now();
    for id in &touched {
        data::touch_incident(&emulator, &tenant_ids[0], id, later);
    }
    println!(
        "\nPoll 2: {} incident(s) of `{}` were updated in the meantime (ids {})",
        touched.len(),
        tenant_name(0),
        touched.join(", ")
    );
    let t = Instant::now();
    let reports = poller.poll_all(&prepared, 16).await;
    print_reports(&reports, t.elapsed());

    let total = std::fs::read_to_string(&output)?.lines().count();
    println!("\n{total} records written to {}", output.display());
    println!("cursors in {}", work.join("state").display());
    println!("demo finished in {:.1} s", started.elapsed().as_secs_f64());
    emulator.shutdown();
    Ok(())
}

fn print_reports(reports: &[TenantReport], elapsed: std::time::Duration) {
    println!("  {:<12} {:>9} {:>7} {:>6}  result", "tenant", "incidents", "alerts", "pages");
    for r in reports {
        let result = if r.ok() { "ok".to_string() } else { format!("FAILED: {}", crate::poll::first_error(r)) };
        println!(
            "  {:<12} {:>9} {:>7} {:>6}  {}",
            r.tenant,
            r.incidents.records,
            r.alerts.records,
            r.incidents.pages + r.alerts.pages,
            result
        );
    }
    let plural = if reports.len() == 1 { "" } else { "s" };
    println!("  ({} tenant{plural} polled concurrently in {} ms)", reports.len(), elapsed.as_millis());
}

fn print_severities(lines: &[serde_json::Value]) {
    let mut counts: BTreeMap<(u64, String), usize> = BTreeMap::new();
    for l in lines.iter().filter(|l| l["kind"] == "incident") {
        let key = (l["score"].as_u64().unwrap_or(0), l["severity"].as_str().unwrap_or("").to_string());
        *counts.entry(key).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|((score, sev), n)| format!("{sev}→{score}: {n}")).collect();
    println!("  incidents by severity → score: {}", parts.join(", "));
}
