//! Small Cranelift functions for the unit tests of the passes over IR (`phis`,
//! `vreg_order`).

use cranelift_codegen::ir::{AbiParam, Function, Signature, Type, UserFuncName};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

/// A function of `params` to `returns` whose body `build` writes, ending every block;
/// its blocks are then sealed. Returns the function and what `build` returned.
pub fn function<T>(
    params: &[Type],
    returns: &[Type],
    build: impl FnOnce(&mut FunctionBuilder) -> T,
) -> (Function, T) {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
    sig.returns
        .extend(returns.iter().map(|t| AbiParam::new(*t)));
    let mut func = Function::with_name_signature(UserFuncName::user(0, 0), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let t = build(&mut b);
    b.seal_all_blocks();
    b.finalize(TargetFrontendConfig {
        default_call_conv: CallConv::SystemV,
        pointer_width: target_lexicon::PointerWidth::U64,
        page_size_align_log2: 12,
    });
    (func, t)
}
