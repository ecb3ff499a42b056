//! The cursor: ties on one timestamp across pages and polls, late-listed records, updates, a
//! server that ignores `$filter`, and a long drain. Each asserts the exact (id, version) set, how
//! often each was written, and the cursor afterwards.

use chrono::{DateTime, Duration, Utc};
use connector_tests::{World, canonical, expected, query_value, sorted, tenant, watermark_after};
use graph_emulator::{Fault, Route, TenantData, demo, format_graph_time};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

fn set_time(item: &mut Value, at: DateTime<Utc>) {
    item["lastUpdateDateTime"] = json!(format_graph_time(at));
}

/// The cursor's `seen` map.
fn seen(w: &World, tenant: &str) -> BTreeMap<String, String> {
    serde_json::from_value(w.cursor_json(tenant, "incidents")["seen"].clone()).unwrap_or_default()
}

fn incident_requests(w: &World) -> Vec<graph_emulator::RequestRecord> {
    w.emulator.requests().into_iter().filter(|r| r.path.ends_with("/security/incidents")).collect()
}

/// Ten incidents from over an hour ago, the first `tied` of them moved to one instant a minute ago.
fn tied_tenant(index: usize, tied: usize) -> (TenantData, DateTime<Utc>) {
    let now = Utc::now();
    let mut data = demo::generate_tenant(index, 10, now - Duration::hours(1));
    let at = now - Duration::minutes(1);
    for incident in &mut data.incidents[..tied] {
        set_time(incident, at);
    }
    (data, at)
}

#[tokio::test]
async fn five_incidents_sharing_a_timestamp_split_3_and_2_across_pages_arrive_once() {
    let w = World::new().await;
    let (data, at) = tied_tenant(30, 5);
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("ties", &data, &w.emulator, &[("incidents-page-size", "3")]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(r[0].incidents.pages, 4, "3 + 3 + 3 + 1");
    let written = w.records("incident");
    // Newest first: the five tied incidents fill page 1 and start page 2.
    let stamp = canonical(&format_graph_time(at));
    assert!(written[..5].iter().all(|(_, v)| *v == stamp), "{written:?}");
    assert_eq!(sorted(written), expected(&data.incidents));
    let c = w.cursor_json("ties", "incidents");
    assert_eq!(c["watermark"], watermark_after(&stamp, 600));
    let tied: BTreeMap<String, String> = ids(&data.incidents[..5]).into_iter().map(|id| (id, stamp.clone())).collect();
    assert_eq!(seen(&w, "ties"), tied, "the boundary remembers exactly the records at or after the watermark");

    // The next poll asks from the watermark (ge), gets the five again, writes none of them.
    w.emulator.clear_requests();
    let r = w.poll(&[t]).await;
    assert!(r[0].ok());
    assert_eq!(r[0].incidents.records, 0);
    let first = &incident_requests(&w)[0];
    assert_eq!(
        query_value(first, "$filter"),
        Some(format!("lastUpdateDateTime ge {}", watermark_after(&stamp, 600))),
        "a canonical 7-digit literal"
    );
    assert_eq!(w.records("incident").len(), 10);
}

#[tokio::test]
async fn ties_split_across_two_polls_by_a_failed_page_arrive_once() {
    let w = World::new().await;
    let (data, at) = tied_tenant(31, 5);
    w.emulator.add_tenant(data.clone());
    w.emulator.push_fault(Fault::delay(Route::Incidents, std::time::Duration::ZERO));
    w.emulator.push_fault(Fault::body(Route::Incidents, r#"{"value": [{"id": "#));
    let t = w.prepare(&tenant("split", &data, &w.emulator, &[("incidents-page-size", "3")]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert_eq!(r[0].incidents.error.as_ref().map(|e| e.kind()), Some("invalid-response"), "{:?}", r[0]);
    let stamp = canonical(&format_graph_time(at));
    let first = w.records("incident");
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|(_, v)| *v == stamp));
    let c = w.cursor_json("split", "incidents");
    assert!(c["scan"]["next_link"].as_str().unwrap().contains("$skip=3"), "{c}");
    let emitted: BTreeMap<String, String> = serde_json::from_value(c["scan"]["emitted"].clone()).unwrap();
    assert_eq!(emitted, first.iter().cloned().collect::<BTreeMap<_, _>>());

    w.emulator.clear_requests();
    let r = w.poll(&[t]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(r[0].incidents.records, 7);
    assert_eq!(query_value(&incident_requests(&w)[0], "$skip").as_deref(), Some("3"), "resumed, not restarted");
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents), "each once over both polls");
}

#[tokio::test]
async fn records_listed_late_with_an_already_seen_timestamp_arrive_once() {
    let w = World::new().await;
    let (data, at) = tied_tenant(32, 3);
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("late-ties", &data, &w.emulator, &[]));
    assert!(w.poll(std::slice::from_ref(&t)).await[0].ok());
    assert_eq!(w.records("incident").len(), 10);
    // Two more incidents with the same lastUpdateDateTime are listed only now (ingestion lag):
    // a strict `gt` cursor would never see them.
    let mut late = Vec::new();
    for (n, id) in ["990001", "990002"].into_iter().enumerate() {
        let mut incident = data.incidents[n].clone();
        incident["id"] = json!(id);
        incident["alerts"] = json!([]);
        set_time(&mut incident, at);
        w.emulator.upsert_incident(&data.tenant_id, incident.clone());
        late.push(incident);
    }
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(sorted(w.records("incident")[10..].to_vec()), expected(&late));
    assert!(w.poll(&[t]).await[0].ok());
    assert_eq!(w.records("incident").len(), 12, "nothing twice");
    assert_eq!(seen(&w, "late-ties").len(), 5);
}

#[tokio::test]
async fn a_record_listed_minutes_after_its_timestamp_arrives_within_the_look_back() {
    let w = World::new().await;
    let now = Utc::now();
    let data = demo::generate_tenant(33, 20, now);
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("lag", &data, &w.emulator, &[]));
    assert!(w.poll(std::slice::from_ref(&t)).await[0].ok());
    let newest = expected(&data.incidents).into_iter().map(|(_, v)| v).max().unwrap();
    let before = w.cursor_json("lag", "incidents")["watermark"].clone();
    // Stamped 5 minutes before the newest record already read, listed only now.
    let mut late = data.incidents[3].clone();
    late["id"] = json!("990010");
    late["alerts"] = json!([]);
    let stamp = DateTime::parse_from_rfc3339(&newest).unwrap().with_timezone(&Utc) - Duration::minutes(5);
    set_time(&mut late, stamp);
    w.emulator.upsert_incident(&data.tenant_id, late.clone());
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok());
    assert_eq!(w.records("incident")[20..].to_vec(), expected(std::slice::from_ref(&late)));
    assert_eq!(w.cursor_json("lag", "incidents")["watermark"], before, "the watermark never moves back");
    assert!(w.poll(&[t]).await[0].ok());
    assert_eq!(w.records("incident").len(), 21);
}

#[tokio::test]
async fn an_incident_resolved_later_is_delivered_again_with_a_higher_version() {
    let w = World::new().await;
    let mut data = demo::generate_tenant(34, 15, Utc::now());
    data.incidents[7]["status"] = json!("active");
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("resolve", &data, &w.emulator, &[]));
    assert!(w.poll(std::slice::from_ref(&t)).await[0].ok());
    let id = data.incidents[7]["id"].as_str().unwrap().to_string();
    let old = w.lines().into_iter().find(|l| l["id"] == id.as_str() && l["kind"] == "incident").unwrap();
    assert_eq!(old["status"], "active");
    let mut incident = w.emulator.incident(&data.tenant_id, &id).unwrap();
    let later = Utc::now() + Duration::seconds(2);
    incident["status"] = json!("resolved");
    incident["classification"] = json!("truePositive");
    incident["determination"] = json!("malware");
    set_time(&mut incident, later);
    w.emulator.upsert_incident(&data.tenant_id, incident);
    let r = w.poll(&[t]).await;
    assert!(r[0].ok());
    assert_eq!(r[0].incidents.records, 1);
    let lines = w.lines();
    let new = lines.iter().filter(|l| l["id"] == id.as_str() && l["kind"] == "incident").nth(1).unwrap();
    assert_eq!(new["key"], old["key"]);
    assert_eq!(new["status"], "resolved");
    assert_eq!(
        (new["classification"].as_str(), new["determination"].as_str()),
        (Some("truePositive"), Some("malware"))
    );
    assert_eq!(new["version"].as_str().unwrap(), canonical(&format_graph_time(later)));
    assert!(new["version"].as_str().unwrap() > old["version"].as_str().unwrap());
}

#[tokio::test]
async fn a_server_that_ignores_filter_causes_no_re_emission_and_no_cursor_move_back() {
    let w = World::new().await;
    let now = Utc::now();
    let mut data = demo::generate_tenant(35, 40, now);
    // Older than the 24 h backfill: served anyway by this server, dropped by the connector.
    let mut ancient = data.incidents[0].clone();
    ancient["id"] = json!("990020");
    set_time(&mut ancient, now - Duration::days(3));
    data.incidents.push(ancient);
    w.emulator.add_tenant(data.clone());
    w.emulator.set_ignore_filter(true);
    let t = w.prepare(&tenant("unfiltered", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(sorted(w.records("incident")), expected(&data.incidents[..40]));
    let first = w.cursor_json("unfiltered", "incidents")["watermark"].as_str().unwrap().to_string();

    let id = data.incidents[10]["id"].as_str().unwrap().to_string();
    // Now, not ahead of it: the watermark never moves past the present.
    let later = Utc::now().max(now + Duration::milliseconds(1));
    assert!(demo::touch_incident(&w.emulator, &data.tenant_id, &id, later));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok());
    assert_eq!(w.records("incident")[40..], [(id.clone(), canonical(&format_graph_time(later)))]);
    let second = w.cursor_json("unfiltered", "incidents")["watermark"].as_str().unwrap().to_string();
    assert_eq!(second, watermark_after(&canonical(&format_graph_time(later)), 600));
    assert!(second >= first, "{second} < {first}");
    assert!(w.poll(&[t]).await[0].ok());
    assert_eq!(w.records("incident").len(), 41);
}

#[tokio::test]
async fn seven_thousand_alerts_are_drained_exactly_once() {
    let w = World::new().await;
    let template = demo::generate_tenant(36, 1, Utc::now()).alerts[0].clone();
    let mut data = TenantData::new("5f7e2c1a-36a0-4c1e-9d7e-000000007000", "00000000-0000-4000-8000-000000007000", "s");
    let start = Utc::now() - Duration::hours(9); // the newest instant is 8 h 15 min later: in the past
    for n in 0..7000u32 {
        let mut alert = template.clone();
        alert["id"] = json!(format!("da{n:06}_7000"));
        // 70 alerts share each of 100 instants, five minutes apart: ties cross page boundaries.
        set_time(&mut alert, start + Duration::minutes(5 * i64::from(n % 100)));
        data.alerts.push(alert);
    }
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("drain", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!((r[0].alerts.records, r[0].alerts.pages), (7000, 70));
    let written = w.records("alert");
    assert_eq!(written.len(), 7000);
    assert_eq!(sorted(written), expected(&data.alerts));
    let newest = canonical(&format_graph_time(start + Duration::minutes(5 * 99)));
    assert_eq!(w.cursor_json("drain", "alerts")["watermark"], watermark_after(&newest, 600));
    assert_eq!(w.emulator.token_requests(&data.tenant_id), 1);
    let r = w.poll(&[t]).await;
    assert!(r[0].ok());
    assert_eq!(r[0].alerts.records, 0);
    assert_eq!(w.records("alert").len(), 7000);
}

#[tokio::test]
async fn the_look_back_is_a_tenant_setting() {
    let w = World::new().await;
    let data = demo::generate_tenant(34, 20, Utc::now());
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("short-lag", &data, &w.emulator, &[("lookback", "90s")]));
    assert!(w.poll(std::slice::from_ref(&t)).await[0].ok());
    let newest = expected(&data.incidents).into_iter().map(|(_, v)| v).max().unwrap();
    assert_eq!(w.cursor_json("short-lag", "incidents")["watermark"], watermark_after(&newest, 90));
    let bad = w.prepare(&tenant("bad-lag", &data, &w.emulator, &[("lookback", "soon")]));
    match w.poll(&[bad]).await[0].first_error() {
        Some(connector_host::poll::PollError::Connector(connector_host::bindings::ConnectorError::Config(c))) => {
            assert_eq!(c.key, "lookback")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_record_stamped_in_the_future_does_not_hide_the_records_after_it() {
    let w = World::new().await;
    let data = demo::generate_tenant(35, 10, Utc::now());
    w.emulator.add_tenant(data.clone());
    let mut future = data.incidents[0].clone();
    future["id"] = json!("990020");
    future["alerts"] = json!([]);
    set_time(&mut future, DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z").unwrap().with_timezone(&Utc));
    w.emulator.upsert_incident(&data.tenant_id, future.clone());
    let t = w.prepare(&tenant("skewed", &data, &w.emulator, &[]));
    assert!(w.poll(std::slice::from_ref(&t)).await[0].ok());
    let watermark = w.cursor_json("skewed", "incidents")["watermark"].as_str().unwrap().to_string();
    assert!(watermark < canonical(&Utc::now().to_rfc3339()), "the watermark stays behind now: {watermark}");
    let mut later = data.incidents[1].clone();
    later["id"] = json!("990021");
    later["alerts"] = json!([]);
    set_time(&mut later, Utc::now());
    w.emulator.upsert_incident(&data.tenant_id, later.clone());
    assert!(w.poll(std::slice::from_ref(&t)).await[0].ok());
    let mut all = data.incidents.clone();
    all.extend([future, later]);
    assert_eq!(sorted(w.records("incident")), expected(&all), "each exactly once, the later one included");
}

#[tokio::test]
async fn a_backfill_in_the_future_is_a_config_error() {
    let w = World::new().await;
    let data = demo::generate_tenant(36, 3, Utc::now());
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("ahead", &data, &w.emulator, &[("backfill", "2099-01-01T00:00:00Z")]));
    match w.poll(&[t]).await[0].first_error() {
        Some(connector_host::poll::PollError::Connector(connector_host::bindings::ConnectorError::Config(c))) => {
            assert_eq!(c.key, "backfill");
            assert!(c.message.starts_with("`2099-01-01T00:00:00.0000000Z` is in the future"), "{}", c.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(w.records("incident").is_empty());
}
