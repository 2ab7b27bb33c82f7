//! Process start, the top of the runtime: the ELF entry point, the order in which the
//! layers below are set up, and the run of the module on its native stack.

use crate::instance::Vm;
use crate::print::{exit, fatal};
use crate::process::control;
use abi_spec::VmCtx;

// The kernel enters `_start` with sp pointing at argc; the Rust entry gets that address.
// Frame pointer / return address are zeroed so backtraces end here.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym rust_start,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start,%function",
    "_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, sp",
    "and sp, x0, #-16",
    "bl {main}",
    "udf #0",
    main = sym rust_start,
);

// No `gp` set-up: lld only relaxes against `__global_pointer$` when asked to
// (--relax-gp), and the runtime does not ask.
#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "li s0, 0",
    "li ra, 0",
    "mv a0, sp",
    "andi sp, sp, -16",
    "call {main}",
    "unimp",
    main = sym rust_start,
);

/// # Safety
/// Only `_start` calls this, with the stack pointer the kernel entered it with.
unsafe extern "C" fn rust_start(sp: *const usize) -> ! {
    // SAFETY: `sp` is the kernel's initial stack pointer (caller).
    unsafe { crate::process::init(sp) };
    main()
}

fn main() -> ! {
    canonical_nans();
    crate::signal::install();
    if let Err(msg) = crate::wasi::init(control(b"WASMC_DIRS")) {
        fatal(&[msg.as_bytes()]);
    }
    let vm = crate::instance::instantiate();
    crate::migrate::init();
    crate::stack::run_on_native_stack(run_module, vm.as_ptr() as usize);
    exit(0)
}

/// AArch64: FPCR.DN (default-NaN mode) makes every float operation that returns a NaN
/// return the canonical one, as RISC-V always does, so generated code needs no
/// canonicalisation of its own there (`targets::Arch::hardware_canonical_nans`).
/// Operations that only move bits (neg, abs, copysign, loads, stores) are unaffected.
fn canonical_nans() {
    #[cfg(target_arch = "aarch64")]
    {
        let fpcr: u64;
        // SAFETY: reading FPCR has no effect; setting DN only changes which NaN float
        // operations return, and no float code has run yet.
        unsafe {
            core::arch::asm!("mrs {}, fpcr", out(reg) fpcr);
            core::arch::asm!("msr fpcr, {}", in(reg) fpcr | (1 << 25));
        }
    }
}

/// Runs on the native Wasm stack: instantiation (which includes the start function),
/// then `_start`.
extern "C" fn run_module(vmctx: usize) {
    let desc = crate::instance::desc();
    // SAFETY: `main` passes the vmctx `instantiate` returned.
    let vm = unsafe { Vm::from_raw(vmctx as *mut VmCtx) };
    if crate::process::harness_mode() {
        crate::harness::run(vm); // spec-test harness: serves commands instead of _start
    }
    // A restored instance gets memory, globals and tables from its checkpoint.
    if crate::migrate::restoring().is_none() {
        // SAFETY: the descriptor's `init` is the generated `wasmc_init(vmctx)`
        // (abi-spec §1.2).
        let init: extern "C" fn(*mut VmCtx) = unsafe { core::mem::transmute(desc.init as usize) };
        init(vm.as_ptr());
    }
    if desc.entry == 0 {
        fatal(&[b"module has no _start export"]);
    }
    // SAFETY: a non-zero `entry` is the generated `_start` export, a Wasm function of no
    // params: `fn(vmctx, depth)` (abi-spec §1.5).
    let entry: extern "C" fn(*mut VmCtx, u64) = unsafe { core::mem::transmute(desc.entry as usize) };
    crate::migrate::run_entry(vm, entry);
}
