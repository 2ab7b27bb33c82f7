//! (e) Compile throughput: MB of Wasm per second, wasmc vs wasmtime, on every workload
//! module and on generated modules of growing size (to see how time grows with size).
//!
//! wasmc: whole-process `wasmc --emit obj` (parse, translate, Cranelift on all cores,
//! object emission; linking is left out because wasmtime's number has no link step).
//! wasmtime: `wasmtime.Module(engine, bytes)` timed inside Python (its default config,
//! parallel compilation), reported by benches/wasmtime_bench.py.

use super::measure::{self, Stats};
use super::workloads::Workload;
use super::Config;
use anyhow::{bail, Result};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

pub struct CompileRow {
    pub name: String,
    pub bytes: u64,
    pub wasmc: Stats,
    /// `--no-migration-points`: how much of the compile time the points cost.
    pub nomig: Stats,
    pub wasmtime: Option<Stats>,
}

/// Every workload's module, then `extra` (name, path), then the generated ones.
pub fn run(
    cfg: &Config,
    workloads: &[Workload],
    extra: &[(String, PathBuf)],
) -> Result<Vec<CompileRow>> {
    crate::step("bench: compile throughput");
    let dir = cfg.work.join("compile");
    std::fs::create_dir_all(&dir)?;
    let mut modules: Vec<(String, PathBuf)> = vec![];
    for w in workloads {
        modules.push((w.name.clone(), w.wasm.clone()));
    }
    modules.extend(extra.iter().cloned());
    // Generated modules: ~0.44, 1.75 and 7.2 MB (quick: the smallest).
    let counts: &[usize] = if cfg.quick {
        &[2_500]
    } else {
        &[2_500, 10_000, 40_000]
    };
    for &n in counts {
        let path = dir.join(format!("synthetic-{n}.wasm"));
        std::fs::write(&path, wat::parse_str(synthetic(n))?)?;
        modules.push((format!("synthetic ({n} functions)"), path));
    }
    let mut rows = vec![];
    for (name, path) in modules {
        let bytes = std::fs::metadata(&path)?.len();
        let obj = dir.join("out.o");
        let (mut wc, mut wn, mut wt) = (vec![], vec![], vec![]);
        let mut rounds = if cfg.quick { 1 } else { 3 };
        let mut round = 0;
        while round < rounds {
            round += 1;
            for (flags, into) in [
                (&["--emit", "obj"][..], &mut wc),
                (&["--emit", "obj", "--no-migration-points"][..], &mut wn),
            ] {
                let mut c = Command::new(&cfg.wasmc);
                c.args(flags).arg(&path).arg("-o").arg(&obj);
                let (t, _, err, code) = measure::time_once(&mut c)?;
                if code != Some(0) {
                    bail!("wasmc {name} failed: {}", String::from_utf8_lossy(&err));
                }
                into.push(t);
            }
            if cfg.wasmtime {
                wt.push(measure::wasmtime_compile(
                    &path,
                    &dir.join("out.cwasm"),
                    measure::WasmtimeNans::Default,
                )?);
            }
            if round == 1 && !cfg.quick {
                rounds = rounds_for(wc[0]);
            }
        }
        let row = CompileRow {
            name,
            bytes,
            wasmc: Stats::of(&wc),
            nomig: Stats::of(&wn),
            wasmtime: cfg.wasmtime.then(|| Stats::of(&wt)),
        };
        println!(
            "    {:<28} {:>9} B: wasmc {:.3}s ({:.2} MB/s), wasmtime {}",
            row.name,
            row.bytes,
            row.wasmc.median,
            mbps(row.bytes, &row.wasmc),
            row.wasmtime.as_ref().map_or("-".into(), |s| format!(
                "{:.3}s ({:.2} MB/s)",
                s.median,
                mbps(row.bytes, s)
            ))
        );
        rows.push(row);
    }
    let _ = std::fs::remove_file(dir.join("out.o"));
    let _ = std::fs::remove_file(dir.join("out.cwasm"));
    Ok(rows)
}

/// Timed rounds of a module whose first compile took `first` seconds: a compile of a
/// few milliseconds moves by a millisecond or two with what else the machine does, so
/// short ones are repeated more (every variant as often, interleaved).
pub fn rounds_for(first: f64) -> usize {
    if first < 0.1 {
        15
    } else if first < 1.0 {
        5
    } else {
        3
    }
}

pub fn mbps(bytes: u64, s: &Stats) -> f64 {
    bytes as f64 / 1e6 / s.median
}

/// A module of `n` functions in the shape compiled C has: locals, a loop over linear
/// memory with integer and float arithmetic, branches, a call to an earlier function
/// and an indirect call. Variants rotate with `i` so functions are not all identical.
fn synthetic(n: usize) -> String {
    let mut s = String::from(
        "(module\n (type $t (func (param i32 i32) (result i32)))\n (memory 16)\n (table 8 funcref)\n (func $f0 (type $t) local.get 0 local.get 1 i32.add)\n",
    );
    for i in 1..n {
        let callee = i - 1 - (i * 7919) % i.min(64);
        let k = i % 5;
        let _ = write!(
            s,
            r#" (func $f{i} (type $t) (local $i i32) (local $acc i32) (local $x f64)
  local.get 1 local.set $i
  block $done
   loop $top
    local.get $i i32.eqz br_if $done
    local.get $i i32.const 4 i32.shl i32.const 65535 i32.and i32.load offset={off}
    local.get $acc i32.const {m} i32.mul i32.add i32.const {k} i32.rotl local.set $acc
    local.get $x local.get $acc f64.convert_i32_s f64.const {fk}.5 f64.mul f64.add local.set $x
    local.get $i i32.const 4 i32.shl i32.const 65535 i32.and local.get $acc local.get $i i32.xor i32.store offset={off}
    local.get $acc i32.const {k} i32.and
    if
     local.get $acc local.get $i call $f{callee} local.set $acc
    else
     local.get $acc i32.const 3 i32.shr_u local.set $acc
    end
    local.get $i i32.const 1 i32.sub local.set $i
    br $top
   end
  end
  local.get $acc local.get $x i32.trunc_sat_f64_s i32.add
  local.get 0 i32.const {k} local.get 0 i32.const 7 i32.and call_indirect (type $t) i32.add)
"#,
            off = (i % 16) * 4,
            m = 2 * i + 1,
            fk = k,
        );
    }
    s.push_str(" (export \"f1\" (func $f1))\n (func (export \"_start\"))\n)\n");
    s
}
