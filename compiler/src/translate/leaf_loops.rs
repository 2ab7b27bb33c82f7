//! Leaf loops: innermost loops with no point inside (no nested loop, no call of a
//! function with points, no indirect call), and the locals each one reads or writes.
//!
//! In such a loop the header's poll is the only point of every iteration, so a local
//! the loop never touches keeps, all through the loop, the value it had on entry: no
//! point inside renames it, no write changes it. Its header then needs no parameter for
//! it (`FuncTranslator::loop_vars`): the point names the value from before the loop.
//! Most of a loop header's variables are such locals (lz4: 87% of 19 000), and each
//! parameter was a move on every branch to the header, a value the e-graph could not
//! see through and a slot in both constant-phi passes.

use super::Ops;
use rustc_hash::FxHashMap as HashMap;
use wasmparser::Operator;

enum Frame {
    Loop {
        at: usize,
        /// A point inside: a nested loop or a call that is a point.
        inner_point: bool,
        accessed: Vec<u32>,
    },
    Other,
}

/// The leaf loops of `ops`, by the offset of their `loop`, with the locals each one
/// accesses (sorted, each once). A call of function `f` is a point if `has_points(f)`.
pub fn find(ops: &Ops<'_>, has_points: impl Fn(u32) -> bool) -> HashMap<usize, Vec<u32>> {
    let mut found = HashMap::default();
    let mut frames: Vec<Frame> = vec![];
    // Every loop around a point is no leaf. Marking stops at the first loop already
    // marked, whose enclosing loops are then marked too (marking all at every point
    // would be quadratic in the nesting depth).
    let point_inside = |frames: &mut Vec<Frame>| {
        for f in frames.iter_mut().rev() {
            if let Frame::Loop { inner_point, .. } = f {
                if *inner_point {
                    break;
                }
                *inner_point = true;
            }
        }
    };
    for (op, at) in ops {
        match *op {
            Operator::Loop { .. } => {
                point_inside(&mut frames);
                frames.push(Frame::Loop {
                    at: *at,
                    inner_point: false,
                    accessed: vec![],
                });
            }
            Operator::Block { .. } | Operator::If { .. } | Operator::TryTable { .. } => {
                frames.push(Frame::Other)
            }
            Operator::End => {
                if let Some(Frame::Loop {
                    at,
                    inner_point: false,
                    mut accessed,
                }) = frames.pop()
                {
                    accessed.sort_unstable();
                    accessed.dedup();
                    found.insert(at, accessed);
                }
            }
            Operator::Call { function_index } if has_points(function_index) => {
                point_inside(&mut frames)
            }
            Operator::CallIndirect { .. } | Operator::CallRef { .. } => point_inside(&mut frames),
            Operator::LocalGet { local_index }
            | Operator::LocalSet { local_index }
            | Operator::LocalTee { local_index } => {
                // Only the innermost loop can be a leaf.
                if let Some(Frame::Loop {
                    inner_point: false,
                    accessed,
                    ..
                }) = frames
                    .iter_mut()
                    .rev()
                    .find(|f| matches!(f, Frame::Loop { .. }))
                {
                    accessed.push(local_index);
                }
            }
            // Legacy exception handling is refused by validation; nothing is a leaf.
            Operator::Try { .. } | Operator::Delegate { .. } => return HashMap::default(),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::find;

    /// (loop order, accessed locals) of the leaf loops of the last function of `wat`.
    fn leaves(wat: &str) -> Vec<(usize, Vec<u32>)> {
        crate::translate::with_ops(wat, |ops| {
            let found = find(ops, |f| f == 0);
            ops.iter()
                .filter(|(op, _)| matches!(op, wasmparser::Operator::Loop { .. }))
                .enumerate()
                .filter_map(|(k, (_, at))| found.get(at).map(|a| (k, a.clone())))
                .collect()
        })
    }

    #[test]
    fn innermost_loops_without_call_points_and_what_they_touch() {
        let found = leaves(
            r#"(module (func $p) (func $leaf) (func (param i32) (local i32 i32 i32)
            (loop $o
              (local.set 1 (local.get 0))
              (loop $i (local.set 2 (i32.add (local.get 2) (local.get 1)))
                (block (br_if $i (local.tee 3 (local.get 2)))))
              (br_if $o (local.get 0)))
            (loop $c (call $p) (br_if $c (local.get 2)))
            (loop $l (call $leaf) (br_if $l (local.get 0)))))"#,
        );
        // The outer loop holds a loop, the third a call of a function with points; the
        // inner loop's accesses in a nested block count, its outer loop's do not.
        assert_eq!(found, vec![(1, vec![1, 2, 3]), (3, vec![0])]);
    }
}
