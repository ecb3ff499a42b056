//! Generated bindings for world `redcarbon:connector/connector-plugin@0.1.0` (wit/ of this repository).

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

pub use redcarbon::connector::types::{
    Alert, AlertPage, AuthInfo, ConnectorError, ConnectorInfo, EvidenceSummary, FetchRequest, Incident, IncidentPage,
    Timestamp,
};
