//! Which values are live out of the blocks that hold migration-point sites, in the
//! optimised function (`sites::analyze`).
//!
//! Only values used in a block other than the one defining them can be live across a
//! block boundary, so the analysis is over those alone, and it keeps the result only
//! for the blocks it is asked about (the successors of the sites' blocks). It is the
//! textbook backward dataflow, live_in(b) = uses(b) ∪ (live_out(b) minus defs(b)),
//! on bit sets: one word covers 64 values, so a union costs a few word operations
//! where sorted lists of value indices (the first version) merged element by element,
//! which was three quarters of `sites::analyze` on zstd. A function with very many
//! blocks and values is analysed in chunks of values, which bounds the memory.

use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::{self, Value};
use cranelift_codegen::Context;

/// Words of bit set held at once, over all blocks (8 MiB).
const MAX_WORDS: usize = 1 << 20;

pub struct LiveOut {
    /// The cross-block values, by index.
    values: Vec<Value>,
    /// Per block number: for the blocks asked about, the indices of the values live
    /// into the block, ascending; empty for the others.
    live_in: Vec<Vec<u32>>,
}

impl LiveOut {
    /// Liveness of `ctx.func` (whose CFG and dominator tree are current), kept for
    /// the blocks `wanted` lists.
    pub fn compute(ctx: &Context, wanted: &[ir::Block]) -> LiveOut {
        Self::compute_in_chunks(ctx, wanted, MAX_WORDS)
    }

    /// [`Self::compute`] holding at most `max_words` words of bit set at once (at
    /// least one per block).
    fn compute_in_chunks(ctx: &Context, wanted: &[ir::Block], max_words: usize) -> LiveOut {
        let func = &ctx.func;
        let nvalues = func.dfg.num_values();
        let nblocks = func.dfg.num_blocks();
        let mut def_block = vec![u32::MAX; nvalues];
        for block in func.layout.blocks() {
            for p in func.dfg.block_params(block) {
                def_block[p.index()] = block.as_u32();
            }
            for inst in func.layout.block_insts(block) {
                for r in func.dfg.inst_results(inst) {
                    def_block[r.index()] = block.as_u32();
                }
            }
        }
        // Index the cross-block values, and note each block's uses of them (a use of a
        // value defined elsewhere is always upward-exposed) and its definitions of them.
        // Most blocks use no value from elsewhere (a call's block after it, a poll's):
        // they get no allocation.
        let mut index = vec![u32::MAX; nvalues];
        let mut values = vec![];
        let mut uses: Vec<Vec<u32>> = (0..nblocks).map(|_| vec![]).collect();
        let mut u = vec![];
        for block in func.layout.blocks() {
            u.clear();
            for inst in func.layout.block_insts(block) {
                for v in func.dfg.inst_values(inst) {
                    if def_block[v.index()] == block.as_u32() {
                        continue;
                    }
                    if index[v.index()] == u32::MAX {
                        index[v.index()] = values.len() as u32;
                        values.push(v);
                    }
                    u.push(index[v.index()]);
                }
            }
            if !u.is_empty() {
                u.sort_unstable();
                u.dedup();
                uses[block.index()] = u.clone();
            }
        }
        // Indices are handed out in layout order of the uses, so each block's
        // definitions are collected apart and sorted.
        let mut defs: Vec<Vec<u32>> = (0..nblocks).map(|_| vec![]).collect();
        for (i, v) in values.iter().enumerate() {
            let b = def_block[v.index()];
            if b != u32::MAX {
                defs[b as usize].push(i as u32);
            }
        }
        let mut live_in: Vec<Vec<u32>> = (0..nblocks).map(|_| vec![]).collect();
        let mut is_wanted = vec![false; nblocks];
        for b in wanted {
            is_wanted[b.index()] = true;
        }
        let words_per_block = values
            .len()
            .div_ceil(64)
            .min((max_words / nblocks.max(1)).max(1));
        let chunk = words_per_block * 64;
        let mut live = vec![0u64; nblocks * words_per_block];
        let mut out = vec![0u64; words_per_block];
        let mut queued = vec![false; nblocks];
        let mut work: Vec<ir::Block> = vec![];
        let in_chunk = |list: &[u32], lo: u32, hi: u32| {
            let start = list.partition_point(|&i| i < lo);
            let end = list.partition_point(|&i| i < hi);
            (start, end)
        };
        for lo in (0..values.len()).step_by(chunk.max(1)) {
            let hi = (lo + chunk).min(values.len()) as u32;
            let lo = lo as u32;
            live.fill(0);
            for (b, list) in uses.iter().enumerate() {
                let (s, e) = in_chunk(list, lo, hi);
                for &i in &list[s..e] {
                    let i = (i - lo) as usize;
                    live[b * words_per_block + i / 64] |= 1 << (i % 64);
                }
            }
            // Sets only grow. A worklist, seeded in postorder (successors first),
            // revisits a block only when a successor's set grew.
            work.clear();
            work.extend(ctx.domtree.cfg_postorder().iter().rev());
            for b in &work {
                queued[b.index()] = true;
            }
            while let Some(block) = work.pop() {
                let b = block.index();
                queued[b] = false;
                out.fill(0);
                for s in ctx.cfg.succ_iter(block) {
                    let s = s.index() * words_per_block;
                    for (o, w) in out.iter_mut().zip(&live[s..s + words_per_block]) {
                        *o |= *w;
                    }
                }
                let (s, e) = in_chunk(&defs[b], lo, hi);
                for &i in &defs[b][s..e] {
                    let i = (i - lo) as usize;
                    out[i / 64] &= !(1 << (i % 64));
                }
                let mine = &mut live[b * words_per_block..(b + 1) * words_per_block];
                let mut grew = false;
                for (m, o) in mine.iter_mut().zip(&out) {
                    if *o & !*m != 0 {
                        *m |= *o;
                        grew = true;
                    }
                }
                if grew {
                    for p in ctx.cfg.pred_iter(block) {
                        if !queued[p.block.index()] {
                            queued[p.block.index()] = true;
                            work.push(p.block);
                        }
                    }
                }
            }
            for (b, set) in live_in.iter_mut().enumerate() {
                if !is_wanted[b] {
                    continue;
                }
                let words = &live[b * words_per_block..(b + 1) * words_per_block];
                for (k, &w) in words.iter().enumerate() {
                    let mut w = w;
                    while w != 0 {
                        let bit = w.trailing_zeros();
                        set.push(lo + (k * 64) as u32 + bit);
                        w &= w - 1;
                    }
                }
            }
        }
        LiveOut { values, live_in }
    }

    /// The values live out of `block`: those live into its successors, each of which
    /// must have been asked for. A value live into two successors comes twice.
    pub fn live_out<'s>(
        &'s self,
        ctx: &'s Context,
        block: ir::Block,
    ) -> impl Iterator<Item = Value> + 's {
        ctx.cfg
            .succ_iter(block)
            .flat_map(move |s| self.live_in[s.index()].iter())
            .map(move |i| self.values[*i as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::LiveOut;
    use cranelift_codegen::ir::{types, Block, InstBuilder, Value};
    use cranelift_codegen::Context;

    /// `block0(a)` defines `n` values `a + k`; a loop `block1(i)` uses `i` and the
    /// first half of them, and exits to `block2`, which returns the sum of the second
    /// half. Returns the context (CFG and dominator tree computed), the blocks and the
    /// values.
    fn function(n: i64) -> (Context, [Block; 3], Value, Vec<Value>) {
        let (func, (blocks, i, vals)) =
            crate::test_ir::function(&[types::I64], &[types::I64], |b| {
                let [b0, b1, b2] = [(); 3].map(|_| b.create_block());
                b.append_block_params_for_function_params(b0);
                let i = b.append_block_param(b1, types::I64);
                b.switch_to_block(b0);
                let a = b.block_params(b0)[0];
                let vals: Vec<Value> = (0..n).map(|k| b.ins().iadd_imm_s(a, k)).collect();
                b.ins().jump(b1, &[a.into()]);
                b.switch_to_block(b1);
                let mut acc = i;
                for v in &vals[..vals.len() / 2] {
                    acc = b.ins().iadd(acc, *v);
                }
                b.ins().brif(acc, b1, &[acc.into()], b2, &[]);
                b.switch_to_block(b2);
                let mut sum = vals[vals.len() / 2];
                for v in &vals[vals.len() / 2 + 1..] {
                    sum = b.ins().iadd(sum, *v);
                }
                b.ins().return_(&[sum]);
                ([b0, b1, b2], i, vals)
            });
        let mut ctx = Context::for_function(func);
        ctx.flowgraph();
        (ctx, blocks, i, vals)
    }

    fn live_out(live: &LiveOut, ctx: &Context, block: Block) -> Vec<Value> {
        let mut v: Vec<Value> = live.live_out(ctx, block).collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn values_used_later_are_live_out_and_the_rest_not() {
        let (ctx, [b0, b1, _], _, vals) = function(6);
        let live = LiveOut::compute(
            &ctx,
            &ctx.cfg
                .succ_iter(b0)
                .chain(ctx.cfg.succ_iter(b1))
                .collect::<Vec<_>>(),
        );
        // Into the loop: every value (the first half for the loop, the second for
        // after it). The loop's parameter is defined at the loop, so not live out of
        // block0; the sum the loop passes back is a branch argument, used in block1.
        assert_eq!(live_out(&live, &ctx, b0), vals);
        // Out of the loop: to itself the first half, to the exit the second half.
        assert_eq!(live_out(&live, &ctx, b1), vals);
    }

    #[test]
    fn chunks_give_the_same_sets() {
        // 150 cross-block values: three chunks of 64 when one word is allowed per block.
        let (ctx, [b0, b1, b2], _, _) = function(150);
        let wanted: Vec<Block> = [b0, b1, b2]
            .iter()
            .flat_map(|b| ctx.cfg.succ_iter(*b).collect::<Vec<_>>())
            .collect();
        let whole = LiveOut::compute(&ctx, &wanted);
        let chunked = LiveOut::compute_in_chunks(&ctx, &wanted, 3);
        for b in [b0, b1, b2] {
            assert_eq!(live_out(&whole, &ctx, b), live_out(&chunked, &ctx, b));
        }
        assert_eq!(live_out(&whole, &ctx, b0).len(), 150);
        assert!(live_out(&whole, &ctx, b2).is_empty());
    }
}
