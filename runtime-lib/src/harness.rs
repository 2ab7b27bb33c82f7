//! Spec-test harness mode (`WASMC_HARNESS=1`): instead of calling `_start`, the runtime
//! serves commands from stdin so a test runner can drive one module instance through
//! many invocations, traps included.
//!
//! Protocol (one command per line, one answer line per command, all on stdout):
//! - after instantiation: `=> ready`, or `=> trap <message>` and exit 0 when the start
//!   function / segment initialisation trapped (the instantiation failed);
//! - `invoke <name-hex> <arg-hex64>...` (`-` for the empty name) → `=> ok <type>:<hex64>...`, `=> trap <message>`,
//!   `=> exhausted`, or `=> error <why>` (unknown export, wrong arity);
//! - `get <name-hex>` (global export) → `=> ok <type>:<hex64>`.
//!
//! `<type>` is the `abi_spec::ValType` code. A funcref result is printed as its function
//! index + 1 (0 = null) since record addresses mean nothing to the runner; an externref
//! argument or result is the opaque host value. The `=> ` prefix keeps answers apart from
//! anything the guest itself writes to stdout.
//!
//! Traps unwind: every command runs under [`wasmc_harness_call`], which saves the
//! callee-saved registers and the stack pointer; `trap::report` calls [`on_trap`] (the
//! trap hook [`run`] installs), which restores them (a longjmp). That is safe from the fault handler too: the handlers run
//! with SA_NODEFER and an empty sa_mask, so the signal mask needs no restoring, and the
//! kernel decides "on the alternate stack" from sp alone, so leaving it by a jump is fine.

use crate::instance::{bytes, desc, slice, Vm};
use crate::print::{exit, write_all, Line, STDOUT};
use crate::sys::{self, nr};
use abi_spec::{ExportDesc, FuncRecord, Trap, ValType, VmCtx};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};

extern "C" {
    /// Saves callee-saved registers and sp into `*buf`, calls `f(arg)`, returns 0; or
    /// returns 1 when [`wasmc_harness_unwind`] jumped back.
    fn wasmc_harness_call(f: extern "C" fn(usize), arg: usize, buf: *mut usize) -> usize;
    fn wasmc_harness_unwind(buf: *const usize) -> !;
}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl wasmc_harness_call",
    ".hidden wasmc_harness_call",
    ".type wasmc_harness_call,@function",
    "wasmc_harness_call:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 8", // 16-byte alignment for the call below
    "mov [rdx], rsp",
    "mov rax, rdi",
    "mov rdi, rsi",
    "call rax",
    "xor eax, eax",
    "2:",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".globl wasmc_harness_unwind",
    ".hidden wasmc_harness_unwind",
    ".type wasmc_harness_unwind,@function",
    "wasmc_harness_unwind:",
    "mov rsp, [rdi]",
    "mov eax, 1",
    "jmp 2b",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl wasmc_harness_call",
    ".hidden wasmc_harness_call",
    ".type wasmc_harness_call,%function",
    "wasmc_harness_call:",
    "sub sp, sp, #160",
    "stp x19, x20, [sp, #0]",
    "stp x21, x22, [sp, #16]",
    "stp x23, x24, [sp, #32]",
    "stp x25, x26, [sp, #48]",
    "stp x27, x28, [sp, #64]",
    "stp x29, x30, [sp, #80]",
    "stp d8, d9, [sp, #96]",
    "stp d10, d11, [sp, #112]",
    "stp d12, d13, [sp, #128]",
    "stp d14, d15, [sp, #144]",
    "mov x3, sp",
    "str x3, [x2]",
    "mov x3, x0",
    "mov x0, x1",
    "blr x3",
    "mov x0, #0",
    "2:",
    "ldp x19, x20, [sp, #0]",
    "ldp x21, x22, [sp, #16]",
    "ldp x23, x24, [sp, #32]",
    "ldp x25, x26, [sp, #48]",
    "ldp x27, x28, [sp, #64]",
    "ldp x29, x30, [sp, #80]",
    "ldp d8, d9, [sp, #96]",
    "ldp d10, d11, [sp, #112]",
    "ldp d12, d13, [sp, #128]",
    "ldp d14, d15, [sp, #144]",
    "add sp, sp, #160",
    "ret",
    ".globl wasmc_harness_unwind",
    ".hidden wasmc_harness_unwind",
    ".type wasmc_harness_unwind,%function",
    "wasmc_harness_unwind:",
    "ldr x1, [x0]",
    "mov sp, x1",
    "mov x0, #1",
    "b 2b",
);

#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".globl wasmc_harness_call",
    ".hidden wasmc_harness_call",
    ".type wasmc_harness_call,@function",
    "wasmc_harness_call:",
    "addi sp, sp, -208",
    "sd ra, 0(sp)",
    "sd s0, 8(sp)",
    "sd s1, 16(sp)",
    "sd s2, 24(sp)",
    "sd s3, 32(sp)",
    "sd s4, 40(sp)",
    "sd s5, 48(sp)",
    "sd s6, 56(sp)",
    "sd s7, 64(sp)",
    "sd s8, 72(sp)",
    "sd s9, 80(sp)",
    "sd s10, 88(sp)",
    "sd s11, 96(sp)",
    "fsd fs0, 104(sp)",
    "fsd fs1, 112(sp)",
    "fsd fs2, 120(sp)",
    "fsd fs3, 128(sp)",
    "fsd fs4, 136(sp)",
    "fsd fs5, 144(sp)",
    "fsd fs6, 152(sp)",
    "fsd fs7, 160(sp)",
    "fsd fs8, 168(sp)",
    "fsd fs9, 176(sp)",
    "fsd fs10, 184(sp)",
    "fsd fs11, 192(sp)",
    "sd sp, 0(a2)",
    "mv t0, a0",
    "mv a0, a1",
    "jalr t0",
    "li a0, 0",
    "2:",
    "ld ra, 0(sp)",
    "ld s0, 8(sp)",
    "ld s1, 16(sp)",
    "ld s2, 24(sp)",
    "ld s3, 32(sp)",
    "ld s4, 40(sp)",
    "ld s5, 48(sp)",
    "ld s6, 56(sp)",
    "ld s7, 64(sp)",
    "ld s8, 72(sp)",
    "ld s9, 80(sp)",
    "ld s10, 88(sp)",
    "ld s11, 96(sp)",
    "fld fs0, 104(sp)",
    "fld fs1, 112(sp)",
    "fld fs2, 120(sp)",
    "fld fs3, 128(sp)",
    "fld fs4, 136(sp)",
    "fld fs5, 144(sp)",
    "fld fs6, 152(sp)",
    "fld fs7, 160(sp)",
    "fld fs8, 168(sp)",
    "fld fs9, 176(sp)",
    "fld fs10, 184(sp)",
    "fld fs11, 192(sp)",
    "addi sp, sp, 208",
    "ret",
    ".globl wasmc_harness_unwind",
    ".hidden wasmc_harness_unwind",
    ".type wasmc_harness_unwind,@function",
    "wasmc_harness_unwind:",
    "ld sp, 0(a0)",
    "li a0, 1",
    "j 2b",
);

/// Saved sp of the running command; 0 when no command runs (traps then exit as usual).
/// Written by `wasmc_harness_call` (asm) and the main flow, read by [`on_trap`] in the
/// fault handler, hence atomic.
static JMPBUF: AtomicUsize = AtomicUsize::new(0);
/// The trap that abandoned the last command. Written by [`on_trap`] (in the fault handler
/// too), read by the main flow after the jump, hence atomic.
static LAST_TRAP: AtomicU8 = AtomicU8::new(0);

/// The trap hook: while a command runs, abandon it and resume in the command loop;
/// otherwise return and let the trap end the process. Touches atomics only.
fn on_trap(trap: Trap) {
    if JMPBUF.load(SeqCst) == 0 {
        return;
    }
    LAST_TRAP.store(trap as u8, SeqCst);
    crate::signal::left_handler();
    // SAFETY: JMPBUF holds the sp `wasmc_harness_call` saved, whose frame is still live
    // (it is cleared when that call returns), and every frame above it is abandoned:
    // generated code and the runtime code between keep no state a jump would break (no
    // `MainCell::with` closure runs code that can trap).
    unsafe { wasmc_harness_unwind(JMPBUF.as_ptr()) }
}

/// Runs `f(arg)` so that a trap inside returns `Err(trap)` instead of exiting.
fn guarded(vm: Vm, f: extern "C" fn(usize), arg: usize) -> Result<(), Trap> {
    // SAFETY: JMPBUF is a word `wasmc_harness_call` may write; `f(arg)` is a valid call.
    let r = unsafe { wasmc_harness_call(f, arg, JMPBUF.as_ptr()) };
    JMPBUF.store(0, SeqCst);
    if r == 0 {
        return Ok(());
    }
    // The jump skipped sigreturn. The handlers use SA_NODEFER, so the kernel left the
    // mask alone, but qemu-user (riscv64) keeps the fault signal blocked in its emulated
    // mask, and the next fault would then kill the process: unblock explicitly.
    use crate::signal::{SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
    let set: u64 = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP].iter().fold(0, |m, s| m | 1 << (s - 1));
    const SIG_UNBLOCK: usize = 1;
    // SAFETY: `set` is an 8-byte signal set for the kernel to read; no old mask is asked
    // for.
    unsafe { sys::syscall4(nr::RT_SIGPROCMASK, SIG_UNBLOCK, &set as *const u64 as usize, 0, 8) };
    // Generated code may have been stopped anywhere: restore what it counts on.
    vm.set_depth_left(abi_spec::MAX_CALL_DEPTH);
    vm.set_mig_state(abi_spec::mig_state::IDLE);
    Err(Trap::from_u8(LAST_TRAP.load(SeqCst)).unwrap_or(Trap::Unreachable))
}

/// One pending call, read by [`call_export`] (a plain `usize` argument crosses the asm).
struct Call {
    vmctx: *mut VmCtx,
    trampoline: u64,
    code: u64,
    args: *const u64,
    results: *mut u64,
}

extern "C" fn call_export(p: usize) {
    // SAFETY: `invoke` passes the address of a `Call` that outlives this call.
    let c = unsafe { &*(p as *const Call) };
    // SAFETY: export trampolines have this signature (abi-spec `ExportDesc::trampoline`).
    let t: extern "C" fn(*mut VmCtx, u64, *const u64, *mut u64) = unsafe { core::mem::transmute(c.trampoline as usize) };
    t(c.vmctx, c.code, c.args, c.results);
}

extern "C" fn call_init(vmctx: usize) {
    // SAFETY: the descriptor's `init` is the generated `wasmc_init(vmctx)` (abi-spec §1.2).
    let init: extern "C" fn(*mut VmCtx) = unsafe { core::mem::transmute(desc().init as usize) };
    init(vmctx as *mut VmCtx);
}

fn answer(l: &mut Line) {
    l.nl();
    write_all(STDOUT, l.as_bytes());
}

fn trap_answer(t: Trap) {
    let mut l = Line::new();
    if t == Trap::StackExhausted {
        l.s(b"=> exhausted");
    } else {
        l.s(b"=> trap ").s(t.message().as_bytes());
    }
    answer(&mut l);
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes a hex string into bytes (export names travel as hex: they may hold spaces,
/// newlines or invalid UTF-8 sequences the spec tests like to use).
/// `-` stands for the empty name (an empty word would vanish between the spaces).
fn unhex_bytes(s: &[u8]) -> Option<Vec<u8>> {
    if s == b"-" {
        return Some(Vec::new());
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2).map(|p| Some(hex_digit(p[0])? << 4 | hex_digit(p[1])?)).collect()
}

fn unhex_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| Some(acc << 4 | hex_digit(c)? as u64))
}

fn find_export(name: &[u8], kind: u8) -> Option<&'static ExportDesc> {
    let d = desc();
    // SAFETY: the descriptor's `exports` holds `num_exports` entries.
    let exports: &[ExportDesc] = unsafe { slice(d.exports, d.num_exports) };
    exports.iter().find(|e| e.kind == kind && bytes(&e.name) == name)
}

/// Appends ` <type>:<hex>` for one value; funcrefs become index + 1.
fn push_value(l: &mut Line, ty: u8, v: u64) {
    let v = match ValType::from_u8(ty) {
        Some(ValType::I32) | Some(ValType::F32) => v & 0xffff_ffff,
        Some(ValType::FuncRef) if v != 0 => (v - desc().funcs) / abi_spec::FUNC_RECORD_SIZE as u64 + 1,
        _ => v,
    };
    l.s(b" ").dec(ty as u64).s(b":").hex(v);
}

fn error(why: &[u8]) {
    answer(Line::new().s(b"=> error ").s(why));
}

fn invoke(vm: Vm, words: &[&[u8]]) {
    let Some(e) = words.first().and_then(|w| unhex_bytes(w)).and_then(|n| find_export(&n, abi_spec::export_kind::FUNC)) else {
        return error(b"no such function export");
    };
    let params = bytes(&e.params);
    let results = bytes(&e.results);
    let args: Option<Vec<u64>> = words[1..].iter().map(|w| unhex_u64(w)).collect();
    let Some(args) = args.filter(|a| a.len() == params.len()) else {
        return error(b"bad arguments");
    };
    let mut out: Vec<u64> = alloc::vec![0; results.len().max(1)];
    // SAFETY: the descriptor's `funcs` holds `num_funcs` records.
    let funcs: &[FuncRecord] = unsafe { slice(desc().funcs, desc().num_funcs) };
    let call = Call {
        vmctx: vm.as_ptr(),
        trampoline: e.trampoline,
        code: funcs[e.index as usize].code,
        args: args.as_ptr(),
        results: out.as_mut_ptr(),
    };
    match guarded(vm, call_export, &call as *const Call as usize) {
        Err(t) => trap_answer(t),
        Ok(()) => {
            let mut l = Line::new();
            l.s(b"=> ok");
            for (i, &ty) in results.iter().enumerate() {
                push_value(&mut l, ty, out[i]);
            }
            answer(&mut l);
        }
    }
}

fn get(vm: Vm, words: &[&[u8]]) {
    let Some(e) = words.first().and_then(|w| unhex_bytes(w)).and_then(|n| find_export(&n, abi_spec::export_kind::GLOBAL)) else {
        return error(b"no such global export");
    };
    let d = desc();
    // SAFETY: the descriptor's `global_types` holds `num_globals` bytes.
    let types: &[u8] = unsafe { slice(d.global_types, d.num_globals) };
    let ty = types[e.index as usize];
    let mut l = Line::new();
    l.s(b"=> ok");
    push_value(&mut l, ty, vm.global(e.index));
    answer(&mut l);
}

/// Reads stdin up to the next newline; `None` at end of input.
fn read_line(buf: &mut Vec<u8>, pending: &mut Vec<u8>) -> Option<()> {
    buf.clear();
    loop {
        if let Some(i) = pending.iter().position(|&c| c == b'\n') {
            buf.extend_from_slice(&pending[..i]);
            pending.drain(..=i);
            return Some(());
        }
        let mut chunk = [0u8; 4096];
        // SAFETY: the kernel writes at most `chunk.len()` bytes into `chunk`.
        let n = unsafe { sys::syscall3(nr::READ, 0, chunk.as_mut_ptr() as usize, chunk.len()) };
        if n == crate::print::EINTR {
            continue;
        }
        if n <= 0 {
            if pending.is_empty() {
                return None;
            }
            buf.append(pending);
            return Some(());
        }
        pending.extend_from_slice(&chunk[..n as usize]);
    }
}

/// Instantiates (init function under the trap guard), then serves commands until EOF.
/// Runs on the native Wasm stack, in place of `_start`.
pub fn run(vm: Vm) -> ! {
    crate::trap::set_hook(on_trap);
    if let Err(t) = guarded(vm, call_init, vm.as_ptr() as usize) {
        trap_answer(t);
        exit(0);
    }
    answer(Line::new().s(b"=> ready"));
    let (mut line, mut pending) = (Vec::new(), Vec::new());
    while read_line(&mut line, &mut pending).is_some() {
        let words: Vec<&[u8]> = line.split(|&c| c == b' ').filter(|w| !w.is_empty()).collect();
        match words.first().copied() {
            Some(b"invoke") => invoke(vm, &words[1..]),
            Some(b"get") => get(vm, &words[1..]),
            None => {}
            Some(_) => error(b"unknown command"),
        }
    }
    exit(0)
}
