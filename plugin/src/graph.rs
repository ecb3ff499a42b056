//! Microsoft Graph security API: URLs, headers, and what each non-200 answer means.

use crate::error::ConnectorError;
use crate::http::Response;
use crate::time::Timestamp;
use serde::Deserialize;

/// Graph evolvable enums hide members added after `unknownFutureValue` unless asked for them.
pub const PREFER_UNKNOWN_ENUMS: &str = "include-unknown-enum-members";

/// One of the collections the connector pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// `/security/incidents` with `$expand=alerts`.
    Incidents,
    /// `/security/alerts_v2`.
    Alerts,
}

impl Collection {
    /// Path below the Graph base URL.
    pub fn path(self) -> &'static str {
        match self {
            Collection::Incidents => "/v1.0/security/incidents",
            Collection::Alerts => "/v1.0/security/alerts_v2",
        }
    }

    /// Least-privileged app role that reads this collection.
    pub fn permission(self) -> &'static str {
        match self {
            Collection::Incidents => "SecurityIncident.Read.All",
            Collection::Alerts => "SecurityAlert.Read.All",
        }
    }

    /// Human name.
    pub fn noun(self) -> &'static str {
        match self {
            Collection::Incidents => "incidents",
            Collection::Alerts => "alerts",
        }
    }

    /// First-page URL: changes since `since` (inclusive), `top` per page.
    pub fn first_page_url(self, graph: &str, since: Timestamp, top: u32) -> String {
        // `ge`, not `gt`: records sharing the boundary instant must not be lost; the cursor drops
        // the ones already emitted. The literal is canonical (7 digits, UTC, unquoted).
        let filter: String =
            form_urlencoded::byte_serialize(format!("lastUpdateDateTime ge {}", since.canonical()).as_bytes())
                .collect();
        let expand = match self {
            Collection::Incidents => "$expand=alerts&",
            Collection::Alerts => "",
        };
        format!("{graph}{}?{expand}$filter={filter}&$top={top}", self.path())
    }
}

/// `url` without its `$expand` query option (for the fallback read of a failing page).
pub fn without_expand(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return url.to_string() };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            let key: String =
                form_urlencoded::parse(format!("{key}=").as_bytes()).map(|(k, _)| k.into_owned()).collect();
            !key.eq_ignore_ascii_case("$expand")
        })
        .collect();
    if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) }
}

/// alerts_v2 of one incident: `$filter=incidentId eq '<id>'`.
pub fn alerts_of_incident_url(graph: &str, incident_id: &str, top: u32) -> String {
    // OData string literals double their single quotes.
    let literal = incident_id.replace('\'', "''");
    let filter: String = form_urlencoded::byte_serialize(format!("incidentId eq '{literal}'").as_bytes()).collect();
    format!("{graph}{}?$filter={filter}&$top={top}", Collection::Alerts.path())
}

/// An incident object with `"alerts": [...]` appended, keeping the object's own text unchanged.
pub fn insert_alerts(incident: &str, alerts: &[String]) -> String {
    let body = incident.trim_end();
    let body = body.strip_suffix('}').unwrap_or(body).trim_end();
    let sep = if body.ends_with('{') { "" } else { "," };
    format!("{body}{sep}\"alerts\":[{}]}}", alerts.join(","))
}

#[derive(Deserialize, Default)]
struct GraphErrorBody {
    #[serde(default)]
    error: GraphError,
}

#[derive(Deserialize, Default)]
struct GraphError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "innerError")]
    inner: Option<GraphInner>,
}

#[derive(Deserialize, Default)]
struct GraphInner {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
}

/// What a non-200 Graph answer means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The token was rejected (401): refresh once and retry the same request.
    TokenRejected(String),
    /// `$top` too large: the service told us its limit.
    TopTooLarge(u32),
    /// Anything else, already typed.
    Error(ConnectorError),
}

/// Classifies a non-200 Graph response for `collection`; `roles` are the token's roles.
pub fn classify_failure(resp: &Response, collection: Collection, roles: &[String]) -> Failure {
    // Error bodies are not always JSON (gateways answer HTML) and their fields vary (a date
    // without a zone, an empty code or message): read what is there and never fail on the rest.
    let body: GraphErrorBody = serde_json::from_slice(&resp.body).unwrap_or_default();
    let err = body.error;
    let request_id = err
        .inner
        .and_then(|i| i.request_id)
        .or_else(|| resp.header("request-id").map(str::to_string))
        .filter(|id| !id.is_empty())
        .map(|id| format!(" (request-id {id})"))
        .unwrap_or_default();
    let code = if err.code.is_empty() { String::new() } else { format!(" {}", err.code) };
    let what = collection.noun();
    match resp.status {
        401 => {
            Failure::TokenRejected(if err.message.is_empty() { "access token rejected".into() } else { err.message })
        }
        403 => {
            let permission = collection.permission().to_string();
            let message = if roles.is_empty() {
                format!(
                    "Microsoft Graph refused to list {what}: the access token carries no application permissions, so admin consent has not been granted. In the app registration, open API permissions, add Microsoft Graph application permission {permission}, and click \"Grant admin consent\".{request_id}"
                )
            } else {
                format!(
                    "Microsoft Graph refused to list {what}: the app lacks the application permission {permission} (it has: {}). Add it under API permissions and grant admin consent.{request_id}",
                    roles.join(", ")
                )
            };
            Failure::Error(ConnectorError::Permission { permission, message })
        }
        429 | 503 if resp.status == 429 || resp.header("retry-after").is_some() => {
            Failure::Error(ConnectorError::Throttled {
                retry_after_ms: resp.header("retry-after").and_then(parse_retry_after_ms),
                message: format!(
                    "Microsoft Graph throttled the {what} request (HTTP {}{code}){request_id}",
                    resp.status
                ),
            })
        }
        400 => match top_limit(&err.message) {
            Some(limit) => Failure::TopTooLarge(limit),
            None => Failure::Error(ConnectorError::invalid(
                400,
                format!(
                    "Microsoft Graph rejected the {what} query (HTTP 400{code}): {}{request_id}",
                    short(&err.message, &resp.body)
                ),
            )),
        },
        404 => Failure::Error(ConnectorError::config(
            crate::config::GRAPH_ENDPOINT,
            format!(
                "the Graph endpoint answered 404 for {}; check that it is the Microsoft Graph base URL of the tenant's cloud{request_id}",
                collection.path()
            ),
        )),
        s if s >= 500 => Failure::Error(ConnectorError::Transient(format!(
            "Microsoft Graph answered HTTP {s}{code} to the {what} request: {}{request_id}",
            short(&err.message, &resp.body)
        ))),
        s => Failure::Error(ConnectorError::invalid(
            s,
            format!("unexpected HTTP {s}{code} to the {what} request: {}{request_id}", short(&err.message, &resp.body)),
        )),
    }
}

/// The `error.message` of a Graph (or Defender API) error body, when there is one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let body: GraphErrorBody = serde_json::from_slice(body).ok()?;
    Some(body.error.message).filter(|m| !m.is_empty())
}

/// The `request-id` of a Graph error answer (body `innerError`, else the header), if any.
pub fn request_id(resp: &Response) -> Option<String> {
    let body: GraphErrorBody = serde_json::from_slice(&resp.body).unwrap_or_default();
    body.error
        .inner
        .and_then(|i| i.request_id)
        .or_else(|| resp.header("request-id").map(str::to_string))
        .filter(|id| !id.is_empty())
}

/// Why Graph refused a token it was just issued, in words a customer acts on.
pub fn explain_rejected_token(why: &str) -> String {
    let lower = why.to_ascii_lowercase();
    if lower.contains("signature") || lower.contains("audience") {
        // A token from another cloud's sign-in service (or for another resource) fails exactly so.
        format!(
            "Microsoft Graph rejected a freshly issued token ({why}). The token was issued by a different cloud than this Graph endpoint: set login-endpoint and graph-endpoint to the same cloud (for example login.microsoftonline.us with graph.microsoft.us for GCC High)."
        )
    } else {
        format!(
            "Microsoft Graph rejected a freshly issued token ({why}). Check that the login and Graph endpoints belong to the same cloud."
        )
    }
}

fn short(message: &str, body: &[u8]) -> String {
    if !message.is_empty() {
        return message.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() { "(empty body)".to_string() } else { text.chars().take(200).collect() }
}

/// Reads N from "The limit of 'N' for Top query has been exceeded".
fn top_limit(message: &str) -> Option<u32> {
    let rest = message.split("The limit of '").nth(1)?;
    let (n, tail) = rest.split_once('\'')?;
    tail.starts_with(" for Top query").then(|| n.parse().ok()).flatten()
}

/// Parses `Retry-After`: whole or fractional seconds, or an HTTP date (relative to now).
pub fn parse_retry_after_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil() as u64);
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
    Some((when.timestamp_millis() - now).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response { status, headers: vec![], body: body.as_bytes().to_vec() }
    }

    #[test]
    fn first_page_urls() {
        let since = Timestamp::parse("2024-03-26T13:35:45.23Z").unwrap();
        assert_eq!(
            Collection::Incidents.first_page_url("https://graph.microsoft.com", since, 50),
            "https://graph.microsoft.com/v1.0/security/incidents?$expand=alerts&$filter=lastUpdateDateTime+ge+2024-03-26T13%3A35%3A45.2300000Z&$top=50"
        );
        assert_eq!(
            Collection::Alerts.first_page_url("http://127.0.0.1:9", since, 100),
            "http://127.0.0.1:9/v1.0/security/alerts_v2?$filter=lastUpdateDateTime+ge+2024-03-26T13%3A35%3A45.2300000Z&$top=100"
        );
    }

    #[test]
    fn fallback_urls_and_assembly() {
        assert_eq!(
            without_expand("https://g/v1.0/security/incidents?$expand=alerts&$filter=x&$top=50"),
            "https://g/v1.0/security/incidents?$filter=x&$top=50"
        );
        assert_eq!(
            without_expand("https://g/v1.0/security/incidents?%24expand=alerts&%24skip=50"),
            "https://g/v1.0/security/incidents?%24skip=50"
        );
        assert_eq!(without_expand("https://g/x?$expand=alerts"), "https://g/x");
        assert_eq!(
            alerts_of_incident_url("https://g", "it's", 100),
            "https://g/v1.0/security/alerts_v2?$filter=incidentId+eq+%27it%27%27s%27&$top=100"
        );
        assert_eq!(insert_alerts("{\"id\":\"1\" }\n", &["{\"a\":1}".into()]), "{\"id\":\"1\",\"alerts\":[{\"a\":1}]}");
        assert_eq!(insert_alerts("{}", &[]), "{\"alerts\":[]}");
    }

    #[test]
    fn top_limit_from_microsofts_400() {
        let body = r#"{"error":{"code":"","message":"The query specified in the URI is not valid. The limit of '50' for Top query has been exceeded. The value from the incoming request is '100'.","details":[]}}"#;
        assert_eq!(classify_failure(&resp(400, body), Collection::Incidents, &[]), Failure::TopTooLarge(50));
    }

    #[test]
    fn forbidden_names_the_permission() {
        let body = r#"{"error":{"code":"Forbidden","message":"Missing application roles.","innerError":{"request-id":"r-1"}}}"#;
        match classify_failure(&resp(403, body), Collection::Alerts, &[]) {
            Failure::Error(ConnectorError::Permission { permission, message }) => {
                assert_eq!(permission, "SecurityAlert.Read.All");
                assert!(message.contains("admin consent has not been granted"), "{message}");
                assert!(message.contains("request-id r-1"));
            }
            other => panic!("{other:?}"),
        }
        match classify_failure(&resp(403, body), Collection::Incidents, &["SecurityAlert.Read.All".into()]) {
            Failure::Error(ConnectorError::Permission { permission, message }) => {
                assert_eq!(permission, "SecurityIncident.Read.All");
                assert!(message.contains("it has: SecurityAlert.Read.All"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn throttling_carries_retry_after() {
        let mut r = resp(429, "{}");
        r.headers.push(("Retry-After".into(), "2.128".into()));
        assert!(matches!(
            classify_failure(&r, Collection::Incidents, &[]),
            Failure::Error(ConnectorError::Throttled { retry_after_ms: Some(2128), .. })
        ));
        let r = resp(429, "{}");
        assert!(matches!(
            classify_failure(&r, Collection::Incidents, &[]),
            Failure::Error(ConnectorError::Throttled { retry_after_ms: None, .. })
        ));
    }

    #[test]
    fn odd_error_bodies_still_name_status_code_message_and_request_id() {
        // Microsoft's 429 body: innerError.date has no zone, extra fields.
        let mut r = resp(500, &crate_fixture_429_like());
        r.headers.push(("request-id".into(), "hdr-1".into()));
        match classify_failure(&r, Collection::Alerts, &[]) {
            Failure::Error(ConnectorError::Transient(m)) => assert_eq!(
                m,
                "Microsoft Graph answered HTTP 500 TooManyRequests to the alerts request: Please retry again later. (request-id 94fb3b52-452a-4535-a601-69e0a90e3aa2)"
            ),
            other => panic!("{other:?}"),
        }
        // Empty message and code: the body is quoted; the request id comes from the header.
        let mut r = resp(502, r#"{"error":{"code":"","message":""}}"#);
        r.headers.push(("request-id".into(), "hdr-2".into()));
        match classify_failure(&r, Collection::Incidents, &[]) {
            Failure::Error(ConnectorError::Transient(m)) => assert_eq!(
                m,
                r#"Microsoft Graph answered HTTP 502 to the incidents request: {"error":{"code":"","message":""}} (request-id hdr-2)"#
            ),
            other => panic!("{other:?}"),
        }
        // Not JSON at all.
        let r = resp(418, "<html>teapot</html>");
        match classify_failure(&r, Collection::Incidents, &[]) {
            Failure::Error(ConnectorError::InvalidResponse { status, message }) => {
                assert_eq!(status, 418);
                assert_eq!(message, "unexpected HTTP 418 to the incidents request: <html>teapot</html>");
            }
            other => panic!("{other:?}"),
        }
    }

    fn crate_fixture_429_like() -> String {
        r#"{"error":{"code":"TooManyRequests","innerError":{"code":"429","date":"2020-08-18T12:51:51","message":"Please retry after","request-id":"94fb3b52-452a-4535-a601-69e0a90e3aa2","status":"429"},"message":"Please retry again later."}}"#.to_string()
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after_ms("10"), Some(10_000));
        assert_eq!(parse_retry_after_ms("2.128"), Some(2128));
        assert_eq!(parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after_ms("soon"), None);
        assert_eq!(parse_retry_after_ms("-1"), None);
    }

    #[test]
    fn server_errors_are_transient_and_401_asks_for_a_new_token() {
        assert!(matches!(
            classify_failure(&resp(500, ""), Collection::Incidents, &[]),
            Failure::Error(ConnectorError::Transient(_))
        ));
        assert!(matches!(
            classify_failure(&resp(503, ""), Collection::Incidents, &[]),
            Failure::Error(ConnectorError::Transient(_))
        ));
        let body = r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}"#;
        assert_eq!(
            classify_failure(&resp(401, body), Collection::Incidents, &[]),
            Failure::TokenRejected("Access token has expired or is not yet valid.".into())
        );
    }
}
