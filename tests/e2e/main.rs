//! End to end: the built Defender component in the real host against the Entra ID + Graph
//! emulator. One test binary so wasmtime links once.

mod analyst;
mod cursor;
mod errors;
mod ingest;
mod odd_data;
mod resilience;
mod sandbox;
mod setup;
mod swap;
