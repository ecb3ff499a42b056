//! `connector-bench`: one run, one table. The same data set through (a) the component in the host,
//! (b) the same connector logic compiled natively, (c) a Python poller; a poll cycle over many
//! tenants; per-call costs; component size and start-up. Medians of several runs; ratios measured
//! in the same run. Never part of the test suite.

mod measure;
mod native;

use anyhow::Context;
use clap::Parser;
use connector_host::bindings::FetchRequest;
use connector_host::checkpoint::CheckpointStore;
use connector_host::config::{Limits, TenantConfig};
use connector_host::output::RecordSink;
use connector_host::poll::Poller;
use connector_host::runtime::{PreparedTenant, Runtime};
use graph_emulator::{Emulator, TenantData, demo};
use measure::{cpu_secs, median, micros, peak_rss_mib, percentile, reset_peak_rss, rss_mib};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Benchmarks of the connector platform against the local emulator (prints a table)")]
struct Args {
    /// Runs per throughput figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Incidents in the ingest data set (each with alerts and evidence), spread over `--tenants`.
    #[arg(long, default_value_t = 20_000)]
    incidents: usize,
    /// Tenants the ingest data set is spread over.
    #[arg(long, default_value_t = 8)]
    tenants: usize,
    /// Fleet sizes for the one-cycle poll (each tenant: a token and one page).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000])]
    fleet: Vec<usize>,
    /// Counted cycles per fleet size (after one uncounted warm-up cycle; the median is reported).
    #[arg(long, default_value_t = 3)]
    fleet_runs: usize,
    /// Only the many-tenant cycles (for profiling them).
    #[arg(long)]
    fleet_only: bool,
    /// Samples for the per-call figures.
    #[arg(long, default_value_t = 2_000)]
    samples: usize,
    /// Python interpreter for the reference poller.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Internal: serve an emulator with this many generated tenants, print its URLs, stop when
    /// stdin closes. The benchmark runs its emulators so, in a child process, so that the host's
    /// memory and CPU are measured alone.
    #[arg(long, hide = true)]
    serve_tenants: Option<usize>,
    /// Internal: incidents per served tenant.
    #[arg(long, hide = true, default_value_t = 1)]
    serve_incidents: usize,
}

/// An emulator in a child process, serving generated tenants.
struct ChildEmulator {
    child: tokio::process::Child,
    base: String,
    defender: String,
}

impl ChildEmulator {
    async fn start(tenants: usize, incidents: usize) -> anyhow::Result<ChildEmulator> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["--serve-tenants", &tenants.to_string(), "--serve-incidents", &incidents.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut line = String::new();
        tokio::io::BufReader::new(stdout).read_line(&mut line).await?;
        let mut parts = line.split_whitespace();
        anyhow::ensure!(parts.next() == Some("READY"), "the emulator child said {line:?}");
        let base = parts.next().context("no base URL")?.to_string();
        let defender = parts.next().context("no Defender URL")?.to_string();
        Ok(ChildEmulator { child, base, defender })
    }

    /// CPU seconds the emulator has used so far.
    fn cpu(&self) -> f64 {
        self.child.id().map(measure::cpu_secs_of).unwrap_or(f64::NAN)
    }

    /// Credentials of served tenant `i` (the generator is deterministic in both processes).
    fn tenant(i: usize) -> TenantData {
        TenantData::new(&demo::tenant_id(i), &demo::client_id(i), &demo::client_secret(i))
    }
}

/// `--serve-tenants`: the child side.
async fn serve(tenants: usize, incidents: usize) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let emulator = Emulator::start().await?;
    let now = chrono::Utc::now();
    for i in 0..tenants {
        emulator.add_tenant(demo::generate_tenant(i, incidents, now));
    }
    emulator.freeze();
    println!("READY {} {}", emulator.base_url(), emulator.defender_url());
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    Ok(())
}

/// First-poll start of every contender (the demo data lies in the 20 hours before now).
const BACKFILL: &str = "2000-01-01T00:00:00Z";

/// One row of the final table.
struct Row {
    figure: String,
    value: String,
    note: String,
}

fn row(rows: &mut Vec<Row>, figure: &str, value: String, note: impl Into<String>) {
    let note = note.into();
    println!("  {figure:<52} {value:>14}  {note}");
    rows.push(Row { figure: figure.into(), value, note });
}

fn prepare(
    runtime: &Runtime,
    connector: &Arc<connector_host::runtime::LoadedConnector>,
    name: &str,
    d: &TenantData,
    base: &str,
    defender: &str,
) -> anyhow::Result<Arc<PreparedTenant>> {
    let mut t: TenantConfig = connector_host::demo::emulated_tenant(name, d, base);
    t.settings.insert("defender-endpoint".into(), defender.into());
    // A fixed start: every run asks for the same pages (which the frozen emulator serves from memory).
    t.settings.insert("backfill".into(), BACKFILL.into());
    Ok(Arc::new(runtime.prepare(connector, &t)?))
}

/// Drains one tenant's incidents through the component: one sandbox, calls until caught up.
async fn drain_component(runtime: &Runtime, tenant: &PreparedTenant) -> anyhow::Result<usize> {
    let mut session = runtime.session(tenant).await?;
    let mut cursor = None;
    let mut n = 0;
    loop {
        let page = session
            .fetch_incidents(&FetchRequest { cursor: cursor.take(), page_size: None, attempt: 0 })
            .await?
            .map_err(|e| anyhow::anyhow!("{}", connector_host::poll::explain(&e)))?;
        n += page.incidents.len();
        if !page.more {
            return Ok(n);
        }
        cursor = Some(page.next_cursor);
    }
}

/// The same, natively: the connector's Rust logic over a native HTTP client.
fn drain_native(d: &TenantData, base: &str) -> anyhow::Result<usize> {
    use defender_connector::connector::{Connector, SystemClock};
    let settings: std::collections::BTreeMap<String, String> = [
        ("tenant-id", d.tenant_id.as_str()),
        ("client-id", d.client_id.as_str()),
        ("client-secret", d.client_secret.as_str()),
        ("login-endpoint", base),
        ("graph-endpoint", base),
        ("backfill", BACKFILL),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = defender_connector::config::Settings::load(&settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tokens = defender_connector::auth::TokenCache::default();
    let mut c = Connector { http: native::NativeHttp::new(), clock: SystemClock, settings, tokens: &mut tokens };
    let (mut cursor, mut n) = (None::<String>, 0);
    loop {
        let page = c.fetch_incidents(cursor.as_deref(), None, 0).map_err(|e| anyhow::anyhow!("{e}"))?;
        n += page.records.len();
        if !page.more {
            return Ok(n);
        }
        cursor = Some(page.next_cursor);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(n) = args.serve_tenants {
        return serve(n, args.serve_incidents).await;
    }
    let started = Instant::now();
    let mut rows = Vec::new();
    println!("connector-bench on {}", measure::machine());
    println!("(the emulator runs in a child process on loopback and shares the cores with what is measured)\n");

    if args.fleet_only {
        let runtime = Arc::new(Runtime::new(Limits::default())?);
        let connector = Arc::new(runtime.load(connector_host::demo::DEFENDER_COMPONENT).await?);
        for &n in &args.fleet {
            fleet_cycle(&runtime, &connector, n, args.fleet_runs, &mut rows).await?;
        }
        print_table(started, &rows);
        return Ok(());
    }

    // 5. Component size, compile, start-up with a warm cache.
    println!("Component and start-up");
    let wasm = connector_host::demo::DEFENDER_COMPONENT;
    row(
        &mut rows,
        "component size (release, profile `component`)",
        format!("{} KiB", wasm.len() / 1024),
        "target ≤ 1024 KiB",
    );
    let cache = tempfile::tempdir()?;
    let t = Instant::now();
    let cold = Runtime::new(Limits::default())?.with_cache_dir(cache.path());
    cold.load(wasm).await?;
    row(
        &mut rows,
        "load with an empty cache (compile + describe)",
        format!("{:.0} ms", t.elapsed().as_secs_f64() * 1e3),
        "Cranelift compiles the component",
    );
    let mut warm = Vec::new();
    for _ in 0..args.runs {
        let t = Instant::now();
        let r = Runtime::new(Limits::default())?.with_cache_dir(cache.path());
        let c = r.load(wasm).await?;
        anyhow::ensure!(c.from_cache, "the warm start did not use the cache");
        warm.push(t.elapsed().as_secs_f64() * 1e3);
    }
    row(
        &mut rows,
        "host start-up, warm cache (engine + load + describe)",
        format!("{:.1} ms", median(&mut warm)),
        "median",
    );

    let runtime = Arc::new(Runtime::new(Limits::default())?);
    let connector = Arc::new(runtime.load(wasm).await?);

    // 1 and 2. The same data set three ways.
    println!("\nIngest: {} incidents with alerts and evidence, {} tenants, 50 per page", args.incidents, args.tenants);
    let per_tenant = args.incidents.div_ceil(args.tenants);
    let emulator = ChildEmulator::start(args.tenants, per_tenant).await?;
    let data: Vec<TenantData> = (0..args.tenants).map(ChildEmulator::tenant).collect();
    let total = per_tenant * args.tenants;
    let prepared: Vec<_> = data
        .iter()
        .enumerate()
        .map(|(i, d)| prepare(&runtime, &connector, &format!("t{i}"), d, &emulator.base, &emulator.defender))
        .collect::<anyhow::Result<_>>()?;

    let mut component_rps = Vec::new();
    // Run 0 warms the emulator's page cache (and the token paths); it is not counted.
    for run in 0..=args.runs {
        let (cpu0, emu0) = (cpu_secs(), emulator.cpu());
        let t = Instant::now();
        let mut n = 0;
        for p in &prepared {
            n += drain_component(&runtime, p).await?;
        }
        anyhow::ensure!(n == total, "component read {n} of {total}");
        let secs = t.elapsed().as_secs_f64();
        if run > 0 {
            component_rps.push(n as f64 / secs);
        }
        println!(
            "    (a) run {run}: {:.2} s, host CPU {:.2} s, emulator CPU {:.2} s{}",
            secs,
            cpu_secs() - cpu0,
            emulator.cpu() - emu0,
            if run == 0 { " (warm-up)" } else { "" }
        );
    }
    let base = emulator.base.clone();
    let mut native_rps = Vec::new();
    for run in 0..=args.runs {
        let (data, base) = (data.clone(), base.clone());
        let (cpu0, emu0) = (cpu_secs(), emulator.cpu());
        let rps = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
            let t = Instant::now();
            let mut n = 0;
            for d in &data {
                n += drain_native(d, &base)?;
            }
            anyhow::ensure!(n == total, "native read {n} of {total}");
            Ok(n as f64 / t.elapsed().as_secs_f64())
        })
        .await??;
        println!(
            "    (b) run {run}: {:.2} s, host CPU {:.2} s, emulator CPU {:.2} s{}",
            total as f64 / rps,
            cpu_secs() - cpu0,
            emulator.cpu() - emu0,
            if run == 0 { " (warm-up)" } else { "" }
        );
        native_rps.push(rps);
    }
    native_rps.remove(0); // the warm-up run
    let (c, nat) = (median(&mut component_rps), median(&mut native_rps));
    row(
        &mut rows,
        "(a) component in the host",
        format!("{c:.0} rec/s"),
        "median; one sandbox per tenant, a call per page",
    );
    row(&mut rows, "(b) same logic native, keep-alive client", format!("{nat:.0} rec/s"), "median");
    row(&mut rows, "ratio (a)/(b)", format!("{:.2}×", c / nat), "target ≥ 0.8×");

    let python = run_python(&args.python, &data, &base, total, args.runs).await;
    drop(emulator);
    match python {
        Ok((mut rps, client)) => {
            let p = median(&mut rps);
            row(&mut rows, &format!("(c) Python poller ({client})"), format!("{p:.0} rec/s"), "median");
            row(&mut rows, "ratio (a)/(c)", format!("{:.1}×", c / p), "target ≥ 20×");
        }
        Err(e) => {
            row(&mut rows, "(c) Python poller", "not run".into(), format!("{e:#}"));
            row(&mut rows, "ratio (a)/(c)", "not run".into(), "target ≥ 20×");
        }
    }

    // 3. Many tenants, one cycle each.
    for &n in &args.fleet {
        fleet_cycle(&runtime, &connector, n, args.fleet_runs, &mut rows).await?;
    }

    // 4. Per-call costs.
    println!("\nPer call");
    let tenant = &prepared[0];
    let mut inst = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let t = Instant::now();
        let s = runtime.session(tenant).await?;
        inst.push(micros(t.elapsed()));
        drop(s);
    }
    row(
        &mut rows,
        "instantiate a tenant sandbox: median",
        format!("{:.1} µs", median(&mut inst)),
        "from InstancePre; target ≤ 50 µs",
    );
    row(&mut rows, "instantiate a tenant sandbox: p99", format!("{:.1} µs", percentile(&mut inst, 99.0)), "");
    let mut session = runtime.session(tenant).await?;
    let mut call = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let t = Instant::now();
        let score = session.map_severity("High").await?;
        call.push(micros(t.elapsed()));
        anyhow::ensure!(score == 70);
    }
    row(
        &mut rows,
        "fixed cost of one call (map-severity)",
        format!("{:.1} µs", median(&mut call)),
        "median; guard, timeout, lift/lower",
    );
    let landing = file_to_first_call(wasm).await?;
    row(
        &mut rows,
        "new component file → its first call",
        format!("{:.0} ms", landing.as_secs_f64() * 1e3),
        "watch (250 ms debounce) + compile + describe; target ≤ 1 s",
    );

    print_table(started, &rows);
    Ok(())
}

/// The rows as a Markdown table.
fn print_table(started: Instant, rows: &[Row]) {
    println!("\nDone in {:.0} s. As a table:\n", started.elapsed().as_secs_f64());
    println!("| figure | value | note |\n|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} |", r.figure, r.value, r.note);
    }
}

/// One poll cycle over `n` tenants, `runs` times after an uncounted warm-up, each on a fresh state
/// directory (a first cycle: no cursor yet); medians of wall time and host CPU, the peak RSS.
async fn fleet_cycle(
    runtime: &Arc<Runtime>,
    connector: &Arc<connector_host::runtime::LoadedConnector>,
    n: usize,
    runs: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    println!("\nOne poll cycle over {n} tenants (a token and one page of each stream), concurrency 16");
    let emulator = ChildEmulator::start(n, 1).await?;
    let tenants: Vec<_> = (0..n)
        .map(|i| {
            let d = ChildEmulator::tenant(i);
            prepare(runtime, connector, &format!("f{i}"), &d, &emulator.base, &emulator.defender)
        })
        .collect::<anyhow::Result<_>>()?;
    let (mut walls, mut cpus, mut failed) = (Vec::new(), Vec::new(), 0);
    let before = rss_mib();
    let peak_reset = reset_peak_rss();
    // Run 0 warms the emulator (its pages are built on first request) and is not counted.
    for run in 0..=runs {
        let dir = tempfile::tempdir()?;
        let sink = Arc::new(RecordSink::file(&dir.path().join("out.ndjson"))?);
        let poller = Arc::new(Poller::new(runtime.clone(), CheckpointStore::open(dir.path().join("state"))?, sink));
        let (cpu0, emu0) = (cpu_secs(), emulator.cpu());
        let t = Instant::now();
        let reports = poller.poll_all(&tenants, 16).await;
        let wall = t.elapsed().as_secs_f64();
        let (cpu, emu) = (cpu_secs() - cpu0, emulator.cpu() - emu0);
        failed = failed.max(reports.iter().filter(|r| !r.ok()).count());
        if run > 0 {
            println!("    run {run}: {wall:.2} s wall, {cpu:.2} s host CPU, {emu:.2} s emulator CPU");
            walls.push(wall);
            cpus.push(cpu);
        }
    }
    row(
        rows,
        &format!("{n} tenants: wall time"),
        format!("{:.2} s", median(&mut walls)),
        format!("median of {runs}; {failed} failed; target ≤ 5 s at 10,000"),
    );
    row(
        rows,
        &format!("{n} tenants: CPU time of the host (user+sys)"),
        format!("{:.2} s", median(&mut cpus)),
        "median; the emulator's is not counted",
    );
    row(
        rows,
        &format!("{n} tenants: peak RSS of the host process"),
        format!("{:.0} MiB", peak_rss_mib()),
        format!(
            "{}before the cycles {before:.0} MiB; the emulator is another process; target ≤ 1024 MiB",
            if peak_reset { "" } else { "peak since start; " }
        ),
    );
    Ok(())
}

/// The Python reference poller over the same tenants: records/s per run, and the HTTP client it used.
async fn run_python(
    python: &str,
    data: &[TenantData],
    base: &str,
    expected: usize,
    runs: usize,
) -> anyhow::Result<(Vec<f64>, String)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/poller.py");
    let tenants: Vec<_> = data
        .iter()
        .map(|d| serde_json::json!({"tenant_id": d.tenant_id, "client_id": d.client_id, "client_secret": d.client_secret}))
        .collect();
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::json!({ "base": base, "tenants": tenants }).to_string())?;
    let mut out = Vec::new();
    let mut client = String::new();
    // Run 0 warms the emulator's cache for this client's own URLs; it is not counted.
    for run in 0..=runs {
        let o = tokio::process::Command::new(python)
            .arg(&script)
            .arg(file.path())
            .output()
            .await
            .with_context(|| format!("cannot start {python}"))?;
        anyhow::ensure!(o.status.success(), "the Python poller failed: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        let n = v["records"].as_u64().unwrap_or(0) as usize;
        anyhow::ensure!(n == expected, "the Python poller read {n} of {expected}");
        if run > 0 {
            out.push(n as f64 / v["seconds"].as_f64().unwrap_or(f64::NAN));
        }
        client = v["client"].as_str().unwrap_or("?").to_string();
    }
    Ok((out, client))
}

/// Time from a component file landing in a watched folder to the first call of that version.
async fn file_to_first_call(wasm: &[u8]) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let notify = Arc::new(tokio::sync::Notify::new());
    let _watch = connector_host::reload::watch(dir.path(), notify.clone()).map_err(anyhow::Error::msg)?;
    let runtime = Runtime::new(Limits::default())?;
    let t = Instant::now();
    let path = dir.path().join("defender.wasm");
    std::fs::write(&path, wasm)?;
    notify.notified().await;
    let bytes = std::fs::read(&path)?;
    // `load` validates, compiles and calls `describe`: that call is the version's first.
    runtime.load(&bytes).await?;
    Ok(t.elapsed())
}
