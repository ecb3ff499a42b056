//! Ingestion: fixtures served unchanged, paging, tokens, exact output.

use connector_tests::{World, fixture, tenant};
use graph_emulator::{Fault, Route, TenantData, demo};
use std::collections::BTreeSet;

fn fixture_tenant() -> TenantData {
    TenantData::new("b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c", "00000000-0000-4000-8000-0000000000a1", "right-secret")
}

#[tokio::test]
async fn documented_bodies_become_exact_ndjson_records() {
    let w = World::new().await;
    let data = fixture_tenant();
    w.emulator.add_tenant(data.clone());
    // Microsoft's documented pages, byte for byte.
    w.emulator.push_fault(Fault::body(Route::Incidents, fixture("incident-with-alerts.json")));
    w.emulator.push_fault(Fault::body(Route::Alerts, fixture("alerts_v2-list.json")));
    let t = w.prepare(&tenant("docs", &data, &w.emulator, &[("backfill", "2020-01-01T00:00:00Z")]));
    let reports = w.poll(&[t]).await;
    assert!(reports[0].ok(), "{:?}", reports[0]);
    let lines = w.lines();
    assert_eq!(lines.len(), 2);
    let i = &lines[0];
    assert_eq!(i["schema"], "redcarbon.connector.record/v1");
    assert_eq!(i["key"], "docs/incident/2972395");
    assert_eq!(i["kind"], "incident");
    assert_eq!(i["version"], "2021-09-30T09:35:45.1133333Z");
    assert_eq!(i["created"], "2021-08-13T08:43:35.5533333Z");
    assert_eq!(i["severity"], "medium");
    assert_eq!(i["score"], 40);
    assert_eq!(i["status"], "active");
    assert_eq!(i["classification"], "truePositive");
    assert_eq!(i["determination"], "multiStagedAttack");
    assert_eq!(i["assigned_to"], "KaiC@contoso.onmicrosoft.com");
    assert_eq!(i["alert_ids"], serde_json::json!(["da637551227677560813_-961444813"]));
    assert_eq!(i["mitre_techniques"], serde_json::json!(["T1564.001"]));
    assert_eq!(
        i["evidence"],
        serde_json::json!({"devices":["tempDns"],"users":[],"ips":[],"files":["MsSense.exe"],"urls":[],"mailboxes":[],"other":2})
    );
    assert_eq!(i["connector"], serde_json::json!({"name":"microsoft-defender-xdr","version":"0.1.0"}));
    let doc: serde_json::Value = serde_json::from_str(&fixture("incident-with-alerts.json")).unwrap();
    assert_eq!(i["raw"], doc["value"][0], "the raw payload is Microsoft's object, unchanged");
    let a = &lines[1];
    assert_eq!(a["key"], "docs/alert/da637551227677560813_-961444813");
    assert_eq!((a["severity"].as_str(), a["score"].as_u64()), (Some("low"), Some(10)));
    assert_eq!(a["incident_id"], "28282");
    assert_eq!(a["version"], "2021-05-02T14:19:01.3266667Z");
    let doc: serde_json::Value = serde_json::from_str(&fixture("alerts_v2-list.json")).unwrap();
    assert_eq!(a["raw"], doc["value"][0]);
}

#[tokio::test]
async fn three_pages_arrive_complete_and_in_order_with_one_token() {
    let w = World::new().await;
    let data = demo::generate_tenant(7, 150, chrono::Utc::now());
    let expected: Vec<String> = {
        // Microsoft's order: newest first.
        let mut v: Vec<_> = data
            .incidents
            .iter()
            .map(|i| {
                let t = connector_tests_time(i["lastUpdateDateTime"].as_str().unwrap());
                (t, i["id"].as_str().unwrap().to_string())
            })
            .collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|(_, id)| id).collect()
    };
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("paging", &data, &w.emulator, &[]));
    let reports = w.poll(std::slice::from_ref(&t)).await;
    assert!(reports[0].ok(), "{:?}", reports[0]);
    assert_eq!(reports[0].incidents.pages, 3);
    let lines = w.lines();
    let ids: Vec<String> =
        lines.iter().filter(|l| l["kind"] == "incident").map(|l| l["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, expected);
    let alert_ids: BTreeSet<String> =
        lines.iter().filter(|l| l["kind"] == "alert").map(|l| l["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(alert_ids, data.alerts.iter().map(|a| a["id"].as_str().unwrap().to_string()).collect());
    assert_eq!(w.emulator.token_requests(&data.tenant_id), 1, "one token for every page of both streams");
    let graph: Vec<_> = w.emulator.requests().into_iter().filter(|r| r.path.starts_with("/v1.0/")).collect();
    assert_eq!(graph.iter().filter(|r| r.path.ends_with("/incidents")).count(), 3);
    for r in &graph {
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("prefer"), Some("include-unknown-enum-members"));
        if r.path.ends_with("/incidents") {
            let top: u32 = r.query_pairs().iter().find(|(k, _)| k == "$top").map(|(_, v)| v.parse().unwrap()).unwrap();
            assert!(top <= 50, "$top={top}");
        }
    }
    // A second poll finds nothing new and emits nothing again.
    let again = w.poll(&[t]).await;
    assert!(again[0].ok());
    assert_eq!((again[0].incidents.records, again[0].alerts.records), (0, 0));
    assert_eq!(w.lines().len(), lines.len());
}

#[tokio::test]
async fn updates_arrive_on_the_next_poll_with_a_new_version() {
    let w = World::new().await;
    let data = demo::generate_tenant(3, 40, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("updates", &data, &w.emulator, &[]));
    assert!(w.poll(std::slice::from_ref(&t)).await[0].ok());
    let before = w.lines().len();
    let id = data.incidents[5]["id"].as_str().unwrap().to_string();
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert!(demo::touch_incident(&w.emulator, &data.tenant_id, &id, later));
    let r = w.poll(&[t]).await;
    assert!(r[0].ok());
    assert_eq!(r[0].incidents.records, 1);
    let lines = w.lines();
    let new: Vec<_> = lines[before..].iter().filter(|l| l["kind"] == "incident").collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["id"], id.as_str());
    let version = connector_tests_time(new[0]["version"].as_str().unwrap());
    assert_eq!(version, later.timestamp_nanos_opt().unwrap() / 100 * 100);
}

#[tokio::test]
async fn expires_in_as_a_string_still_reuses_the_token() {
    let w = World::new().await;
    let mut data = demo::generate_tenant(4, 120, chrono::Utc::now());
    data.token_lifetime = graph_emulator::TokenLifetime::NumericString(3599);
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("strings", &data, &w.emulator, &[]));
    assert!(w.poll(&[t]).await[0].ok());
    assert_eq!(w.emulator.token_requests(&data.tenant_id), 1);
}

/// Nanoseconds since the epoch of an RFC 3339 text (test-side, independent of the connector).
fn connector_tests_time(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_nanos_opt().unwrap()
}

#[tokio::test]
async fn a_poll_reuses_one_kept_alive_connection_for_its_token_and_every_page() {
    let w = connector_tests::World::isolated().await;
    let data = graph_emulator::demo::generate_tenant(61, 160, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&connector_tests::tenant("keepalive", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    let requests = w.emulator.requests().len();
    assert!(requests >= 6, "a token and several pages: {requests}");
    // Login and Graph share the emulator's origin: one connection carried every request.
    assert_eq!(w.runtime.connections().opened(), 1, "{requests} requests");
    // Another tenant never shares it.
    let other = graph_emulator::demo::generate_tenant(62, 5, chrono::Utc::now());
    w.emulator.add_tenant(other.clone());
    let t2 = w.prepare(&connector_tests::tenant("keepalive-2", &other, &w.emulator, &[]));
    assert!(w.poll(&[t2]).await[0].ok());
    assert_eq!(w.runtime.connections().opened(), 2);
}
