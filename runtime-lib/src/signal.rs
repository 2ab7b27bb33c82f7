//! Signal handling: hardware faults and trap instructions in generated code become Wasm
//! traps; anything else is a runtime bug, reported once, never a core-dump loop.

use crate::print::{exit, Line, STDERR};
use crate::sys::{self, nr};
use abi_spec::Trap;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGSEGV: i32 = 11;
pub const SIGPIPE: i32 = 13;

pub const SA_SIGINFO: u64 = 0x4;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
#[cfg(target_arch = "x86_64")]
const SA_RESTORER: u64 = 0x0400_0000;

const ALTSTACK_BYTES: usize = 64 * 1024;

/// The kernel's `struct sigaction` (not libc's). riscv64 uses the generic layout, which
/// has no `sa_restorer`; x86_64 and aarch64 have one.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    #[cfg(not(target_arch = "riscv64"))]
    restorer: usize,
    mask: u64,
}

/// `SA_SIGINFO` handler: `(signal, siginfo_t*, ucontext_t*)`.
pub type Handler = extern "C" fn(i32, *mut u8, *mut u8);

// x86_64 has no kernel-provided signal return trampoline: a handler that returns needs
// SA_RESTORER pointing at code doing rt_sigreturn. aarch64 uses the vDSO's.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl wasmc_rt_sigreturn",
    ".hidden wasmc_rt_sigreturn",
    "wasmc_rt_sigreturn:",
    "mov eax, 15",
    "syscall",
    "ud2",
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn wasmc_rt_sigreturn();
}

/// Installs `handler` for `sig` with `flags` (SA_SIGINFO is always added; SA_RESTORER
/// where the ISA needs it). Returns false if the kernel refused.
pub fn install_handler(sig: i32, handler: Handler, flags: u64) -> bool {
    #[allow(unused_mut)]
    let mut act = KernelSigaction {
        handler: handler as usize,
        flags: flags | SA_SIGINFO,
        #[cfg(not(target_arch = "riscv64"))]
        restorer: 0,
        mask: 0,
    };
    #[cfg(target_arch = "x86_64")]
    {
        act.flags |= SA_RESTORER;
        act.restorer = wasmc_rt_sigreturn as *const () as usize;
    }
    // SAFETY: `act` is a valid kernel sigaction (8-byte mask) for the call to read; no old
    // action is asked for.
    let r = unsafe { sys::syscall4(nr::RT_SIGACTION, sig as usize, &act as *const _ as usize, 0, 8) };
    r == 0
}

/// Sets `sig` to SIG_IGN.
pub fn ignore(sig: i32) -> bool {
    let act = KernelSigaction {
        handler: 1, // SIG_IGN
        flags: 0,
        #[cfg(not(target_arch = "riscv64"))]
        restorer: 0,
        mask: 0,
    };
    // SAFETY: as in `install_handler`.
    unsafe { sys::syscall4(nr::RT_SIGACTION, sig as usize, &act as *const _ as usize, 0, 8) == 0 }
}

/// Byte offset of the interrupted pc inside the kernel's `ucontext_t`.
#[cfg(target_arch = "x86_64")]
const UC_PC: usize = 40 + 16 * 8; // uc_mcontext.gregs[REG_RIP]
#[cfg(target_arch = "aarch64")]
const UC_PC: usize = 176 + 8 + 31 * 8 + 8; // uc_mcontext (aligned 16) .pc after fault_address, regs[31], sp
#[cfg(target_arch = "riscv64")]
const UC_PC: usize = 176; // uc_mcontext.__gregs[0]
/// Offset of `si_addr` in `siginfo_t` (after signo, errno, code and padding).
const SI_ADDR: usize = 16;

/// The interrupted pc of a signal handler's ucontext.
///
/// # Safety
/// `uc` must be the `ucontext_t` pointer the kernel passed an `SA_SIGINFO` handler.
pub unsafe fn ucontext_pc(uc: *const u8) -> usize {
    // SAFETY: the kernel's ucontext holds the pc at UC_PC on this ISA (caller).
    unsafe { *(uc.add(UC_PC) as *const usize) }
}

/// Whether the fault handler is running: a fault inside it is a runtime bug, reported
/// once instead of looping. Set and read by the handler; cleared by the harness when it
/// leaves the handler by a jump ([`left_handler`]). Atomic, as handler state.
static IN_HANDLER: AtomicBool = AtomicBool::new(false);

/// Tells the fault handler that it was left by a jump rather than by returning (the
/// harness resuming after a trap). Safe in signal handlers.
pub fn left_handler() {
    IN_HANDLER.store(false, SeqCst);
}

/// Sets up the alternate signal stack and the fault handlers. Called first thing at
/// start-up so even runtime bugs during instantiation get a clear message.
pub fn install() {
    let ss = crate::heap::mmap(ALTSTACK_BYTES, crate::heap::PROT_RW, 0)
        .unwrap_or_else(|| crate::print::fatal(&[b"cannot map the signal stack"]));
    // stack_t { ss_sp, ss_flags (int, padded), ss_size } on every 64-bit ISA.
    let st: [usize; 3] = [ss as usize, 0, ALTSTACK_BYTES];
    // SAFETY: `st` is a valid stack_t for the kernel to read; no old one is asked for.
    unsafe { sys::syscall2(nr::SIGALTSTACK, st.as_ptr() as usize, 0) };
    // SA_NODEFER: a fault inside the handler re-enters it (and is caught by IN_HANDLER)
    // instead of being a blocked synchronous signal the kernel turns into a core dump.
    for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP] {
        install_handler(sig, on_fault, SA_ONSTACK | SA_NODEFER);
    }
    // A write to a closed pipe must fail with EPIPE for the guest (as under wasmtime),
    // not kill the process.
    ignore(SIGPIPE);
}

/// What a fault at a migration poll calls (`migrate` installs it): given the
/// ucontext, returns false when the pc is not a poll (then the fault is a trap or a
/// bug, as usual), else handles it and returns true to resume the program with the
/// ucontext as the hook left it.
pub type PollHook = fn(*mut u8) -> bool;

/// The installed [`PollHook`] as an address (0: none). Read by the fault handler, hence
/// atomic.
static POLL_HOOK: AtomicUsize = AtomicUsize::new(0);

pub fn set_poll_hook(hook: PollHook) {
    POLL_HOOK.store(hook as usize, SeqCst);
}

/// What a write fault calls first (pre-copy's dirty tracking installs it): given the
/// faulting address, returns true when it made the write possible (the program then
/// retries it). It must be safe to run at any pc, even inside this handler.
pub type WriteHook = fn(usize) -> bool;

/// The installed [`WriteHook`] as an address (0: none); atomic, as handler state.
static WRITE_HOOK: AtomicUsize = AtomicUsize::new(0);

pub fn set_write_hook(hook: WriteHook) {
    WRITE_HOOK.store(hook as usize, SeqCst);
}

/// Sets the interrupted pc of a signal handler's ucontext, where the program resumes.
///
/// # Safety
/// As [`ucontext_pc`]; the new pc must be an instruction boundary of the same code.
pub unsafe fn set_ucontext_pc(uc: *mut u8, pc: usize) {
    // SAFETY: as in `ucontext_pc` (caller).
    unsafe { *(uc.add(UC_PC) as *mut usize) = pc }
}

extern "C" fn on_fault(sig: i32, info: *mut u8, uc: *mut u8) {
    // SAFETY: the kernel calls this SA_SIGINFO handler with its siginfo_t and ucontext_t,
    // and si_addr is at SI_ADDR in the siginfo of every fault signal.
    let (pc, addr) = unsafe { (ucontext_pc(uc), *(info.add(SI_ADDR) as *const usize)) };
    // Before the re-entry check: a write to a tracked page may come from the runtime
    // itself, inside this handler, and is resumable wherever it happens.
    let write_hook = WRITE_HOOK.load(SeqCst);
    if sig == SIGSEGV && write_hook != 0 {
        // SAFETY: only `set_write_hook` stores here, and it stores a `WriteHook`.
        let hook: WriteHook = unsafe { core::mem::transmute::<usize, WriteHook>(write_hook) };
        if hook(addr) {
            return;
        }
    }
    // A load and a store, not a swap (`cell` says why): only a fault can re-enter this
    // handler, and none can come between the two.
    if IN_HANDLER.load(SeqCst) {
        internal_error(sig, pc);
    }
    IN_HANDLER.store(true, SeqCst);
    if sig == SIGSEGV || sig == SIGBUS {
        let hook = POLL_HOOK.load(SeqCst);
        if hook != 0 {
            // SAFETY: only `set_poll_hook` stores here, and it stores a `PollHook`.
            let hook: PollHook = unsafe { core::mem::transmute::<usize, PollHook>(hook) };
            if hook(uc) {
                IN_HANDLER.store(false, SeqCst);
                return;
            }
        }
    }
    let func = crate::trap::func_at(pc);
    // A fault in the stack guard is stack exhaustion whatever instruction touched it:
    // on riscv64 Cranelift's stack probes are stores that carry the default
    // (heap out-of-bounds) trap code.
    let (g0, g1) = crate::stack::guard_range();
    if (sig == SIGSEGV || sig == SIGBUS) && g0 <= addr && addr < g1 {
        crate::trap::report(Trap::StackExhausted, func);
    }
    if let Some(t) = func.and_then(|f| crate::trap::trap_at(f, pc)) {
        crate::trap::report(t, func);
    }
    if sig == SIGSEGV || sig == SIGBUS {
        let base = crate::instance::memory_start();
        if base != 0 && addr.wrapping_sub(base) < abi_spec::MEMORY_RESERVATION as usize {
            crate::trap::report(Trap::MemoryOutOfBounds, func);
        }
    }
    if sig == SIGILL && func.is_some() {
        // Generated code holds no illegal instruction but its traps: this one is an
        // extension the executable was built for (`--cpu-features`) and this
        // processor lacks.
        crate::print::fatal(&[b"illegal instruction in the compiled module: this processor lacks a CPU feature the executable was built for (wasmc --cpu-features)"]);
    }
    internal_error(sig, pc)
}

fn internal_error(sig: i32, pc: usize) -> ! {
    let mut l = Line::new();
    l.s(b"wasmc: internal error: signal ").dec(sig as u64).s(b" at pc ").hex(pc as u64);
    l.nl().write(STDERR);
    exit(abi_spec::RUNTIME_ERROR_EXIT_CODE)
}
