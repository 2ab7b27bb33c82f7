//! Which functions need migration points at all.
//!
//! A function without loops whose calls all go to imports or to functions of the same
//! kind runs for a bounded time and never reaches a migration point: it needs none of
//! its own (no entry poll), and a call of it needs no call point (it never unwinds).
//! A migration request that arrives while it runs is taken at the next point of its
//! caller, at most a bounded amount of work later. Everything else (a loop, an
//! indirect call, recursion, a call of such a function) keeps its points.
//!
//! This is a whole-module fact; every function's translation reads it from
//! `ModuleEnv::has_points`.

use crate::module_info::ModuleInfo;
use rayon::prelude::*;
use wasmparser::Operator;

/// What one function body does that matters here.
struct Shape {
    loops_or_indirect: bool,
    /// Defined functions it calls directly.
    callees: Vec<u32>,
}

fn shape(info: &ModuleInfo<'_>, index: usize) -> Shape {
    let imported = info.num_imported_funcs();
    let unbounded = Shape {
        loops_or_indirect: true,
        callees: vec![],
    };
    let Ok(mut reader) = info.bodies[index].get_operators_reader() else {
        return unbounded;
    };
    let mut s = Shape {
        loops_or_indirect: false,
        callees: vec![],
    };
    while !reader.eof() {
        match reader.read() {
            Ok(Operator::Loop { .. })
            | Ok(Operator::CallIndirect { .. })
            | Ok(Operator::ReturnCallIndirect { .. })
            | Ok(Operator::CallRef { .. })
            | Ok(Operator::ReturnCallRef { .. }) => return unbounded,
            Ok(Operator::Call { function_index }) | Ok(Operator::ReturnCall { function_index }) => {
                if function_index >= imported {
                    s.callees.push(function_index);
                }
            }
            Ok(_) => {}
            Err(_) => return unbounded,
        }
    }
    s.callees.sort_unstable();
    s.callees.dedup();
    s
}

/// Per function index (imports first): whether it has migration points. Imports never
/// do (host code has no Wasm frames to save).
pub fn functions_with_points(info: &ModuleInfo<'_>) -> Vec<bool> {
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
    let mut points: Vec<bool> = bounded.iter().map(|b| !b).collect();
    points[..imported].fill(false);
    points
}

#[cfg(test)]
mod tests {
    use super::functions_with_points;
    use crate::module_info::read_module;

    fn points(wat: &str) -> Vec<bool> {
        let bytes = wat::parse_str(wat).unwrap();
        let info = read_module(&bytes, false).unwrap();
        functions_with_points(&info)
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
}
