//! Odd but legal data: unknown enum members at any depth, numeric enums, nulls and missing arrays,
//! incidents without alerts, evidence types we do not model, merged (redirected) incidents. Every
//! record is kept, none drops its page, and the raw JSON is Microsoft's object unchanged.

use connector_tests::{World, tenant};
use graph_emulator::{Fault, Route, TenantData};
use serde_json::{Value, json};

const PAGE: &str = r##"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#security/incidents","value":[
 {"id":"5001","displayName":"Future enums everywhere","status":"someFutureStatus","severity":"someFutureSeverity",
  "classification":"unknownFutureValue","determination":"aBrandNewDetermination",
  "createdDateTime":"2026-12-01T10:00:00Z","lastUpdateDateTime":"2026-12-01T10:00:00.1Z",
  "alerts":[{"id":"a-5001","severity":"high","status":"somethingNew","serviceSource":"microsoftSomethingNew",
    "detectionSource":"brandNewSource","mitreTechniques":null,
    "evidence":[{"@odata.type":"#microsoft.graph.security.quantumEvidence","remediationStatus":"teleported",
      "verdict":"nobodyKnows","roles":["somethingElse"],"detailedRoles":null},
     {"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"203.0.113.9","remediationStatus":"neverHeardOf"}]}]},
 {"id":5002,"displayName":"Numeric enums","status":"2","severity":3,"classification":"1","determination":null,
  "createdDateTime":"2026-12-01T10:00:00Z","lastUpdateDateTime":"2026-12-01T10:00:00.12Z",
  "alerts":null,"tags":null,"comments":null,"customTags":null},
 {"id":"5003","lastUpdateDateTime":"2026-12-01T10:00:00.123+00:00"},
 {"id":"5004","displayName":"Merged away","status":"redirected","redirectIncidentId":"5001","severity":"low",
  "createdDateTime":"2026-12-01T09:00:00Z","lastUpdateDateTime":"2026-12-01T10:00:00.1234567Z","alerts":[]}
]}"##;

#[tokio::test]
async fn odd_records_are_all_kept_with_exact_fields() {
    let w = World::new().await;
    let data = TenantData::new("9a0e3c55-9f1f-4f0e-8d5e-0000000000dd", "00000000-0000-4000-8000-0000000000dd", "s");
    w.emulator.add_tenant(data.clone());
    w.emulator.push_fault(Fault::body(Route::Incidents, PAGE));
    let t = w.prepare(&tenant("odd", &data, &w.emulator, &[("backfill", "2026-11-01T00:00:00Z")]));
    let r = w.poll(&[t]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    let lines = w.lines();
    let get = |id: &str| lines.iter().find(|l| l["id"] == id).unwrap_or_else(|| panic!("incident {id} missing"));
    let fields = |l: &Value| {
        json!({
            "version": l["version"], "status": l["status"], "severity": l["severity"], "score": l["score"],
            "classification": l["classification"], "determination": l["determination"],
            "alert_ids": l["alert_ids"], "evidence": l["evidence"],
            "service_sources": l["service_sources"], "detection_sources": l["detection_sources"],
            "redirect_incident_id": l["redirect_incident_id"],
        })
    };
    let empty = json!({"devices":[],"users":[],"ips":[],"files":[],"urls":[],"mailboxes":[],"other":0});
    assert_eq!(lines.len(), 4);
    assert_eq!(
        fields(get("5001")),
        json!({
            "version": "2026-12-01T10:00:00.1000000Z", "status": "someFutureStatus",
            "severity": "someFutureSeverity", "score": 40, "classification": "unknownFutureValue",
            "determination": "aBrandNewDetermination", "alert_ids": ["a-5001"],
            "evidence": {"devices":[],"users":[],"ips":["203.0.113.9"],"files":[],"urls":[],"mailboxes":[],"other":1},
            "service_sources": ["microsoftSomethingNew"], "detection_sources": ["brandNewSource"],
            "redirect_incident_id": null,
        })
    );
    assert_eq!(
        fields(get("5002")),
        json!({
            "version": "2026-12-01T10:00:00.1200000Z", "status": "2", "severity": "3", "score": 40,
            "classification": "1", "determination": null, "alert_ids": [], "evidence": empty,
            "service_sources": [], "detection_sources": [], "redirect_incident_id": null,
        })
    );
    assert_eq!(
        fields(get("5003")),
        json!({
            "version": "2026-12-01T10:00:00.1230000Z", "status": "unknown", "severity": "unknown", "score": 40,
            "classification": null, "determination": null, "alert_ids": [], "evidence": empty,
            "service_sources": [], "detection_sources": [], "redirect_incident_id": null,
        })
    );
    assert_eq!(
        fields(get("5004")),
        json!({
            "version": "2026-12-01T10:00:00.1234567Z", "status": "redirected", "severity": "low", "score": 10,
            "classification": null, "determination": null, "alert_ids": [], "evidence": empty,
            "service_sources": [], "detection_sources": [], "redirect_incident_id": "5001",
        })
    );
    let doc: Value = serde_json::from_str(PAGE).unwrap();
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(line["raw"], doc["value"][n], "raw payload of {} unchanged", line["id"]);
    }
    // 0-7 fractional digits compare as instants, not as text: the newest is .1234567.
    let c = w.cursor_json("odd", "incidents");
    assert_eq!(c["watermark"], "2026-12-01T09:50:00.1234567Z");
}

#[tokio::test]
async fn a_lone_surrogate_in_a_title_does_not_stall_the_stream() {
    let w = World::new().await;
    let data = TenantData::new("9a0e3c55-9f1f-4f0e-8d5e-0000000000de", "00000000-0000-4000-8000-0000000000de", "s");
    w.emulator.add_tenant(data.clone());
    let page = r#"{"value":[{"id":"6001","displayName":"Typed in a portal \ud800 here","severity":"low","status":"active",
      "createdDateTime":"2026-12-01T10:00:00Z","lastUpdateDateTime":"2026-12-01T10:00:00Z","alerts":[]}]}"#;
    w.emulator.push_fault(Fault::body(Route::Incidents, page));
    let t = w.prepare(&tenant("surrogate", &data, &w.emulator, &[("backfill", "2026-11-01T00:00:00Z")]));
    let r = w.poll(&[t]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    let lines = w.lines();
    let rec = lines.iter().find(|l| l["id"] == "6001").expect("the record was written");
    assert_eq!(rec["title"], "Typed in a portal \u{fffd} here");
    assert_eq!(rec["raw"]["displayName"], "Typed in a portal \u{fffd} here");
    assert_eq!(rec["score"], 10);
}
