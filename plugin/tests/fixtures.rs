//! The connector logic against Microsoft's documented bodies from `../shared/fixtures/graph`,
//! served unchanged by a scripted in-memory transport.

use defender_connector::auth::TokenCache;
use defender_connector::config::Settings;
use defender_connector::connector::{Clock, Connector};
use defender_connector::error::ConnectorError;
use defender_connector::http::{HttpClient, Method, Request, Response, TransportError};
use defender_connector::records::{self, EvidenceSummary};
use defender_connector::time::Timestamp;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/graph").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} is required by this test: {e}", path.display()))
}

fn items(page: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(page).unwrap();
    v["value"].as_array().unwrap().iter().map(|i| i.to_string()).collect()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// Answers requests with a script; records what was asked.
struct Scripted {
    log: Rc<RefCell<Vec<Request>>>,
    answer: Box<dyn FnMut(&Request) -> Response>,
}

impl HttpClient for Scripted {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        self.log.borrow_mut().push(request.clone());
        Ok((self.answer)(request))
    }
}

#[derive(Clone)]
struct TestClock(Rc<Cell<i64>>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.0.get(), 0)
    }
}

fn ok(body: &str) -> Response {
    Response { status: 200, headers: vec![], body: body.as_bytes().to_vec() }
}

fn status(code: u16, body: &str) -> Response {
    Response { status: code, headers: vec![], body: body.as_bytes().to_vec() }
}

fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut map: BTreeMap<String, String> = [
        ("tenant-id", "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"),
        ("client-id", "00000000-0000-4000-8000-0000000000a1"),
        ("client-secret", "fixture-secret"),
        ("backfill", "2020-01-01T00:00:00Z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        map.insert(k.to_string(), v.to_string());
    }
    Settings::load(&map).unwrap()
}

struct Harness {
    log: Rc<RefCell<Vec<Request>>>,
    clock: TestClock,
    tokens: TokenCache,
    settings: Settings,
}

impl Harness {
    fn new(extra: &[(&str, &str)]) -> Self {
        Harness {
            log: Rc::default(),
            clock: TestClock(Rc::new(Cell::new(1_800_000_000))), // 2027-01-15, after every fixture
            tokens: TokenCache::default(),
            settings: settings(extra),
        }
    }

    fn connector(&mut self, answer: impl FnMut(&Request) -> Response + 'static) -> Connector<'_, Scripted, TestClock> {
        Connector {
            http: Scripted { log: self.log.clone(), answer: Box::new(answer) },
            clock: self.clock.clone(),
            settings: self.settings.clone(),
            tokens: &mut self.tokens,
        }
    }

    fn token_requests(&self) -> usize {
        self.log.borrow().iter().filter(|r| r.url.contains("/oauth2/v2.0/token")).count()
    }

    fn graph_requests(&self) -> Vec<Request> {
        self.log.borrow().iter().filter(|r| r.url.contains("/v1.0/")).cloned().collect()
    }
}

fn is_token(r: &Request) -> bool {
    r.method == Method::Post && r.url.ends_with("/oauth2/v2.0/token")
}

#[test]
fn incident_with_alerts_normalises_to_exact_values() {
    let raw = &items(&fixture("incident-with-alerts.json"))[0];
    let i = records::incident_from_raw(raw).unwrap();
    assert_eq!(i.id, "2972395");
    assert_eq!(
        i.title,
        "Multi-stage incident involving Initial access & Command and control on multiple endpoints reported by multiple sources"
    );
    assert_eq!(i.severity, "medium");
    assert_eq!(i.score, 40);
    assert_eq!(i.status, "active");
    assert_eq!(i.classification.as_deref(), Some("truePositive"));
    assert_eq!(i.determination.as_deref(), Some("multiStagedAttack"));
    assert_eq!(i.created, ts("2021-08-13T08:43:35.5533333Z"));
    assert_eq!(i.created.nanos, 553_333_300);
    assert_eq!(i.last_updated.canonical(), "2021-09-30T09:35:45.1133333Z");
    assert_eq!(i.assigned_to.as_deref(), Some("KaiC@contoso.onmicrosoft.com"));
    assert_eq!(
        i.web_url.as_deref(),
        Some("https://security.microsoft.com/incidents/2972395?tid=12f988bf-16f1-11af-11ab-1d7cd011db47")
    );
    assert_eq!(i.alert_ids, vec!["da637551227677560813_-961444813"]);
    assert_eq!(i.service_sources, vec!["microsoftDefenderForEndpoint"]);
    assert_eq!(i.detection_sources, vec!["antivirus"]);
    assert_eq!(i.mitre_techniques, vec!["T1564.001"]);
    assert_eq!(i.redirect_incident_id, None);
    assert_eq!(
        i.evidence,
        EvidenceSummary {
            devices: vec!["tempDns".into()],
            files: vec!["MsSense.exe".into()],
            other: 2,
            ..Default::default()
        }
    );
    let back: serde_json::Value = serde_json::from_str(&i.raw).unwrap();
    assert_eq!(back["alerts"][0]["evidence"][3]["registryHive"], "HKEY_LOCAL_MACHINE", "raw keeps everything");
}

#[test]
fn pascal_case_enums_from_the_doc_example_are_accepted() {
    let raw = &items(&fixture("incidents-page2.json"))[0];
    let i = records::incident_from_raw(raw).unwrap();
    assert_eq!(i.severity, "Medium", "severity is kept as received");
    assert_eq!(i.score, 40);
    assert_eq!(i.status, "active");
    assert_eq!(i.classification.as_deref(), Some("truePositive"));
    assert_eq!(i.determination.as_deref(), Some("multiStagedAttack"));
    assert!(i.alert_ids.is_empty(), "no $expand in this example: no alerts, not an error");
    assert_eq!(i.evidence, EvidenceSummary::default());
}

#[test]
fn alerts_normalise_to_exact_values() {
    let a = records::alert_from_raw(&items(&fixture("alerts_v2-list.json"))[0]).unwrap();
    assert_eq!(a.id, "da637551227677560813_-961444813");
    assert_eq!(a.title, "Suspicious execution of hidden file");
    assert_eq!((a.severity.as_str(), a.score, a.status.as_str()), ("low", 10, "new"));
    assert_eq!(a.classification.as_deref(), Some("unknown"));
    assert_eq!(a.created.canonical(), "2021-04-27T12:19:27.7211305Z");
    assert_eq!(a.last_updated.canonical(), "2021-05-02T14:19:01.3266667Z");
    assert_eq!(a.incident_id.as_deref(), Some("28282"));
    assert_eq!(a.service_source.as_deref(), Some("microsoftDefenderForEndpoint"));
    assert_eq!(a.detection_source.as_deref(), Some("antivirus"));
    assert_eq!(
        a.evidence,
        EvidenceSummary {
            devices: vec!["tempDns".into()],
            files: vec!["MsSense.exe".into()],
            other: 2,
            ..Default::default()
        }
    );

    let b = records::alert_from_raw(
        &serde_json::from_str::<serde_json::Value>(&fixture("alert-get.json")).unwrap().to_string(),
    )
    .unwrap();
    assert_eq!(b.id, "da637578995287051192_756343937");
    assert_eq!(b.score, 10);

    let e = records::alert_from_raw(fixture("alert-with-evidence.json").trim()).unwrap();
    assert_eq!(e.id, "daefa1828b-dd4e-405c-8a3b-aa28596830dd_1");
    assert_eq!((e.severity.as_str(), e.score), ("medium", 40));
    assert_eq!(e.classification, None, "null stays null");
    assert_eq!(e.created.canonical(), "2023-10-20T09:53:09.8839373Z");
    assert_eq!(e.last_updated.canonical(), "2023-10-20T09:54:07.5033333Z");
    assert_eq!(e.mitre_techniques, vec!["T1059.001"]);
    assert_eq!(
        e.evidence,
        EvidenceSummary {
            devices: vec!["clw555test".into()],
            users: vec!["AzureAD\\CDPUserIS-38411".into()],
            ips: vec!["127.0.0.1".into()],
            urls: vec!["http://127.0.0.1/1.exe".into()],
            other: 1,
            ..Default::default()
        }
    );
}

#[test]
fn incident_pages_follow_the_opaque_next_link_with_one_token() {
    let (page1, page2, token) =
        (fixture("incidents-page1.json"), fixture("incidents-page2.json"), fixture("token-response.json"));
    let mut h = Harness::new(&[]);
    let mut c = h.connector(move |r| {
        if is_token(r) {
            ok(&token)
        } else if r.url == "https://graph.microsoft.com/v1.0/security/incidents?$skip=2" {
            ok(&page2)
        } else {
            ok(&page1)
        }
    });
    let first = c.fetch_incidents(None, None, 0).unwrap();
    assert!(first.more);
    let second = c.fetch_incidents(Some(&first.next_cursor), None, 0).unwrap();
    assert!(!second.more);
    let ids: Vec<_> = first.records.iter().chain(&second.records).map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec!["12345", "12346", "2972395"]);
    assert_eq!(first.records[0].last_updated.canonical(), "2024-03-26T13:35:45.2300000Z");
    assert_eq!(
        (first.records[1].severity.as_str(), first.records[1].score, first.records[1].status.as_str()),
        ("informational", 0, "resolved")
    );
    drop(c);
    assert_eq!(h.token_requests(), 1);
    let graph = h.graph_requests();
    assert_eq!(graph.len(), 2);
    assert_eq!(
        graph[0].url,
        "https://graph.microsoft.com/v1.0/security/incidents?$expand=alerts&$filter=lastUpdateDateTime+ge+2020-01-01T00%3A00%3A00.0000000Z&$top=50"
    );
    assert_eq!(graph[1].url, "https://graph.microsoft.com/v1.0/security/incidents?$skip=2");
    for r in &graph {
        assert_eq!(r.header_value("prefer"), Some("include-unknown-enum-members"));
        assert!(r.header_value("authorization").unwrap().starts_with("Bearer eyJ0eXAi"));
    }
    // The scan ended: the next one starts at the newest version seen, which the boundary covers.
    let again = {
        let p2 = fixture("incidents-page2.json");
        let token = fixture("token-response.json");
        let mut c = h.connector(move |r| if is_token(r) { ok(&token) } else { ok(&p2) });
        c.fetch_incidents(Some(&second.next_cursor), None, 0).unwrap()
    };
    assert!(again.records.is_empty(), "the boundary record is not emitted twice");
    assert!(
        h.graph_requests()[2].url.contains("lastUpdateDateTime+ge+2024-03-26T13%3A25%3A45.2300000Z"),
        "ten minutes of look-back before the newest version"
    );
}

#[test]
fn token_is_reused_across_calls_and_refreshed_shortly_before_expiry() {
    let (page, token, alerts) =
        (fixture("incidents-page2.json"), fixture("token-response.json"), fixture("alerts_v2-list.json"));
    let mut h = Harness::new(&[]);
    let clock = h.clock.clone();
    {
        let (page, token) = (page.clone(), token.clone());
        let mut c = h.connector(move |r| {
            if is_token(r) {
                ok(&token)
            } else if r.url.contains("alerts_v2") {
                ok(&alerts)
            } else {
                ok(&page)
            }
        });
        assert_eq!(c.fetch_incidents(None, None, 0).unwrap().records.len(), 1);
        assert_eq!(c.fetch_alerts(None, None).unwrap().records.len(), 1);
    }
    assert_eq!(h.token_requests(), 1);
    clock.0.set(clock.0.get() + 3599 - 301);
    {
        let (page, token) = (page.clone(), token.clone());
        let mut c = h.connector(move |r| if is_token(r) { ok(&token) } else { ok(&page) });
        c.fetch_incidents(None, None, 0).unwrap();
    }
    assert_eq!(h.token_requests(), 1, "still more than five minutes left");
    clock.0.set(clock.0.get() + 2);
    {
        let mut c = h.connector(move |r| if is_token(r) { ok(&token) } else { ok(&page) });
        c.fetch_incidents(None, None, 0).unwrap();
    }
    assert_eq!(h.token_requests(), 2, "refreshed inside the last five minutes");
}

#[test]
fn expires_in_as_a_numeric_string_and_ext_expires_in_are_accepted() {
    let mut h = Harness::new(&[]);
    let body = fixture("token-response-ext-expires.json");
    let info = h.connector(move |_| ok(&body)).authenticate().unwrap();
    assert_eq!(info.expires_in_seconds, 3599);
    assert!(info.roles.is_empty(), "the doc's token is truncated, not a JWT");
    let mut h = Harness::new(&[]);
    let info = h
        .connector(|_| ok(r#"{"token_type":"Bearer","expires_in":"3599","access_token":"x.eyJyb2xlcyI6WyJTZWN1cml0eUFsZXJ0LlJlYWQuQWxsIl19.y"}"#))
        .authenticate()
        .unwrap();
    assert_eq!(info.expires_in_seconds, 3599);
    assert_eq!(info.roles, vec!["SecurityAlert.Read.All"]);
}

fn auth_error(name: &str, http: u16) -> (Option<String>, String, String) {
    let body = fixture(name);
    let mut h = Harness::new(&[]);
    match h.connector(move |_| status(http, &body)).authenticate().unwrap_err() {
        ConnectorError::Auth { code, error, message } => (code, error, message),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn sign_in_errors_carry_the_aadsts_code_and_a_sentence_to_act_on() {
    let (code, error, message) = auth_error("token-error-invalid-secret.json", 401);
    assert_eq!((code.as_deref(), error.as_str()), (Some("AADSTS7000215"), "invalid_client"));
    assert_eq!(
        message,
        "The client secret is wrong. In the app registration's Certificates & secrets page, create or copy a client secret and paste its Value (not its Secret ID)."
    );
    let (code, _, message) = auth_error("token-error-expired-secret.json", 401);
    assert_eq!(code.as_deref(), Some("AADSTS7000222"));
    assert!(message.starts_with("The client secret has expired."), "{message}");
    let (code, error, message) = auth_error("token-error-app-not-found.json", 400);
    assert_eq!((code.as_deref(), error.as_str()), (Some("AADSTS700016"), "unauthorized_client"));
    assert!(message.starts_with("No application with client ID 00000000-0000-4000-8000-0000000000a1 exists in tenant b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c."), "{message}");
    let (code, _, message) = auth_error("token-error-tenant-not-found.json", 400);
    assert_eq!(code.as_deref(), Some("AADSTS90002"));
    assert!(
        message.starts_with(
            "Tenant b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c was not found at https://login.microsoftonline.com."
        ),
        "{message}"
    );
    let (code, error, _) = auth_error("token-error-invalid-scope.json", 400);
    assert_eq!((code.as_deref(), error.as_str()), (Some("AADSTS70011"), "invalid_scope"));
}

#[test]
fn a_secret_id_pasted_instead_of_the_value_is_pointed_out() {
    let body = fixture("token-error-invalid-secret.json");
    let mut h = Harness::new(&[("client-secret", "3f2a1b4c-0000-4000-8000-00000000abcd")]);
    let ConnectorError::Auth { message, .. } = h.connector(move |_| status(401, &body)).authenticate().unwrap_err()
    else {
        panic!()
    };
    assert!(
        message
            .ends_with("The value entered looks like a secret ID (a GUID): paste the secret's Value column instead."),
        "{message}"
    );
    assert!(!message.contains("3f2a1b4c"), "the secret itself is never echoed");
}

#[test]
fn forbidden_names_the_missing_permission() {
    let (forbidden, token) = (fixture("error-403-forbidden.json"), fixture("token-response.json"));
    let mut h = Harness::new(&[]);
    let err = h
        .connector(move |r| if is_token(r) { ok(&token) } else { status(403, &forbidden) })
        .fetch_incidents(None, None, 0)
        .unwrap_err();
    match err {
        ConnectorError::Permission { permission, message } => {
            assert_eq!(permission, "SecurityIncident.Read.All");
            assert!(message.contains("admin consent has not been granted"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn top_limit_from_the_service_is_learned_and_the_page_retried() {
    let (too_big, token, page) =
        (fixture("error-400-top-exceeded.json"), fixture("token-response.json"), fixture("alerts_v2-list.json"));
    let mut h = Harness::new(&[("alerts-page-size", "100")]);
    let result = h
        .connector(move |r| {
            if is_token(r) {
                ok(&token)
            } else if r.url.ends_with("$top=100") {
                status(400, &too_big)
            } else {
                ok(&page)
            }
        })
        .fetch_alerts(None, None)
        .unwrap();
    assert_eq!(result.records.len(), 1);
    let urls: Vec<_> = h.graph_requests().into_iter().map(|r| r.url).collect();
    assert_eq!(urls.len(), 2);
    assert!(urls[0].ends_with("&$top=100") && urls[1].ends_with("&$top=50"), "{urls:?}");
    let cursor: serde_json::Value = serde_json::from_str(&result.next_cursor).unwrap();
    assert_eq!(cursor["top_limit"], 50, "remembered for the next polls");
}

#[test]
fn throttling_and_expired_tokens() {
    let (throttled, token) = (fixture("error-429.json"), fixture("token-response.json"));
    let mut h = Harness::new(&[]);
    let err = h
        .connector(move |r| {
            if is_token(r) {
                ok(&token)
            } else {
                Response {
                    status: 429,
                    headers: vec![("Retry-After".into(), "10".into())],
                    body: throttled.clone().into_bytes(),
                }
            }
        })
        .fetch_incidents(None, None, 0)
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Throttled { retry_after_ms: Some(10_000), .. }), "{err:?}");

    // A 401 mid-paging: one new token, the same page again, no restart.
    let (expired, token, page) =
        (fixture("error-401-invalid-token.json"), fixture("token-response.json"), fixture("incidents-page2.json"));
    let mut h = Harness::new(&[]);
    let mut first_graph = true;
    let page_result = h
        .connector(move |r| {
            if is_token(r) {
                ok(&token)
            } else if std::mem::take(&mut first_graph) {
                status(401, &expired)
            } else {
                ok(&page)
            }
        })
        .fetch_incidents(None, None, 0)
        .unwrap();
    assert_eq!(page_result.records.len(), 1);
    assert_eq!(h.token_requests(), 2);
    let graph = h.graph_requests();
    assert_eq!(graph[0].url, graph[1].url);
}

#[test]
fn malformed_pages_are_invalid_responses() {
    let token = fixture("token-response.json");
    let mut h = Harness::new(&[]);
    let err = h
        .connector(move |r| {
            if is_token(r) {
                ok(&token)
            } else {
                ok(r#"{"value":[{"id":"1","lastUpdateDateTime":"2024-01-01T00:00:00Z"}"#)
            }
        })
        .fetch_incidents(None, None, 0)
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::InvalidResponse { status: 200, message } if message.contains("not valid Graph JSON")),
        "{err:?}"
    );
}

/// (id, severity, score, status, created, last updated, [devices, users, ips, files, urls, mailboxes, other], alerts)
type Expected = (&'static str, &'static str, u8, &'static str, &'static str, &'static str, [usize; 7], usize);

fn counts(e: &EvidenceSummary) -> [usize; 7] {
    [e.devices.len(), e.users.len(), e.ips.len(), e.files.len(), e.urls.len(), e.mailboxes.len(), e.other as usize]
}

#[test]
fn every_documented_incident_normalises() {
    let cases: &[(&str, Option<usize>, Expected)] = &[
        (
            "incidents-page1.json",
            Some(0),
            (
                "12345",
                "medium",
                40,
                "active",
                "2024-03-26T13:34:15.0433333Z",
                "2024-03-26T13:35:45.2300000Z",
                [0; 7],
                0,
            ),
        ),
        (
            "incidents-page1.json",
            Some(1),
            (
                "12346",
                "informational",
                0,
                "resolved",
                "2024-03-26T13:16:45.3466667Z",
                "2024-03-26T13:31:46.5066667Z",
                [0; 7],
                0,
            ),
        ),
        (
            "incidents-page2.json",
            Some(0),
            (
                "2972395",
                "Medium",
                40,
                "active",
                "2021-08-13T08:43:35.5533333Z",
                "2021-09-30T09:35:45.1133333Z",
                [0; 7],
                0,
            ),
        ),
        (
            "incident-with-alerts.json",
            Some(0),
            (
                "2972395",
                "medium",
                40,
                "active",
                "2021-08-13T08:43:35.5533333Z",
                "2021-09-30T09:35:45.1133333Z",
                [1, 0, 0, 1, 0, 0, 2],
                1,
            ),
        ),
        (
            "update-incident-response.json",
            None,
            (
                "2972395",
                "Medium",
                40,
                "active",
                "2021-08-13T08:43:35.5533333Z",
                "2021-09-30T09:35:45.1133333Z",
                [0; 7],
                0,
            ),
        ),
        (
            "update-incident-response-observed.json",
            None,
            (
                "12345",
                "medium",
                40,
                "redirected",
                "2024-03-13T15:05:19.5066667Z",
                "2024-03-13T15:22:26.2766667Z",
                [0; 7],
                0,
            ),
        ),
    ];
    for (file, index, (id, severity, score, status, created, updated, evidence, alerts)) in cases {
        let text = fixture(file);
        let raw = match index {
            Some(i) => items(&text)[*i].clone(),
            None => text,
        };
        let i = records::incident_from_raw(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            (
                i.id.as_str(),
                i.severity.as_str(),
                i.score,
                i.status.as_str(),
                i.created.canonical(),
                i.last_updated.canonical(),
                counts(&i.evidence),
                i.alert_ids.len()
            ),
            (*id, *severity, *score, *status, created.to_string(), updated.to_string(), *evidence, *alerts),
            "{file}"
        );
    }
    let merged = records::incident_from_raw(&fixture("update-incident-response-observed.json")).unwrap();
    assert_eq!(merged.redirect_incident_id.as_deref(), Some("1234"), "a merged incident says where it went");
}

#[test]
fn every_documented_alert_normalises() {
    let get = serde_json::from_str::<serde_json::Value>(&fixture("alert-get.json")).unwrap().to_string();
    let cases: Vec<(String, Expected)> = vec![
        (
            items(&fixture("alerts_v2-list.json"))[0].clone(),
            (
                "da637551227677560813_-961444813",
                "low",
                10,
                "new",
                "2021-04-27T12:19:27.7211305Z",
                "2021-05-02T14:19:01.3266667Z",
                [1, 0, 0, 1, 0, 0, 2],
                0,
            ),
        ),
        (
            get,
            (
                "da637578995287051192_756343937",
                "low",
                10,
                "new",
                "2021-04-27T12:19:27.7211305Z",
                "2021-05-02T14:19:01.3266667Z",
                [1, 0, 0, 1, 0, 0, 2],
                0,
            ),
        ),
        (
            fixture("alert-with-evidence.json"),
            (
                "daefa1828b-dd4e-405c-8a3b-aa28596830dd_1",
                "medium",
                40,
                "new",
                "2023-10-20T09:53:09.8839373Z",
                "2023-10-20T09:54:07.5033333Z",
                [1, 1, 1, 0, 1, 0, 1],
                0,
            ),
        ),
    ];
    for (raw, (id, severity, score, status, created, updated, evidence, _)) in cases {
        let a = records::alert_from_raw(raw.trim()).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            (
                a.id.as_str(),
                a.severity.as_str(),
                a.score,
                a.status.as_str(),
                a.created.canonical(),
                a.last_updated.canonical(),
                counts(&a.evidence)
            ),
            (id, severity, score, status, created.to_string(), updated.to_string(), evidence),
        );
    }
}
