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

use crate::checkpoint;
use crate::print::fatal;
use crate::startup::control;
use crate::Global;
use abi_spec::{mig_state, ValType, VmCtx};
use alloc::vec::Vec;
use core::ptr::{read_volatile, write_volatile};

/// Exit status of a process that wrote a checkpoint and stopped.
pub use abi_spec::CHECKPOINT_EXIT_CODE;

/// One saved frame, as generated code stored it: raw 64-bit slots (funcrefs as record
/// addresses); [`checkpoint`] makes them canonical.
pub struct SavedFrame {
    pub func: u32,
    pub point: u32,
    pub types: Vec<ValType>,
    pub slots: Vec<u64>,
}

struct Mig {
    /// Frames saved while unwinding, innermost first.
    saved: Vec<SavedFrame>,
    /// Frames to rebuild, outermost first: slot 0 = point id, then the values.
    restore: Vec<(u32, Vec<u64>)>,
    cursor: usize,
    /// `WASMC_CHECKPOINT_AFTER=N`: checkpoint once N polls have been passed (generated
    /// code counts down `VmCtx::countdown`).
    countdown: Option<u64>,
    /// A SIGUSR1 arrived while unwinding or restoring; honoured right after.
    pending: bool,
    /// `mig_state` to go back to when idle (`IDLE`, or `COUNTING` for a countdown).
    idle_state: u32,
    running: bool,
}

static MIG: Global<Mig> = Global::new(Mig {
    saved: Vec::new(),
    restore: Vec::new(),
    cursor: 0,
    countdown: None,
    pending: false,
    idle_state: mig_state::IDLE,
    running: false,
});

fn mig() -> &'static mut Mig {
    unsafe { &mut *MIG.get() }
}

fn state(vmctx: *mut VmCtx) -> u32 {
    unsafe { read_volatile(&(*vmctx).mig_state) }
}

/// The copy of `mig_state` below linear memory (`abi_spec::MIG_STATE_MIRROR`), null in a
/// module without a memory. A plain static: set once at instantiation, before any
/// signal handler can look at it.
static MIRROR: Global<*mut u32> = Global::new(core::ptr::null_mut());

pub fn set_state_mirror(p: *mut u32) {
    unsafe { *MIRROR.get() = p };
}

/// Sets `mig_state` and its mirror. Generated code only reads them, so the two are
/// never seen to disagree for longer than a signal handler's two stores.
pub fn set_state(vmctx: *mut VmCtx, s: u32) {
    unsafe {
        write_volatile(&mut (*vmctx).mig_state, s);
        let mirror = *MIRROR.get();
        if !mirror.is_null() {
            write_volatile(mirror, s);
        }
    }
}

const SIGUSR1: i32 = 10;

/// SIGUSR1: checkpoint at the next migration point. Only writes the state the
/// generated code polls, with its mirror (or a flag, before the program runs or while a
/// checkpoint or restore is under way).
extern "C" fn on_sigusr1(_sig: i32, _info: *mut u8, _uc: *mut u8) {
    let vmctx = crate::instance::vmctx_or_null();
    let m = mig();
    if vmctx.is_null() || !m.running {
        m.pending = true;
        return;
    }
    match state(vmctx) {
        mig_state::IDLE | mig_state::COUNTING => set_state(vmctx, mig_state::REQUESTED),
        _ => m.pending = true,
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
    let m = mig();
    if let Some(n) = control(b"WASMC_CHECKPOINT_AFTER") {
        match parse_u64(n) {
            Some(n) if n > 0 => {
                m.countdown = Some(n);
                m.idle_state = mig_state::COUNTING;
            }
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
    if destination.is_some() || m.countdown.is_some() {
        if let Err(msg) = crate::ckfile::check_writable(checkpoint_path()) {
            fatal(&[msg.as_bytes()]);
        }
    }
    if crate::instance::desc().migration_points != 0 {
        crate::signal::install_handler(SIGUSR1, on_sigusr1, crate::signal::SA_RESTART | crate::signal::SA_ONSTACK);
    }
}

/// Where a checkpoint goes: `WASMC_CHECKPOINT`, else [`checkpoint::DEFAULT_PATH`].
pub fn checkpoint_path() -> &'static [u8] {
    control(b"WASMC_CHECKPOINT").unwrap_or(checkpoint::DEFAULT_PATH)
}

/// Whether this process started from a checkpoint.
pub fn restoring() -> Option<&'static [u8]> {
    control(b"WASMC_RESTORE")
}

/// Runs the entry function on the current (native Wasm) stack, handling checkpoints:
/// restore first when asked, then after every unwind write the checkpoint and either
/// stop or (snapshot-and-continue) rebuild the stack and go on.
pub fn run_entry(vmctx: *mut VmCtx, entry: extern "C" fn(*mut VmCtx)) {
    let m = mig();
    if let Some(path) = restoring() {
        let frames = checkpoint::load(vmctx, path);
        start_restore(vmctx, frames);
    } else {
        go_idle(vmctx);
    }
    m.running = true;
    if m.pending {
        m.pending = false;
        if state(vmctx) != mig_state::RESTORING {
            set_state(vmctx, mig_state::REQUESTED);
        }
    }
    loop {
        entry(vmctx);
        if state(vmctx) != mig_state::UNWINDING {
            return;
        }
        let mut frames = core::mem::take(&mut m.saved);
        frames.reverse();
        let written = checkpoint::save(vmctx, &frames);
        let keep_going = control(b"WASMC_CHECKPOINT_CONTINUE").is_some_and(|v| v == b"1");
        if written && !keep_going {
            crate::print::exit(CHECKPOINT_EXIT_CODE);
        }
        // Snapshot-and-continue, or a checkpoint that could not be written: the state
        // is intact in memory, so rebuild the stack from the saved frames and go on.
        m.countdown = None;
        m.idle_state = mig_state::IDLE;
        let records = frames.into_iter().map(|f| (f.func, restore_slots(f.point, &f.slots))).collect();
        start_restore(vmctx, records);
    }
}

/// A frame record as restore takes it: the point id, then the values.
fn restore_slots(point: u32, slots: &[u64]) -> Vec<u64> {
    let mut v = Vec::with_capacity(slots.len() + 1);
    v.push(point as u64);
    v.extend_from_slice(slots);
    v
}

fn start_restore(vmctx: *mut VmCtx, records: Vec<(u32, Vec<u64>)>) {
    let m = mig();
    if records.is_empty() {
        fatal(&[b"checkpoint has no frames"]);
    }
    m.restore = records;
    m.cursor = 0;
    set_state(vmctx, mig_state::RESTORING);
}

/// Back to normal running: IDLE, or COUNTING with a fresh countdown.
fn go_idle(vmctx: *mut VmCtx) {
    let m = mig();
    if let Some(n) = m.countdown {
        unsafe { write_volatile(&mut (*vmctx).countdown, n) };
    }
    set_state(vmctx, m.idle_state);
}

/// What `mig_state` becomes once restoring is over.
fn resume_state(vmctx: *mut VmCtx) {
    let m = mig();
    if m.pending {
        m.pending = false;
        set_state(vmctx, mig_state::REQUESTED);
    } else {
        go_idle(vmctx);
    }
}

/// Records the frame whose values a point stored in the vmctx scratch slots.
fn record_frame(vmctx: *mut VmCtx, func: i32, point: i32) {
    let Some(p) = checkpoint::point(func as u32, point as u32) else {
        fatal(&[b"internal error: a migration point missing from its function's table"]);
    };
    // SAFETY: the scratch area holds `ModuleDesc::max_point_values` slots, at least as
    // many as any point's record (the compiler computes both from the same points), and
    // the point just stored its values there.
    let scratch = unsafe { core::slice::from_raw_parts((*vmctx).mig_scratch as *const u64, p.types.len()) };
    // The reader checked every type code.
    let types: Vec<ValType> = p.types.iter().map(|b| ValType::from_u8(*b).unwrap_or(ValType::I64)).collect();
    mig().saved.push(SavedFrame { func: func as u32, point: point as u32, types, slots: scratch.to_vec() });
}

#[no_mangle]
pub extern "C" fn wasmc_mig_save_frame(vmctx: *mut VmCtx, func: i32, point: i32) {
    // A poll point that stops starts the unwinding; callers keep it going.
    set_state(vmctx, mig_state::UNWINDING);
    record_frame(vmctx, func, point);
}

#[no_mangle]
pub extern "C" fn wasmc_mig_restore_frame(vmctx: *mut VmCtx, func: i32) -> i32 {
    let m = mig();
    let Some((f, slots)) = m.restore.get(m.cursor) else {
        fatal(&[b"internal error: restore ran past the last frame"]);
    };
    if *f != func as u32 {
        fatal(&[b"checkpoint does not match this executable's code (frame of another function)"]);
    }
    // The point's code reloads its values from the scratch slots (sized for the largest
    // point of the module; the checkpoint was validated against the point's types).
    let values = &slots[1..];
    unsafe { core::ptr::copy_nonoverlapping(values.as_ptr(), (*vmctx).mig_scratch as *mut u64, values.len()) };
    let point = slots[0] as i32;
    m.cursor += 1;
    if m.cursor == m.restore.len() {
        resume_state(vmctx);
    }
    point
}

#[no_mangle]
pub extern "C" fn wasmc_mig_restore_callee(_vmctx: *mut VmCtx) -> i64 {
    let m = mig();
    let Some((f, _)) = m.restore.get(m.cursor) else {
        fatal(&[b"internal error: restore ran past the last frame"]);
    };
    checkpoint::funcref_of(*f) as i64
}
