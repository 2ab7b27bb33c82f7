//! Installs what building and testing wasmc needs, only when it is missing, so every
//! other command can call `ensure_setup()` first at almost no cost.

use crate::{run_checked, step};
use anyhow::{bail, Result};
use std::process::{Command, Stdio};

/// Debian packages: qemu-user runs the foreign ISAs; lld links; clang-16, lld-16,
/// wasi-libc and the wasm32 compiler-rt build C fixtures; wabt turns .wat into .wasm;
/// iproute2 makes the network namespaces of `cargo xtask continuum`; valgrind counts
/// instructions for `cargo xtask bench`.
pub const APT_PACKAGES: &[&str] = &[
    "qemu-user",
    "lld",
    "clang-16",
    "lld-16",
    "wasi-libc",
    "libclang-rt-16-dev-wasm32",
    "wabt",
    "iproute2",
    "valgrind",
];

/// The runtime is built for each ISA; Rust fixtures are built for WASI.
pub const RUST_TARGETS: &[&str] = &[
    "aarch64-unknown-linux-gnu",
    "riscv64gc-unknown-linux-gnu",
    "wasm32-wasip1",
];

/// `cargo xtask test` runs clippy on the runtime.
pub const RUST_COMPONENTS: &[&str] = &["clippy"];

pub fn ensure_setup() -> Result<()> {
    apt()?;
    rustup_targets()?;
    rustup_components()?;
    pip();
    Ok(())
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// `apt-get ARGS`, through sudo unless we are root.
fn apt_get(args: &[&str]) -> Command {
    let mut c = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    c
}

fn apt() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        step(format!(
            "setup: apt packages present ({})",
            APT_PACKAGES.join(" ")
        ));
        return Ok(());
    }
    if Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        bail!(
            "missing {} and this is not a Debian-like system: install them by hand",
            missing.join(" ")
        );
    }
    step(format!(
        "setup: installing apt packages {}",
        missing.join(" ")
    ));
    run_checked(&mut apt_get(&["update", "-q"]))?;
    let mut install = apt_get(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&missing);
    run_checked(&mut install)
}

fn rustup_targets() -> Result<()> {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        println!(
            "warning: rustup not found; make sure these Rust targets are installed: {}",
            RUST_TARGETS.join(" ")
        );
        return Ok(());
    };
    let have = String::from_utf8_lossy(&out.stdout).into_owned();
    let missing: Vec<&str> = RUST_TARGETS
        .iter()
        .copied()
        .filter(|t| !have.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        step(format!(
            "setup: rust targets present ({})",
            RUST_TARGETS.join(" ")
        ));
        return Ok(());
    }
    step(format!("setup: rustup target add {}", missing.join(" ")));
    run_checked(
        Command::new("rustup")
            .args(["target", "add"])
            .args(&missing),
    )
}

fn rustup_components() -> Result<()> {
    let Ok(out) = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
    else {
        println!(
            "warning: rustup not found; make sure these Rust components are installed: {}",
            RUST_COMPONENTS.join(" ")
        );
        return Ok(());
    };
    // Installed components are listed with the host triple: `clippy-x86_64-unknown-linux-gnu`.
    let have = String::from_utf8_lossy(&out.stdout).into_owned();
    let missing: Vec<&str> = RUST_COMPONENTS
        .iter()
        .copied()
        .filter(|c| {
            !have
                .lines()
                .any(|l| l.trim() == *c || l.trim().starts_with(&format!("{c}-")))
        })
        .collect();
    if missing.is_empty() {
        step(format!(
            "setup: rust components present ({})",
            RUST_COMPONENTS.join(" ")
        ));
        return Ok(());
    }
    step(format!("setup: rustup component add {}", missing.join(" ")));
    run_checked(
        Command::new("rustup")
            .args(["component", "add"])
            .args(&missing),
    )
}

/// Python modules, each optional (failing to get one is a warning): wasmtime is the
/// tests' cross-check; matplotlib draws the plots of `bench` and `continuum`.
const PIP_MODULES: &[(&str, &str)] = &[
    ("wasmtime", "tests will skip the wasmtime cross-check"),
    (
        "matplotlib",
        "bench and continuum will not draw their plots",
    ),
];

fn pip() {
    let python = std::env::var("WASMC_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    for (module, without) in PIP_MODULES {
        pip_module(&python, module, without);
    }
}

fn pip_module(python: &str, module: &str, without: &str) {
    let importable = || {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if importable() {
        step(format!("setup: python module {module} present"));
        return;
    }
    step(format!("setup: pip install {module}"));
    // Debian's own Python refuses pip installs outside a venv (PEP 668) unless told.
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let ok = Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                module,
            ])
            .args(extra)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok && importable() {
            return;
        }
    }
    println!("warning: could not install the Python module {module}; {without}");
}
