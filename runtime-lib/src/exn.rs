//! Exceptions (the WebAssembly exception-handling proposal): the objects `throw` makes,
//! and the unwinder that takes one to its handler (abi-spec `eh`).
//!
//! `wasmc_throw` is entered by a call from Wasm code. It walks the Wasm frames from its
//! caller outwards by their frame pointers, as `frames` does for a checkpoint (the
//! caller's frame pointer at `fp`, the return address at `fp + 8`, on all three ISAs),
//! and at each return address looks the call up in its function's handler table. The
//! first handler whose tag matches (or that catches all) is entered: the stack pointer
//! the call had (`fp - sp_to_fp`), the frame pointer, the exception in the first result
//! register, and a jump. No other register is restored, because none holds a value
//! across a `try_call` (wasmc's Cranelift treats every register as clobbered by one).
//! A return address outside Wasm code means no handler: the program stops with the
//! trap "uncaught exception", named after the function that threw.
//!
//! Exceptions are never freed: an `exnref` may be kept anywhere (locals, the operand
//! stack), and the runtime has no collector. Each costs 8 bytes plus 8 a payload value.
//! Functions are found by code address in an index made at the first throw.

use crate::cell::MainCell;
use crate::instance::{desc, slice};
use abi_spec::{eh, Trap, VmCtx};
use alloc::vec;
use alloc::vec::Vec;

#[no_mangle]
pub extern "C" fn wasmc_exn_new(_vmctx: *mut VmCtx, tag: i32, n: i32) -> i64 {
    let mut words = vec![0u64; 1 + n as u32 as usize];
    words[0] = tag as u32 as u64 | (n as u32 as u64) << 32;
    alloc::boxed::Box::leak(words.into_boxed_slice()).as_mut_ptr() as i64
}

const _: () = {
    use abi_spec::libcall::fn_type as t;
    let _: t::ExnNew = wasmc_exn_new;
};

// `wasmc_throw(vmctx, exn)`: passes `unwind` the exception, the return address into the
// thrower and the thrower's frame pointer.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl wasmc_throw",
    ".type wasmc_throw,@function",
    "wasmc_throw:",
    "mov rdi, rsi",
    "mov rsi, qword ptr [rsp]",
    "mov rdx, rbp",
    // The stack as a call leaves it: 16-byte aligned less the return address.
    "and rsp, -16",
    "call {unwind}",
    "ud2",
    unwind = sym unwind,
);
#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl wasmc_throw",
    ".type wasmc_throw,%function",
    "wasmc_throw:",
    "mov x0, x1",
    "mov x1, x30",
    "mov x2, x29",
    "bl {unwind}",
    "brk #1",
    unwind = sym unwind,
);
#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".globl wasmc_throw",
    ".type wasmc_throw,@function",
    "wasmc_throw:",
    "mv a0, a1",
    "mv a1, ra",
    "mv a2, s0",
    "call {unwind}",
    "unimp",
    unwind = sym unwind,
);

// `land(sp, fp, pc, exn)`: enters a handler.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl wasmc_eh_land",
    ".type wasmc_eh_land,@function",
    "wasmc_eh_land:",
    "mov rsp, rdi",
    "mov rbp, rsi",
    "mov rax, rcx",
    "jmp rdx",
);
#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl wasmc_eh_land",
    ".type wasmc_eh_land,%function",
    "wasmc_eh_land:",
    "mov sp, x0",
    "mov x29, x1",
    "mov x0, x3",
    "br x2",
);
#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".globl wasmc_eh_land",
    ".type wasmc_eh_land,@function",
    "wasmc_eh_land:",
    "mv sp, a0",
    "mv s0, a1",
    "mv a0, a3",
    "jr a2",
);

extern "C" {
    fn wasmc_eh_land(sp: u64, fp: u64, pc: u64, exn: u64) -> !;
}

/// The handler table of defined function `func`, if it has one.
fn table_of(func: u32) -> Option<eh::Table<'static>> {
    let d = desc();
    if d.eh_tables == 0 {
        return None;
    }
    // SAFETY: a non-zero `eh_tables` holds one address per function (abi-spec §1.2).
    let tables: &[u64] = unsafe { slice(d.eh_tables, d.num_funcs) };
    let p = *tables.get(func as usize)?;
    // SAFETY: a non-zero entry is the address of the compiler's table for `func`.
    (p != 0).then(|| unsafe { eh::Table::at(p as *const u8) })?
}

/// Frames an unwind walks at most before it counts as corrupt.
const MAX_FRAMES: usize = 1 << 24;

/// The defined functions by code address, `(start, end, index)`, made at the first
/// throw: an unwind looks a function up per frame, and a scan of the function records
/// (the trap reporter's way, fine once per process) would cost a module of 100 000
/// functions that much per frame of every throw.
static BY_ADDRESS: MainCell<Vec<(u64, u64, u32)>> = MainCell::new(Vec::new());

/// The defined function whose code holds `pc`, and its code address.
fn func_at(pc: u64) -> Option<(u32, u64)> {
    BY_ADDRESS.with(|v| {
        if v.is_empty() {
            let d = desc();
            // SAFETY: the descriptor's `funcs` holds `num_funcs` records (abi-spec §1.2).
            let funcs: &[abi_spec::FuncRecord] = unsafe { slice(d.funcs, d.num_funcs) };
            for (i, f) in funcs.iter().enumerate().skip(d.num_imported_funcs as usize) {
                v.push((f.code, f.code + f.code_size as u64, i as u32));
            }
            v.sort_unstable();
        }
        let at = v.partition_point(|&(start, _, _)| start <= pc);
        let &(start, end, func) = v.get(at.checked_sub(1)?)?;
        (pc < end).then_some((func, start))
    })
}

extern "C" fn unwind(exn: u64, thrower_ra: u64, mut fp: u64) -> ! {
    // SAFETY: `exn` came from `wasmc_exn_new` (generated code passes only those, and
    // `throw_ref` checks for null); its first word is never written after.
    let tag = unsafe { *(exn as *const u64) } as u32;
    let mut ra = thrower_ra;
    for _ in 0..MAX_FRAMES {
        // A return address outside Wasm code: the runtime called this frame's function.
        let Some((func, code)) = func_at(ra.wrapping_sub(1)) else {
            break;
        };
        if let Some((sp_to_fp, mut handlers)) =
            table_of(func).and_then(|t| t.site((ra - code) as u32))
        {
            if let Some((_, off)) = handlers.find(|&(t, _)| t == tag || t == eh::CATCH_ALL) {
                // SAFETY: the frame at `fp` is live and made the call returning to `ra`,
                // whose handler expects the call's stack pointer, this frame pointer
                // and the exception (abi-spec `eh`); the frames below are abandoned.
                unsafe { wasmc_eh_land(fp - sp_to_fp as u64, fp, code + off as u64, exn) };
            }
        }
        // SAFETY: every Wasm function keeps a frame pointer: [fp] and [fp + 8] hold its
        // caller's frame pointer and the return address into it.
        let (caller_fp, caller_ra) = unsafe { (*(fp as *const u64), *((fp + 8) as *const u64)) };
        (fp, ra) = (caller_fp, caller_ra);
    }
    crate::trap::report_at_return_address(Trap::UncaughtException, thrower_ra as usize)
}
