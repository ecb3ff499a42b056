//! Deny-by-default egress: a tenant's component may reach only the origins derived from that
//! tenant's configured endpoints; everything else gets `HttpRequestDenied`.

use crate::guard::{CallGuard, InFlight};
use crate::limits::LimitExceeded;
use std::collections::BTreeSet;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
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

    /// Whether every origin of this policy is also allowed by `other`.
    pub fn is_within(&self, other: &EgressPolicy) -> bool {
        self.allowed.is_subset(&other.allowed)
    }
}

/// `wasi:http` hooks for one tenant's sandbox: enforces the egress policy and the per-call request,
/// concurrency, header and body limits; counts refusals.
pub struct EgressHooks {
    /// Tenant name, for logs.
    pub tenant: Arc<str>,
    /// What may be reached.
    pub policy: Arc<EgressPolicy>,
    /// Requests refused so far (shared with the host's health counters).
    pub denied: Arc<AtomicU64>,
    /// The current call's accounting.
    pub guard: Arc<CallGuard>,
    /// Kept-alive connections (per tenant).
    pub pool: crate::http_pool::ConnectionPool,
}

type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>;

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let _ = fut;
        if !self.policy.allows(request.uri()) {
            self.denied.fetch_add(1, Ordering::Relaxed);
            let target = Origin::of_uri(request.uri()).map(|o| o.to_string()).unwrap_or_else(|| "(no origin)".into());
            tracing::warn!(tenant = %self.tenant, %target, "egress denied: not one of the tenant's configured endpoints");
            self.guard.deny(target);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let in_flight = match self.guard.start_request() {
            Ok(t) => t,
            Err(limit) => {
                tracing::warn!(tenant = %self.tenant, limit = limit.kind(), "outbound request refused: {limit}");
                return Box::new(async { Err(wasmtime_wasi_http::Error::ConnectionLimitReached) });
            }
        };
        let guard = self.guard.clone();
        let (pool, tenant) = (self.pool.clone(), self.tenant.clone());
        // A second past the call's limit, so the call's own timeout (the typed error) fires first.
        let options = clamp(options, Duration::from_secs(guard.limits.call_timeout_secs + 1));
        Box::new(async move {
            use http_body_util::BodyExt;
            let resp = pool.send(&tenant, request, options).await?;
            // The connection is driven by its own task; nothing is left to await here.
            let io = async { Ok(()) };
            let max_header = guard.limits.max_response_header_bytes;
            let header_bytes: u64 = resp.headers().iter().map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64).sum();
            if header_bytes > max_header {
                guard.exceed(LimitExceeded::ResponseHeaders { max_bytes: max_header });
                return Err(wasmtime_wasi_http::Error::HttpResponseHeaderSectionSize(u32::try_from(max_header).ok()));
            }
            let max_bytes = guard.limits.max_response_body_bytes;
            let resp = resp.map(|inner| {
                let inner = inner.boxed_unsync();
                LimitedBody { inner, left: max_bytes, max_bytes, guard, _in_flight: in_flight }.boxed_unsync()
            });
            Ok((resp, Box::new(io) as IoFuture))
        })
    }
}

/// The component's own timeouts, never longer than the call may last (wasi-http's default is 600 s).
fn clamp(options: Option<RequestOptions>, cap: Duration) -> RequestOptions {
    let o = options.unwrap_or_default();
    let c = |d: Option<Duration>| Some(d.map_or(cap, |d| d.min(cap)));
    RequestOptions {
        connect_timeout: c(o.connect_timeout),
        first_byte_timeout: c(o.first_byte_timeout),
        between_bytes_timeout: c(o.between_bytes_timeout),
    }
}

/// A response body that fails once more than `max_bytes` arrive, and holds the in-flight slot until done.
struct LimitedBody {
    inner: WasiBody,
    left: u64,
    max_bytes: u64,
    guard: Arc<CallGuard>,
    _in_flight: InFlight,
}

impl hyper::body::Body for LimitedBody {
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame
            && let Some(data) = f.data_ref()
        {
            let n = data.len() as u64;
            if n > self.left {
                let max_bytes = self.max_bytes;
                self.guard.exceed(LimitExceeded::ResponseBody { max_bytes });
                self.left = 0;
                return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpResponseBodySize(Some(max_bytes)))));
            }
            self.left -= n;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
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
