//! Generated bindings for world `redcarbon:connector/connector-plugin@0.1.0`.
//!
//! One module per supported WIT version: a future `0.2.0` gets its own module beside this one.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "redcarbon:connector/connector-plugin",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

/// The connector interface this host serves, with its WIT package version.
pub const WORLD_INTERFACE: &str = "redcarbon:connector/connector";
/// The WIT package versions this host can run (one bindings module each).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0"];

pub use redcarbon::connector::types::{
    Alert, AlertPage, AuthInfo, ConnectorError, ConnectorInfo, EvidenceSummary, FetchRequest, Incident, IncidentPage,
    Timestamp,
};
