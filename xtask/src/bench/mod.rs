//! `cargo xtask bench [--quick]`: wasmc's performance against its goals, in one run.
//!
//!   a. run-time cost of migration points: wasmc vs `wasmc --no-migration-points`, in
//!      time and in executed instructions (instructions.rs), and in instructions on
//!      loop nests beyond the kernels (loopnests.rs)
//!   b. wasmc vs wasmtime (PyPI, AOT) on the same .wasm; for information also wasmc
//!      with the processor's extensions (`--cpu-features native`), as wasmtime compiles,
//!      and gcc -O2 natively
//!   c. code size (.text) with vs without migration points, and of a large real
//!      program (real.rs: Boolector from PyPI) on all three ISAs
//!   d. checkpoint and restore times and checkpoint sizes (checkpoint.rs)
//!   e. compile throughput vs wasmtime (compile.rs)
//!
//! Everything runs sequentially (parallel runs would distort each other on 2 cores).
//! The full run writes `benches/RESULTS.md` and `benches/checkpoint.png`; `--quick`
//! (small sizes, 2 rounds; what CI runs, never judging a timing) writes them under
//! `target/bench/` so it cannot overwrite the committed results.

mod checkpoint;
mod compile;
mod instructions;
mod loopnests;
pub(crate) mod measure;
mod real;
pub(crate) mod report;
mod workloads;

use crate::{cargo, run_checked, step};
use anyhow::Result;
use measure::{exe_command, Clock, Stats, Variant, WasmtimeNans};
use std::path::PathBuf;
use std::process::Command;

/// (a) and (b) for one workload.
pub struct RunRow {
    pub name: String,
    pub kind: &'static str,
    pub mig: Stats,
    pub nomig: Stats,
    /// Both built with `--cpu-features native`: the processor's own extensions, which
    /// wasmtime, compiling on the host, also uses (information beside b).
    pub host_mig: Stats,
    pub host_nomig: Stats,
    pub wasmtime: Option<Stats>,
    /// wasmtime with its NaN canonicalisation on: the same bits on every ISA, as
    /// wasmc gives (information beside b).
    pub wasmtime_canonical: Option<Stats>,
    pub native: Stats,
}

/// (c) for one workload: (.text, all executable sections) of the object wasmc emits
/// (only the generated code) and of the linked executable (plus the runtime).
pub struct SizeRow {
    pub name: String,
    pub obj_mig: (u64, u64),
    pub obj_nomig: (u64, u64),
    pub exe_mig: (u64, u64),
    pub exe_nomig: (u64, u64),
}

pub struct Config {
    pub quick: bool,
    pub rounds: usize,
    pub wasmc: PathBuf,
    pub work: PathBuf,
    pub wasmtime: bool,
    /// The commit measured (`report::revision`).
    pub revision: String,
}

pub fn run(quick: bool) -> Result<()> {
    let revision = report::revision(&["benches/RESULTS.md", "benches/checkpoint.png"]);
    // The build to install (the workspace's `dist` profile): what users run.
    step("cargo build --profile dist -p wasmc");
    run_checked(cargo().args(["build", "--profile", "dist", "-p", "wasmc"]))?;
    let cfg = Config {
        quick,
        rounds: if quick { 2 } else { 5 },
        wasmc: testsuite::target_dir().join("dist/wasmc"),
        work: testsuite::target_dir().join("bench"),
        wasmtime: measure::have_wasmtime(),
        revision,
    };
    if !cfg.wasmtime {
        println!("bench: the wasmtime Python module is missing (pip install wasmtime): no wasmtime columns");
    }
    let workloads = workloads::all(&cfg.work.join("build"), quick)?;

    let exes = cfg.work.join("exe");
    std::fs::create_dir_all(&exes)?;
    let (mut runs, mut sizes) = (vec![], vec![]);
    for w in &workloads {
        step(format!("bench: {} {}", w.name, w.args.join(" ")));
        let base = exes.join(&w.name);
        let with = |ext: &str| base.with_extension(ext);
        measure::wasmc(&cfg.wasmc, &w.wasm, &with("mig"), &[])?;
        measure::wasmc(
            &cfg.wasmc,
            &w.wasm,
            &with("nomig"),
            &["--no-migration-points"],
        )?;
        let host = ["--cpu-features", "native"];
        measure::wasmc(&cfg.wasmc, &w.wasm, &with("host.mig"), &host)?;
        measure::wasmc(
            &cfg.wasmc,
            &w.wasm,
            &with("host.nomig"),
            &[&host[..], &["--no-migration-points"]].concat(),
        )?;
        measure::wasmc(&cfg.wasmc, &w.wasm, &with("mig.o"), &["--emit", "obj"])?;
        measure::wasmc(
            &cfg.wasmc,
            &w.wasm,
            &with("nomig.o"),
            &["--emit", "obj", "--no-migration-points"],
        )?;
        sizes.push(SizeRow {
            name: w.name.clone(),
            obj_mig: measure::text_sizes(&with("mig.o"))?,
            obj_nomig: measure::text_sizes(&with("nomig.o"))?,
            exe_mig: measure::text_sizes(&with("mig"))?,
            exe_nomig: measure::text_sizes(&with("nomig"))?,
        });

        let mut variants = vec![
            Variant::new(
                "wasmc",
                exe_command(&with("mig"), &w.args),
                Clock::WholeProcess,
            ),
            Variant::new(
                "wasmc --no-migration-points",
                exe_command(&with("nomig"), &w.args),
                Clock::WholeProcess,
            ),
            Variant::new(
                "wasmc --cpu-features native",
                exe_command(&with("host.mig"), &w.args),
                Clock::WholeProcess,
            ),
            Variant::new(
                "wasmc --cpu-features native --no-migration-points",
                exe_command(&with("host.nomig"), &w.args),
                Clock::WholeProcess,
            ),
        ];
        if cfg.wasmtime {
            for (nans, ext, name) in [
                (WasmtimeNans::Default, "cwasm", "wasmtime"),
                (
                    WasmtimeNans::Canonical,
                    "canon.cwasm",
                    "wasmtime --canonical-nans",
                ),
            ] {
                measure::wasmtime_compile(&w.wasm, &with(ext), nans)?;
                let cmd = measure::wasmtime_run_command(&with(ext), &w.args, nans);
                variants.push(Variant::new(name, cmd, Clock::Reported("run-seconds")));
            }
        }
        let mut native = Command::new(&w.native);
        native.args(&w.args);
        let mut native = Variant::new("gcc -O2", native, Clock::WholeProcess);
        native.compare = false;
        variants.push(native);

        let mut st = measure::interleave(&w.name, &mut variants, cfg.rounds)?.into_iter();
        let row = RunRow {
            name: w.name.clone(),
            kind: w.kind,
            mig: st.next().unwrap(),
            nomig: st.next().unwrap(),
            host_mig: st.next().unwrap(),
            host_nomig: st.next().unwrap(),
            wasmtime: if cfg.wasmtime { st.next() } else { None },
            wasmtime_canonical: if cfg.wasmtime { st.next() } else { None },
            native: st.next().unwrap(),
        };
        println!(
            "    wasmc {:.3}s  no-mig {:.3}s ({:.3}x)  host CPU {:.3}s / {:.3}s  wasmtime {}  gcc {:.3}s  .text {:.2}x",
            row.mig.median,
            row.nomig.median,
            row.mig.median / row.nomig.median,
            row.host_mig.median,
            row.host_nomig.median,
            row.wasmtime
                .as_ref()
                .map_or("-".into(), |s| format!("{:.3}s", s.median)),
            row.native.median,
            sizes
                .last()
                .map_or(f64::NAN, |s: &SizeRow| s.obj_mig.1 as f64
                    / s.obj_nomig.1 as f64),
        );
        runs.push(row);
    }

    // The large real program: code size on every ISA here, compile time with the rest.
    let real = match real::fetch() {
        Ok(wasm) => Some((real::sizes(&cfg, &wasm)?, wasm)),
        Err(e) => {
            println!("bench: {} not measured: {e:#}", real::NAME);
            None
        }
    };
    let insns = instructions::run(&cfg, &exes, &workloads)?;
    let nests = loopnests::run(&cfg)?;
    let ckpt = checkpoint::run(&cfg)?;
    let extra: Vec<(String, PathBuf)> = real
        .iter()
        .map(|(_, wasm)| (format!("{} (real program)", real::NAME), wasm.clone()))
        .collect();
    let comp = compile::run(&cfg, &workloads, &extra)?;
    let real_sizes = real.map(|(s, _)| s);
    report::write(
        &cfg,
        &runs,
        &insns,
        &nests,
        &sizes,
        real_sizes.as_ref(),
        &ckpt,
        &comp,
    )
}
