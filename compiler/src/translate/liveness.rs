//! Which Wasm locals are live at each migration point, so that a frame record holds
//! only what the rest of the function can still read. Besides smaller checkpoints this
//! keeps dead locals out of the save paths, which would otherwise keep them alive (in
//! registers or spill slots) across every call of the hot path. Without points the
//! same sets at loop headers tell a latch which values to carry (`branch_carrying`).
//!
//! A backward dataflow over basic blocks of the Wasm body. Points are keyed by the
//! byte offset of their operator (`usize::MAX` for the function entry), so the
//! translator needs no second copy of its point numbering: an offset it does not find
//! falls back to "every local live", which is always correct.

use super::Ops;
use rustc_hash::FxHashMap as HashMap;
use wasmparser::Operator;

/// Key of the function-entry point.
pub const ENTRY: usize = usize::MAX;

#[derive(Clone, Default)]
struct Block {
    /// Local accesses in order: (is_def, local).
    events: Vec<(bool, u32)>,
    succs: Vec<usize>,
}

enum Kind {
    Block,
    Loop(usize),
    If { else_block: Option<usize> },
}

struct Frame {
    kind: Kind,
    end: usize,
    /// A `try_table`: its catch targets are on the `catches` stack while it is open.
    catches: bool,
}

/// Live locals (bit sets) at each point.
pub struct Liveness {
    at: HashMap<usize, Vec<u64>>,
    /// Before each keyed operator, which of the tracked locals are live (bit sets by
    /// position in the tracked list, not by local: a few bits where a point's set has
    /// one per local).
    keyed: HashMap<usize, Vec<u64>>,
}

impl Liveness {
    /// Whether `local` is live at the point of operator offset `key` (true when unknown).
    #[cfg(test)]
    pub fn is_live(&self, key: usize, local: u32) -> bool {
        self.live_at(key)
            .is_none_or(|mut live| live.any(|l| l == local as usize))
    }

    /// Whether the `i`th tracked local is live just before the keyed operator at
    /// offset `key` (true when unknown).
    pub fn is_live_before(&self, key: usize, i: usize) -> bool {
        self.keyed
            .get(&key)
            .is_none_or(|set| set.get(i / 64).is_none_or(|bits| bits >> (i % 64) & 1 != 0))
    }

    /// The locals live at the point of `key`, in ascending order, if known: one lookup
    /// for all the locals of a point.
    pub fn live_at(&self, key: usize) -> Option<impl Iterator<Item = usize> + '_> {
        let set = self.at.get(&key)?;
        Some(set.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits >> b & 1 != 0)
                .map(move |b| w * 64 + b)
        }))
    }

    /// Nothing known: every local live everywhere.
    pub fn all_live() -> Liveness {
        Liveness {
            at: HashMap::default(),
            keyed: HashMap::default(),
        }
    }
}

struct Cfg {
    blocks: Vec<Block>,
    cur: usize,
    /// Points: key -> block whose live-in is the point's live set.
    points: Vec<(usize, usize)>,
    /// Keyed operators: key -> the empty block that starts at the operator.
    keyed: Vec<(usize, usize)>,
}

impl Cfg {
    fn new_block(&mut self) -> usize {
        self.blocks.push(Block::default());
        self.blocks.len() - 1
    }
    fn edge(&mut self, to: usize) {
        self.blocks[self.cur].succs.push(to);
    }
    /// Ends the current block with an edge to a fresh one, and continues there.
    fn fallthrough(&mut self) -> usize {
        let next = self.new_block();
        self.edge(next);
        self.cur = next;
        next
    }
    /// Continues in a fresh block nothing jumps to (after br, return, unreachable).
    fn dead(&mut self) {
        self.cur = self.new_block();
    }
}

/// Computes the live locals at every migration point of `body`, and which of the
/// `tracked` locals are live just before every operator for which `key_before` holds
/// (keyed by its offset). `is_point_call` tells whether a call of function `f` is a
/// migration point (calls of imports are not), `may_throw` whether it may throw (a call
/// inside a `try_table` may go on at a catch clause's label: an edge there).
pub fn analyze(
    ops: &Ops<'_>,
    num_locals: usize,
    is_point_call: impl Fn(u32) -> bool,
    may_throw: impl Fn(u32) -> bool,
    key_before: impl Fn(&Operator<'_>) -> bool,
    tracked: &[u32],
) -> Liveness {
    match build(ops, &is_point_call, &may_throw, &key_before) {
        Some(cfg) => solve(cfg, num_locals, tracked),
        None => Liveness::all_live(),
    }
}

fn build(
    ops: &Ops<'_>,
    is_point_call: &impl Fn(u32) -> bool,
    may_throw: &impl Fn(u32) -> bool,
    key_before: &impl Fn(&Operator<'_>) -> bool,
) -> Option<Cfg> {
    let mut cfg = Cfg {
        blocks: vec![Block::default()],
        cur: 0,
        points: vec![(ENTRY, 0)],
        keyed: vec![],
    };
    let exit = cfg.new_block();
    let mut control = vec![Frame {
        kind: Kind::Block,
        end: exit,
        catches: false,
    }];
    // The catch targets of each open `try_table`, outermost first.
    let mut catches: Vec<Vec<usize>> = vec![];
    // Edges from the current block to every catch target (an exception thrown here).
    let to_handlers = |cfg: &mut Cfg, catches: &[Vec<usize>]| {
        for &t in catches.iter().flatten() {
            cfg.edge(t);
        }
    };
    for (op, offset) in ops {
        let offset = *offset;
        if key_before(op) {
            // An empty block of its own starts here: its live-in is what is live just
            // before the operator.
            let here = cfg.fallthrough();
            cfg.keyed.push((offset, here));
        }
        match *op {
            Operator::Block { .. } => {
                let end = cfg.new_block();
                control.push(Frame {
                    kind: Kind::Block,
                    end,
                    catches: false,
                });
            }
            Operator::TryTable { ref try_table } => {
                // Labels count from outside the `try_table`.
                let mut targets = vec![];
                for c in &try_table.catches {
                    targets.push(target(&control, super::covered::catch_label(c))?);
                }
                catches.push(targets);
                let end = cfg.new_block();
                control.push(Frame {
                    kind: Kind::Block,
                    end,
                    catches: true,
                });
            }
            Operator::Throw { .. } | Operator::ThrowRef => {
                to_handlers(&mut cfg, &catches);
                cfg.dead();
            }
            Operator::Loop { .. } => {
                let header = cfg.fallthrough();
                cfg.points.push((offset, header));
                let end = cfg.new_block();
                control.push(Frame {
                    kind: Kind::Loop(header),
                    end,
                    catches: false,
                });
            }
            Operator::If { .. } => {
                let else_block = cfg.new_block();
                let end = cfg.new_block();
                cfg.edge(else_block);
                cfg.fallthrough();
                control.push(Frame {
                    kind: Kind::If {
                        else_block: Some(else_block),
                    },
                    end,
                    catches: false,
                });
            }
            Operator::Else => {
                let f = control.last_mut()?;
                cfg.blocks[cfg.cur].succs.push(f.end);
                if let Kind::If { else_block } = &mut f.kind {
                    cfg.cur = else_block.take()?;
                }
            }
            Operator::End => {
                let f = control.pop()?;
                if f.catches {
                    catches.pop();
                }
                cfg.edge(f.end);
                if let Kind::If {
                    else_block: Some(e),
                } = f.kind
                {
                    cfg.blocks[e].succs.push(f.end);
                }
                cfg.cur = f.end;
            }
            Operator::Br { relative_depth } => {
                let t = target(&control, relative_depth)?;
                cfg.edge(t);
                cfg.dead();
            }
            Operator::BrIf { relative_depth } => {
                let t = target(&control, relative_depth)?;
                cfg.edge(t);
                cfg.fallthrough();
            }
            Operator::BrTable { ref targets } => {
                for d in targets.targets() {
                    let t = target(&control, d.ok()?)?;
                    cfg.edge(t);
                }
                let t = target(&control, targets.default())?;
                cfg.edge(t);
                cfg.dead();
            }
            Operator::Return => {
                cfg.edge(exit);
                cfg.dead();
            }
            Operator::Unreachable => cfg.dead(),
            Operator::LocalGet { local_index } => {
                cfg.blocks[cfg.cur].events.push((false, local_index))
            }
            Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
                cfg.blocks[cfg.cur].events.push((true, local_index))
            }
            Operator::Call { function_index } => {
                let throws = !catches.is_empty() && may_throw(function_index);
                if is_point_call(function_index) {
                    // The point's live set: what the code after the call reads, and
                    // what a catch clause's code reads, if the callee may throw.
                    let point = cfg.fallthrough();
                    if throws {
                        to_handlers(&mut cfg, &catches);
                        cfg.fallthrough();
                    }
                    cfg.points.push((offset, point));
                } else if throws {
                    to_handlers(&mut cfg, &catches);
                    cfg.fallthrough();
                }
            }
            Operator::CallIndirect { .. } => {
                let point = cfg.fallthrough();
                if !catches.is_empty() {
                    to_handlers(&mut cfg, &catches);
                    cfg.fallthrough();
                }
                cfg.points.push((offset, point));
            }
            _ => {}
        }
    }
    Some(cfg)
}

fn target(control: &[Frame], depth: u32) -> Option<usize> {
    let f = control.get(control.len().checked_sub(1 + depth as usize)?)?;
    Some(match f.kind {
        Kind::Loop(header) => header,
        _ => f.end,
    })
}

fn solve(cfg: Cfg, num_locals: usize, tracked: &[u32]) -> Liveness {
    let words = num_locals.div_ceil(64).max(1);
    let n = cfg.blocks.len();
    // Per block: the locals it reads before setting them (gen) and those it sets
    // (kill), so that an iteration is word operations, not a replay of the block.
    let mut gen = vec![0u64; n * words];
    let mut kill = vec![0u64; n * words];
    for (b, block) in cfg.blocks.iter().enumerate() {
        let (g, k) = (
            &mut gen[b * words..][..words],
            &mut kill[b * words..][..words],
        );
        for (is_def, l) in block.events.iter().rev() {
            let (w, bit) = (*l as usize / 64, 1u64 << (l % 64));
            if w >= words {
                continue;
            }
            if *is_def {
                g[w] &= !bit;
                k[w] |= bit;
            } else {
                g[w] |= bit;
            }
        }
    }
    let mut preds: Vec<Vec<usize>> = vec![vec![]; n];
    for (b, block) in cfg.blocks.iter().enumerate() {
        for s in &block.succs {
            preds[*s].push(b);
        }
    }
    // live_in(b) = gen(b) | (live_out(b) & !kill(b)); sets only grow. A worklist, from
    // the last block back (blocks are numbered roughly in program order), revisits a
    // block only when a successor's set grew.
    let mut live_in = vec![0u64; n * words];
    let mut queued = vec![true; n];
    let mut work: Vec<usize> = (0..n).collect();
    let mut out = vec![0u64; words];
    while let Some(b) = work.pop() {
        queued[b] = false;
        out.fill(0);
        for s in &cfg.blocks[b].succs {
            for (o, x) in out.iter_mut().zip(&live_in[s * words..][..words]) {
                *o |= x;
            }
        }
        let mut changed = false;
        for w in 0..words {
            let new = gen[b * words + w] | (out[w] & !kill[b * words + w]);
            if new != live_in[b * words + w] {
                live_in[b * words + w] = new;
                changed = true;
            }
        }
        if changed {
            for p in &preds[b] {
                if !queued[*p] {
                    queued[*p] = true;
                    work.push(*p);
                }
            }
        }
    }
    let at = cfg
        .points
        .into_iter()
        .map(|(key, b)| (key, live_in[b * words..][..words].to_vec()))
        .collect();
    let keyed = cfg
        .keyed
        .into_iter()
        .map(|(key, b)| {
            let live = &live_in[b * words..][..words];
            let mut set = vec![0u64; tracked.len().div_ceil(64)];
            for (i, &l) in tracked.iter().enumerate() {
                let l = l as usize;
                if live.get(l / 64).is_none_or(|w| w >> (l % 64) & 1 != 0) {
                    set[i / 64] |= 1 << (i % 64);
                }
            }
            (key, set)
        })
        .collect();
    Liveness { at, keyed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::with_ops;

    fn live(wat: &str) -> (Liveness, Vec<usize>) {
        with_ops(wat, |ops| {
            let offsets = ops
                .iter()
                .filter(|(op, _)| matches!(op, Operator::Loop { .. } | Operator::Call { .. }))
                .map(|(_, off)| *off)
                .collect();
            (analyze(ops, 4, |_| true, |_| true, |_| false, &[]), offsets)
        })
    }

    #[test]
    fn dead_after_last_use_and_live_around_loops() {
        // Local 1 is read after the call, local 2 is overwritten before any read, local 3
        // is read in the next loop iteration only.
        let (l, offs) = live(
            r#"(module (func $f) (func (param i32) (local i32 i32 i32)
                (loop $top
                  call $f
                  (local.set 2 (i32.const 1))
                  (drop (local.get 1)) (drop (local.get 2)) (drop (local.get 3))
                  (local.set 3 (local.get 0))
                  (br_if $top (local.get 0)))))"#,
        );
        let (lp, call) = (offs[0], offs[1]);
        assert!(
            l.is_live(call, 0) && l.is_live(call, 1) && !l.is_live(call, 2) && l.is_live(call, 3)
        );
        assert!(l.is_live(lp, 0) && l.is_live(lp, 1) && !l.is_live(lp, 2) && l.is_live(lp, 3));
        assert!(l.is_live(ENTRY, 0) && l.is_live(ENTRY, 3));
    }

    #[test]
    fn tracked_locals_before_keyed_operators() {
        // Local 1 is set at the top of every trip and read after the loop only when the
        // function ends with a read of it; local 2 is read on the next trip.
        let wat = |tail: &str| {
            format!(
                r#"(module (func (param i32) (result f64) (local f64 f64)
                    (loop $top
                      (local.set 1 (f64.const 1))
                      (local.set 2 (f64.add (local.get 1) (local.get 2)))
                      (br_if $top (local.get 0)))
                    {tail}))"#
            )
        };
        for (tail, live_after) in [("(local.get 2)", false), ("(local.get 1)", true)] {
            let (l, br_if) = with_ops(&wat(tail), |ops| {
                let br_if = ops
                    .iter()
                    .find(|(op, _)| matches!(op, Operator::BrIf { .. }))
                    .unwrap()
                    .1;
                let is_br_if = |op: &Operator<'_>| matches!(op, Operator::BrIf { .. });
                (
                    analyze(ops, 3, |_| true, |_| true, is_br_if, &[1, 2]),
                    br_if,
                )
            });
            // Positions in the tracked list: 0 is local 1, 1 is local 2.
            assert_eq!(l.is_live_before(br_if, 0), live_after, "{tail}");
            assert!(l.is_live_before(br_if, 1));
            // An operator that is not keyed is unknown: live.
            assert!(l.is_live_before(br_if + 1, 0));
        }
    }

    #[test]
    fn unknown_point_is_all_live() {
        let l = Liveness::all_live();
        assert!(l.is_live(12, 7));
    }
}
