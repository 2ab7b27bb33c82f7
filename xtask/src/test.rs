//! `cargo xtask test`: the project's whole test suite, and what `.ci/run` runs.
//! `cargo test --workspace --release` (unit tests, IR snapshots, CLI tests, fixtures on
//! three ISAs and wasmtime, the bzip2 program), then the runtime's C-level tests and
//! clippy on the runtime for each ISA.
//! Ends with one `xtask: N passed, M failed` line totalling every test binary.

use crate::{cargo, root, step};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Tally {
    /// Adds the counts of a libtest summary line:
    /// `test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ...`
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let n = words
                .iter()
                .rev()
                .nth(1)
                .and_then(|w| w.parse::<u64>().ok())
                .unwrap_or(0);
            match words.last() {
                Some(&"passed") => self.passed += n,
                Some(&"failed") => self.failed += n,
                Some(&"ignored") => self.ignored += n,
                _ => {}
            }
        }
    }
}

pub fn run(cargo_args: &[String]) -> Result<()> {
    let mut tally = Tally::default();
    step("cargo test --workspace --release");
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--release"]);
    if !cargo_args.is_empty() {
        cmd.arg("--").args(cargo_args);
    }
    // Test output is streamed as it comes and read for the summary lines on the way.
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .context("starting cargo test")?;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line?;
        println!("{line}");
        tally.add_line(&line);
    }
    let cargo_ok = child.wait()?.success();
    if !cargo_ok && tally.failed == 0 {
        // Build failure, or a test binary that crashed: no summary line says so.
        tally.failed += 1;
        println!(
            "xtask: cargo test failed without a failing test (build error or crashed test binary)"
        );
    }

    let c_tests = root().join("runtime-lib/tests-c/run.sh");
    if c_tests.exists() && cargo_args.is_empty() {
        step("runtime-lib/tests-c/run.sh");
        // The script builds the runtime in runtime-lib/target and looks for it there; a
        // CARGO_TARGET_DIR inherited from the caller would send the build elsewhere.
        let ok = Command::new("bash")
            .arg(&c_tests)
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            tally.passed += 1;
        } else {
            tally.failed += 1;
            println!("xtask: runtime-lib/tests-c/run.sh failed");
        }
    }
    if cargo_args.is_empty() {
        if runtime_clippy() {
            tally.passed += 1;
        } else {
            tally.failed += 1;
            println!("xtask: clippy on runtime-lib failed");
        }
    }
    println!(
        "xtask: {} passed, {} failed, {} skipped",
        tally.passed, tally.failed, tally.ignored
    );
    if tally.failed > 0 {
        bail!("{} test(s) failed", tally.failed);
    }
    Ok(())
}

/// `cargo clippy --release --target T -- -D warnings` in runtime-lib for every ISA (the
/// runtime is built per target, and cfg'd code differs between them). The runtime denies
/// undocumented unsafe blocks itself, so this is also the check that every one says why
/// it is sound. True when all pass.
fn runtime_clippy() -> bool {
    let mut ok = true;
    for arch in targets::ALL {
        step(format!(
            "cargo clippy --release --target {} -- -D warnings (runtime-lib)",
            arch.triple()
        ));
        // As for run.sh: the runtime's own target directory, not an inherited one.
        let passed = cargo()
            .current_dir(root().join("runtime-lib"))
            .args(["clippy", "--release", "--target", arch.triple()])
            .args(["--", "-D", "warnings"])
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok &= passed;
    }
    ok
}

#[cfg(test)]
mod tests {
    #[test]
    fn tallies_libtest_summaries() {
        let mut t = super::Tally::default();
        t.add_line("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        t.add_line(
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        t.add_line("running 3 tests");
        assert_eq!((t.passed, t.failed, t.ignored), (15, 2, 1));
    }
}
