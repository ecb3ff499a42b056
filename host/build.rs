//! With the `demo` feature, builds the Defender connector component (wasm32-wasip2) into its own
//! target directory and exposes its path as `DEFENDER_COMPONENT_PATH`, so the host binary can embed
//! it and tests get the component built once per test run.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_DEMO").is_none() {
        return;
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    for watched in ["plugin/src", "plugin/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = guest_build::workspace_target_dir().join("guests");
    guest_build::ensure_wasm_target();
    let mut cmd = guest_build::cargo_build(&root, &target_dir);
    cmd.args(["-p", "defender-connector", "--profile", "component"]);
    guest_build::run(cmd, "the Defender connector component");
    let wasm = target_dir.join("wasm32-wasip2/component/defender_connector.wasm");
    assert!(wasm.exists(), "the component was not produced at {}", wasm.display());
    println!("cargo:rustc-env=DEFENDER_COMPONENT_PATH={}", wasm.display());
}
