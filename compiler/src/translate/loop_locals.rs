//! Which locals each loop reads or writes, its nested code included.
//!
//! A local a loop never touches keeps, all through the loop, the value it had on
//! entry: nothing inside writes it, and no point inside renames it (a call block and
//! an inner loop's header take such a value as it is, since the outer header's point
//! names it: `FuncTranslator::held_at_translation`; an inner header that takes
//! parameters for it only carries the same value on). The loop's header then needs no
//! parameter for it (`FuncTranslator::loop_vars`): its point names the value from
//! before the loop. Most of a loop header's variables are such locals (lz4: 87% of
//! 19 000), and each parameter was a move on every branch to the header, a value the
//! e-graph could not see through and a slot in both constant-phi passes.
//!
//! Until stop 48 only innermost loops without a point inside were asked (`leaf_loops`);
//! asking every loop keeps the same rule, since a loop's code never reads a local it
//! takes as it is.

use super::Ops;
use wasmparser::Operator;

/// Each loop's span of operators and the positions each local is accessed at: a query
/// is a binary search in one loop list and one local's positions, and the whole takes
/// space and time linear in the function however deep its loops nest (a set of locals
/// per loop, each holding its inner loops' too, would be quadratic in the depth).
#[derive(Default)]
pub struct LoopLocals {
    /// Per loop, in code order: the offset of its `loop`, and the positions (in `ops`)
    /// of the `loop` and its `end`.
    spans: Vec<(usize, u32, u32)>,
    /// The positions of every `local.get`, `local.set` and `local.tee`, grouped by
    /// local, each group in order: local `l`'s are `positions[starts[l]..starts[l + 1]]`.
    positions: Vec<u32>,
    starts: Vec<u32>,
}

/// A loop's operators, as [`LoopLocals::span`] gives them.
#[derive(Clone, Copy)]
pub struct Span(u32, u32);

impl LoopLocals {
    /// The loops of `ops`.
    pub fn find(ops: &Ops<'_>) -> LoopLocals {
        let mut found = LoopLocals::default();
        let mut accesses: Vec<(u32, u32)> = vec![];
        // Per open block: its loop's index in `spans`, if it is one.
        let mut open: Vec<Option<usize>> = vec![];
        for (pos, (op, at)) in ops.iter().enumerate() {
            let pos = pos as u32;
            match *op {
                Operator::Loop { .. } => {
                    open.push(Some(found.spans.len()));
                    found.spans.push((*at, pos, pos));
                }
                Operator::Block { .. } | Operator::If { .. } | Operator::TryTable { .. } => {
                    open.push(None)
                }
                Operator::End => {
                    if let Some(Some(k)) = open.pop() {
                        found.spans[k].2 = pos;
                    }
                }
                Operator::LocalGet { local_index }
                | Operator::LocalSet { local_index }
                | Operator::LocalTee { local_index } => accesses.push((local_index, pos)),
                // Legacy exception handling is refused by validation; no loop is known.
                Operator::Try { .. } | Operator::Delegate { .. } => return LoopLocals::default(),
                _ => {}
            }
        }
        // Grouped by a counting sort, which keeps each local's positions in order.
        let locals = accesses.iter().map(|a| a.0 as usize + 1).max().unwrap_or(0);
        found.starts = vec![0; locals + 1];
        for &(local, _) in &accesses {
            found.starts[local as usize + 1] += 1;
        }
        for l in 0..locals {
            found.starts[l + 1] += found.starts[l];
        }
        let mut next = found.starts.clone();
        found.positions = vec![0; accesses.len()];
        for &(local, pos) in &accesses {
            let slot = &mut next[local as usize];
            found.positions[*slot as usize] = pos;
            *slot += 1;
        }
        found
    }

    /// The loop whose `loop` operator is at offset `at`, if it was found.
    pub fn span(&self, at: usize) -> Option<Span> {
        let k = self.spans.binary_search_by_key(&at, |s| s.0).ok()?;
        Some(Span(self.spans[k].1, self.spans[k].2))
    }

    /// Whether `local` is read or written inside `span`.
    pub fn accessed(&self, span: Span, local: u32) -> bool {
        // A local above every accessed one is accessed nowhere.
        let Some(&[start, end]) = self.starts.get(local as usize..local as usize + 2) else {
            return false;
        };
        let at = &self.positions[start as usize..end as usize];
        let i = at.partition_point(|&pos| pos < span.0);
        at.get(i).is_some_and(|&pos| pos <= span.1)
    }
}

#[cfg(test)]
mod tests {
    use super::LoopLocals;

    /// Per loop of the last function of `wat`, in order: the locals of `0..locals` it
    /// accesses.
    fn accessed(wat: &str, locals: u32) -> Vec<Vec<u32>> {
        crate::translate::with_ops(wat, |ops| {
            let found = LoopLocals::find(ops);
            ops.iter()
                .filter(|(op, _)| matches!(op, wasmparser::Operator::Loop { .. }))
                .map(|(_, at)| {
                    let span = found.span(*at).expect("every loop found");
                    (0..locals).filter(|&l| found.accessed(span, l)).collect()
                })
                .collect()
        })
    }

    #[test]
    fn each_loop_with_what_its_nested_code_touches() {
        let found = accessed(
            r#"(module (func $p) (func (param i32) (local i32 i32 i32 i32 i32)
            (loop $o
              (local.set 1 (local.get 0))
              (loop $i (local.set 2 (i32.add (local.get 2) (local.get 1)))
                (block (br_if $i (local.tee 3 (local.get 2)))))
              (br_if $o (local.get 0)))
            (loop $c (call $p) (br_if $c (local.get 2)))
            (local.set 4 (local.get 3))))"#,
            6,
        );
        // The outer loop's accesses include its inner loop's, and a nested block's
        // count; an access after a loop does not; local 5 is accessed nowhere.
        assert_eq!(found, vec![vec![0, 1, 2, 3], vec![1, 2, 3], vec![2]]);
    }
}
