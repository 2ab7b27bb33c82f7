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
//! The register allocator reports what is live at each site (`describe`), and
//! [`source`] names each such value; anything else is [`Source::Unknown`], and the
//! runtime never stops a frame there.

use crate::translate::PointSites;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{self, InstructionData, Opcode, Value, ValueDef};
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
    points: &mut [PointSites],
    keep: &[Value],
    floors: &[ir::Block],
) -> CodegenResult<()> {
    ctx.verify_if(isa)?;
    ctx.compute_cfg();
    ctx.compute_domtree();
    ctx.eliminate_unreachable_code(isa)?;
    let mut kept = keep.to_vec();
    for p in points.iter() {
        for site in &p.sites {
            kept.extend_from_slice(&site.values);
        }
    }
    crate::phis::remove_constant(&mut ctx.func, &kept);
    if !floors.is_empty() {
        // A floor's site (a loop's poll, a call) names values from before its
        // block, which the SSA builder and the pass above may have made aliases:
        // resolve them while they can be followed (`resolve_all_aliases` rewrites the
        // instructions and leaves every alias pointing at nothing).
        for v in kept.iter_mut() {
            *v = ctx.func.dfg.resolve_aliases(*v);
        }
        for site in points.iter_mut().flat_map(|p| p.sites.iter_mut()) {
            for v in site.values.iter_mut() {
                *v = ctx.func.dfg.resolve_aliases(*v);
            }
        }
    }
    ctx.func.dfg.resolve_all_aliases();
    if isa.flags().opt_level() != OptLevel::None {
        // Nothing computed from the values a loop's header or a call block takes
        // as they are is reused after its poll or call (see `Floors`), but what the
        // vmctx and the depth give.
        ctx.floors.blocks.clear();
        ctx.floors.blocks.extend_from_slice(floors);
        ctx.floors.free.clear();
        if let (false, Some(entry)) = (floors.is_empty(), ctx.func.layout.entry_block()) {
            let params = ctx.func.dfg.block_params(entry);
            ctx.floors.free.extend(params.iter().take(2));
        }
        ctx.egraph_pass(isa, &mut ControlPlane::default())?;
    }
    if !points.is_empty() {
        // The points' values (`analyze` resolves them through the aliases this makes).
        let values = &kept[keep.len()..];
        crate::phis::remove_constant_after_optimisation(&mut ctx.func, keep, values);
    }
    Ok(())
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
        } => Some(zero_extended(imm.bits() as u64, func.dfg.value_type(v))),
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

/// `bits` as a frame slot holds a value of type `ty`: an integer narrower than 64 bits
/// zero-extended.
fn zero_extended(bits: u64, ty: ir::Type) -> u64 {
    match ty.bits() {
        8 => bits & 0xff,
        16 => bits & 0xffff,
        32 => bits & 0xffff_ffff,
        _ => bits,
    }
}

/// What value `v`, live at a site and not a Wasm value there, is.
pub fn source(func: &ir::Function, v: Value) -> Source {
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
            } => {
                let ty = func.dfg.value_type(v);
                let computable = |s: &Source| !matches!(s, Source::Unknown | Source::Const(_));
                match (source(func, a), source(func, b)) {
                    // A sum of constants the e-graph did not fold: one of its operands
                    // was a parameter then, which the constant-phi pass after it made a
                    // constant.
                    (Source::Const(x), Source::Const(y)) => {
                        Source::Const(zero_extended(x.wrapping_add(y), ty))
                    }
                    (Source::Const(c), sb) if ty.bits() == 64 && computable(&sb) => {
                        Source::AddConst(b, c)
                    }
                    (sa, Source::Const(c)) if ty.bits() == 64 && computable(&sa) => {
                        Source::AddConst(a, c)
                    }
                    _ => Source::Unknown,
                }
            }
            _ => Source::Unknown,
        },
        _ => Source::Unknown,
    }
}

/// Marks each site of `points` that is still in the optimised code (`Site::reachable`)
/// and each at which no frame can be rebuilt (`Site::unrebuildable`), and resolves the
/// sites' values through the aliases optimisation left. What is live at each site, and
/// where, the register allocator reports (`describe`). Call on the optimised function,
/// before lowering.
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
    let func = &ctx.func;
    // Results beyond what registers carry go through a return area whose address the
    // caller passes as a hidden argument (`enable_multi_ret_implicit_sret`): neither
    // the caller's call of such a function nor the callee's frames can be rebuilt,
    // since no value of the IR holds that address.
    let in_memory = |returns: usize| returns > MAX_REGISTER_RESULTS;
    let own_results_in_memory = in_memory(func.signature.returns.len());
    for (k, p) in points.iter_mut().enumerate() {
        // An exception reference is a runtime object a checkpoint cannot hold.
        let holds_exception = p.types.contains(&abi_spec::ValType::ExnRef);
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
            site.unrebuildable =
                own_results_in_memory || callee_results_in_memory || holds_exception;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{source, Source};
    use cranelift_codegen::ir::{types, InstBuilder};

    /// A sum of two constants is a constant of the sum's width (bzip2 on aarch64 and
    /// riscv64 had one live at a site: the constant-phi pass after the e-graph made its
    /// operand a constant), and a sum of a constant and the vmctx stays an address.
    #[test]
    fn a_sum_of_constants_is_a_constant() {
        let (func, [narrow, wide, addr]) =
            crate::test_ir::function(&[types::I64, types::I64], &[], |b| {
                let b0 = b.create_block();
                b.append_block_params_for_function_params(b0);
                b.switch_to_block(b0);
                let vmctx = b.block_params(b0)[0];
                let (m1, one) = (
                    b.ins().iconst(types::I32, -1),
                    b.ins().iconst(types::I32, 2),
                );
                let narrow = b.ins().iadd(m1, one);
                let (big, k) = (
                    b.ins().iconst(types::I64, -1),
                    b.ins().iconst(types::I64, 3),
                );
                let wide = b.ins().iadd(big, k);
                let addr = b.ins().iadd(vmctx, k);
                b.ins().return_(&[]);
                [narrow, wide, addr]
            });
        assert_eq!(source(&func, narrow), Source::Const(1));
        assert_eq!(source(&func, wide), Source::Const(2));
        assert_eq!(
            source(&func, addr),
            Source::AddConst(
                func.dfg.block_params(func.layout.entry_block().unwrap())[0],
                3
            )
        );
    }
}
