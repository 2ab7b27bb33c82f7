//! `cargo xtask spec [--target ISA|all] [--quick] [--verbose] [SCRIPT-FILTER]...`: builds
//! wasmc and the spec runner (testsuite/src/bin/spec.rs), then runs the WebAssembly spec
//! test suite (wasm-v2) against wasmc-compiled code. Arguments go to the runner as given.

use anyhow::Result;

pub fn run(args: &[String]) -> Result<()> {
    crate::step("build wasmc and the spec runner");
    crate::run_checked(crate::cargo().current_dir(crate::root()).args([
        "build",
        "--release",
        "-p",
        "wasmc",
        "--bin",
        "wasmc",
        "-p",
        "testsuite",
        "--bin",
        "spec",
    ]))?;
    crate::step(format!("spec {}", args.join(" ")));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    crate::run_checked(std::process::Command::new(target.join("release").join("spec")).args(args))
}
