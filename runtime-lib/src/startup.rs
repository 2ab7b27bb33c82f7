//! Process start: the ELF entry point, argv/envp/auxv, and the runtime's own `WASMC_*`
//! controls, which the guest never sees.

use crate::print::{exit, fatal};
use crate::Global;
use alloc::vec::Vec;

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

type Strs = &'static [&'static [u8]];

struct Startup {
    args: Strs,
    guest_env: Strs,
    controls: Strs,
    auxv: *const usize,
}

static STARTUP: Global<Startup> =
    Global::new(Startup { args: &[], guest_env: &[], controls: &[], auxv: core::ptr::null() });

/// The program arguments as given, `argv[0]` included.
pub fn args() -> &'static [&'static [u8]] {
    unsafe { (*STARTUP.get()).args }
}

/// The environment the guest sees: `KEY=VALUE` entries, all `WASMC_*` removed.
pub fn guest_env() -> &'static [&'static [u8]] {
    unsafe { (*STARTUP.get()).guest_env }
}

/// The value of the runtime control `name` (a full variable name, e.g. `b"WASMC_DIRS"`).
pub fn control(name: &[u8]) -> Option<&'static [u8]> {
    let controls = unsafe { (*STARTUP.get()).controls };
    controls.iter().find_map(|e| {
        let rest = e.strip_prefix(name)?;
        rest.strip_prefix(b"=")
    })
}

/// The value of an auxiliary-vector entry (`AT_PAGESZ` = 6, `AT_RANDOM` = 25, ...).
pub fn auxv(key: usize) -> Option<usize> {
    let mut p = unsafe { (*STARTUP.get()).auxv };
    if p.is_null() {
        return None;
    }
    unsafe {
        while *p != 0 {
            if *p == key {
                return Some(*p.add(1));
            }
            p = p.add(2);
        }
    }
    None
}

/// Length of a NUL-terminated string. Volatile reads keep LLVM from turning the loop
/// into a call to `strlen`, which does not exist here.
unsafe fn cstr(p: *const u8) -> &'static [u8] {
    let mut n = 0;
    while core::ptr::read_volatile(p.add(n)) != 0 {
        n += 1;
    }
    core::slice::from_raw_parts(p, n)
}

/// Reads the NULL-terminated pointer vector at `p`; returns the strings and the address
/// after the terminating NULL.
unsafe fn read_vec(mut p: *const *const u8) -> (Vec<&'static [u8]>, *const usize) {
    let mut v = Vec::new();
    while !(*p).is_null() {
        v.push(cstr(*p));
        p = p.add(1);
    }
    (v, p.add(1) as *const usize)
}

unsafe extern "C" fn rust_start(sp: *const usize) -> ! {
    // Layout at entry: argc, argv[0..argc], NULL, envp..., NULL, auxv pairs, AT_NULL.
    let (args, envp) = read_vec(sp.add(1) as *const *const u8);
    let (env, auxv) = read_vec(envp as *const *const u8);
    let (controls, guest): (Vec<_>, Vec<_>) = env.into_iter().partition(|e| e.starts_with(b"WASMC_"));
    *STARTUP.get() = Startup {
        args: args.leak(),
        guest_env: guest.leak(),
        controls: controls.leak(),
        auxv,
    };
    main()
}

fn main() -> ! {
    canonical_nans();
    crate::signal::install();
    if let Err(msg) = crate::wasi::init(control(b"WASMC_DIRS")) {
        fatal(&[msg.as_bytes()]);
    }
    let vmctx = crate::instance::instantiate();
    crate::migrate::init();
    crate::stack::run_on_native_stack(run_module, vmctx as usize);
    exit(0)
}

/// AArch64: FPCR.DN (default-NaN mode) makes every float operation that returns a NaN
/// return the canonical one, as RISC-V always does, so generated code needs no
/// canonicalisation of its own there (`targets::Arch::hardware_canonical_nans`).
/// Operations that only move bits (neg, abs, copysign, loads, stores) are unaffected.
fn canonical_nans() {
    #[cfg(target_arch = "aarch64")]
    unsafe {
        let fpcr: u64;
        core::arch::asm!("mrs {}, fpcr", out(reg) fpcr);
        core::arch::asm!("msr fpcr, {}", in(reg) fpcr | (1 << 25));
    }
}

/// Runs on the native Wasm stack: instantiation (which includes the start function),
/// then `_start`.
extern "C" fn run_module(vmctx: usize) {
    let desc = crate::instance::desc();
    let vmctx = vmctx as *mut abi_spec::VmCtx;
    if crate::harness::enabled() {
        crate::harness::run(vmctx); // spec-test harness: serves commands instead of _start
    }
    unsafe {
        // A restored instance gets memory, globals and tables from its checkpoint.
        if crate::migrate::restoring().is_none() {
            let init: extern "C" fn(*mut abi_spec::VmCtx) = core::mem::transmute(desc.init as usize);
            init(vmctx);
        }
        if desc.entry == 0 {
            fatal(&[b"module has no _start export"]);
        }
        let entry: extern "C" fn(*mut abi_spec::VmCtx) = core::mem::transmute(desc.entry as usize);
        crate::migrate::run_entry(vmctx, entry);
    }
}
