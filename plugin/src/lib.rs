//! Microsoft 365 Defender (Defender XDR) connector.
//!
//! Everything but `component` (WIT glue) and `wasi_http` (the one module that touches wasi:http)
//! is plain Rust and tested natively.

pub mod analyst;
pub mod assertion;
pub mod auth;
pub mod cloud;
pub mod config;
pub mod connection_test;
pub mod connector;
pub mod cursor;
pub mod error;
pub mod graph;
pub mod http;
pub mod hunting;
pub mod model;
pub mod records;
pub mod severity;
pub mod time;
pub mod update;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod wasi_http;

/// Connector name reported by `describe`.
pub const NAME: &str = "microsoft-defender-xdr";
/// Connector version reported by `describe` and stamped on records by the host.
pub const VERSION: &str = match option_env!("CONNECTOR_VERSION") {
    // A release pipeline (and the hot-swap tests) may stamp a build with its own version.
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};
