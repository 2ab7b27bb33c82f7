//! The optimised function as migration needs it: what is live at each point's site,
//! and how the runtime can rebuild every live value that is not one of the point's Wasm
//! values.
//!
//! The runtime rebuilds a frame by writing values into the places it reads them from
//! (no restore code per point). That is sound only if every value live at a site is
//! either one of the point's Wasm values or can be recomputed without them. The
//! translator makes the point's variables explicit parameters of the site's block, and
//! [`optimize`] keeps them (its constant-phi removal, `phis`, leaves them alone), so
//! what else is live there are values the function computed from the vmctx: the vmctx
//! itself, read-only loads from it (the memory base), constants the optimiser hoisted.
//! [`analyze`] finds them with a liveness pass over the optimised code and names each
//! one ([`Source`]); anything else makes the site [`Source::Unknown`], and the runtime
//! never stops a frame there.

use crate::liveout::LiveOut;
use crate::translate::PointSites;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::{
    self, InstBuilder, InstructionData, Opcode, Value, ValueDef, ValueLabel, ValueLabelAssignments,
    ValueLabelStart,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::settings::OptLevel;
use cranelift_codegen::{CodegenResult, Context};
use rustc_hash::FxHashMap as HashMap;

/// How the runtime recomputes a value live at a site that is not a Wasm value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The function's vmctx argument.
    Vmctx,
    /// The function's call-depth argument.
    Depth,
    /// A constant.
    Const(u64),
    /// A read-only 64-bit load from the vmctx at this offset.
    VmLoad64(i32),
    /// A read-only 32-bit load from the vmctx at this offset (zero-extended).
    VmLoad32(i32),
    /// A 64-bit value computable from the vmctx plus a constant (an address the
    /// optimiser hoisted: the memory base plus an offset).
    AddConst(Value, u64),
    /// Anything else: the frame cannot be rebuilt at this site.
    Unknown,
}

/// The most results a call returns in registers on every ISA (two integer and two
/// float registers on x86_64; more on aarch64 and riscv64).
pub const MAX_REGISTER_RESULTS: usize = 2;

/// `Context::optimize` with our own constant-phi removal (`phis`), which leaves the
/// explicit parameters of point blocks alone through the e-graph: Cranelift's would turn
/// them into aliases of their single incoming value (a call block has one predecessor,
/// a loop header often passes a variable through unchanged), and the e-graph would then
/// relate values across the point. After it, those that carry one value the point can
/// name go too (`phis::remove_constant_after_optimisation`). `keep` are other parameters
/// to leave alone (the translator's, [`crate::translate::Translated::keep_params`]).
pub fn optimize(
    ctx: &mut Context,
    isa: &dyn TargetIsa,
    points: &[PointSites],
    keep: &[Value],
) -> CodegenResult<()> {
    ctx.verify_if(isa)?;
    ctx.compute_cfg();
    ctx.compute_domtree();
    ctx.eliminate_unreachable_code(isa)?;
    let mut kept = keep.to_vec();
    for p in points {
        for site in &p.sites {
            kept.extend_from_slice(&site.values);
        }
    }
    crate::phis::remove_constant(&mut ctx.func, &kept);
    ctx.func.dfg.resolve_all_aliases();
    if isa.flags().opt_level() != OptLevel::None {
        ctx.egraph_pass(isa, &mut ControlPlane::default())?;
    }
    if !points.is_empty() {
        // The points' values (`analyze` resolves them through the aliases this makes).
        let values = &kept[keep.len()..];
        crate::phis::remove_constant_after_optimisation(&mut ctx.func, keep, values);
        if split_trapping_site_blocks(&mut ctx.func) {
            ctx.compute_cfg();
            ctx.compute_domtree();
        }
    }
    Ok(())
}

/// Ends each block that holds a site and ends in a `trap` right after its last site,
/// with a jump to a new block that holds the rest. Cranelift takes a block that ends
/// in a `trap` for cold (`Function::is_effectively_cold`), emits it after the hot code
/// and gives its instructions no offsets for value labels, so a site there would have
/// no location for any value: its frame could be neither read nor rebuilt. Such blocks
/// arise where a program traps after a call (`call $f; unreachable`), since a site does
/// not end its block. Returns whether any block was split.
fn split_trapping_site_blocks(func: &mut ir::Function) -> bool {
    let mut splits = vec![];
    for block in func.layout.blocks() {
        let Some(last) = func.layout.last_inst(block) else {
            continue;
        };
        if func.dfg.insts[last].opcode() != Opcode::Trap {
            continue;
        }
        // Only sites carry a source location (`describe::site_srcloc`).
        let mut inst = func.layout.prev_inst(last);
        while let Some(i) = inst {
            if !func.srcloc(i).is_default() {
                splits.push(i);
                break;
            }
            inst = func.layout.prev_inst(i);
        }
    }
    for &site in &splits {
        let rest = func.dfg.make_block();
        let after = func
            .layout
            .next_inst(site)
            .expect("a trap follows the site");
        func.layout.split_block(rest, after);
        let block = func.layout.inst_block(site).expect("in the layout");
        FuncCursor::new(func).at_bottom(block).ins().jump(rest, &[]);
    }
    !splits.is_empty()
}

/// A set of values, dense by value number: membership and removal in constant time,
/// and the members in a vector (in no particular order).
struct ValueSet {
    /// Per value number: its index in `members`, or `u32::MAX`.
    pos: Vec<u32>,
    members: Vec<Value>,
}

impl ValueSet {
    fn new(num_values: usize) -> ValueSet {
        ValueSet {
            pos: vec![u32::MAX; num_values],
            members: vec![],
        }
    }

    fn insert(&mut self, v: Value) {
        if self.pos[v.index()] == u32::MAX {
            self.pos[v.index()] = self.members.len() as u32;
            self.members.push(v);
        }
    }

    fn remove(&mut self, v: Value) {
        let at = std::mem::replace(&mut self.pos[v.index()], u32::MAX);
        if at != u32::MAX {
            self.members.swap_remove(at as usize);
            if let Some(moved) = self.members.get(at as usize) {
                self.pos[moved.index()] = at;
            }
        }
    }

    fn contains(&self, v: Value) -> bool {
        self.pos[v.index()] != u32::MAX
    }

    fn members(&self) -> &[Value] {
        &self.members
    }

    /// Empties the set.
    fn clear(&mut self) {
        for v in self.members.drain(..) {
            self.pos[v.index()] = u32::MAX;
        }
    }

    /// Moves the members into `out` (cleared first), leaving the set empty.
    fn drain_into(&mut self, out: &mut Vec<Value>) {
        out.clear();
        for v in self.members.drain(..) {
            self.pos[v.index()] = u32::MAX;
            out.push(v);
        }
    }
}

/// The bits of `v` if an integer or float constant defines it (an integer narrower
/// than 64 bits zero-extended, as a frame slot holds it).
pub fn constant(func: &ir::Function, v: Value) -> Option<u64> {
    let ValueDef::Result(inst, 0) = func.dfg.value_def(v) else {
        return None;
    };
    match func.dfg.insts[inst] {
        InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm,
        } => {
            let bits = imm.bits() as u64;
            Some(match func.dfg.value_type(v).bits() {
                8 => bits & 0xff,
                16 => bits & 0xffff,
                32 => bits & 0xffff_ffff,
                _ => bits,
            })
        }
        InstructionData::UnaryIeee32 {
            opcode: Opcode::F32const,
            imm,
        } => Some(imm.bits() as u64),
        InstructionData::UnaryIeee64 {
            opcode: Opcode::F64const,
            imm,
        } => Some(imm.bits()),
        _ => None,
    }
}

/// What value `v`, live at a site and not a Wasm value there, is.
fn source(func: &ir::Function, v: Value) -> Source {
    if let Some(c) = constant(func, v) {
        return Source::Const(c);
    }
    let entry = func.layout.entry_block();
    match func.dfg.value_def(v) {
        ValueDef::Param(b, 0) if Some(b) == entry => Source::Vmctx,
        ValueDef::Param(b, 1) if Some(b) == entry => Source::Depth,
        ValueDef::Result(inst, 0) => match func.dfg.insts[inst] {
            InstructionData::Load {
                opcode: Opcode::Load,
                arg,
                flags,
                offset,
            } if func.dfg.mem_flags[flags].readonly() && source(func, arg) == Source::Vmctx => {
                match func.dfg.value_type(v).bits() {
                    64 => Source::VmLoad64(offset.into()),
                    32 => Source::VmLoad32(offset.into()),
                    _ => Source::Unknown,
                }
            }
            InstructionData::Binary {
                opcode: Opcode::Iadd,
                args: [a, b],
            } if func.dfg.value_type(v).bits() == 64 => {
                let computable = |s: &Source| !matches!(s, Source::Unknown | Source::Const(_));
                match (source(func, a), source(func, b)) {
                    (Source::Const(c), sb) if computable(&sb) => Source::AddConst(b, c),
                    (sa, Source::Const(c)) if computable(&sa) => Source::AddConst(a, c),
                    _ => Source::Unknown,
                }
            }
            _ => Source::Unknown,
        },
        _ => Source::Unknown,
    }
}

/// Finds, for every site of `points`, the live values that are not the point's Wasm
/// values (`Site::extras`), and labels every value the describer must locate: the
/// point's values and those. Call on the optimised function, before lowering.
pub fn analyze(ctx: &mut Context, points: &mut [PointSites]) {
    if points.is_empty() {
        return;
    }
    // Sites by their instruction's srcloc (`describe::site_srcloc`): instructions keep
    // their srclocs through optimisation.
    let mut at: HashMap<u32, ir::Inst> =
        HashMap::with_capacity_and_hasher(2 * points.len(), Default::default());
    for block in ctx.func.layout.blocks() {
        for inst in ctx.func.layout.block_insts(block) {
            let loc = ctx.func.srcloc(inst);
            if !loc.is_default() {
                at.entry(loc.bits()).or_insert(inst);
            }
        }
    }
    // Live-out sets are wanted of the sites' blocks alone: their successors' live-ins.
    let mut wanted = vec![];
    for inst in at.values() {
        let block = ctx.func.layout.inst_block(*inst).expect("inserted");
        wanted.extend(ctx.cfg.succ_iter(block));
    }
    let live_out = LiveOut::compute(ctx, &wanted);
    let func = &ctx.func;
    let mut live = ValueSet::new(func.dfg.num_values());
    let mut seen = ValueSet::new(func.dfg.num_values());
    // What is live across each site, by one backward walk over each block that holds
    // sites (a block holds many: sites do not end their blocks). Walking from the end
    // of the block for each site, as before, was quadratic in a block's calls.
    let mut live_at: HashMap<ir::Inst, Vec<Value>> =
        HashMap::with_capacity_and_hasher(at.len(), Default::default());
    let mut site_blocks: Vec<ir::Block> = at
        .values()
        .map(|inst| func.layout.inst_block(*inst).expect("inserted"))
        .collect();
    site_blocks.sort_unstable();
    site_blocks.dedup();
    let is_site = |i: ir::Inst| !func.srcloc(i).is_default();
    for &block in &site_blocks {
        for v in live_out.live_out(ctx, block) {
            live.insert(v);
        }
        let mut cur = func.layout.last_inst(block);
        while let Some(i) = cur {
            for r in func.dfg.inst_results(i) {
                live.remove(*r);
            }
            if is_site(i) {
                let mut here: Vec<Value> = live.members().to_vec();
                if !func.dfg.insts[i].opcode().is_call() {
                    // A poll's own operand (the vmctx or the memory base) is live at it.
                    here.extend(func.dfg.inst_values(i));
                }
                live_at.insert(i, here);
            }
            for v in func.dfg.inst_values(i) {
                live.insert(v);
            }
            cur = func.layout.prev_inst(i);
        }
        live.clear();
    }
    // Reused for every site.
    let (mut work, mut found) = (vec![], vec![]);
    // Results beyond what registers carry go through a return area whose address the
    // caller passes as a hidden argument (`enable_multi_ret_implicit_sret`): neither
    // the caller's call of such a function nor the callee's frames can be rebuilt,
    // since no value of the IR holds that address.
    let in_memory = |returns: usize| returns > MAX_REGISTER_RESULTS;
    let own_results_in_memory = in_memory(func.signature.returns.len());
    for (k, p) in points.iter_mut().enumerate() {
        for (s, site) in p.sites.iter_mut().enumerate() {
            for v in site.values.iter_mut() {
                *v = func.dfg.resolve_aliases(*v);
            }
            let loc = crate::describe::site_srcloc(k, s).bits();
            let Some(&inst) = at.get(&loc) else {
                // Removed with unreachable code: no frame can be there.
                continue;
            };
            site.reachable = true;
            let callee_results_in_memory = func
                .dfg
                .call_signature(inst)
                .is_some_and(|sig| in_memory(func.dfg.signatures[sig].returns.len()));
            // An exception reference is a runtime object a checkpoint cannot hold.
            let holds_exception = p.types.contains(&abi_spec::ValType::ExnRef);
            site.unrebuildable =
                own_results_in_memory || callee_results_in_memory || holds_exception;
            for v in &live_at[&inst] {
                live.insert(*v);
            }
            site.live = site.values.iter().map(|v| live.contains(*v)).collect();
            // Instruction selection may fold a pure instruction into its uses (an address
            // computation into the load), so what holds a register at the site can be
            // any operand of a live value, transitively: take them all.
            live.drain_into(&mut work);
            for v in &site.values {
                seen.insert(*v);
            }
            found.clear();
            while let Some(v) = work.pop() {
                if seen.contains(v) {
                    continue;
                }
                seen.insert(v);
                found.push(v);
                // Only pure computations fold into their uses; a call's or a load's
                // result is held as it is (and a vmctx load's operand is the vmctx).
                if let ValueDef::Result(i, _) = func.dfg.value_def(v) {
                    let op = func.dfg.insts[i].opcode();
                    if !op.is_call() && !op.can_load() && !op.can_store() && !op.can_trap() {
                        work.extend(func.dfg.inst_args(i).iter().copied());
                    }
                }
            }
            seen.clear();
            let mut extras: Vec<(Value, Source)> =
                found.iter().map(|v| (*v, source(func, *v))).collect();
            // Operands before what is computed from them.
            let depth = |s: &Source| match s {
                Source::AddConst(..) => 2,
                Source::VmLoad64(_) | Source::VmLoad32(_) => 1,
                _ => 0,
            };
            extras.sort_by_key(|(v, s)| (depth(s), v.as_u32()));
            site.extras = extras;
        }
    }
    let func = &mut ctx.func;
    func.dfg.collect_debug_info();
    let labels = func.dfg.values_labels.as_mut().expect("just collected");
    // A value live at many sites (the memory base, a variable unchanged across calls)
    // is labelled once.
    let labelled = &mut seen; // empty: cleared after each site
    for site in points.iter().flat_map(|p| p.sites.iter()) {
        for v in site.values.iter().chain(site.extras.iter().map(|(v, _)| v)) {
            if labelled.contains(*v) {
                continue;
            }
            labelled.insert(*v);
            let start = ValueLabelStart {
                from: ir::RelSourceLoc::default(),
                label: ValueLabel::from_u32(v.as_u32()),
            };
            labels.insert(*v, ValueLabelAssignments::Starts(vec![start]));
        }
    }
}
