//! The native stack Wasm code runs on: `NATIVE_STACK_BYTES` of lazily committed memory
//! above a PROT_NONE guard region, so a native overflow faults in a known place and is
//! reported as `StackExhausted` instead of clobbering whatever lies below.

use crate::heap::{mmap, mprotect, MAP_NORESERVE, PROT_NONE, PROT_RW};
use crate::print::fatal;
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// Size of the inaccessible region below the stack. Generated code must probe frames
/// larger than this (Cranelift inline stack probes) so none can jump over it.
pub const GUARD_BYTES: usize = 64 * 1024;

/// Start of the guard region, 0 before the stack exists. Written once by the main flow
/// before any Wasm code runs; read by the fault handler, hence atomic.
static GUARD_START: AtomicUsize = AtomicUsize::new(0);

/// The guard region below the native stack, as `(start, end)`; (0, 0) before the stack
/// exists. Safe in signal handlers.
pub fn guard_range() -> (usize, usize) {
    let start = GUARD_START.load(SeqCst);
    (start, if start == 0 { 0 } else { start + GUARD_BYTES })
}

extern "C" {
    /// Calls `f(arg)` with the stack pointer set to `sp` (16-byte aligned), then returns
    /// on the original stack.
    fn wasmc_rt_call_on_stack(sp: usize, f: extern "C" fn(usize), arg: usize);
}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl wasmc_rt_call_on_stack",
    ".hidden wasmc_rt_call_on_stack",
    ".type wasmc_rt_call_on_stack,@function",
    "wasmc_rt_call_on_stack:",
    "push rbp",
    "mov rbp, rsp",
    "mov rsp, rdi",
    "mov rdi, rdx",
    "call rsi",
    "mov rsp, rbp",
    "pop rbp",
    "ret",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl wasmc_rt_call_on_stack",
    ".hidden wasmc_rt_call_on_stack",
    ".type wasmc_rt_call_on_stack,%function",
    "wasmc_rt_call_on_stack:",
    "stp x29, x30, [sp, #-16]!",
    "mov x29, sp",
    "mov sp, x0",
    "mov x0, x2",
    "blr x1",
    "mov sp, x29",
    "ldp x29, x30, [sp], #16",
    "ret",
);

#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".globl wasmc_rt_call_on_stack",
    ".hidden wasmc_rt_call_on_stack",
    ".type wasmc_rt_call_on_stack,@function",
    "wasmc_rt_call_on_stack:",
    "addi sp, sp, -16",
    "sd ra, 8(sp)",
    "sd s0, 0(sp)",
    "mv s0, sp",
    "mv sp, a0",
    "mv a0, a2",
    "jalr a1",
    "mv sp, s0",
    "ld ra, 8(sp)",
    "ld s0, 0(sp)",
    "addi sp, sp, 16",
    "ret",
);

/// Maps the native stack and its guard, then runs `f(arg)` on it.
pub fn run_on_native_stack(f: extern "C" fn(usize), arg: usize) {
    let stack = abi_spec::NATIVE_STACK_BYTES as usize;
    let base = mmap(GUARD_BYTES + stack, PROT_RW, MAP_NORESERVE)
        .unwrap_or_else(|| fatal(&[b"cannot map the native stack"]));
    if !mprotect(base, GUARD_BYTES, PROT_NONE) {
        fatal(&[b"cannot protect the native stack guard"]);
    }
    GUARD_START.store(base as usize, SeqCst);
    // SAFETY: the stack top is the end of a fresh read-write mapping, 16-byte aligned
    // (mmap returns pages), with `stack` bytes below it; `f` returns normally or exits.
    unsafe { wasmc_rt_call_on_stack(base as usize + GUARD_BYTES + stack, f, arg) };
}
