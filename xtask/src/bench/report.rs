//! RESULTS.md (one table per measure, with machine, date and commit) and the PNG plot
//! of checkpoint time vs memory size. Plotting is best effort: if matplotlib is
//! missing or fails, RESULTS.md says so and the bench still succeeds.

use super::checkpoint::CkRow;
use super::compile::{mbps, CompileRow};
use super::instructions::InsnRow;
use super::measure::{geomean, python, Stats};
use super::real::{self, RealSizes};
use super::{Config, RunRow, SizeRow};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// What a run measures, taken when it starts, before anything is built (a commit made
/// while it runs is not what it measured): the short commit, and whether the work tree
/// differed from it, leaving out the run's own `outputs`.
pub(crate) fn revision(outputs: &[&str]) -> String {
    let root = crate::root();
    let root = root.to_str().unwrap_or(".");
    let commit = sh("git", &["-C", root, "rev-parse", "--short", "HEAD"]);
    let dirty = sh(
        "git",
        &["-C", root, "status", "--porcelain", "--untracked-files=no"],
    )
    .lines()
    .any(|l| !outputs.iter().any(|o| l.ends_with(o)));
    match dirty {
        true => format!("{commit} (with uncommitted changes)"),
        false => commit,
    }
}

pub(crate) fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// What every generated report starts with: the command that wrote it, the machine,
/// the date and the commit.
pub(crate) fn provenance(
    m: &mut String,
    command: &str,
    quick: bool,
    revision: &str,
) -> std::fmt::Result {
    writeln!(
        m,
        "Written by `cargo xtask {command}{}`; do not edit by hand.\n",
        if quick { " --quick" } else { "" }
    )?;
    writeln!(
        m,
        "* machine: {} ({} cores), {}",
        cpu_model(),
        sh("nproc", &[]),
        sh("uname", &["-srm"])
    )?;
    writeln!(m, "* date: {}", sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]))?;
    writeln!(m, "* commit: {revision}")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn ms(s: &Stats) -> String {
    format!(
        "{:.2} ({:.2}–{:.2})",
        s.median * 1e3,
        s.min * 1e3,
        s.max * 1e3
    )
}
fn secs(s: &Stats) -> String {
    format!("{:.3} ({:.3}–{:.3})", s.median, s.min, s.max)
}
/// The geometric mean of `ratios` and the largest.
fn geomean_and_worst(ratios: &[f64]) -> (f64, f64) {
    (
        geomean(ratios.iter().copied()),
        ratios.iter().copied().fold(0.0, f64::max),
    )
}

/// A table of instruction counts with / without points, and its verdict against a.
fn insn_table(m: &mut String, what: &str, rows: &[InsnRow], label: &str) -> Result<()> {
    writeln!(
        m,
        "| {what} | size | wasmc | --no-migration-points | **a: mig cost** |"
    )?;
    writeln!(m, "| --- | --- | --- | --- | --- |")?;
    for r in rows {
        writeln!(
            m,
            "| {} | {} | {} | {} | {:.3}x |",
            r.name,
            r.args.join(" "),
            r.mig,
            r.nomig,
            r.ratio()
        )?;
    }
    let ratios: Vec<f64> = rows.iter().map(InsnRow::ratio).collect();
    let (gi, wi) = geomean_and_worst(&ratios);
    writeln!(
        m,
        "\n* {label}: geomean {gi:.3}x (goal ≤ 1.03x: {}), worst {wi:.3}x (goal ≤ 1.10x: {})\n",
        verdict(gi <= 1.03),
        verdict(wi <= 1.10)
    )?;
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

pub fn write(
    cfg: &Config,
    runs: &[RunRow],
    insns: &[InsnRow],
    nests: &[InsnRow],
    sizes: &[SizeRow],
    real: Option<&RealSizes>,
    ck: &[CkRow],
    comp: &[CompileRow],
) -> Result<()> {
    let out_dir = if cfg.quick {
        cfg.work.clone()
    } else {
        crate::root().join("benches")
    };
    std::fs::create_dir_all(&out_dir)?;
    let png = out_dir.join("checkpoint.png");
    let plot = plot(cfg, ck, &png);

    let mut m = String::new();
    let wt_version = sh(
        &python(),
        &[
            "-c",
            "import importlib.metadata as m; print(m.version('wasmtime'))",
        ],
    );
    writeln!(m, "# wasmc benchmark results\n")?;
    provenance(&mut m, "bench", cfg.quick, &cfg.revision)?;
    writeln!(
        m,
        "* wasmc: `cargo build --profile dist -p wasmc` (the build to install: link-time optimised)"
    )?;
    writeln!(
        m,
        "* wasmtime (PyPI): {wt_version}; gcc: {}",
        sh("gcc", &["-dumpfullversion"])
    )?;
    writeln!(
        m,
        "* {} mode: {} timed rounds per workload after one untimed run, variants interleaved A B C A B C …; \
         times are medians with (min–max); ratios are ratios of medians.",
        if cfg.quick { "quick (small sizes)" } else { "full" },
        cfg.rounds
    )?;
    writeln!(m, "* x86_64 only (the host); the machine is shared and noisy, so single ratios move by a few per cent between runs.\n")?;

    // (a) and (b)
    let a: Vec<f64> = runs.iter().map(|r| r.mig.median / r.nomig.median).collect();
    let (ga, worst) = geomean_and_worst(&a);
    let vs_wasmtime = |f: fn(&RunRow) -> &Stats| -> Vec<f64> {
        runs.iter()
            .filter_map(|r| r.wasmtime.as_ref().map(|w| f(r).median / w.median))
            .collect()
    };
    let b = vs_wasmtime(|r| &r.mig);
    let (gb, worst_b) = geomean_and_worst(&b);
    writeln!(m, "## a/b. Run time\n")?;
    writeln!(m, "wasmc and `--no-migration-points` and gcc: whole-process wall time (spawn to exit). wasmtime: only the `_start` call, timed inside Python around it on an AOT-compiled module (`Module.deserialize_file`), so wasmtime's start-up and instantiation are not counted (this favours wasmtime slightly). Seconds.\n")?;
    writeln!(m, "| workload | kind | wasmc | --no-migration-points | **a: mig cost** | wasmtime | **b: wasmc / wasmtime** | gcc -O2 | wasmc / gcc |")?;
    writeln!(m, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")?;
    for r in runs {
        writeln!(
            m,
            "| {} | {} | {} | {} | {:.3}x | {} | {} | {} | {:.2}x |",
            r.name,
            r.kind,
            secs(&r.mig),
            secs(&r.nomig),
            r.mig.median / r.nomig.median,
            r.wasmtime.as_ref().map_or("-".into(), secs),
            r.wasmtime
                .as_ref()
                .map_or("-".into(), |w| format!("{:.3}x", r.mig.median / w.median)),
            secs(&r.native),
            r.mig.median / r.native.median
        )?;
    }
    let gnat = geomean(runs.iter().map(|r| r.mig.median / r.native.median));
    let gnomig_wt = geomean(vs_wasmtime(|r| &r.nomig));
    writeln!(
        m,
        "\n* **a**: geomean {ga:.3}x (goal ≤ 1.03x: {}), worst {worst:.3}x (goal ≤ 1.10x: {})",
        verdict(ga <= 1.03),
        verdict(worst <= 1.10)
    )?;
    if b.is_empty() {
        writeln!(
            m,
            "* **b**: not measured (the wasmtime Python module is not installed)"
        )?;
    } else {
        writeln!(m, "* **b**: geomean wasmc / wasmtime {gb:.3}x (goal ≤ 1.05x: {}), worst {worst_b:.3}x (goal ≤ 1.15x: {}); without migration points {gnomig_wt:.3}x (goal ≤ 1.00x: {})", verdict(gb <= 1.05), verdict(worst_b <= 1.15), verdict(gnomig_wt <= 1.00))?;
    }
    writeln!(m, "* wasmc / gcc -O2 (information): geomean {gnat:.2}x\n")?;
    host_table(&mut m, runs)?;
    canonical_table(&mut m, runs)?;
    if !insns.is_empty() {
        writeln!(m, "Executed instructions with / without migration points, counted by callgrind at each workload's quick size (the same every run, unlike the times above):\n")?;
        insn_table(&mut m, "workload", insns, "**a**, in instructions")?;
    }
    if !nests.is_empty() {
        writeln!(m, "The same count on loop nests beyond the kernels above (`benches/loopnests/`: fourteen dense linear-algebra, stencil and dynamic-programming nests in the style of PolyBench/C, our own code, one function each), one run of each:\n")?;
        insn_table(
            &mut m,
            "loop nest",
            nests,
            "**a** on loop nests, in instructions",
        )?;
    }

    // (c)
    writeln!(m, "## c. Code size\n")?;
    writeln!(m, "Bytes of executable sections (all of them; `.text` is the only one here) in the object `wasmc --emit obj` writes, i.e. the generated code alone, with and without migration points; and `.text` of the linked executables, which add the runtime (wasi-libc is inside the module).\n")?;
    writeln!(m, "| workload | object, migration points | object, none | **c: ratio** | executable, with | executable, none | ratio |")?;
    writeln!(m, "| --- | --- | --- | --- | --- | --- | --- |")?;
    for s in sizes {
        writeln!(
            m,
            "| {} | {} | {} | {:.2}x | {} | {} | {:.2}x |",
            s.name,
            s.obj_mig.1,
            s.obj_nomig.1,
            s.obj_mig.1 as f64 / s.obj_nomig.1 as f64,
            s.exe_mig.0,
            s.exe_nomig.0,
            s.exe_mig.0 as f64 / s.exe_nomig.0 as f64
        )?;
    }
    let mut c: Vec<f64> = sizes
        .iter()
        .map(|s| s.obj_mig.1 as f64 / s.obj_nomig.1 as f64)
        .collect();
    let real_worst = match real {
        Some(r) => {
            writeln!(m, "\nA large real program, {} ({}, {} bytes of Wasm), `.text` of the object on every ISA, and (information) every section the program's image holds: code, the points tables, data:\n", real::NAME, real::SOURCE, r.bytes)?;
            writeln!(
                m,
                "| ISA | migration points | none | ratio | image, points | image, none | ratio |"
            )?;
            writeln!(m, "| --- | --- | --- | --- | --- | --- | --- |")?;
            let mut worst: f64 = 0.0;
            for ((arch, with, without), (_, lw, ln)) in r.text.iter().zip(&r.loaded) {
                let ratio = *with as f64 / *without as f64;
                let image = *lw as f64 / *ln as f64;
                writeln!(
                    m,
                    "| {} | {with} | {without} | {ratio:.3}x | {lw} | {ln} | {image:.3}x |",
                    arch.name()
                )?;
                worst = worst.max(ratio);
                if Some(*arch) == targets::Arch::host() {
                    c.push(ratio);
                }
            }
            Some(worst)
        }
        None => None,
    };
    let (gc, wc) = geomean_and_worst(&c);
    writeln!(
        m,
        "\n* **c**: generated code geomean {gc:.2}x (goal ≤ 1.25x: {}; stretch ≤ 1.10x: {}), worst {wc:.2}x (goal ≤ 1.5x: {}){}",
        verdict(gc <= 1.25),
        verdict(gc <= 1.10),
        verdict(wc <= 1.5),
        if real.is_some() { ", the workloads and the real program on x86_64" } else { "" }
    )?;
    match real_worst {
        Some(w) => writeln!(
            m,
            "* the real program: worst of the three ISAs {w:.3}x (goal ≤ 1.25x: {})\n",
            verdict(w <= 1.25)
        )?,
        None => writeln!(
            m,
            "* the real program ({}): not measured (the download failed)\n",
            real::NAME
        )?,
    }

    // (d)
    writeln!(m, "## d. Checkpoint and restore\n")?;
    writeln!(m, "`benches/checkpoint/ckpt.c` grows linear memory by N MiB (dense: every byte written non-zero; sparse: one 8-byte word per 64 KiB page), recurses to the given depth and spins at a known point. **checkpoint** = median time from SIGUSR1 (sent when the program prints \"ready\") to the process's exit with the checkpoint written, minus the median time from \"ready\" to exit of an uninterrupted run that passes the same point and exits (baseline, shown). **restore** = whole-process time of `WASMC_RESTORE` (which then finishes at once) vs a fresh start with the same arguments (which fills the memory and recurses itself). **write floor** = writing a buffer of the checkpoint's size to a new file in the same directory, fsyncing it and renaming it into place: the atomic, durable write the runtime does. Milliseconds, medians (min–max). The checkpoint format leaves out all-zero 4 KiB chunks, so a sparse page costs 4 KiB; `size − that` is the program's own data, heap and stack frames plus the format's headers.\n")?;
    writeln!(m, "| memory | kind | frames | checkpoint cost | checkpointing run | baseline | write floor | cost − floor | restore | fresh start | size (bytes) | non-zero 4 KiB chunks written | size − that |")?;
    writeln!(
        m,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )?;
    let mut over = 0.0f64;
    for r in ck {
        let cost = (r.checkpoint.median - r.baseline.median) * 1e3;
        let extra = cost - r.write_floor.median * 1e3;
        over = over.max(extra);
        writeln!(
            m,
            "| {} MiB | {} | {} | {:.2} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} |",
            r.mib,
            if r.dense { "dense" } else { "sparse" },
            r.depth,
            cost,
            ms(&r.checkpoint),
            ms(&r.baseline),
            ms(&r.write_floor),
            extra,
            ms(&r.restore),
            ms(&r.fresh),
            r.size,
            r.nonzero,
            r.size as i64 - r.nonzero as i64
        )?;
    }
    writeln!(
        m,
        "\n* **d**: checkpoint cost beyond the write floor at most {over:.2} ms (goal < 1 ms: {})",
        verdict(over < 1.0)
    )?;
    match &plot {
        Ok(()) => writeln!(
            m,
            "* plot: ![checkpoint time vs memory](checkpoint.png) (`checkpoint.png`)\n"
        )?,
        Err(e) => writeln!(m, "* plot: not drawn ({e})\n")?,
    }

    // (e)
    writeln!(m, "## e. Compile throughput\n")?;
    writeln!(m, "wasmc: whole-process `wasmc --emit obj` (no link step). wasmtime: `wasmtime.Module(engine, bytes)` timed inside Python. Both use both cores. Seconds, medians (min–max) of 15 rounds for a module wasmc compiles in under 0.1 s, 5 under 1 s, else 3, the three interleaved; MB = 10^6 bytes of .wasm.\n")?;
    writeln!(m, "| module | .wasm bytes | wasmc s | wasmc MB/s | wasmtime s | wasmtime MB/s | wasmc / wasmtime time | wasmc --no-migration-points s | its MB/s |")?;
    writeln!(m, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")?;
    for r in comp {
        writeln!(
            m,
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {:.2} |",
            r.name,
            r.bytes,
            secs(&r.wasmc),
            mbps(r.bytes, &r.wasmc),
            r.wasmtime.as_ref().map_or("-".into(), secs),
            r.wasmtime
                .as_ref()
                .map_or("-".into(), |s| format!("{:.2}", mbps(r.bytes, s))),
            r.wasmtime
                .as_ref()
                .map_or("-".into(), |s| format!("{:.2}x", r.wasmc.median / s.median)),
            secs(&r.nomig),
            mbps(r.bytes, &r.nomig),
        )?;
    }
    if !comp.is_empty() {
        let e: Vec<f64> = comp
            .iter()
            .map(|r| r.wasmc.median / r.nomig.median)
            .collect();
        let (ge, we) = geomean_and_worst(&e);
        let vs: Vec<f64> = comp
            .iter()
            .filter_map(|r| r.wasmtime.as_ref().map(|w| r.wasmc.median / w.median))
            .collect();
        let gw = if vs.is_empty() {
            f64::NAN
        } else {
            geomean(vs.into_iter())
        };
        writeln!(
            m,
            "\n* **e**: compile time with / without migration points geomean {ge:.2}x, worst {we:.2}x (goal ≤ 1.2x: {}); wasmc / wasmtime compile time geomean {gw:.2}x (goal ≤ 1.0x: {})",
            verdict(ge <= 1.2),
            verdict(gw <= 1.0)
        )?;
    }
    writeln!(m)?;

    let path = out_dir.join("RESULTS.md");
    std::fs::write(&path, m)?;
    crate::step(format!("bench: wrote {}", path.display()));
    Ok(())
}

/// Draws checkpoint cost (and the write floor) vs memory size with matplotlib.
fn plot(cfg: &Config, ck: &[CkRow], png: &Path) -> Result<(), String> {
    let mut data = String::from("mib,kind,cost_ms,floor_ms,restore_ms\n");
    for r in ck.iter().filter(|r| r.depth == 10) {
        data.push_str(&format!(
            "{},{},{},{},{}\n",
            r.mib,
            if r.dense { "dense" } else { "sparse" },
            (r.checkpoint.median - r.baseline.median) * 1e3,
            r.write_floor.median * 1e3,
            r.restore.median * 1e3
        ));
    }
    let csv = cfg.work.join("checkpoint.csv");
    std::fs::write(&csv, data).map_err(|e| e.to_string())?;
    let script = crate::root().join("benches/plot_checkpoint.py");
    let o = Command::new(python())
        .arg(&script)
        .arg(&csv)
        .arg(png)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python()))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(format!(
            "plot_checkpoint.py failed: {}",
            err.lines().last().unwrap_or("").trim()
        ));
    }
    Ok(())
}

/// One of the information tables of wasmc with and without points against a wasmtime
/// measurement: a heading, what it compares, and its header's timed columns.
struct Versus {
    heading: &'static str,
    prose: &'static str,
    columns: &'static str,
    summary: &'static str,
}

/// Writes `v` for `rows` (workload, wasmc, wasmc without points, wasmtime), with each
/// wasmc build's ratio to wasmtime and their geomeans; nothing when no row was measured.
fn versus_table(m: &mut String, v: &Versus, rows: &[(&str, &Stats, &Stats, &Stats)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(m, "### {}\n", v.heading)?;
    writeln!(m, "{}\n", v.prose)?;
    writeln!(m, "| workload | {} |", v.columns)?;
    writeln!(m, "| --- | --- | --- | --- | --- | --- |")?;
    let (mut with, mut without) = (vec![], vec![]);
    for (name, mig, nomig, w) in rows {
        let (b, n) = (mig.median / w.median, nomig.median / w.median);
        with.push(b);
        without.push(n);
        writeln!(
            m,
            "| {name} | {} | {} | {} | {b:.3}x | {n:.3}x |",
            secs(mig),
            secs(nomig),
            secs(w)
        )?;
    }
    let (gb, worst) = geomean_and_worst(&with);
    writeln!(
        m,
        "\n* {} (information): geomean {gb:.3}x, worst {worst:.3}x; without migration points {:.3}x\n",
        v.summary,
        geomean(without.iter().copied())
    )?;
    Ok(())
}

/// wasmc against wasmtime with its NaN canonicalisation on (information): the mode in
/// which wasmtime, like wasmc, gives the same bits on every ISA.
fn canonical_table(m: &mut String, runs: &[RunRow]) -> Result<()> {
    let rows: Vec<_> = runs
        .iter()
        .filter_map(|r| {
            Some((
                r.name.as_str(),
                &r.mig,
                &r.nomig,
                r.wasmtime_canonical.as_ref()?,
            ))
        })
        .collect();
    let v = Versus {
        heading: "wasmc / wasmtime with canonical NaNs (information)",
        prose: "wasmc's code gives the same bits on every ISA: on x86_64 it canonicalises a NaN that arithmetic produces where its bits can be seen (ARCHITECTURE.md, *NaN canonicalisation*). wasmtime does that only with `Config.cranelift_nan_canonicalization` (`--canonical-nans` on its command line), after every float operation; goal b above compares wasmc with wasmtime's default, which does not. Both on wasmc's default build (x86-64-v1) and wasmtime's host build, as in b. Seconds, as above.",
        columns: "wasmc | --no-migration-points | wasmtime --canonical-nans | wasmc / it | without points / it",
        summary: "wasmc / wasmtime with canonical NaNs",
    };
    versus_table(m, &v, &rows)
}

/// wasmc against wasmtime with the same processor extensions (information): wasmtime
/// compiles on the host for the host; wasmc does with `--cpu-features native`.
fn host_table(m: &mut String, runs: &[RunRow]) -> Result<()> {
    let rows: Vec<_> = runs
        .iter()
        .filter_map(|r| {
            Some((
                r.name.as_str(),
                &r.host_mig,
                &r.host_nomig,
                r.wasmtime.as_ref()?,
            ))
        })
        .collect();
    let v = Versus {
        heading: "wasmc / wasmtime, both compiling for this processor (information)",
        prose: "wasmtime uses the host's extensions (AVX, BMI…); here wasmc does too (`--cpu-features native`), so the two compile the same .wasm for the same instruction set. Goal b above is judged on wasmc's default build (x86-64-v1), what a user gets without options. Seconds, as above.",
        columns: "wasmc native | --no-migration-points, native | wasmtime | wasmc native / wasmtime | without points / wasmtime",
        summary: "native builds / wasmtime",
    };
    versus_table(m, &v, &rows)
}
