//! `connector-host`: runs connector components for many tenants.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use connector_host::checkpoint::{self, CheckpointStore};
use connector_host::config::HostConfig;
use connector_host::fleet::Fleet;
use connector_host::output::RecordSink;
use connector_host::poll::{self, Poller};
use connector_host::runtime::{LoadedConnector, Runtime};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "connector-host",
    version,
    about = "Runs sandboxed security-data connectors (WebAssembly components), once per tenant"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the Defender connector against a local emulator of Entra ID and Microsoft Graph with generated tenants.
    #[cfg(feature = "demo")]
    Demo {
        /// Number of generated tenants.
        #[arg(long, default_value_t = 3)]
        tenants: usize,
        /// Incidents per tenant.
        #[arg(long, default_value_t = 200)]
        incidents: usize,
        /// Where the NDJSON goes (default: a temporary folder, printed at the end).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Polls every tenant in the config file; with --once, one cycle, then exits non-zero if any tenant failed.
    Run {
        /// Host configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// One poll cycle, then exit.
        #[arg(long)]
        once: bool,
    },
    /// The "Test" button: signs in, checks permissions, reads one record of each kind.
    Test {
        #[command(flatten)]
        target: TenantArgs,
    },
    /// Changes an incident of a tenant (status, assignment, classification, ...); prints the result as JSON.
    UpdateIncident {
        #[command(flatten)]
        target: TenantArgs,
        /// Incident id.
        #[arg(long)]
        id: String,
        /// The incident version the change is based on (the record's `version`); refused if it changed since.
        #[arg(long, required_unless_present = "force")]
        expected_version: Option<String>,
        /// Change it without checking for a concurrent change.
        #[arg(long, conflicts_with = "expected_version")]
        force: bool,
        /// active, inProgress or resolved.
        #[arg(long)]
        status: Option<String>,
        /// Analyst or queue to assign it to ("" unassigns).
        #[arg(long)]
        assign_to: Option<String>,
        /// truePositive, falsePositive or informationalExpectedActivity.
        #[arg(long)]
        classification: Option<String>,
        /// A determination that fits the classification (e.g. malware, securityTesting, notMalicious).
        #[arg(long)]
        determination: Option<String>,
        /// informational, low, medium or high.
        #[arg(long)]
        severity: Option<String>,
        /// A custom tag; repeat for several (replaces the incident's tags).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Removes all custom tags.
        #[arg(long, conflicts_with = "tags")]
        clear_tags: bool,
        /// Why it was resolved.
        #[arg(long)]
        resolving_comment: Option<String>,
    },
    /// Adds a comment to an incident of a tenant; prints the incident afterwards as JSON.
    Comment {
        #[command(flatten)]
        target: TenantArgs,
        /// Incident id.
        #[arg(long)]
        id: String,
        /// The comment.
        #[arg(long)]
        text: String,
    },
    /// Runs an advanced hunting (KQL) query for a tenant: JSON, or a table when stdout is a terminal.
    Hunt {
        #[command(flatten)]
        target: TenantArgs,
        /// The KQL query, sent as written.
        #[arg(long, required_unless_present = "query_file", conflicts_with = "query_file")]
        query: Option<String>,
        /// A file holding the KQL query.
        #[arg(long)]
        query_file: Option<PathBuf>,
        /// ISO 8601 timespan, e.g. P7D or 2024-02-01T08:00:00Z/P30D (default: the service's 30 days).
        #[arg(long)]
        timespan: Option<String>,
        /// Output format (default: table on a terminal, JSON otherwise).
        #[arg(long, value_enum)]
        format: Option<HuntFormat>,
    },
    /// Shows each tenant's health from the state directory: last success, newest record, lag, errors.
    Status {
        /// Host configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Forgets a tenant's cursors (both streams, or one), so its next poll reads again from its
    /// backfill; refused while a host runs on the state directory.
    Reset {
        #[command(flatten)]
        target: TenantArgs,
        /// Only this stream's cursor.
        #[arg(long, value_enum)]
        stream: Option<StreamArg>,
    },
    /// Lists which connector version every tenant ran in the running host's latest cycle, and why.
    Versions {
        /// Host configuration (TOML); its state_dir is read.
        #[arg(long)]
        config: PathBuf,
    },
    /// Prints what the connector says about itself (config keys, hosts, permissions).
    Describe {
        /// Host configuration (TOML); its `component` is described.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// The config file and the tenant a command acts on.
#[derive(clap::Args)]
struct TenantArgs {
    /// Host configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Tenant name from the config.
    #[arg(long)]
    tenant: String,
}

/// A record stream, as `reset` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StreamArg {
    /// Incidents (with their alerts).
    Incidents,
    /// Alerts (alerts_v2).
    Alerts,
}

/// How `hunt` prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum HuntFormat {
    /// One JSON object: columns, rows, truncated.
    Json,
    /// A text table.
    Table,
}

fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only on a terminal: log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

#[tokio::main]
async fn main() -> ExitCode {
    // `connector-host versions | head` should end quietly, as other CLI tools do, not panic.
    #[cfg(unix)]
    unsafe {
        restore_default_sigpipe();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "demo")]
        Command::Demo { tenants, incidents, output } => {
            init_logs("warn");
            connector_host::demo::run(tenants, incidents, output).await.map(|_| true)
        }
        Command::Run { config, once } => {
            init_logs("info");
            run(config, once).await
        }
        Command::Test { target } => {
            init_logs("warn");
            test(target.config, target.tenant).await
        }
        Command::UpdateIncident {
            target,
            id,
            expected_version,
            force: _,
            status,
            assign_to,
            classification,
            determination,
            severity,
            tags,
            clear_tags,
            resolving_comment,
        } => {
            init_logs("warn");
            let update = connector_host::bindings::IncidentUpdate {
                expected_version,
                status,
                assigned_to: assign_to,
                classification,
                determination,
                severity,
                custom_tags: if clear_tags { Some(Vec::new()) } else { (!tags.is_empty()).then_some(tags) },
                resolving_comment,
            };
            update_incident(target.config, target.tenant, id, Action::Update(update)).await
        }
        Command::Comment { target, id, text } => {
            init_logs("warn");
            update_incident(target.config, target.tenant, id, Action::Comment(text)).await
        }
        Command::Hunt { target, query, query_file, timespan, format } => {
            init_logs("warn");
            hunt(target.config, target.tenant, query, query_file, timespan, format).await
        }
        Command::Status { config } => {
            init_logs("warn");
            status(config)
        }
        Command::Reset { target, stream } => {
            init_logs("warn");
            reset(target.config, target.tenant, stream)
        }
        Command::Versions { config } => {
            init_logs("warn");
            versions(config)
        }
        Command::Describe { config } => {
            init_logs("warn");
            describe(config).await.map(|_| true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn load_component(runtime: &Runtime, config: Option<&HostConfig>) -> anyhow::Result<LoadedConnector> {
    let bytes = match config.and_then(|c| c.component.clone()) {
        Some(path) => std::fs::read(&path).with_context(|| format!("cannot read component {}", path.display()))?,
        None => embedded_component()?,
    };
    Ok(runtime.load(&bytes).await?)
}

#[cfg(feature = "demo")]
fn embedded_component() -> anyhow::Result<Vec<u8>> {
    Ok(connector_host::demo::DEFENDER_COMPONENT.to_vec())
}

#[cfg(not(feature = "demo"))]
fn embedded_component() -> anyhow::Result<Vec<u8>> {
    bail!(
        "no `component` in the config, and this build has no embedded connector; set component = \"path/to/connector.wasm\""
    )
}

async fn run(config_path: PathBuf, once: bool) -> anyhow::Result<bool> {
    let mut config = HostConfig::load(&config_path)?;
    if config.tenants.is_empty() {
        bail!("{} has no [[tenant]] entries", config_path.display());
    }
    let mut runtime = Runtime::new(config.limits.clone())?;
    if let Some(dir) = &config.cache_dir {
        runtime = runtime.with_cache_dir(dir);
    }
    let runtime = Arc::new(runtime);
    let connector = Arc::new(load_component(&runtime, Some(&config)).await?);
    // Every tenant must fit the connector before anything runs (exit 2 otherwise): the host's
    // checks (keys, secrets, presets, limits), then the connector's own check of the values.
    for t in &config.tenants {
        let prepared = runtime.prepare(&connector, t)?;
        let mut session = runtime.session(&prepared).await?;
        if let Err(e) = session.check_config().await? {
            let e = poll::redact_error(e, &prepared.redactor);
            bail!("tenant `{}`: {}", t.name, poll::explain(&e));
        }
    }
    // Before the output is opened: opening repairs a torn last line, which must never race another host.
    let _lock = checkpoint::lock(&config.state_dir).map_err(anyhow::Error::msg)?;
    let checkpoints = CheckpointStore::open(&config.state_dir)
        .with_context(|| format!("cannot open the state directory {}", config.state_dir.display()))?;
    let sink =
        Arc::new(RecordSink::open(&config.output).with_context(|| format!("cannot open output {}", config.output))?);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::warn!("signal received: stopping after the pages in flight are written (signal again to abort)");
        let _ = stop_tx.send(true);
        shutdown_signal().await;
        std::process::exit(130);
    });
    let poller = Arc::new(
        Poller::new(runtime.clone(), checkpoints, sink).with_retry(config.retry.clone()).with_shutdown(stop.clone()),
    );
    let fleet = Arc::new(
        Fleet::new(runtime, connector, poller.clone(), config.rollout.clone()).with_listing(&config.state_dir),
    );
    // New versions: the components directory at start, then on every change (debounced) or SIGHUP,
    // loaded in the background so the next cycle finds them validated and compiled.
    // `reload` wakes the loader; `wake` then cuts the wait between cycles short, so a new version
    // or a config change (SIGHUP) is used at once rather than after `interval_secs`.
    let (reload, wake) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    connector_host::reload::on_sighup(reload.clone());
    let components_dir = config.components_dir.clone();
    let _watcher = match &components_dir {
        Some(dir) => {
            fleet.scan_dir(dir).await;
            Some(connector_host::reload::watch(dir, reload.clone()).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    {
        let (fleet, reload, wake) = (fleet.clone(), reload.clone(), wake.clone());
        tokio::spawn(async move {
            loop {
                reload.notified().await;
                if let Some(dir) = &components_dir {
                    fleet.scan_dir(dir).await;
                }
                wake.notify_one();
            }
        });
    }
    loop {
        let reports = fleet.cycle(&config.tenants, config.concurrency).await;
        let all_ok = reports.iter().all(|r| r.ok());
        let summary = render_summary(&reports);
        if config.output == "-" {
            eprint!("{summary}")
        } else {
            print!("{summary}")
        }
        if let Some(why) = poller.storage_failure() {
            bail!(
                "{why}. Stopping: without a durable cursor every poll would fetch and write the same pages again. Free or fix the disk and start the host again"
            );
        }
        if once || *stop.borrow() {
            return Ok(all_ok);
        }
        let mut stop = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(config.interval_secs)) => {}
            _ = wake.notified() => {}
            _ = stop.wait_for(|s| *s) => return Ok(all_ok),
        }
        config = reread(&config_path, config);
    }
}

/// The config file as it is now, for the next cycle: tenants, secrets, settings and limits take
/// effect at once. A file that does not load keeps the previous config (and says why); fields
/// that need a restart (state_dir, output, component, components_dir) keep their running values.
fn reread(path: &std::path::Path, current: HostConfig) -> HostConfig {
    match HostConfig::load(path) {
        Ok(new) if new.tenants.is_empty() => {
            tracing::error!(
                "the config file now has no [[tenant]] entries (an edit in progress?); polling with the previous config"
            );
            current
        }
        Ok(mut new) => {
            let restart = [
                ("state_dir", new.state_dir != current.state_dir),
                ("output", new.output != current.output),
                ("component", new.component != current.component),
                ("components_dir", new.components_dir != current.components_dir),
                ("limits", new.limits != current.limits),
                ("retry", new.retry != current.retry),
                ("rollout", new.rollout != current.rollout),
            ];
            for (field, changed) in restart {
                if changed {
                    tracing::warn!(field, "this config change needs a restart; the running value is kept");
                }
            }
            new.state_dir = current.state_dir;
            new.output = current.output;
            new.component = current.component;
            new.components_dir = current.components_dir;
            new.limits = current.limits;
            new.retry = current.retry;
            new.rollout = current.rollout;
            new
        }
        Err(e) => {
            tracing::error!(error = %e, "the config file no longer loads; polling with the previous config");
            current
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The per-tenant summary table printed after a cycle.
fn render_summary(reports: &[poll::TenantReport]) -> String {
    let mut out = String::from("tenant                 incidents    alerts   time  result\n");
    for r in reports {
        let result = match (r.ok(), r.interrupted, &r.degraded) {
            (false, _, _) => format!("FAILED: {}", poll::first_error(r)),
            (true, true, _) => "stopped early by a signal (cursor saved)".to_string(),
            (true, false, Some(why)) => format!("ok, degraded: {why}"),
            (true, false, None) => "ok".to_string(),
        };
        out.push_str(&format!(
            "{:<20} {:>11} {:>9} {:>5.1}s  {}\n",
            r.tenant,
            r.incidents.records,
            r.alerts.records,
            r.elapsed.as_secs_f64(),
            result
        ));
    }
    let failed = reports.iter().filter(|r| !r.ok()).count();
    out.push_str(&format!("{} tenant(s), {} failed\n", reports.len(), failed));
    out
}

fn status(config_path: PathBuf) -> anyhow::Result<bool> {
    let config = HostConfig::load(&config_path)?;
    let view = checkpoint::StateView::read(&config.state_dir)
        .with_context(|| format!("cannot read the state directory {}", config.state_dir.display()))?;
    let rows: Vec<_> = config.tenants.iter().map(|t| (t.name.clone(), view.health(&t.name).cloned())).collect();
    // Three missed cycles (at least five minutes) without a poll: the host is not polling.
    let stale_after = (3 * config.interval_secs).max(300) as i64;
    let now = chrono::Utc::now();
    print!("{}", connector_host::health::render(&rows, now, stale_after));
    Ok(rows.iter().all(|(_, h)| {
        h.as_ref().is_some_and(|h| h.consecutive_failures == 0 && h.stale_for(now, stale_after).is_none())
    }))
}

fn reset(config_path: PathBuf, tenant: String, stream: Option<StreamArg>) -> anyhow::Result<bool> {
    let config = HostConfig::load(&config_path)?;
    // Tenant names are compared without case, as the config does.
    let known = config.tenants.iter().find(|t| t.name.eq_ignore_ascii_case(&tenant));
    let tenant = known.map(|t| t.name.clone()).unwrap_or(tenant);
    let streams: &[&str] = match stream {
        Some(StreamArg::Incidents) => &["incidents"],
        Some(StreamArg::Alerts) => &["alerts"],
        None => &["incidents", "alerts"],
    };
    // Checked on a read-only view first: a refused reset changes nothing, creates nothing.
    let view = checkpoint::StateView::read(&config.state_dir)
        .with_context(|| format!("cannot read the state directory {}", config.state_dir.display()))?;
    let had: Vec<&str> = streams.iter().copied().filter(|s| view.cursor(&tenant, s).is_some()).collect();
    if had.is_empty() {
        let known = known.is_some();
        bail!(
            "tenant `{tenant}` has no {} cursor in {}{}; nothing to reset",
            streams.join(" or "),
            config.state_dir.display(),
            if known { "" } else { " and is not in the config" }
        );
    }
    let _lock = checkpoint::lock(&config.state_dir)
        .map_err(|e| anyhow::anyhow!("{e} (reset changes the state a running host uses)"))?;
    let store = CheckpointStore::open(&config.state_dir)
        .with_context(|| format!("cannot open the state directory {}", config.state_dir.display()))?;
    store.reset_blocking(&tenant, stream.map(|_| streams[0]))?;
    println!(
        "tenant {tenant}: {} cursor{} removed; its next poll reads again from its backfill",
        had.join(" and "),
        if had.len() == 1 { "" } else { "s" }
    );
    Ok(true)
}

/// The runtime, the configured connector and one named tenant prepared for it.
async fn open_tenant(
    config_path: &std::path::Path,
    tenant: &str,
) -> anyhow::Result<(Runtime, Arc<LoadedConnector>, connector_host::runtime::PreparedTenant)> {
    let config = HostConfig::load(config_path)?;
    let Some(tenant_config) = config.tenant(tenant) else {
        let names: Vec<_> = config.tenants.iter().map(|t| t.name.as_str()).collect();
        bail!("no tenant `{tenant}` in {}; tenants: {}", config_path.display(), names.join(", "));
    };
    let runtime = Runtime::new(config.limits.clone())?;
    let connector = Arc::new(load_component(&runtime, Some(&config)).await?);
    let prepared = runtime.prepare(&connector, tenant_config)?;
    Ok((runtime, connector, prepared))
}

async fn test(config_path: PathBuf, tenant: String) -> anyhow::Result<bool> {
    let (runtime, connector, prepared) = open_tenant(&config_path, &tenant).await?;
    let report = connector_host::connection_test::run(&runtime, &connector, &prepared).await;
    print!("{}", connector_host::connection_test::render(&tenant, &connector, &report));
    Ok(report.passed())
}

/// Wall-clock limit of a `hunt` call at least (a tenant's larger `call_timeout_secs` is kept).
const HUNT_CALL_TIMEOUT_SECS: u64 = 300;

enum Action {
    Update(connector_host::bindings::IncidentUpdate),
    Comment(String),
}

/// Prints an action's failure: JSON on stdout for scripts, a sentence on stderr for people. A
/// setting the connector rejects is a config error (exit 2, like `run`); the rest exit 1.
fn action_failed(
    tenant: &str,
    e: &connector_host::analyst::ActionError,
    redactor: &connector_host::secret::Redactor,
) -> anyhow::Result<bool> {
    println!("{}", redactor.redact(&connector_host::analyst::error_json(tenant, e)));
    // A setting the connector rejects, or a request it refused before sending: fix the input.
    if matches!(e.kind(), "config" | "invalid-request") {
        bail!("tenant `{tenant}`: {e}");
    }
    eprintln!("error: {e}");
    Ok(false)
}

async fn update_incident(config_path: PathBuf, tenant: String, id: String, action: Action) -> anyhow::Result<bool> {
    use connector_host::analyst;
    let (runtime, connector, prepared) = open_tenant(&config_path, &tenant).await?;
    let result = match &action {
        Action::Update(u) => analyst::update_incident(&runtime, &prepared, &id, u).await,
        Action::Comment(text) => analyst::add_comment(&runtime, &prepared, &id, text).await,
    };
    match result {
        Ok(r) => {
            let producer = connector_host::output::Producer {
                name: connector.info.name.clone(),
                version: connector.info.version.clone(),
            };
            // The component's answer may quote the tenant's secrets: scrub them as the NDJSON is.
            println!("{}", prepared.redactor.redact(&analyst::update_json(&tenant, &producer, &r)?));
            let version = match &r.incident {
                Some(i) => format!("its version is now {}", i.version),
                None => "it could not be read back".to_string(),
            };
            let done = if matches!(action, Action::Comment(_)) { "commented" } else { "updated" };
            let api = match r.path {
                connector_host::bindings::UpdatePath::MicrosoftGraph => "Microsoft Graph",
                connector_host::bindings::UpdatePath::DefenderApi => "the Microsoft 365 Defender API",
            };
            let line = format!("incident {id} {done} through {api} ({}); {version}", r.reason);
            eprintln!("{}", poll::scrub(&prepared.redactor, &line));
            if let Some(w) = &r.warning {
                eprintln!("warning: {}", poll::scrub(&prepared.redactor, w));
            }
            Ok(true)
        }
        Err(e) => action_failed(&tenant, &e, &prepared.redactor),
    }
}

async fn hunt(
    config_path: PathBuf,
    tenant: String,
    query: Option<String>,
    query_file: Option<PathBuf>,
    timespan: Option<String>,
    format: Option<HuntFormat>,
) -> anyhow::Result<bool> {
    use connector_host::analyst;
    let query = match (query, query_file) {
        (Some(q), _) => q,
        // An editor's byte-order mark is not part of the query.
        (None, Some(path)) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the query file {}", path.display()))?
            .trim_start_matches('\u{feff}')
            .to_string(),
        (None, None) => bail!("give --query or --query-file"),
    };
    let (runtime, _connector, mut prepared) = open_tenant(&config_path, &tenant).await?;
    // The service runs a query for up to about three minutes before it gives up (documented).
    prepared.limits.call_timeout_secs = prepared.limits.call_timeout_secs.max(HUNT_CALL_TIMEOUT_SECS);
    match analyst::hunt(&runtime, &prepared, &query, timespan.as_deref()).await {
        Ok(r) => {
            let table = format.unwrap_or(if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                HuntFormat::Table
            } else {
                HuntFormat::Json
            });
            let out = match table {
                HuntFormat::Table => analyst::hunting_table(&r),
                HuntFormat::Json => format!("{}\n", analyst::hunting_json(&tenant, &r)),
            };
            // The component's answer may quote the tenant's secrets: scrub them as the NDJSON is.
            print!("{}", prepared.redactor.redact(&out));
            if r.truncated {
                eprintln!(
                    "warning: the service's row cap was reached; more rows may exist (narrow the query or the timespan)"
                );
            }
            Ok(true)
        }
        Err(e) => action_failed(&tenant, &e, &prepared.redactor),
    }
}

fn versions(config_path: PathBuf) -> anyhow::Result<bool> {
    let config = HostConfig::load(&config_path)?;
    let path = config.state_dir.join("versions.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("no host has polled with state_dir {} yet ({})", config.state_dir.display(), path.display())
    })?;
    let rows: Vec<connector_host::fleet::TenantVersion> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a versions listing", path.display()))?;
    println!("{:<20} {:<16} {:<20} note", "tenant", "version", "digest");
    for r in &rows {
        let digest = connector_host::runtime::short_digest(&r.digest);
        println!("{:<20} {:<16} {:<20} {}", r.tenant, r.version, digest, r.note.as_deref().unwrap_or(""));
    }
    Ok(true)
}

async fn describe(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = config_path.map(|p| HostConfig::load(&p)).transpose()?;
    let runtime = Runtime::new(config.as_ref().map(|c| c.limits.clone()).unwrap_or_default())?;
    let c = load_component(&runtime, config.as_ref()).await?;
    let info = &c.info;
    println!("{} {}", info.name, info.version);
    println!("config keys:");
    for k in &info.config_keys {
        let mut tags = Vec::new();
        if k.required {
            tags.push("required".to_string())
        }
        if k.secret {
            tags.push("secret".to_string())
        }
        if k.endpoint {
            tags.push("endpoint".to_string())
        }
        if let Some(d) = &k.default_value {
            tags.push(format!("default {d}"))
        }
        if tags.is_empty() {
            tags.push("optional".to_string())
        }
        if !k.presets.is_empty() {
            let values: Vec<&str> = k.presets.iter().map(|p| p.value.as_str()).collect();
            tags.push(format!("one of {}", values.join(", ")))
        }
        println!("  {:<22} {} [{}]", k.name, k.description, tags.join(", "));
    }
    println!("hosts: {}", info.default_hosts.join(", "));
    println!("permissions:");
    for p in &info.permissions {
        println!("  {} / {}: {}", p.api, p.name, p.reason);
    }
    Ok(())
}

/// Rust ignores SIGPIPE, so a closed pipe makes `println!` panic; the default ends the process quietly.
#[cfg(unix)]
unsafe fn restore_default_sigpipe() {
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: called once at start, before any thread writes to a pipe.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}
