//! Helpers for build scripts that build wasm32-wasip2 components: the target is installed when
//! missing, the outer build's flags are kept away from the guest build, and guests get their own
//! target directory beside the outer one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `<target>` of the outer build: the nearest folder above OUT_DIR that cargo tagged as a target dir.
pub fn workspace_target_dir() -> PathBuf {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("called from a build script"));
    out.ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out.join("guest-target"))
}

/// Installs the wasm32-wasip2 standard library through rustup when it is missing.
pub fn ensure_wasm_target() {
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

/// A `cargo build --target wasm32-wasip2 --target-dir <target_dir>` run in `dir`, without the
/// outer build's flags (they are for the host, not for the guest). Add package/profile args.
pub fn cargo_build(dir: &Path, target_dir: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir).args(["build", "--target", "wasm32-wasip2", "--target-dir"]).arg(target_dir);
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
    cmd
}

/// Runs `cmd`, panicking with `what` if it fails.
pub fn run(mut cmd: Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo to build {what}: {e}"));
    assert!(status.success(), "building {what} (wasm32-wasip2) failed; see the errors above");
}
