//! Sandbox limits: what one tenant's component may use per call, how a tenant overrides the
//! global values, and the typed violation the host reports when one is exceeded.

use serde::Deserialize;
use std::fmt;

/// Limits applied to one tenant's sandbox. A *call* is one invocation of a connector export
/// (one page); a *poll* is every call of one tenant in a cycle.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory the component instance may grow to, in MiB (the instance lives for a poll).
    pub memory_mib: u64,
    /// CPU time (wasm execution, counted in 10 ms epoch ticks) one call may use, in milliseconds.
    pub cpu_ms: u64,
    /// Wall-clock time one call may take, network waits included, in seconds.
    pub call_timeout_secs: u64,
    /// Wall-clock time one tenant's whole poll may take, retries and waits included, in seconds.
    pub poll_timeout_secs: u64,
    /// Outbound HTTP requests one call may start.
    pub max_requests_per_call: u32,
    /// Outbound HTTP requests in flight at once (from send until the response body is done).
    pub max_concurrent_requests: u32,
    /// Bytes of one response body the component may read.
    pub max_response_body_bytes: u64,
    /// Bytes of one response's header section (names + values).
    pub max_response_header_bytes: u64,
    /// Bytes the component may write to stdout + stderr in one call.
    pub max_log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mib: 128,
            cpu_ms: 10_000,
            call_timeout_secs: 120,
            poll_timeout_secs: 300,
            max_requests_per_call: 200,
            max_concurrent_requests: 8,
            max_response_body_bytes: 32 << 20,
            max_response_header_bytes: 64 << 10,
            max_log_bytes: 1 << 20,
        }
    }
}

/// A tenant's `[tenant.limits]`: any field given replaces the global value for that tenant.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    /// See [`Limits::memory_mib`].
    pub memory_mib: Option<u64>,
    /// See [`Limits::cpu_ms`].
    pub cpu_ms: Option<u64>,
    /// See [`Limits::call_timeout_secs`].
    pub call_timeout_secs: Option<u64>,
    /// See [`Limits::poll_timeout_secs`].
    pub poll_timeout_secs: Option<u64>,
    /// See [`Limits::max_requests_per_call`].
    pub max_requests_per_call: Option<u32>,
    /// See [`Limits::max_concurrent_requests`].
    pub max_concurrent_requests: Option<u32>,
    /// See [`Limits::max_response_body_bytes`].
    pub max_response_body_bytes: Option<u64>,
    /// See [`Limits::max_response_header_bytes`].
    pub max_response_header_bytes: Option<u64>,
    /// See [`Limits::max_log_bytes`].
    pub max_log_bytes: Option<u64>,
}

impl Limits {
    /// These limits with a tenant's overrides applied.
    pub fn with(&self, o: &LimitsOverride) -> Limits {
        Limits {
            memory_mib: o.memory_mib.unwrap_or(self.memory_mib),
            cpu_ms: o.cpu_ms.unwrap_or(self.cpu_ms),
            call_timeout_secs: o.call_timeout_secs.unwrap_or(self.call_timeout_secs),
            poll_timeout_secs: o.poll_timeout_secs.unwrap_or(self.poll_timeout_secs),
            max_requests_per_call: o.max_requests_per_call.unwrap_or(self.max_requests_per_call),
            max_concurrent_requests: o.max_concurrent_requests.unwrap_or(self.max_concurrent_requests),
            max_response_body_bytes: o.max_response_body_bytes.unwrap_or(self.max_response_body_bytes),
            max_response_header_bytes: o.max_response_header_bytes.unwrap_or(self.max_response_header_bytes),
            max_log_bytes: o.max_log_bytes.unwrap_or(self.max_log_bytes),
        }
    }

    /// Checks that every limit leaves room for a call to run; the error names the field and its minimum.
    pub fn check(&self) -> Result<(), String> {
        let minimums: [(&str, u64, u64); 9] = [
            // A component's code and data alone take a few MiB; below 16 nothing runs.
            ("memory_mib", self.memory_mib, 16),
            // One epoch tick.
            ("cpu_ms", self.cpu_ms, 10),
            ("call_timeout_secs", self.call_timeout_secs, 1),
            ("poll_timeout_secs", self.poll_timeout_secs, 1),
            ("max_requests_per_call", self.max_requests_per_call.into(), 1),
            ("max_concurrent_requests", self.max_concurrent_requests.into(), 1),
            ("max_response_body_bytes", self.max_response_body_bytes, 1),
            ("max_response_header_bytes", self.max_response_header_bytes, 1),
            ("max_log_bytes", self.max_log_bytes, 0),
        ];
        for (name, value, min) in minimums {
            if value < min {
                return Err(format!(
                    "limits.{name} = {value} is too small: at least {min} is needed for any call to run"
                ));
            }
        }
        let day = 86_400;
        let maximums: [(&str, u64, u64, &str); 6] = [
            ("memory_mib", self.memory_mib, 4096, "the most a 32-bit wasm memory can use"),
            ("cpu_ms", self.cpu_ms, day * 1000, "one day"),
            ("call_timeout_secs", self.call_timeout_secs, day, "one day"),
            ("poll_timeout_secs", self.poll_timeout_secs, day, "one day"),
            ("max_response_body_bytes", self.max_response_body_bytes, 4 << 30, "4 GiB"),
            ("max_log_bytes", self.max_log_bytes, 1 << 30, "1 GiB"),
        ];
        for (name, value, max, why) in maximums {
            if value > max {
                return Err(format!("limits.{name} = {value} is above {max} ({why})"));
            }
        }
        Ok(())
    }
}

/// A limit a component ran into; the call that hit it is ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitExceeded {
    /// Linear memory would grow past the cap.
    Memory {
        /// Cap in MiB.
        mib: u64,
    },
    /// The call's CPU budget ran out.
    Cpu {
        /// Budget in ms.
        ms: u64,
    },
    /// The call ran past its wall-clock limit.
    CallTimeout {
        /// Limit in seconds.
        secs: u64,
    },
    /// The call started more outbound requests than allowed.
    Requests {
        /// Cap.
        max: u32,
    },
    /// Too many outbound requests were in flight at once.
    ConcurrentRequests {
        /// Cap.
        max: u32,
    },
    /// A response body was larger than allowed.
    ResponseBody {
        /// Cap in bytes.
        max_bytes: u64,
    },
    /// A response's header section was larger than allowed.
    ResponseHeaders {
        /// Cap in bytes.
        max_bytes: u64,
    },
    /// The component wrote more to stdout/stderr than allowed.
    LogOutput {
        /// Cap in bytes.
        max_bytes: u64,
    },
}

impl LimitExceeded {
    /// Short machine-readable kind, for health and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            LimitExceeded::Memory { .. } => "memory-limit",
            LimitExceeded::Cpu { .. } => "cpu-limit",
            LimitExceeded::CallTimeout { .. } => "call-timeout",
            LimitExceeded::Requests { .. } => "request-limit",
            LimitExceeded::ConcurrentRequests { .. } => "concurrency-limit",
            LimitExceeded::ResponseBody { .. } => "response-size-limit",
            LimitExceeded::ResponseHeaders { .. } => "header-size-limit",
            LimitExceeded::LogOutput { .. } => "log-limit",
        }
    }

    /// The config field that raises this limit.
    pub fn field(&self) -> &'static str {
        match self {
            LimitExceeded::Memory { .. } => "memory_mib",
            LimitExceeded::Cpu { .. } => "cpu_ms",
            LimitExceeded::CallTimeout { .. } => "call_timeout_secs",
            LimitExceeded::Requests { .. } => "max_requests_per_call",
            LimitExceeded::ConcurrentRequests { .. } => "max_concurrent_requests",
            LimitExceeded::ResponseBody { .. } => "max_response_body_bytes",
            LimitExceeded::ResponseHeaders { .. } => "max_response_header_bytes",
            LimitExceeded::LogOutput { .. } => "max_log_bytes",
        }
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Memory { mib } => write!(f, "the component exceeded its memory limit of {mib} MiB"),
            LimitExceeded::Cpu { ms } => write!(f, "the component used its CPU budget of {ms} ms for one call"),
            LimitExceeded::CallTimeout { secs } => write!(f, "the call took longer than its limit of {secs} s"),
            LimitExceeded::Requests { max } => {
                write!(f, "the component started more than {max} outbound requests in one call")
            }
            LimitExceeded::ConcurrentRequests { max } => {
                write!(f, "the component had more than {max} outbound requests in flight at once")
            }
            LimitExceeded::ResponseBody { max_bytes } => {
                write!(f, "a response body was larger than the limit of {max_bytes} bytes")
            }
            LimitExceeded::ResponseHeaders { max_bytes } => {
                write!(f, "a response's headers were larger than the limit of {max_bytes} bytes")
            }
            LimitExceeded::LogOutput { max_bytes } => {
                write!(f, "the component wrote more than {max_bytes} bytes to stdout/stderr in one call")
            }
        }?;
        write!(f, " (raise limits.{} if this is legitimate)", self.field())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_override_replaces_only_what_it_names() {
        let o: LimitsOverride = toml::from_str("memory_mib = 32\nmax_concurrent_requests = 2").unwrap();
        let l = Limits::default().with(&o);
        assert_eq!(l, Limits { memory_mib: 32, max_concurrent_requests: 2, ..Limits::default() });
        let e = toml::from_str::<LimitsOverride>("memory = 32").unwrap_err().to_string();
        assert!(e.contains("unknown field `memory`"), "{e}");
    }

    #[test]
    fn too_small_limits_name_the_field_and_the_minimum() {
        let l = Limits { max_concurrent_requests: 0, ..Limits::default() };
        assert_eq!(
            l.check().unwrap_err(),
            "limits.max_concurrent_requests = 0 is too small: at least 1 is needed for any call to run"
        );
        assert_eq!(Limits::default().check(), Ok(()));
        assert!(Limits { memory_mib: 8192, ..Limits::default() }.check().unwrap_err().contains("4096"));
        assert_eq!(
            Limits { poll_timeout_secs: u64::MAX, ..Limits::default() }.check().unwrap_err(),
            "limits.poll_timeout_secs = 18446744073709551615 is above 86400 (one day)"
        );
    }

    #[test]
    fn a_violation_says_which_limit_and_how_to_raise_it() {
        assert_eq!(
            LimitExceeded::Memory { mib: 64 }.to_string(),
            "the component exceeded its memory limit of 64 MiB (raise limits.memory_mib if this is legitimate)"
        );
        assert_eq!(LimitExceeded::ConcurrentRequests { max: 8 }.kind(), "concurrency-limit");
    }
}
