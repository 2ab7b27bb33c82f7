//! One NaN check for two stores (x86-64 only; see ARCHITECTURE.md, *NaN
//! canonicalisation*).
//!
//! A float arithmetic result stored to memory must be canonical by the time anything
//! can read its bits. Checking each stored value on its own costs a compare and a
//! branch per store, the whole gap to wasmtime in a loop like `c[j] += a * b[j]`
//! unrolled by two. `ucomisd a, b` is unordered if *either* operand is a NaN, so one
//! compare can check two values, but in such a loop the second value is computed
//! after the first store (its loads may read what that store wrote).
//!
//! So a store of an unchecked arithmetic result is emitted at once with the raw value
//! and becomes *pending*; the next one is checked together with it, and if either is a
//! NaN a cold path stores every pending value again, canonicalised, in program order.
//! That is sound as long as nothing between the first store and the check can observe
//! the raw bits or be overwritten by the cold path's stores:
//!
//! * any other store, any load whose value could be seen as bits, a call, a memory or
//!   table operation and the end of the straight-line region (a branch, a block
//!   boundary, a migration point) check the pending stores first ([`keeps_pending`]);
//! * a float load is let through only if its value goes straight into float
//!   arithmetic, a comparison or a float-to-int conversion ([`blind_loads`]), which
//!   cannot tell one NaN from another: if it read a raw NaN, what it computes is a NaN
//!   too, which is canonicalised where it escapes, as every arithmetic result is;
//! * a trap between the store and the check ends the program, whose memory nobody
//!   reads afterwards.

use super::{FuncTranslator, Ops, Slot};
use cranelift_codegen::ir::{self, condcodes::FloatCC, InstBuilder, Value};
use wasmparser::Operator;

/// Stores held pending at most: every two share one compare, and each keeps its value
/// and address live until the check.
const MAX_PENDING: usize = 2;

/// How far [`blind_loads`] follows the stack to find a load's consumer.
const LOOKAHEAD: usize = 16;

/// A store of a raw arithmetic result whose check is still to come.
pub(super) struct Pending {
    value: Value,
    addr: Value,
    offset: i32,
}

/// Arity of operators without module-dependent arity; the others stop the lookahead.
struct NoModule;

impl wasmparser::ModuleArity for NoModule {
    fn sub_type_at(&self, _: u32) -> Option<&wasmparser::SubType> {
        None
    }
    fn tag_type_arity(&self, _: u32) -> Option<(u32, u32)> {
        None
    }
    fn type_index_of_function(&self, _: u32) -> Option<u32> {
        None
    }
    fn func_type_of_cont_type(&self, _: &wasmparser::ContType) -> Option<&wasmparser::FuncType> {
        None
    }
    fn sub_type_of_ref_type(&self, _: &wasmparser::RefType) -> Option<&wasmparser::SubType> {
        None
    }
    fn control_stack_height(&self) -> u32 {
        0
    }
    fn label_block(&self, _: u32) -> Option<(wasmparser::BlockType, wasmparser::FrameKind)> {
        None
    }
}

/// Whether `op` consumes a float operand without being able to tell one NaN from
/// another: float arithmetic, comparisons, conversions to integers, and `drop`.
fn nan_blind(op: &Operator<'_>) -> bool {
    use Operator as O;
    super::arith_locals::is_float_arithmetic(op)
        || matches!(
            op,
            O::Drop
                | O::F32Eq
                | O::F32Ne
                | O::F32Lt
                | O::F32Gt
                | O::F32Le
                | O::F32Ge
                | O::F64Eq
                | O::F64Ne
                | O::F64Lt
                | O::F64Gt
                | O::F64Le
                | O::F64Ge
                | O::I32TruncF32S
                | O::I32TruncF32U
                | O::I32TruncF64S
                | O::I32TruncF64U
                | O::I64TruncF32S
                | O::I64TruncF32U
                | O::I64TruncF64S
                | O::I64TruncF64U
                | O::I32TruncSatF32S
                | O::I32TruncSatF32U
                | O::I32TruncSatF64S
                | O::I32TruncSatF64U
                | O::I64TruncSatF32S
                | O::I64TruncSatF32U
                | O::I64TruncSatF64S
                | O::I64TruncSatF64U
        )
}

/// Per operator: a float load whose value is consumed, within the next few operators
/// of straight-line code, by a NaN-blind operator ([`nan_blind`]). Only such a load
/// may read memory while stores are pending.
pub fn blind_loads(ops: &Ops<'_>) -> Vec<bool> {
    let mut blind = vec![false; ops.len()];
    for (i, (op, _)) in ops.iter().enumerate() {
        if matches!(op, Operator::F32Load { .. } | Operator::F64Load { .. }) {
            blind[i] = consumed_blind(&ops[i + 1..]);
        }
    }
    blind
}

/// Follows the operand stack through `rest` until something pops the value on top of
/// it now; whether that is a NaN-blind operator.
fn consumed_blind(rest: &Ops<'_>) -> bool {
    // Values pushed above ours.
    let mut above = 0u32;
    for (op, _) in rest.iter().take(LOOKAHEAD) {
        let Some((pops, pushes)) = op.operator_arity(&NoModule) else {
            return false;
        };
        if pops > above {
            return nan_blind(op);
        }
        above = above - pops + pushes;
    }
    false
}

impl<'a, 'b> FuncTranslator<'a, 'b> {
    /// The arithmetic result a store on top of the stack would hold pending: one not
    /// checked yet in this region.
    fn pending_candidate(&self) -> Option<Value> {
        match self.stack.last() {
            Some(Slot::Arith(v)) if self.canonical.get(*v).is_none() => Some(*v),
            _ => None,
        }
    }

    /// Whether the pending stores may stay unchecked across `op` (see module docs).
    pub(super) fn keeps_pending(&self, op: &Operator<'_>) -> bool {
        use Operator as O;
        match op {
            O::F32Load { .. } | O::F64Load { .. } => self.blind_loads[self.cur_index],
            O::F32Store { .. } | O::F64Store { .. } => self.pending_candidate().is_some(),
            _ => {
                !super::ends_region(op)
                    && !crate::bounded::is_memory_access(op)
                    && op
                        .operator_arity(&NoModule)
                        .is_some_and(|_| !touches_runtime(op))
            }
        }
    }

    /// A float store (`memarg`): of an unchecked arithmetic result, stored raw and held
    /// pending; of anything else, as it is.
    pub(super) fn float_store(&mut self, memarg: &wasmparser::MemArg) {
        let Some(v) = self.pending_candidate() else {
            return self.store(memarg, None);
        };
        self.pop_slot();
        let p = self.checked_param(v);
        let (addr, offset) = self.heap_addr(memarg);
        self.b.ins().store(super::heap_flags(), p, addr, offset);
        self.pending.push(Pending {
            value: p,
            addr,
            offset,
        });
        if self.pending.len() == MAX_PENDING {
            self.check_pending();
        }
    }

    /// Checks the pending stores: one compare for every two values of a type; if any
    /// is a NaN, a cold path stores them all again, canonicalised, in program order.
    pub(super) fn check_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let cold = self.cold_block();
        let cont = self.b.create_block();
        let mut f32s = vec![];
        let mut f64s = vec![];
        for p in &pending {
            if self.b.func.dfg.value_type(p.value) == ir::types::F32 {
                f32s.push(p.value);
            } else {
                f64s.push(p.value);
            }
        }
        let pairs: Vec<(Value, Value)> = f32s
            .chunks(2)
            .chain(f64s.chunks(2))
            .map(|c| (c[0], *c.last().unwrap()))
            .collect();
        for (k, &(x, y)) in pairs.iter().enumerate() {
            let is_nan = self.b.ins().fcmp(FloatCC::Unordered, x, y);
            if k + 1 == pairs.len() {
                self.b.ins().brif(is_nan, cold, &[], cont, &[]);
            } else {
                let next = self.b.create_block();
                self.b.ins().brif(is_nan, cold, &[], next, &[]);
                self.switch_sealed(next);
            }
        }
        self.switch_sealed(cold);
        for p in &pending {
            let ty = self.b.func.dfg.value_type(p.value);
            let nan = self.canonical_nan_const(ty);
            let is_nan = self.b.ins().fcmp(FloatCC::Unordered, p.value, p.value);
            let c = self.b.ins().select(is_nan, nan, p.value);
            self.b.ins().store(super::heap_flags(), c, p.addr, p.offset);
        }
        self.b.ins().jump(cont, &[]);
        self.switch_sealed(cont);
    }
}

/// Operators with a fixed arity that call into the runtime or touch memory or tables
/// other than through a load or store.
fn touches_runtime(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::MemoryGrow { .. }
            | O::MemoryFill { .. }
            | O::MemoryCopy { .. }
            | O::MemoryInit { .. }
            | O::DataDrop { .. }
            | O::TableGrow { .. }
            | O::TableFill { .. }
            | O::TableCopy { .. }
            | O::TableInit { .. }
            | O::TableGet { .. }
            | O::TableSet { .. }
            | O::ElemDrop { .. }
    )
}
