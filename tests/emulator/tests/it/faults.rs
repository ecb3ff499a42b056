//! Queued faults.

use std::time::{Duration, Instant};

use graph_emulator::{Fault, FaultResponse, Route};
use serde_json::json;

use crate::client::{CLIENT, SECRET, TENANT, emulator, get, token_for, token_request};

#[tokio::test]
async fn status_fault_applies_once_with_headers_and_exact_body() {
    let emu = emulator().await;
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    let body = r#"{"error":{"code":"TooManyRequests","message":"Please retry again later."}}"#;
    emu.push_fault(Fault {
        route: Route::Incidents,
        response: FaultResponse::Status {
            status: 429,
            headers: vec![("Retry-After".into(), "2.128".into())],
            body: body.into(),
        },
    });
    // Alerts don't match an Incidents fault.
    assert_eq!(get(&emu, "/v1.0/security/alerts_v2", &token, &[]).await.status, 200);
    let faulted = get(&emu, "/v1.0/security/incidents", &token, &[]).await;
    assert_eq!(faulted.status, 429);
    assert_eq!(faulted.header("retry-after"), Some("2.128"));
    assert_eq!(faulted.header("content-type"), Some("application/json"));
    assert_eq!(faulted.body, body);
    assert_eq!(get(&emu, "/v1.0/security/incidents", &token, &[]).await.status, 200);
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 429, 200]);
}

#[tokio::test]
async fn faults_apply_before_auth_and_in_order() {
    let emu = emulator().await;
    emu.push_fault(Fault::status(Route::AnyGraph, 500, "{}"));
    emu.push_fault(Fault::throttled(Route::AnyGraph, "10"));
    emu.push_fault(Fault::body(Route::Token, "{not json"));
    // The token fault is taken by the token request even though graph faults are queued first.
    let token_reply = token_request(&emu, TENANT, &[("grant_type", "client_credentials")]).await;
    assert_eq!((token_reply.status, token_reply.body.as_str()), (200, "{not json"));
    let first = get(&emu, "/v1.0/security/alerts_v2", "no-token", &[]).await;
    assert_eq!((first.status, first.body.as_str()), (500, "{}"));
    let second = get(&emu, "/v1.0/security/incidents", "no-token", &[]).await;
    assert_eq!(second.status, 429);
    assert_eq!(second.header("retry-after"), Some("10"));
    let body = second.json();
    assert_eq!(body["error"]["code"], json!("TooManyRequests"));
    assert_eq!(body["error"]["message"], json!("Please retry again later."));
    assert_eq!(body["error"]["innerError"]["code"], json!("429"));
    assert_eq!(body["error"]["innerError"]["status"], json!("429"));
    // Queue empty: normal handling (no valid token).
    assert_eq!(get(&emu, "/v1.0/security/incidents", "no-token", &[]).await.status, 401);
    assert_eq!(emu.token_requests(TENANT), 1);
}

#[tokio::test]
async fn delay_fault_then_normal_handling() {
    let emu = emulator().await;
    let token = token_for(&emu, TENANT, CLIENT, SECRET).await;
    emu.push_fault(Fault::delay(Route::Alerts, Duration::from_millis(300)));
    let started = Instant::now();
    let reply = get(&emu, "/v1.0/security/alerts_v2", &token, &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["value"], json!([]));
}

/// Waits up to a second for the listener at `addr` to go away.
async fn refused(addr: &str) -> bool {
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = emulator().await;
    let addr = emu.base_url().trim_start_matches("http://").to_string();
    emu.shutdown();
    emu.shutdown();
    assert!(refused(&addr).await);
}

#[tokio::test]
async fn dropping_the_last_clone_stops_serving() {
    let emu = emulator().await;
    let clone = emu.clone();
    let addr = emu.base_url().trim_start_matches("http://").to_string();
    drop(emu);
    let reply = crate::client::send("GET", &format!("{}/", clone.base_url()), &[], "").await;
    assert_eq!(reply.status, 404);
    drop(clone);
    assert!(refused(&addr).await);
}
