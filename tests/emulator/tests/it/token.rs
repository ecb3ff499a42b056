//! Entra token endpoint.

use graph_emulator::{Emulator, TenantData, TokenLifetime, jwt_claims};
use serde_json::json;

use crate::client::{CLIENT, SECRET, TENANT, emulator, send, token_request};

fn good<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT),
        ("client_secret", SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ]
}

#[tokio::test]
async fn success_with_number_expires_in_and_claims() {
    let emu = emulator().await;
    let reply = token_request(&emu, TENANT, &good()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json; charset=utf-8"));
    let body = reply.json();
    assert_eq!(body["token_type"], json!("Bearer"));
    assert_eq!(body["expires_in"], json!(3599));
    assert_eq!(body["ext_expires_in"], json!(3599));
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "expires_in", "ext_expires_in", "token_type"]);
    // Entra's key order is kept on the wire.
    assert!(
        reply.body.starts_with(r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"#)
    );

    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    let claims = jwt_claims(token).unwrap();
    assert_eq!(claims["aud"], json!("https://graph.microsoft.com"));
    assert_eq!(claims["iss"], json!(format!("https://sts.windows.net/{TENANT}/")));
    assert_eq!(claims["tid"], json!(TENANT));
    assert_eq!(claims["appid"], json!(CLIENT));
    assert_eq!(claims["idtyp"], json!("app"));
    assert_eq!(claims["ver"], json!("1.0"));
    assert_eq!(
        claims["roles"],
        json!(["SecurityIncident.Read.All", "SecurityAlert.Read.All", "ThreatHunting.Read.All"])
    );
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3599);
    assert_eq!(claims["nbf"], claims["iat"]);

    // Unique per issue.
    let second = token_request(&emu, TENANT, &good()).await.json();
    assert_ne!(second["access_token"], body["access_token"]);
    assert_eq!(emu.token_requests(TENANT), 2);
    assert_eq!(emu.token_requests(&TENANT.to_uppercase()), 2);
    assert_eq!(emu.token_requests("other"), 0);
}

#[tokio::test]
async fn numeric_string_expires_in() {
    let emu = Emulator::start().await.unwrap();
    emu.add_tenant(TenantData {
        token_lifetime: TokenLifetime::NumericString(3599),
        ..TenantData::new(TENANT, CLIENT, SECRET)
    });
    let reply = token_request(&emu, TENANT, &good()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["expires_in"], json!("3599"));
    assert_eq!(reply.json()["ext_expires_in"], json!(3599));
}

#[tokio::test]
async fn no_roles_means_no_roles_claim() {
    let emu = emulator().await;
    emu.set_roles(TENANT, vec![]);
    let token = token_request(&emu, TENANT, &good()).await.json()["access_token"].as_str().unwrap().to_string();
    let claims = jwt_claims(&token).unwrap();
    assert!(claims.get("roles").is_none(), "{claims}");
}

#[tokio::test]
async fn own_scope_basic_auth_and_redacted_log() {
    let emu = emulator().await;
    let scope = format!("{}/.default", emu.base_url());
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"))
    };
    let reply = send(
        "POST",
        &format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()),
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", &format!("Basic {basic}"))],
        &crate::client::form(&[("grant_type", "client_credentials"), ("scope", &scope)]),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let claims = jwt_claims(reply.json()["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["aud"], json!(emu.base_url()));

    token_request(&emu, TENANT, &good()).await;
    let log = emu.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].header("authorization"), Some("Basic ***"));
    assert_eq!(log[1].method, "POST");
    assert_eq!(log[1].path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(log[1].status, 200);
    assert_eq!(
        log[1].body,
        format!(
            "grant_type=client_credentials&client_id={CLIENT}&client_secret=***&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        )
    );
}

/// Checks the Entra error shape, status and exact message text.
async fn expect_error(
    emu: &Emulator,
    tenant: &str,
    pairs: &[(&str, &str)],
    status: u16,
    error: &str,
    code: u64,
    text: &str,
) {
    let reply = token_request(emu, tenant, pairs).await;
    assert_eq!(reply.status, status, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], json!(error));
    assert_eq!(body["error_codes"], json!([code]));
    assert_eq!(body["error_uri"], json!(format!("https://login.microsoftonline.com/error?code={code}")));
    let trace = body["trace_id"].as_str().unwrap();
    let correlation = body["correlation_id"].as_str().unwrap();
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%d %H:%M:%SZ").is_ok(), "{timestamp}");
    assert_eq!(
        body["error_description"],
        json!(format!(
            "AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
        ))
    );
    // Entra's key order is kept on the wire.
    let order = ["error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"];
    let positions: Vec<usize> = order.iter().map(|k| reply.body.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", reply.body);
}

#[tokio::test]
async fn each_token_error() {
    let emu = emulator().await;
    expect_error(
        &emu,
        "no-such-tenant",
        &good(),
        400,
        "invalid_request",
        90002,
        "Tenant 'no-such-tenant' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.",
    )
    .await;

    let mut wrong_client = good();
    wrong_client[1] = ("client_id", "00000000-0000-4000-8000-0000000000a2");
    expect_error(
        &emu,
        TENANT,
        &wrong_client,
        400,
        "unauthorized_client",
        700016,
        &format!("Application with identifier '00000000-0000-4000-8000-0000000000a2' was not found in the directory '{TENANT}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
    )
    .await;

    let mut wrong_secret = good();
    wrong_secret[2] = ("client_secret", "nope");
    expect_error(
        &emu,
        TENANT,
        &wrong_secret,
        401,
        "invalid_client",
        7000215,
        &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{CLIENT}'."),
    )
    .await;

    let mut bad_scope = good();
    bad_scope[3] = ("scope", "https://example.contoso.com/activity.read");
    expect_error(
        &emu,
        TENANT,
        &bad_scope,
        400,
        "invalid_scope",
        70011,
        "The provided value for the input parameter 'scope' isn't valid. The scope https://example.contoso.com/activity.read isn't valid.",
    )
    .await;

    let mut bad_grant = good();
    bad_grant[0] = ("grant_type", "password");
    expect_error(
        &emu,
        TENANT,
        &bad_grant,
        400,
        "unsupported_grant_type",
        70003,
        "The app requested an unsupported grant type 'password'.",
    )
    .await;

    expect_error(
        &emu,
        TENANT,
        &good()[1..],
        400,
        "invalid_request",
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
    )
    .await;

    emu.set_secret_expired(TENANT, true);
    expect_error(
        &emu,
        TENANT,
        &good(),
        401,
        "invalid_client",
        7000222,
        &format!("The provided client secret keys for app '{CLIENT}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."),
    )
    .await;

    assert_eq!(emu.token_requests(TENANT), 6);
    assert_eq!(emu.token_requests("no-such-tenant"), 1);
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 400, 401, 400, 400, 400, 401]);
}

#[tokio::test]
async fn correlation_id_echoes_client_request_id_and_json_body_is_not_read() {
    let emu = emulator().await;
    let reply = send(
        "POST",
        &format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()),
        &[("Content-Type", "application/json"), ("client-request-id", "c0ffee00-0000-4000-8000-000000000001")],
        r#"{"grant_type":"client_credentials"}"#,
    )
    .await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert_eq!(body["error_codes"], json!([900144]));
    assert_eq!(body["correlation_id"], json!("c0ffee00-0000-4000-8000-000000000001"));
}

#[tokio::test]
async fn secret_can_be_rotated() {
    let emu = emulator().await;
    emu.set_client_secret(TENANT, "new-secret");
    assert_eq!(token_request(&emu, TENANT, &good()).await.status, 401);
    let mut rotated = good();
    rotated[2] = ("client_secret", "new-secret");
    assert_eq!(token_request(&emu, TENANT, &rotated).await.status, 200);
}
