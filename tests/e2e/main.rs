//! End to end: the built Defender component in the real host against the Entra ID + Graph
//! emulator. One test binary so wasmtime links once.

mod errors;
mod ingest;
