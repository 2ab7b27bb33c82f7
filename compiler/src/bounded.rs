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
    loops: bool,
    /// Defined functions it calls directly.
    callees: Vec<u32>,
    /// Canonical types of its indirect calls (`call_indirect`, `call_ref`).
    indirect_types: Vec<u32>,
    /// It loads or stores linear memory (the code that needs the memory base).
    accesses_memory: bool,
}

fn shape(info: &ModuleInfo<'_>, index: usize) -> Shape {
    let imported = info.num_imported_funcs();
    // Unreadable bodies (validated, so this does not happen) count as doing everything.
    let unknown = Shape {
        loops: true,
        callees: vec![],
        indirect_types: vec![u32::MAX],
        accesses_memory: true,
    };
    let Ok(mut reader) = info.bodies[index].get_operators_reader() else {
        return unknown;
    };
    let mut s = Shape {
        loops: false,
        callees: vec![],
        indirect_types: vec![],
        accesses_memory: false,
    };
    while !reader.eof() {
        let Ok(op) = reader.read() else {
            return unknown;
        };
        match op {
            Operator::Loop { .. } => s.loops = true,
            Operator::CallIndirect { type_index, .. }
            | Operator::ReturnCallIndirect { type_index, .. }
            | Operator::CallRef { type_index }
            | Operator::ReturnCallRef { type_index } => {
                s.indirect_types.push(
                    info.canonical_type
                        .get(type_index as usize)
                        .copied()
                        .unwrap_or(u32::MAX),
                );
            }
            Operator::Call { function_index } | Operator::ReturnCall { function_index }
                if function_index >= imported =>
            {
                s.callees.push(function_index);
            }
            op if is_memory_access(&op) => s.accesses_memory = true,
            _ => {}
        }
    }
    s.callees.sort_unstable();
    s.callees.dedup();
    s.indirect_types.sort_unstable();
    s.indirect_types.dedup();
    s
}

pub(crate) fn is_memory_access(op: &Operator<'_>) -> bool {
    use Operator as O;
    crate::translate::is_atomic_access(op)
        || matches!(
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
    /// Whether its body has a loop (false for imports).
    pub has_loops: Vec<bool>,
    /// What its entry charges the call-depth counter (0: no counter; 0 for imports).
    pub depth_charge: Vec<u32>,
}

/// The longest chain of uncounted functions allowed; beyond it every function counts.
/// The native stack leaves room for ~4,800 frames of 40 KiB beyond `MAX_CALL_DEPTH`.
pub const MAX_UNCOUNTED_CHAIN: u32 = 1_000;

/// Whether a call of import `imp` can never re-enter Wasm code.
fn import_is_leaf(imp: &crate::module_info::FuncImport) -> bool {
    matches!(
        imp.module.as_str(),
        "wasi_snapshot_preview1" | "wasi_unstable" | "spectest"
    )
}

/// Per defined function, the charge of its entry to the call-depth counter (see
/// ARCHITECTURE.md, *Call depth*): 0 for a function outside every call cycle, `1 + L`
/// for a recursive one, L the longest chain of uncounted functions it can call without
/// passing a recursive one. Falls back to 1 for every function when something could
/// re-enter Wasm from outside the call graph or an uncounted chain is too long.
fn depth_charges(info: &ModuleInfo<'_>, shapes: &[Shape]) -> Vec<u32> {
    let imported = info.num_imported_funcs() as usize;
    let n = shapes.len();
    let all = vec![1; n];
    if !info.imports.iter().all(import_is_leaf) {
        return all;
    }
    // Call graph over defined functions (index - imported).
    let mut by_type: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    for i in 0..n {
        let ty = info.func_types[imported + i] as usize;
        let Some(&c) = info.canonical_type.get(ty) else {
            return all;
        };
        by_type.entry(c).or_default().push(i as u32);
    }
    // Nodes 0..n are the functions; then one node per canonical type that is called
    // indirectly, with an edge to every function of that type. (An edge from every
    // such call to every function of its type would be O(n²): 1.6 billion for 40,000
    // functions of one type that each make an indirect call.)
    let mut type_node: std::collections::HashMap<u32, u32> = Default::default();
    let mut succ: Vec<Vec<u32>> = Vec::with_capacity(n);
    for s in shapes {
        if s.indirect_types.contains(&u32::MAX) {
            return all;
        }
        let mut e: Vec<u32> = s.callees.iter().map(|&c| c - imported as u32).collect();
        for t in &s.indirect_types {
            if by_type.contains_key(t) {
                let next = (n + type_node.len()) as u32;
                e.push(*type_node.entry(*t).or_insert(next));
            }
        }
        e.sort_unstable();
        e.dedup();
        succ.push(e);
    }
    let mut types: Vec<(u32, u32)> = type_node.into_iter().collect();
    types.sort_unstable_by_key(|(_, node)| *node);
    for (t, _) in &types {
        succ.push(by_type[t].clone());
    }
    let is_func = |v: u32| (v as usize) < n;
    let sccs = tarjan(&succ);
    let mut recursive = vec![false; succ.len()];
    for scc in &sccs {
        if scc.len() > 1 || succ[scc[0] as usize].contains(&scc[0]) {
            for &f in scc.iter().filter(|&&v| is_func(v)) {
                recursive[f as usize] = true;
            }
        }
    }
    // Tarjan emits callees' components first: chain lengths in one pass. A type node
    // is a frame of no one: its chain is the longest of its uncounted functions', and
    // it comes before the functions of its own component, which may call through it.
    let mut chain = vec![0u32; succ.len()]; // for uncounted f: frames of the longest chain from f
    let mut charge = vec![0u32; n];
    for scc in &sccs {
        let (types_first, funcs): (Vec<u32>, Vec<u32>) = scc.iter().partition(|&&v| !is_func(v));
        for &f in types_first.iter().chain(&funcs) {
            let f = f as usize;
            let below = succ[f]
                .iter()
                .filter(|&&c| !recursive[c as usize])
                .map(|&c| chain[c as usize])
                .max()
                .unwrap_or(0);
            if !is_func(f as u32) {
                chain[f] = below;
            } else if recursive[f] {
                charge[f] = 1 + below;
            } else {
                chain[f] = 1 + below;
                if chain[f] > MAX_UNCOUNTED_CHAIN {
                    return all;
                }
            }
        }
    }
    charge
}

/// Strongly connected components of `succ`, callees' components before callers'
/// (iterative Tarjan).
fn tarjan(succ: &[Vec<u32>]) -> Vec<Vec<u32>> {
    const NONE: u32 = u32::MAX;
    let n = succ.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = vec![];
    let mut sccs = vec![];
    let mut next = 0u32;
    let mut work: Vec<(u32, usize)> = vec![];
    for root in 0..n as u32 {
        if index[root as usize] != NONE {
            continue;
        }
        work.push((root, 0));
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            let vu = v as usize;
            if *i == 0 && index[vu] == NONE {
                index[vu] = next;
                low[vu] = next;
                next += 1;
                stack.push(v);
                on_stack[vu] = true;
            }
            if let Some(&w) = succ[vu].get(*i) {
                *i += 1;
                let wu = w as usize;
                if index[wu] == NONE {
                    work.push((w, 0));
                } else if on_stack[wu] {
                    low[vu] = low[vu].min(index[wu]);
                }
                continue;
            }
            work.pop();
            if let Some(&(p, _)) = work.last() {
                low[p as usize] = low[p as usize].min(low[vu]);
            }
            if low[vu] == index[vu] {
                let mut scc = vec![];
                loop {
                    let w = stack.pop().unwrap();
                    on_stack[w as usize] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                sccs.push(scc);
            }
        }
    }
    sccs
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
            let loops_or_indirect = s.loops || !s.indirect_types.is_empty();
            if !bounded[f] && !loops_or_indirect && s.callees.iter().all(|&c| bounded[c as usize]) {
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
    let mut has_loops = vec![false; imported];
    has_loops.extend(shapes.iter().map(|s| s.loops));
    let mut depth_charge = vec![0; imported];
    depth_charge.extend(depth_charges(info, &shapes));
    Facts {
        has_points,
        accesses_memory,
        has_loops,
        depth_charge,
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

    fn charges(wat: &str) -> Vec<u32> {
        let bytes = wat::parse_str(wat).unwrap();
        let info = read_module(&bytes, false).unwrap();
        analyze(&info, true).depth_charge
    }

    #[test]
    fn depth_charges_only_recursive_functions() {
        let c = charges(
            r#"(module
              (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
              (type $t (func (result i32)))
              (table 1 funcref)
              (func $leaf (result i32) (call $y))
              (func $mid (result i32) (call $leaf))
              (func $rec (param i32) (result i32)
                (drop (call $mid)) (call $rec (local.get 0)))
              (func $ping (call $pong))
              (func $pong (call $ping))
              (func $ind (result i32) (call_indirect (type $t) (i32.const 0)))
              (func $main (drop (call $rec (i32.const 0)))))"#,
        );
        // import, leaf, mid, rec (1 + mid + leaf), ping, pong,
        // ind (may call leaf, mid, itself: 1 + 2), main
        assert_eq!(c, vec![0, 0, 0, 3, 1, 1, 3, 0]);
    }

    #[test]
    fn long_uncounted_chains_count_everything() {
        let mut wat = String::from("(module (func $f0)");
        for i in 1..=1001 {
            wat.push_str(&format!("(func $f{i} (call $f{}))", i - 1));
        }
        wat.push(')');
        assert_eq!(charges(&wat), vec![1; 1002]);
    }
}
