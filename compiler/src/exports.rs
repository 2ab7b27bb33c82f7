//! Host entry points into the module: one trampoline per function type that is
//! exported, so the runtime (the spec-test harness) can call any export with
//! arguments and results passed as 64-bit slots, whatever the ISA's calling convention.

use crate::env::{ir_type, wasm_signature};
use crate::module_info::ModuleInfo;
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData, UserFuncName};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};
use cranelift_object::ObjectModule;
use wasmparser::ExternalKind;

/// Canonical types of exported functions, each with its trampoline's symbol id.
pub fn declare_trampolines(
    module: &mut ObjectModule,
    info: &ModuleInfo<'_>,
) -> anyhow::Result<Vec<(u32, FuncId)>> {
    let mut out: Vec<(u32, FuncId)> = vec![];
    for (_, kind, index) in &info.exports {
        if *kind != ExternalKind::Func {
            continue;
        }
        let ty = info.canonical_type[info.func_types[*index as usize] as usize];
        if out.iter().any(|(t, _)| *t == ty) {
            continue;
        }
        let sig = trampoline_signature(module.isa());
        out.push((
            ty,
            module.declare_function(&format!("wasmc_tramp{ty}"), Linkage::Local, &sig)?,
        ));
    }
    Ok(out)
}

fn trampoline_signature(isa: &dyn TargetIsa) -> ir::Signature {
    let mut sig = ir::Signature::new(isa.default_call_conv());
    for _ in 0..4 {
        sig.params.push(ir::AbiParam::new(types::I64));
    }
    sig
}

/// `trampoline(vmctx, code, args, results)`: loads the params from `args`, calls
/// `code`, stores the results into `results`.
pub fn trampoline(
    info: &ModuleInfo<'_>,
    ty: u32,
    isa: &dyn TargetIsa,
    fctx: &mut FunctionBuilderContext,
) -> ir::Function {
    let ft = &info.types[ty as usize];
    let mut func = ir::Function::with_name_signature(
        UserFuncName::user(crate::env::NS_FUNC, u32::MAX - 1),
        trampoline_signature(isa),
    );
    let mut b = FunctionBuilder::new(&mut func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let (vmctx, code, args, results) = (p[0], p[1], p[2], p[3]);
    let flags = MemFlagsData::trusted();
    let depth = crate::init::entry_depth(&mut b, vmctx);
    let mut argv = vec![vmctx, depth];
    for (i, t) in ft.params().iter().enumerate() {
        argv.push(b.ins().load(ir_type(*t), flags, args, (i * 8) as i32));
    }
    let sig = b.import_signature(wasm_signature(ft, isa.default_call_conv()));
    let call = b.ins().call_indirect(sig, code, &argv);
    let rets = b.inst_results(call).to_vec();
    for (i, v) in rets.into_iter().enumerate() {
        b.ins().store(flags, v, results, (i * 8) as i32);
    }
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b.finalize(isa.frontend_config());
    func
}
