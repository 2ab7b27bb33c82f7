//! `cargo xtask crossmigrate-test`: every fixture, checkpointed at several points on
//! each ISA and restored on each ISA (nine ordered pairs), plus chains hopping across
//! all three; prints the 3×3 matrix and fails on any divergence from an uninterrupted
//! run. The engine is `testsuite::crossmigrate`; CI runs a fixed subset of it as
//! `compiler/tests/crossmigrate.rs`.

use crate::{cargo, run_checked, step};
use anyhow::{bail, Result};
use testsuite::crossmigrate::{build_programs, run_all};

pub fn run(quick: bool, only: &[String]) -> Result<()> {
    step("cargo build --release -p wasmc");
    run_checked(cargo().args(["build", "--release", "-p", "wasmc"]))?;
    for a in targets::ALL {
        testsuite::require_runner(a).map_err(anyhow::Error::msg)?;
    }
    let wasmc = testsuite::target_dir().join("release/wasmc");
    // A fixture that does not run correctly without migration (known failures) cannot
    // be compared with itself after one: it is reported as not run.
    let known = testsuite::expect::known_failures();
    // Programs that run correctly but cannot be migrated within the per-run limit.
    const TOO_BIG: &[(&str, &str)] = &[(
        "wat/trap_big_frames",
        "up to 100,000 frames of 1,600 live i64 locals: a late checkpoint is about 1.2 GB, more than qemu-riscv64 writes within the 120 s run limit",
    )];
    let (fixtures, not_run): (Vec<_>, Vec<_>) = testsuite::load_fixtures()?
        .into_iter()
        .filter(|f| only.is_empty() || only.iter().any(|o| f.name.contains(o.as_str())))
        .partition(|f| {
            !known.iter().any(|(_, k)| *k == f.name) && !TOO_BIG.iter().any(|(n, _)| *n == f.name)
        });
    for f in &not_run {
        match TOO_BIG.iter().find(|(n, _)| *n == f.name) {
            Some((_, why)) => println!("not run: {} ({why})", f.name),
            None => println!(
                "not run: {} (listed in testsuite/known-failures.txt)",
                f.name
            ),
        }
    }
    if fixtures.is_empty() {
        bail!("no fixture matches {only:?}");
    }
    let scratch = testsuite::target_dir().join("crossmigrate");
    step(format!(
        "compiling {} programs for x86_64, aarch64, riscv64",
        fixtures.len()
    ));
    let programs = build_programs(&wasmc, fixtures, &scratch.join("bin"))?;
    step(format!(
        "migrating ({} mode)",
        if quick { "quick" } else { "full" }
    ));
    let m = run_all(&programs, quick, &scratch, 2)?;
    println!(
        "\ncross-ISA migrations passed / run (source ISA in rows, destination in columns):\n{}",
        m.render()
    );
    if !m.failures.is_empty() {
        for f in &m.failures {
            println!("DIVERGED: {f}");
        }
        bail!(
            "{} of {} migrations diverged",
            m.total() - m.passed(),
            m.total()
        );
    }
    println!("crossmigrate: {} passed, 0 failed", m.total());
    Ok(())
}
