//! Connector versions swapped in at runtime: under continuous polling nothing is lost, duplicated
//! or failed; bad versions are refused or rolled back; canaries go first; config changes (a
//! rotated secret, an added tenant) take effect on the next poll.

use connector_host::fleet::Fleet;
use connector_host::poll::{PollError, TenantReport};
use connector_host::registry::{Event, RolloutPolicy};
use connector_host::runtime::{LoadedConnector, SandboxError};
use connector_tests::{World, expected, hostile_wasm, sorted, tenant, versioned_wasm};
use graph_emulator::{Fault, Route, TenantData, demo};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const A: &str = "0.1.0-swap-a";
const B: &str = "0.1.0-swap-b";

async fn version(w: &World, v: &str) -> Arc<LoadedConnector> {
    let c = Arc::new(w.runtime.load(&versioned_wasm(v)).await.unwrap());
    assert_eq!(c.info.version, v);
    c
}

fn tenants(w: &World, n: usize, incidents: usize) -> (Vec<TenantData>, Vec<connector_host::config::TenantConfig>) {
    let data: Vec<TenantData> = (0..n).map(|i| demo::generate_tenant(60 + i, incidents, chrono::Utc::now())).collect();
    let configs = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            w.emulator.add_tenant(d.clone());
            tenant(&format!("t{i:02}"), d, &w.emulator, &[])
        })
        .collect();
    (data, configs)
}

fn versions_of(reports: &[TenantReport]) -> Vec<String> {
    reports.iter().map(|r| r.connector.split(' ').next().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn twenty_swaps_under_continuous_polling_lose_duplicate_and_fail_nothing() {
    let w = World::isolated().await;
    let (a, b) = (version(&w, A).await, version(&w, B).await);
    let fleet = Arc::new(w.fleet(a.clone(), RolloutPolicy::default()));
    let (data, configs) = tenants(&w, 20, 20);
    // Slow pages so swaps land while polls are in flight.
    for _ in 0..2000 {
        w.emulator.push_fault(Fault::delay(Route::AnyGraph, Duration::from_millis(15)));
    }
    // One cycle on A before swapping starts, so A certainly produced records.
    let first = fleet.cycle(&configs, 8).await;
    assert!(first.iter().all(TenantReport::ok), "{first:?}");
    let done = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (fleet, done) = (fleet.clone(), done.clone());
        tokio::spawn(async move {
            let mut swaps = 0;
            // 21 swaps, ending on B: the cycle after the last swap certainly runs B.
            for k in 0..21 {
                let next = if k % 2 == 0 { b.clone() } else { a.clone() };
                assert!(matches!(fleet.registry.offer(next), Event::Promoted { .. }));
                swaps += 1;
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            done.store(true, Ordering::SeqCst);
            swaps
        })
    };
    let (mut cycles, mut in_flight_on_old, mut failed) = (0, 0, 0);
    let mut added = Vec::new();
    loop {
        let last = done.load(Ordering::SeqCst);
        // New incidents keep arriving, so records are produced under every version.
        for (i, d) in data.iter().enumerate().take(5) {
            let mut inc = d.incidents[0].clone();
            let id = format!("77{cycles:03}{i:02}");
            inc["id"] = serde_json::json!(id);
            inc["alerts"] = serde_json::json!([]);
            inc["lastUpdateDateTime"] = serde_json::json!(graph_emulator::format_graph_time(chrono::Utc::now()));
            w.emulator.upsert_incident(&d.tenant_id, inc.clone());
            added.push((d.tenant_id.clone(), inc));
        }
        let (before, at_start) = (fleet.registry.generation(), fleet.registry.stable().info.version.clone());
        let reports = fleet.cycle(&configs, 8).await;
        let after = fleet.registry.generation();
        failed += reports.iter().filter(|r| !r.ok()).count();
        let used: BTreeSet<String> = versions_of(&reports).into_iter().collect();
        if after > before && used == BTreeSet::from([at_start]) {
            in_flight_on_old += 1; // swapped while this cycle's polls ran: they finished on the version they started with
        }
        cycles += 1;
        if last {
            break;
        }
    }
    let swaps = swapper.await.unwrap();
    eprintln!(
        "swaps {swaps}, cycles {cycles}, failed polls {failed}, cycles with polls finishing on the old version {in_flight_on_old}"
    );
    assert_eq!(swaps, 21);
    assert_eq!(failed, 0, "zero failed polls");
    assert!(in_flight_on_old >= 1, "in-flight polls observed finishing on the version they started with");
    // Every record exactly once, stamped with one of the two versions, both of which produced records.
    let lines = w.lines();
    let mut got: Vec<(String, String, String)> = lines
        .iter()
        .filter(|l| l["kind"] == "incident")
        .map(|l| {
            (
                l["tenant"].as_str().unwrap().into(),
                l["id"].as_str().unwrap().into(),
                l["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    let total = got.len();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), total, "no duplicated (tenant, id, version)");
    let mut want = Vec::new();
    for (i, d) in data.iter().enumerate() {
        let mut items = d.incidents.clone();
        items.extend(added.iter().filter(|(t, _)| *t == d.tenant_id).map(|(_, inc)| inc.clone()));
        want.extend(expected(&items).into_iter().map(|(id, v)| (format!("t{i:02}"), id, v)));
    }
    want.sort();
    assert_eq!(got, want, "nothing lost");
    let stamps: BTreeSet<&str> = lines.iter().map(|l| l["connector"]["version"].as_str().unwrap()).collect();
    assert_eq!(stamps, BTreeSet::from([A, B]));
}

#[tokio::test]
async fn a_corrupt_file_and_an_incompatible_world_are_refused_and_the_current_version_keeps_serving() {
    let w = World::isolated().await;
    let a = version(&w, A).await;
    let fleet = w.fleet(a.clone(), RolloutPolicy::default());
    match fleet.load_bytes(b"\0asm\x0d\0\x01\0 this is not a component").await {
        Err(SandboxError::Load(m)) => assert!(!m.is_empty()),
        other => panic!("{other:?}"),
    }
    match fleet.load_bytes(b"MZ not wasm at all").await {
        Err(SandboxError::Load(m)) => {
            assert_eq!(m, "the file is not WebAssembly (build it with --target wasm32-wasip2)")
        }
        other => panic!("{other:?}"),
    }
    match fleet.load_bytes(&hostile_wasm("future-world")).await {
        Err(e @ SandboxError::Incompatible { .. }) => assert_eq!(
            e.to_string(),
            "the component exports redcarbon:connector/connector@0.9.0, but this host serves redcarbon:connector/connector@0.2.0; rebuild it against wit/ of this host"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(fleet.registry.stable().digest, a.digest);
    let (data, configs) = tenants(&w, 2, 10);
    let r = fleet.cycle(&configs, 4).await;
    assert!(r.iter().all(TenantReport::ok), "{r:?}");
    assert_eq!(versions_of(&r), [A, A]);
    assert_eq!(w.records("incident").len(), data.iter().map(|d| d.incidents.len()).sum::<usize>());
}

#[tokio::test]
async fn a_version_that_traps_is_rolled_back_for_the_tenants_it_fails() {
    let w = World::isolated().await;
    let a = version(&w, A).await;
    let fleet = w.fleet(a.clone(), RolloutPolicy::default());
    let (data, configs) = tenants(&w, 2, 10);
    assert!(fleet.cycle(&configs, 4).await.iter().all(TenantReport::ok));
    // A release that describes itself fine but traps on every fetch.
    assert!(matches!(fleet.load_bytes(&hostile_wasm("panic")).await, Ok(Event::Promoted { .. })));
    let r = fleet.cycle(&configs, 4).await;
    for report in &r {
        assert!(matches!(report.first_error(), Some(PollError::Sandbox(SandboxError::Trap { .. }))), "{report:?}");
        assert!(report.connector.starts_with("0.0.1 "), "{}", report.connector);
    }
    // Both tenants are back on the previous version, which keeps serving them.
    for c in &configs {
        assert_eq!(fleet.registry.resolve(&c.name, None).unwrap().digest, a.digest);
    }
    let mut later = data[0].incidents[0].clone();
    later["id"] = serde_json::json!("880001");
    later["alerts"] = serde_json::json!([]);
    later["lastUpdateDateTime"] = serde_json::json!(graph_emulator::format_graph_time(chrono::Utc::now()));
    w.emulator.upsert_incident(&data[0].tenant_id, later.clone());
    let r = fleet.cycle(&configs, 4).await;
    assert!(r.iter().all(TenantReport::ok), "{r:?}");
    assert_eq!(versions_of(&r), [A, A]);
    assert_eq!(r[0].incidents.records, 1, "the cursor was untouched by the failed version: only the new incident");
}

#[tokio::test]
async fn a_canary_subset_gets_the_new_version_first_and_the_others_after_it() {
    let w = World::isolated().await;
    let (a, b) = (version(&w, A).await, version(&w, B).await);
    let policy = RolloutPolicy { canary: vec!["t00".into(), "t01".into()], canary_polls: None };
    let fleet = w.fleet(a, policy);
    let (_data, configs) = tenants(&w, 4, 5);
    assert!(matches!(fleet.registry.offer(b), Event::Canary { .. }));
    let r = fleet.cycle(&configs, 4).await;
    assert!(r.iter().all(TenantReport::ok), "{r:?}");
    assert_eq!(versions_of(&r), [B, B, A, A], "canaries first");
    let r = fleet.cycle(&configs, 4).await;
    assert_eq!(versions_of(&r), [B, B, B, B], "promoted after the canaries polled cleanly");
}

#[tokio::test]
async fn a_rotated_secret_and_an_added_tenant_take_effect_on_the_next_poll() {
    let w = World::isolated().await;
    let a = version(&w, A).await;
    let fleet: Fleet = w.fleet(a, RolloutPolicy::default());
    let (data, mut configs) = tenants(&w, 1, 5);
    assert!(fleet.cycle(&configs, 4).await[0].ok());
    // The customer rotates the secret in Entra: the old one stops working at once.
    w.emulator.set_client_secret(&data[0].tenant_id, "rotated-secret-value-2");
    let r = fleet.cycle(&configs, 4).await;
    assert_eq!(r[0].first_error().map(PollError::kind), Some("auth"));
    configs[0]
        .secrets
        .insert("client-secret".into(), connector_host::config::SecretSource::Inline("rotated-secret-value-2".into()));
    let extra = demo::generate_tenant(99, 3, chrono::Utc::now());
    w.emulator.add_tenant(extra.clone());
    configs.push(tenant("added", &extra, &w.emulator, &[]));
    let r = fleet.cycle(&configs, 4).await;
    assert!(r.iter().all(TenantReport::ok), "{r:?}");
    assert_eq!(r[1].incidents.records, 3, "the added tenant was polled");
    assert_eq!(sorted(w.records("incident")).len(), 8);
}

#[tokio::test]
async fn a_restart_loads_compiled_components_from_the_cache_by_digest() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = versioned_wasm(A);
    let limits = connector_host::config::Limits::default();
    let first = connector_host::runtime::Runtime::new(limits.clone()).unwrap().with_cache_dir(cache.path());
    let loaded = first.load(&wasm).await.unwrap();
    assert!(!loaded.from_cache, "compiled the first time");
    let hex = loaded.digest.trim_start_matches("sha256:").to_string();
    let mut entries: Vec<String> =
        std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    entries.sort();
    assert_eq!(entries.len(), 2, "the artefact and its checksum: {entries:?}");
    assert!(entries[0].starts_with(&hex) && entries[0].ends_with(".cwasm"), "{entries:?}");
    assert!(entries[1].ends_with(".cwasm.sha256"), "{entries:?}");
    // A new process (a new engine with the same settings) finds it.
    let restarted = connector_host::runtime::Runtime::new(limits.clone()).unwrap().with_cache_dir(cache.path());
    let again = restarted.load(&wasm).await.unwrap();
    assert!(again.from_cache);
    assert_eq!((again.digest.as_str(), again.info.version.as_str()), (loaded.digest.as_str(), A));
    // An entry of another component put in its place is compiled again, not run.
    let other = versioned_wasm(B);
    let other_loaded = restarted.load(&other).await.unwrap();
    let other_entry = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with(other_loaded.digest.trim_start_matches("sha256:")) && n.ends_with(".cwasm"))
        .unwrap();
    std::fs::copy(cache.path().join(other_entry), cache.path().join(&entries[0])).unwrap();
    let third = connector_host::runtime::Runtime::new(limits.clone()).unwrap().with_cache_dir(cache.path());
    let reloaded = third.load(&wasm).await.unwrap();
    assert!(!reloaded.from_cache);
    assert_eq!(reloaded.info.version, A, "the right code, not the substituted entry");
    // A damaged entry likewise.
    std::fs::write(cache.path().join(&entries[0]), b"garbage").unwrap();
    let fourth = connector_host::runtime::Runtime::new(limits).unwrap().with_cache_dir(cache.path());
    assert!(!fourth.load(&wasm).await.unwrap().from_cache);
}

#[tokio::test]
async fn a_version_that_would_reach_new_origins_is_kept_off_the_tenants() {
    let w = World::isolated().await;
    let a = version(&w, A).await;
    let fleet = w.fleet(a.clone(), RolloutPolicy::default());
    let (_data, configs) = tenants(&w, 2, 5);
    assert!(fleet.cycle(&configs, 4).await.iter().all(TenantReport::ok));
    // Validates (it is a component of this world and describes itself) but declares an extra origin.
    assert!(matches!(fleet.load_bytes(&hostile_wasm("egress")).await, Ok(Event::Promoted { .. })));
    let r = fleet.cycle(&configs, 4).await;
    assert!(r.iter().all(TenantReport::ok), "{r:?}");
    assert_eq!(versions_of(&r), [A, A], "kept on the version whose origins the tenant allows");
}
