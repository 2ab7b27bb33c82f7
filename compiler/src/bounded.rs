//! Facts about each function body that its translation needs before it starts, from
//! one pass over the operators: whether it has migration points, and whether it
//! accesses linear memory.
//!
//! A function without loops whose calls all go to imports or to functions of the same
//! kind runs for a bounded time and never reaches a migration point: it needs none of
//! its own (no entry poll), and a call of it needs no call point (it never unwinds).
//! A migration request that arrives while it runs is taken at the next point of its
//! caller, at most a bounded amount of work later. Everything else (a loop, an
//! indirect call, recursion, a call of such a function) keeps its points.
//!
//! These are whole-module facts; every function's translation reads them from
//! `ModuleEnv::has_points` and `ModuleEnv::accesses_memory`.

use crate::module_info::ModuleInfo;
use rayon::prelude::*;
use wasmparser::Operator;

/// What one function body does that matters here.
struct Shape {
    loops_or_indirect: bool,
    /// Defined functions it calls directly.
    callees: Vec<u32>,
    /// It loads or stores linear memory (the code that needs the memory base).
    accesses_memory: bool,
}

fn shape(info: &ModuleInfo<'_>, index: usize) -> Shape {
    let imported = info.num_imported_funcs();
    // Unreadable bodies (validated, so this does not happen) count as doing everything.
    let unknown = Shape {
        loops_or_indirect: true,
        callees: vec![],
        accesses_memory: true,
    };
    let Ok(mut reader) = info.bodies[index].get_operators_reader() else {
        return unknown;
    };
    let mut s = Shape {
        loops_or_indirect: false,
        callees: vec![],
        accesses_memory: false,
    };
    while !reader.eof() {
        let Ok(op) = reader.read() else {
            return unknown;
        };
        match op {
            Operator::Loop { .. }
            | Operator::CallIndirect { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. } => s.loops_or_indirect = true,
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                if function_index >= imported {
                    s.callees.push(function_index);
                }
            }
            op if is_memory_access(&op) => s.accesses_memory = true,
            _ => {}
        }
    }
    s.callees.sort_unstable();
    s.callees.dedup();
    s
}

fn is_memory_access(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::I32Load { .. }
            | O::I64Load { .. }
            | O::F32Load { .. }
            | O::F64Load { .. }
            | O::I32Load8S { .. }
            | O::I32Load8U { .. }
            | O::I32Load16S { .. }
            | O::I32Load16U { .. }
            | O::I64Load8S { .. }
            | O::I64Load8U { .. }
            | O::I64Load16S { .. }
            | O::I64Load16U { .. }
            | O::I64Load32S { .. }
            | O::I64Load32U { .. }
            | O::I32Store { .. }
            | O::I64Store { .. }
            | O::F32Store { .. }
            | O::F64Store { .. }
            | O::I32Store8 { .. }
            | O::I64Store8 { .. }
            | O::I32Store16 { .. }
            | O::I64Store16 { .. }
            | O::I64Store32 { .. }
    )
}

/// Per function index (imports first).
pub struct Facts {
    /// Whether it has migration points. Imports never do (host code has no Wasm frames
    /// to save).
    pub has_points: Vec<bool>,
    /// Whether it loads or stores linear memory (false for imports).
    pub accesses_memory: Vec<bool>,
}

/// The facts of every function; `migration_points` false gives no function points.
pub fn analyze(info: &ModuleInfo<'_>, migration_points: bool) -> Facts {
    let imported = info.num_imported_funcs() as usize;
    let shapes: Vec<Shape> = (0..info.bodies.len())
        .into_par_iter()
        .map(|i| shape(info, i))
        .collect();
    // Least fixpoint of "bounded": a function is bounded once everything it calls is.
    let mut bounded = vec![false; info.num_funcs() as usize];
    bounded[..imported].fill(true);
    loop {
        let mut changed = false;
        for (i, s) in shapes.iter().enumerate() {
            let f = imported + i;
            if !bounded[f] && !s.loops_or_indirect && s.callees.iter().all(|&c| bounded[c as usize])
            {
                bounded[f] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let has_points = bounded
        .iter()
        .enumerate()
        .map(|(f, b)| migration_points && f >= imported && !b)
        .collect();
    let mut accesses_memory = vec![false; imported];
    accesses_memory.extend(shapes.iter().map(|s| s.accesses_memory));
    Facts {
        has_points,
        accesses_memory,
    }
}

#[cfg(test)]
mod tests {
    use super::analyze;
    use crate::module_info::read_module;

    fn points(wat: &str) -> Vec<bool> {
        let bytes = wat::parse_str(wat).unwrap();
        let info = read_module(&bytes, false).unwrap();
        analyze(&info, true).has_points
    }

    #[test]
    fn bounded_functions_have_no_points() {
        let p = points(
            r#"(module
              (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
              (table 1 funcref)
              (func $leaf (result i32) (i32.const 1))
              (func $calls_leaf_and_import (result i32) (call $leaf) (call $y) (i32.add))
              (func $loops (loop $l (br_if $l (call $leaf))))
              (func $calls_loops (call $loops))
              (func $rec (param i32) (result i32)
                (if (result i32) (local.get 0)
                  (then (call $rec (i32.sub (local.get 0) (i32.const 1))))
                  (else (i32.const 0))))
              (func $ping (call $pong))
              (func $pong (call $ping))
              (func $indirect (call_indirect (i32.const 0))))"#,
        );
        // import, leaf, calls_leaf_and_import, loops, calls_loops, rec, ping, pong, indirect
        assert_eq!(
            p,
            vec![false, false, false, true, true, true, true, true, true]
        );
    }

    #[test]
    fn memory_access_and_no_points_mode() {
        let bytes = wat::parse_str(
            r#"(module
              (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
              (memory 1)
              (func $load (result i32) (i32.load (i32.const 0)))
              (func $store8 (i64.store8 (i32.const 0) (i64.const 1)))
              (func $size_only (result i32) (memory.size))
              (func $loops (loop $l (br_if $l (call $load)))))"#,
        )
        .unwrap();
        let info = read_module(&bytes, false).unwrap();
        let facts = analyze(&info, true);
        // import, load, store8, size_only (memory.size needs no base), loops
        assert_eq!(facts.accesses_memory, vec![false, true, true, false, false]);
        assert_eq!(facts.has_points, vec![false, false, false, false, true]);
        assert_eq!(analyze(&info, false).has_points, vec![false; 5]);
    }
}
