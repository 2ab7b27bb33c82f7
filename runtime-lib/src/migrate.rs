//! Migration: the hooks generated migration points call (`abi_spec::sym::MIG_*`), the
//! triggers, and the run loop that turns an unwound stack into a checkpoint and a
//! checkpoint back into a running stack.
//!
//! Protocol (see abi-spec/SPEC.md): a trigger sets `mig_state`; the next point polls,
//! gets `Unwind`, saves its frame and returns; every caller sees `UNWINDING` after its
//! call, saves its frame and returns, until the entry function returns here. Restore
//! sets `RESTORING` and calls the entry function again: each function's entry poll
//! gets `Restore`, takes its frame record and jumps to its point; a call-site point
//! calls its callee again, which restores the next frame, until the innermost frame is
//! rebuilt and the program runs on with no migration state left.

use crate::cell::MainCell;
use crate::checkpoint::{self, RestoreFrame, SavedFrame};
use crate::instance::Vm;
use crate::print::fatal;
use crate::process::control;
use abi_spec::{mig_state, ValType, VmCtx};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// Exit status of a process that wrote a checkpoint and stopped.
pub use abi_spec::CHECKPOINT_EXIT_CODE;

/// The main flow's migration state: the run loop and the hooks generated code calls.
struct Mig {
    /// Frames saved while unwinding, innermost first.
    saved: Vec<SavedFrame>,
    /// Frames to rebuild, outermost first.
    restore: Vec<RestoreFrame>,
    cursor: usize,
    /// `WASMC_CHECKPOINT_AFTER=N`: checkpoint once N polls have been passed (generated
    /// code counts down `VmCtx::countdown`).
    countdown: Option<u64>,
    /// `mig_state` to go back to when idle (`IDLE`, or `COUNTING` for a countdown).
    idle_state: u32,
}

/// Main flow only; the SIGUSR1 handler never touches it (it has [`PENDING`] and
/// [`RUNNING`]).
static MIG: MainCell<Mig> =
    MainCell::new(Mig { saved: Vec::new(), restore: Vec::new(), cursor: 0, countdown: None, idle_state: mig_state::IDLE });

/// A SIGUSR1 arrived before the program ran, or while unwinding or restoring; honoured
/// right after. Set by the handler, taken by the main flow, hence atomic.
static PENDING: AtomicBool = AtomicBool::new(false);

/// Whether the entry function has started, so that a request can go to `mig_state`.
/// Set by the main flow, read by the handler, hence atomic.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Takes a pending request. A load and a store, not a swap (`cell` says why): a request
/// that arrives between the two joins the one being taken.
fn take_pending() -> bool {
    let pending = PENDING.load(SeqCst);
    if pending {
        PENDING.store(false, SeqCst);
    }
    pending
}

const SIGUSR1: i32 = 10;

/// SIGUSR1: checkpoint at the next migration point. Only writes the state the
/// generated code polls, with its mirror (or a flag, before the program runs or while a
/// checkpoint or restore is under way). Touches atomics only.
extern "C" fn on_sigusr1(_sig: i32, _info: *mut u8, _uc: *mut u8) {
    let Some(vm) = Vm::get().filter(|_| RUNNING.load(SeqCst)) else {
        PENDING.store(true, SeqCst);
        return;
    };
    match vm.mig_state() {
        mig_state::IDLE | mig_state::COUNTING => vm.set_mig_state(mig_state::REQUESTED),
        _ => PENDING.store(true, SeqCst),
    }
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u64))
}

/// Reads and checks the migration controls; called once at start-up, before any Wasm
/// code runs. A bad value stops the process with one line (exit 125) now rather than
/// losing a checkpoint later.
pub fn init() {
    if let Some(n) = control(b"WASMC_CHECKPOINT_AFTER") {
        match parse_u64(n) {
            Some(n) if n > 0 => MIG.with(|m| {
                m.countdown = Some(n);
                m.idle_state = mig_state::COUNTING;
            }),
            _ => fatal(&[b"WASMC_CHECKPOINT_AFTER must be a positive number of migration points"]),
        }
    }
    if let Some(v) = control(b"WASMC_CHECKPOINT_CONTINUE") {
        if v != b"0" && v != b"1" {
            fatal(&[b"WASMC_CHECKPOINT_CONTINUE must be 0 or 1"]);
        }
    }
    if control(b"WASMC_RESTORE").is_some_and(|p| p.is_empty()) {
        fatal(&[b"WASMC_RESTORE must name a checkpoint file"]);
    }
    let destination = control(b"WASMC_CHECKPOINT");
    if destination.is_some_and(|p| p.is_empty()) {
        fatal(&[b"WASMC_CHECKPOINT must name a file"]);
    }
    // A destination someone chose, or a checkpoint that is certain to be taken, is
    // checked now, by creating and removing the temporary there. (The default, in the
    // current directory, is not: a program that is never asked to stop may run where
    // it cannot write.)
    if destination.is_some() || MIG.with(|m| m.countdown.is_some()) {
        if let Err(msg) = crate::ckfile::check_writable(checkpoint::path()) {
            fatal(&[msg.as_bytes()]);
        }
    }
    if crate::instance::desc().migration_points != 0 {
        crate::signal::install_handler(SIGUSR1, on_sigusr1, crate::signal::SA_RESTART | crate::signal::SA_ONSTACK);
    }
}

/// Whether this process started from a checkpoint.
pub fn restoring() -> Option<&'static [u8]> {
    control(b"WASMC_RESTORE")
}

/// Runs the entry function on the current (native Wasm) stack, handling checkpoints:
/// restore first when asked, then after every unwind write the checkpoint and either
/// stop or (snapshot-and-continue) rebuild the stack and go on.
pub fn run_entry(vm: Vm, entry: extern "C" fn(*mut VmCtx)) {
    if let Some(path) = restoring() {
        let (frames, wasi) = checkpoint::load(vm, path);
        if let Err(msg) = crate::wasi::restore_state(&wasi) {
            fatal(&[b"cannot restore: ", msg.as_bytes()]);
        }
        start_restore(vm, frames);
    } else {
        go_idle(vm);
    }
    RUNNING.store(true, SeqCst);
    if take_pending() && vm.mig_state() != mig_state::RESTORING {
        vm.set_mig_state(mig_state::REQUESTED);
    }
    loop {
        entry(vm.as_ptr());
        if vm.mig_state() != mig_state::UNWINDING {
            return;
        }
        let mut frames = MIG.with(|m| core::mem::take(&mut m.saved));
        frames.reverse();
        let wasi = crate::wasi::checkpoint_state();
        let written = wasi.lend(|w| checkpoint::save(vm, &frames, w));
        let keep_going = control(b"WASMC_CHECKPOINT_CONTINUE").is_some_and(|v| v == b"1");
        if written && !keep_going {
            crate::print::exit(CHECKPOINT_EXIT_CODE);
        }
        // Snapshot-and-continue, or a checkpoint that could not be written: the state
        // is intact in memory, so rebuild the stack from the saved frames and go on.
        MIG.with(|m| {
            m.countdown = None;
            m.idle_state = mig_state::IDLE;
        });
        let records = frames.into_iter().map(|f| (f.func, restore_slots(f.point, &f.slots))).collect();
        start_restore(vm, records);
    }
}

/// A frame record as restore takes it: the point id, then the values.
fn restore_slots(point: u32, slots: &[u64]) -> Vec<u64> {
    let mut v = Vec::with_capacity(slots.len() + 1);
    v.push(point as u64);
    v.extend_from_slice(slots);
    v
}

fn start_restore(vm: Vm, records: Vec<RestoreFrame>) {
    if records.is_empty() {
        fatal(&[b"checkpoint has no frames"]);
    }
    MIG.with(|m| {
        m.restore = records;
        m.cursor = 0;
    });
    vm.set_mig_state(mig_state::RESTORING);
}

/// Back to normal running: IDLE, or COUNTING with a fresh countdown.
fn go_idle(vm: Vm) {
    let (countdown, idle_state) = MIG.with(|m| (m.countdown, m.idle_state));
    if let Some(n) = countdown {
        vm.set_countdown(n);
    }
    vm.set_mig_state(idle_state);
}

/// What `mig_state` becomes once restoring is over.
fn resume_state(vm: Vm) {
    if take_pending() {
        vm.set_mig_state(mig_state::REQUESTED);
    } else {
        go_idle(vm);
    }
}

/// The instance behind the vmctx a migration point passed.
fn vm(vmctx: *mut VmCtx) -> Vm {
    // SAFETY: the callers are the hooks generated code calls, which pass the instance's
    // vmctx (abi-spec §2.2).
    unsafe { Vm::from_raw(vmctx) }
}

/// Records the frame whose values a point stored in the vmctx scratch slots.
fn record_frame(vm: Vm, func: i32, point: i32) {
    let Some(p) = checkpoint::point(func as u32, point as u32) else {
        fatal(&[b"internal error: a migration point missing from its function's table"]);
    };
    // SAFETY: the scratch area holds `ModuleDesc::max_point_values` slots, at least as
    // many as any point's record (the compiler computes both from the same points), and
    // the point just stored its values there.
    let scratch = unsafe { core::slice::from_raw_parts(vm.scratch(), p.types.len()) };
    // The reader checked every type code.
    let types: Vec<ValType> = p.types.iter().map(|b| ValType::from_u8(*b).unwrap_or(ValType::I64)).collect();
    let frame = SavedFrame { func: func as u32, point: point as u32, types, slots: scratch.to_vec() };
    MIG.with(|m| m.saved.push(frame));
}

#[no_mangle]
pub extern "C" fn wasmc_mig_save_frame(vmctx: *mut VmCtx, func: i32, point: i32) {
    let vm = vm(vmctx);
    // A poll point that stops starts the unwinding; callers keep it going.
    vm.set_mig_state(mig_state::UNWINDING);
    record_frame(vm, func, point);
}

#[no_mangle]
pub extern "C" fn wasmc_mig_restore_frame(vmctx: *mut VmCtx, func: i32) -> i32 {
    let vm = vm(vmctx);
    let (point, last) = MIG.with(|m| {
        let Some((f, slots)) = m.restore.get(m.cursor) else {
            fatal(&[b"internal error: restore ran past the last frame"]);
        };
        if *f != func as u32 {
            fatal(&[b"checkpoint does not match this executable's code (frame of another function)"]);
        }
        // The point's code reloads its values from the scratch slots (sized for the
        // largest point of the module; the checkpoint was validated against the point's
        // types).
        let values = &slots[1..];
        // SAFETY: the scratch area holds at least as many slots as this point's values
        // (see `record_frame`), and is not the frame record's own allocation.
        unsafe { core::ptr::copy_nonoverlapping(values.as_ptr(), vm.scratch(), values.len()) };
        let point = slots[0] as i32;
        m.cursor += 1;
        (point, m.cursor == m.restore.len())
    });
    if last {
        resume_state(vm);
    }
    point
}

#[no_mangle]
pub extern "C" fn wasmc_mig_restore_callee(_vmctx: *mut VmCtx) -> i64 {
    let f = MIG.with(|m| m.restore.get(m.cursor).map(|(f, _)| *f));
    let Some(f) = f else {
        fatal(&[b"internal error: restore ran past the last frame"]);
    };
    checkpoint::funcref_of(f) as i64
}

// The contract with generated code (see the same check in `libcalls`).
const _: () = {
    use abi_spec::libcall::fn_type as t;
    let _: t::MigSaveFrame = wasmc_mig_save_frame;
    let _: t::MigRestoreFrame = wasmc_mig_restore_frame;
    let _: t::MigRestoreCallee = wasmc_mig_restore_callee;
};
