//! Entra ID v2 token endpoint, client-credentials grant only.

use std::time::{Duration, Instant};

use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::errors::{entra_error_body, response, set_header};
use crate::ids::Rng;
use crate::server::Incoming;
use crate::state::{IssuedToken, Shared};
use crate::time::now;
use crate::{Api, DEFENDER_SCOPE, GRAPH_SCOPE, TokenLifetime};

/// Entra's JSON content type on token responses.
const TOKEN_JSON: &str = "application/json; charset=utf-8";

/// What the token endpoint needs from a tenant (copied out so the lock isn't held while building).
struct App {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    secret_expired: bool,
    roles: Vec<String>,
    defender_roles: Vec<String>,
    certificate_pem: Option<String>,
    lifetime: TokenLifetime,
    /// The request signed in with a certificate (`appidacr` 2), not a secret (1).
    used_certificate: bool,
}

/// What a token request asks for: the API, and the audience its token will carry.
struct Grant {
    api: Api,
    audience: String,
}

/// An Entra error: status, OAuth `error` class, AADSTS number, message text.
struct Reject(u16, &'static str, u32, String);

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) fn token(shared: &Shared, tenant: &str, req: &Incoming) -> Response {
    let at = now();
    match check(shared, tenant, req) {
        Ok((app, grant)) => issue(shared, &app, &grant, &req.endpoint.cloud, at),
        Err(Reject(status, error, code, text)) => {
            let trace_id = shared.next_guid();
            // Entra echoes the caller's client-request-id as the correlation id.
            let correlation_id =
                req.header("client-request-id").map(str::to_string).unwrap_or_else(|| shared.next_guid());
            let body = entra_error_body(error, code, &text, &trace_id, &correlation_id, at);
            let mut resp = response(status, TOKEN_JSON, body);
            set_header(&mut resp, "x-ms-request-id", &trace_id);
            set_header(&mut resp, "cache-control", "no-store, no-cache");
            resp
        }
    }
}

/// Validates the request in the order Entra reports problems: tenant, grant, client, secret, scope.
fn check(shared: &Shared, tenant: &str, req: &Incoming) -> Result<(App, Grant), Reject> {
    if req.method != "POST" {
        return Err(Reject(
            400,
            "invalid_request",
            900561,
            format!("The endpoint only accepts POST, OPTIONS requests. Received a {} request.", req.method),
        ));
    }
    let cloud = req.endpoint.cloud.as_str();
    let mut app = shared
        .with(|s| {
            // A tenant is known only to its own cloud's login.
            let home = |t: &crate::TenantData| if t.cloud.is_empty() { crate::GLOBAL_CLOUD.to_string() } else { t.cloud.clone() };
            s.tenant(tenant).filter(|t| home(t) == cloud).map(|t| App {
                tenant_id: t.tenant_id.clone(),
                client_id: t.client_id.clone(),
                client_secret: t.client_secret.clone(),
                secret_expired: t.secret_expired,
                roles: t.roles.clone(),
                defender_roles: t.defender_roles.clone(),
                certificate_pem: t.certificate_pem.clone(),
                lifetime: t.token_lifetime,
                used_certificate: false,
            })
        })
        .ok_or_else(|| {
            Reject(
                400,
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            )
        })?;

    let form = Form::parse(req);
    let missing = |name: &str| {
        Reject(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    let grant = form.get("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(Reject(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let client_id = form.client_id.clone().ok_or_else(|| missing("client_id"))?;
    if !client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(Reject(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type") != Some(crate::assertion::ASSERTION_TYPE) {
            return Err(Reject(
                400,
                "invalid_request",
                90014,
                "The required field 'client_assertion_type' is missing from the credential. Ensure that you have all the necessary parameters for the login request.".to_string(),
            ));
        }
        let token_url = format!("{}{}", req.endpoint.base_url, req.path);
        crate::assertion::verify(app.certificate_pem.as_deref(), assertion, &app.client_id, &token_url, now())
            .map_err(|(code, text)| Reject(401, "invalid_client", code, text))?;
        app.used_certificate = true;
    } else {
        let secret = form.client_secret.as_deref().ok_or_else(|| {
            Reject(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
                    .to_string(),
            )
        })?;
        if secret != app.client_secret {
            return Err(Reject(
                401,
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    app.client_id
                ),
            ));
        }
        if app.secret_expired {
            return Err(Reject(
                401,
                "invalid_client",
                7000222,
                format!(
                    "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                    app.client_id
                ),
            ));
        }
    }
    let scope = form.get("scope").ok_or_else(|| missing("scope"))?;
    let grant = resolve_scope(shared, scope, cloud, tenant)?;
    Ok((app, grant))
}

/// Which API a scope names: the real global scopes, or `{listener}/.default` of any listener.
/// A resource of another cloud is not found in this cloud's directory (AADSTS500011).
fn resolve_scope(shared: &Shared, scope: &str, cloud: &str, tenant: &str) -> Result<Grant, Reject> {
    let invalid = || {
        Reject(
            400,
            "invalid_scope",
            70011,
            format!("The provided value for the input parameter 'scope' isn't valid. The scope {scope} isn't valid."),
        )
    };
    let resource = scope.strip_suffix("/.default").ok_or_else(invalid)?;
    let known = shared.with(|s| s.endpoints.iter().find(|e| e.base_url == resource).map(|e| (e.cloud.clone(), e.api)));
    let (owner, api) = match (known, scope) {
        (Some(found), _) => found,
        (None, GRAPH_SCOPE) => (crate::GLOBAL_CLOUD.to_string(), Api::Graph),
        (None, DEFENDER_SCOPE) => (crate::GLOBAL_CLOUD.to_string(), Api::Defender),
        (None, _) => return Err(invalid()),
    };
    if owner != cloud {
        return Err(Reject(
            400,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    Ok(Grant { api, audience: resource.to_string() })
}

/// The form fields, plus client credentials from an RFC 6749 Basic header (which Entra accepts).
struct Form {
    pairs: Vec<(String, String)>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl Form {
    fn parse(req: &Incoming) -> Form {
        // Entra reads only a form body; JSON bodies (a common client bug) look like no parameters.
        let is_form = req
            .header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        let pairs: Vec<(String, String)> = if is_form {
            form_urlencoded::parse(req.body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
        } else {
            Vec::new()
        };
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (mut client_id, mut client_secret) = (first("client_id"), first("client_secret"));
        if let Some((id, secret)) = req.header("authorization").and_then(basic_credentials) {
            client_id = client_id.or(Some(id));
            client_secret = client_secret.or(Some(secret));
        }
        Form { pairs, client_id, client_secret }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))`, per RFC 6749 §2.3.1.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// Mints a JWT-shaped v1.0 app token and remembers it.
fn issue(shared: &Shared, app: &App, grant: &Grant, cloud: &str, at: chrono::DateTime<chrono::Utc>) -> Response {
    let roles = match grant.api {
        Api::Graph => &app.roles,
        Api::Defender => &app.defender_roles,
    };
    let lifetime = app.lifetime.seconds();
    let serial = shared.next_id();
    let mut rng = Rng::new(serial);
    let iat = at.timestamp();
    let issuer = format!("https://sts.windows.net/{}/", app.tenant_id);
    // The service principal's object id is stable per app, like a real one.
    let oid = {
        let h = crate::ids::hash_str(&format!("{}|{}", app.tenant_id, app.client_id));
        crate::ids::guid_from(h, crate::ids::mix(h))
    };
    let mut claims = json!({
        "aud": grant.audience,
        "iss": issuer,
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime as i64,
        "appid": app.client_id,
        "appidacr": if app.used_certificate { "2" } else { "1" },
        "idp": issuer,
        "idtyp": "app",
        "oid": oid,
        "sub": oid,
        "tid": app.tenant_id,
        "uti": URL_SAFE_NO_PAD.encode(serial.to_be_bytes()),
        "ver": "1.0",
    });
    // Entra omits `roles` entirely when nothing was granted.
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    let header = json!({
        "typ": "JWT",
        "nonce": URL_SAFE_NO_PAD.encode(rng.hex(32)),
        "alg": "RS256",
        "x5t": "graph-emulator",
        "kid": "graph-emulator",
    });
    let signature: Vec<u8> = (0..32).flat_map(|_| rng.next_u64().to_be_bytes()).collect();
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    );

    shared.with(|s| {
        s.tokens.insert(
            token.clone(),
            IssuedToken {
                tenant: app.tenant_id.to_ascii_lowercase(),
                roles: roles.clone(),
                expires_at: Instant::now() + Duration::from_secs(lifetime),
                api: grant.api,
                cloud: cloud.to_string(),
                client_id: app.client_id.clone(),
            },
        )
    });

    let expires_in = match app.lifetime {
        TokenLifetime::Number(s) => s.to_string(),
        TokenLifetime::NumericString(s) => format!("\"{s}\""),
    };
    let body = format!(
        r#"{{"token_type":"Bearer","expires_in":{expires_in},"ext_expires_in":{lifetime},"access_token":"{token}"}}"#
    );
    let mut resp = response(200, TOKEN_JSON, body);
    set_header(&mut resp, "cache-control", "no-store, no-cache");
    set_header(&mut resp, "pragma", "no-cache");
    resp
}

/// Decodes the claims (middle part) of a JWT-shaped token without checking anything else.
pub fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_url_decoded() {
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("app%3A1:s%26cret"));
        assert_eq!(basic_credentials(&header), Some(("app:1".to_string(), "s&cret".to_string())));
        assert_eq!(basic_credentials("Bearer x"), None);
    }

    #[test]
    fn jwt_claims_rejects_non_jwt() {
        assert_eq!(jwt_claims("abc"), None);
        assert_eq!(jwt_claims("a.b.c.d"), None);
        let token = format!("x.{}.y", URL_SAFE_NO_PAD.encode(r#"{"tid":"t"}"#));
        assert_eq!(jwt_claims(&token), Some(json!({"tid": "t"})));
    }
}
