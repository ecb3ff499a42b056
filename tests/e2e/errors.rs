//! What goes wrong, said exactly: wrong secret, missing permission, malformed page, egress.

use connector_host::bindings::ConnectorError;
use connector_host::connection_test;
use connector_host::poll::PollError;
use connector_host::runtime::SandboxError;
use connector_tests::{World, fixture, tenant};
use graph_emulator::{Fault, Route, demo};

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_with_the_aadsts_code() {
    let w = World::new().await;
    let mut data = demo::generate_tenant(1, 5, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    data.client_secret = "not-the-secret".into();
    let t = w.prepare(&tenant("wrong", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    match &r[0].incidents.error {
        Some(PollError::Connector(ConnectorError::Auth(a))) => {
            assert_eq!(a.code.as_deref(), Some("AADSTS7000215"));
            assert_eq!(a.error, "invalid_client");
            assert!(a.message.starts_with("The client secret is wrong."), "{}", a.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(r[0].alerts.error.is_none() && r[0].alerts.pages == 0, "alerts are not attempted after a sign-in failure");
    assert_eq!(w.lines().len(), 0);
    assert_eq!(w.cursor("wrong", "incidents"), None);

    let report = connection_test::run(&w.runtime, &w.connector, &t).await;
    assert!(!report.passed());
    assert_eq!(report.checks.len(), 1);
    assert_eq!(report.checks[0].name, "Sign in");
    assert!(
        report.checks[0].detail.starts_with("sign-in failed (AADSTS7000215): The client secret is wrong."),
        "{}",
        report.checks[0].detail
    );
    let text = connection_test::render("wrong", &w.connector, &report);
    assert!(!text.contains("not-the-secret"));
}

#[tokio::test]
async fn a_missing_permission_is_named() {
    let w = World::new().await;
    let data = demo::generate_tenant(2, 5, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    w.emulator.set_roles(&data.tenant_id, vec!["SecurityAlert.Read.All".into()]);
    let t = w.prepare(&tenant("partial", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    match &r[0].incidents.error {
        Some(PollError::Connector(ConnectorError::Permission(p))) => {
            assert_eq!(p.permission, "SecurityIncident.Read.All");
            assert!(p.message.contains("it has: SecurityAlert.Read.All"), "{}", p.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(r[0].alerts.error.is_none(), "{:?}", r[0].alerts.error);
    assert_eq!(r[0].alerts.records, data.alerts.len());
    let report = connection_test::run(&w.runtime, &w.connector, &t).await;
    let names: Vec<(&str, bool)> = report.checks.iter().map(|c| (c.name.as_str(), c.ok)).collect();
    assert_eq!(
        names,
        vec![
            ("Sign in", true),
            ("Admin consent", true),
            ("Read incidents", false),
            ("Read alerts", true),
            ("Advanced hunting", false),
            ("Update incidents", false)
        ]
    );
    assert_eq!(
        report.checks[2].detail,
        "missing the Microsoft Graph application permission SecurityIncident.Read.All: add it under API permissions and grant admin consent"
    );

    w.emulator.set_roles(&data.tenant_id, vec![]);
    let report = connection_test::run(&w.runtime, &w.connector, &t).await;
    assert!(
        report.checks[1]
            .detail
            .starts_with("the token carries no application permissions, so admin consent has not been granted"),
        "{}",
        report.checks[1].detail
    );
}

#[tokio::test]
async fn the_documented_403_body_becomes_a_permission_error() {
    let w = World::new().await;
    let data = demo::generate_tenant(5, 3, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    w.emulator.push_fault(Fault::status(Route::Incidents, 403, fixture("error-403-forbidden.json")));
    let t = w.prepare(&tenant("forbidden", &data, &w.emulator, &[]));
    let r = w.poll(&[t]).await;
    assert!(
        matches!(&r[0].incidents.error, Some(PollError::Connector(ConnectorError::Permission(p))) if p.permission == "SecurityIncident.Read.All"),
        "{:?}",
        r[0].incidents.error
    );
}

#[tokio::test]
async fn a_malformed_page_is_an_invalid_response_and_the_cursor_does_not_move() {
    let w = World::new().await;
    let data = demo::generate_tenant(6, 120, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    let t = w.prepare(&tenant("broken", &data, &w.emulator, &[]));
    // Page 1 is fine, page 2 is cut off mid-object.
    w.emulator.push_fault(Fault::delay(Route::Incidents, std::time::Duration::ZERO));
    w.emulator.push_fault(Fault::body(Route::Incidents, r#"{"value":[{"id":"1","lastUpdateDateTime":"2024-01"#));
    let r = w.poll(std::slice::from_ref(&t)).await;
    match &r[0].incidents.error {
        Some(PollError::Connector(ConnectorError::InvalidResponse(e))) => {
            assert_eq!(e.status, 200);
            assert!(
                e.message.contains("not valid Graph JSON") && e.message.contains("the cursor did not move"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r[0].incidents.records, 50, "the good first page was written");
    let after_page_one = w.cursor("broken", "incidents").unwrap();
    assert!(after_page_one.contains("next_link"), "{after_page_one}");
    // The next poll resumes at page 2 and completes: every incident exactly once.
    let r = w.poll(&[t]).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    let ids: Vec<String> =
        w.lines().iter().filter(|l| l["kind"] == "incident").map(|l| l["id"].as_str().unwrap().to_string()).collect();
    let unique: std::collections::BTreeSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 120);
    assert_eq!(unique.len(), 120);
}

#[tokio::test]
async fn a_host_outside_the_tenants_endpoints_is_refused() {
    let w = World::new().await;
    let data = demo::generate_tenant(8, 60, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    // A hostile or misconfigured server sends the connector to another origin for page 2.
    let port = w.emulator.base_url().rsplit(':').next().unwrap().to_string();
    w.emulator.set_next_link_base(Some(format!("http://localhost:{port}")));
    let t = w.prepare(&tenant("egress", &data, &w.emulator, &[]));
    let r = w.poll(std::slice::from_ref(&t)).await;
    let refused = vec![format!("http://localhost:{port}")];
    for stream in [&r[0].incidents, &r[0].alerts] {
        match &stream.error {
            Some(PollError::Sandbox(SandboxError::EgressDenied { targets })) => assert_eq!(targets, &refused),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(t.denied.load(std::sync::atomic::Ordering::Relaxed), 2, "page 2 of incidents and of alerts");
    let reached: Vec<_> = w.emulator.requests().into_iter().filter(|r| r.path.ends_with("/incidents")).collect();
    assert_eq!(reached.len(), 1, "the refused request never left the sandbox");
}

#[tokio::test]
async fn plain_http_needs_the_tenants_opt_in() {
    let w = World::new().await;
    let data = demo::generate_tenant(9, 1, chrono::Utc::now());
    let mut config = tenant("strict", &data, &w.emulator, &[]);
    config.allow_http = false;
    let err = w.runtime.prepare(&w.connector, &config).err().expect("refused").to_string();
    assert!(err.starts_with("tenant `strict`: setting `login-endpoint`: `http://127.0.0.1:"), "{err}");
    assert!(
        err.ends_with(
            "is plain http; use https, or set allow_http = true for this tenant (meant only for a local emulator)"
        ),
        "{err}"
    );
}

/// The auth error a tenant's poll ends with; alerts are not attempted after a sign-in failure.
async fn sign_in_failure(w: &World, name: &str, data: &graph_emulator::TenantData) -> (String, String, String) {
    let t = w.prepare(&tenant(name, data, &w.emulator, &[]));
    let r = w.poll(&[t]).await;
    assert_eq!(r[0].alerts.pages, 0);
    assert!(w.cursor(name, "incidents").is_none());
    match &r[0].incidents.error {
        Some(PollError::Connector(ConnectorError::Auth(a))) => {
            (a.code.clone().unwrap_or_default(), a.error.clone(), a.message.clone())
        }
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn each_sign_in_failure_names_its_aadsts_code_and_the_fix() {
    let w = World::new().await;
    let now = chrono::Utc::now();

    let expired = demo::generate_tenant(40, 3, now);
    w.emulator.add_tenant(expired.clone());
    w.emulator.set_secret_expired(&expired.tenant_id, true);
    let (code, error, message) = sign_in_failure(&w, "expired", &expired).await;
    assert_eq!((code.as_str(), error.as_str()), ("AADSTS7000222", "invalid_client"));
    assert!(message.starts_with("The client secret has expired. Create a new client secret"), "{message}");

    let mut other_app = demo::generate_tenant(41, 3, now);
    w.emulator.add_tenant(other_app.clone());
    other_app.client_id = "11111111-2222-4333-8444-555555555555".into();
    let (code, error, message) = sign_in_failure(&w, "other-app", &other_app).await;
    assert_eq!((code.as_str(), error.as_str()), ("AADSTS700016", "unauthorized_client"));
    assert!(
        message.starts_with(&format!(
            "No application with client ID 11111111-2222-4333-8444-555555555555 exists in tenant {}.",
            other_app.tenant_id
        )),
        "{message}"
    );

    // Never added to the emulator: Entra does not know the tenant.
    let missing = demo::generate_tenant(42, 3, now);
    let (code, error, message) = sign_in_failure(&w, "missing", &missing).await;
    assert_eq!((code.as_str(), error.as_str()), ("AADSTS90002", "invalid_request"));
    assert!(message.starts_with(&format!("Tenant {} was not found at ", missing.tenant_id)), "{message}");

    // The secret's ID (a GUID) pasted instead of its value.
    let mut pasted_id = demo::generate_tenant(43, 3, now);
    w.emulator.add_tenant(pasted_id.clone());
    pasted_id.client_secret = "0f8fad5b-d9cb-469f-a165-70867728950e".into();
    let (code, _, message) = sign_in_failure(&w, "secret-id", &pasted_id).await;
    assert_eq!(code, "AADSTS7000215");
    assert!(
        message
            .ends_with("The value entered looks like a secret ID (a GUID): paste the secret's Value column instead."),
        "{message}"
    );
    assert!(!message.contains("0f8fad5b"), "the secret is never repeated");
}

#[tokio::test]
async fn a_token_from_another_cloud_is_named_as_such() {
    let w = World::new().await;
    let data = demo::generate_tenant(44, 3, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    let body = r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure. The token signature is invalid.","innerError":{"date":"2025-01-11T19:43:26","request-id":"s-1","client-request-id":"s-1"}}}"#;
    for _ in 0..2 {
        w.emulator.push_fault(Fault::status(Route::Incidents, 401, body));
    }
    let t = w.prepare(&tenant("wrong-cloud", &data, &w.emulator, &[]));
    let r = w.poll(&[t]).await;
    match &r[0].incidents.error {
        Some(PollError::Connector(ConnectorError::Auth(a))) => {
            assert_eq!((a.code.as_deref(), a.error.as_str()), (None, "invalid_token"));
            assert_eq!(
                a.message,
                "Microsoft Graph rejected a freshly issued token (Access token validation failure. The token signature is invalid.). The token was issued by a different cloud than this Graph endpoint: set login-endpoint and graph-endpoint to the same cloud (for example login.microsoftonline.us with graph.microsoft.us for GCC High)."
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.emulator.token_requests(&data.tenant_id), 2, "one refresh, then stop");
    assert_eq!(w.lines().len(), 0);
}

#[tokio::test]
async fn odd_graph_error_bodies_still_surface_status_code_message_and_request_id() {
    let w = World::new().await;
    let data = demo::generate_tenant(45, 3, chrono::Utc::now());
    w.emulator.add_tenant(data.clone());
    // A 400 other than the $top limit, with Microsoft's zone-less date and an empty code.
    w.emulator.push_fault(Fault::status(
        Route::Incidents,
        400,
        r#"{"error":{"code":"","message":"Invalid filter clause","details":[],"innerError":{"date":"2025-01-11T19:43:26","request-id":"q-1","client-request-id":"q-1"}}}"#,
    ));
    // A non-JSON body: the request-id comes from the response header.
    w.emulator.push_fault(Fault {
        route: Route::Alerts,
        response: graph_emulator::FaultResponse::Status {
            status: 409,
            headers: vec![("request-id".into(), "h-9".into()), ("content-type".into(), "text/plain".into())],
            body: "conflict, not JSON".into(),
        },
    });
    let t = w.prepare(&tenant("odd-errors", &data, &w.emulator, &[]));
    let r = w.poll(&[t]).await;
    match &r[0].incidents.error {
        Some(PollError::Connector(ConnectorError::InvalidResponse(e))) => {
            assert_eq!(e.status, 400);
            assert_eq!(
                e.message,
                "Microsoft Graph rejected the incidents query (HTTP 400): Invalid filter clause (request-id q-1)"
            );
        }
        other => panic!("{other:?}"),
    }
    match &r[0].alerts.error {
        Some(PollError::Connector(ConnectorError::InvalidResponse(e))) => {
            assert_eq!(e.status, 409);
            assert_eq!(e.message, "unexpected HTTP 409 to the alerts request: conflict, not JSON (request-id h-9)");
        }
        other => panic!("{other:?}"),
    }
}
