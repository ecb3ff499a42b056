//! The data of one tenant's `Store`: only that tenant's config, its egress hooks, its output
//! capture and its limits.

use crate::egress::EgressHooks;
use crate::guard::CallGuard;
use crate::memory::SandboxLimiter;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store data for one tenant's sandbox.
pub struct TenantState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) hooks: EgressHooks,
    pub(crate) config: WasiConfigVariables,
    pub(crate) limiter: SandboxLimiter,
    /// The current call's accounting.
    pub(crate) guard: Arc<CallGuard>,
    /// Epoch ticks of CPU left for the current call.
    pub(crate) cpu_ticks_left: u64,
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
