//! Atomic memory instructions (the threads proposal) on unshared linear memory, the
//! only kind wasmc has: shared memories are refused (`module_info`), and one thread
//! runs the program. So an atomic access is an ordinary access that traps when its
//! address is not a multiple of its width; a read-modify-write is a load, the
//! operation and a store; `atomic.fence` is nothing; `memory.atomic.notify` wakes no one
//! (0); and `memory.atomic.wait32/64` trap, as the proposal has them do on unshared
//! memory. Programs built with atomics for one thread need exactly this: libc++'s
//! `std::atomic`, YoWASP's nextpnr tools (whose memory is not shared).
//!
//! The alignment is checked before the bounds, as wasmtime does, so both report an
//! access that is both misaligned and out of bounds as misaligned. None of this touches
//! migration: the accesses are no points, and memory is memory.

use super::{heap_flags, trap_code, FuncTranslator, OpError};
use abi_spec::Trap;
use cranelift_codegen::ir::{
    condcodes::IntCC,
    types::{I32, I64},
    InstBuilder, Value,
};
use wasmparser::{MemArg, Operator, ValType};

#[derive(Clone, Copy)]
enum Rmw {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Xchg,
}

#[derive(Clone, Copy)]
enum Kind {
    Load,
    Store,
    Rmw(Rmw),
    Cmpxchg,
    Notify,
    Wait,
}

/// An atomic memory instruction: what it does, its value type and its width in bytes.
fn decode<'m>(op: &'m Operator<'_>) -> Option<(Kind, ValType, u8, &'m MemArg)> {
    use Kind::*;
    use Operator as O;
    use ValType::{I32, I64};
    Some(match op {
        O::I32AtomicLoad { memarg } => (Load, I32, 4, memarg),
        O::I64AtomicLoad { memarg } => (Load, I64, 8, memarg),
        O::I32AtomicLoad8U { memarg } => (Load, I32, 1, memarg),
        O::I32AtomicLoad16U { memarg } => (Load, I32, 2, memarg),
        O::I64AtomicLoad8U { memarg } => (Load, I64, 1, memarg),
        O::I64AtomicLoad16U { memarg } => (Load, I64, 2, memarg),
        O::I64AtomicLoad32U { memarg } => (Load, I64, 4, memarg),
        O::I32AtomicStore { memarg } => (Store, I32, 4, memarg),
        O::I64AtomicStore { memarg } => (Store, I64, 8, memarg),
        O::I32AtomicStore8 { memarg } => (Store, I32, 1, memarg),
        O::I32AtomicStore16 { memarg } => (Store, I32, 2, memarg),
        O::I64AtomicStore8 { memarg } => (Store, I64, 1, memarg),
        O::I64AtomicStore16 { memarg } => (Store, I64, 2, memarg),
        O::I64AtomicStore32 { memarg } => (Store, I64, 4, memarg),
        O::I32AtomicRmwCmpxchg { memarg } => (Cmpxchg, I32, 4, memarg),
        O::I64AtomicRmwCmpxchg { memarg } => (Cmpxchg, I64, 8, memarg),
        O::I32AtomicRmw8CmpxchgU { memarg } => (Cmpxchg, I32, 1, memarg),
        O::I32AtomicRmw16CmpxchgU { memarg } => (Cmpxchg, I32, 2, memarg),
        O::I64AtomicRmw8CmpxchgU { memarg } => (Cmpxchg, I64, 1, memarg),
        O::I64AtomicRmw16CmpxchgU { memarg } => (Cmpxchg, I64, 2, memarg),
        O::I64AtomicRmw32CmpxchgU { memarg } => (Cmpxchg, I64, 4, memarg),
        O::MemoryAtomicNotify { memarg } => (Notify, I32, 4, memarg),
        O::MemoryAtomicWait32 { memarg } => (Wait, I32, 4, memarg),
        O::MemoryAtomicWait64 { memarg } => (Wait, I64, 8, memarg),
        _ => {
            let (rmw, ty, bytes, memarg) = decode_rmw(op)?;
            (Rmw(rmw), ty, bytes, memarg)
        }
    })
}

fn decode_rmw<'m>(op: &'m Operator<'_>) -> Option<(Rmw, ValType, u8, &'m MemArg)> {
    use Operator as O;
    use Rmw::*;
    use ValType::{I32, I64};
    Some(match op {
        O::I32AtomicRmwAdd { memarg } => (Add, I32, 4, memarg),
        O::I64AtomicRmwAdd { memarg } => (Add, I64, 8, memarg),
        O::I32AtomicRmw8AddU { memarg } => (Add, I32, 1, memarg),
        O::I32AtomicRmw16AddU { memarg } => (Add, I32, 2, memarg),
        O::I64AtomicRmw8AddU { memarg } => (Add, I64, 1, memarg),
        O::I64AtomicRmw16AddU { memarg } => (Add, I64, 2, memarg),
        O::I64AtomicRmw32AddU { memarg } => (Add, I64, 4, memarg),
        O::I32AtomicRmwSub { memarg } => (Sub, I32, 4, memarg),
        O::I64AtomicRmwSub { memarg } => (Sub, I64, 8, memarg),
        O::I32AtomicRmw8SubU { memarg } => (Sub, I32, 1, memarg),
        O::I32AtomicRmw16SubU { memarg } => (Sub, I32, 2, memarg),
        O::I64AtomicRmw8SubU { memarg } => (Sub, I64, 1, memarg),
        O::I64AtomicRmw16SubU { memarg } => (Sub, I64, 2, memarg),
        O::I64AtomicRmw32SubU { memarg } => (Sub, I64, 4, memarg),
        O::I32AtomicRmwAnd { memarg } => (And, I32, 4, memarg),
        O::I64AtomicRmwAnd { memarg } => (And, I64, 8, memarg),
        O::I32AtomicRmw8AndU { memarg } => (And, I32, 1, memarg),
        O::I32AtomicRmw16AndU { memarg } => (And, I32, 2, memarg),
        O::I64AtomicRmw8AndU { memarg } => (And, I64, 1, memarg),
        O::I64AtomicRmw16AndU { memarg } => (And, I64, 2, memarg),
        O::I64AtomicRmw32AndU { memarg } => (And, I64, 4, memarg),
        O::I32AtomicRmwOr { memarg } => (Or, I32, 4, memarg),
        O::I64AtomicRmwOr { memarg } => (Or, I64, 8, memarg),
        O::I32AtomicRmw8OrU { memarg } => (Or, I32, 1, memarg),
        O::I32AtomicRmw16OrU { memarg } => (Or, I32, 2, memarg),
        O::I64AtomicRmw8OrU { memarg } => (Or, I64, 1, memarg),
        O::I64AtomicRmw16OrU { memarg } => (Or, I64, 2, memarg),
        O::I64AtomicRmw32OrU { memarg } => (Or, I64, 4, memarg),
        O::I32AtomicRmwXor { memarg } => (Xor, I32, 4, memarg),
        O::I64AtomicRmwXor { memarg } => (Xor, I64, 8, memarg),
        O::I32AtomicRmw8XorU { memarg } => (Xor, I32, 1, memarg),
        O::I32AtomicRmw16XorU { memarg } => (Xor, I32, 2, memarg),
        O::I64AtomicRmw8XorU { memarg } => (Xor, I64, 1, memarg),
        O::I64AtomicRmw16XorU { memarg } => (Xor, I64, 2, memarg),
        O::I64AtomicRmw32XorU { memarg } => (Xor, I64, 4, memarg),
        O::I32AtomicRmwXchg { memarg } => (Xchg, I32, 4, memarg),
        O::I64AtomicRmwXchg { memarg } => (Xchg, I64, 8, memarg),
        O::I32AtomicRmw8XchgU { memarg } => (Xchg, I32, 1, memarg),
        O::I32AtomicRmw16XchgU { memarg } => (Xchg, I32, 2, memarg),
        O::I64AtomicRmw8XchgU { memarg } => (Xchg, I64, 1, memarg),
        O::I64AtomicRmw16XchgU { memarg } => (Xchg, I64, 2, memarg),
        O::I64AtomicRmw32XchgU { memarg } => (Xchg, I64, 4, memarg),
        _ => return None,
    })
}

/// Whether `op` reads or writes linear memory as an atomic instruction (`bounded`'s
/// question: a function with one needs the memory base).
pub(crate) fn is_atomic_access(op: &Operator<'_>) -> bool {
    decode(op).is_some()
}

impl FuncTranslator<'_, '_> {
    /// Translates `op` if it is an atomic instruction; `Ok(false)` if it is not one.
    pub(super) fn atomic_operator(&mut self, op: &Operator<'_>) -> Result<bool, OpError> {
        if let Operator::AtomicFence { .. } = op {
            return Ok(true);
        }
        let Some((kind, ty, bytes, memarg)) = decode(op) else {
            return Ok(false);
        };
        // Operands above the address, popped first.
        let above = match kind {
            Kind::Load => 0,
            Kind::Store | Kind::Rmw(_) | Kind::Notify => 1,
            Kind::Cmpxchg | Kind::Wait => 2,
        };
        let mut operands: Vec<Value> = (0..above).map(|_| self.pop()).collect();
        operands.reverse();
        let addr = self.atomic_addr(memarg, bytes);
        let it = crate::env::ir_type(ty);
        match kind {
            Kind::Load => {
                let v = self.load_zero_extended(it, bytes, addr);
                self.push(v, ty);
            }
            Kind::Store => self.store_narrow(bytes, operands[0], addr),
            Kind::Rmw(rmw) => {
                let old = self.load_zero_extended(it, bytes, addr);
                let v = operands[0];
                let ins = self.b.ins();
                let new = match rmw {
                    Rmw::Add => ins.iadd(old, v),
                    Rmw::Sub => ins.isub(old, v),
                    Rmw::And => ins.band(old, v),
                    Rmw::Or => ins.bor(old, v),
                    Rmw::Xor => ins.bxor(old, v),
                    Rmw::Xchg => v,
                };
                // A narrow store keeps the low bits: the operation modulo its width.
                self.store_narrow(bytes, new, addr);
                self.push(old, ty);
            }
            Kind::Cmpxchg => {
                let old = self.load_zero_extended(it, bytes, addr);
                let (expected, replacement) = (operands[0], operands[1]);
                // The expected value is compared as wrapped to the access's width.
                let expected = if u32::from(bytes) * 8 < it.bits() {
                    let mask = (1i64 << (8 * bytes)) - 1;
                    self.b.ins().band_imm_u(expected, mask)
                } else {
                    expected
                };
                let equal = self.b.ins().icmp(IntCC::Equal, old, expected);
                // Writing the old value back when they differ changes nothing (one
                // thread), and keeps the instruction free of branches.
                let new = self.b.ins().select(equal, replacement, old);
                self.store_narrow(bytes, new, addr);
                self.push(old, ty);
            }
            Kind::Notify => {
                // Its address must lie in memory (the load faults in the guard region
                // otherwise); nothing waits on unshared memory, so no one is woken.
                self.b.ins().load(I32, heap_flags(), addr, 0);
                let none = self.i32c(0);
                self.push(none, ValType::I32);
            }
            Kind::Wait => {
                self.b.ins().load(it, heap_flags(), addr, 0);
                let yes = self.i32c(1);
                self.b
                    .ins()
                    .trapnz(yes, trap_code(Trap::WaitOnUnsharedMemory));
                // Never reached; the result keeps the operand stack as Wasm has it.
                let r = self.i32c(0);
                self.push(r, ValType::I32);
            }
        }
        Ok(true)
    }

    /// The native address of an atomic access of `bytes` bytes at the index on the
    /// operand stack: traps "unaligned atomic" unless the effective address (index plus
    /// offset) is a multiple of `bytes`.
    fn atomic_addr(&mut self, memarg: &MemArg, bytes: u8) -> Value {
        let index = self.pop();
        let base = self
            .memory_base
            .expect("validated: memory access needs a memory");
        let index = self.b.ins().uextend(I64, index);
        // Below 2^33: the index is below 2^32, and so is a validated 32-bit offset.
        let ea = self.b.ins().iadd_imm_u(index, memarg.offset as i64);
        if bytes > 1 {
            let low = self.b.ins().band_imm_u(ea, i64::from(bytes) - 1);
            self.b.ins().trapnz(low, trap_code(Trap::UnalignedAtomic));
        }
        self.b.ins().iadd(base, ea)
    }

    fn load_zero_extended(
        &mut self,
        it: cranelift_codegen::ir::Type,
        bytes: u8,
        addr: Value,
    ) -> Value {
        let f = heap_flags();
        let ins = self.b.ins();
        match bytes {
            1 => ins.uload8(it, f, addr, 0),
            2 => ins.uload16(it, f, addr, 0),
            4 if it == I64 => ins.uload32(f, addr, 0),
            _ => ins.load(it, f, addr, 0),
        }
    }

    fn store_narrow(&mut self, bytes: u8, v: Value, addr: Value) {
        let f = heap_flags();
        let wide = self.b.func.dfg.value_type(v) == I64;
        let ins = self.b.ins();
        match bytes {
            1 => ins.istore8(f, v, addr, 0),
            2 => ins.istore16(f, v, addr, 0),
            4 if wide => ins.istore32(f, v, addr, 0),
            _ => ins.store(f, v, addr, 0),
        };
    }
}
