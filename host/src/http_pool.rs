//! Outbound HTTP/1.1 with kept-alive connections: wasmtime-wasi-http's stock sender opens (and TLS
//! handshakes) a new connection for every request; a poll is a token request and many pages to the
//! same two hosts, so connections are kept and reused.
//!
//! Connections are keyed by tenant as well as origin: one tenant's sandbox never shares a
//! connection with another's. Idle connections are bounded in number and age.

use bytes::Bytes;
use http::uri::Scheme;
use http_body::Body;
use hyper::client::conn::http1::SendRequest;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Most idle connections kept over all tenants (the oldest goes first).
const MAX_IDLE: usize = 256;
/// An idle connection older than this is closed instead of reused (servers close theirs too).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

struct Idle {
    since: Instant,
    sender: SendRequest<WasiBody>,
}

/// Idle connections by `tenant \0 scheme://authority`, newest last.
#[derive(Default)]
struct IdleSet {
    by_key: HashMap<String, Vec<Idle>>,
    count: usize,
}

impl IdleSet {
    fn usable(c: &Idle, now: Instant) -> bool {
        now.duration_since(c.since) < IDLE_TIMEOUT && !c.sender.is_closed()
    }

    /// Drops every connection that is too old or closed.
    fn purge(&mut self, now: Instant) {
        self.by_key.retain(|_, v| {
            v.retain(|c| IdleSet::usable(c, now));
            !v.is_empty()
        });
        self.count = self.by_key.values().map(Vec::len).sum();
    }

    /// Drops the oldest connection of all.
    fn evict_oldest(&mut self) {
        let oldest = self.by_key.iter().filter_map(|(k, v)| Some((v.first()?.since, k.clone()))).min();
        if let Some((_, key)) = oldest {
            let v = self.by_key.get_mut(&key).expect("just found");
            v.remove(0);
            self.count -= 1;
            if v.is_empty() {
                self.by_key.remove(&key);
            }
        }
    }
}

/// The kept-alive connections of one runtime.
#[derive(Clone, Default)]
pub struct ConnectionPool {
    idle: Arc<Mutex<IdleSet>>,
    tls: Arc<std::sync::OnceLock<tokio_rustls::TlsConnector>>,
    /// Connections opened so far (for tests and benchmarks).
    opened: Arc<std::sync::atomic::AtomicU64>,
}

impl ConnectionPool {
    /// Connections opened since the pool was made.
    pub fn opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn take(&self, key: &str) -> Option<SendRequest<WasiBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let set = &mut *idle;
        let conns = set.by_key.get_mut(key)?;
        let mut found = None;
        // Newest first; stale ones met on the way are dropped.
        while let Some(c) = conns.pop() {
            set.count -= 1;
            if IdleSet::usable(&c, now) && c.sender.is_ready() {
                found = Some(c.sender);
                break;
            }
        }
        if conns.is_empty() {
            set.by_key.remove(key);
        }
        found
    }

    fn put(&self, key: String, sender: SendRequest<WasiBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        idle.by_key.entry(key).or_default().push(Idle { since: now, sender });
        idle.count += 1;
        if idle.count > MAX_IDLE {
            idle.purge(now);
            while idle.count > MAX_IDLE {
                idle.evict_oldest();
            }
        }
    }

    /// Closes `tenant`'s idle connections (its sandbox is gone; its next poll is minutes away).
    pub fn release(&self, tenant: &str) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let prefix = format!("{tenant}\u{0}");
        let before = idle.by_key.len();
        idle.by_key.retain(|k, _| !k.starts_with(&prefix));
        if idle.by_key.len() != before {
            idle.count = idle.by_key.values().map(Vec::len).sum();
        }
    }

    /// Idle connections kept now.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).count
    }

    fn tls(&self) -> tokio_rustls::TlsConnector {
        self.tls
            .get_or_init(|| {
                let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
                let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
                tokio_rustls::TlsConnector::from(Arc::new(config))
            })
            .clone()
    }

    async fn connect(&self, authority: &str, tls: bool, timeout: Duration) -> Result<SendRequest<WasiBody>, Error> {
        let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(authority)).await {
            Ok(s) => s.map_err(Error::Connect)?,
            Err(_) => return Err(Error::ConnectionTimeout),
        };
        let _ = stream.set_nodelay(true);
        self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let handshake = async {
            if tls {
                let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority);
                let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
                let name = rustls::pki_types::ServerName::try_from(host).map_err(|_| Error::HttpRequestUriInvalid)?;
                let stream = self.tls().connect(name, stream).await.map_err(Error::Tls)?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok::<_, Error>(sender)
            } else {
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(sender)
            }
        };
        tokio::time::timeout(timeout, handshake).await.map_err(|_| Error::ConnectionTimeout)?
    }

    /// Sends `req` for `tenant` on a kept-alive connection (or a new one), with wasi-http's timeouts.
    pub async fn send(
        &self,
        tenant: &str,
        mut req: http::Request<WasiBody>,
        options: RequestOptions,
    ) -> Result<http::Response<PooledBody>, Error> {
        let uri = req.uri().clone();
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let tls = uri.scheme() == Some(&Scheme::HTTPS);
        let authority = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{}", if tls { 443 } else { 80 }),
        };
        let key = format!("{tenant}\u{0}{}://{authority}", if tls { "https" } else { "http" });
        let forever = Duration::from_secs(600);
        let connect_timeout = options.connect_timeout.unwrap_or(forever);
        let first_byte = options.first_byte_timeout.unwrap_or(forever);
        let between = options.between_bytes_timeout.unwrap_or(forever).max(Duration::from_nanos(1));
        // The request line carries only the path (no proxy): as the stock sender does.
        *req.uri_mut() = http::Uri::builder()
            .path_and_query(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .build()
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        let (mut sender, reused) = match self.take(&key) {
            Some(s) => (s, true),
            None => (self.connect(&authority, tls, connect_timeout).await?, false),
        };
        let first = tokio::time::timeout(first_byte, sender.try_send_request(req))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?;
        let resp = match first {
            Ok(resp) => resp,
            // A kept connection the server closed meanwhile: the request was not sent, so it goes
            // out once more on a new connection (never a request that may have reached the server).
            Err(mut e) => match (reused, e.take_message()) {
                (true, Some(req)) => {
                    sender = self.connect(&authority, tls, connect_timeout).await?;
                    tokio::time::timeout(first_byte, sender.send_request(req))
                        .await
                        .map_err(|_| Error::ConnectionReadTimeout)?
                        .map_err(Error::from)?
                }
                _ => return Err(Error::from(e.into_error())),
            },
        };
        let pool = self.clone();
        Ok(resp.map(|incoming| PooledBody {
            incoming,
            timeout: Box::pin(tokio::time::sleep(between)),
            between,
            give_back: Some((pool, key, sender)),
        }))
    }
}

/// A response body that hands its connection back to the pool once read to the end.
pub struct PooledBody {
    incoming: hyper::body::Incoming,
    timeout: Pin<Box<tokio::time::Sleep>>,
    between: Duration,
    give_back: Option<(ConnectionPool, String, SendRequest<WasiBody>)>,
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                // Read to the end: the connection may carry the next request.
                if let Some((pool, key, sender)) = this.give_back.take() {
                    pool.put(key, sender);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.give_back = None;
                Poll::Ready(Some(Err(if e.is_timeout() { Error::HttpResponseTimeout } else { Error::from(e) })))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = tokio::time::Instant::now() + this.between;
                this.timeout.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                if this.timeout.as_mut().poll(cx).is_ready() {
                    this.give_back = None;
                    return Poll::Ready(Some(Err(Error::ConnectionReadTimeout)));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}
