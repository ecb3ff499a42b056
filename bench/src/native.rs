//! The connector's own logic (the `defender-connector` rlib) driven natively, over a plain
//! HTTP/1.1 client with one kept-alive connection per host: the baseline the sandbox is measured against.

use defender_connector::http::{HttpClient, Method, Request, Response, TransportError, split_url};
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;

/// A blocking client: a current-thread tokio runtime and one hyper connection per authority.
pub struct NativeHttp {
    rt: tokio::runtime::Runtime,
    conns: HashMap<String, hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>>,
}

impl NativeHttp {
    /// A client with no connections yet.
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        NativeHttp { rt, conns: HashMap::new() }
    }
}

impl HttpClient for NativeHttp {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let parts = split_url(&request.url)?;
        if parts.scheme != "http" {
            return Err(TransportError::BadUrl(format!(
                "the native bench client speaks plain http only: {}",
                request.url
            )));
        }
        let net = |e: &dyn std::fmt::Display| TransportError::Network(e.to_string());
        let authority = parts.authority.clone();
        let mut sender = match self.conns.remove(&authority) {
            Some(s) if !s.is_closed() => s,
            _ => self.rt.block_on(async {
                let stream = tokio::net::TcpStream::connect(&authority).await.map_err(|e| net(&e))?;
                stream.set_nodelay(true).map_err(|e| net(&e))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| net(&e))?;
                tokio::spawn(conn);
                Ok::<_, TransportError>(sender)
            })?,
        };
        let method = match request.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Patch => http::Method::PATCH,
        };
        let mut builder = http::Request::builder().method(method).uri(&parts.path_and_query).header("host", &authority);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let body = Full::new(bytes::Bytes::from(request.body.clone().unwrap_or_default()));
        let req = builder.body(body).map_err(|e| net(&e))?;
        let resp = self.rt.block_on(async {
            let resp = sender.send_request(req).await.map_err(|e| net(&e))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let body = resp.into_body().collect().await.map_err(|e| net(&e))?.to_bytes().to_vec();
            Ok::<_, TransportError>(Response { status, headers, body })
        })?;
        self.conns.insert(authority, sender);
        Ok(resp)
    }
}
