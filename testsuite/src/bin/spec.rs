//! `spec`: runs the WebAssembly spec test suite against wasmc for one or more ISAs.
//!
//! Usage: spec [--target ISA|all]... [--quick] [--jobs N] [--wasmc PATH] [--verbose]
//!             [SCRIPT-FILTER]...
//! Prints per ISA and script the passed/failed/skipped counts, each failure (script,
//! line, directive, expected, actual) and one `spec <isa>: N passed, N failed, N skipped`
//! line per ISA; exits 1 when anything failed.

use std::process::ExitCode;
use targets::Arch;
use testsuite::spec;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("spec: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let mut isas = Vec::new();
    let mut opts = spec::Options::new(Arch::X86_64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--target" => match value()?.as_str() {
                "all" => isas.extend(targets::ALL),
                t => isas.push(t.parse::<Arch>().map_err(|e| anyhow::anyhow!(e))?),
            },
            "--quick" => opts.quick = true,
            "--jobs" => opts.jobs = value()?.parse()?,
            "--wasmc" => opts.wasmc = value()?.into(),
            "--verbose" | "-v" => opts.verbose = true,
            "-h" | "--help" => {
                println!("usage: spec [--target ISA|all]... [--quick] [--jobs N] [--wasmc PATH] [--verbose] [SCRIPT-FILTER]...");
                return Ok(true);
            }
            f if !f.starts_with('-') => opts.filter.push(f.to_string()),
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    if isas.is_empty() {
        isas.push(Arch::host().unwrap_or(Arch::X86_64));
    }
    let simd = spec::simd_scripts();
    println!(
        "not run: {} SIMD scripts (wasmc has no SIMD): {}",
        simd.len(),
        simd.join(" ")
    );
    let mut summaries = Vec::new();
    for isa in isas {
        opts.isa = isa;
        summaries.push(spec::run(&opts)?);
    }
    let mut ok = true;
    for s in &summaries {
        println!("{}", s.line());
        ok &= s.totals().1 == 0;
    }
    Ok(ok)
}
