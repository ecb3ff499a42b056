//! Deny-by-default egress: a tenant's component may reach only the origins derived from that
//! tenant's configured endpoints; everything else gets `HttpRequestDenied`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// Scheme, host and port a request may go to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host name or IP literal.
    pub host: String,
    /// Port (defaulted from the scheme).
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// A bad allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Not a URL at all.
    #[error("`{0}` is not a URL; write it as https://host[:port]")]
    NotAUrl(String),
    /// Scheme other than http/https.
    #[error("`{0}` uses an unsupported scheme; only https (and http where allow_http = true) can be reached")]
    Scheme(String),
    /// Plain http without the opt-in.
    #[error(
        "`{0}` is plain http; use https, or set allow_http = true for this tenant (meant only for a local emulator)"
    )]
    PlainHttp(String),
}

impl Origin {
    /// Parses `scheme://host[:port][/]` from a configured endpoint.
    pub fn parse(url: &str, allow_http: bool) -> Result<Origin, OriginError> {
        let uri: http::Uri = url.trim().parse().map_err(|_| OriginError::NotAUrl(url.to_string()))?;
        let scheme = uri.scheme_str().ok_or_else(|| OriginError::NotAUrl(url.to_string()))?.to_ascii_lowercase();
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| OriginError::NotAUrl(url.to_string()))?;
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" if allow_http => 80,
            "http" => return Err(OriginError::PlainHttp(url.to_string())),
            _ => return Err(OriginError::Scheme(url.to_string())),
        };
        Ok(Origin { scheme, host: host.to_ascii_lowercase(), port: uri.port_u16().unwrap_or(default_port) })
    }

    /// The origin of a request URI, if it has one.
    pub fn of_uri(uri: &http::Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
        Some(Origin { host: uri.host()?.to_ascii_lowercase(), scheme, port })
    }
}

/// The set of origins one tenant may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allowed: BTreeSet<Origin>,
}

impl EgressPolicy {
    /// A policy allowing exactly `origins`.
    pub fn new(origins: impl IntoIterator<Item = Origin>) -> Self {
        EgressPolicy { allowed: origins.into_iter().collect() }
    }

    /// Whether `uri` may be requested.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        Origin::of_uri(uri).is_some_and(|o| self.allowed.contains(&o))
    }

    /// The allowed origins.
    pub fn origins(&self) -> impl Iterator<Item = &Origin> {
        self.allowed.iter()
    }
}

/// `wasi:http` hooks for one tenant call: enforces the policy, counts refusals.
pub struct EgressHooks {
    /// Tenant name, for logs.
    pub tenant: Arc<str>,
    /// What may be reached.
    pub policy: Arc<EgressPolicy>,
    /// Requests refused so far (shared with the host's health counters).
    pub denied: Arc<AtomicU64>,
}

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let _ = fut;
        if !self.policy.allows(request.uri()) {
            self.denied.fetch_add(1, Ordering::Relaxed);
            let target = Origin::of_uri(request.uri()).map(|o| o.to_string()).unwrap_or_else(|| "(no origin)".into());
            tracing::warn!(tenant = %self.tenant, %target, "egress denied: not one of the tenant's configured endpoints");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (resp, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((resp.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalise_scheme_host_and_port() {
        let o = Origin::parse("https://Graph.Microsoft.com/", false).unwrap();
        assert_eq!(o, Origin { scheme: "https".into(), host: "graph.microsoft.com".into(), port: 443 });
        let o = Origin::parse("http://127.0.0.1:8080", true).unwrap();
        assert_eq!(o.to_string(), "http://127.0.0.1:8080");
    }

    #[test]
    fn plain_http_needs_the_opt_in() {
        assert_eq!(
            Origin::parse("http://127.0.0.1:8080", false),
            Err(OriginError::PlainHttp("http://127.0.0.1:8080".into()))
        );
        assert!(matches!(Origin::parse("ftp://x", true), Err(OriginError::Scheme(_))));
        assert!(matches!(Origin::parse("not a url", true), Err(OriginError::NotAUrl(_))));
    }

    #[test]
    fn policy_matches_exact_origin_only() {
        let p = EgressPolicy::new([Origin::parse("http://127.0.0.1:8080", true).unwrap()]);
        assert!(p.allows(&"http://127.0.0.1:8080/v1.0/security/incidents".parse().unwrap()));
        assert!(!p.allows(&"http://127.0.0.1:8081/".parse().unwrap()), "other port");
        assert!(!p.allows(&"https://127.0.0.1:8080/".parse().unwrap()), "other scheme");
        assert!(!p.allows(&"http://localhost:8080/".parse().unwrap()), "other name for the same host");
        assert!(!p.allows(&"/relative".parse().unwrap()));
    }
}
