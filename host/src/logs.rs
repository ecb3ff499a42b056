//! The component's stdout and stderr: each complete line is logged tagged with the tenant (secrets
//! redacted, long lines cut), the last few KiB are kept for trap messages, and a call that writes
//! more than its cap is trapped.

use crate::guard::CallGuard;
use crate::secret::Redactor;
use bytes::Bytes;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Longest line logged; the rest of a longer line is dropped (it still counts against the cap).
const MAX_LINE: usize = 4096;
/// Bytes of recent output kept for error messages.
const TAIL: usize = 16 * 1024;

/// Which standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout.
    Stdout,
    /// stderr.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

struct Buffers {
    partial: [Vec<u8>; 2],
    tail: VecDeque<u8>,
}

/// Output capture for one tenant's sandbox, shared by its stdout and stderr.
#[derive(Clone)]
pub struct ComponentLog {
    tenant: Arc<str>,
    guard: Arc<CallGuard>,
    redactor: Arc<Redactor>,
    buffers: Arc<Mutex<Buffers>>,
}

impl ComponentLog {
    /// A capture for `tenant`, counting against `guard`.
    pub fn new(tenant: Arc<str>, guard: Arc<CallGuard>, redactor: Arc<Redactor>) -> Self {
        let buffers = Buffers { partial: [Vec::new(), Vec::new()], tail: VecDeque::new() };
        ComponentLog { tenant, guard, redactor, buffers: Arc::new(Mutex::new(buffers)) }
    }

    /// The stream the component sees as `stream`.
    pub fn stream(&self, stream: Stream) -> LogStream {
        LogStream { log: self.clone(), stream }
    }

    /// The last lines written (both streams, in order), secrets redacted.
    pub fn tail(&self) -> String {
        let b = self.buffers.lock().unwrap();
        let (a, c) = b.tail.as_slices();
        let text = String::from_utf8_lossy(&[a, c].concat()).into_owned();
        self.redactor.redact(&text).into_owned()
    }

    fn write(&self, stream: Stream, bytes: &[u8]) -> Result<(), StreamError> {
        if let Err(limit) = self.guard.log(bytes.len()) {
            tracing::warn!(tenant = %self.tenant, stream = stream.name(), limit = limit.kind(), "{limit}");
            return Err(StreamError::Trap(wasmtime::format_err!("{limit}")));
        }
        let mut b = self.buffers.lock().unwrap();
        b.tail.extend(bytes);
        let excess = b.tail.len().saturating_sub(TAIL);
        b.tail.drain(..excess);
        let partial = &mut b.partial[stream as usize];
        for &byte in bytes {
            if byte == b'\n' {
                let line = String::from_utf8_lossy(partial);
                let line = self.redactor.redact(line.trim_end_matches('\r'));
                tracing::info!(target: "component", tenant = %self.tenant, stream = stream.name(), "{line}");
                partial.clear();
            } else if partial.len() < MAX_LINE {
                partial.push(byte);
            }
        }
        Ok(())
    }
}

/// One of the component's standard output streams.
#[derive(Clone)]
pub struct LogStream {
    log: ComponentLog,
    stream: Stream,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.log.write(self.stream, &bytes)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.log.write(self.stream, buf).map(|_| buf.len()).map_err(|e| std::io::Error::other(e.to_string())),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The panic message in a component's stderr (`panicked at FILE:LINE:COL:` then the message).
pub fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines().skip_while(|l| !l.contains("panicked at"));
    let location = lines.next()?.split("panicked at").nth(1)?.trim().trim_end_matches(':').to_string();
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    Some(format!("{} (at {location})", message.join(" ").trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{LimitExceeded, Limits};
    use crate::secret::Secret;

    fn log(max: u64) -> ComponentLog {
        let guard = CallGuard::new(Limits { max_log_bytes: max, ..Limits::default() });
        ComponentLog::new(Arc::from("t"), guard, Arc::new(Redactor::new([&Secret::new("s3cr3t-value")])))
    }

    #[test]
    fn output_past_the_cap_traps_and_the_tail_is_bounded_and_redacted() {
        let l = log(40_000);
        let mut out = l.stream(Stream::Stdout);
        out.write(Bytes::from_static(b"token s3cr3t-value\n")).unwrap();
        for _ in 0..30 {
            out.write(Bytes::from(vec![b'x'; 1000])).unwrap();
        }
        assert!(l.tail().len() <= TAIL);
        assert!(!l.tail().contains("s3cr3t"));
        let err = out.write(Bytes::from(vec![b'y'; 10_000])).unwrap_err();
        assert!(matches!(err, StreamError::Trap(_)), "{err:?}");
        assert_eq!(l.guard.violation(), Some(LimitExceeded::LogOutput { max_bytes: 40_000 }));
        let l = log(100);
        l.stream(Stream::Stderr).write(Bytes::from_static(b"key=s3cr3t-value")).unwrap();
        assert_eq!(l.tail(), "key=***");
    }

    #[test]
    fn a_rust_panic_message_is_found_in_stderr() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:12:9:\nboom: the parser broke\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(panic_message(stderr).as_deref(), Some("boom: the parser broke (at src/lib.rs:12:9)"));
        assert_eq!(panic_message("just text"), None);
    }
}
