//! Constant-phi removal that leaves chosen block parameters alone.
//!
//! Cranelift's `remove_constant_phis` deletes every block parameter that receives the
//! same value on all incoming edges and renames it to that value. The SSA builder
//! gives a loop header a parameter for every variable the loop reads, so most of them
//! are constant phis, and without the pass the register allocator carries each one
//! through the loop (bzip2 ran 10% more instructions). But two kinds of parameter
//! must stay:
//!
//! * the explicit parameters of migration-point blocks, which keep the e-graph from
//!   relating values across a point (`sites`, `translate::migration`); after it, they
//!   go too where the point can name the one value they carry
//!   ([`remove_constant_after_optimisation`]);
//! * the parameter through which a float result reaches its NaN check
//!   (`FuncTranslator::canonical_nan`): a value used once keeps the loads it was
//!   computed from foldable into the arithmetic on x86-64, and the check's two uses
//!   fall on the parameter, which instruction selection does not look through.
//!
//! So this is the same analysis with those parameters counted as ordinary values, as
//! Cranelift counts the entry block's: a forward dataflow over block parameters on a
//! lattice of no value yet, one value, many values, to a fixed point; then every
//! parameter with one value is removed from its block and from each branch to it, and
//! becomes an alias of that value. The value dominates the block, since every path to
//! it carries that value (or parameters that carry it).

use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::{Block, BlockArg, BlockCall, Function, Inst, Value, ValueDef};
use std::cell::RefCell;

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Abs {
    /// Not a parameter this pass may remove: it stands for itself.
    #[default]
    Fixed,
    /// No incoming value seen yet.
    Nothing,
    One(Value),
    Many,
}

impl Abs {
    fn join(self, other: Abs) -> Abs {
        match (self, other) {
            (Abs::Nothing, x) | (x, Abs::Nothing) => x,
            (Abs::One(a), Abs::One(b)) if a == b => Abs::One(a),
            _ => Abs::Many,
        }
    }
}

/// A branch to a block with parameters: its arguments are `args[start..]`, one per
/// parameter of `block` (`None` for an argument that is not a value).
struct Edge {
    inst: Inst,
    index: usize,
    block: Block,
    start: usize,
}

/// The pass's work lists, kept by each compiling thread from one function to the next:
/// in a small function their allocation was much of the pass (kept, a module of 2 500
/// small functions compiles in 0.7% fewer instructions with points, 0.45% without).
#[derive(Default)]
struct Scratch {
    abs: Vec<Abs>,
    open: Vec<bool>,
    edges: Vec<Edge>,
    args: Vec<Option<Value>>,
    formals: Vec<Value>,
    is_held_param: Vec<bool>,
    held_value: Vec<Option<bool>>,
    kept: Vec<BlockArg>,
    blocks: Vec<Block>,
    /// A block's parameters, or an instruction's values (`resolve_uses`).
    values: Vec<Value>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// Removes the constant parameters of `func`'s blocks, except the entry block's and
/// those in `keep`: before optimisation, with the points' parameters in `keep`.
pub fn remove_constant(func: &mut Function, keep: &[Value]) {
    remove(func, keep, None);
}

/// The same after optimisation, when the points' parameters (`held`) have done their
/// work: the e-graph has not related values across a point, and nothing after it
/// will. A point's parameter that only ever passes on one value can then become that
/// value, if the point can still name it ([`is_held`]); a chain of them (a variable
/// live across several calls) becomes the one value it carries, and so do the merges
/// after points that only merged the chain's links. (Without this a function with
/// points had up to seven times the block parameters it has without, most of them
/// such links and merges, and the register allocator paid for each.)
///
/// A parameter that stays stands for itself here, where the pass before optimisation
/// passes "many values" on to the parameters it reaches: a chain's merge of a
/// parameter that stays with itself is that parameter.
pub fn remove_constant_after_optimisation(func: &mut Function, keep: &[Value], held: &[Value]) {
    remove(func, keep, Some(held));
    // The uses of removed parameters become their values, in the layout only:
    // `resolve_all_aliases` visits every instruction, also those the e-graph took out of
    // the layout, whose argument lists may be shared with the instructions that
    // replaced them or freed since (fuzzing found it reading such a list).
    SCRATCH.with_borrow_mut(|s| resolve_uses(func, &mut s.values));
}

fn resolve_uses(func: &mut Function, values: &mut Vec<Value>) {
    let mut block = func.layout.entry_block();
    while let Some(b) = block {
        block = func.layout.next_block(b);
        let mut inst = func.layout.first_inst(b);
        while let Some(i) = inst {
            inst = func.layout.next_inst(i);
            // A look at the argument slice and a branch's block arguments tells whether
            // an instruction uses an alias; gathering every instruction's values to
            // ask was a third of this pass's cost.
            let dfg = &func.dfg;
            let uses_alias = dfg.inst_args(i).iter().any(|&v| dfg.value_is_alias(v))
                || dfg.insts[i]
                    .branch_destination(&dfg.jump_tables, &dfg.exception_tables)
                    .iter()
                    .any(|call| {
                        call.args(&dfg.value_lists)
                            .any(|a| matches!(a, BlockArg::Value(v) if dfg.value_is_alias(v)))
                    });
            if uses_alias {
                values.clear();
                values.extend(dfg.inst_values(i).map(|v| dfg.resolve_aliases(v)));
                func.dfg.overwrite_inst_values(i, values.iter().copied());
            }
        }
    }
}

fn remove(func: &mut Function, keep: &[Value], held: Option<&[Value]>) {
    SCRATCH.with_borrow_mut(|s| remove_with(func, keep, held, s));
}

fn remove_with(func: &mut Function, keep: &[Value], held: Option<&[Value]>, s: &mut Scratch) {
    let Some(entry) = func.layout.entry_block() else {
        return;
    };
    let Scratch {
        abs,
        open,
        edges,
        args,
        formals,
        is_held_param,
        held_value,
        kept,
        blocks,
        values: params,
    } = s;
    // Dense by value number: every parameter and argument is looked at on each pass.
    abs.clear();
    abs.resize(func.dfg.num_values(), Abs::Fixed);
    for block in func.layout.blocks() {
        if block != entry {
            for &p in func.dfg.block_params(block) {
                abs[p.index()] = Abs::Nothing;
            }
        }
    }
    for &v in keep {
        abs[func.dfg.resolve_aliases(v).index()] = Abs::Fixed;
    }
    // Per block: whether any parameter may go. Edges into blocks whose parameters all
    // stay (a point's, before the e-graph) have nothing to tell: most of them, with
    // points, and a point block has one parameter per variable, so this is asked once
    // per block, not once per edge.
    open.clear();
    open.resize(func.dfg.num_blocks(), false);
    for block in func.layout.blocks() {
        open[block.index()] = func
            .dfg
            .block_params(block)
            .iter()
            .any(|p| abs[p.index()] != Abs::Fixed);
    }
    edges.clear();
    // Per argument slot of every edge: the argument, and the parameter it goes to.
    args.clear();
    formals.clear();
    for block in func.layout.blocks() {
        let Some(inst) = func.layout.last_inst(block) else {
            continue;
        };
        let dests = func.dfg.insts[inst]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables);
        for (index, dest) in dests.iter().enumerate() {
            let to = dest.block(&func.dfg.value_lists);
            if !open[to.index()] {
                continue;
            }
            let params = func.dfg.block_params(to);
            let start = args.len();
            args.extend(dest.args(&func.dfg.value_lists).map(|a| match a {
                BlockArg::Value(v) => Some(func.dfg.resolve_aliases(v)),
                _ => None,
            }));
            formals.extend_from_slice(params);
            edges.push(Edge {
                inst,
                index,
                block: to,
                start,
            });
        }
    }
    is_held_param.clear();
    is_held_param.resize(abs.len(), false);
    for &p in held.unwrap_or(&[]) {
        is_held_param[func.dfg.resolve_aliases(p).index()] = true;
    }
    let many_stands_for_itself = held.is_some();
    // Whether each value is held (`is_held`), asked once per value, not once per pass
    // over every argument that carries it.
    held_value.clear();
    held_value.resize(abs.len(), None);

    loop {
        let mut changed = false;
        for (&arg, &formal) in args.iter().zip(formals.iter()) {
            let old = abs[formal.index()];
            // A parameter that stays, or already takes many values (the top of the
            // lattice: nothing joins it back), learns nothing more.
            if matches!(old, Abs::Fixed | Abs::Many) {
                continue;
            }
            let actual = match arg {
                Some(v) => match abs[v.index()] {
                    Abs::Fixed => Abs::One(v),
                    Abs::Many if many_stands_for_itself => Abs::One(v),
                    a => a,
                },
                None => Abs::Many,
            };
            let mut new = old.join(actual);
            if let Abs::One(v) = new {
                if is_held_param[formal.index()]
                    && !*held_value[v.index()].get_or_insert_with(|| is_held(func, v))
                {
                    new = Abs::Many;
                }
            }
            if new != old {
                abs[formal.index()] = new;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    // Arguments first, while the blocks still have every parameter to index them by.
    // Each branch's and block's list is rebuilt once: removing entries one at a time
    // slid the rest each time, quadratic in a point block's parameters.
    for e in edges.iter() {
        let n = func.dfg.block_params(e.block).len();
        let stays = |k: usize| !matches!(abs[formals[e.start + k].index()], Abs::One(_));
        if (0..n).all(stays) {
            continue;
        }
        let dfg = &mut func.dfg;
        let call = &mut dfg.insts[e.inst]
            .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)[e.index];
        // A new list, not the old one shrunk: after the e-graph a branch it rewrote (a
        // `brif` to a block that only traps, now a `trapnz` and a `jump`) is out of the
        // layout but may still hold the argument list its replacement holds.
        kept.clear();
        kept.extend(
            call.args(&dfg.value_lists)
                .enumerate()
                .filter(|(k, _)| stays(*k))
                .map(|(_, a)| a),
        );
        *call = BlockCall::new(e.block, kept.iter().copied(), &mut dfg.value_lists);
    }
    blocks.clear();
    blocks.extend(func.layout.blocks());
    for &block in blocks.iter() {
        let removed = |p: &Value| matches!(abs[p.index()], Abs::One(_));
        if !func.dfg.block_params(block).iter().any(removed) {
            continue;
        }
        params.clear();
        params.extend_from_slice(func.dfg.block_params(block));
        func.dfg.detach_block_params(block);
        for &p in params.iter() {
            match abs[p.index()] {
                Abs::One(v) => func.dfg.change_to_alias(p, v),
                _ => func.dfg.attach_block_param(block, p),
            }
        }
    }
}

/// Whether a migration point can name `v` as one of its Wasm values wherever `v` is
/// live: a constant (recorded as one), a block parameter, or the result of an
/// instruction with an effect (a call, a load, a trapping operation), which
/// instruction selection computes where it stands and never folds into a use across a
/// point (the point is an effect too). Any other pure result may be folded into its one
/// use, and then nothing holds it at a site in between.
pub fn is_held(func: &Function, v: Value) -> bool {
    match func.dfg.value_def(v) {
        ValueDef::Param(..) => true,
        ValueDef::Result(inst, _) => {
            let op = func.dfg.insts[inst].opcode();
            op.is_call()
                || op.can_load()
                || op.can_store()
                || op.can_trap()
                || crate::sites::constant(func, v).is_some()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::remove_constant;
    use cranelift_codegen::ir::{types, Function, InstBuilder, Value};
    use cranelift_frontend::FunctionBuilder;

    /// `block0(a, b)`, then a loop `block1(p, q)` entered with `(a, a)` whose back edge
    /// passes `(p, b)`: `p` only ever holds `a`, `q` holds `a` or `b`. Returns the
    /// function and `p`.
    fn loop_fn() -> (Function, Value) {
        with_builder(|b| {
            let (b0, b1, b2) = (b.create_block(), b.create_block(), b.create_block());
            b.append_block_params_for_function_params(b0);
            let p = b.append_block_param(b1, types::I32);
            let q = b.append_block_param(b1, types::I32);
            b.switch_to_block(b0);
            let (a, bb) = (b.block_params(b0)[0], b.block_params(b0)[1]);
            b.ins().jump(b1, &[a.into(), a.into()]);
            b.switch_to_block(b1);
            let sum = b.ins().iadd(p, q);
            b.ins().brif(sum, b1, &[p.into(), bb.into()], b2, &[]);
            b.switch_to_block(b2);
            b.ins().return_(&[sum]);
            p
        })
    }

    fn params_of_loop(func: &Function) -> usize {
        let b1 = func.layout.blocks().nth(1).unwrap();
        func.dfg.block_params(b1).len()
    }

    #[test]
    fn a_parameter_with_one_value_becomes_that_value() {
        let (mut func, p) = loop_fn();
        remove_constant(&mut func, &[]);
        assert_eq!(params_of_loop(&func), 1, "{}", func.display());
        let a = func.dfg.block_params(func.layout.entry_block().unwrap())[0];
        assert_eq!(func.dfg.resolve_aliases(p), a);
        verify(&func);
    }

    #[test]
    fn a_kept_parameter_stays() {
        let (mut func, p) = loop_fn();
        remove_constant(&mut func, &[p]);
        assert_eq!(params_of_loop(&func), 2, "{}", func.display());
    }

    /// A function of `(i32, i32) -> i32` built by `build`, which ends every block.
    fn with_builder<T>(build: impl FnOnce(&mut FunctionBuilder) -> T) -> (Function, T) {
        crate::test_ir::function(&[types::I32, types::I32], &[types::I32], build)
    }

    fn verify(func: &Function) {
        cranelift_codegen::verify_function(
            func,
            &cranelift_codegen::settings::Flags::new(cranelift_codegen::settings::builder()),
        )
        .unwrap();
    }

    /// Two point blocks in a row, `block1(p1, r1)` and `block2(p2, r2)`, each variable
    /// passed on unchanged: `p` carries the argument `a` (a parameter), `r` the sum
    /// `a + c` (a pure result, which instruction selection may fold into its use).
    #[test]
    fn a_chain_of_point_parameters_becomes_the_value_it_carries() {
        let (mut func, (a, [p1, r1, p2, r2], [b1, b2])) = with_builder(|b| {
            let (b0, b1, b2) = (b.create_block(), b.create_block(), b.create_block());
            b.append_block_params_for_function_params(b0);
            let p1 = b.append_block_param(b1, types::I32);
            let r1 = b.append_block_param(b1, types::I32);
            let p2 = b.append_block_param(b2, types::I32);
            let r2 = b.append_block_param(b2, types::I32);
            b.switch_to_block(b0);
            let (a, c) = (b.block_params(b0)[0], b.block_params(b0)[1]);
            let sum = b.ins().iadd(a, c);
            b.ins().jump(b1, &[a.into(), sum.into()]);
            b.switch_to_block(b1);
            b.ins().jump(b2, &[p1.into(), r1.into()]);
            b.switch_to_block(b2);
            let s = b.ins().iadd(p2, r2);
            b.ins().return_(&[s]);
            (a, [p1, r1, p2, r2], [b1, b2])
        });
        super::remove_constant_after_optimisation(&mut func, &[], &[p1, r1, p2, r2]);
        // The first link of the sum stays: the point could not name a folded sum.
        assert_eq!(func.dfg.block_params(b1), &[r1], "{}", func.display());
        assert!(func.dfg.block_params(b2).is_empty(), "{}", func.display());
        assert_eq!(func.dfg.resolve_aliases(p1), a);
        assert_eq!(func.dfg.resolve_aliases(p2), a);
        assert_eq!(func.dfg.resolve_aliases(r2), r1);
        // Uses are rewritten: the sum in block2 reads `a` and `r1`.
        let last = func.layout.last_inst(b2).unwrap();
        let add = func.layout.prev_inst(last).unwrap();
        assert_eq!(func.dfg.inst_args(add), &[a, r1], "{}", func.display());
        verify(&func);
    }

    /// A loop `block1(h)` whose header is a point entered with a pure value, so `h`
    /// stays; the body's two arms meet in `block4(m)`, each passing `h`. After
    /// optimisation the merge is `h`, a parameter that stays standing for itself.
    #[test]
    fn a_merge_of_a_kept_parameter_with_itself_is_that_parameter() {
        let (mut func, (h, m, [b1, b4])) = with_builder(|b| {
            let [b0, b1, b2, b3, b4, b5] = [(); 6].map(|_| b.create_block());
            b.append_block_params_for_function_params(b0);
            let h = b.append_block_param(b1, types::I32);
            let m = b.append_block_param(b4, types::I32);
            b.switch_to_block(b0);
            let (a, c) = (b.block_params(b0)[0], b.block_params(b0)[1]);
            let sum = b.ins().iadd(a, c);
            b.ins().jump(b1, &[sum.into()]);
            b.switch_to_block(b1);
            b.ins().brif(a, b2, &[], b3, &[]);
            b.switch_to_block(b2);
            b.ins().jump(b4, &[h.into()]);
            b.switch_to_block(b3);
            b.ins().jump(b4, &[h.into()]);
            b.switch_to_block(b4);
            b.ins().brif(c, b1, &[m.into()], b5, &[]);
            b.switch_to_block(b5);
            b.ins().return_(&[a]);
            (h, m, [b1, b4])
        });
        super::remove_constant_after_optimisation(&mut func, &[], &[h]);
        assert_eq!(func.dfg.block_params(b1), &[h], "{}", func.display());
        assert!(func.dfg.block_params(b4).is_empty(), "{}", func.display());
        assert_eq!(func.dfg.resolve_aliases(m), h);
        verify(&func);
    }
}
