//! The only module that touches `wasi:http`: sends one request and reads the whole response.

use crate::http::{HttpClient, Method, Request, Response, TransportError, split_url};
use std::io::Write;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, Method as WasiMethod, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

/// Time allowed to connect and to the first response byte; the host clamps these further.
const CONNECT_TIMEOUT_NS: u64 = 30_000_000_000;
const FIRST_BYTE_TIMEOUT_NS: u64 = 120_000_000_000;
/// Most bytes asked of the response stream per call.
const READ_CHUNK: u64 = 1 << 20;

/// `wasi:http/outgoing-handler` client.
pub struct WasiHttp;

impl HttpClient for WasiHttp {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let parts = split_url(&request.url)?;
        let headers = Fields::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| TransportError::BadUrl(format!("header {name} refused: {e:?}")))?;
        }
        let outgoing = OutgoingRequest::new(headers);
        let method = match request.method {
            Method::Get => WasiMethod::Get,
            Method::Post => WasiMethod::Post,
            Method::Patch => WasiMethod::Patch,
        };
        let scheme = if parts.scheme == "https" { Scheme::Https } else { Scheme::Http };
        let bad = |what: &str| TransportError::BadUrl(format!("{what} of {} refused", request.url));
        outgoing.set_method(&method).map_err(|_| bad("method"))?;
        outgoing.set_scheme(Some(&scheme)).map_err(|_| bad("scheme"))?;
        outgoing.set_authority(Some(&parts.authority)).map_err(|_| bad("authority"))?;
        outgoing.set_path_with_query(Some(&parts.path_and_query)).map_err(|_| bad("path"))?;
        // Only a request with a body opens one: an empty GET body races hyper and resets the connection.
        let body = match &request.body {
            Some(_) => Some(outgoing.body().map_err(|_| bad("body"))?),
            None => None,
        };
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_NS));
        let _ = options.set_first_byte_timeout(Some(FIRST_BYTE_TIMEOUT_NS));
        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(|code| error(code, &parts.authority))?;
        if let (Some(body), Some(bytes)) = (body, &request.body) {
            // The body must be written after `handle`: the pipe holds one chunk. A refused request
            // closes the stream; the real reason then comes from the response future below.
            if let Ok(mut stream) = body.write() {
                let _ = Write::write_all(&mut stream, bytes).and_then(|_| Write::flush(&mut stream));
            }
            let _ = OutgoingBody::finish(body, None);
        }
        future.subscribe().block();
        let incoming = match future.get() {
            Some(Ok(Ok(resp))) => resp,
            Some(Ok(Err(code))) => return Err(error(code, &parts.authority)),
            Some(Err(())) | None => {
                return Err(TransportError::Network("response future lost".into()));
            }
        };
        let status = incoming.status();
        let headers = incoming
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let body = incoming.consume().map_err(|_| TransportError::Network("response body unavailable".into()))?;
        let mut bytes = Vec::new();
        {
            let stream = body.stream().map_err(|_| TransportError::Network("response stream unavailable".into()))?;
            // Whatever the host has buffered, up to READ_CHUNK, per call: `Read::read_to_end` starts
            // with 32-byte reads and copies every chunk once more.
            loop {
                match stream.blocking_read(READ_CHUNK) {
                    Ok(chunk) if bytes.is_empty() => bytes = chunk,
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(TransportError::Network(format!(
                            "reading the response body: {}",
                            e.to_debug_string()
                        )));
                    }
                }
            }
        }
        drop(body);
        Ok(Response { status, headers, body: bytes })
    }
}

fn error(code: ErrorCode, authority: &str) -> TransportError {
    match code {
        ErrorCode::HttpRequestDenied => TransportError::Denied(authority.to_string()),
        ErrorCode::DnsError(_) => TransportError::Network(format!("cannot resolve {authority}")),
        ErrorCode::ConnectionRefused => TransportError::Network(format!("{authority} refused the connection")),
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout => {
            TransportError::Network(format!("{authority} timed out"))
        }
        other => TransportError::Network(format!("{other:?}")),
    }
}
