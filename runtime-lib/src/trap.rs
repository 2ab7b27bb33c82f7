//! Trap reporting: mapping a pc to a Wasm function and a trap site, the one-line report
//! on stderr, and `wasmc_trap` for traps generated code raises explicitly.
//!
//! Everything here runs in signal handlers too, so it only reads the descriptor and
//! atomics, never allocates and never returns.
//!
//! A layer above may take traps over with [`set_hook`] (the spec-test harness does, to
//! abandon the command that trapped instead of exiting).

use crate::instance::{bytes, desc, slice};
use crate::print::{exit, Line, STDERR};
use abi_spec::{Bytes, FuncRecord, Trap, TrapSite, VmCtx};
use core::sync::atomic::{AtomicPtr, Ordering::SeqCst};

/// Called first by [`report`]; returns to let the trap end the process, or does not
/// return at all. It runs in signal handlers too, so it may touch only atomics.
pub type Hook = fn(Trap);

/// The installed [`Hook`] as a pointer, null for none. Set by the main flow at start-up,
/// read by [`report`] in signal handlers, hence atomic.
static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs `hook`, to be called first by every trap report from now on.
pub fn set_hook(hook: Hook) {
    HOOK.store(hook as *mut (), SeqCst);
}

/// The defined (non-imported) function whose native code contains `pc`.
pub fn func_at(pc: usize) -> Option<u32> {
    let d = desc();
    // SAFETY: the descriptor's `funcs` holds `num_funcs` records (abi-spec §1.2).
    let funcs: &[FuncRecord] = unsafe { slice(d.funcs, d.num_funcs) };
    let pc = pc as u64;
    funcs
        .iter()
        .enumerate()
        .skip(d.num_imported_funcs as usize)
        .find(|(_, f)| holds(f, pc))
        .map(|(i, _)| i as u32)
}

/// Whether function `func`'s native code contains `pc` (never for an import).
pub fn func_contains(func: u32, pc: u64) -> bool {
    let d = desc();
    // SAFETY: as in `func_at`.
    let funcs: &[FuncRecord] = unsafe { slice(d.funcs, d.num_funcs) };
    func >= d.num_imported_funcs && funcs.get(func as usize).is_some_and(|f| holds(f, pc))
}

fn holds(f: &FuncRecord, pc: u64) -> bool {
    f.code <= pc && pc < f.code + f.code_size as u64
}

/// The address of defined function `func`'s code.
pub fn func_code(func: u32) -> Option<u64> {
    let d = desc();
    // SAFETY: as in `func_at`.
    let funcs: &[FuncRecord] = unsafe { slice(d.funcs, d.num_funcs) };
    funcs.get(func as usize).map(|f| f.code)
}

/// The size in bytes of defined function `func`'s code.
pub fn func_code_size(func: u32) -> Option<u32> {
    let d = desc();
    // SAFETY: as in `func_at`.
    let funcs: &[FuncRecord] = unsafe { slice(d.funcs, d.num_funcs) };
    funcs.get(func as usize).map(|f| f.code_size)
}

/// The trap registered for the instruction at `pc` in function `func`, if any.
pub fn trap_at(func: u32, pc: usize) -> Option<Trap> {
    let d = desc();
    // SAFETY: as in `func_at`.
    let funcs: &[FuncRecord] = unsafe { slice(d.funcs, d.num_funcs) };
    let offset = (pc as u64).checked_sub(funcs.get(func as usize)?.code)?;
    // SAFETY: the descriptor's `trap_sites` holds `num_trap_sites` entries.
    let sites: &[TrapSite] = unsafe { slice(d.trap_sites, d.num_trap_sites) };
    let site = sites.iter().find(|s| s.func_index == func && s.offset as u64 == offset)?;
    Trap::from_u8(site.code as u8)
}

/// The name of function `index` for diagnostics (`func<index>` when it has none).
pub fn write_func_name(l: &mut Line, index: u32) {
    let d = desc();
    // SAFETY: a non-null `func_names` holds one entry per function (abi-spec §1.2).
    let names: &[Bytes] = if d.func_names == 0 { &[] } else { unsafe { slice(d.func_names, d.num_funcs) } };
    match names.get(index as usize).map(bytes) {
        Some(n) if !n.is_empty() => {
            l.escaped(n);
        }
        _ => {
            l.s(b"func").dec(index as u64);
        }
    }
}

/// Prints `wasmc: trap: <message>[ in function <name> (#<index>)]` and exits with
/// `TRAP_EXIT_CODE`.
pub fn report(trap: Trap, func: Option<u32>) -> ! {
    let hook = HOOK.load(SeqCst);
    if !hook.is_null() {
        // SAFETY: only `set_hook` stores a non-null value, and it stores a `Hook`.
        let hook = unsafe { core::mem::transmute::<*mut (), Hook>(hook) };
        hook(trap);
    }
    let mut l = Line::new();
    l.s(b"wasmc: trap: ").s(trap.message().as_bytes());
    if let Some(f) = func.filter(|&f| f < desc().num_funcs) {
        l.s(b" in function ");
        write_func_name(&mut l, f);
        l.s(b" (#").dec(f as u64).s(b")");
    }
    l.nl().write(STDERR);
    exit(abi_spec::TRAP_EXIT_CODE)
}

/// Reports a trap raised by the runtime on behalf of generated code whose return address
/// into Wasm code is `ra` (0 when unknown).
pub fn report_at_return_address(trap: Trap, ra: usize) -> ! {
    // ra points after the call instruction; ra - 1 lies inside the calling function.
    report(trap, if ra == 0 { None } else { func_at(ra - 1) })
}

/// Called by generated code for traps it detects itself (e.g. the call-depth counter).
#[no_mangle]
pub extern "C" fn wasmc_trap(_vmctx: *mut VmCtx, code: i32, func_index: i32) -> ! {
    match Trap::from_u8(code as u8).filter(|_| (code as u32) < 256) {
        Some(t) => report(t, if func_index < 0 { None } else { Some(func_index as u32) }),
        None => {
            let mut l = Line::new();
            l.s(b"wasmc: internal error: unknown trap code ").idec(code as i64).nl().write(STDERR);
            exit(abi_spec::RUNTIME_ERROR_EXIT_CODE)
        }
    }
}
