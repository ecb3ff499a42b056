//! State shared between the public handle and the server task.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::Value;

use crate::{Api, Fault, PageLimits, RequestRecord, Route, TenantData};

/// A token the emulator issued, remembered so Graph calls can be checked against it.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    /// Lower-cased tenant id.
    pub(crate) tenant: String,
    /// The tenant's roles when the token was issued (Entra tokens don't change afterwards).
    pub(crate) roles: Vec<String>,
    pub(crate) expires_at: Instant,
    /// The API the token is for (its audience).
    pub(crate) api: Api,
    /// The cloud that issued it.
    pub(crate) cloud: String,
    /// The app it was issued to.
    pub(crate) client_id: String,
}

/// One listener: its base URL, the cloud it belongs to, and which API it serves.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) base_url: String,
    pub(crate) cloud: String,
    pub(crate) api: Api,
}

/// Everything mutable, behind one mutex; never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Keyed by lower-cased tenant id (tenant GUIDs are case-insensitive in Entra).
    pub(crate) tenants: HashMap<String, TenantData>,
    pub(crate) tokens: HashMap<String, IssuedToken>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) log: Vec<RequestRecord>,
    /// Parallel to `log`: a unique number per entry, so a response can find its own record.
    pub(crate) log_seq: Vec<u64>,
    pub(crate) token_counts: HashMap<String, usize>,
    pub(crate) next_link_base: Option<String>,
    pub(crate) limits: PageLimits,
    /// Serve every item whatever `$filter` says.
    pub(crate) ignore_filter: bool,
    /// Every listener, in the order they were bound.
    pub(crate) endpoints: Vec<Endpoint>,
    /// When the data is frozen: list pages by request, built once (see `Emulator::freeze`).
    pub(crate) page_cache: Option<HashMap<String, std::sync::Arc<String>>>,
}

impl State {
    pub(crate) fn add_tenant(&mut self, tenant: TenantData) {
        self.tenants.insert(tenant.tenant_id.to_ascii_lowercase(), tenant);
    }

    pub(crate) fn tenant(&self, tenant_id: &str) -> Option<&TenantData> {
        self.tenants.get(&tenant_id.to_ascii_lowercase())
    }

    pub(crate) fn tenant_mut(&mut self, tenant_id: &str) -> &mut TenantData {
        match self.tenants.get_mut(&tenant_id.to_ascii_lowercase()) {
            Some(t) => t,
            None => panic!("graph-emulator: tenant '{tenant_id}' was never added (call add_tenant first)"),
        }
    }

    pub(crate) fn expire_tokens(&mut self, tenant_id: &str) {
        let tenant = tenant_id.to_ascii_lowercase();
        let now = Instant::now();
        for token in self.tokens.values_mut().filter(|t| t.tenant == tenant) {
            token.expires_at = now;
        }
    }

    /// Removes and returns the first queued fault whose route matches.
    pub(crate) fn take_fault(&mut self, matches: impl Fn(Route) -> bool) -> Option<Fault> {
        let pos = self.faults.iter().position(|f| matches(f.route))?;
        self.faults.remove(pos)
    }
}

/// The server's view: fixed facts plus the locked state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) base_url: String,
    state: Mutex<State>,
    /// Feeds ids that must differ per call (tokens, request ids); seeded from the clock so two
    /// emulators in one test run don't hand out the same ids.
    counter: AtomicU64,
}

impl Shared {
    pub(crate) fn new(base_url: String) -> Shared {
        let seed = crate::time::now().timestamp_nanos_opt().unwrap_or(0) as u64;
        Shared { base_url, state: Mutex::new(State::default()), counter: AtomicU64::new(crate::ids::mix(seed)) }
    }

    /// Runs `f` with the state locked. A panic in another thread while holding the lock (a test
    /// assertion, say) must not wedge the emulator, so poisoning is ignored.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// A fresh 64-bit value, different on every call.
    pub(crate) fn next_id(&self) -> u64 {
        crate::ids::mix(self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh GUID.
    pub(crate) fn next_guid(&self) -> String {
        crate::ids::guid_from(self.next_id(), self.next_id())
    }
}

/// Replaces the element with the same `"id"`, or appends.
pub(crate) fn upsert_by_id(items: &mut Vec<Value>, item: Value) {
    let id = item.get("id").cloned();
    match items.iter_mut().find(|existing| id.is_some() && existing.get("id") == id.as_ref()) {
        Some(existing) => *existing = item,
        None => items.push(item),
    }
}
