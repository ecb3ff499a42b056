//! With the `demo` feature, builds the Defender connector component (wasm32-wasip2) into its own
//! target directory and exposes its path as `DEFENDER_COMPONENT_PATH`, so the host binary can embed
//! it and tests get the component built once per test run.

use std::path::{Path, PathBuf};
use std::process::Command;

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
    let target_dir = workspace_target_dir().join("guests");
    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "-p",
            "defender-connector",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "component",
            "--target-dir",
        ])
        .arg(&target_dir);
    // The outer build's settings are for the host, not for the guest.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo to build the connector component");
    assert!(status.success(), "building the Defender connector component (wasm32-wasip2) failed; see the errors above");
    let wasm = target_dir.join("wasm32-wasip2/component/defender_connector.wasm");
    assert!(wasm.exists(), "the component was not produced at {}", wasm.display());
    println!("cargo:rustc-env=DEFENDER_COMPONENT_PATH={}", wasm.display());
}

/// `<target>` of the outer build: the nearest folder above OUT_DIR that cargo tagged as a target dir.
fn workspace_target_dir() -> PathBuf {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    out.ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out.join("guest-target"))
}

/// Installs the wasm32-wasip2 standard library through rustup when it is missing.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().expect("run rustc --print sysroot");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if Path::new(&sysroot).join("lib/rustlib/wasm32-wasip2").exists() {
        return;
    }
    println!("cargo:warning=installing the wasm32-wasip2 target with rustup (one time)");
    let ok =
        Command::new("rustup").args(["target", "add", "wasm32-wasip2"]).status().map(|s| s.success()).unwrap_or(false);
    assert!(
        ok,
        "the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed; run it by hand, then build again"
    );
}
