//! Entra ID client credentials: the token request, its reuse until shortly before expiry, and
//! sign-in errors explained in words a customer can act on.

use crate::config::{self, Credential, Settings};
use crate::error::ConnectorError;
use crate::http::{Method, Request, Response};
use base64::Engine;
use serde::Deserialize;
use std::fmt;

/// An access token; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// A token with what we learned from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub access: AccessToken,
    /// Unix second at which to stop using it (shortly before it expires).
    pub refresh_at: u64,
    /// Unix second it expires.
    pub expires_at: u64,
    /// App roles granted (`roles` claim).
    pub roles: Vec<String>,
    /// Audience (`aud` claim).
    pub audience: Option<String>,
}

/// Most refresh margin we keep before expiry; Entra tokens live 60–90 minutes.
const MAX_REFRESH_MARGIN_SECS: u64 = 300;

/// The API a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Microsoft Graph (incidents, alerts, hunting, Graph incident updates).
    Graph,
    /// The Microsoft 365 Defender API ("Microsoft Threat Protection"), for its incident updates.
    Defender,
}

impl Resource {
    /// The API's name as the Entra portal lists it under API permissions.
    pub fn api_name(self) -> &'static str {
        match self {
            Resource::Graph => "Microsoft Graph",
            Resource::Defender => "Microsoft Threat Protection",
        }
    }
}

/// Keeps one token per API per component instance and reuses each until shortly before it expires.
#[derive(Debug, Default)]
pub struct TokenCache {
    graph: Option<Token>,
    defender: Option<Token>,
    /// Token requests made by this cache (tests and logs count them).
    pub requests: u32,
}

impl TokenCache {
    fn slot(&mut self, resource: Resource) -> &mut Option<Token> {
        match resource {
            Resource::Graph => &mut self.graph,
            Resource::Defender => &mut self.defender,
        }
    }

    /// The cached Graph token if it is still good at `now` (Unix seconds).
    pub fn valid(&self, now: u64) -> Option<&Token> {
        self.valid_for(Resource::Graph, now)
    }

    /// The cached token for `resource` if it is still good at `now`.
    pub fn valid_for(&self, resource: Resource, now: u64) -> Option<&Token> {
        let slot = match resource {
            Resource::Graph => &self.graph,
            Resource::Defender => &self.defender,
        };
        slot.as_ref().filter(|t| now < t.refresh_at)
    }

    /// Stores a freshly issued Graph token.
    pub fn store(&mut self, token: Token) {
        self.store_for(Resource::Graph, token);
    }

    /// Stores a freshly issued token for `resource`.
    pub fn store_for(&mut self, resource: Resource, token: Token) {
        *self.slot(resource) = Some(token);
    }

    /// Forgets the Graph token (Graph said it is no longer valid).
    pub fn invalidate(&mut self) {
        self.invalidate_for(Resource::Graph);
    }

    /// Forgets the token for `resource`.
    pub fn invalidate_for(&mut self, resource: Resource) {
        *self.slot(resource) = None;
    }
}

/// The Graph token request for `settings` (a certificate assertion is stamped with `now`).
pub fn token_request(settings: &Settings) -> Request {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    token_request_for(settings, Resource::Graph, now as i64, 0).expect("settings validated the credential")
}

/// The token request for `resource`; with a certificate, the assertion is issued at `now`.
pub fn token_request_for(
    settings: &Settings,
    resource: Resource,
    now: i64,
    nonce: u64,
) -> Result<Request, ConnectorError> {
    let url = format!("{}/{}/oauth2/v2.0/token", settings.login_endpoint, settings.tenant_id);
    let scope = match resource {
        Resource::Graph => settings.scope(),
        Resource::Defender => settings.defender_scope(),
    };
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("client_id", &settings.client_id).append_pair("scope", &scope);
    match &settings.credential {
        Credential::Secret(secret) => {
            form.append_pair("client_secret", secret.expose());
        }
        Credential::Certificate { private_key, thumbprint } => {
            let jwt = crate::assertion::client_assertion(
                private_key.expose(),
                thumbprint,
                &settings.client_id,
                &url,
                now,
                nonce,
            )?;
            form.append_pair("client_assertion_type", crate::assertion::ASSERTION_TYPE)
                .append_pair("client_assertion", &jwt);
        }
    }
    let body = form.append_pair("grant_type", "client_credentials").finish();
    Ok(Request {
        method: Method::Post,
        url,
        headers: vec![
            ("content-type".into(), "application/x-www-form-urlencoded".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: Some(body.into_bytes()),
    })
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct EntraError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// Turns the token endpoint's answer into a token, or an error that says what to fix.
pub fn parse_token_response(resp: &Response, settings: &Settings, now: u64) -> Result<Token, ConnectorError> {
    if resp.status == 200 {
        let body: TokenBody = serde_json::from_slice(&resp.body).map_err(|e| {
            ConnectorError::invalid(
                200,
                format!("the token endpoint answered 200 with a body that is not a token response: {e}"),
            )
        })?;
        let access = body
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ConnectorError::invalid(200, "the token endpoint answered 200 without an access_token"))?;
        if let Some(kind) = body.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(ConnectorError::invalid(
                200,
                format!("the token endpoint issued a `{kind}` token, not a Bearer token"),
            ));
        }
        // Entra issues tokens for 1–24 h; a larger value is a broken proxy and must not overflow.
        let expires_in = expires_in_seconds(body.expires_in.as_ref())?.min(MAX_TOKEN_LIFETIME_SECS);
        let margin = MAX_REFRESH_MARGIN_SECS.min(expires_in / 10);
        let claims = decode_claims(&access);
        return Ok(Token {
            refresh_at: now + expires_in - margin,
            expires_at: now + expires_in,
            roles: claims.roles,
            audience: claims.audience,
            access: AccessToken(access),
        });
    }
    if resp.status == 429 {
        return Err(ConnectorError::Throttled {
            retry_after_ms: resp.header("retry-after").and_then(crate::graph::parse_retry_after_ms),
            message: "Entra ID is throttling token requests for this app".into(),
        });
    }
    if resp.status >= 500 {
        return Err(ConnectorError::Transient(format!("the Entra ID token endpoint answered HTTP {}", resp.status)));
    }
    let err: EntraError = serde_json::from_slice(&resp.body).unwrap_or_default();
    if err.error.is_empty() {
        return Err(ConnectorError::invalid(
            resp.status,
            format!(
                "the login endpoint {} answered HTTP {} without an Entra ID error body; check `{}`",
                settings.login_endpoint,
                resp.status,
                config::LOGIN_ENDPOINT
            ),
        ));
    }
    Err(explain_entra_error(&err, settings))
}

/// Longest token lifetime believed (one day).
const MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// `expires_in` arrives as a number (v2 endpoint) or a numeric string (v1 and some proxies).
fn expires_in_seconds(value: Option<&serde_json::Value>) -> Result<u64, ConnectorError> {
    let seconds = match value {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    seconds.filter(|s| *s > 0).ok_or_else(|| {
        ConnectorError::invalid(
            200,
            format!(
                "the token response's expires_in is {} instead of a positive number of seconds",
                value.map(|v| v.to_string()).unwrap_or_else(|| "missing".into())
            ),
        )
    })
}

fn explain_entra_error(err: &EntraError, settings: &Settings) -> ConnectorError {
    let code = err.error_codes.first().copied().or_else(|| {
        // Fall back to the AADSTS prefix of the description when error_codes is absent.
        let rest = err.error_description.strip_prefix("AADSTS")?;
        rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
    });
    let first_line = err.error_description.lines().next().unwrap_or_default().trim().to_string();
    let message = match code {
        Some(7_000_215) => {
            let hint = if settings.client_secret().is_some_and(|s| config::is_guid(s.expose())) {
                " The value entered looks like a secret ID (a GUID): paste the secret's Value column instead."
            } else {
                ""
            };
            format!("The client secret is wrong. In the app registration's Certificates & secrets page, create or copy a client secret and paste its Value (not its Secret ID).{hint}")
        }
        Some(7_000_222) => "The client secret has expired. Create a new client secret in the app registration (Certificates & secrets) and paste its Value here.".to_string(),
        Some(700_016) => format!(
            "No application with client ID {} exists in tenant {}. Check the Application (client) ID, and that the app is registered in this tenant or an administrator of this tenant has consented to it.",
            settings.client_id, settings.tenant_id
        ),
        Some(90_002) => format!(
            "Tenant {} was not found at {}. Check the Directory (tenant) ID; if the tenant is in a US Government cloud, set `{}` to gcc-high or dod (the login endpoint must belong to the tenant's cloud).",
            settings.tenant_id,
            settings.login_endpoint,
            config::CLOUD
        ),
        Some(70_011) => format!(
            "Entra ID rejected the scope {}. Check `{}`: it must be the Microsoft Graph base URL of the tenant's cloud.",
            settings.scope(),
            config::GRAPH_ENDPOINT
        ),
        Some(700_027) => format!(
            "Entra ID did not accept the certificate's signature ({first_line}). Upload the certificate (its public part, .cer or .pem) to the app registration's Certificates & secrets page, and check that `{}` is that certificate's thumbprint and `{}` its private key.",
            config::CERTIFICATE_THUMBPRINT,
            config::CERTIFICATE_KEY
        ),
        Some(700_024) => "The certificate's client assertion is outside its validity time: the host's clock is wrong by more than a few minutes; fix the clock (NTP).".to_string(),
        Some(500_011) => format!(
            "Entra ID at {} does not know the API the token was asked for ({first_line}). Either the login endpoint and that API's endpoint belong to different clouds (set `{}` and leave the endpoints unset), or, for the Microsoft 365 Defender API, the tenant has no Microsoft Defender XDR.",
            settings.login_endpoint,
            config::CLOUD
        ),
        Some(7_000_112) => format!("The application is disabled or its sign-in is not allowed: {first_line}"),
        _ => format!("Entra ID refused to sign in: {first_line}"),
    };
    ConnectorError::Auth { code: code.map(|c| format!("AADSTS{c}")), error: err.error.clone(), message }
}

/// Claims of interest from a JWT-shaped access token.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// `roles`; empty when absent.
    pub roles: Vec<String>,
    /// `aud`.
    pub audience: Option<String>,
}

/// Reads `roles` and `aud` from the token's payload without verifying it (Graph verifies it; we only
/// explain what it carries). A token that is not a JWT yields no claims.
pub fn decode_claims(token: &str) -> Claims {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        roles: Vec<String>,
        aud: Option<String>,
    }
    let Some(payload) = token.split('.').nth(1) else {
        return Claims::default();
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return Claims::default();
    };
    match serde_json::from_slice::<Raw>(&bytes) {
        Ok(raw) => Claims { roles: raw.roles, audience: raw.aud },
        Err(_) => Claims::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn settings() -> Settings {
        let map: BTreeMap<String, String> = [
            ("tenant-id", "contoso.onmicrosoft.com"),
            ("client-id", "00000000-0000-4000-8000-0000000000a1"),
            ("client-secret", "the-secret+&="),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Settings::load(&map).unwrap()
    }

    fn resp(status: u16, body: &str) -> Response {
        Response { status, headers: vec![], body: body.as_bytes().to_vec() }
    }

    #[test]
    fn token_request_is_a_form_post_to_the_tenant() {
        let r = token_request(&settings());
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
        let body = String::from_utf8(r.body.unwrap()).unwrap();
        assert_eq!(
            body,
            "client_id=00000000-0000-4000-8000-0000000000a1&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret=the-secret%2B%26%3D&grant_type=client_credentials"
        );
    }

    #[test]
    fn expires_in_as_number_or_numeric_string() {
        let t = parse_token_response(
            &resp(200, r#"{"token_type":"Bearer","expires_in":3599,"access_token":"abc"}"#),
            &settings(),
            1000,
        )
        .unwrap();
        assert_eq!(t.expires_at, 4599);
        assert_eq!(t.refresh_at, 4299);
        let t = parse_token_response(
            &resp(200, r#"{"token_type":"Bearer","expires_in":"3599","access_token":"abc"}"#),
            &settings(),
            1000,
        )
        .unwrap();
        assert_eq!(t.expires_at, 4599);
        let e = parse_token_response(
            &resp(200, r#"{"token_type":"Bearer","expires_in":"soon","access_token":"abc"}"#),
            &settings(),
            0,
        )
        .unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidResponse { status: 200, .. }));
    }

    #[test]
    fn short_lived_tokens_keep_a_proportional_margin() {
        let t = parse_token_response(
            &resp(200, r#"{"token_type":"Bearer","expires_in":60,"access_token":"abc"}"#),
            &settings(),
            0,
        )
        .unwrap();
        assert_eq!(t.refresh_at, 54);
    }

    #[test]
    fn an_absurd_lifetime_is_capped_at_a_day_instead_of_overflowing() {
        let t = parse_token_response(
            &resp(200, r#"{"token_type":"Bearer","expires_in":18446744073709551615,"access_token":"abc"}"#),
            &settings(),
            1000,
        )
        .unwrap();
        assert_eq!((t.expires_at, t.refresh_at), (87_400, 87_100));
    }

    #[test]
    fn cache_reuses_until_refresh_time() {
        let mut cache = TokenCache::default();
        let t = parse_token_response(
            &resp(200, r#"{"token_type":"Bearer","expires_in":3599,"access_token":"abc"}"#),
            &settings(),
            0,
        )
        .unwrap();
        cache.store(t);
        assert!(cache.valid(0).is_some());
        assert!(cache.valid(3298).is_some());
        assert!(cache.valid(3299).is_none());
        cache.invalidate();
        assert!(cache.valid(0).is_none());
    }

    #[test]
    fn roles_come_from_the_jwt_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            br#"{"aud":"https://graph.microsoft.com","roles":["SecurityIncident.Read.All","SecurityAlert.Read.All"]}"#,
        );
        let claims = decode_claims(&format!("eyJhbGciOiJub25lIn0.{payload}.sig"));
        assert_eq!(claims.roles, vec!["SecurityIncident.Read.All", "SecurityAlert.Read.All"]);
        assert_eq!(claims.audience.as_deref(), Some("https://graph.microsoft.com"));
        assert_eq!(decode_claims("opaque-token"), Claims::default());
    }

    #[test]
    fn wrong_secret_is_explained() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}"#;
        let e = parse_token_response(&resp(401, body), &settings(), 0).unwrap_err();
        match e {
            ConnectorError::Auth { code, error, message } => {
                assert_eq!(code.as_deref(), Some("AADSTS7000215"));
                assert_eq!(error, "invalid_client");
                assert!(message.starts_with("The client secret is wrong."), "{message}");
                assert!(!message.contains("the-secret"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn code_from_description_when_error_codes_missing() {
        let body = r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#;
        let e = parse_token_response(&resp(400, body), &settings(), 0).unwrap_err();
        assert!(matches!(e, ConnectorError::Auth { code: Some(c), .. } if c == "AADSTS90002"));
    }

    #[test]
    fn non_entra_answers_are_not_mistaken_for_auth_errors() {
        let e = parse_token_response(&resp(404, "<html>nope</html>"), &settings(), 0).unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidResponse { status: 404, .. }), "{e:?}");
        let e = parse_token_response(&resp(503, ""), &settings(), 0).unwrap_err();
        assert!(matches!(e, ConnectorError::Transient(_)));
        let e = parse_token_response(&resp(200, "{not json"), &settings(), 0).unwrap_err();
        assert!(matches!(e, ConnectorError::InvalidResponse { status: 200, .. }));
    }

    #[test]
    fn token_never_printed() {
        let t = parse_token_response(
            &resp(200, r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-SECRET"}"#),
            &settings(),
            0,
        )
        .unwrap();
        assert!(!format!("{t:?}").contains("SECRET"));
    }
}
