//! Graph security collections: auth, roles, query options, paging, expand, enums.

use graph_emulator::{PageLimits, RequestRecord};
use serde_json::{Value, json};

use crate::client::{CLIENT, SECRET, TENANT, assert_error_date, emulator, get, get_url, send, token_for};

fn incident(id: &str, updated: &str) -> Value {
    json!({"id": id, "status": "active", "severity": "low", "createdDateTime": "2024-03-26T13:00:00Z", "lastUpdateDateTime": updated})
}

fn ids(body: &Value) -> Vec<String> {
    body["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn unauthorized_bodies() {
    let emu = emulator().await;
    let url = format!("{}/v1.0/security/incidents", emu.base_url());

    let missing = send("GET", &url, &[], "").await;
    assert_eq!(missing.status, 401);
    let body = missing.json();
    assert_eq!(body["error"]["code"], json!("InvalidAuthenticationToken"));
    assert_eq!(body["error"]["message"], json!("Access token is empty."));

    let unknown = get_url(&url, "eyJ0eXAiOiJKV1QifQ.e30.c2ln", &[("client-request-id", "abc-123")]).await;
    assert_eq!(unknown.status, 401);
    let body = unknown.json();
    let inner = &body["error"]["innerError"];
    assert_eq!(
        body,
        json!({"error": {
            "code": "InvalidAuthenticationToken",
            "message": "Access token has expired or is not yet valid.",
            "innerError": {"date": inner["date"], "request-id": inner["request-id"], "client-request-id": "abc-123"}
        }})
    );
    assert_error_date(inner["date"].as_str().unwrap());
    assert_eq!(unknown.header("request-id"), inner["request-id"].as_str());
    assert!(unknown.header("www-authenticate").unwrap().starts_with("Bearer realm=\"\""));

    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    assert_eq!(get(&emu, "/v1.0/security/incidents", &token, &[]).await.status, 200);
    emu.expire_tokens(TENANT);
    let expired = get(&emu, "/v1.0/security/incidents", &token, &[]).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["error"]["message"], json!("Access token has expired or is not yet valid."));
}

#[tokio::test]
async fn forbidden_bodies_name_required_and_granted_roles() {
    let emu = emulator().await;
    emu.set_roles(TENANT, vec!["ThreatHunting.Read.All".into(), "SecurityAlert.Read.All".into()]);
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let reply = get(&emu, "/v1.0/security/incidents", &token, &[]).await;
    assert_eq!(reply.status, 403);
    let body = reply.json();
    assert_eq!(body["error"]["code"], json!("Forbidden"));
    assert_eq!(
        body["error"]["message"],
        json!(
            "Missing application roles. API required roles: SecurityIncident.Read.All,SecurityIncident.ReadWrite.All, application roles: ThreatHunting.Read.All,SecurityAlert.Read.All."
        )
    );
    assert_eq!(get(&emu, "/v1.0/security/alerts_v2", &token, &[]).await.status, 200);

    emu.set_roles(TENANT, vec![]);
    let bare = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let reply = get(&emu, "/v1.0/security/incidents", &bare, &[]).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json()["error"]["message"],
        json!(
            "Missing application roles. API required roles: SecurityIncident.Read.All,SecurityIncident.ReadWrite.All, application roles: ."
        )
    );
    // The earlier token keeps the roles it was issued with.
    assert_eq!(get(&emu, "/v1.0/security/alerts_v2", &token, &[]).await.status, 200);
}

#[tokio::test]
async fn top_limit_has_microsofts_exact_body() {
    let emu = emulator().await;
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let reply = get(&emu, "/v1.0/security/incidents?$top=100", &token, &[]).await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    let inner = &body["error"]["innerError"];
    assert_error_date(inner["date"].as_str().unwrap());
    assert_eq!(inner["request-id"], inner["client-request-id"]);
    assert_eq!(
        reply.body,
        format!(
            r#"{{"error":{{"code":"","message":"The query specified in the URI is not valid. The limit of '50' for Top query has been exceeded. The value from the incoming request is '100'.","details":[],"innerError":{{"date":"{}","request-id":"{}","client-request-id":"{}"}}}}}}"#,
            inner["date"].as_str().unwrap(),
            inner["request-id"].as_str().unwrap(),
            inner["client-request-id"].as_str().unwrap()
        )
    );
    assert_eq!(get(&emu, "/v1.0/security/incidents?$top=50", &token, &[]).await.status, 200);
    assert_eq!(get(&emu, "/v1.0/security/alerts_v2?$top=1000", &token, &[]).await.status, 200);
    let alerts = get(&emu, "/v1.0/security/alerts_v2?%24top=1001", &token, &[]).await;
    assert_eq!(
        alerts.json()["error"]["message"],
        json!(
            "The query specified in the URI is not valid. The limit of '1000' for Top query has been exceeded. The value from the incoming request is '1001'."
        )
    );
}

#[tokio::test]
async fn filter_compares_instants_across_fraction_lengths() {
    let emu = emulator().await;
    for (id, updated) in [
        ("1", "2024-03-26T13:35:45Z"),
        ("2", "2024-03-26T13:35:45.23Z"),
        ("3", "2024-03-26T13:35:45.2300001Z"),
        ("4", "2024-03-26T13:35:44.9999999Z"),
        ("5", "2024-03-26T13:35:45.1Z"),
        ("6", "2024-03-26T13:35:45.2Z"),
        ("7", "2024-03-26T13:35:46Z"),
    ] {
        emu.upsert_incident(TENANT, incident(id, updated));
    }
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let list = |q: &'static str| {
        let emu = emu.clone();
        let token = token.clone();
        async move {
            let reply = get(&emu, &format!("/v1.0/security/incidents?$filter={q}"), &token, &[]).await;
            assert_eq!(reply.status, 200, "{q}: {}", reply.body);
            ids(&reply.json())
        }
    };
    // As text, "…45Z" sorts after "…45.2Z"; as instants it is earlier.
    assert_eq!(list("lastUpdateDateTime+ge+2024-03-26T13:35:45.2Z").await, ["7", "3", "2", "6"]);
    assert_eq!(list("lastUpdateDateTime gt 2024-03-26T13:35:45.2Z").await, ["7", "3", "2"]);
    assert_eq!(
        list(
            "lastUpdateDateTime%20ge%202024-03-26T13:35:45Z%20and%20lastUpdateDateTime%20lt%202024-03-26T13:35:45.23Z"
        )
        .await,
        ["6", "5", "1"]
    );
    assert_eq!(list("lastUpdateDateTime le 2024-03-26T13:35:44.999999900Z").await, ["4"]);
    // An offset literal, with '+' sent as %2B.
    assert_eq!(list("lastUpdateDateTime ge 2024-03-26T15:35:46%2B02:00").await, ["7"]);

    let quoted =
        get(&emu, "/v1.0/security/incidents?$filter=lastUpdateDateTime ge '2024-03-26T13:35:45Z'", &token, &[]).await;
    assert_eq!(quoted.status, 400);
    let unsupported = get(&emu, "/v1.0/security/incidents?$filter=startswith(displayName,'x')", &token, &[]).await;
    assert_eq!(unsupported.status, 400);
    assert_eq!(
        unsupported.json()["error"]["message"],
        json!(
            "Invalid filter clause: the emulator does not support 'startswith' in 'startswith(displayName,'x')' (it supports 'and' of property comparisons)."
        )
    );
    let or =
        get(&emu, "/v1.0/security/incidents?$filter=status eq 'active' or status eq 'resolved'", &token, &[]).await;
    assert_eq!(or.status, 400);
    assert_eq!(or.json()["error"]["code"], json!("BadRequest"));
}

#[tokio::test]
async fn order_is_newest_first_with_ties_by_id_descending() {
    let emu = emulator().await;
    for (id, updated) in [
        ("9", "2024-01-01T00:00:01Z"),
        ("10", "2024-01-01T00:00:01Z"),
        ("11", "2024-01-01T00:00:00.5Z"),
        ("8", "2024-01-01T00:00:02Z"),
    ] {
        emu.upsert_incident(TENANT, incident(id, updated));
    }
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let reply = get(&emu, "/v1.0/security/incidents", &token, &[]).await;
    assert_eq!(ids(&reply.json()), ["8", "10", "9", "11"]);
    let asc = get(&emu, "/v1.0/security/incidents?$orderby=lastUpdateDateTime asc", &token, &[]).await;
    assert_eq!(ids(&asc.json()), ["11", "9", "10", "8"]);
}

#[tokio::test]
async fn next_link_paging_to_completion() {
    let emu = emulator().await;
    for i in 0..7 {
        emu.upsert_incident(TENANT, incident(&format!("{}", 100 + i), &format!("2024-01-01T00:00:0{i}.5Z")));
    }
    emu.upsert_incident(TENANT, incident("1", "2023-01-01T00:00:00Z"));
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let filter = "lastUpdateDateTime ge 2024-01-01T00:00:00Z";
    let mut url = format!("{}/v1.0/security/incidents?$top=3&$filter={}", emu.base_url(), filter.replace(' ', "%20"));
    let mut seen = Vec::new();
    let mut links = Vec::new();
    loop {
        let reply = get_url(&url, &token, &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        assert_eq!(body["@odata.context"], json!(format!("{}/v1.0/$metadata#security/incidents", emu.base_url())));
        seen.extend(ids(&body));
        match body.get("@odata.nextLink") {
            Some(next) => {
                url = next.as_str().unwrap().to_string();
                links.push(url.clone());
            }
            None => break,
        }
    }
    assert_eq!(seen, ["106", "105", "104", "103", "102", "101", "100"]);
    assert_eq!(
        links,
        [
            format!(
                "{}/v1.0/security/incidents?$top=3&$filter=lastUpdateDateTime+ge+2024-01-01T00%3A00%3A00Z&$skip=3",
                emu.base_url()
            ),
            format!(
                "{}/v1.0/security/incidents?$top=3&$filter=lastUpdateDateTime+ge+2024-01-01T00%3A00%3A00Z&$skip=6",
                emu.base_url()
            ),
        ]
    );

    // The default page size applies without $top; the nextLink base can point elsewhere.
    emu.set_page_limits(PageLimits { incidents_default_top: 5, ..PageLimits::default() });
    emu.set_next_link_base(Some("http://graph.invalid/".to_string()));
    let reply = get(&emu, "/v1.0/security/incidents?$count=true", &token, &[]).await;
    let body = reply.json();
    assert_eq!(ids(&body).len(), 5);
    assert_eq!(body["@odata.count"], json!(8));
    assert_eq!(body["@odata.nextLink"], json!("http://graph.invalid/v1.0/security/incidents?$count=true&$skip=5"));
    let last = get(&emu, "/v1.0/security/incidents?$skip=5", &token, &[]).await.json();
    assert_eq!(ids(&last), ["101", "100", "1"]);
    assert!(last.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn expand_alerts_embedded_or_linked() {
    let emu = emulator().await;
    let mut embedded = incident("1", "2024-01-01T00:00:02Z");
    embedded["alerts"] = json!([{"id": "da1", "incidentId": "1", "title": "embedded"}]);
    emu.upsert_incident(TENANT, embedded);
    emu.upsert_incident(TENANT, incident("2", "2024-01-01T00:00:01Z"));
    emu.upsert_alert(
        TENANT,
        json!({"id": "da2", "incidentId": "2", "title": "linked", "lastUpdateDateTime": "2024-01-01T00:00:01Z"}),
    );
    emu.upsert_alert(
        TENANT,
        json!({"id": "da3", "incidentId": "3", "title": "other", "lastUpdateDateTime": "2024-01-01T00:00:00Z"}),
    );
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;

    let plain = get(&emu, "/v1.0/security/incidents", &token, &[]).await.json();
    assert!(plain["value"].as_array().unwrap().iter().all(|i| i.get("alerts").is_none()));

    let expanded = get(&emu, "/v1.0/security/incidents?$expand=alerts", &token, &[]).await.json();
    let value = expanded["value"].as_array().unwrap();
    assert_eq!(value[0]["alerts"], json!([{"id": "da1", "incidentId": "1", "title": "embedded"}]));
    assert_eq!(
        value[1]["alerts"],
        json!([{"id": "da2", "incidentId": "2", "title": "linked", "lastUpdateDateTime": "2024-01-01T00:00:01Z"}])
    );

    let for_incident = get(&emu, "/v1.0/security/alerts_v2?$filter=incidentId eq '2'", &token, &[]).await.json();
    assert_eq!(ids(&for_incident), ["da2"]);
    assert_eq!(for_incident["@odata.context"], json!(format!("{}/v1.0/$metadata#security/alerts_v2", emu.base_url())));
    let bad = get(&emu, "/v1.0/security/alerts_v2?$expand=evidence", &token, &[]).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["error"]["message"],
        json!("Could not find a property named 'evidence' on type 'microsoft.graph.security.alert'.")
    );
}

#[tokio::test]
async fn unknown_enum_members_need_prefer_header() {
    let emu = emulator().await;
    let mut waiting = incident("1", "2024-01-01T00:00:00Z");
    waiting["status"] = json!("awaitingAction");
    emu.upsert_incident(TENANT, waiting);
    let alert = json!({
        "id": "da1", "incidentId": "1", "lastUpdateDateTime": "2024-01-01T00:00:00Z",
        "serviceSource": "microsoftSentinel", "detectionSource": "scheduledAlerts",
        "evidence": [{"@odata.type": "#microsoft.graph.security.fileEvidence", "remediationStatus": "pendingApproval"}]
    });
    emu.upsert_alert(TENANT, alert.clone());
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;

    let hidden = get(&emu, "/v1.0/security/incidents?$expand=alerts", &token, &[]).await;
    assert!(hidden.header("preference-applied").is_none());
    let body = hidden.json();
    assert_eq!(body["value"][0]["status"], json!("unknownFutureValue"));
    assert_eq!(body["value"][0]["alerts"][0]["serviceSource"], json!("unknownFutureValue"));
    assert_eq!(body["value"][0]["alerts"][0]["detectionSource"], json!("unknownFutureValue"));
    assert_eq!(body["value"][0]["alerts"][0]["evidence"][0]["remediationStatus"], json!("unknownFutureValue"));

    let prefer = [("Prefer", "include-unknown-enum-members")];
    let shown = get(&emu, "/v1.0/security/incidents", &token, &prefer).await;
    assert_eq!(shown.header("preference-applied"), Some("include-unknown-enum-members"));
    assert_eq!(shown.json()["value"][0]["status"], json!("awaitingAction"));
    let alerts = get(
        &emu,
        "/v1.0/security/alerts_v2",
        &token,
        &[("Prefer", "odata.maxpagesize=10, include-unknown-enum-members")],
    )
    .await;
    assert_eq!(alerts.json()["value"][0], alert);
}

#[tokio::test]
async fn unknown_paths_fail_loudly_and_are_logged() {
    let emu = emulator().await;
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let reply = get(&emu, "/v1.0/security/alerts?$top=5", &token, &[("client-request-id", "r-1")]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], json!("ResourceNotFound"));
    assert_eq!(
        reply.json()["error"]["message"],
        json!(
            "The emulator has no resource for GET /v1.0/security/alerts. It serves POST /{tenant}/oauth2/v2.0/token, GET /v1.0/security/incidents, GET and PATCH /v1.0/security/incidents/{id}, POST /v1.0/security/incidents/{id}/comments, GET /v1.0/security/alerts_v2 and POST /v1.0/security/runHuntingQuery."
        )
    );
    let log: Vec<RequestRecord> = emu.requests();
    let last = log.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.query.as_str(), last.status),
        ("GET", "/v1.0/security/alerts", "$top=5", 404)
    );
    assert_eq!(last.header("client-request-id"), Some("r-1"));
    assert_eq!(last.header("authorization"), Some(format!("Bearer {token}").as_str()));

    let post = send(
        "POST",
        &format!("{}/v1.0/security/incidents", emu.base_url()),
        &[("Authorization", &format!("Bearer {token}"))],
        "{}",
    )
    .await;
    assert_eq!(post.status, 405);
}

#[tokio::test]
async fn select_keeps_only_named_properties() {
    let emu = emulator().await;
    emu.upsert_incident(TENANT, incident("1", "2024-01-01T00:00:00Z"));
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let body = get(&emu, "/v1.0/security/incidents?$select=id,status", &token, &[]).await.json();
    assert_eq!(body["value"], json!([{"id": "1", "status": "active"}]));
}
