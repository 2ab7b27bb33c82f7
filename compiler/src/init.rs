//! Generated functions that are not Wasm functions: module instantiation
//! (`wasmc_init`), the trapping stand-ins for unknown imports, and the adapters of host
//! imports.

use crate::env::{import_data, import_func, ir_type, wasm_signature, Libcall, Symbols, NS_FUNC};
use crate::module_info::{ConstValue, ElemKind, ModuleInfo};
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData, UserFuncName, Value};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

struct Gen<'a, 'b> {
    b: FunctionBuilder<'b>,
    symbols: &'a Symbols,
    isa: &'a dyn TargetIsa,
    vmctx: Value,
}

impl<'a, 'b> Gen<'a, 'b> {
    /// A builder positioned in the entry block of `func`, whose first param is vmctx.
    fn start(
        func: &'b mut ir::Function,
        fctx: &'b mut FunctionBuilderContext,
        symbols: &'a Symbols,
        isa: &'a dyn TargetIsa,
    ) -> Gen<'a, 'b> {
        let mut b = FunctionBuilder::new(func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let vmctx = b.block_params(entry)[0];
        Gen {
            b,
            symbols,
            isa,
            vmctx,
        }
    }

    fn libcall(&mut self, l: Libcall, args: &[Value]) {
        let f = import_func(
            self.b.func,
            self.symbols.libcall(l),
            crate::env::libcall_signature(l, self.isa.default_call_conv()),
        );
        let mut all = vec![self.vmctx];
        all.extend_from_slice(args);
        self.b.ins().call(f, &all);
    }

    /// Applies data segment `s` at `off`, `n` bytes, and drops it.
    fn init_data(&mut self, s: Value, off: Value, n: Value) {
        let zero = self.i32c(0);
        self.libcall(Libcall::MemoryInit, &[s, off, zero, n]);
        self.libcall(Libcall::DataDrop, &[s]);
    }

    /// A loop over the entries of an [`active_data_table`] of `len` bytes in data
    /// object `table`, applying each segment in order (a failing one traps, as it would
    /// in line).
    fn init_data_from_table(&mut self, table: cranelift_module::DataId, len: usize) {
        let gv = import_data(self.b.func, table, 0);
        let base = self.b.ins().symbol_value(types::I64, gv);
        let end = self.b.ins().iadd_imm_s(base, len as i64);
        let (head, body, done) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.append_block_param(head, types::I64);
        self.b.ins().jump(head, &[base.into()]);
        self.b.switch_to_block(head);
        let at = self.b.block_params(head)[0];
        let more = self
            .b
            .ins()
            .icmp(ir::condcodes::IntCC::UnsignedLessThan, at, end);
        self.b.ins().brif(more, body, &[], done, &[]);
        self.b.switch_to_block(body);
        let flags = MemFlagsData::trusted().with_readonly();
        let s = self.b.ins().load(types::I32, flags, at, 0);
        let off = self.b.ins().load(types::I32, flags, at, 4);
        let n = self.b.ins().load(types::I32, flags, at, 8);
        self.init_data(s, off, n);
        let next = self.b.ins().iadd_imm_s(at, DATA_ENTRY as i64);
        self.b.ins().jump(head, &[next.into()]);
        self.b.switch_to_block(done);
    }

    fn i32c(&mut self, v: i64) -> Value {
        self.b.ins().iconst(types::I32, v)
    }

    /// Evaluates a constant expression. `ty` is the Cranelift type expected.
    fn const_value(&mut self, c: ConstValue, info: &ModuleInfo<'_>) -> Value {
        match c {
            ConstValue::I32(v) => self.b.ins().iconst(types::I32, v as i64),
            ConstValue::I64(v) => self.b.ins().iconst(types::I64, v),
            ConstValue::F32(bits) => self.b.ins().f32const(f32::from_bits(bits)),
            ConstValue::F64(bits) => self.b.ins().f64const(f64::from_bits(bits)),
            ConstValue::RefNull => self.b.ins().iconst(types::I64, 0),
            ConstValue::RefFunc(f) => {
                let gv = import_data(
                    self.b.func,
                    self.symbols.func_records,
                    f as i64 * abi_spec::FUNC_RECORD_SIZE as i64,
                );
                self.b.ins().symbol_value(types::I64, gv)
            }
            ConstValue::GlobalGet(g) => {
                let ty = ir_type(info.globals[g as usize].ty);
                self.b.ins().load(
                    ty,
                    MemFlagsData::trusted(),
                    self.vmctx,
                    abi_spec::global_offset(g) as i32,
                )
            }
        }
    }
}

/// Bytes of one entry of [`active_data_table`]: segment index, offset, length (u32 each).
const DATA_ENTRY: usize = 12;

/// The active data segments as a table `wasmc_init` walks in a loop (segment index,
/// offset and length, little-endian `u32`s, in module order), when every one has a
/// constant offset, as compilers emit them; `None` when there is none, or one whose
/// offset is a `global.get` (those are applied one call after another). A module can
/// have many segments (100 000 took 2.7 s to compile as a straight line of calls, most
/// of it allocating registers for one function of 200 000 calls); the loop is the same
/// few instructions for any number.
pub fn active_data_table(info: &ModuleInfo<'_>) -> Option<Vec<u8>> {
    let mut table = vec![];
    for (i, seg) in info.data.iter().enumerate() {
        match seg.active {
            None => {}
            Some(ConstValue::I32(offset)) => {
                for word in [i as u32, offset as u32, seg.bytes.len() as u32] {
                    table.extend_from_slice(&word.to_le_bytes());
                }
            }
            Some(_) => return None,
        }
    }
    (!table.is_empty()).then_some(table)
}

/// Builds `wasmc_init(vmctx)`: globals, then active element segments, then active data
/// segments (each dropped once applied, as instantiation does), then the start function.
/// `data_table` is the data object holding [`active_data_table`] and the table's length
/// in bytes, if there is one.
pub fn init_function(
    info: &ModuleInfo<'_>,
    symbols: &Symbols,
    isa: &dyn TargetIsa,
    fctx: &mut FunctionBuilderContext,
    data_table: Option<(cranelift_module::DataId, usize)>,
) -> ir::Function {
    let mut sig = ir::Signature::new(isa.default_call_conv());
    sig.params.push(ir::AbiParam::new(types::I64));
    let mut func = ir::Function::with_name_signature(UserFuncName::user(NS_FUNC, u32::MAX), sig);
    let mut g = Gen::start(&mut func, fctx, symbols, isa);
    let vmctx = g.vmctx;

    for (i, global) in info.globals.iter().enumerate() {
        let v = g.const_value(global.init, info);
        g.b.ins().store(
            MemFlagsData::trusted(),
            v,
            vmctx,
            abi_spec::global_offset(i as u32) as i32,
        );
    }
    for (i, seg) in info.elems.iter().enumerate() {
        match &seg.kind {
            ElemKind::Active { table, offset } => {
                let off = g.const_value(*offset, info);
                let t = g.i32c(*table as i64);
                let s = g.i32c(i as i64);
                let zero = g.i32c(0);
                let n = g.i32c(seg.items.len() as i64);
                g.libcall(Libcall::TableInit, &[t, s, off, zero, n]);
                g.libcall(Libcall::ElemDrop, &[s]);
            }
            ElemKind::Declared => {
                let s = g.i32c(i as i64);
                g.libcall(Libcall::ElemDrop, &[s]);
            }
            ElemKind::Passive => {}
        }
    }
    match data_table {
        Some((table, len)) => g.init_data_from_table(table, len),
        None => {
            for (i, seg) in info.data.iter().enumerate() {
                if let Some(offset) = seg.active {
                    let off = g.const_value(offset, info);
                    let s = g.i32c(i as i64);
                    let n = g.i32c(seg.bytes.len() as i64);
                    g.init_data(s, off, n);
                }
            }
        }
    }
    if let Some(start) = info.start {
        let sig = wasm_signature(info.func_type(start), isa.default_call_conv());
        let f = import_func(g.b.func, symbols.funcs[start as usize], sig);
        let depth = entry_depth(&mut g.b, vmctx);
        g.b.ins().call(f, &[vmctx, depth]);
    }
    g.b.ins().return_(&[]);
    g.b.seal_all_blocks();
    g.b.finalize(isa.frontend_config());
    func
}

/// An empty function under import `index`'s Wasm symbol, with its Wasm signature: what
/// a stub or an adapter of the import is built in.
fn import_function(
    info: &ModuleInfo<'_>,
    index: u32,
    symbols: &Symbols,
    isa: &dyn TargetIsa,
) -> ir::Function {
    ir::Function::with_name_signature(
        UserFuncName::user(NS_FUNC, symbols.funcs[index as usize].as_u32()),
        wasm_signature(info.func_type(index), isa.default_call_conv()),
    )
}

/// A function with the import's signature that stops the program with
/// `Trap::UnknownImport` (`--trap-unknown-imports`).
pub fn unknown_import_stub(
    info: &ModuleInfo<'_>,
    index: u32,
    symbols: &Symbols,
    isa: &dyn TargetIsa,
    fctx: &mut FunctionBuilderContext,
) -> ir::Function {
    let mut func = import_function(info, index, symbols, isa);
    let mut g = Gen::start(&mut func, fctx, symbols, isa);
    let code = g.i32c(abi_spec::Trap::UnknownImport as i64);
    let f = g.i32c(index as i64);
    g.libcall(Libcall::Trap, &[code, f]);
    g.b.ins()
        .trap(crate::translate::trap_code(abi_spec::Trap::Unreachable));
    g.b.seal_all_blocks();
    g.b.finalize(isa.frontend_config());
    func
}

/// The call-depth argument a call from the runtime into Wasm code passes: the runtime
/// keeps it in `VmCtx::depth_left`.
pub fn entry_depth(b: &mut FunctionBuilder<'_>, vmctx: Value) -> Value {
    b.ins().load(
        ir::types::I64,
        crate::translate::vm_flags(),
        vmctx,
        abi_spec::VMCTX_DEPTH_LEFT,
    )
}

/// The function under a host import's Wasm symbol: the import as a function value (a
/// table entry, a `ref.func`, an export) takes the call-depth argument every Wasm
/// function takes (`env::wasm_signature`), which the host function does not; this
/// drops it. Direct calls go to the host function itself.
pub fn host_adapter(
    info: &ModuleInfo<'_>,
    index: u32,
    symbols: &Symbols,
    isa: &dyn TargetIsa,
    fctx: &mut FunctionBuilderContext,
) -> ir::Function {
    let mut func = import_function(info, index, symbols, isa);
    let mut g = Gen::start(&mut func, fctx, symbols, isa);
    let host = symbols.hosts[index as usize].expect("a host import");
    let sig = crate::env::host_signature(info.func_type(index), isa.default_call_conv());
    let f = import_func(g.b.func, host, sig);
    let entry = g.b.current_block().expect("in the entry block");
    let params = g.b.block_params(entry).to_vec();
    let mut args = vec![params[0]];
    args.extend_from_slice(&params[2..]);
    let call = g.b.ins().call(f, &args);
    let results = g.b.inst_results(call).to_vec();
    g.b.ins().return_(&results);
    g.b.seal_all_blocks();
    g.b.finalize(isa.frontend_config());
    func
}
