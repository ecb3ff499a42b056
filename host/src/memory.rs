//! The memory cap of one sandbox (a wasmtime `ResourceLimiter`), and a process-wide gauge of the
//! linear memory all live sandboxes hold, so an operator (and a test) can see it return to baseline.

use crate::guard::CallGuard;
use crate::limits::LimitExceeded;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::ResourceLimiter;

/// Linear memory held by live sandboxes, now and at its peak.
#[derive(Debug, Default)]
pub struct MemoryGauge {
    current: AtomicU64,
    peak: AtomicU64,
}

impl MemoryGauge {
    /// Bytes of linear memory held by sandboxes alive now.
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Acquire)
    }

    /// The most ever held at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Acquire)
    }

    fn add(&self, n: u64) {
        let now = self.current.fetch_add(n, Ordering::AcqRel) + n;
        self.peak.fetch_max(now, Ordering::AcqRel);
    }

    fn sub(&self, n: u64) {
        self.current.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Caps one sandbox's memories, tables and instances; a refused growth traps the component and
/// is recorded as [`LimitExceeded::Memory`].
pub struct SandboxLimiter {
    max_memory: usize,
    held: u64,
    gauge: Arc<MemoryGauge>,
    guard: Arc<CallGuard>,
}

/// Instances, tables and memories one component may create: a Rust component has a handful.
const MAX_INSTANCES: usize = 16;
const MAX_TABLES: usize = 32;
const MAX_MEMORIES: usize = 8;
/// Elements one table may hold.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl SandboxLimiter {
    /// A limiter allowing `max_memory` bytes, reporting to `gauge` and `guard`.
    pub fn new(max_memory: usize, gauge: Arc<MemoryGauge>, guard: Arc<CallGuard>) -> Self {
        SandboxLimiter { max_memory, held: 0, gauge, guard }
    }
}

impl Drop for SandboxLimiter {
    fn drop(&mut self) {
        self.gauge.sub(self.held);
    }
}

impl ResourceLimiter for SandboxLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Counted over all memories of the store: a component cannot spread the bytes over several.
        let total = self.held as usize - current + desired;
        if total > self.max_memory {
            let limit = LimitExceeded::Memory { mib: (self.max_memory >> 20) as u64 };
            self.guard.exceed(limit.clone());
            return Err(wasmtime::format_err!("{limit}"));
        }
        self.gauge.add((desired - current) as u64);
        self.held = total as u64;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    #[test]
    fn growth_past_the_cap_is_refused_and_the_gauge_returns_to_zero() {
        let gauge = Arc::new(MemoryGauge::default());
        let guard = CallGuard::new(Limits::default());
        let mut l = SandboxLimiter::new(10 << 20, gauge.clone(), guard.clone());
        assert!(l.memory_growing(0, 4 << 20, None).unwrap());
        assert!(l.memory_growing(4 << 20, 8 << 20, None).unwrap());
        assert_eq!(gauge.current(), 8 << 20);
        assert!(l.memory_growing(8 << 20, 12 << 20, None).is_err());
        assert_eq!(guard.violation(), Some(LimitExceeded::Memory { mib: 10 }));
        drop(l);
        assert_eq!((gauge.current(), gauge.peak()), (0, 8 << 20));
    }
}
