//! The data of one tenant's `Store`: only that tenant's config, its egress hooks and limits.

use crate::egress::EgressHooks;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store data for one tenant call.
pub struct TenantState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) hooks: EgressHooks,
    pub(crate) config: WasiConfigVariables,
    pub(crate) limits: StoreLimits,
    /// Epoch ticks of CPU left for this call.
    pub(crate) cpu_ticks_left: u64,
    /// Set when the CPU budget ran out, so the trap can be reported as such.
    pub(crate) cpu_exhausted: bool,
    /// The component's stderr (panic messages), bounded.
    pub(crate) stderr: MemoryOutputPipe,
}

impl WasiView for TenantState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for TenantState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}
