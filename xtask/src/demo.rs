//! `cargo xtask demo`: builds wasmc, compiles examples/demo/demo.wasm for all three
//! ISAs, runs each (qemu-user for the foreign ones), shows the outputs and whether they
//! are identical.

use crate::{cargo, root, run_checked, step};
use anyhow::{bail, Context, Result};
use std::process::Command;

pub fn run() -> Result<()> {
    step("cargo build --release -p wasmc");
    run_checked(cargo().args(["build", "--release", "-p", "wasmc"]))?;
    let wasmc = testsuite::target_dir().join("release/wasmc");
    let wasm = root().join("examples/demo/demo.wasm");
    let work = testsuite::target_dir().join("demo");

    let mut outputs = Vec::new();
    for arch in targets::ALL {
        testsuite::require_runner(arch).map_err(anyhow::Error::msg)?;
        let dir = work.join(arch.name());
        testsuite::exec::fresh_dir(&dir.join("data"))?;
        let exe = dir.join("demo");
        step(format!(
            "wasmc --target {arch} examples/demo/demo.wasm -o {}",
            exe.display()
        ));
        run_checked(
            Command::new(&wasmc)
                .arg("--target")
                .arg(arch.name())
                .arg(&wasm)
                .arg("-o")
                .arg(&exe),
        )?;

        let runner = arch.runner().map(|q| format!("{q} ")).unwrap_or_default();
        step(format!(
            "{runner}{} 2000000   (DEMO_USER=wasmc, WASMC_DIRS=…/data::/data)",
            exe.display()
        ));
        let mut cmd = testsuite::exec::command_for(arch, &exe);
        cmd.arg("2000000").env("DEMO_USER", "wasmc").env(
            "WASMC_DIRS",
            format!("{}::/data", dir.join("data").display()),
        );
        let start = std::time::Instant::now();
        let out = cmd
            .output()
            .with_context(|| format!("running the {arch} demo"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        print!("{stdout}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        println!("[{arch}: {} in {:.2?}]\n", out.status, start.elapsed());
        if !out.status.success() {
            bail!("the {arch} demo failed ({})", out.status);
        }
        outputs.push((arch, stdout));
    }

    let identical = outputs.windows(2).all(|w| w[0].1 == w[1].1);
    let names: Vec<&str> = outputs.iter().map(|(a, _)| a.name()).collect();
    if !identical {
        for (a, out) in &outputs[1..] {
            if *out != outputs[0].1 {
                println!(
                    "{} vs {a}:\n{}",
                    outputs[0].0,
                    testsuite::diff(&outputs[0].1, out)
                );
            }
        }
        bail!("outputs differ between ISAs");
    }
    println!("outputs on {}: identical", names.join(", "));

    migration(&work)
}

/// The live-migration part: see `demo_migrate`.
fn migration(work: &std::path::Path) -> Result<()> {
    let exes = targets::ALL
        .iter()
        .map(|a| (*a, work.join(a.name()).join("demo")))
        .collect();
    crate::demo_migrate::run(work, exes)
}
