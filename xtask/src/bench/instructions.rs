//! (a), counted: instructions each workload executes with and without migration
//! points, under callgrind. Times on this shared 2-core machine move by ±10% between
//! runs; instruction counts are the same every run, so they show what points cost on
//! a loop nest when the times cannot.
//!
//! Each workload runs at its quick size (callgrind is some 50x slower than the program;
//! the ratio hardly depends on the size). The two variants of a workload run side by
//! side, since counts do not suffer from sharing the cores.

use super::workloads::Workload;
use super::Config;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct InsnRow {
    pub name: String,
    /// The size argument the counts are for.
    pub args: Vec<String>,
    pub mig: u64,
    pub nomig: u64,
}

impl InsnRow {
    /// Instructions with points per instruction without.
    pub fn ratio(&self) -> f64 {
        self.mig as f64 / self.nomig as f64
    }
}

/// The instructions `mig args` and `nomig args` execute and what each printed, counted
/// side by side (counts do not suffer from sharing the cores).
pub(super) fn count_both(
    mig: &Path,
    nomig: &Path,
    args: &[String],
) -> Result<((u64, Vec<u8>), (u64, Vec<u8>))> {
    std::thread::scope(|s| {
        let with = s.spawn(|| count(mig, args));
        let without = count(nomig, args);
        Ok((with.join().expect("callgrind thread")?, without?))
    })
}

/// The instructions `exe args` executes, as callgrind counts them, and what it printed.
fn count(exe: &Path, args: &[String]) -> Result<(u64, Vec<u8>)> {
    let mut c = Command::new("valgrind");
    c.args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(args);
    testsuite::exec::scrub_env(&mut c);
    let out = c
        .output()
        .with_context(|| format!("running valgrind on {}", exe.display()))?;
    if !out.status.success() {
        bail!("{} {args:?} under callgrind: {}", exe.display(), out.status);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let n = err
        .lines()
        .find_map(|l| {
            let n = l.split("Collected :").nth(1)?;
            n.trim().parse().ok()
        })
        .with_context(|| format!("no instruction count from callgrind for {}", exe.display()))?;
    Ok((n, out.stdout))
}

/// Counts every workload in `exes` (`<name>.mig` and `<name>.nomig`, built by the
/// run-time measure) at its quick size; in a quick run, only the kernels.
pub fn run(cfg: &Config, exes: &Path, workloads: &[Workload]) -> Result<Vec<InsnRow>> {
    crate::step("bench: executed instructions (callgrind)");
    let mut rows = vec![];
    for w in workloads
        .iter()
        .filter(|w| !cfg.quick || w.kind == "kernel")
    {
        let exe = |ext: &str| -> PathBuf { exes.join(&w.name).with_extension(ext) };
        let ((mig, _), (nomig, _)) = count_both(&exe("mig"), &exe("nomig"), &w.small_args)?;
        let row = InsnRow {
            name: w.name.clone(),
            args: w.small_args.clone(),
            mig,
            nomig,
        };
        println!(
            "    {} {}: {} / {} instructions ({:.3}x)",
            row.name,
            row.args.join(" "),
            row.mig,
            row.nomig,
            row.ratio()
        );
        rows.push(row);
    }
    Ok(rows)
}
