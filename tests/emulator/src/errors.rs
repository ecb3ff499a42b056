//! Error bodies in the services' own shapes, and response builders.
//!
//! Bodies are written with `format!` rather than `serde_json::json!` so that keys come out in
//! Microsoft's order (`code`, `message`, `details`, `innerError`), which a human comparing an
//! emulator body with a captured one will expect; values still go through the JSON escaper.

use axum::body::Body;
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::time::{entra_timestamp, graph_error_date};

/// Graph's JSON content type for entity payloads (what the real service sends on 200s).
pub(crate) const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// The ids Graph puts in `innerError` and in the `request-id`/`client-request-id` headers.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub(crate) request_id: String,
    /// Echo of the caller's `client-request-id` header, else the request id (as observed).
    pub(crate) client_request_id: String,
    pub(crate) at: DateTime<Utc>,
}

fn js(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// `{"error":{"code","message",["details":[],]"innerError":{date,request-id,client-request-id}}}`.
pub(crate) fn graph_error_body(code: &str, message: &str, details: bool, ids: &RequestIds) -> String {
    let details = if details { r#","details":[]"# } else { "" };
    format!(
        r#"{{"error":{{"code":{},"message":{}{details},"innerError":{{"date":{},"request-id":{},"client-request-id":{}}}}}}}"#,
        js(code),
        js(message),
        js(&graph_error_date(ids.at)),
        js(&ids.request_id),
        js(&ids.client_request_id),
    )
}

/// A Graph error response with the request-id headers Graph always sends.
pub(crate) fn graph_error(status: u16, code: &str, message: &str, details: bool, ids: &RequestIds) -> Response {
    let mut resp = response(status, "application/json", graph_error_body(code, message, details, ids));
    add_graph_headers(&mut resp, ids);
    resp
}

/// The documented 429 body (`TooManyRequests`, innerError with code/status/message); generated
/// with fresh ids and the current time.
pub(crate) fn throttled_body() -> String {
    let mut rng = crate::ids::Rng::new(crate::time::now().timestamp_nanos_opt().unwrap_or(0) as u64);
    let request_id = rng.guid();
    format!(
        r#"{{"error":{{"code":"TooManyRequests","innerError":{{"code":"429","date":{},"message":"Please retry after","request-id":{},"status":"429"}},"message":"Please retry again later."}}}}"#,
        js(&graph_error_date(crate::time::now())),
        js(&request_id),
    )
}

/// An Entra token-endpoint error: `error`, `error_description` with the trace/correlation/timestamp
/// trailer, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.
pub(crate) fn entra_error_body(
    error: &str,
    aadsts: u32,
    text: &str,
    trace_id: &str,
    correlation_id: &str,
    at: DateTime<Utc>,
) -> String {
    let ts = entra_timestamp(at);
    let description = format!(
        "AADSTS{aadsts}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {ts}"
    );
    format!(
        r#"{{"error":{},"error_description":{},"error_codes":[{aadsts}],"timestamp":{},"trace_id":{},"correlation_id":{},"error_uri":{}}}"#,
        js(error),
        js(&description),
        js(&ts),
        js(trace_id),
        js(correlation_id),
        js(&format!("https://login.microsoftonline.com/error?code={aadsts}")),
    )
}

/// A response with a body and content type.
pub(crate) fn response(status: u16, content_type: &str, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    set_header(&mut resp, "content-type", content_type);
    resp
}

/// Sets (replaces) a header; silently skips names or values that are not valid HTTP.
pub(crate) fn set_header(resp: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) =
        (axum::http::HeaderName::from_bytes(name.as_bytes()), axum::http::HeaderValue::from_str(value))
    {
        resp.headers_mut().insert(n, v);
    }
}

/// `request-id` and `client-request-id`, on every Graph response.
pub(crate) fn add_graph_headers(resp: &mut Response, ids: &RequestIds) {
    set_header(resp, "request-id", &ids.request_id);
    set_header(resp, "client-request-id", &ids.client_request_id);
}
