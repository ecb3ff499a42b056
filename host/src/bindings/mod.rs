//! Host-side bindings of the connector world, one module per WIT package version the host serves.
//!
//! Compatibility rule: a component is served if it exports `redcarbon:connector/connector@V` for a
//! `V` in [`SUPPORTED_VERSIONS`] (exact match; anything else is refused before it goes live, naming
//! both versions). Every change of the contract bumps the package version and adds a module
//! (`v0_2_0`) beside this one, the host adapting each to the same internal types, so old and new
//! components run side by side; a version leaves the list only after no deployed component uses it.
//!
//! 0.2.0 (incident updates, hunting, the connection test, presets) replaced 0.1.0 outright: 0.1.0
//! was never deployed outside this repository, so no component needed it.

pub mod v0_2_0;

/// The connector interface this host serves, with its WIT package version.
pub const WORLD_INTERFACE: &str = "redcarbon:connector/connector";
/// The WIT package versions this host can run (one bindings module each).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.2.0"];

/// The current world's types, used throughout the host.
pub use v0_2_0::*;
