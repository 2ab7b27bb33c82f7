//! Helpers shared by wasmc's integration tests (`compiler/tests/*.rs`) and xtask.
//!
//! * [`expect`]: fixtures on disk and what each is expected to do.
//! * [`exec`]: running processes with a timeout and a global bound on how many run at
//!   once (2 cores; qemu-user reserves a lot of address space per process).
//! * [`check`]: comparing an outcome with an expectation, with readable diffs.
//! * [`reference`]: wasmtime (PyPI) as an independent runner of the same modules.
//! * [`registry`]: third-party C sources fetched from crates.io at test time.

pub mod check;
pub mod crossmigrate;
pub mod exec;
pub mod expect;
pub mod reference;
pub mod registry;
pub mod spec;

use std::path::PathBuf;

pub use check::{check, diff};
pub use exec::{parallel_map, run, Outcome};
pub use expect::{load_fixtures, Expect, Fixture};

/// The repository's root directory (this crate lives in `<root>/testsuite`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `<root>/testsuite/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("testsuite").join("fixtures")
}

/// Cargo's target directory, where tests cache downloads and build products.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The message every test prints when a tool the suite needs is missing: a missing
/// tool is a failure, never a skip, and the fix is always the same command.
pub fn missing_tool(tool: &str) -> String {
    format!("`{tool}` not found on PATH: run `cargo xtask setup` (it installs everything the tests need)")
}

/// Whether `prog` can be found on PATH.
pub fn on_path(prog: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|d| d.join(prog).is_file())
}

/// Checks that executables of `arch` can be run here (qemu-user for foreign ISAs).
pub fn require_runner(arch: targets::Arch) -> Result<(), String> {
    match arch.runner() {
        Some(q) if !on_path(q) => Err(missing_tool(q)),
        _ => Ok(()),
    }
}
