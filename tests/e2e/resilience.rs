//! Throttling, transient failures, token rejection mid-paging, poison pages and `$top` limits:
//! each reproduced against the emulator, each asserting the exact records, how often they were
//! requested, and the cursor afterwards.

use connector_host::poll::PollError;
use connector_tests::{World, expected, fixture, query_value, sorted, tenant, tenant_of, watermark_after};
use graph_emulator::{Fault, FaultResponse, PageLimits, RequestRecord, Route, TenantData, demo};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Logged requests to one collection (`incidents` or `alerts_v2`).
fn to(w: &World, collection: &str) -> Vec<RequestRecord> {
    w.emulator.requests().into_iter().filter(|r| r.path.ends_with(&format!("/security/{collection}"))).collect()
}

fn statuses(requests: &[RequestRecord]) -> Vec<u16> {
    requests.iter().map(|r| r.status).collect()
}

fn newest(items: &[serde_json::Value]) -> String {
    expected(items).into_iter().map(|(_, v)| v).max().unwrap()
}

/// A fault answering `status` with extra headers.
fn answer(route: Route, status: u16, headers: &[(&str, &str)], body: &str) -> Fault {
    Fault {
        route,
        response: FaultResponse::Status {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.to_string(),
        },
    }
}

/// Lets the next request of `route` through untouched (faults apply in order).
fn pass(route: Route) -> Fault {
    Fault::delay(route, Duration::ZERO)
}

/// Page 2 of incidents is refused once with `status` + `Retry-After`; the poll waits at least
/// `min_wait`, asks for the very same nextLink again, and delivers every record once.
async fn throttled_page_resumes(status: u16, retry_after: &str, min_wait: Duration) {
    let w = World::new().await;
    let data = demo::generate_tenant(11, 120, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    w.emulator.push_fault(pass(Route::Incidents));
    w.emulator.push_fault(answer(
        Route::Incidents,
        status,
        &[("Retry-After", retry_after)],
        &fixture("error-429.json"),
    ));
    let t = w.prepare(&tenant("throttled", &data, &w.emulator, &[]));
    let started = Instant::now();
    let r = w.poll(&[t]).await;
    let waited = started.elapsed();
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!((r[0].incidents.retries, r[0].incidents.pages), (1, 3));
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents));
    assert_eq!(sorted(w.records("alert")), expected(&data.alerts));
    let incidents = to(&w, "incidents");
    assert_eq!(statuses(&incidents), vec![200, status, 200, 200]);
    assert_eq!(query_value(&incidents[1], "$skip").as_deref(), Some("50"));
    assert_eq!(incidents[1].query, incidents[2].query, "the retry asks for the same nextLink");
    assert!(waited >= min_wait, "Retry-After {retry_after} honoured: waited {waited:?}");
    // The wait gave the sandbox back; the retry's fresh sandbox signed in once more.
    assert_eq!(w.emulator.token_requests(&data.tenant_id), 2);
    let c = w.cursor_json("throttled", "incidents");
    assert_eq!(c["watermark"], watermark_after(&newest(&data.incidents), 600));
    assert!(c.get("scan").is_none(), "{c}");
}

#[tokio::test]
async fn a_429_with_whole_seconds_resumes_at_the_same_next_link() {
    throttled_page_resumes(429, "1", Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_429_with_fractional_seconds_resumes_at_the_same_next_link() {
    throttled_page_resumes(429, "0.75", Duration::from_millis(750)).await;
}

#[tokio::test]
async fn a_429_with_an_http_date_resumes_at_the_same_next_link() {
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    // The date has whole seconds and page 2 comes well within the first second.
    throttled_page_resumes(429, &date, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_503_with_retry_after_resumes_at_the_same_next_link() {
    throttled_page_resumes(503, "1", Duration::from_secs(1)).await;
}

#[tokio::test]
async fn server_errors_back_off_and_the_same_page_then_succeeds() {
    let w = World::new().await;
    let data = demo::generate_tenant(12, 120, chrono::Utc::now());
    assert!(data.alerts.len() > 200, "at least three alert pages");
    w.emulator.add_tenant(data.clone());
    w.emulator.push_fault(pass(Route::Alerts));
    w.emulator.push_fault(Fault::status(
        Route::Alerts,
        500,
        r#"{"error":{"code":"InternalServerError","message":"","innerError":{"date":"2025-01-11T19:43:26","request-id":"e-1"}}}"#,
    ));
    w.emulator.push_fault(answer(
        Route::Alerts,
        502,
        &[("Content-Type", "text/html")],
        "<html><body>502 Bad Gateway</body></html>",
    ));
    let t = w.prepare(&tenant("flaky", &data, &w.emulator, &[]));
    let r = w.poll(&[t]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(r[0].alerts.retries, 2);
    assert_eq!(sorted(w.records("alert")), expected(&data.alerts));
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents));
    let alerts = to(&w, "alerts_v2");
    assert_eq!(&statuses(&alerts)[..4], &[200, 500, 502, 200]);
    assert!(alerts[1].query == alerts[2].query && alerts[2].query == alerts[3].query, "same page each time");
    assert_eq!(query_value(&alerts[3], "$skip").as_deref(), Some("100"));
    assert_eq!(w.cursor_json("flaky", "alerts")["watermark"], watermark_after(&newest(&data.alerts), 600));
}

#[tokio::test]
async fn retries_are_bounded_and_the_next_poll_resumes_where_the_last_page_ended() {
    let w = World::new().await;
    let data = demo::generate_tenant(13, 120, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    w.emulator.push_fault(pass(Route::Alerts));
    let body =
        r#"{"error":{"code":"InternalServerError","message":"Backend down.","innerError":{"request-id":"e-2"}}}"#;
    for _ in 0..6 {
        w.emulator.push_fault(Fault::status(Route::Alerts, 500, body));
    }
    let t = w.prepare(&tenant("down", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    match &r[0].alerts.error {
        Some(e @ PollError::Connector(_)) => {
            assert_eq!(e.kind(), "transient");
            assert_eq!(
                e.to_string(),
                "temporary failure: Microsoft Graph answered HTTP 500 InternalServerError to the alerts request: Backend down. (request-id e-2)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((r[0].alerts.records, r[0].alerts.pages, r[0].alerts.retries), (100, 1, 4));
    assert!(r[0].incidents.error.is_none());
    let alerts = to(&w, "alerts_v2");
    assert_eq!(statuses(&alerts), vec![200, 500, 500, 500, 500, 500], "five attempts at page 2, then stop");
    let cursor = w.cursor_json("down", "alerts");
    let link = cursor["scan"]["next_link"].as_str().unwrap();
    assert!(link.contains("$skip=100"), "{link}");
    assert_eq!(cursor["scan"]["emitted"].as_object().unwrap().len(), 100);
    let first: Vec<_> = w.records("alert");

    // One fault is left over: the next poll's first try fails, its retry resumes at page 2.
    let r = w.poll(&[t]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    let alerts = to(&w, "alerts_v2");
    assert_eq!(query_value(&alerts[6], "$skip").as_deref(), Some("100"), "no restart from page 1");
    assert_eq!(query_value(&alerts[7], "$skip").as_deref(), Some("100"));
    let all = w.records("alert");
    assert_eq!(&all[..100], &first[..]);
    assert_eq!(sorted(all), expected(&data.alerts), "each alert exactly once over both polls");
    assert!(w.cursor_json("down", "alerts").get("scan").is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_throttled_tenant_waits_alone_while_others_poll() {
    let w = World::new().await;
    let now = chrono::Utc::now();
    let slow = demo::generate_tenant(14, 30, now);
    let other = demo::generate_tenant(15, 30, now);
    w.emulator.add_tenant(slow.clone());
    w.emulator.add_tenant(other.clone());
    // The first tenant (which takes the only slot first: FIFO semaphore, single-threaded runtime)
    // is told to come back in 2 s.
    w.emulator.push_fault(Fault::throttled(Route::Incidents, "2"));
    let a = w.prepare(&tenant("slow", &slow, &w.emulator, &[]));
    let b = w.prepare(&tenant("other", &other, &w.emulator, &[]));
    let reports = w.poll_with(&[a, b], 1).await;
    assert!(reports.iter().all(|r| r.ok()), "{reports:?}");
    let log = w.emulator.requests();
    let a_id = slow.tenant_id.to_ascii_lowercase();
    let b_id = other.tenant_id.to_ascii_lowercase();
    let a_graph: Vec<usize> = (0..log.len()).filter(|&i| tenant_of(&log[i]).as_ref() == Some(&a_id)).collect();
    let throttled = a_graph.iter().copied().find(|&i| log[i].status == 429).expect("the 429 was served to `slow`");
    let retry = a_graph.iter().copied().find(|&i| i > throttled).unwrap();
    let b_all: Vec<usize> = (0..log.len()).filter(|&i| tenant_of(&log[i]).as_ref() == Some(&b_id)).collect();
    assert!(!b_all.is_empty());
    assert!(
        b_all.iter().all(|&i| throttled < i && i < retry),
        "every request of `other` happened while `slow` waited (429 at #{throttled}, retry at #{retry}, other at {b_all:?})"
    );
    assert_eq!(reports[1].incidents.records, 30);
    assert_eq!(w.records("incident").len(), 60);
}

#[tokio::test]
async fn a_tenant_waiting_to_retry_gives_its_sandbox_back_so_a_full_pool_never_stalls() {
    // One sandbox slot, one concurrency slot: if the sleeping tenant kept its sandbox, the other
    // would hold the concurrency slot while waiting for the sandbox, and neither could go on.
    let w = World::with_slots(1).await;
    let now = chrono::Utc::now();
    let (slow, other) = (demo::generate_tenant(17, 30, now), demo::generate_tenant(18, 30, now));
    w.emulator.add_tenant(slow.clone());
    w.emulator.add_tenant(other.clone());
    w.emulator.push_fault(Fault::throttled(Route::Incidents, "1"));
    let a = w.prepare(&tenant("slow", &slow, &w.emulator, &[]));
    let b = w.prepare(&tenant("other", &other, &w.emulator, &[]));
    let reports = tokio::time::timeout(std::time::Duration::from_secs(60), w.poll_with(&[a, b], 1))
        .await
        .expect("the cycle finished instead of stalling");
    assert!(reports.iter().all(|r| r.ok()), "{reports:?}");
    assert_eq!(reports[0].incidents.retries, 1);
    assert_eq!((reports[0].incidents.records, reports[1].incidents.records), (30, 30));
    assert_eq!(w.records("incident").len(), 60);
    // The retry ran in a fresh sandbox, which signed in again.
    assert_eq!(w.emulator.token_requests(&slow.tenant_id), 2);
    assert_eq!(w.emulator.token_requests(&other.tenant_id), 1);
}

#[tokio::test]
async fn a_token_rejected_mid_paging_is_refreshed_once_and_the_same_page_retried() {
    let w = World::new().await;
    let data = demo::generate_tenant(16, 120, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    w.emulator.push_fault(pass(Route::Incidents));
    w.emulator.push_fault(Fault::status(Route::Incidents, 401, fixture("error-401-invalid-token.json")));
    let t = w.prepare(&tenant("rotated", &data, &w.emulator, &[]));
    let r = w.poll(&[t]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(r[0].incidents.retries, 0, "handled inside the call, not by the host's retry");
    let incidents = to(&w, "incidents");
    assert_eq!(statuses(&incidents), vec![200, 401, 200, 200]);
    assert_eq!(incidents[1].query, incidents[2].query, "the same page again, no restart");
    assert_eq!(incidents.iter().filter(|r| query_value(r, "$skip").is_none()).count(), 1, "page 1 read once");
    assert_eq!(w.emulator.token_requests(&data.tenant_id), 2);
    assert_ne!(incidents[1].header("authorization"), incidents[2].header("authorization"), "a new token");
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents));
    assert_eq!(sorted(w.records("alert")), expected(&data.alerts));
}

#[tokio::test]
async fn a_token_that_expires_between_pages_is_renewed_without_a_restart() {
    let w = World::new().await;
    let data = demo::generate_tenant(17, 120, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    // Page 2 is held back while every issued token expires, as if an hour had passed.
    w.emulator.push_fault(pass(Route::Incidents));
    w.emulator.push_fault(Fault::delay(Route::Incidents, Duration::from_millis(400)));
    let t = w.prepare(&tenant("expiring", &data, &w.emulator, &[]));
    let (emulator, tid) = (w.emulator.clone(), data.tenant_id.clone());
    let expire = tokio::spawn(async move {
        // Wait until page 2 has arrived (it is delayed), then expire the token it carries.
        loop {
            let n = emulator.requests().iter().filter(|r| r.path.ends_with("/incidents")).count();
            if n >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        emulator.expire_tokens(&tid);
    });
    let r = w.poll(&[t]).await;
    expire.await.unwrap();
    assert!(r[0].ok(), "{:?}", r[0]);
    let incidents = to(&w, "incidents");
    assert_eq!(statuses(&incidents), vec![200, 401, 200, 200]);
    assert_eq!(incidents[1].query, incidents[2].query);
    assert_eq!(w.emulator.token_requests(&data.tenant_id), 2);
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents));
}

#[tokio::test]
async fn a_page_that_fails_only_with_expand_is_read_without_it_and_the_tenant_marked_degraded() {
    let w = World::new().await;
    let data = demo::generate_tenant(18, 120, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    w.emulator.push_fault(pass(Route::IncidentsExpanded));
    for _ in 0..2 {
        w.emulator.push_fault(Fault::status(
            Route::IncidentsExpanded,
            500,
            r#"{"error":{"code":"InternalServerError","message":"An error has occurred.","innerError":{"request-id":"x-1"}}}"#,
        ));
    }
    let t = w.prepare(&tenant("poison", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!((r[0].incidents.retries, r[0].incidents.pages), (2, 3));
    let why = r[0].degraded.as_deref().expect("degraded");
    assert!(why.starts_with("Microsoft Graph kept failing on incidents with $expand=alerts"), "{why}");

    // Every incident once, each with exactly its alerts.
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents));
    let mut by_incident: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in &data.alerts {
        by_incident
            .entry(a["incidentId"].as_str().unwrap().to_string())
            .or_default()
            .insert(a["id"].as_str().unwrap().to_string());
    }
    for line in w.lines().iter().filter(|l| l["kind"] == "incident") {
        let got: BTreeSet<String> =
            line["alert_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        assert_eq!(got, by_incident[line["id"].as_str().unwrap()], "alerts of incident {}", line["id"]);
    }
    assert_eq!(sorted(w.records("alert")), expected(&data.alerts));

    let incidents = to(&w, "incidents");
    let shape: Vec<(u16, bool, Option<String>)> =
        incidents.iter().map(|r| (r.status, query_value(r, "$expand").is_some(), query_value(r, "$skip"))).collect();
    assert_eq!(
        shape,
        vec![
            (200, true, None),
            (500, true, Some("50".into())),
            (500, true, Some("50".into())),
            (200, false, Some("50".into())),
            (200, false, Some("100".into())),
        ]
    );
    let per_incident = to(&w, "alerts_v2")
        .iter()
        .filter(|r| query_value(r, "$filter").is_some_and(|f| f.starts_with("incidentId eq '")))
        .count();
    assert_eq!(per_incident, 70, "one alerts_v2 query per incident of pages 2 and 3");
    let state = connector_host::checkpoint::StateView::read(&w.dir.path().join("state")).unwrap();
    assert_eq!(state.health("poison").unwrap().degraded.as_deref(), Some(why));

    // The next poll tries $expand again.
    w.emulator.clear_requests();
    let id = data.incidents[0]["id"].as_str().unwrap();
    assert!(demo::touch_incident(&w.emulator, &data.tenant_id, id, chrono::Utc::now()));
    let r = w.poll(&[t]).await;
    assert!(r[0].ok() && r[0].degraded.is_none(), "{:?}", r[0]);
    assert!(to(&w, "incidents").iter().all(|r| query_value(r, "$expand").as_deref() == Some("alerts")));
}

#[tokio::test]
async fn a_top_above_the_services_limit_is_lowered_to_it_and_remembered() {
    let w = World::new().await;
    w.emulator.set_page_limits(PageLimits {
        incidents_max_top: 20,
        incidents_default_top: 20,
        ..PageLimits::default()
    });
    let data = demo::generate_tenant(19, 50, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("small-pages", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(r[0].incidents.pages, 3);
    let incidents = to(&w, "incidents");
    let tops: Vec<(u16, Option<String>)> = incidents.iter().map(|r| (r.status, query_value(r, "$top"))).collect();
    assert_eq!(
        tops,
        vec![(400, Some("50".into())), (200, Some("20".into())), (200, Some("20".into())), (200, Some("20".into()))]
    );
    assert!(incidents.iter().all(|r| query_value(r, "$skip").is_none_or(|s| s == "20" || s == "40")), "no $skip math");
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents));
    assert_eq!(w.cursor_json("small-pages", "incidents")["top_limit"], 20);

    w.emulator.clear_requests();
    let r = w.poll(&[t]).await;
    assert!(r[0].ok());
    assert_eq!(query_value(&to(&w, "incidents")[0], "$top").as_deref(), Some("20"), "the limit is remembered");
}

#[tokio::test]
async fn one_failing_tenant_never_stops_the_others() {
    let w = World::new().await;
    let now = chrono::Utc::now();
    let good = demo::generate_tenant(20, 60, now);
    let broken = demo::generate_tenant(21, 60, now);
    w.emulator.add_tenant(good.clone());
    w.emulator.add_tenant(broken.clone());
    w.emulator.set_secret_expired(&broken.tenant_id, true);
    let unknown = TenantData::new("7d1e8b4a-0000-4000-8000-00000000dead", "00000000-0000-4000-8000-0000000000ff", "s");
    let reports = w
        .poll(&[
            w.prepare(&tenant("broken", &broken, &w.emulator, &[])),
            w.prepare(&tenant("good", &good, &w.emulator, &[])),
            w.prepare(&tenant("unknown", &unknown, &w.emulator, &[])),
        ])
        .await;
    assert!(!reports[0].ok() && reports[1].ok() && !reports[2].ok(), "{reports:?}");
    assert_eq!(sorted(w.records("incident")), expected(&good.incidents));
    assert_eq!(sorted(w.records("alert")), expected(&good.alerts));
    assert!(w.cursor("broken", "incidents").is_none() && w.cursor("unknown", "incidents").is_none());
}

#[tokio::test]
async fn a_poll_past_its_deadline_stops_at_a_page_boundary_with_its_counts_and_resumes() {
    let w = World::new().await;
    let data = demo::generate_tenant(23, 120, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    for _ in 0..3 {
        w.emulator.push_fault(Fault::delay(Route::Incidents, Duration::from_millis(700)));
    }
    let mut config = tenant("deadline", &data, &w.emulator, &[]);
    config.limits = toml::from_str("poll_timeout_secs = 1").unwrap();
    let t = w.prepare(&config);
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(matches!(r[0].incidents.error, Some(PollError::Timeout(1))), "{:?}", r[0]);
    let written = w.records("incident");
    assert_eq!(r[0].incidents.records, written.len(), "the report counts what was written");
    assert_eq!(written.len(), r[0].incidents.pages * 50);
    assert!(r[0].incidents.pages < 3, "stopped before the last page");
    // The resume gets a generous deadline: it must not depend on how busy the machine is.
    config.limits = toml::from_str("poll_timeout_secs = 120").unwrap();
    let t = w.prepare(&config);
    let r = w.poll(&[t]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents), "each exactly once after resuming");
}
