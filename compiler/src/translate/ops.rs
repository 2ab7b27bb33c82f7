//! Locals, globals, numeric, memory, table and reference operators.

use super::{heap_flags, vm_flags, FuncTranslator, OpError, OpResult};
use crate::env::{import_data, ir_type, Libcall};
use cranelift_codegen::ir::{
    condcodes::{FloatCC, IntCC},
    types::{self, F32, F64, I16, I32, I64, I8},
    InstBuilder, MemFlagsData, Value,
};
use wasmparser::{MemArg, Operator, ValType};

impl<'a, 'b> FuncTranslator<'a, 'b> {
    fn bool_to_i32(&mut self, b: Value) -> Value {
        self.b.ins().uextend(I32, b)
    }

    fn icmp(&mut self, cc: IntCC) {
        let (x, y) = self.pop2();
        let c = self.b.ins().icmp(cc, x, y);
        let r = self.bool_to_i32(c);
        self.push(r, ValType::I32);
    }

    fn fcmp(&mut self, cc: FloatCC) {
        let y = self.pop_float_operand();
        let x = self.pop_float_operand();
        let c = self.b.ins().fcmp(cc, x, y);
        let r = self.bool_to_i32(c);
        self.push(r, ValType::I32);
    }

    fn unop(&mut self, f: impl FnOnce(&mut Self, Value) -> Value) {
        let x = self.pop();
        let r = f(self, x);
        self.push_typed(r);
    }

    /// Float arithmetic: NaN-blind operands, a result that may need canonicalising.
    fn float_unop(&mut self, f: impl FnOnce(&mut Self, Value) -> Value) {
        let x = self.pop_float_operand();
        let r = f(self, x);
        self.push_float_result(r);
    }

    fn float_binop(&mut self, f: impl FnOnce(&mut Self, Value, Value) -> Value) {
        let y = self.pop_float_operand();
        let x = self.pop_float_operand();
        let r = f(self, x, y);
        self.push_float_result(r);
    }

    /// Float to integer: a NaN traps or becomes 0 whatever its bits.
    fn float_to_int(&mut self, f: impl FnOnce(&mut Self, Value) -> Value) {
        let x = self.pop_float_operand();
        let r = f(self, x);
        self.push_typed(r);
    }

    fn binop(&mut self, f: impl FnOnce(&mut Self, Value, Value) -> Value) {
        let (x, y) = self.pop2();
        let r = f(self, x, y);
        self.push_typed(r);
    }

    /// Native address of a linear-memory access. The 8 GiB reservation covers any i32
    /// index plus any offset below 4 GiB, so no bounds check is emitted: an access past
    /// the end faults in the guard region and the signal handler reports the trap.
    pub(super) fn heap_addr(&mut self, memarg: &MemArg) -> (Value, i32) {
        let index = self.pop();
        let base = self
            .memory_base
            .expect("validated: memory access needs a memory");
        let index = self.b.ins().uextend(I64, index);
        let mut addr = self.b.ins().iadd(base, index);
        let offset = if memarg.offset <= i32::MAX as u64 {
            memarg.offset as i32
        } else {
            addr = self.b.ins().iadd_imm_s(addr, memarg.offset as i64);
            0
        };
        (addr, offset)
    }

    fn load(&mut self, memarg: &MemArg, ty: ValType, kind: LoadKind) {
        let (addr, off) = self.heap_addr(memarg);
        let it = ir_type(ty);
        let f = heap_flags();
        let v = match kind {
            LoadKind::Full => self.b.ins().load(it, f, addr, off),
            LoadKind::U8 => self.b.ins().uload8(it, f, addr, off),
            LoadKind::S8 => self.b.ins().sload8(it, f, addr, off),
            LoadKind::U16 => self.b.ins().uload16(it, f, addr, off),
            LoadKind::S16 => self.b.ins().sload16(it, f, addr, off),
            LoadKind::U32 => self.b.ins().uload32(f, addr, off),
            LoadKind::S32 => self.b.ins().sload32(f, addr, off),
        };
        self.push(v, ty);
    }

    pub(super) fn store(&mut self, memarg: &MemArg, width: Option<u8>) {
        let v = self.pop();
        let (addr, off) = self.heap_addr(memarg);
        let f = heap_flags();
        match width {
            None => self.b.ins().store(f, v, addr, off),
            Some(8) => self.b.ins().istore8(f, v, addr, off),
            Some(16) => self.b.ins().istore16(f, v, addr, off),
            Some(_) => self.b.ins().istore32(f, v, addr, off),
        };
    }

    fn global_addr(&self, index: u32) -> i32 {
        abi_spec::global_offset(index) as i32
    }

    fn func_ref_value(&mut self, index: u32) -> Value {
        let gv = import_data(
            self.b.func,
            self.env.symbols.func_records,
            index as i64 * abi_spec::FUNC_RECORD_SIZE as i64,
        );
        self.b.ins().symbol_value(I64, gv)
    }

    pub(super) fn i32c(&mut self, v: u32) -> Value {
        self.b.ins().iconst(I32, v as i64)
    }

    pub(super) fn plain_operator(&mut self, op: &Operator<'_>) -> OpResult {
        use Operator as O;
        match op {
            O::Nop => {}
            O::Drop => {
                self.pop();
            }
            O::Select | O::TypedSelect { .. } => {
                let cond = self.pop();
                let ty = self.stack_types[self.stack_types.len() - 1];
                let (y, x) = (self.pop_slot(), self.pop_slot());
                if let (super::Slot::Arith(x), super::Slot::Arith(y)) = (x, y) {
                    // One of two arithmetic results is an arithmetic result.
                    let (x, y) = (self.checked(x), self.checked(y));
                    let r = self.b.ins().select(cond, x, y);
                    self.push_slot(super::Slot::Arith(r), ty);
                } else {
                    let (x, y) = (self.settle(x), self.settle(y));
                    let r = self.b.ins().select(cond, x, y);
                    self.push(r, ty);
                }
            }
            O::LocalGet { local_index } => {
                let (var, ty) = self.locals[*local_index as usize];
                if let Some(raw) = self.raw_local(*local_index) {
                    let v = self.checked(raw);
                    self.push_slot(super::Slot::Arith(v), ty);
                    return Ok(());
                }
                let v = self.b.use_var(var);
                if self.is_arith_local(*local_index) {
                    self.push_slot(super::Slot::Arith(v), ty);
                } else {
                    self.push(v, ty);
                }
            }
            O::LocalSet { local_index } => self.set_local(*local_index, true),
            O::LocalTee { local_index } => self.set_local(*local_index, false),
            O::GlobalGet { global_index } => {
                let ty = self.env.info.globals[*global_index as usize].ty;
                let off = self.global_addr(*global_index);
                let v = self.b.ins().load(ir_type(ty), vm_flags(), self.vmctx, off);
                self.push(v, ty);
            }
            O::GlobalSet { global_index } => {
                let v = self.pop();
                let off = self.global_addr(*global_index);
                self.b.ins().store(vm_flags(), v, self.vmctx, off);
            }

            // ---- memory ----
            O::I32Load { memarg } => self.load(memarg, ValType::I32, LoadKind::Full),
            O::I64Load { memarg } => self.load(memarg, ValType::I64, LoadKind::Full),
            O::F32Load { memarg } => self.load(memarg, ValType::F32, LoadKind::Full),
            O::F64Load { memarg } => self.load(memarg, ValType::F64, LoadKind::Full),
            O::I32Load8S { memarg } => self.load(memarg, ValType::I32, LoadKind::S8),
            O::I32Load8U { memarg } => self.load(memarg, ValType::I32, LoadKind::U8),
            O::I32Load16S { memarg } => self.load(memarg, ValType::I32, LoadKind::S16),
            O::I32Load16U { memarg } => self.load(memarg, ValType::I32, LoadKind::U16),
            O::I64Load8S { memarg } => self.load(memarg, ValType::I64, LoadKind::S8),
            O::I64Load8U { memarg } => self.load(memarg, ValType::I64, LoadKind::U8),
            O::I64Load16S { memarg } => self.load(memarg, ValType::I64, LoadKind::S16),
            O::I64Load16U { memarg } => self.load(memarg, ValType::I64, LoadKind::U16),
            O::I64Load32S { memarg } => self.load(memarg, ValType::I64, LoadKind::S32),
            O::I64Load32U { memarg } => self.load(memarg, ValType::I64, LoadKind::U32),
            O::I32Store { memarg } | O::I64Store { memarg } => self.store(memarg, None),
            O::F32Store { memarg } | O::F64Store { memarg } => self.float_store(memarg),
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(memarg, Some(8)),
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(memarg, Some(16)),
            O::I64Store32 { memarg } => self.store(memarg, Some(32)),
            O::MemorySize { .. } => {
                let size =
                    self.b
                        .ins()
                        .load(I64, vm_flags(), self.vmctx, abi_spec::VMCTX_MEMORY_SIZE);
                let pages = self.b.ins().ushr_imm_u(size, 16);
                let r = self.b.ins().ireduce(I32, pages);
                self.push(r, ValType::I32);
            }
            O::MemoryGrow { .. } => {
                let delta = self.pop();
                let r = self.call_libcall(Libcall::MemoryGrow, &[delta]).unwrap();
                self.push(r, ValType::I32);
            }
            O::MemoryFill { .. } => {
                let (d, v, n) = self.pop3();
                self.call_libcall(Libcall::MemoryFill, &[d, v, n]);
            }
            O::MemoryCopy { .. } => {
                let (d, s, n) = self.pop3();
                self.call_libcall(Libcall::MemoryCopy, &[d, s, n]);
            }
            O::MemoryInit { data_index, .. } => {
                let (d, s, n) = self.pop3();
                let seg = self.i32c(*data_index);
                self.call_libcall(Libcall::MemoryInit, &[seg, d, s, n]);
            }
            O::DataDrop { data_index } => {
                let seg = self.i32c(*data_index);
                self.call_libcall(Libcall::DataDrop, &[seg]);
            }

            // ---- tables and references ----
            O::TableGet { table } => {
                let i = self.pop();
                let addr = self.table_elem_addr(*table, i);
                let v = self.b.ins().load(I64, vm_flags(), addr, 0);
                let ty = ValType::Ref(self.env.info.tables[*table as usize].elem);
                self.push(v, ty);
            }
            O::TableSet { table } => {
                let v = self.pop();
                let i = self.pop();
                let addr = self.table_elem_addr(*table, i);
                self.b.ins().store(vm_flags(), v, addr, 0);
            }
            O::TableSize { table } => {
                let off = abi_spec::table_offset(self.env.info.globals.len() as u32, *table) as i32;
                let len = self
                    .b
                    .ins()
                    .load(I64, vm_flags(), self.vmctx, off + abi_spec::TABLE_LEN);
                let r = self.b.ins().ireduce(I32, len);
                self.push(r, ValType::I32);
            }
            O::TableGrow { table } => {
                let (init, delta) = self.pop2();
                let t = self.i32c(*table);
                let r = self
                    .call_libcall(Libcall::TableGrow, &[t, init, delta])
                    .unwrap();
                self.push(r, ValType::I32);
            }
            O::TableFill { table } => {
                let (d, v, n) = self.pop3();
                let t = self.i32c(*table);
                self.call_libcall(Libcall::TableFill, &[t, d, v, n]);
            }
            O::TableCopy {
                dst_table,
                src_table,
            } => {
                let (d, s, n) = self.pop3();
                let dt = self.i32c(*dst_table);
                let st = self.i32c(*src_table);
                self.call_libcall(Libcall::TableCopy, &[dt, st, d, s, n]);
            }
            O::TableInit { elem_index, table } => {
                let (d, s, n) = self.pop3();
                let t = self.i32c(*table);
                let seg = self.i32c(*elem_index);
                self.call_libcall(Libcall::TableInit, &[t, seg, d, s, n]);
            }
            O::ElemDrop { elem_index } => {
                let seg = self.i32c(*elem_index);
                self.call_libcall(Libcall::ElemDrop, &[seg]);
            }
            O::RefNull { hty } => {
                let z = self.b.ins().iconst(I64, 0);
                let rt =
                    wasmparser::RefType::new(true, *hty).unwrap_or(wasmparser::RefType::FUNCREF);
                self.push(z, ValType::Ref(rt));
            }
            O::RefIsNull => {
                let v = self.pop();
                let c = self.b.ins().icmp_imm_s(IntCC::Equal, v, 0);
                let r = self.bool_to_i32(c);
                self.push(r, ValType::I32);
            }
            O::RefFunc { function_index } => {
                let v = self.func_ref_value(*function_index);
                self.push(v, ValType::Ref(wasmparser::RefType::FUNCREF));
            }

            // ---- constants ----
            O::I32Const { value } => {
                let v = self.b.ins().iconst(I32, *value as i64);
                self.push(v, ValType::I32);
            }
            O::I64Const { value } => {
                let v = self.b.ins().iconst(I64, *value);
                self.push(v, ValType::I64);
            }
            O::F32Const { value } => {
                let v = self.b.ins().f32const(f32::from_bits(value.bits()));
                self.push(v, ValType::F32);
            }
            O::F64Const { value } => {
                let v = self.b.ins().f64const(f64::from_bits(value.bits()));
                self.push(v, ValType::F64);
            }

            // ---- integer comparisons ----
            O::I32Eqz | O::I64Eqz => {
                let x = self.pop();
                let c = self.b.ins().icmp_imm_s(IntCC::Equal, x, 0);
                let r = self.bool_to_i32(c);
                self.push(r, ValType::I32);
            }
            O::I32Eq | O::I64Eq => self.icmp(IntCC::Equal),
            O::I32Ne | O::I64Ne => self.icmp(IntCC::NotEqual),
            O::I32LtS | O::I64LtS => self.icmp(IntCC::SignedLessThan),
            O::I32LtU | O::I64LtU => self.icmp(IntCC::UnsignedLessThan),
            O::I32GtS | O::I64GtS => self.icmp(IntCC::SignedGreaterThan),
            O::I32GtU | O::I64GtU => self.icmp(IntCC::UnsignedGreaterThan),
            O::I32LeS | O::I64LeS => self.icmp(IntCC::SignedLessThanOrEqual),
            O::I32LeU | O::I64LeU => self.icmp(IntCC::UnsignedLessThanOrEqual),
            O::I32GeS | O::I64GeS => self.icmp(IntCC::SignedGreaterThanOrEqual),
            O::I32GeU | O::I64GeU => self.icmp(IntCC::UnsignedGreaterThanOrEqual),

            // ---- float comparisons ----
            O::F32Eq | O::F64Eq => self.fcmp(FloatCC::Equal),
            O::F32Ne | O::F64Ne => self.fcmp(FloatCC::NotEqual),
            O::F32Lt | O::F64Lt => self.fcmp(FloatCC::LessThan),
            O::F32Gt | O::F64Gt => self.fcmp(FloatCC::GreaterThan),
            O::F32Le | O::F64Le => self.fcmp(FloatCC::LessThanOrEqual),
            O::F32Ge | O::F64Ge => self.fcmp(FloatCC::GreaterThanOrEqual),

            // ---- integer arithmetic ----
            O::I32Clz | O::I64Clz => self.unop(|t, x| t.b.ins().clz(x)),
            O::I32Ctz | O::I64Ctz => self.unop(|t, x| t.b.ins().ctz(x)),
            O::I32Popcnt | O::I64Popcnt => self.unop(|t, x| t.b.ins().popcnt(x)),
            O::I32Add | O::I64Add => self.binop(|t, x, y| t.b.ins().iadd(x, y)),
            O::I32Sub | O::I64Sub => self.binop(|t, x, y| t.b.ins().isub(x, y)),
            O::I32Mul | O::I64Mul => self.binop(|t, x, y| t.b.ins().imul(x, y)),
            O::I32DivS | O::I64DivS => self.binop(|t, x, y| t.b.ins().sdiv(x, y)),
            O::I32DivU | O::I64DivU => self.binop(|t, x, y| t.b.ins().udiv(x, y)),
            O::I32RemS | O::I64RemS => self.binop(|t, x, y| t.b.ins().srem(x, y)),
            O::I32RemU | O::I64RemU => self.binop(|t, x, y| t.b.ins().urem(x, y)),
            O::I32And | O::I64And => self.binop(|t, x, y| t.b.ins().band(x, y)),
            O::I32Or | O::I64Or => self.binop(|t, x, y| t.b.ins().bor(x, y)),
            O::I32Xor | O::I64Xor => self.binop(|t, x, y| t.b.ins().bxor(x, y)),
            O::I32Shl | O::I64Shl => self.binop(|t, x, y| t.b.ins().ishl(x, y)),
            O::I32ShrS | O::I64ShrS => self.binop(|t, x, y| t.b.ins().sshr(x, y)),
            O::I32ShrU | O::I64ShrU => self.binop(|t, x, y| t.b.ins().ushr(x, y)),
            O::I32Rotl | O::I64Rotl => self.binop(|t, x, y| t.b.ins().rotl(x, y)),
            O::I32Rotr | O::I64Rotr => self.binop(|t, x, y| t.b.ins().rotr(x, y)),

            // ---- float arithmetic ----
            O::F32Abs | O::F64Abs => self.unop(|t, x| t.b.ins().fabs(x)),
            O::F32Neg | O::F64Neg => self.unop(|t, x| t.b.ins().fneg(x)),
            O::F32Ceil | O::F64Ceil => self.float_unop(|t, x| t.b.ins().ceil(x)),
            O::F32Floor | O::F64Floor => self.float_unop(|t, x| t.b.ins().floor(x)),
            O::F32Trunc | O::F64Trunc => self.float_unop(|t, x| t.b.ins().trunc(x)),
            O::F32Nearest | O::F64Nearest => self.float_unop(|t, x| t.b.ins().nearest(x)),
            O::F32Sqrt | O::F64Sqrt => self.float_unop(|t, x| t.b.ins().sqrt(x)),
            O::F32Add | O::F64Add => self.float_binop(|t, x, y| t.b.ins().fadd(x, y)),
            O::F32Sub | O::F64Sub => self.float_binop(|t, x, y| t.b.ins().fsub(x, y)),
            O::F32Mul | O::F64Mul => self.float_binop(|t, x, y| t.b.ins().fmul(x, y)),
            O::F32Div | O::F64Div => self.float_binop(|t, x, y| t.b.ins().fdiv(x, y)),
            O::F32Min | O::F64Min => self.float_binop(|t, x, y| t.b.ins().fmin(x, y)),
            O::F32Max | O::F64Max => self.float_binop(|t, x, y| t.b.ins().fmax(x, y)),
            O::F32Copysign | O::F64Copysign => self.binop(|t, x, y| t.b.ins().fcopysign(x, y)),

            // ---- conversions ----
            O::I32WrapI64 => self.unop(|t, x| t.b.ins().ireduce(I32, x)),
            O::I64ExtendI32S => self.unop(|t, x| t.b.ins().sextend(I64, x)),
            O::I64ExtendI32U => self.unop(|t, x| t.b.ins().uextend(I64, x)),
            O::I32Extend8S => self.unop(|t, x| sext_from(t, x, I8, I32)),
            O::I32Extend16S => self.unop(|t, x| sext_from(t, x, I16, I32)),
            O::I64Extend8S => self.unop(|t, x| sext_from(t, x, I8, I64)),
            O::I64Extend16S => self.unop(|t, x| sext_from(t, x, I16, I64)),
            O::I64Extend32S => self.unop(|t, x| sext_from(t, x, I32, I64)),
            O::I32TruncF32S | O::I32TruncF64S => {
                self.float_to_int(|t, x| t.b.ins().fcvt_to_sint(I32, x))
            }
            O::I32TruncF32U | O::I32TruncF64U => {
                self.float_to_int(|t, x| t.b.ins().fcvt_to_uint(I32, x))
            }
            O::I64TruncF32S | O::I64TruncF64S => {
                self.float_to_int(|t, x| t.b.ins().fcvt_to_sint(I64, x))
            }
            O::I64TruncF32U | O::I64TruncF64U => {
                self.float_to_int(|t, x| t.b.ins().fcvt_to_uint(I64, x))
            }
            O::I32TruncSatF32S | O::I32TruncSatF64S => {
                self.float_to_int(|t, x| t.b.ins().fcvt_to_sint_sat(I32, x))
            }
            O::I32TruncSatF32U | O::I32TruncSatF64U => {
                self.float_to_int(|t, x| t.b.ins().fcvt_to_uint_sat(I32, x))
            }
            O::I64TruncSatF32S | O::I64TruncSatF64S => {
                self.float_to_int(|t, x| t.b.ins().fcvt_to_sint_sat(I64, x))
            }
            O::I64TruncSatF32U | O::I64TruncSatF64U => {
                self.float_to_int(|t, x| t.b.ins().fcvt_to_uint_sat(I64, x))
            }
            O::F32ConvertI32S | O::F32ConvertI64S => {
                self.unop(|t, x| t.b.ins().fcvt_from_sint(F32, x))
            }
            O::F32ConvertI32U | O::F32ConvertI64U => {
                self.unop(|t, x| t.b.ins().fcvt_from_uint(F32, x))
            }
            O::F64ConvertI32S | O::F64ConvertI64S => {
                self.unop(|t, x| t.b.ins().fcvt_from_sint(F64, x))
            }
            O::F64ConvertI32U | O::F64ConvertI64U => {
                self.unop(|t, x| t.b.ins().fcvt_from_uint(F64, x))
            }
            O::F32DemoteF64 => self.float_unop(|t, x| t.b.ins().fdemote(F32, x)),
            O::F64PromoteF32 => self.float_unop(|t, x| t.b.ins().fpromote(F64, x)),
            O::I32ReinterpretF32 => {
                self.unop(|t, x| t.b.ins().bitcast(I32, MemFlagsData::new(), x))
            }
            O::I64ReinterpretF64 => {
                self.unop(|t, x| t.b.ins().bitcast(I64, MemFlagsData::new(), x))
            }
            O::F32ReinterpretI32 => {
                self.unop(|t, x| t.b.ins().bitcast(F32, MemFlagsData::new(), x))
            }
            O::F64ReinterpretI64 => {
                self.unop(|t, x| t.b.ins().bitcast(F64, MemFlagsData::new(), x))
            }

            other => {
                if !self.atomic_operator(other)? {
                    return Err(OpError::Unsupported(unsupported_name(other)));
                }
            }
        }
        Ok(())
    }
}

fn sext_from(
    t: &mut FuncTranslator<'_, '_>,
    x: Value,
    narrow: types::Type,
    wide: types::Type,
) -> Value {
    let n = t.b.ins().ireduce(narrow, x);
    t.b.ins().sextend(wide, n)
}

#[derive(Clone, Copy)]
enum LoadKind {
    Full,
    U8,
    S8,
    U16,
    S16,
    U32,
    S32,
}

/// A readable name for an operator wasmc does not compile (validation has already
/// rejected everything outside WebAssembly 2.0, so this is SIMD and later proposals).
fn unsupported_name(op: &Operator<'_>) -> String {
    let dbg = format!("{op:?}");
    let name = dbg.split([' ', '{', '(']).next().unwrap_or("?").to_string();
    format!("operator {name}")
}
