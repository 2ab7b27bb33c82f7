//! Differential part: one random module, run by wasmc (harness mode, through the spec
//! runner's `Compiler` and `Instance`) and by wasmtime (`reference.rs`), with the same
//! calls; any difference in results, traps or exported globals is a finding.
//!
//! Exported memory is not compared: the harness protocol has no command to read linear
//! memory (runtime-lib/src/harness.rs), so globals are all the state both sides show.
//! Memory effects still surface wherever a later call loads what an earlier one stored.

use super::reference::{self, Event, Reference};
use super::Finding;
use anyhow::Result;
use std::path::Path;
use targets::Arch;
use testsuite::spec::instance::{Compiled, Compiler, Instance, Reply};

// abi_spec::ValType codes as the harness prints them.
const I32: u8 = 0;
const F32: u8 = 2;
const FUNCREF: u8 = 5;
const EXTERNREF: u8 = 6;

/// What became of one module.
pub enum Verdict {
    /// wasmc refused it with its one-line error (e.g. a feature it does not support).
    Rejected(String),
    /// Both ran it; `calls` invocations were compared. `cut_short`: why the comparison
    /// ended early (an exhausted stack, a timeout, a wasmtime error), if it did.
    Compared {
        calls: u64,
        cut_short: Option<String>,
    },
    /// The wasmtime driver could not run it at all (not wasmc's fault).
    NoReference(String),
    Finding(Finding),
}

/// A harness answer in the driver's notation, so the two can be compared as text.
/// References compare as null / non-null only: wasmtime does not say which function.
fn canonical(r: &Reply) -> String {
    match r {
        Reply::Ok(vs) => {
            let mut s = String::from("ok");
            for v in vs {
                let bits = match v.ty {
                    I32 | F32 => v.bits & 0xffff_ffff,
                    FUNCREF | EXTERNREF => (v.bits != 0) as u64,
                    _ => v.bits,
                };
                s += &format!(" {}:{bits:x}", v.ty);
            }
            s
        }
        Reply::Trap(m) => format!("trap {m}"),
        Reply::Exhausted => "exhausted".into(),
        Reply::Error(e) => format!("harness error {e}"),
        Reply::Died(d) => format!("died: {d}"),
    }
}

/// Whether an answer ends what can be compared: the engines' stack limits differ
/// (frames vs bytes), and after a timeout or an engine error their states may too.
fn ends_comparison(answer: &str) -> bool {
    ["exhausted", "timeout", "error"]
        .iter()
        .any(|w| answer.split(' ').next() == Some(*w))
}

/// A wasmc answer that is a bug whatever wasmtime said: the process died or hung, or
/// the harness refused a call the module's own exports define.
fn wasmc_broke(r: &Reply) -> Option<&'static str> {
    match r {
        Reply::Died(d) if d.starts_with("timed out") => Some("hang"),
        Reply::Died(_) => Some("crash"),
        Reply::Error(_) => Some("harness"),
        _ => None,
    }
}

pub struct Differential {
    compiler: Compiler,
    isa: Arch,
}

/// The transcript of both sides so far, for the reproducer.
struct Log {
    wasmc: String,
    input: String,
}

impl Differential {
    pub fn new(wasmc: &Path, cache: &Path) -> Result<Differential> {
        let isa =
            Arch::host().ok_or_else(|| anyhow::anyhow!("this host is not an ISA wasmc targets"))?;
        Ok(Differential {
            compiler: Compiler::new(isa, wasmc.to_path_buf(), cache)?,
            isa,
        })
    }

    /// Runs `wasm` (also written at `file`) on both sides and compares.
    pub fn check(&self, wasm: &[u8], file: &Path) -> Verdict {
        let exe = match self.compiler.compile(wasm) {
            Compiled::Exe(exe) => exe,
            Compiled::Rejected(msg) => return Verdict::Rejected(msg),
            Compiled::Crashed(msg) => {
                return Verdict::Finding(Finding::new("compile-crash", msg, String::new()))
            }
        };
        let verdict = match reference::run(file) {
            Ok(r) => self.compare(&exe, &r),
            Err(e) => Verdict::NoReference(format!("{e:#}")),
        };
        // Every module is new: keeping executables would only fill the disk.
        let _ = std::fs::remove_file(&exe);
        verdict
    }

    fn compare(&self, exe: &Path, want: &Reference) -> Verdict {
        let mut log = Log {
            wasmc: String::new(),
            input: String::new(),
        };
        let finding = |kind: &'static str, log: &Log, what: String, got: &str, theirs: &str| {
            let mut f = Finding::new(
                kind,
                format!("{what}\n\nwasmc transcript:\n{}", log.wasmc),
                format!("wasmtime transcript:\n{}", want.transcript()),
            );
            f.harness_input = log.input.clone();
            f.signature = format!("{kind}: wasmc {} / wasmtime {}", class(got), class(theirs));
            Verdict::Finding(f)
        };
        let mut inst: Option<Instance> = None;
        let mut calls = 0;
        for event in &want.events {
            let (what, got, theirs, broke) = match event {
                Event::Instantiate(theirs) => {
                    drop(inst.take());
                    // The reproducer replays the last instance, which starts afresh.
                    log.input.clear();
                    let started = Instance::start(self.isa, exe);
                    let got = started.as_ref().err().map_or("ok".into(), canonical);
                    let broke = started.as_ref().err().and_then(wasmc_broke);
                    inst = started.ok();
                    ("instantiation".to_string(), got, theirs, broke)
                }
                Event::Call {
                    name,
                    params,
                    answer,
                } => {
                    let Some(i) = inst.as_mut() else { break };
                    let zeros = vec!["0"; *params].join(" ");
                    log.input += &format!("invoke {} {zeros}\n", hex(name));
                    let r = i.invoke(name, &vec![0u64; *params]);
                    (
                        format!("invoke {name:?}"),
                        canonical(&r),
                        answer,
                        wasmc_broke(&r),
                    )
                }
                Event::Global { name, value } => {
                    let Some(i) = inst.as_mut() else { break };
                    log.input += &format!("get {}\n", hex(name));
                    let r = i.get(name);
                    let got = canonical(&r);
                    let got = got.strip_prefix("ok ").map_or(got.clone(), str::to_string);
                    (format!("global {name:?}"), got, value, wasmc_broke(&r))
                }
            };
            log.wasmc += &format!("{what}: {got}\n");
            let desc = format!("{what}: wasmc {got}, wasmtime {theirs}");
            if let Some(kind) = broke {
                // A hang is only wasmc's when wasmtime finished the same step.
                if !(kind == "hang" && theirs == "timeout") {
                    return finding(kind, &log, desc, &got, theirs);
                }
            }
            if ends_comparison(&got) || ends_comparison(theirs) || broke.is_some() {
                let why = match (
                    ends_comparison(&got) || broke.is_some(),
                    ends_comparison(theirs),
                ) {
                    (true, true) => {
                        format!("both: wasmc {}, wasmtime {}", class(&got), class(theirs))
                    }
                    (true, false) => format!("wasmc {}", class(&got)),
                    _ => format!("wasmtime {}", class(theirs)),
                };
                return Verdict::Compared {
                    calls,
                    cut_short: Some(why),
                };
            }
            if got != *theirs {
                let (g, t) = match event {
                    Event::Global { .. } => ("global value".into(), "global value".into()),
                    _ => (got.clone(), theirs.clone()),
                };
                return finding("mismatch", &log, desc, &g, &t);
            }
            calls += matches!(event, Event::Call { .. }) as u64;
        }
        Verdict::Compared {
            calls,
            cut_short: (!want.done).then(|| "wasmtime driver stopped early".into()),
        }
    }
}

/// The shape of an answer, for telling distinct findings apart: the kind and trap
/// message, or the result types, without the values.
fn class(answer: &str) -> String {
    let mut w = answer.split(' ');
    match w.next() {
        Some("ok") => {
            let types: Vec<&str> = w.map(|v| v.split(':').next().unwrap_or("")).collect();
            format!("ok[{}]", types.join(","))
        }
        Some("died:") => "died".into(),
        Some("error") => answer.chars().take(50).collect(),
        _ => answer.chars().take(60).collect(),
    }
}

/// An export name as the harness protocol spells it.
fn hex(name: &str) -> String {
    if name.is_empty() {
        return "-".into();
    }
    name.bytes().map(|b| format!("{b:02x}")).collect()
}
