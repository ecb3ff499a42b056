//! Generated bindings for world `redcarbon:connector/connector-plugin@0.2.0` (wit/ of this repository).

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
    Alert, AlertPage, AuthInfo, Check, ConnectorError, ConnectorInfo, EvidenceSummary, FetchRequest, HuntingColumn,
    HuntingResult, Incident, IncidentPage, IncidentUpdate, QueryFailure, Timestamp, UpdatePath, UpdateResult,
};

/// No change at all: the starting point for building an update field by field.
impl Default for IncidentUpdate {
    fn default() -> Self {
        IncidentUpdate {
            expected_version: None,
            status: None,
            assigned_to: None,
            classification: None,
            determination: None,
            severity: None,
            custom_tags: None,
            resolving_comment: None,
        }
    }
}
