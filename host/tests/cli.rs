//! The `connector-host` binary as an operator runs it: exit codes, summaries, the Test checklist,
//! config errors, and no secret in anything it prints.

use graph_emulator::{Emulator, demo};
use std::path::Path;
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_connector-host");

async fn host(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args).env("RUST_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Two tenants: `good` (secret from an environment variable) and `bad` (wrong inline secret).
async fn setup(dir: &Path) -> (Emulator, std::path::PathBuf) {
    let emulator = Emulator::start().await.unwrap();
    let now = chrono::Utc::now();
    let mut good = demo::generate_tenant(0, 30, now);
    good.defender_roles = vec![graph_emulator::DEFENDER_WRITE_ROLE.to_string()];
    let bad = demo::generate_tenant(1, 10, now);
    emulator.add_tenant(good.clone());
    emulator.add_tenant(bad.clone());
    let base = emulator.base_url();
    let defender = emulator.defender_url();
    let config = format!(
        r#"
state_dir = "state"
output = "records.ndjson"

[[tenant]]
name = "good"
allow_http = true
settings = {{ tenant-id = "{}", client-id = "{}", login-endpoint = "{base}", graph-endpoint = "{base}", defender-endpoint = "{defender}" }}
secrets = {{ client-secret = {{ env = "GOOD_SECRET" }} }}

[[tenant]]
name = "bad"
allow_http = true
settings = {{ tenant-id = "{}", client-id = "{}", login-endpoint = "{base}", graph-endpoint = "{base}" }}
secrets = {{ client-secret = "definitely-wrong-secret" }}
"#,
        good.tenant_id, good.client_id, bad.tenant_id, bad.client_id
    );
    let path = dir.join("host.toml");
    std::fs::write(&path, config).unwrap();
    (emulator, path)
}

#[tokio::test]
async fn run_once_reports_each_tenant_and_fails_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = setup(dir.path()).await;
    let secret = demo::client_secret(0);
    let out = host(&["run", "--config", config.to_str().unwrap(), "--once"], &[("GOOD_SECRET", &secret)]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let good = stdout.lines().find(|l| l.starts_with("good ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(good.contains(" 30 ") && good.ends_with("ok"), "{good}");
    let bad = stdout.lines().find(|l| l.starts_with("bad ")).unwrap();
    assert!(
        bad.contains("FAILED: sign-in failed (AADSTS7000215, invalid_client): The client secret is wrong."),
        "{bad}"
    );
    assert!(stdout.ends_with("2 tenant(s), 1 failed\n"), "{stdout}");
    let records = std::fs::read_to_string(dir.path().join("records.ndjson")).unwrap();
    assert!(records.lines().count() > 30);
    assert!(records.lines().all(|l| l.contains(r#""tenant":"good""#)));
    assert!(has_cursor(dir.path(), "good", "incidents"));
    assert!(!has_cursor(dir.path(), "bad", "incidents"));
    for shown in [&stdout, &stderr, &records] {
        assert!(!shown.contains(&secret) && !shown.contains("definitely-wrong-secret"), "a secret was printed");
    }
}

#[tokio::test]
async fn test_command_is_a_checklist_with_an_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = setup(dir.path()).await;
    let secret = demo::client_secret(0);
    let cfg = config.to_str().unwrap();
    let out = host(&["test", "--config", cfg, "--tenant", "good"], &[("GOOD_SECRET", &secret)]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let base = _emulator.base_url();
    assert!(
        stdout.starts_with(&format!("Connection test for tenant `good` (microsoft-defender-xdr 0.1.0)\n  [ ok ] Sign in: {base} issued a token for {base} with the client secret, valid for 60 min\n")),
        "{stdout}"
    );
    assert!(stdout.contains("  [ ok ] Read incidents: works (a one-item read of incidents returned 1)\n"), "{stdout}");
    assert!(stdout.contains("  [ ok ] Advanced hunting: works (`AlertInfo | take 1` returned 0 row(s))\n"), "{stdout}");
    assert!(
        stdout.contains("  [ ok ] Update incidents: allowed through the Microsoft 365 Defender API at "),
        "{stdout}"
    );
    assert!(stdout.ends_with("Result: PASS\n"), "{stdout}");

    let out = host(&["test", "--config", cfg, "--tenant", "bad"], &[("GOOD_SECRET", &secret)]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("  [FAIL] Sign in: sign-in failed (AADSTS7000215): The client secret is wrong."),
        "{stdout}"
    );
    assert!(stdout.ends_with("Result: FAIL (1 problem(s))\n"), "{stdout}");
    assert!(!stdout.contains("definitely-wrong-secret"));

    let out = host(&["test", "--config", cfg, "--tenant", "nobody"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no tenant `nobody` in"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn config_mistakes_are_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = setup(dir.path()).await;
    let cfg = config.to_str().unwrap();
    // The environment variable is missing.
    let out = host(&["run", "--config", cfg, "--once"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "tenant `good`: secret `client-secret` comes from environment variable GOOD_SECRET, which is not set"
        ),
        "{}",
        text(&out.stderr)
    );
    // A secret put among plain settings, and a typo.
    let bad_tenant = demo::tenant_id(1);
    let text_cfg = std::fs::read_to_string(&config)
        .unwrap()
        .replace("secrets = { client-secret = \"definitely-wrong-secret\" }", "")
        .replace(
            &format!("settings = {{ tenant-id = \"{bad_tenant}\""),
            &format!("settings = {{ client-secret = \"oops\", tenant-id = \"{bad_tenant}\""),
        );
    let leaked = dir.path().join("leaked.toml");
    std::fs::write(&leaked, text_cfg).unwrap();
    let out = host(&["run", "--config", leaked.to_str().unwrap(), "--once"], &[("GOOD_SECRET", "x")]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("tenant `bad`: `client-secret` is a secret: move it from settings to secrets (inline or { env = \"VARIABLE\" }) so it is never shown"), "{err}");
    assert!(!err.contains("oops"), "{err}");
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "concurency = 4\n").unwrap();
    let out = host(&["run", "--config", typo.to_str().unwrap(), "--once"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown field `concurency`"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn a_state_dir_that_cannot_be_written_or_is_in_use_stops_before_any_record() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = setup(dir.path()).await;
    let secret = demo::client_secret(0);
    // `state` is a plain file: no cursor could ever be saved, so every page would be re-emitted.
    std::fs::write(dir.path().join("state"), "not a folder").unwrap();
    let out = host(&["run", "--config", config.to_str().unwrap(), "--once"], &[("GOOD_SECRET", &secret)]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("state_dir ") && stderr.contains("cannot be created"), "{stderr}");
    assert!(!dir.path().join("records.ndjson").exists(), "no record was written");
    // Another process holds the lock: refused the same way.
    std::fs::remove_file(dir.path().join("state")).unwrap();
    let held = connector_host::checkpoint::lock(&dir.path().join("state")).unwrap();
    let out = host(&["run", "--config", config.to_str().unwrap(), "--once"], &[("GOOD_SECRET", &secret)]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("another connector-host is already running with state_dir"), "{stderr}");
    assert!(!dir.path().join("records.ndjson").exists());
    drop(held);
}

#[tokio::test]
async fn reset_forgets_a_tenants_cursors_so_the_next_poll_backfills_and_is_refused_while_a_host_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = setup(dir.path()).await;
    let (config, secret) = (config.to_str().unwrap(), demo::client_secret(0));
    let env = [("GOOD_SECRET", secret.as_str())];
    host(&["run", "--config", config, "--once"], &env).await;
    let records = || std::fs::read_to_string(dir.path().join("records.ndjson")).unwrap().lines().count();
    let first = records();
    assert!(has_cursor(dir.path(), "good", "incidents") && has_cursor(dir.path(), "good", "alerts"));

    let out = host(&["reset", "--config", config, "--tenant", "good", "--stream", "alerts"], &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "tenant good: alerts cursor removed; its next poll reads again from its backfill\n");
    assert!(has_cursor(dir.path(), "good", "incidents") && !has_cursor(dir.path(), "good", "alerts"));
    let out = host(&["reset", "--config", config, "--tenant", "good"], &env).await;
    assert_eq!(
        text(&out.stdout),
        "tenant good: incidents cursor removed; its next poll reads again from its backfill\n"
    );
    let out = host(&["reset", "--config", config, "--tenant", "good"], &env).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("tenant `good` has no incidents or alerts cursor in "), "{}", text(&out.stderr));
    let out = host(&["reset", "--config", config, "--tenant", "nobody"], &env).await;
    assert!(text(&out.stderr).contains("and is not in the config; nothing to reset"), "{}", text(&out.stderr));

    // Backfilled: the same records once more, the same count as the first poll.
    host(&["run", "--config", config, "--once"], &env).await;
    assert_eq!(records(), 2 * first);
    let held = connector_host::checkpoint::lock(&dir.path().join("state")).unwrap();
    let out = host(&["reset", "--config", config, "--tenant", "good"], &env).await;
    assert!(text(&out.stderr).contains("another connector-host is already running"), "{}", text(&out.stderr));
    assert!(has_cursor(dir.path(), "good", "incidents"), "nothing was reset");
    drop(held);
}

/// The same component with an extra custom section: another file, another digest, same code.
fn another_build_of(wasm: &[u8]) -> Vec<u8> {
    let (name, payload) = (b"redcarbon-test-build", b"2");
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8);
    out.extend(section);
    out
}

#[tokio::test]
async fn a_component_dropped_into_the_components_dir_serves_the_next_poll_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = setup(dir.path()).await;
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("components_dir = \"components\"\ninterval_secs = 30\n{original}")).unwrap();
    std::fs::create_dir(dir.path().join("components")).unwrap();
    let stderr_path = dir.path().join("stderr.log");
    let mut child = tokio::process::Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env("GOOD_SECRET", demo::client_secret(0))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let listing = dir.path().join("state/versions.json");
    let good_digest = |path: &Path| -> Option<String> {
        let rows: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        rows.as_array()?.iter().find(|r| r["tenant"] == "good").map(|r| r["digest"].as_str().unwrap().to_string())
    };
    let wait_for = |want: Option<String>| {
        let listing = listing.clone();
        async move {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(60) {
                if let Some(d) = good_digest(&listing)
                    && want.as_ref().is_none_or(|w| *w == d)
                {
                    return d;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("versions.json never showed {want:?}");
        }
    };
    let first = wait_for(None).await;
    let embedded = std::fs::read(connector_host::demo::DEFENDER_COMPONENT_PATH).unwrap();
    assert_eq!(first, connector_host::runtime::digest_of(&embedded));
    // A broken file first: refused, the running version keeps serving.
    std::fs::write(dir.path().join("components/broken.wasm"), b"not a component").unwrap();
    let next = another_build_of(&embedded);
    let landed = std::time::Instant::now();
    std::fs::write(dir.path().join("components/next.wasm.part"), &next).unwrap();
    std::fs::rename(dir.path().join("components/next.wasm.part"), dir.path().join("components/next.wasm")).unwrap();
    let swapped = wait_for(Some(connector_host::runtime::digest_of(&next))).await;
    let took = landed.elapsed();
    eprintln!(
        "new component file → first poll on it listed: {} ms (interval 30 s: the new version wakes the loop)",
        took.as_millis()
    );
    assert_ne!(swapped, first);
    let pid = child.id().unwrap() as i32;
    unsafe { libc_kill(pid, 15) };
    let status = child.wait().await.unwrap();
    // Stopped by SIGTERM, not killed (no code) nor by an error (2): 1 when the cycle the signal ended
    // had reached tenant `bad` (its secret is wrong), 0 when the signal interrupted it before.
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
    let log = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(log.contains("new component refused") && log.contains("broken.wasm"), "{log}");
    assert!(log.contains("connector version promoted"), "{log}");
    let out = host(&["versions", "--config", config.to_str().unwrap()], &[]).await;
    let table = text(&out.stdout);
    let good = table.lines().find(|l| l.starts_with("good ")).unwrap_or_else(|| panic!("{table}"));
    assert!(good.contains(&swapped[..19]), "{good}");
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[tokio::test]
async fn update_comment_and_hunt_commands_print_json_and_exit_by_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, config) = setup(dir.path()).await;
    let secret = demo::client_secret(0);
    let env = [("GOOD_SECRET", secret.as_str())];
    let cfg = config.to_str().unwrap();
    let mut incident = emulator.incidents(&demo::tenant_id(0)).into_iter().next().unwrap();
    // A hostile or careless service echoing the tenant's secret: never printed.
    incident["displayName"] = serde_json::json!(format!("title quoting {secret}"));
    emulator.upsert_incident(&demo::tenant_id(0), incident.clone());
    let id = incident["id"].as_str().unwrap().to_string();
    let version = incident["lastUpdateDateTime"].as_str().unwrap().to_string();

    let args = |v: &str| {
        vec![
            "update-incident".to_string(),
            "--config".into(),
            cfg.into(),
            "--tenant".into(),
            "good".into(),
            "--id".into(),
            id.clone(),
            "--expected-version".into(),
            v.to_string(),
            "--status".into(),
            "resolved".into(),
            "--classification".into(),
            "truePositive".into(),
            "--determination".into(),
            "malware".into(),
        ]
    };
    let a = args(&version);
    let out = host(&a.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["path"], "defender-api");
    assert_eq!(v["incident"]["title"], "title quoting ***");
    assert_eq!(v["warning"], serde_json::Value::Null);
    assert_eq!(v["incident"]["status"], "resolved");
    assert_eq!(v["incident"]["determination"], "malware");
    assert_eq!(v["incident"]["schema"], "redcarbon.connector.record/v1");
    let new_version = v["incident"]["version"].as_str().unwrap().to_string();
    assert_ne!(new_version, version);
    assert!(stderr.contains(&format!("incident {id} updated through the Microsoft 365 Defender API")), "{stderr}");

    // The version we saw is stale now: a typed conflict, exit 1, nothing written.
    let out = host(&args(&version).iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let e: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(e["error"]["kind"], "conflict");
    assert_eq!(e["error"]["current_version"], new_version.as_str());
    assert!(text(&out.stderr).starts_with("error: conflict: incident "), "{}", text(&out.stderr));

    // Without a version to guard against, the command refuses unless --force says so.
    let out =
        host(&["update-incident", "--config", cfg, "--tenant", "good", "--id", &id, "--status", "active"], &env).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--expected-version"), "{}", text(&out.stderr));

    let out =
        host(&["comment", "--config", cfg, "--tenant", "good", "--id", &id, "--text", "isolated the host"], &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stored = emulator.incident(&demo::tenant_id(0), &id).unwrap();
    assert_eq!(stored["comments"].as_array().unwrap().last().unwrap()["comment"], "isolated the host");

    // Hunting: JSON when piped, a table on request.
    let kql = "AlertInfo | take 2";
    let body = r#"{"schema":[{"name":"Title","type":"String"},{"name":"Severity","type":"String"}],"results":[{"Title":"Ransomware","Severity":"High"},{"Title":"Phish","Severity":"Low"}]}"#;
    emulator.set_hunting_result(&demo::tenant_id(0), kql, body);
    let out = host(&["hunt", "--config", cfg, "--tenant", "good", "--query", kql, "--timespan", "P1D"], &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v["columns"], serde_json::json!([{"name":"Title","type":"String"},{"name":"Severity","type":"String"}]));
    assert_eq!(v["rows"][1], serde_json::json!({"Title":"Phish","Severity":"Low"}));
    let out = host(&["hunt", "--config", cfg, "--tenant", "good", "--query", kql, "--format", "table"], &env).await;
    assert_eq!(
        text(&out.stdout),
        "Title       Severity\n----------  --------\nRansomware  High\nPhish       Low\n2 row(s)\n"
    );
    for shown in [text(&out.stdout), text(&out.stderr)] {
        assert!(!shown.contains(&secret));
    }
}

/// True when the state directory under `dir` holds a cursor for the tenant's stream.
fn has_cursor(dir: &std::path::Path, tenant: &str, stream: &str) -> bool {
    connector_host::checkpoint::StateView::read(&dir.join("state")).unwrap().cursor(tenant, stream).is_some()
}
