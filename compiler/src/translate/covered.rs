//! Loops that need no poll of their own: every iteration calls a function with
//! migration points, whose entry polls (HotSpot leaves the safepoint poll out of loops
//! with a call for the same reason).
//!
//! A poll at a loop header bounds how long a migration request waits: one iteration.
//! A call of a function with points does the same, since its entry is a point with a
//! poll. So a loop needs no poll of its own if every iteration makes such a call, that
//! is if one is made at the top level of the loop's body (not inside a nested `block`,
//! `if` or `loop`) before any branch back to the loop: code at the top level after it
//! can only be reached through it, and any later way back to the header passes it.
//! Only direct calls count: an indirect call may reach a function without points. And
//! only calls the program can stop in: a frame stopped below a call of a function that
//! returns its results in memory cannot be rebuilt (`sites`), so the runtime never
//! stops there, and the loop needs its own poll (`wat/multi_results`).
//!
//! Leaving the point out removes the poll (a load an iteration, and the block split after
//! it: recursive Fibonacci's loop, which calls itself), and with no site at the header
//! nothing keeps its explicit parameters: the constant-phi pass removes those the loop
//! passes through unchanged. The count of points a run passes changes, but the same
//! way on every ISA, as the rule reads only the Wasm code.

use super::Ops;
use rustc_hash::FxHashSet as HashSet;
use wasmparser::Operator;

struct Frame {
    /// The offset of the `loop`, for a loop.
    loop_at: Option<usize>,
    /// A call of a function with points was made at the top level of the loop body
    /// before any branch back.
    covered: bool,
    /// A branch back was seen before such a call.
    branched_back: bool,
}

/// The offsets of the `loop` operators whose every iteration calls a function for which
/// `stops` holds (it has points, and the program can stop in it).
pub fn find(ops: &Ops<'_>, stops: impl Fn(u32) -> bool) -> HashSet<usize> {
    let mut found = HashSet::default();
    let mut frames: Vec<Frame> = vec![];
    let frame = |loop_at| Frame {
        loop_at,
        covered: false,
        branched_back: false,
    };
    // A branch `depth` frames out of the innermost one.
    let branch = |frames: &mut Vec<Frame>, depth: u32| {
        if let Some(i) = frames.len().checked_sub(1 + depth as usize) {
            let f = &mut frames[i];
            if f.loop_at.is_some() && !f.covered {
                f.branched_back = true;
            }
        }
    };
    for &(ref op, at) in ops {
        match *op {
            Operator::Block { .. } | Operator::If { .. } => frames.push(frame(None)),
            Operator::TryTable { ref try_table } => {
                // A catch clause branches to its label, from outside the `try_table`.
                for c in &try_table.catches {
                    branch(&mut frames, catch_label(c));
                }
                frames.push(frame(None));
            }
            Operator::Loop { .. } => frames.push(frame(Some(at))),
            Operator::End => {
                if let Some(Frame {
                    loop_at: Some(at),
                    covered: true,
                    ..
                }) = frames.pop()
                {
                    found.insert(at);
                }
            }
            Operator::Call { function_index } if stops(function_index) => {
                if let Some(f) = frames.last_mut() {
                    if f.loop_at.is_some() && !f.branched_back {
                        f.covered = true;
                    }
                }
            }
            Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                branch(&mut frames, relative_depth)
            }
            Operator::BrTable { ref targets } => {
                for d in targets.targets().flatten().chain([targets.default()]) {
                    branch(&mut frames, d);
                }
            }
            // Branches this translator does not support are refused elsewhere; any
            // other operator that could branch back makes no loop covered.
            Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. } => frames
                .iter_mut()
                .for_each(|f| f.branched_back |= !f.covered),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::find;

    /// The loops `find` reports, by their order in the function (0 = first `loop`).
    fn covered(wat: &str) -> Vec<usize> {
        crate::translate::with_ops(wat, |ops| {
            let loops: Vec<usize> = ops
                .iter()
                .filter(|(op, _)| matches!(op, wasmparser::Operator::Loop { .. }))
                .map(|(_, at)| *at)
                .collect();
            let found = find(ops, |f| f == 0);
            let mut out: Vec<usize> = (0..loops.len())
                .filter(|k| found.contains(&loops[*k]))
                .collect();
            out.sort();
            out
        })
    }

    #[test]
    fn a_call_at_the_top_of_the_body_before_the_branch_back_covers() {
        assert_eq!(
            covered(
                r#"(module (func $p) (func $leaf) (func (param i32)
                (loop $l (call $p) (br_if $l (local.get 0)))
                (loop $l (call $leaf) (br_if $l (local.get 0)))
                (loop $l (br_if $l (local.get 0)) (call $p))
                (loop $l (if (local.get 0) (then (call $p))) (br_if $l (local.get 0)))
                (loop $l (block $b (br_if $l (local.get 0))) (call $p) (br $l))
                (loop $l (block $b (br_if $b (local.get 0))) (call $p)
                  (if (local.get 0) (then (br $l))) (br_if $l (local.get 0)))))"#
            ),
            // 1: the callee has no points; 2: a way back before the call; 3: the call
            // only on one arm; 4: a way back from a nested block before the call.
            vec![0, 5]
        );
    }

    #[test]
    fn an_outer_loop_is_covered_by_its_own_call_only() {
        assert_eq!(
            covered(
                r#"(module (func $p) (func (param i32)
                (loop $o
                  (loop $i (call $p) (br_if $i (local.get 0)))
                  (br_if $o (local.get 0)))
                (loop $o
                  (call $p)
                  (loop $i (br_if $i (local.get 0)))
                  (br_if $o (local.get 0)))))"#
            ),
            // The first outer loop's call is inside the inner loop (its own poll stays);
            // the second's is at its top level, its inner loop keeps its poll.
            vec![1, 2]
        );
    }
}

/// The label a catch clause branches to.
pub fn catch_label(c: &wasmparser::Catch) -> u32 {
    match *c {
        wasmparser::Catch::One { label, .. }
        | wasmparser::Catch::OneRef { label, .. }
        | wasmparser::Catch::All { label }
        | wasmparser::Catch::AllRef { label } => label,
    }
}
