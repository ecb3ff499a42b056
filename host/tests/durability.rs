//! What survives a crash or a stop: `connector-host run` killed with SIGKILL at many points loses no
//! record and repeats at most the pages in flight; SIGTERM stops at a page boundary with the cursor
//! saved; `status` reads back each tenant's health.

use graph_emulator::{Emulator, Fault, Route, TenantData, demo};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::process::Child;

const BIN: &str = env!("CARGO_BIN_EXE_connector-host");

/// The connector's default page sizes (incidents are capped at 50 by Graph; alerts default to 100).
const INCIDENTS_PAGE: usize = 50;
const ALERTS_PAGE: usize = 100;

/// A record's identity in the output: (`<tenant>/<kind>/<id>`, version).
type Pair = (String, String);

struct Tenant<'a> {
    name: &'a str,
    data: &'a TenantData,
    secret: &'a str,
}

/// Writes `dir/file` with the given state folder, output file and tenants; cycles one second apart.
fn write_config(dir: &Path, file: &str, state: &str, output: &str, emulator: &Emulator, tenants: &[Tenant]) -> PathBuf {
    let base = emulator.base_url();
    let mut text = format!("state_dir = \"{state}\"\noutput = \"{output}\"\ninterval_secs = 1\n");
    for t in tenants {
        text.push_str(&format!(
            r#"
[[tenant]]
name = "{}"
allow_http = true
settings = {{ tenant-id = "{}", client-id = "{}", login-endpoint = "{base}", graph-endpoint = "{base}" }}
secrets = {{ client-secret = "{}" }}
"#,
            t.name, t.data.tenant_id, t.data.client_id, t.secret
        ));
    }
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

async fn host(args: &[&str]) -> Output {
    tokio::process::Command::new(BIN).args(args).env("RUST_LOG", "warn").output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Starts `connector-host run --config F` (continuous), its stdout and stderr going to files in
/// `dir` named after `label` (a pipe nobody reads could block it).
fn spawn_run(config: &Path, dir: &Path, label: &str) -> (Child, PathBuf, PathBuf) {
    let (out, err) = (dir.join(format!("{label}.stdout")), dir.join(format!("{label}.stderr")));
    let child = tokio::process::Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (child, out, err)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Graph's `lastUpdateDateTime` as the connector writes versions: UTC, 7 fractional digits.
fn canonical(graph_time: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(graph_time)
        .unwrap_or_else(|e| panic!("{graph_time}: {e}"))
        .with_timezone(&chrono::Utc);
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.timestamp_subsec_nanos() / 100)
}

/// Every (key, version) the emulator holds for these tenants.
fn expected(emulator: &Emulator, tenants: &[Tenant]) -> BTreeSet<Pair> {
    let mut all = BTreeSet::new();
    for t in tenants {
        let id = &t.data.tenant_id;
        for (kind, items) in [("incident", emulator.incidents(id)), ("alert", emulator.alerts(id))] {
            assert!(!items.is_empty(), "{}: no {kind}s generated", t.name);
            for item in items {
                let key = format!("{}/{kind}/{}", t.name, item["id"].as_str().unwrap());
                let version = canonical(item["lastUpdateDateTime"].as_str().unwrap());
                assert!(all.insert((key.clone(), version)), "the emulator holds {key} twice");
            }
        }
    }
    all
}

struct Record {
    pair: Pair,
    kind: String,
    value: Value,
}

/// The complete lines of an output file, each checked to be a whole record (a corrupt line in the
/// middle fails the test), and the length of a partial last line (a write cut short by SIGKILL).
fn read_output(path: &Path) -> (Vec<Record>, usize) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), 0),
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let lines = std::str::from_utf8(&bytes[..complete]).expect("complete lines are UTF-8");
    let records = lines
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{} line {}: not JSON ({e}): {line:.200}", path.display(), n + 1));
            let field = |f: &str| value[f].as_str().unwrap_or_else(|| panic!("line {}: no `{f}`", n + 1)).to_string();
            assert_eq!(field("schema"), "redcarbon.connector.record/v1", "line {}", n + 1);
            let (key, kind) = (field("key"), field("kind"));
            assert_eq!(key, format!("{}/{kind}/{}", field("tenant"), field("id")), "line {}", n + 1);
            Record { pair: (key, field("version")), kind, value }
        })
        .collect();
    (records, bytes.len() - complete)
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|c| **c == b'\n').count()).unwrap_or(0)
}

fn tally(records: &[Record]) -> BTreeMap<Pair, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(r.pair.clone()).or_default() += 1;
    }
    counts
}

fn pairs(records: &[Record]) -> BTreeSet<Pair> {
    records.iter().map(|r| r.pair.clone()).collect()
}

/// Waits until `output` has at least `lines` complete lines, looking every millisecond (reading only
/// what was appended) so the kill can land right after a page is written; the process must keep running.
async fn wait_for_lines(child: &mut Child, output: &Path, lines: usize, stderr: &Path) -> usize {
    use std::io::{Read, Seek, SeekFrom};
    let started = Instant::now();
    let (mut pos, mut n) = (0u64, 0usize);
    let mut buf = Vec::new();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the host exited on its own ({status}) before writing {lines} lines:\n{}", read(stderr));
        }
        if let Ok(mut file) = std::fs::File::open(output) {
            let len = file.metadata().unwrap().len();
            if len < pos {
                (pos, n) = (0, 0); // a torn tail was cut off: count again
            }
            if len > pos {
                file.seek(SeekFrom::Start(pos)).unwrap();
                buf.clear();
                file.by_ref().take(len - pos).read_to_end(&mut buf).unwrap();
                n += buf.iter().filter(|c| **c == b'\n').count();
                pos += buf.len() as u64;
            }
        }
        if n >= lines {
            return n;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "only {n} of {lines} lines after 60 s:\n{}", read(stderr));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A small deterministic generator (splitmix64) so kill points are the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// Slows every Graph page down so that a poll can be interrupted in the middle.
fn slow_pages(emulator: &Emulator, pages: usize, ms: u64) {
    for _ in 0..pages {
        emulator.push_fault(Fault::delay(Route::AnyGraph, Duration::from_millis(ms)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_many_points_loses_nothing() {
    const KILLS: usize = 8;
    const SEED: u64 = 0x005E_EDD0_2024;
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start().await.unwrap();
    let now = chrono::Utc::now();
    let (a, b) = (demo::generate_tenant(0, 300, now), demo::generate_tenant(1, 300, now));
    emulator.add_tenant(a.clone());
    emulator.add_tenant(b.clone());
    let (sa, sb) = (demo::client_secret(0), demo::client_secret(1));
    let tenants = [Tenant { name: "alpha", data: &a, secret: &sa }, Tenant { name: "beta", data: &b, secret: &sb }];
    let all = expected(&emulator, &tenants);

    // Reference: one uninterrupted cycle writes exactly what the emulator holds, each once.
    let reference = write_config(dir.path(), "reference.toml", "ref-state", "ref.ndjson", &emulator, &tenants);
    let out = host(&["run", "--config", reference.to_str().unwrap(), "--once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let (ref_records, torn) = read_output(&dir.path().join("ref.ndjson"));
    assert_eq!(torn, 0);
    assert_eq!(ref_records.len(), all.len(), "the reference run repeated or missed records");
    assert_eq!(pairs(&ref_records), all, "the reference run differs from the emulator's data");
    eprintln!("expected: {} records ({} tenants × 300 incidents and their alerts)", all.len(), tenants.len());

    let config = write_config(dir.path(), "host.toml", "state", "records.ndjson", &emulator, &tenants);
    let output = dir.path().join("records.ndjson");
    slow_pages(&emulator, 2_000, 50);
    let mut rng = Rng(SEED);
    let total = all.len();
    let mut mid_run = 0;
    for k in 1..=KILLS {
        let before = count_lines(&output);
        let (complete_before, _) = read_output(&output);
        let done_before = pairs(&complete_before).len() == total;
        // Kill once the output reaches about k/(KILLS+1) of the records (at least one more page
        // than before): at once in even rounds, which tends to hit the window between a page's
        // write and its cursor's save; after up to 60 ms in odd rounds (other phases of a page).
        let spread = total / (KILLS + 1);
        let target = (spread * k + rng.below(spread as u64 / 2) as usize).min(total - 1).max(before + 1);
        let extra = Duration::from_millis(if k % 2 == 0 { 0 } else { rng.below(60) });
        let (mut child, _, stderr) = spawn_run(&config, dir.path(), &format!("kill{k}"));
        let reached = if done_before {
            // Everything is written already: kill while it idles or re-polls.
            tokio::time::sleep(Duration::from_millis(100 + rng.below(400))).await;
            None
        } else {
            Some(wait_for_lines(&mut child, &output, target, &stderr).await)
        };
        tokio::time::sleep(extra).await;
        child.start_kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9), "kill {k}: the host was not killed but exited with {status}");
        let (records, torn) = read_output(&output);
        let distinct = pairs(&records);
        assert!(distinct.is_subset(&all), "kill {k}: records the emulator does not hold");
        if !records.is_empty() && distinct.len() < total {
            mid_run += 1;
        }
        eprintln!(
            "kill {k}: target {target} lines (reached {reached:?}) + {extra:?}: {} → {} lines, {} distinct of {total}, \
             {} repeated lines so far, {torn} bytes of a torn last line",
            before,
            records.len(),
            distinct.len(),
            records.len() - distinct.len()
        );
    }
    let out = host(&["run", "--config", config.to_str().unwrap(), "--once"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.ends_with("2 tenant(s), 0 failed\n"), "{stdout}");

    let (records, torn) = read_output(&output);
    assert_eq!(torn, 0, "a torn last line survived the final run");
    let counts = tally(&records);
    let written: BTreeSet<Pair> = counts.keys().cloned().collect();
    let missing: Vec<_> = all.difference(&written).collect();
    let extra: Vec<_> = written.difference(&all).collect();
    assert!(missing.is_empty(), "{} records lost, e.g. {:?}", missing.len(), &missing[..missing.len().min(5)]);
    assert!(extra.is_empty(), "{} records not in the emulator, e.g. {:?}", extra.len(), &extra[..extra.len().min(5)]);
    let most = counts.values().max().copied().unwrap();
    assert!(most <= 1 + KILLS, "a record was written {most} times after {KILLS} kills");
    let duplicates = records.len() - counts.len();
    // Each tenant writes one page at a time (incidents, then alerts), and a page is re-fetched only
    // when the process died after writing it and before saving its cursor.
    let bound = KILLS * tenants.len() * INCIDENTS_PAGE.max(ALERTS_PAGE);
    assert!(duplicates <= bound, "{duplicates} duplicate lines, more than {bound} (a page per tenant per kill)");
    // A repeated record is the same record: same version, same content.
    let mut first: BTreeMap<&str, &Record> = BTreeMap::new();
    for r in &records {
        let seen = first.entry(&r.pair.0).or_insert(r);
        assert_eq!(seen.pair.1, r.pair.1, "{} written with two versions", r.pair.0);
        assert_eq!(seen.value, r.value, "{} written twice with different content", r.pair.0);
    }
    let kinds: BTreeMap<&str, usize> = records.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.kind.as_str()).or_default() += 1;
        m
    });
    eprintln!(
        "final: {} lines, {duplicates} duplicates (bound {bound}), {mid_run} kills mid-run, {kinds:?}",
        records.len()
    );
    assert!(mid_run >= KILLS / 2, "only {mid_run} of {KILLS} kills interrupted a poll; the test proved little");
    // Caught up: the next poll re-reads its look-back window and writes nothing.
    let out = host(&["run", "--config", config.to_str().unwrap(), "--once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(count_lines(&output), records.len(), "a poll after catching up wrote records again");
    assert!(has_cursor(dir.path(), "alpha", "alerts") && has_cursor(dir.path(), "beta", "alerts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_at_a_page_boundary_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start().await.unwrap();
    let data = demo::generate_tenant(2, 300, chrono::Utc::now());
    emulator.add_tenant(data.clone());
    let secret = demo::client_secret(2);
    let tenants = [Tenant { name: "gamma", data: &data, secret: &secret }];
    let all = expected(&emulator, &tenants);
    let total_incidents = all.iter().filter(|(k, _)| k.starts_with("gamma/incident/")).count();
    let total_alerts = all.len() - total_incidents;
    let config = write_config(dir.path(), "host.toml", "state", "records.ndjson", &emulator, &tenants);
    let output = dir.path().join("records.ndjson");
    slow_pages(&emulator, 1_000, 50);

    let (mut child, stdout_path, stderr_path) = spawn_run(&config, dir.path(), "run");
    let lines = wait_for_lines(&mut child, &output, all.len() / 3, &stderr_path).await;
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap_or_else(|_| panic!("no exit 30 s after SIGTERM:\n{}", read(&stderr_path)))
        .unwrap();
    let (stdout, stderr) = (read(&stdout_path), read(&stderr_path));
    assert_eq!(status.code(), Some(0), "{status}\n{stdout}\n{stderr}");
    assert!(stderr.contains("signal received: stopping after the pages in flight are written"), "{stderr}");

    let (records, torn) = read_output(&output);
    assert_eq!(torn, 0);
    let written = pairs(&records);
    assert_eq!(written.len(), records.len(), "duplicates before any restart");
    assert!(written.is_subset(&all));
    assert!(records.len() >= lines && records.len() < all.len(), "{lines} then {} of {}", records.len(), all.len());
    let incidents = records.iter().filter(|r| r.kind == "incident").count();
    let alerts = records.len() - incidents;
    eprintln!("SIGTERM after {lines} lines: {incidents} incidents and {alerts} alerts written, of {}", all.len());
    // Whole pages only.
    assert!(incidents % INCIDENTS_PAGE == 0 || incidents == total_incidents, "{incidents} incidents");
    assert!(alerts % ALERTS_PAGE == 0 || alerts == total_alerts, "{alerts} alerts");
    assert!(alerts == 0 || incidents == total_incidents, "alerts before all incidents");
    let row = stdout.lines().find(|l| l.starts_with("gamma ")).unwrap_or_else(|| panic!("{stdout}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1..3], [incidents.to_string(), alerts.to_string()], "{row}");
    assert!(row.ends_with("s  stopped early by a signal (cursor saved)"), "{row}");
    assert!(stdout.ends_with("1 tenant(s), 0 failed\n"), "{stdout}");
    assert!(has_cursor(dir.path(), "gamma", "incidents"));
    assert_eq!(has_cursor(dir.path(), "gamma", "alerts"), alerts > 0);

    // The next run writes exactly the rest.
    let out = host(&["run", "--config", config.to_str().unwrap(), "--once"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    let row = stdout.lines().find(|l| l.starts_with("gamma ")).unwrap_or_else(|| panic!("{stdout}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1..3], [(total_incidents - incidents).to_string(), (total_alerts - alerts).to_string()], "{row}");
    assert!(row.ends_with("s  ok"), "{row}");
    let (records, torn) = read_output(&output);
    assert_eq!(torn, 0);
    let counts = tally(&records);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), all);
    assert_eq!(records.len(), all.len(), "records repeated after a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_tenant_after_a_poll() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start().await.unwrap();
    let started = chrono::Utc::now();
    let (good, bad) = (demo::generate_tenant(0, 30, started), demo::generate_tenant(1, 10, started));
    emulator.add_tenant(good.clone());
    emulator.add_tenant(bad.clone());
    let secret = demo::client_secret(0);
    let good_alerts = emulator.alerts(&good.tenant_id).len();
    let config = write_config(
        dir.path(),
        "host.toml",
        "state",
        "records.ndjson",
        &emulator,
        &[
            Tenant { name: "good", data: &good, secret: &secret },
            Tenant { name: "bad", data: &bad, secret: "definitely-wrong-secret" },
        ],
    );
    let only_good = write_config(
        dir.path(),
        "good.toml",
        "state",
        "records.ndjson",
        &emulator,
        &[Tenant { name: "good", data: &good, secret: &secret }],
    );
    let cfg = config.to_str().unwrap();
    const HEADER: &str =
        "tenant               last success         newest record             lag incidents  alerts  state";

    let out = host(&["status", "--config", cfg]).await;
    assert_eq!(out.status.code(), Some(1), "never polled is not healthy");
    assert_eq!(
        text(&out.stdout),
        format!(
            "{HEADER}\n\
             good                 -                    -                           -         -       -  never polled\n\
             bad                  -                    -                           -         -       -  never polled\n"
        )
    );

    // The connector's advice may follow the sentence; the cli tests pin it.
    let bad_row = |n: u32| {
        format!(
            "bad                  never                -                           -         0       0  FAILING ({n} in a row): \
             auth: sign-in failed (AADSTS7000215, invalid_client): The client secret is wrong."
        )
    };
    let records = dir.path().join("records.ndjson");
    let newest = {
        let out = host(&["run", "--config", cfg, "--once"]).await;
        assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out.stdout), text(&out.stderr));
        let (written, _) = read_output(&records);
        assert_eq!(written.iter().filter(|r| r.kind == "incident").count(), 30);
        assert_eq!(written.iter().filter(|r| r.kind == "alert").count(), good_alerts);
        written.iter().map(|r| r.pair.1.clone()).max().unwrap()
    };
    for (poll, (incidents, alerts)) in [(1, (30, good_alerts)), (2, (0, 0))] {
        if poll == 2 {
            let out = host(&["run", "--config", cfg, "--once"]).await;
            assert_eq!(out.status.code(), Some(1));
        }
        let out = host(&["status", "--config", cfg]).await;
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{stdout}");
        assert_eq!(lines[0], HEADER);
        assert!(lines[2].starts_with(&bad_row(poll)), "after poll {poll}: {}", lines[2]);
        // good: last success (a time of this test), newest record, lag, then what the latest poll wrote.
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cols.len(), 7, "{}", lines[1]);
        let success = chrono::DateTime::parse_from_rfc3339(cols[1]).unwrap_or_else(|e| panic!("{}: {e}", cols[1]));
        assert!(success.timestamp() >= started.timestamp() && success <= chrono::Utc::now(), "{}", cols[1]);
        let lag: i64 = cols[3].strip_suffix('s').and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{}", cols[3]));
        assert!(lag >= 0, "{lag}");
        let expected = format!(
            "{:<20} {:<20} {:<20} {:>8} {:>9} {:>7}  ok",
            "good",
            cols[1],
            &newest[..19],
            cols[3],
            incidents,
            alerts
        );
        assert_eq!(lines[1], expected, "after poll {poll}");
    }
    let out = host(&["status", "--config", only_good.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

/// True when the state directory under `dir` holds a cursor for the tenant's stream.
fn has_cursor(dir: &std::path::Path, tenant: &str, stream: &str) -> bool {
    connector_host::checkpoint::StateView::read(&dir.join("state")).unwrap().cursor(tenant, stream).is_some()
}
