//! Builds the test-only hostile components (tests/guests/hostile, one per behaviour) for
//! wasm32-wasip2 into their own target directory, once per test build, and exposes the folder as
//! `HOSTILE_GUESTS_DIR`.

use std::path::PathBuf;

/// Every behaviour (a cargo feature of the hostile crate); each becomes `hostile-<name>.wasm`.
const BEHAVIOURS: &[&str] = &[
    "memory-bomb",
    "infinite-loop",
    "panic",
    "egress",
    "config-snoop",
    "stdout-flood",
    "request-flood",
    "future-world",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let crate_dir = manifest.join("guests/hostile");
    println!("cargo:rerun-if-changed=build.rs");
    for watched in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", crate_dir.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", manifest.parent().unwrap().join("wit").display());
    guest_build::ensure_wasm_target();
    let target_dir = guest_build::workspace_target_dir().join("guests-hostile");
    let out = target_dir.join("components");
    std::fs::create_dir_all(&out).unwrap();
    for behaviour in BEHAVIOURS {
        let mut cmd = guest_build::cargo_build(&crate_dir, &target_dir);
        cmd.args(["--locked", "--release", "--features", behaviour]);
        guest_build::run(cmd, &format!("the hostile component `{behaviour}`"));
        let built = target_dir.join("wasm32-wasip2/release/hostile_guest.wasm");
        std::fs::copy(&built, out.join(format!("hostile-{behaviour}.wasm")))
            .unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
    }
    println!("cargo:rustc-env=HOSTILE_GUESTS_DIR={}", out.display());
    build_versions(manifest.parent().unwrap());
}

/// Two builds of the real Defender connector that differ only in the version they report (and so
/// stamp on every record): the hot-swap tests swap between them.
const VERSIONS: &[&str] = &["0.1.0-swap-a", "0.1.0-swap-b"];

fn build_versions(root: &std::path::Path) {
    for watched in ["plugin/src", "plugin/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = guest_build::workspace_target_dir().join("guests-versions");
    let out = target_dir.join("components");
    std::fs::create_dir_all(&out).unwrap();
    for version in VERSIONS {
        let mut cmd = guest_build::cargo_build(root, &target_dir);
        cmd.args(["-p", "defender-connector", "--release"]).env("CONNECTOR_VERSION", version);
        guest_build::run(cmd, &format!("the Defender connector stamped {version}"));
        let built = target_dir.join("wasm32-wasip2/release/defender_connector.wasm");
        std::fs::copy(&built, out.join(format!("defender-{version}.wasm")))
            .unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
    }
    println!("cargo:rustc-env=VERSIONED_GUESTS_DIR={}", out.display());
}
