//! Incident updates (Graph and the Defender API, chosen by the granted roles), comments, the
//! concurrency guard, advanced hunting, against the documented bodies in ../shared/fixtures.

use connector_host::analyst::{self, ActionError};
use connector_host::bindings::{ConnectorError, IncidentUpdate, QueryFailure, UpdatePath};
use connector_tests::{World, canonical, fixture, tenant};
use graph_emulator::{DEFENDER_WRITE_ROLE, Fault, FaultResponse, GRAPH_WRITE_ROLE, READ_ROLES, Route, TenantData};
use serde_json::{Value, json};

fn doc_incident() -> Value {
    // The documented incident of the list page (id 2972395), as Graph stores it.
    let page: Value = serde_json::from_str(&fixture("incidents-page2.json")).unwrap();
    page["value"][0].clone()
}

fn data(id: u8, graph_roles: &[&str], defender_roles: &[&str]) -> TenantData {
    let mut d = TenantData::new(
        &format!("00000000-0000-4000-8000-0000000000{id:02x}"),
        &format!("00000000-0000-4000-9000-0000000000{id:02x}"),
        "analyst-secret",
    );
    d.roles = graph_roles.iter().map(|r| r.to_string()).collect();
    d.defender_roles = defender_roles.iter().map(|r| r.to_string()).collect();
    d
}

fn graph_write() -> Vec<&'static str> {
    let mut roles = READ_ROLES.to_vec();
    roles.push(GRAPH_WRITE_ROLE);
    roles
}

fn body_of(w: &World, method: &str, path: &str) -> Vec<Value> {
    w.emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

fn connector_error(e: ActionError) -> ConnectorError {
    match e {
        ActionError::Connector(c) => c,
        other => panic!("expected a connector error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_update_goes_through_graph_when_the_token_has_security_incident_read_write() {
    let w = World::new().await;
    let d = data(1, &graph_write(), &[]);
    w.emulator.add_tenant(d.clone());
    w.emulator.upsert_incident(&d.tenant_id, doc_incident());
    let t = w.prepare(&tenant("graph-writer", &d, &w.emulator, &[]));
    // The documented request (fixture update-incident-request.json), as an analyst gives it.
    let update = IncidentUpdate {
        expected_version: Some("2021-09-30T09:35:45.1133333Z".into()),
        classification: Some("TruePositive".into()),
        determination: Some("MultiStagedAttack".into()),
        custom_tags: Some(vec!["Demo".into()]),
        ..IncidentUpdate::default()
    };
    let r = analyst::update_incident(&w.runtime, &t, "2972395", &update).await.unwrap();
    assert_eq!(r.path, UpdatePath::MicrosoftGraph);
    assert_eq!(r.reason, "the app has the Microsoft Graph permission SecurityIncident.ReadWrite.All");
    // Sent in the schema's camelCase; the documented PascalCase request means the same.
    let sent = body_of(&w, "PATCH", "/v1.0/security/incidents/2972395");
    assert_eq!(
        sent,
        vec![json!({"classification":"truePositive","determination":"multiStagedAttack","customTags":["Demo"]})]
    );
    let stored = w.emulator.incident(&d.tenant_id, "2972395").unwrap();
    assert_eq!(r.incident.as_ref().unwrap().id, "2972395");
    assert_eq!(r.incident.as_ref().unwrap().classification.as_deref(), Some("truePositive"));
    assert_eq!(r.incident.as_ref().unwrap().determination.as_deref(), Some("multiStagedAttack"));
    assert_eq!(r.incident.as_ref().unwrap().version, canonical(stored["lastUpdateDateTime"].as_str().unwrap()));
    assert_ne!(r.incident.as_ref().unwrap().version, "2021-09-30T09:35:45.1133333Z");
    let raw: Value = serde_json::from_str(&r.incident.as_ref().unwrap().raw).unwrap();
    assert_eq!(raw["customTags"], json!(["Demo"]));
    assert!(w.emulator.requests().iter().all(|r| !r.path.starts_with("/api/")), "the Defender API was not used");

    // A comment goes to Graph's comments endpoint and moves the version on.
    let c = analyst::add_comment(&w.runtime, &t, "2972395", "Contained on all devices").await.unwrap();
    assert_eq!(c.path, UpdatePath::MicrosoftGraph);
    assert_eq!(
        body_of(&w, "POST", "/v1.0/security/incidents/2972395/comments"),
        vec![json!({"@odata.type":"microsoft.graph.security.alertComment","comment":"Contained on all devices"})]
    );
    assert!(
        c.incident.as_ref().unwrap().version > r.incident.as_ref().unwrap().version,
        "{} > {}",
        c.incident.as_ref().unwrap().version,
        r.incident.as_ref().unwrap().version
    );
    let stored = w.emulator.incident(&d.tenant_id, "2972395").unwrap();
    assert_eq!(stored["comments"].as_array().unwrap().last().unwrap()["comment"], "Contained on all devices");
}

#[tokio::test]
async fn the_documented_patch_responses_are_accepted_and_the_result_is_the_whole_record() {
    let w = World::new().await;
    let d = data(2, &graph_write(), &[]);
    w.emulator.add_tenant(d.clone());
    let t = w.prepare(&tenant("documented", &d, &w.emulator, &[]));
    for (name, id) in
        [("update-incident-response.json", "2972395"), ("update-incident-response-observed.json", "12345")]
    {
        let documented: Value = serde_json::from_str(&fixture(name)).unwrap();
        w.emulator.upsert_incident(&d.tenant_id, documented.clone());
        w.emulator.push_fault(Fault::body(Route::IncidentUpdate, fixture(name)));
        // A change the stored incident already shows, so reading it back confirms it.
        let assignee = documented["assignedTo"].as_str().unwrap().to_string();
        let update = IncidentUpdate { assigned_to: Some(assignee), ..IncidentUpdate::default() };
        if id == "12345" {
            // The observed answer is a merged incident: changing it is refused, naming where it went
            // (its exact parse is in plugin/tests/fixtures.rs).
            let e = analyst::update_incident(&w.runtime, &t, id, &update).await.unwrap_err();
            match connector_error(e) {
                ConnectorError::InvalidRequest(i) => {
                    assert_eq!(i.message, "incident 12345 was merged into incident 1234: change that one instead")
                }
                other => panic!("{other:?}"),
            }
            continue;
        }
        let r = analyst::update_incident(&w.runtime, &t, id, &update).await.unwrap();
        let i = r.incident.as_ref().unwrap();
        let got = (
            i.id.as_str(),
            i.status.as_str(),
            i.severity.as_str(),
            i.score,
            i.classification.as_deref(),
            i.determination.as_deref(),
            i.assigned_to.as_deref(),
            i.redirect_incident_id.as_deref(),
            i.version.as_str(),
        );
        let expected = if id == "2972395" {
            (
                "2972395",
                "active",
                "Medium",
                40,
                Some("truePositive"),
                Some("multiStagedAttack"),
                Some("KaiC@contoso.onmicrosoft.com"),
                None,
                "2021-09-30T09:35:45.1133333Z",
            )
        } else {
            (
                "12345",
                "redirected",
                "medium",
                40,
                Some("truePositive"),
                Some("unknown"),
                Some("Cortex XSOAR MS Graph Dev"),
                Some("1234"),
                "2024-03-13T15:22:26.2766667Z",
            )
        };
        assert_eq!(got, expected, "{name}");
        // The result is the incident read whole afterwards (as the next poll writes it): every
        // documented field, plus its (here empty) alerts.
        let raw: Value = serde_json::from_str(&i.raw).unwrap();
        for (k, v) in documented.as_object().unwrap().iter().filter(|(k, _)| *k != "@odata.context") {
            assert_eq!(&raw[k], v, "{name}: {k}");
        }
        assert_eq!(raw["alerts"], json!([]), "{name}");
        let reads: Vec<String> = w
            .emulator
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == format!("/v1.0/security/incidents/{id}"))
            .map(|r| r.query.clone())
            .collect();
        assert_eq!(&reads[reads.len() - 2..], ["", "$expand=alerts"], "{name}: the guard read, then the whole record");
    }
}

#[tokio::test]
async fn without_graph_write_the_update_goes_through_the_defender_api() {
    let w = World::new().await;
    let d = data(3, &READ_ROLES, &[DEFENDER_WRITE_ROLE]);
    w.emulator.add_tenant(d.clone());
    w.emulator.upsert_incident(&d.tenant_id, doc_incident());
    let t = w.prepare(&tenant("mtp-writer", &d, &w.emulator, &[]));
    // The values of the documented Defender API request (fixture legacy/update-incident-request.json).
    let update = IncidentUpdate {
        expected_version: Some("2021-09-30T09:35:45.1133333Z".into()),
        status: Some("resolved".into()),
        assigned_to: Some("secop2@contoso.com".into()),
        classification: Some("truePositive".into()),
        determination: Some("malware".into()),
        custom_tags: Some(vec!["Yossi's playground".into(), "Don't mess with the Zohan".into()]),
        resolving_comment: Some("pen testing".into()),
        ..IncidentUpdate::default()
    };
    let r = analyst::update_incident(&w.runtime, &t, "2972395", &update).await.unwrap();
    assert_eq!(r.path, UpdatePath::DefenderApi);
    assert_eq!(
        r.reason,
        "the app has Microsoft Threat Protection Incident.ReadWrite.All but not Microsoft Graph SecurityIncident.ReadWrite.All"
    );
    let documented: Value = serde_json::from_str(&fixture("legacy/update-incident-request.json")).unwrap();
    assert_eq!(body_of(&w, "PATCH", "/api/incidents/2972395"), vec![documented], "the documented body, exactly");
    let scopes: Vec<String> = w
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .filter_map(|r| {
            form_urlencoded::parse(r.body.as_bytes()).find(|(k, _)| k == "scope").map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(
        scopes,
        vec![format!("{}/.default", w.emulator.base_url()), format!("{}/.default", w.emulator.defender_url())]
    );
    let i = r.incident.as_ref().unwrap();
    assert_eq!(
        (i.status.as_str(), i.assigned_to.as_deref(), i.classification.as_deref(), i.determination.as_deref()),
        ("resolved", Some("secop2@contoso.com"), Some("truePositive"), Some("malware"))
    );
    let stored = w.emulator.incident(&d.tenant_id, "2972395").unwrap();
    assert_eq!(i.version, canonical(stored["lastUpdateDateTime"].as_str().unwrap()));
    assert_eq!(stored["customTags"], json!(["Yossi's playground", "Don't mess with the Zohan"]));
    assert_eq!(stored["comments"].as_array().unwrap().last().unwrap()["comment"], "pen testing");

    // Severity is Graph-only: refused before any write, naming the permission that allows it.
    w.emulator.clear_requests();
    let e = analyst::update_incident(
        &w.runtime,
        &t,
        "2972395",
        &IncidentUpdate { severity: Some("high".into()), ..IncidentUpdate::default() },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(connector_error(e), ConnectorError::Permission(p) if p.permission == GRAPH_WRITE_ROLE && p.message.starts_with("the Microsoft 365 Defender API cannot change an incident's severity")),
    );
    assert!(w.emulator.requests().iter().all(|r| r.method != "PATCH"));

    // A comment takes the same path.
    let c = analyst::add_comment(&w.runtime, &t, "2972395", "handed to tier 2").await.unwrap();
    assert_eq!(c.path, UpdatePath::DefenderApi);
    assert_eq!(body_of(&w, "PATCH", "/api/incidents/2972395"), vec![json!({"comment": "handed to tier 2"})]);
}

#[tokio::test]
async fn without_either_write_permission_the_update_names_both() {
    let w = World::new().await;
    let d = data(4, &READ_ROLES, &["Incident.Read.All"]);
    w.emulator.add_tenant(d.clone());
    w.emulator.upsert_incident(&d.tenant_id, doc_incident());
    let t = w.prepare(&tenant("reader", &d, &w.emulator, &[]));
    let e = analyst::update_incident(
        &w.runtime,
        &t,
        "2972395",
        &IncidentUpdate { status: Some("inProgress".into()), ..IncidentUpdate::default() },
    )
    .await
    .unwrap_err();
    match connector_error(e) {
        ConnectorError::Permission(p) => {
            assert_eq!(p.permission, "Incident.ReadWrite.All");
            assert_eq!(
                p.message,
                "Updating incidents needs the application permission Microsoft Threat Protection Incident.ReadWrite.All (what the setup guide asks for) or Microsoft Graph SecurityIncident.ReadWrite.All, with admin consent. The app has, on Microsoft Graph: SecurityIncident.Read.All, SecurityAlert.Read.All, ThreatHunting.Read.All; on Microsoft Threat Protection: Incident.Read.All."
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(w.emulator.requests().iter().all(|r| r.method != "PATCH"));
}

#[tokio::test]
async fn a_concurrent_change_is_refused_and_an_unknown_id_is_not_found() {
    let w = World::new().await;
    let d = data(5, &graph_write(), &[]);
    w.emulator.add_tenant(d.clone());
    w.emulator.upsert_incident(&d.tenant_id, doc_incident());
    let t = w.prepare(&tenant("guarded", &d, &w.emulator, &[]));
    // Another analyst assigns the incident after our analyst read version …45.1133333Z.
    let mut theirs = doc_incident();
    theirs["assignedTo"] = json!("other.analyst@contoso.com");
    theirs["lastUpdateDateTime"] = json!("2021-09-30T10:00:00.25Z");
    w.emulator.upsert_incident(&d.tenant_id, theirs.clone());
    let update = IncidentUpdate {
        expected_version: Some("2021-09-30T09:35:45.1133333Z".into()),
        status: Some("resolved".into()),
        ..IncidentUpdate::default()
    };
    let e = analyst::update_incident(&w.runtime, &t, "2972395", &update).await.unwrap_err();
    match connector_error(e) {
        ConnectorError::Conflict(c) => {
            assert_eq!(c.expected_version, "2021-09-30T09:35:45.1133333Z");
            assert_eq!(c.current_version, "2021-09-30T10:00:00.2500000Z");
            assert_eq!(
                c.message,
                "incident 2972395 changed since version 2021-09-30T09:35:45.1133333Z: it is now at version 2021-09-30T10:00:00.2500000Z (status active, assigned to other.analyst@contoso.com); nothing was changed — re-read it and apply the change again"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(w.emulator.requests().iter().all(|r| r.method != "PATCH"), "nothing was written");
    assert_eq!(w.emulator.incident(&d.tenant_id, "2972395").unwrap(), theirs);

    // With the version the analyst now sees, the same change goes through.
    let update = IncidentUpdate { expected_version: Some("2021-09-30T10:00:00.25Z".into()), ..update };
    let r = analyst::update_incident(&w.runtime, &t, "2972395", &update).await.unwrap();
    assert_eq!(r.incident.as_ref().unwrap().status, "resolved");
    assert_eq!(r.incident.as_ref().unwrap().assigned_to.as_deref(), Some("other.analyst@contoso.com"));

    let e = analyst::update_incident(&w.runtime, &t, "999999", &update).await.unwrap_err();
    assert!(
        matches!(connector_error(e), ConnectorError::NotFound(m) if m.starts_with(&format!("incident 999999 does not exist in tenant {}", d.tenant_id))),
    );
}

#[tokio::test]
async fn an_invalid_classification_determination_pair_is_refused_before_any_request() {
    let w = World::new().await;
    let d = data(6, &graph_write(), &[]);
    w.emulator.add_tenant(d.clone());
    let t = w.prepare(&tenant("pairs", &d, &w.emulator, &[]));
    let update = IncidentUpdate {
        classification: Some("falsePositive".into()),
        determination: Some("malware".into()),
        ..IncidentUpdate::default()
    };
    let e = analyst::update_incident(&w.runtime, &t, "2972395", &update).await.unwrap_err();
    match connector_error(e) {
        ConnectorError::InvalidRequest(i) => {
            assert_eq!(i.field, "determination");
            assert_eq!(
                i.message,
                "`malware` does not go with classification falsePositive; with falsePositive use one of: notMalicious, notEnoughDataToValidate, other"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.emulator.requests(), vec![], "not even a token was requested");
}

#[tokio::test]
async fn hunting_results_are_parsed_exactly_from_the_documented_responses() {
    let w = World::new().await;
    let d = data(7, &READ_ROLES, &[]);
    w.emulator.add_tenant(d.clone());
    let t = w.prepare(&tenant("hunter", &d, &w.emulator, &[]));
    let request: Value = serde_json::from_str(&fixture("hunting-query-request.json")).unwrap();
    let kql = request["Query"].as_str().unwrap();
    w.emulator.set_hunting_result(&d.tenant_id, kql, &fixture("hunting-query-response.json"));
    let r = analyst::hunt(&w.runtime, &t, kql, None).await.unwrap();
    assert_eq!(
        body_of(&w, "POST", "/v1.0/security/runHuntingQuery"),
        vec![request],
        "the documented request, KQL untouched"
    );
    let columns: Vec<(&str, &str)> = r.columns.iter().map(|c| (c.name.as_str(), c.type_.as_str())).collect();
    assert_eq!(columns, [("Timestamp", "DateTime"), ("FileName", "String"), ("InitiatingProcessFileName", "String")]);
    let documented: Value = serde_json::from_str(&fixture("hunting-query-response.json")).unwrap();
    let rows: Vec<Value> = r.rows.iter().map(|row| serde_json::from_str(row).unwrap()).collect();
    assert_eq!(Value::Array(rows), documented["results"]);
    assert!(!r.truncated);

    // With a timespan (documented Example 2) it is its own parameter; the AlertInfo fixture parses.
    w.emulator.clear_requests();
    w.emulator.set_hunting_result(
        &d.tenant_id,
        "DeviceProcessEvents",
        &fixture("hunting-query-response-alertinfo.json"),
    );
    let r = analyst::hunt(&w.runtime, &t, "DeviceProcessEvents", Some("P90D")).await.unwrap();
    let documented: Value = serde_json::from_str(&fixture("hunting-query-request-timespan.json")).unwrap();
    assert_eq!(body_of(&w, "POST", "/v1.0/security/runHuntingQuery"), vec![documented]);
    assert_eq!(
        r.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [
            "Timestamp",
            "AlertId",
            "Title",
            "Category",
            "Severity",
            "ServiceSource",
            "DetectionSource",
            "AttackTechniques"
        ]
    );
    let first: Value = serde_json::from_str(&r.rows[0]).unwrap();
    assert_eq!(first["Timestamp"], "2024-02-28T04:45:11Z");
    assert_eq!(first["ServiceSource"], "Microsoft Data Loss Prevention");
    assert_eq!(r.rows.len(), 2);
}

#[tokio::test]
async fn a_quota_429_and_an_empty_504_are_typed_with_their_request_ids() {
    let w = World::new().await;
    let d = data(8, &READ_ROLES, &[]);
    w.emulator.add_tenant(d.clone());
    let t = w.prepare(&tenant("quota", &d, &w.emulator, &[]));
    let body = fixture("error-429.json");
    let documented_id = serde_json::from_str::<Value>(&body).unwrap()["error"]["innerError"]["request-id"]
        .as_str()
        .unwrap()
        .to_string();
    w.emulator.push_fault(Fault {
        route: Route::Hunting,
        response: FaultResponse::Status { status: 429, headers: vec![("Retry-After".into(), "30".into())], body },
    });
    let e = analyst::hunt(&w.runtime, &t, "AlertInfo | take 10", None).await.unwrap_err();
    match connector_error(e) {
        ConnectorError::Query(q) => {
            assert_eq!((q.kind, q.status, q.retry_after_ms), (QueryFailure::QuotaExceeded, 429, Some(30_000)));
            assert_eq!(q.request_id.as_deref(), Some(documented_id.as_str()));
        }
        other => panic!("{other:?}"),
    }
    w.emulator.push_fault(Fault {
        route: Route::Hunting,
        response: FaultResponse::Status {
            status: 504,
            headers: vec![("request-id".into(), "5e6a0c3e-aaaa-4bbb-8ccc-123456789abc".into())],
            body: r#"{"error":{"code":"","message":""}}"#.into(),
        },
    });
    let e =
        analyst::hunt(&w.runtime, &t, "DeviceEvents | summarize count() by DeviceId", Some("P30D")).await.unwrap_err();
    match connector_error(e) {
        ConnectorError::Query(q) => {
            assert_eq!((q.kind, q.status), (QueryFailure::Timeout, 504));
            assert_eq!(q.request_id.as_deref(), Some("5e6a0c3e-aaaa-4bbb-8ccc-123456789abc"));
            assert!(q.message.starts_with("the query ran out of time in the service (HTTP 504)"), "{}", q.message);
        }
        other => panic!("{other:?}"),
    }

    // Without ThreatHunting.Read.All: a permission error naming it.
    w.emulator.set_roles(&d.tenant_id, vec!["SecurityIncident.Read.All".into()]);
    let t = w.prepare(&tenant("quota-2", &d, &w.emulator, &[]));
    let e = analyst::hunt(&w.runtime, &t, "AlertInfo", None).await.unwrap_err();
    assert!(matches!(connector_error(e), ConnectorError::Permission(p) if p.permission == "ThreatHunting.Read.All"));
}

#[tokio::test]
async fn a_write_the_service_did_not_confirm_is_an_error_and_one_it_did_is_never_reported_as_failed() {
    let w = World::new().await;
    let d = data(9, &READ_ROLES, &[DEFENDER_WRITE_ROLE]);
    w.emulator.add_tenant(d.clone());
    w.emulator.upsert_incident(&d.tenant_id, doc_incident());
    let t = w.prepare(&tenant("unconfirmed", &d, &w.emulator, &[]));
    let update = IncidentUpdate { status: Some("inProgress".into()), ..IncidentUpdate::default() };
    // 200 with an error object instead of the incident: the change may not be in.
    w.emulator
        .push_fault(Fault::body(Route::Defender, r#"{"error":{"code":"InternalError","message":"nothing updated"}}"#));
    let e = analyst::update_incident(&w.runtime, &t, "2972395", &update).await.unwrap_err();
    match connector_error(e) {
        ConnectorError::InvalidResponse(i) => assert_eq!(
            i.message,
            "the Microsoft 365 Defender API answered the update of incident 2972395 without the incident (nothing updated); the change may not be applied — check the incident before repeating it"
        ),
        other => panic!("{other:?}"),
    }
    // The comment is stored, then reading the incident back fails: applied, with a warning
    // (no guard read precedes a comment, so the first Graph read is the read-back).
    w.emulator.push_fault(Fault::status(
        Route::AnyGraph,
        503,
        r#"{"error":{"code":"ServiceUnavailable","message":"try later"}}"#,
    ));
    let r = analyst::add_comment(&w.runtime, &t, "2972395", "contained").await.unwrap();
    assert!(r.incident.is_none());
    assert!(
        r.warning.as_deref().unwrap().starts_with("the change was applied (the Microsoft 365 Defender API acknowledged it), but reading the incident back failed"),
        "{:?}",
        r.warning
    );
    let stored = w.emulator.incident(&d.tenant_id, "2972395").unwrap();
    assert_eq!(stored["comments"].as_array().unwrap().last().unwrap()["comment"], "contained");
}

#[tokio::test]
async fn a_change_the_read_back_does_not_show_is_reported_as_a_conflict() {
    let w = World::new().await;
    let d = data(10, &graph_write(), &[]);
    w.emulator.add_tenant(d.clone());
    w.emulator.upsert_incident(&d.tenant_id, doc_incident());
    let t = w.prepare(&tenant("race", &d, &w.emulator, &[]));
    // The PATCH is acknowledged (with the incident) but not applied, as when another change wins.
    w.emulator.push_fault(Fault::body(Route::IncidentUpdate, doc_incident().to_string()));
    let update = IncidentUpdate {
        expected_version: Some("2021-09-30T09:35:45.1133333Z".into()),
        assigned_to: Some("alice@contoso.com".into()),
        status: Some("inProgress".into()),
        ..IncidentUpdate::default()
    };
    let e = analyst::update_incident(&w.runtime, &t, "2972395", &update).await.unwrap_err();
    match connector_error(e) {
        ConnectorError::Conflict(c) => assert_eq!(
            c.message,
            "Microsoft Graph accepted the change to incident 2972395, but reading it back shows status active instead of inProgress, assigned to KaiC@contoso.onmicrosoft.com instead of alice@contoso.com: another change landed at the same time, or the service ignored part of it; re-read the incident before acting again"
        ),
        other => panic!("{other:?}"),
    }
}
