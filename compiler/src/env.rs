//! What the translator knows about the world outside one function: the module, the
//! symbols of other functions, runtime functions and data, and how Wasm types map to
//! Cranelift types. Kept apart from the translation itself (as wasmtime keeps
//! `FuncEnvironment` apart from its translator).

use crate::module_info::ModuleInfo;
use cranelift_codegen::ir::{self, types, AbiParam, ExternalName, Signature, UserExternalName};
use cranelift_codegen::isa::CallConv;
use cranelift_module::{DataId, FuncId};
use wasmparser::{FuncType, ValType};

/// Cranelift-module namespaces of `UserExternalName`s.
pub const NS_FUNC: u32 = 0;
pub const NS_DATA: u32 = 1;

pub use abi_spec::libcall::Libcall;

fn ir_arg(a: abi_spec::libcall::Arg) -> ir::Type {
    match a {
        abi_spec::libcall::Arg::I32 => types::I32,
        abi_spec::libcall::Arg::I64 => types::I64,
    }
}

/// The Cranelift signature of runtime function `l`, from its `abi_spec::libcall` entry.
/// The signature of `wasmc_countdown`: the vmctx, and no register changed.
pub fn countdown_signature() -> Signature {
    let mut sig = Signature::new(CallConv::PreserveAll);
    sig.params.push(AbiParam::new(types::I64));
    sig
}

pub fn libcall_signature(l: Libcall, call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::new(types::I64));
    sig.params
        .extend(l.params().iter().map(|t| AbiParam::new(ir_arg(*t))));
    if let abi_spec::libcall::Ret::Value(t) = l.ret() {
        sig.returns.push(AbiParam::new(ir_arg(t)));
    }
    sig
}

/// Symbol ids of everything generated code may refer to.
pub struct Symbols {
    /// One per Wasm function index (imports first), with [`wasm_signature`]: what a
    /// call or a function value targets (for a host import, its adapter).
    pub funcs: Vec<FuncId>,
    /// Per function index: the host function itself, for host imports.
    pub hosts: Vec<Option<FuncId>>,
    pub libcalls: Vec<(Libcall, FuncId)>,
    /// `wasmc_funcs`: the array of [`abi_spec::FuncRecord`]s; a funcref is an address in it.
    pub func_records: DataId,
    /// Per defined function, the type codes of the values saved at its migration points.
    pub point_types: Vec<Option<DataId>>,
    /// The runtime's `wasmc_countdown`, called by polls' cold paths; declared only
    /// with migration points.
    pub countdown: Option<FuncId>,
}

impl Symbols {
    pub fn libcall(&self, l: Libcall) -> FuncId {
        self.libcalls.iter().find(|(x, _)| *x == l).unwrap().1
    }
}

pub struct ModuleEnv<'a> {
    pub info: &'a ModuleInfo<'a>,
    pub symbols: &'a Symbols,
    pub call_conv: CallConv,
    /// Per function: migration points (all false with `--no-migration-points`) and
    /// memory access (see `bounded`).
    facts: crate::bounded::Facts,
    /// Float arithmetic results are canonicalised before the program can observe their
    /// NaN bits (see `targets::Arch::hardware_canonical_nans`).
    pub canonicalize_nans: bool,
    pub frontend_config: cranelift_codegen::isa::TargetFrontendConfig,
}

impl<'a> ModuleEnv<'a> {
    pub fn new(
        info: &'a ModuleInfo<'a>,
        symbols: &'a Symbols,
        isa: &dyn cranelift_codegen::isa::TargetIsa,
        arch: targets::Arch,
        migration_points: bool,
    ) -> Self {
        ModuleEnv {
            info,
            symbols,
            call_conv: isa.default_call_conv(),
            facts: crate::bounded::analyze(info, migration_points),
            canonicalize_nans: !arch.hardware_canonical_nans(),
            frontend_config: isa.frontend_config(),
        }
    }
}

impl ModuleEnv<'_> {
    /// Whether function `f` has migration points, so that a call of it is a point too.
    pub fn has_points(&self, f: u32) -> bool {
        self.facts.has_points[f as usize]
    }

    /// What function `f`'s entry charges the call-depth counter (0: no counter).
    pub fn depth_charge(&self, f: u32) -> u32 {
        self.facts.depth_charge[f as usize]
    }

    /// Whether function `f` loads or stores linear memory.
    pub fn accesses_memory(&self, f: u32) -> bool {
        self.facts.accesses_memory[f as usize]
    }

    /// Whether function `f`'s body has a loop.
    pub fn has_loops(&self, f: u32) -> bool {
        self.facts.has_loops[f as usize]
    }
}

pub fn ir_type(ty: ValType) -> ir::Type {
    match ty {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        ValType::V128 => types::I8X16,
        ValType::Ref(_) => types::I64,
    }
}

/// Whether `ty` is an exception reference (`exnref`, nullable or not).
pub fn is_exnref(ty: ValType) -> bool {
    matches!(ty, ValType::Ref(r) if matches!(
        r.heap_type(),
        wasmparser::HeapType::Abstract { ty: wasmparser::AbstractHeapType::Exn, .. }
    ))
}

pub fn abi_type(ty: ValType) -> abi_spec::ValType {
    match ty {
        _ if is_exnref(ty) => abi_spec::ValType::ExnRef,
        ValType::I32 => abi_spec::ValType::I32,
        ValType::I64 => abi_spec::ValType::I64,
        ValType::F32 => abi_spec::ValType::F32,
        ValType::F64 => abi_spec::ValType::F64,
        ValType::V128 => abi_spec::ValType::V128,
        ValType::Ref(r) if r.is_func_ref() => abi_spec::ValType::FuncRef,
        ValType::Ref(_) => abi_spec::ValType::ExternRef,
    }
}

/// Native signature of a Wasm function: the vmctx, the call-depth argument, then the
/// Wasm parameters. The depth is how many more frames of recursive functions may be
/// entered (`bounded::depth_charges`); it travels in a register, so a call pays no load
/// or store for it (ARCHITECTURE.md, "Call depth").
pub fn wasm_signature(ft: &FuncType, call_conv: CallConv) -> Signature {
    let mut sig = host_signature(ft, call_conv);
    sig.params.insert(1, AbiParam::new(types::I64));
    sig
}

/// Native signature of a host (runtime) function a module imports: the vmctx, then the
/// Wasm parameters. Generated code calls it directly; as a function value (a table
/// entry, an export) it is reached through an adapter with [`wasm_signature`].
pub fn host_signature(ft: &FuncType, call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::new(types::I64));
    sig.params
        .extend(ft.params().iter().map(|t| AbiParam::new(ir_type(*t))));
    sig.returns
        .extend(ft.results().iter().map(|t| AbiParam::new(ir_type(*t))));
    sig
}

/// Makes `id` callable from `func` (as cranelift-module's `declare_func_in_func` does,
/// without needing the module, so functions can be translated on many threads).
pub fn import_func(func: &mut ir::Function, id: FuncId, sig: Signature) -> ir::FuncRef {
    let name = func.declare_imported_user_function(UserExternalName::new(NS_FUNC, id.as_u32()));
    let signature = func.import_signature(sig);
    func.import_function(ir::ExtFuncData {
        name: ExternalName::user(name),
        signature,
        // Everything is linked into one static executable: direct PC-relative calls.
        colocated: true,
        patchable: false,
    })
}

/// The address of data object `id` (plus `offset`) as a global value of `func`.
pub fn import_data(func: &mut ir::Function, id: DataId, offset: i64) -> ir::GlobalValue {
    let name = func.declare_imported_user_function(UserExternalName::new(NS_DATA, id.as_u32()));
    func.create_global_value(ir::GlobalValueData::Symbol {
        name: ExternalName::user(name),
        offset: ir::immediates::Imm64::new(offset),
        colocated: true,
        tls: false,
    })
}
