//! A small, generic wasmtime host for connector components: one sandbox per tenant, deny-by-default
//! egress, per-tenant config, NDJSON output and durable cursors.

pub mod analyst;
pub mod bindings;
pub mod checkpoint;
pub mod config;
pub mod connection_test;
pub mod durable;
pub mod egress;
pub mod fleet;
pub mod guard;
pub mod health;
pub mod http_pool;
pub mod limits;
pub mod logs;
pub mod memory;
pub mod output;
pub mod poll;
pub mod registry;
pub mod reload;
pub mod runtime;
pub mod secret;
pub mod state;

#[cfg(feature = "demo")]
pub mod demo;
