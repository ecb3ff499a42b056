//! What a customer meets when setting a tenant up: the "Test" button's verdict per feature, the
//! national cloud presets, and certificate credentials.

use connector_host::bindings::ConnectorError;
use connector_host::config::{SecretSource, TenantConfig};
use connector_host::connection_test;
use connector_tests::{World, tenant};
use graph_emulator::{DEFENDER_WRITE_ROLE, READ_ROLES, TenantData, demo};

const CERT_PEM: &str = include_str!("../fixtures/certificate/cert.pem");
const KEY_PEM: &str = include_str!("../fixtures/certificate/key.pem");

fn tenant_data(index: usize, graph: &[&str], defender: &[&str]) -> TenantData {
    let mut d = demo::generate_tenant(index, 3, chrono::Utc::now());
    d.roles = graph.iter().map(|r| r.to_string()).collect();
    d.defender_roles = defender.iter().map(|r| r.to_string()).collect();
    d
}

/// (feature, ok, detail) of each line.
async fn verdict(w: &World, t: &TenantConfig) -> Vec<(String, bool, String)> {
    let prepared = w.prepare(t);
    let report = connection_test::run(&w.runtime, &w.connector, &prepared).await;
    report.checks.into_iter().map(|c| (c.name, c.ok, c.detail)).collect()
}

fn summary(v: &[(String, bool, String)]) -> Vec<(&str, bool)> {
    v.iter().map(|(n, ok, _)| (n.as_str(), *ok)).collect()
}

#[tokio::test]
async fn the_test_button_passes_when_everything_is_granted() {
    let w = World::new().await;
    let d = tenant_data(40, &READ_ROLES, &[DEFENDER_WRITE_ROLE]);
    w.emulator.add_tenant(d.clone());
    let v = verdict(&w, &tenant("all", &d, &w.emulator, &[])).await;
    assert_eq!(
        summary(&v),
        [
            ("Sign in", true),
            ("Admin consent", true),
            ("Read incidents", true),
            ("Read alerts", true),
            ("Advanced hunting", true),
            ("Update incidents", true)
        ]
    );
    let base = w.emulator.base_url();
    assert_eq!(v[0].2, format!("{base} issued a token for {base} with the client secret, valid for 60 min"));
    assert_eq!(
        v[1].2,
        "granted application permissions: SecurityIncident.Read.All, SecurityAlert.Read.All, ThreatHunting.Read.All"
    );
    assert_eq!(v[2].2, "works (a one-item read of incidents returned 1)");
    assert_eq!(v[3].2, "works (a one-item read of alerts returned 1)");
    assert_eq!(v[4].2, "works (`AlertInfo | take 1` returned 0 row(s))");
    assert_eq!(
        v[5].2,
        format!(
            "allowed through the Microsoft 365 Defender API at {} (Microsoft Threat Protection Incident.ReadWrite.All); read one incident there, not probed with a write",
            w.emulator.defender_url()
        )
    );
    let probes: Vec<String> =
        w.emulator.requests().iter().map(|r| format!("{} {}?{}", r.method, r.path, r.query)).collect();
    assert!(probes.contains(&"GET /v1.0/security/incidents?$top=1".to_string()), "{probes:?}");
    assert!(probes.contains(&"GET /v1.0/security/alerts_v2?$top=1".to_string()), "{probes:?}");
    assert!(probes.contains(&"POST /v1.0/security/runHuntingQuery?".to_string()), "{probes:?}");
    assert!(probes.contains(&"GET /api/incidents?$top=1".to_string()), "{probes:?}");
    assert!(!probes.iter().any(|p| p.starts_with("PATCH")), "the test never writes: {probes:?}");
}

#[tokio::test]
async fn without_admin_consent_every_feature_says_so() {
    let w = World::new().await;
    let d = tenant_data(41, &[], &[]);
    w.emulator.add_tenant(d.clone());
    let v = verdict(&w, &tenant("no-consent", &d, &w.emulator, &[])).await;
    assert_eq!(
        summary(&v),
        [
            ("Sign in", true),
            ("Admin consent", false),
            ("Read incidents", false),
            ("Read alerts", false),
            ("Advanced hunting", false),
            ("Update incidents", false)
        ]
    );
    assert_eq!(
        v[1].2,
        "the token carries no application permissions, so admin consent has not been granted: in the app registration, open API permissions and click \"Grant admin consent for <your organisation>\""
    );
    assert_eq!(
        v[2].2,
        "needs the Microsoft Graph application permission SecurityIncident.Read.All; admin consent has not been granted"
    );
    assert_eq!(
        v[4].2,
        "needs the Microsoft Graph application permission ThreatHunting.Read.All; admin consent has not been granted"
    );
    assert!(
        v[5].2.contains(
            "on Microsoft Graph: none (no admin consent); on Microsoft Threat Protection: none (no admin consent)"
        ),
        "{}",
        v[5].2
    );
}

#[tokio::test]
async fn one_missing_permission_fails_only_its_feature() {
    let w = World::new().await;
    let d = tenant_data(42, &["SecurityIncident.Read.All", "SecurityAlert.Read.All"], &[DEFENDER_WRITE_ROLE]);
    w.emulator.add_tenant(d.clone());
    let v = verdict(&w, &tenant("no-hunting", &d, &w.emulator, &[])).await;
    assert_eq!(
        summary(&v),
        [
            ("Sign in", true),
            ("Admin consent", true),
            ("Read incidents", true),
            ("Read alerts", true),
            ("Advanced hunting", false),
            ("Update incidents", true)
        ]
    );
    assert_eq!(
        v[4].2,
        "missing the Microsoft Graph application permission ThreatHunting.Read.All: add it under API permissions and grant admin consent"
    );
    assert!(
        w.emulator.requests().iter().all(|r| r.path != "/v1.0/security/runHuntingQuery"),
        "not probed without the role"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_explained_with_its_aadsts_code() {
    let w = World::new().await;
    let mut d = tenant_data(43, &READ_ROLES, &[]);
    w.emulator.add_tenant(d.clone());
    d.client_secret = "pasted-the-wrong-value".into();
    let v = verdict(&w, &tenant("wrong-secret", &d, &w.emulator, &[])).await;
    assert_eq!(summary(&v), [("Sign in", false)]);
    assert_eq!(
        v[0].2,
        "sign-in failed (AADSTS7000215): The client secret is wrong. In the app registration's Certificates & secrets page, create or copy a client secret and paste its Value (not its Secret ID)."
    );
}

#[tokio::test]
async fn a_tenant_of_another_cloud_is_named_as_such() {
    let w = World::new().await;
    let usgov = w.emulator.add_cloud("usgov").await.unwrap();
    let mut d = tenant_data(44, &READ_ROLES, &[]);
    d.cloud = "usgov".into();
    w.emulator.add_tenant(d.clone());

    // Global login for a US Government tenant: Entra does not know it there.
    let v = verdict(&w, &tenant("gov-at-global", &d, &w.emulator, &[])).await;
    assert_eq!(summary(&v), [("Sign in", false)]);
    assert_eq!(
        v[0].2,
        format!(
            "sign-in failed (AADSTS90002): Tenant {} was not found at {}. Check the Directory (tenant) ID; if the tenant is in a US Government cloud, set `cloud` to gcc-high or dod (the login endpoint must belong to the tenant's cloud).",
            d.tenant_id,
            w.emulator.base_url()
        )
    );

    // Its own cloud's login, but the global Graph: that login does not know the global API.
    let v = verdict(
        &w,
        &tenant(
            "gov-login-global-graph",
            &d,
            &w.emulator,
            &[("login-endpoint", &usgov.graph), ("defender-endpoint", &usgov.defender)],
        ),
    )
    .await;
    assert_eq!(summary(&v), [("Sign in", false)]);
    assert!(
        v[0].2.starts_with(&format!(
            "sign-in failed (AADSTS500011): Entra ID at {} does not know the API the token was asked for (AADSTS500011: The resource principal named {} was not found in the tenant named {}.",
            usgov.graph,
            w.emulator.base_url(),
            d.tenant_id
        )),
        "{}",
        v[0].2
    );
    assert!(v[0].2.contains("belong to different clouds (set `cloud` and leave the endpoints unset)"), "{}", v[0].2);

    // All of its own cloud: everything it was granted works.
    let v = verdict(
        &w,
        &tenant(
            "gov",
            &d,
            &w.emulator,
            &[
                ("login-endpoint", &usgov.graph),
                ("graph-endpoint", &usgov.graph),
                ("defender-endpoint", &usgov.defender),
            ],
        ),
    )
    .await;
    assert_eq!(
        &summary(&v)[..5],
        [
            ("Sign in", true),
            ("Admin consent", true),
            ("Read incidents", true),
            ("Read alerts", true),
            ("Advanced hunting", true)
        ]
    );
}

fn without_endpoints(mut t: TenantConfig, extra: &[(&str, &str)]) -> TenantConfig {
    for k in ["login-endpoint", "graph-endpoint", "defender-endpoint"] {
        t.settings.remove(k);
    }
    for (k, v) in extra {
        t.settings.insert(k.to_string(), v.to_string());
    }
    t
}

#[tokio::test]
async fn cloud_presets_set_the_hosts_the_sandbox_allows_and_bad_clouds_are_refused_at_load() {
    let w = World::new().await;
    let d = tenant_data(45, &READ_ROLES, &[]);
    let origins = |cloud: &str| -> Vec<String> {
        let t = without_endpoints(tenant("c", &d, &w.emulator, &[]), &[("cloud", cloud)]);
        let p = w.runtime.prepare(&w.connector, &t).unwrap();
        p.policy.origins().map(|o| o.to_string()).collect()
    };
    assert_eq!(
        origins("gcc-high"),
        [
            "https://api-gov.security.microsoft.us:443",
            "https://graph.microsoft.us:443",
            "https://login.microsoftonline.us:443"
        ]
    );
    assert_eq!(
        origins("dod"),
        [
            "https://api-gov.security.microsoft.us:443",
            "https://dod-graph.microsoft.us:443",
            "https://login.microsoftonline.us:443"
        ]
    );
    assert_eq!(
        origins("gcc"),
        [
            "https://api-gcc.security.microsoft.us:443",
            "https://graph.microsoft.com:443",
            "https://login.microsoftonline.com:443"
        ]
    );
    assert_eq!(
        origins("global"),
        [
            "https://api.security.microsoft.com:443",
            "https://graph.microsoft.com:443",
            "https://login.microsoftonline.com:443"
        ]
    );

    let china = without_endpoints(tenant("cn", &d, &w.emulator, &[]), &[("cloud", "china")]);
    let Err(e) = w.runtime.prepare(&w.connector, &china) else { panic!("china was accepted") };
    let e = e.to_string();
    assert!(e.contains("setting `cloud` = `china` is not one of: global, gcc, gcc-high, dod"), "{e}");
    assert!(e.contains("China is not supported: the security APIs are not offered there"), "{e}");

    // A login/Graph pair of two clouds: the connector's own check, run when the config loads.
    let mixed = without_endpoints(
        tenant("mixed", &d, &w.emulator, &[]),
        &[("login-endpoint", "https://login.microsoftonline.com"), ("graph-endpoint", "https://graph.microsoft.us")],
    );
    let p = w.runtime.prepare(&w.connector, &mixed).unwrap();
    let mut session = w.runtime.session(&p).await.unwrap();
    match session.check_config().await.unwrap() {
        Err(ConnectorError::Config(c)) => {
            assert_eq!(c.key, "graph-endpoint");
            assert!(c.message.starts_with("`login-endpoint` = https://login.microsoftonline.com is in the global cloud but `graph-endpoint` = https://graph.microsoft.us is in the us-government cloud"), "{}", c.message);
        }
        other => panic!("{other:?}"),
    }
}

fn hex_thumbprint() -> String {
    use base64::Engine;
    let x5t = graph_emulator::thumbprint_x5t(CERT_PEM).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(x5t).unwrap();
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn certificate_tenant(w: &World, d: &TenantData, thumbprint: &str) -> TenantConfig {
    let mut t = tenant("cert", d, &w.emulator, &[("certificate-thumbprint", thumbprint)]);
    t.secrets.remove("client-secret");
    t.secrets.insert("certificate-private-key".into(), SecretSource::Inline(KEY_PEM.into()));
    t
}

#[tokio::test]
async fn a_certificate_signs_an_assertion_entra_accepts_and_that_validates_against_its_public_key() {
    let w = World::new().await;
    let mut d = tenant_data(46, &READ_ROLES, &[]);
    d.certificate_pem = Some(CERT_PEM.into());
    d.client_secret = "unused-secret-the-app-also-has".into();
    w.emulator.add_tenant(d.clone());
    // The thumbprint as openssl prints it (fixtures/certificate/README.md), colons and all.
    assert_eq!(hex_thumbprint(), "DD9E8A6880FF8F2F3DD929EF432AB75245C22E09");
    let t = w.prepare(&certificate_tenant(&w, &d, "DD:9E:8A:68:80:FF:8F:2F:3D:D9:29:EF:43:2A:B7:52:45:C2:2E:09"));
    let r = w.poll(std::slice::from_ref(&t)).await;
    assert!(r[0].ok(), "{:?}", r[0]);
    assert_eq!(r[0].incidents.records, 3);

    let token_request = w.emulator.requests().into_iter().find(|r| r.path.ends_with("/oauth2/v2.0/token")).unwrap();
    let form: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(token_request.body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert_eq!(
        form.keys().map(String::as_str).collect::<Vec<_>>(),
        ["client_assertion", "client_assertion_type", "client_id", "grant_type", "scope"]
    );
    assert_eq!(form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    let token_url = format!("{}/{}/oauth2/v2.0/token", w.emulator.base_url(), d.tenant_id);
    let jwt = &form["client_assertion"];
    graph_emulator::verify_client_assertion(CERT_PEM, jwt, &d.client_id, &token_url).unwrap();
    // One changed byte of the claims and the signature no longer holds.
    let parts: Vec<&str> = jwt.split('.').collect();
    let tampered = format!("{}.{}A.{}", parts[0], parts[1], parts[2]);
    assert!(graph_emulator::verify_client_assertion(CERT_PEM, &tampered, &d.client_id, &token_url).is_err());
    // The token says it came from a certificate.
    let token = w.emulator.requests().into_iter().find_map(|r| r.header("authorization").map(str::to_string)).unwrap();
    let claims = graph_emulator::jwt_claims(token.strip_prefix("Bearer ").unwrap()).unwrap();
    assert_eq!(claims["appidacr"], "2");
}

#[tokio::test]
async fn a_certificate_the_app_does_not_know_is_explained() {
    let w = World::new().await;
    let mut d = tenant_data(47, &READ_ROLES, &[]);
    d.certificate_pem = Some(CERT_PEM.into());
    w.emulator.add_tenant(d.clone());
    let t = certificate_tenant(&w, &d, &"AB".repeat(20));
    let v = verdict(&w, &t).await;
    assert_eq!(summary(&v), [("Sign in", false)]);
    assert!(
        v[0].2.starts_with("sign-in failed (AADSTS700027): Entra ID did not accept the certificate's signature"),
        "{}",
        v[0].2
    );
    assert!(!v[0].2.contains("PRIVATE KEY"));
}
