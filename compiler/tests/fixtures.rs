//! Every fixture in testsuite/fixtures, compiled by the wasmc binary for every ISA and
//! run here (natively or under qemu-user), compared with its `.expect` file: stdout,
//! exit status, the trap line on stderr, files left in the preopened directory.
//! Also: the same expectations checked under wasmtime, which keeps the expectations
//! honest independently of wasmc.
//!
//! Knobs (environment): WASMC_TEST_FLAGS (extra wasmc flags, e.g. "-O0"),
//! WASMC_TEST_FIXTURES (substring filter on fixture names), WASMC_TEST_RUN_TIMEOUT /
//! WASMC_TEST_COMPILE_TIMEOUT (seconds). Expected failures are listed, with a reason,
//! in testsuite/known-failures.txt; one that starts passing must be removed from there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use targets::Arch;
use testsuite::exec::{self, command_for, fresh_dir, scrub_env, timeout_from_env};
use testsuite::{check, load_fixtures, reference, Fixture, Outcome};

const WASMC: &str = env!("CARGO_BIN_EXE_wasmc");

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixtures")
}

fn selected_fixtures() -> Vec<Fixture> {
    let mut all = load_fixtures().expect("loading fixtures");
    if let Ok(filter) = std::env::var("WASMC_TEST_FIXTURES") {
        all.retain(|f| f.name.contains(&filter));
    }
    // Slow ones first, so the bounded pool is not left waiting on a straggler.
    all.sort_by_key(|f| {
        (
            !matches!(f.name.as_str(), "c/memgrow" | "c/intops" | "rust/wordfreq"),
            f.name.clone(),
        )
    });
    all
}

fn extra_flags() -> Vec<String> {
    std::env::var("WASMC_TEST_FLAGS")
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// Compiles `wasm` for `arch` into `exe`; Err is a ready-to-print report.
pub fn compile(wasm: &Path, arch: Arch, exe: &Path) -> Result<(), String> {
    let mut cmd = Command::new(WASMC);
    cmd.arg("--target")
        .arg(arch.name())
        .arg(wasm)
        .arg("-o")
        .arg(exe)
        .args(extra_flags());
    let out = exec::run(cmd, timeout_from_env("WASMC_TEST_COMPILE_TIMEOUT", 300))
        .map_err(|e| format!("cannot run wasmc: {e}"))?;
    if out.code == Some(0) && exe.exists() {
        return Ok(());
    }
    Err(format!(
        "wasmc --target {} {} failed ({}):\n{}",
        arch.name(),
        wasm.display(),
        out.status_text(),
        testsuite::check::indent(&testsuite::check::truncate(&out.stderr_str(), 3000))
    ))
}

/// Compiles and runs one fixture on one ISA; returns every problem found.
fn run_case(fix: &Fixture, arch: Arch) -> Vec<String> {
    let dir = work_dir().join(arch.name()).join(fix.slug());
    if let Err(e) = fresh_dir(&dir) {
        return vec![format!("cannot create {}: {e}", dir.display())];
    }
    let exe = dir.join(fix.slug());
    if let Err(report) = compile(&fix.wasm, arch, &exe) {
        return vec![report];
    }
    let sandbox = dir.join("sandbox");
    let mut cmd = command_for(arch, &exe);
    scrub_env(&mut cmd);
    cmd.args(&fix.expect.args)
        .current_dir(&dir)
        .env_remove("FIXTURE_UNSET");
    for (k, v) in &fix.expect.env {
        cmd.env(k, v);
    }
    if let Some(guest) = &fix.expect.dir {
        std::fs::create_dir_all(&sandbox).unwrap();
        cmd.env("WASMC_DIRS", format!("{}::{guest}", sandbox.display()));
    }
    match exec::run(cmd, timeout_from_env("WASMC_TEST_RUN_TIMEOUT", 180)) {
        Ok(out) => check(
            fix,
            &out,
            fix.expect.dir.as_ref().map(|_| sandbox.as_path()),
        ),
        Err(e) => vec![format!("cannot run {}: {e}", exe.display())],
    }
}

fn known_failures() -> BTreeSet<(String, String)> {
    testsuite::expect::known_failures()
}

fn is_known(known: &BTreeSet<(String, String)>, arch: &str, fixture: &str) -> bool {
    known.contains(&(arch.to_string(), fixture.to_string()))
        || known.contains(&("*".to_string(), fixture.to_string()))
}

/// Runs `case` for every fixture and turns the results into a verdict: panics with a
/// report of every unexpected failure (and every known failure that now passes).
fn run_all(label: &str, case: impl Fn(&Fixture) -> Vec<String> + Sync) {
    let fixtures = selected_fixtures();
    assert!(!fixtures.is_empty(), "no fixtures selected");
    let results = exec::parallel_map(&fixtures, exec::MAX_PROCESSES, |f| case(f));
    let known = known_failures();
    let (mut failed, mut fixed, mut still_known) = (Vec::new(), Vec::new(), Vec::new());
    for (fix, problems) in fixtures.iter().zip(&results) {
        let expected_to_fail = is_known(&known, label, &fix.name);
        match (problems.is_empty(), expected_to_fail) {
            (true, false) => println!("ok      {label} {}", fix.name),
            (true, true) => fixed.push(fix.name.clone()),
            (false, true) => {
                println!(
                    "KNOWN   {label} {} (listed in testsuite/known-failures.txt)",
                    fix.name
                );
                still_known.push(fix.name.clone());
            }
            (false, false) => {
                println!("FAILED  {label} {}", fix.name);
                failed.push(format!(
                    "=== {} on {label}\n{}",
                    fix.name,
                    problems.join("\n")
                ));
            }
        }
    }
    let passed = results.iter().filter(|p| p.is_empty()).count();
    // Written to the real stderr (libtest captures only print!/eprint!), so that CI logs
    // show the per-ISA summary and what the known failures currently do.
    let mut summary = format!(
        "fixtures on {label}: {passed} of {} pass, {} known failures\n",
        fixtures.len(),
        still_known.len()
    );
    for (fix, problems) in fixtures.iter().zip(&results) {
        if still_known.contains(&fix.name) {
            let first = problems
                .iter()
                .flat_map(|p| p.lines())
                .take(4)
                .collect::<Vec<_>>()
                .join(" | ");
            summary.push_str(&format!("    known failure {}: {first}\n", fix.name));
        }
    }
    use std::io::Write;
    let _ = std::io::stderr().write_all(summary.as_bytes());
    let mut report = failed.join("\n\n");
    for name in &fixed {
        report.push_str(&format!(
            "\n=== {name} on {label} now passes: remove it from testsuite/known-failures.txt"
        ));
    }
    assert!(
        report.is_empty(),
        "{} of {} fixtures failed on {label}:\n\n{report}\n",
        failed.len() + fixed.len(),
        fixtures.len()
    );
}

fn run_isa(arch: Arch) {
    if let Err(msg) = testsuite::require_runner(arch) {
        panic!("cannot run {} executables: {msg}", arch.name());
    }
    run_all(arch.name(), |f| run_case(f, arch));
}

#[test]
fn fixtures_x86_64() {
    run_isa(Arch::X86_64);
}

#[test]
fn fixtures_aarch64() {
    run_isa(Arch::Aarch64);
}

#[test]
fn fixtures_riscv64() {
    run_isa(Arch::Riscv64);
}

/// The expectations hold under wasmtime too (when its Python package is installed:
/// `cargo xtask setup` installs it; without it this test says so and checks nothing).
#[test]
fn fixtures_under_wasmtime() {
    if !reference::wasmtime_available() {
        eprintln!("NOTE: Python module `wasmtime` not importable; expectations not cross-checked (run `cargo xtask setup`)");
        return;
    }
    run_all("wasmtime", |fix| {
        let dir = work_dir().join("wasmtime").join(fix.slug());
        fresh_dir(&dir).unwrap();
        let sandbox = dir.join("sandbox");
        let preopen = fix.expect.dir.as_ref().map(|g| {
            std::fs::create_dir_all(&sandbox).unwrap();
            (sandbox.as_path(), g.as_str())
        });
        let out: Outcome = match reference::run_wasmtime(
            &fix.wasm,
            &fix.expect.args,
            &fix.expect.env,
            preopen,
            fix.expect.wasmtime_canonical_nans,
            timeout_from_env("WASMC_TEST_RUN_TIMEOUT", 180),
        ) {
            Ok(o) => o,
            Err(e) => return vec![format!("cannot run wasmtime: {e}")],
        };
        if out.code == Some(3) && out.stderr_str().starts_with("wasmtime_run:") {
            return vec![format!("wasmtime helper failed: {}", out.stderr_str())];
        }
        check(fix, &out, preopen.map(|(h, _)| h))
    });
}
