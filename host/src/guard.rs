//! Per-call accounting of one tenant's sandbox, shared by the egress hooks, the response bodies,
//! the log streams and the memory limiter: what was used, and the first limit that was hit.

use crate::limits::{LimitExceeded, Limits};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Counters and the first violation of the current call.
#[derive(Debug)]
pub struct CallGuard {
    /// The tenant's limits.
    pub limits: Limits,
    started: AtomicU32,
    in_flight: AtomicU32,
    log_bytes: AtomicU64,
    violation: Mutex<Option<LimitExceeded>>,
    denied: Mutex<Vec<String>>,
}

/// One outbound request in flight; released when dropped (response body done or abandoned).
#[derive(Debug)]
pub struct InFlight(Arc<CallGuard>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CallGuard {
    /// A guard enforcing `limits`.
    pub fn new(limits: Limits) -> Arc<CallGuard> {
        Arc::new(CallGuard {
            limits,
            started: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
            log_bytes: AtomicU64::new(0),
            violation: Mutex::new(None),
            denied: Mutex::new(Vec::new()),
        })
    }

    /// Starts a new call: per-call counters and findings are cleared (requests still in flight stay counted).
    pub fn begin_call(&self) {
        self.started.store(0, Ordering::Release);
        self.log_bytes.store(0, Ordering::Release);
        *self.violation.lock().unwrap() = None;
        self.denied.lock().unwrap().clear();
    }

    /// Records a violation; the first one of a call is the one reported.
    pub fn exceed(&self, limit: LimitExceeded) {
        let mut v = self.violation.lock().unwrap();
        if v.is_none() {
            *v = Some(limit);
        }
    }

    /// The first violation of this call.
    pub fn violation(&self) -> Option<LimitExceeded> {
        self.violation.lock().unwrap().clone()
    }

    /// Records an egress refusal (`scheme://host:port`).
    pub fn deny(&self, target: String) {
        self.denied.lock().unwrap().push(target);
    }

    /// Egress targets refused in this call, in order.
    pub fn denied(&self) -> Vec<String> {
        self.denied.lock().unwrap().clone()
    }

    /// Counts a new outbound request against the per-call and in-flight caps.
    pub fn start_request(self: &Arc<Self>) -> Result<InFlight, LimitExceeded> {
        let max = self.limits.max_requests_per_call;
        if self.started.fetch_add(1, Ordering::AcqRel) >= max {
            let e = LimitExceeded::Requests { max };
            self.exceed(e.clone());
            return Err(e);
        }
        let max = self.limits.max_concurrent_requests;
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            let e = LimitExceeded::ConcurrentRequests { max };
            self.exceed(e.clone());
            return Err(e);
        }
        Ok(InFlight(self.clone()))
    }

    /// Counts `n` bytes of component output; `Err` once the call's log cap is passed.
    pub fn log(&self, n: usize) -> Result<(), LimitExceeded> {
        let max_bytes = self.limits.max_log_bytes;
        let total = self.log_bytes.fetch_add(n as u64, Ordering::AcqRel) + n as u64;
        if total > max_bytes {
            let e = LimitExceeded::LogOutput { max_bytes };
            self.exceed(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Outbound requests in flight now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_capped_per_call_and_in_flight() {
        let g = CallGuard::new(Limits { max_requests_per_call: 3, max_concurrent_requests: 2, ..Limits::default() });
        let a = g.start_request().unwrap();
        let _b = g.start_request().unwrap();
        assert_eq!(g.start_request().unwrap_err(), LimitExceeded::ConcurrentRequests { max: 2 });
        assert_eq!(g.in_flight(), 2);
        drop(a);
        assert_eq!(g.start_request().unwrap_err(), LimitExceeded::Requests { max: 3 }, "4th request of the call");
        assert_eq!(g.violation(), Some(LimitExceeded::ConcurrentRequests { max: 2 }), "the first one is reported");
        g.begin_call();
        assert_eq!(g.violation(), None);
        assert!(g.start_request().is_ok(), "a new call starts counting again");
    }

    #[test]
    fn log_bytes_are_capped_per_call() {
        let g = CallGuard::new(Limits { max_log_bytes: 10, ..Limits::default() });
        assert_eq!(g.log(10), Ok(()));
        assert_eq!(g.log(1), Err(LimitExceeded::LogOutput { max_bytes: 10 }));
        g.begin_call();
        assert_eq!(g.log(5), Ok(()));
    }
}
