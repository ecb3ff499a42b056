//! The HTTP seam: plain request/response values and the one trait the logic sends through.
//!
//! The component implements it over `wasi:http` (`wasi_http.rs`); native tests implement it with fakes.

use std::fmt;

/// HTTP method used by the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
}

/// An outgoing request with an absolute URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Absolute URL (`scheme://authority/path?query`).
    pub url: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body, if any.
    pub body: Option<Vec<u8>>,
}

// Requests carry bearer tokens and client secrets: never print headers or bodies.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

impl Request {
    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Request { method: Method::Get, url: url.into(), headers: Vec::new(), body: None }
    }

    /// A request with a JSON body (`content-type: application/json; charset=utf-8`).
    pub fn json(method: Method, url: impl Into<String>, body: &serde_json::Value) -> Self {
        Request {
            method,
            url: url.into(),
            headers: vec![("content-type".into(), "application/json; charset=utf-8".into())],
            body: Some(body.to_string().into_bytes()),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The sandbox (host policy) refused the request.
    #[error("request to {0} refused by the host's egress policy")]
    Denied(String),
    /// The URL could not be sent at all.
    #[error("bad URL: {0}")]
    BadUrl(String),
    /// Network or protocol failure; worth retrying.
    #[error("{0}")]
    Network(String),
}

/// Sends one request and returns the whole response.
pub trait HttpClient {
    /// Sends `request`.
    fn send(&mut self, request: &Request) -> Result<Response, TransportError>;
}

/// An absolute URL split into the parts `wasi:http` wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
}

/// Splits an absolute `http(s)` URL; a fragment is dropped.
pub fn split_url(url: &str) -> Result<UrlParts, TransportError> {
    let bad = || TransportError::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    if authority.is_empty() || authority.contains('@') || authority.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let path_and_query = match tail.chars().next() {
        None => "/".to_string(),
        Some('?') => format!("/{tail}"),
        _ => tail.to_string(),
    };
    Ok(UrlParts { scheme, authority: authority.to_string(), path_and_query })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        let p = split_url("https://graph.microsoft.com/v1.0/security/incidents?$skip=2").unwrap();
        assert_eq!(p.scheme, "https");
        assert_eq!(p.authority, "graph.microsoft.com");
        assert_eq!(p.path_and_query, "/v1.0/security/incidents?$skip=2");
        let p = split_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(p.authority, "127.0.0.1:8080");
        assert_eq!(p.path_and_query, "/");
        let p = split_url("HTTP://h?x=1#frag").unwrap();
        assert_eq!(p.scheme, "http");
        assert_eq!(p.path_and_query, "/?x=1");
    }

    #[test]
    fn rejects_non_http_and_userinfo() {
        assert!(split_url("ftp://x/").is_err());
        assert!(split_url("graph.microsoft.com/v1.0").is_err());
        assert!(split_url("https://user:pw@evil/").is_err());
        assert!(split_url("https:///path").is_err());
    }

    #[test]
    fn debug_never_shows_header_values_or_body() {
        let r = Request::get("https://x/").header("authorization", "Bearer sekrit-token");
        let shown = format!("{r:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("authorization"));
    }
}
