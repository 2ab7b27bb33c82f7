//! `cargo xtask <command>`: project chores that need more than cargo.
//!
//!   setup     install what the project needs (apt, rustup targets, pip), idempotently
//!   test      setup, then the whole test suite (what CI runs)
//!   demo      setup, build wasmc, run examples/demo on all three ISAs, compare outputs
//!   fixtures  setup, rebuild every fixture .wasm (and the demo's) from its source
//!   bench     setup, build wasmc, measure it (benches/RESULTS.md); --quick for CI
//!   crossmigrate-test  every fixture migrated across all ISA pairs (3x3 matrix) and chains
//!   spec      the WebAssembly spec test suite against wasmc (`--target ISA|all`, `--quick`)
//!   fuzz      differential fuzzing against wasmtime, and checkpoint mutation (`--seconds`, `--seed`)
//!   continuum live migration across emulated cloud, edge and device nodes (benches/CONTINUUM.md)
//!
//! Every command starts with the same `setup::ensure_setup()`, so on a fresh machine
//! `cargo xtask test` alone is enough.

mod bench;
mod continuum;
mod crossmigrate;
mod demo;
mod demo_migrate;
mod fixtures;
mod fuzz;
mod setup;
mod spec;
mod test;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::Command;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "wasmc project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install missing system packages, Rust targets and the Python modules (wasmtime, matplotlib)
    Setup,
    /// Run the whole test suite (cargo test --workspace --release, runtime C tests)
    Test {
        /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Build wasmc and run the demo program on x86_64, aarch64 and riscv64
    Demo,
    /// Rebuild all fixture .wasm files from their C, WAT and Rust sources
    Fixtures,
    /// Measure run time, code size, checkpoint/restore and compile speed (benches/)
    Bench {
        /// Small sizes and few rounds: a smoke run that finishes in minutes
        #[arg(long)]
        quick: bool,
    },
    /// Migrate every fixture across all 9 ordered ISA pairs and chains; print the matrix
    CrossmigrateTest {
        /// Fewer stop points per program (what CI runs for its subset)
        #[arg(long)]
        quick: bool,
        /// Only fixtures whose name contains one of these
        only: Vec<String>,
    },
    /// Run the WebAssembly spec test suite (wasm-v2 and exceptions) against wasmc: [--target ISA|all] [--quick]
    Spec {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Move a running program cloud -> edge -> device -> cloud over emulated links, by
    /// stop-and-copy and pre-copy; fault cases; benches/CONTINUUM.md (needs root)
    Continuum {
        /// 16 MiB only (the full run adds 64 MiB, and 256 MiB over the 1 Gbit link)
        #[arg(long)]
        quick: bool,
    },
    /// Fuzz: random modules against wasmtime, mutated checkpoints restored; findings under target/fuzz/
    Fuzz {
        /// Wall-time budget in seconds
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seed of every generated module and mutant (the same seed repeats the run)
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = setup::ensure_setup().and_then(|()| match cli.cmd {
        Cmd::Setup => Ok(()),
        Cmd::Test { cargo_args } => test::run(&cargo_args),
        Cmd::Demo => demo::run(),
        Cmd::Fixtures => fixtures::run(),
        Cmd::Bench { quick } => bench::run(quick),
        Cmd::Spec { args } => spec::run(&args),
        Cmd::CrossmigrateTest { quick, only } => crossmigrate::run(quick, &only),
        Cmd::Fuzz { seconds, seed } => fuzz::run(seconds, seed),
        Cmd::Continuum { quick } => continuum::run(quick),
    });
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

/// The repository root (xtask lives in `<root>/xtask`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The cargo that invoked us, so `cargo +toolchain xtask` stays on that toolchain.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs `cmd` with inherited stdio; an error if it cannot start or exits non-zero.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    anyhow::ensure!(status.success(), "{shown} failed ({status})");
    Ok(())
}

/// `step` lines make a long run readable in CI logs.
pub fn step(msg: impl std::fmt::Display) {
    println!("==> {msg}");
}
