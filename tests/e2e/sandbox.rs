//! One sandbox per tenant: each hostile component (tests/guests/hostile) runs for one tenant while
//! a normal Defender tenant polls in the same cycle. Each test asserts the hostile call's typed
//! error, that the normal tenant's records are complete, and what leaked (nothing).

use connector_host::limits::LimitExceeded;
use connector_host::poll::{PollError, TenantReport};
use connector_host::runtime::SandboxError;
use connector_tests::{World, expected, hostile_tenant, sorted, tenant};
use graph_emulator::{Emulator, Fault, FaultResponse, Route, demo};
use std::time::Duration;

/// The normal tenant's data, served by the world's emulator.
fn normal(w: &World) -> graph_emulator::TenantData {
    let data = demo::generate_tenant(41, 120, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    data
}

/// The normal tenant polled complete and fine beside the hostile one.
fn assert_normal_complete(w: &World, report: &TenantReport, data: &graph_emulator::TenantData) {
    assert!(report.ok(), "the normal tenant is unaffected: {report:?}");
    let incidents: Vec<_> = w
        .records("incident")
        .into_iter()
        .filter(|(id, _)| data.incidents.iter().any(|i| i["id"] == id.as_str()))
        .collect();
    assert_eq!(sorted(incidents), expected(&data.incidents));
    assert_eq!(report.incidents.records, 120);
    assert_eq!(w.runtime.sandbox_memory().current(), 0, "every sandbox's linear memory was released");
}

/// The error that ended the hostile tenant's poll.
fn sandbox_error(report: &TenantReport) -> &SandboxError {
    match report.first_error() {
        Some(PollError::Sandbox(e)) => e,
        other => panic!("expected a sandbox error, got {other:?}"),
    }
}

/// VmRSS / VmHWM of this process in KiB, for the figures printed by the tests (never asserted).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_at_its_cap_and_its_memory_is_given_back() {
    let w = World::isolated().await;
    let data = normal(&w);
    let bomb = w.hostile("memory-bomb").await;
    let hostile = w.prepare_for(&bomb, &hostile_tenant("bomb", &w.emulator.base_url(), "x", "", "memory_mib = 64"));
    let good = w.prepare(&tenant("good", &data, &w.emulator, &[]));
    let (rss_before, _) = rss_kib();
    let r = w.poll(&[hostile, good]).await;
    let (rss_after, hwm) = rss_kib();
    assert!(matches!(sandbox_error(&r[0]), SandboxError::Limit(LimitExceeded::Memory { mib: 64 })), "{:?}", r[0]);
    assert_eq!(r[0].first_error().unwrap().kind(), "memory-limit");
    assert_normal_complete(&w, &r[1], &data);
    let gauge = w.runtime.sandbox_memory();
    assert_eq!(gauge.current(), 0, "every sandbox's linear memory was released");
    assert!(gauge.peak() <= 2 * (64 << 20), "the bomb never held more than its cap: peak {}", gauge.peak());
    eprintln!(
        "memory bomb: {} ms; sandbox memory peak {} MiB; host RSS {} MiB before, {} MiB after, peak {} MiB",
        r[0].elapsed.as_millis(),
        gauge.peak() >> 20,
        rss_before / 1024,
        rss_after / 1024,
        hwm / 1024
    );
    // The next poll starts fresh and is stopped the same way.
    let hostile = w.prepare_for(&bomb, &hostile_tenant("bomb", &w.emulator.base_url(), "x", "", "memory_mib = 64"));
    let r = w.poll(&[hostile]).await;
    assert!(matches!(sandbox_error(&r[0]), SandboxError::Limit(LimitExceeded::Memory { mib: 64 })));
    assert_eq!(w.runtime.sandbox_memory().current(), 0);
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_its_cpu_budget() {
    let w = World::isolated().await;
    let data = normal(&w);
    let spin = w.hostile("infinite-loop").await;
    let hostile = w.prepare_for(&spin, &hostile_tenant("spin", &w.emulator.base_url(), "x", "", "cpu_ms = 500"));
    let good = w.prepare(&tenant("good", &data, &w.emulator, &[]));
    let r = w.poll(&[hostile, good]).await;
    assert!(matches!(sandbox_error(&r[0]), SandboxError::Limit(LimitExceeded::Cpu { ms: 500 })), "{:?}", r[0]);
    assert_eq!(
        r[0].first_error().unwrap().to_string(),
        "the component used its CPU budget of 500 ms for one call (raise limits.cpu_ms if this is legitimate)"
    );
    assert_normal_complete(&w, &r[1], &data);
    eprintln!("infinite loop with a 500 ms CPU budget: stopped after {} ms", r[0].elapsed.as_millis());
}

#[tokio::test]
async fn a_panic_ends_the_call_with_the_panic_message() {
    let w = World::isolated().await;
    let data = normal(&w);
    let panics = w.hostile("panic").await;
    let hostile = w.prepare_for(&panics, &hostile_tenant("panics", &w.emulator.base_url(), "x", "", ""));
    let good = w.prepare(&tenant("good", &data, &w.emulator, &[]));
    let r = w.poll(&[hostile, good]).await;
    match sandbox_error(&r[0]) {
        SandboxError::Trap { message } => assert!(
            message.starts_with(
                "the component panicked: hostile component: deliberate panic in fetch-incidents (at src/lib.rs:"
            ),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(r[0].first_error().unwrap().kind(), "trap");
    assert_normal_complete(&w, &r[1], &data);
}

#[tokio::test]
async fn egress_outside_the_allow_list_is_refused_directly_via_redirect_and_via_ip_literals() {
    let w = World::isolated().await;
    let data = normal(&w);
    // The hostile tenant's allowed origin is an emulator of its own, answering 302 to elsewhere.
    let allowed = Emulator::start().await.unwrap();
    let outside = Emulator::start().await.unwrap();
    let port = allowed.base_url().rsplit(':').next().unwrap().to_string();
    let outside_origin = outside.base_url();
    allowed.push_fault(Fault {
        route: Route::Incidents,
        response: FaultResponse::Status {
            status: 302,
            headers: vec![("Location".into(), format!("{outside_origin}/stolen"))],
            body: String::new(),
        },
    });
    let targets = [
        format!("{outside_origin}/direct"),
        format!("{}/v1.0/security/incidents", allowed.base_url()),
        format!("http://localhost:{port}/by-name"),
        format!("http://[::1]:{port}/by-ipv6"),
        format!("http://2130706433:{port}/by-decimal-ip"),
    ]
    .join(",");
    let egress = w.hostile("egress").await;
    let hostile = w.prepare_for(&egress, &hostile_tenant("escape", &allowed.base_url(), "x", &targets, ""));
    let good = w.prepare(&tenant("good", &data, &w.emulator, &[]));
    let r = w.poll(&[hostile.clone(), good]).await;
    match sandbox_error(&r[0]) {
        SandboxError::EgressDenied { targets } => assert_eq!(
            targets,
            &vec![
                outside_origin.clone(),
                outside_origin.clone(),
                format!("http://localhost:{port}"),
                format!("http://[::1]:{port}"),
                format!("http://2130706433:{port}"),
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(r[0].first_error().unwrap().kind(), "egress-denied");
    assert_eq!(hostile.denied.load(std::sync::atomic::Ordering::Relaxed), 5);
    assert!(outside.requests().is_empty(), "nothing reached the outside server: {:?}", outside.requests());
    let reached: Vec<(String, u16)> = allowed.requests().into_iter().map(|r| (r.path, r.status)).collect();
    assert_eq!(reached, vec![("/v1.0/security/incidents".to_string(), 302)], "only the allowed origin, once");
    assert_normal_complete(&w, &r[1], &data);
}

#[tokio::test]
async fn a_component_reads_only_its_own_tenants_config_and_its_secret_never_reaches_the_output() {
    let w = World::isolated().await;
    let data = normal(&w);
    let snoop = w.hostile("config-snoop").await;
    let own_secret = "snooper-own-secret-9f8e7d";
    let hostile = w.prepare_for(&snoop, &hostile_tenant("snooper", &w.emulator.base_url(), own_secret, "", ""));
    let victim = w.prepare(&tenant("victim", &data, &w.emulator, &[]));
    let r = w.poll(&[hostile, victim]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    let lines = w.lines();
    let found = lines.iter().find(|l| l["key"] == "snooper/incident/snoop").expect("the snooper's record");
    let base = w.emulator.base_url();
    assert_eq!(
        found["raw"],
        serde_json::json!({
            "id": "snoop",
            "get": {
                "client-secret": "***",
                "other/client-secret": null,
                "../other/client-secret": null,
                "tenant:other:client-secret": null,
                "other.client-secret": null,
                "*": null,
                "": null
            },
            "all": [["client-secret", "***"], ["graph-endpoint", base]]
        })
    );
    let output = std::fs::read_to_string(w.dir.path().join("out.ndjson")).unwrap();
    assert!(!output.contains(own_secret), "its own secret is redacted from its records");
    assert!(!output.contains(&data.client_secret), "the victim's secret appears nowhere");
    assert_normal_complete(&w, &r[1], &data);
}

#[tokio::test]
async fn megabytes_on_stdout_end_the_call_at_the_log_cap() {
    let w = World::isolated().await;
    let data = normal(&w);
    let flood = w.hostile("stdout-flood").await;
    let hostile = w.prepare_for(&flood, &hostile_tenant("chatty", &w.emulator.base_url(), "x", "", ""));
    let good = w.prepare(&tenant("good", &data, &w.emulator, &[]));
    let r = w.poll(&[hostile, good]).await;
    assert!(
        matches!(sandbox_error(&r[0]), SandboxError::Limit(LimitExceeded::LogOutput { max_bytes: 1_048_576 })),
        "{:?}",
        r[0]
    );
    assert_eq!(r[0].first_error().unwrap().kind(), "log-limit");
    assert_normal_complete(&w, &r[1], &data);
}

#[tokio::test]
async fn hundreds_of_requests_at_once_hit_the_concurrency_cap() {
    let w = World::isolated().await;
    let data = normal(&w);
    let target = Emulator::start().await.unwrap();
    let flood = w.hostile("request-flood").await;
    let hostile = w.prepare_for(&flood, &hostile_tenant("flood", &target.base_url(), "x", "", ""));
    let good = w.prepare(&tenant("good", &data, &w.emulator, &[]));
    let r = w.poll(&[hostile, good]).await;
    assert!(
        matches!(sandbox_error(&r[0]), SandboxError::Limit(LimitExceeded::ConcurrentRequests { max: 8 })),
        "{:?}",
        r[0]
    );
    assert!(target.requests().len() <= 8, "at most 8 were sent: {}", target.requests().len());
    assert_normal_complete(&w, &r[1], &data);
}

/// One Defender tenant polled with `limits` overridden; the first error of its poll.
async fn defender_with_limits(limits: &[(&str, &str)], fault: Option<Fault>) -> (World, TenantReport) {
    let w = World::isolated().await;
    let data = normal(&w);
    if let Some(f) = fault {
        w.emulator.push_fault(f);
    }
    let mut config = tenant("limited", &data, &w.emulator, &[]);
    let text = limits.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>();
    config.limits = toml::from_str(&text).unwrap();
    let t = w.prepare(&config);
    let mut r = w.poll(&[t]).await;
    (w, r.remove(0))
}

#[tokio::test]
async fn a_call_past_its_request_cap_is_ended() {
    // The first call needs a token and a page: two requests.
    let (_w, r) = defender_with_limits(&[("max_requests_per_call", "1")], None).await;
    assert!(matches!(sandbox_error(&r), SandboxError::Limit(LimitExceeded::Requests { max: 1 })), "{r:?}");
    assert_eq!(r.incidents.records, 0);
}

#[tokio::test]
async fn a_response_body_past_its_cap_is_cut_off_and_nothing_is_consumed() {
    let (w, r) = defender_with_limits(&[("max_response_body_bytes", "8192")], None).await;
    assert!(matches!(sandbox_error(&r), SandboxError::Limit(LimitExceeded::ResponseBody { max_bytes: 8192 })), "{r:?}");
    assert_eq!(r.incidents.records, 0);
    assert!(w.cursor("limited", "incidents").is_none(), "the cursor did not move");
}

#[tokio::test]
async fn response_headers_past_their_cap_are_refused() {
    let (_w, r) = defender_with_limits(&[("max_response_header_bytes", "16")], None).await;
    assert!(
        matches!(sandbox_error(&r), SandboxError::Limit(LimitExceeded::ResponseHeaders { max_bytes: 16 })),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_call_waiting_past_its_wall_clock_limit_is_ended() {
    let slow = Fault::delay(Route::Incidents, Duration::from_secs(30));
    let (_w, r) = defender_with_limits(&[("call_timeout_secs", "1")], Some(slow)).await;
    assert!(matches!(sandbox_error(&r), SandboxError::Limit(LimitExceeded::CallTimeout { secs: 1 })), "{r:?}");
    assert_eq!(r.first_error().unwrap().kind(), "call-timeout");
}
