//! `cargo xtask fuzz [--seconds N] [--seed S]`: two fuzzers sharing one time budget.
//!
//! * Differential (`differential.rs`): random WebAssembly 2.0 modules from wasm-smith
//!   (`gen.rs`), compiled by wasmc and driven in harness mode, against wasmtime
//!   (`reference.rs` + `wasmtime_invoke.py`): results, traps, exported globals.
//! * Checkpoint mutation (`checkpoint.rs`): checkpoints of running fixtures, mutated
//!   (`mutate_raw.rs`, `mutate_model.rs` over abi-spec's owned `checkpoint::owned`) and restored; the
//!   runtime must refuse them cleanly or run on, never crash or hang.
//!
//! Everything is derived from `--seed`, case by case (`rng.rs`), so a reproducer's name
//! `<kind>-<seed>-<n>` regenerates it. Findings are saved under `target/fuzz/` and make
//! the command fail at the end.

mod checkpoint;
mod differential;
mod gen;
mod mutate_model;
mod mutate_raw;
mod process;
mod reference;
mod repro;
mod rng;

use anyhow::{bail, Result};
use checkpoint::{CheckpointFuzz, Ended};
use differential::{Differential, Verdict};
pub use repro::Finding;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Stats {
    modules: u64,
    compiled: u64,
    rejected: u64,
    not_comparable: u64,
    no_reference: u64,
    generation_failed: u64,
    calls: u64,
    mutants: u64,
    findings: u64,
    /// signature -> (count, first reproducer directory)
    distinct: BTreeMap<String, (u64, Option<PathBuf>)>,
    /// wasmc's rejection messages, to see what the generator keeps hitting.
    reject_reasons: BTreeMap<String, u64>,
    /// Why comparisons ended early.
    cut_reasons: BTreeMap<String, u64>,
    first_no_reference: Option<String>,
    /// Mutant category -> [refused, ran, trapped, slow, findings].
    by_category: BTreeMap<&'static str, [u64; 5]>,
}

impl Stats {
    fn line(&self) -> String {
        format!(
            "{} modules ({} compiled, {} rejected by wasmc, {} not comparable), {} invocations compared, {} checkpoints mutated; {} findings",
            self.modules, self.compiled, self.rejected, self.not_comparable, self.calls, self.mutants, self.findings
        )
    }

    fn record(&mut self, root: &std::path::Path, f: Finding, seed: u64, n: u64, regen: &str) {
        self.findings += 1;
        let entry = self
            .distinct
            .entry(f.signature.clone())
            .or_insert((0, None));
        entry.0 += 1;
        if entry.0 <= repro::KEEP_PER_SIGNATURE {
            match repro::save(root, &f, seed, n, regen) {
                Ok(dir) => {
                    println!("fuzz: FINDING {} -> {}", f.signature, dir.display());
                    entry.1.get_or_insert(dir);
                }
                Err(e) => println!("fuzz: FINDING {} (reproducer not saved: {e})", f.signature),
            }
        }
    }
}

pub fn run(seconds: u64, seed: u64) -> Result<()> {
    crate::step("cargo build --release -p wasmc");
    crate::run_checked(crate::cargo().args(["build", "--release", "-p", "wasmc"]))?;
    if !testsuite::reference::wasmtime_available() {
        bail!(
            "{}",
            testsuite::missing_tool("python3 -c 'import wasmtime'")
        );
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let root = testsuite::target_dir().join("fuzz");
    let work = root.join("work");
    let wasmc = testsuite::target_dir().join("release/wasmc");
    testsuite::exec::fresh_dir(&work)?;

    let mut st = Stats::default();
    crate::step(format!(
        "fuzz: seed {seed}, {seconds} s; checkpoint fixtures"
    ));
    let ckpt = CheckpointFuzz::setup(&wasmc, &work.join("checkpoint"), seed)?;
    println!("fuzz: base checkpoints: {}", ckpt.describe_bases());
    for f in ckpt.check_bases() {
        st.record(
            &root,
            f,
            seed,
            0,
            "base checkpoints of any run with this seed",
        );
    }
    let diff = Differential::new(&wasmc, &work.join("cache"))?;
    let module_file = work.join("module.wasm");

    crate::step("fuzz: running");
    let (mut diff_time, mut ckpt_time) = (Duration::ZERO, Duration::ZERO);
    let (mut next_module, mut next_mutant) = (0u64, 0u64);
    let mut last_progress = Instant::now();
    while Instant::now() < deadline {
        // Two thirds of the time for modules (each costs a compile and two processes),
        // one third for mutants (each a single short restore).
        let t = Instant::now();
        if diff_time <= ckpt_time * 2 {
            let n = next_module;
            next_module += 1;
            one_module(&diff, &mut st, &root, &module_file, seed, n);
            diff_time += t.elapsed();
        } else {
            let n = next_mutant;
            next_mutant += 1;
            st.mutants += 1;
            let (category, ended) = ckpt.check(seed, n);
            let slot = match ended {
                Ok(Ended::Refused) => 0,
                Ok(Ended::Ran) => 1,
                Ok(Ended::Trapped) => 2,
                Ok(Ended::Slow) => 3,
                Err(f) => {
                    let regen = format!("mutant {n} of `cargo xtask fuzz --seed {seed}`");
                    st.record(&root, *f, seed, n, &regen);
                    4
                }
            };
            st.by_category.entry(category).or_default()[slot] += 1;
            ckpt_time += t.elapsed();
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            println!("fuzz: {:>5}s: {}", start.elapsed().as_secs(), st.line());
        }
    }
    summary(&st);
    if st.findings > 0 {
        bail!(
            "{} findings ({} distinct); reproducers under {}",
            st.findings,
            st.distinct.len(),
            root.display()
        );
    }
    Ok(())
}

fn one_module(
    diff: &Differential,
    st: &mut Stats,
    root: &std::path::Path,
    file: &std::path::Path,
    seed: u64,
    n: u64,
) {
    let mut rng = rng::Rng::new(rng::case_seed(seed, "module", n));
    let wasm = match gen::module(&mut rng) {
        Ok(w) => w,
        Err(_) => {
            st.generation_failed += 1;
            return;
        }
    };
    if let Err(e) = std::fs::write(file, &wasm) {
        eprintln!("fuzz: warning: cannot write {}: {e}", file.display());
        return;
    }
    st.modules += 1;
    match diff.check(&wasm, file) {
        Verdict::Rejected(msg) => {
            st.rejected += 1;
            let reason: String = msg
                .trim_start_matches("wasmc: error: ")
                .chars()
                .take(70)
                .collect();
            *st.reject_reasons.entry(reason).or_default() += 1;
        }
        Verdict::Compared { calls, cut_short } => {
            st.compiled += 1;
            st.calls += calls;
            if let Some(why) = cut_short {
                st.not_comparable += 1;
                *st.cut_reasons.entry(why).or_default() += 1;
            }
        }
        Verdict::NoReference(why) => {
            st.compiled += 1;
            st.no_reference += 1;
            st.not_comparable += 1;
            st.first_no_reference.get_or_insert(why);
        }
        Verdict::Finding(mut f) => {
            // A compile crash is still a module wasmc did not compile.
            st.compiled += (f.kind != "compile-crash") as u64;
            f.files.push(("module.wasm".into(), wasm));
            let regen = format!("module {n} of `cargo xtask fuzz --seed {seed}`");
            st.record(root, f, seed, n, &regen);
        }
    }
}

fn summary(st: &Stats) {
    // What each kind of mutation ran into: a category that is always refused only
    // tests one check; one that sometimes runs reaches deeper.
    println!("fuzz: restored mutants by category: refused / ran / trapped / slow (checkpointed on SIGUSR1) / findings");
    for (cat, [refused, ran, trapped, slow, found]) in &st.by_category {
        println!("fuzz:   {cat:<28} {refused:>6} {ran:>6} {trapped:>6} {slow:>6} {found:>6}");
    }
    if st.generation_failed > 0 {
        println!(
            "fuzz: wasm-smith could not build {} modules",
            st.generation_failed
        );
    }
    for (what, map) in [
        ("rejected by wasmc", &st.reject_reasons),
        ("not comparable", &st.cut_reasons),
    ] {
        let mut reasons: Vec<_> = map.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        for (r, k) in reasons.iter().take(5) {
            println!("fuzz: {what} {k}x: {r}");
        }
    }
    if let Some(why) = &st.first_no_reference {
        println!(
            "fuzz: wasmtime could not run {} modules; first: {why}",
            st.no_reference
        );
    }
    for (sig, (count, dir)) in &st.distinct {
        let at = dir
            .as_ref()
            .map_or("not saved".into(), |d| d.display().to_string());
        println!("fuzz: finding {count}x: {sig}\n      reproducer: {at}");
    }
    println!("fuzz: {}", st.line());
}
