//! wasmtime (the PyPI package, driven by `testsuite/wasmtime_run.py`) as an independent
//! runner: it checks the fixtures' expectations themselves, and gives a reference
//! output for programs that have no expectation file (the registry-sourced ones).

use crate::exec::{self, Outcome};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The Python interpreter to use (`WASMC_TEST_PYTHON`, else `python3`).
pub fn python() -> String {
    std::env::var("WASMC_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether `import wasmtime` works; asked once per process.
pub fn wasmtime_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new(python())
            .args(["-c", "import wasmtime"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// Runs `wasm` under wasmtime with WASI: `args` after argv[0], `env` only (wasmtime's
/// WASI starts from an empty environment), `dir` = (host, guest) preopen,
/// `canonical_nans` = turn on wasmtime's NaN canonicalisation. A trap gives exit 134 and
/// the same stderr line a wasmc executable prints.
pub fn run_wasmtime(
    wasm: &Path,
    args: &[String],
    env: &[(String, String)],
    dir: Option<(&Path, &str)>,
    canonical_nans: bool,
    timeout: Duration,
) -> std::io::Result<Outcome> {
    let mut cmd = Command::new(python());
    cmd.arg(crate::repo_root().join("testsuite").join("wasmtime_run.py"))
        .arg(wasm);
    if canonical_nans {
        cmd.arg("--canonical-nans");
    }
    if let Some((host, guest)) = dir {
        cmd.arg("--dir").arg(format!("{}::{guest}", host.display()));
    }
    for (k, v) in env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    cmd.arg("--").args(args);
    exec::run(cmd, timeout)
}
