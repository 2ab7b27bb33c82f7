//! Migration: the triggers, the poll fault that stops the program and writes its
//! checkpoint, and the restore run that rebuilds a checkpoint's stack.
//!
//! Protocol (see abi-spec/SPEC.md): a trigger (SIGUSR1, the countdown) makes the poll
//! pages unreadable; the next poll faults, and the fault handler reads every frame from
//! the machine state (`frames`), writes the checkpoint, and stops the program, or
//! (snapshot-and-continue, or a checkpoint that could not be written) makes the pages
//! readable and resumes it. Restore sets `RESTORING` and calls the entry function
//! again: each function's entry sees it and hands its frame to `rebuild`, which writes
//! the frame's values back where its point keeps them and enters the next frame's
//! function as the call would, until the innermost frame continues at its poll and the
//! program runs on with no migration state left.

use crate::cell::MainCell;
use crate::checkpoint::{self, RestoreFrames};
use crate::control::Command;
use crate::remote::Request;
use crate::{precopy, remote};
use crate::instance::{arm_polls, Vm};
use crate::print::fatal;
use crate::process::control;
use abi_spec::checkpoint::Frame;
use abi_spec::{mig_state, VmCtx};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

/// Exit status of a process that wrote a checkpoint and stopped.
pub use abi_spec::CHECKPOINT_EXIT_CODE;

/// The main flow's restore state: the frames to rebuild, outermost first. Main flow
/// only (the restore run, and `rebuild`, which function entries call).
static RESTORE: MainCell<RestoreFrames> = MainCell::new(RestoreFrames::new());

/// A checkpoint is wanted at the next poll (SIGUSR1, or the countdown reached zero); it
/// stays wanted while polls with frames that cannot be read go by. Set by handlers,
/// hence atomic.
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// N of `WASMC_CHECKPOINT_AFTER=N[:M]`: generated code counts entries of functions
/// with points down from N in `VmCtx::countdown` (through `wasmc_countdown`); at zero
/// the polls are armed, and the program stops at the M-th poll from there (see
/// [`COUNTDOWN_POLLS`]). 0: no entries to count.
/// Starts with the run and again after a restore; fires once in a run that goes on
/// after its checkpoint. Set at start-up, read when the run starts or a restore ends.
static COUNTDOWN_START: AtomicU64 = AtomicU64::new(0);

/// M of `WASMC_CHECKPOINT_AFTER=N:M` (1 without `:M`; 0: no countdown at all). Loop
/// polls test nothing, so only entries can be counted by generated code; polls after
/// the N-th entry (from the start, or the restore, with N = 0) are counted by their
/// faults (microseconds each), which reaches a point deep in a loop that makes no
/// calls, deterministically, at a cost only while counting. Set at start-up.
static COUNTDOWN_POLLS: AtomicU64 = AtomicU64::new(0);

/// Poll faults still to pass before the countdown's stop (0 or 1: stop at this one).
/// Set when the countdown reaches zero, counted by the poll handler.
static POLLS_LEFT: AtomicU64 = AtomicU64::new(0);

/// Whether the entry function is running and not restoring, so that a request can arm
/// the polls now. Set by the main flow, read by the handlers, hence atomic; while it is
/// false a request only sets [`REQUESTED`], honoured when it becomes true.
static RUNNING: AtomicBool = AtomicBool::new(false);

const SIGUSR1: i32 = 10;

/// Whether the polls must fault: a request is pending, pre-copy has work, or a control
/// connection waits.
fn wanted() -> bool {
    REQUESTED.load(SeqCst) || precopy::wants_poll() || crate::control::pending()
}

/// Arms the polls if a checkpoint is wanted and the program is running. Safe in signal
/// handlers.
fn arm_if_wanted() {
    if RUNNING.load(SeqCst) && wanted() && !arm_polls(true) {
        crate::print::eprintln_parts(&[b"wasmc: cannot arm the migration polls; no checkpoint"]);
    }
}

/// SIGUSR1: checkpoint at the next migration point. Touches atomics and page
/// protection only.
extern "C" fn on_sigusr1(_sig: i32, _info: *mut u8, _uc: *mut u8) {
    REQUESTED.store(true, SeqCst);
    arm_if_wanted();
}

/// A fault at a poll (`signal::PollHook`). A synchronous fault of
/// generated code, which never runs inside a `MainCell::with`: the main-flow state it
/// uses (WASI state, the checkpoint writer) is not borrowed by anyone while it runs.
fn on_poll(uc: *mut u8) -> bool {
    // SAFETY: `uc` is the fault's ucontext (the signal module's contract).
    let pc = unsafe { crate::signal::ucontext_pc(uc) };
    let Some(len) = crate::frames::poll_at(pc) else {
        return false;
    };
    if RUNNING.load(SeqCst) && crate::control::pending() {
        take_command();
    }
    if RUNNING.load(SeqCst) && REQUESTED.load(SeqCst) {
        match POLLS_LEFT.load(SeqCst) {
            // The countdown's polls after its last entry: count this one, go on armed.
            left if left > 1 => POLLS_LEFT.store(left - 1, SeqCst),
            _ => stop(uc),
        }
    } else if RUNNING.load(SeqCst) && precopy::wants_poll() {
        precopy::step(uc);
    }
    // Not stopped (no request, a restore under way, or frames that cannot be read at
    // this poll: then the next poll tries again), or snapshot-and-continue.
    if !(RUNNING.load(SeqCst) && wanted()) {
        arm_polls(false);
    }
    // SAFETY: the poll at pc is `len` bytes; the next instruction follows it.
    unsafe { crate::signal::set_ucontext_pc(uc, pc + len as usize) };
    true
}

/// The countdown (`WASMC_CHECKPOINT_AFTER`) reached zero: stop at the next poll. Called
/// by `countdown`'s trampoline from an entry poll's cold path.
pub extern "C" fn countdown_zero() {
    crate::instance::set_poll_words(false);
    count_polls();
    arm_if_wanted();
}

/// The countdown's entries are counted: request a stop at the M-th poll from here.
fn count_polls() {
    POLLS_LEFT.store(COUNTDOWN_POLLS.load(SeqCst), SeqCst);
    REQUESTED.store(true, SeqCst);
}

/// Reads the frames at the poll of `uc` and writes the checkpoint; exits unless the
/// program is to go on (snapshot-and-continue, or a checkpoint that could not be
/// written: the state is intact, nothing was unwound).
fn stop(uc: *mut u8) {
    if precopy::enabled() {
        // Pre-copy: memory goes first, while the program runs; it stops later.
        REQUESTED.store(false, SeqCst);
        if let (false, Some(vm)) = (precopy::active(), Vm::get()) {
            precopy::begin(vm);
        }
        return;
    }
    // SAFETY: a fault at a poll of the running program (the caller checked both).
    let Ok(mut frames) = (unsafe { crate::frames::read_stack(uc) }) else {
        return;
    };
    REQUESTED.store(false, SeqCst);
    frames.reverse();
    let Some(vm) = Vm::get() else { return };
    let wasi = crate::wasi::checkpoint_state();
    let safe_elsewhere = match remote::target() {
        Some(to) => remote::send_stopped(vm, &frames, &to),
        None => {
            let written = wasi.lend(|w| checkpoint::save(vm, &frames, w));
            match written {
                true => crate::control::reply(&[b"ok checkpoint written to ", checkpoint::path()]),
                false => crate::control::reply(&[b"error checkpoint not written (see the program's stderr); the program goes on"]),
            }
            written
        }
    };
    if safe_elsewhere && !remote::keep_going() {
        crate::print::exit(CHECKPOINT_EXIT_CODE);
    }
    remote::finished();
}

/// Takes a control-socket command, if one came: a checkpoint, snapshot or migration is
/// then requested as SIGUSR1 would, with the command's choices over the `WASMC_*` ones.
fn take_command() {
    let status = || {
        let mut l = crate::print::Line::new();
        let memory = Vm::get().map_or(0, |vm| vm.memory_size());
        l.s(b"state=").s(if precopy::active() { b"migrating" } else { b"running" });
        l.s(b" memory=").dec(memory);
        if let Some((round, dirty)) = precopy::progress() {
            l.s(b" precopy_round=").dec(round as u64).s(b" dirty_pages_per_s=").dec(dirty);
        }
        l.as_bytes().to_vec()
    };
    let Some(cmd) = crate::control::serve(status) else { return };
    if REQUESTED.load(SeqCst) || precopy::active() {
        crate::control::reply(&[b"error busy: a checkpoint or migration is under way"]);
        return;
    }
    let request = match cmd {
        Command::Checkpoint(path) | Command::Snapshot(path) => {
            checkpoint::set_path(path);
            let keep_going = matches!(cmd, Command::Snapshot(_));
            Request { to: Some(None), precopy: Some(false), keep_going: Some(keep_going) }
        }
        Command::Migrate { to, name, precopy } => {
            if !remote::has_key() {
                crate::control::reply(&[b"error migrating needs WASMC_MIGRATE_KEY_FILE, given when the program started"]);
                return;
            }
            Request { to: Some(Some((to, name))), precopy: Some(precopy), keep_going: Some(false) }
        }
    };
    remote::set_request(request);
    REQUESTED.store(true, SeqCst);
}


/// Reads and checks the migration controls; called once at start-up, before any Wasm
/// code runs. A bad value stops the process with one line (exit 125) now rather than
/// losing a checkpoint later.
pub fn init() {
    if let Some(v) = control(b"WASMC_CHECKPOINT_AFTER") {
        let (n, m) = match v.iter().position(|&c| c == b':') {
            Some(i) => (&v[..i], Some(&v[i + 1..])),
            None => (v, None),
        };
        let n = crate::process::parse_u64(n);
        let m = m.map(|m| crate::process::parse_u64(m).filter(|&m| m > 0));
        let (n, m) = match (n, m) {
            (Some(n), None) if n > 0 => (n, 1),
            (Some(n), Some(Some(m))) => (n, m),
            _ => fatal(&[b"WASMC_CHECKPOINT_AFTER must be N (>= 1) or N:M (M >= 1), a number of function entries and of polls after them"]),
        };
        COUNTDOWN_START.store(n, SeqCst);
        COUNTDOWN_POLLS.store(m, SeqCst);
    }
    if let Some(v) = control(b"WASMC_CHECKPOINT_CONTINUE") {
        if v != b"0" && v != b"1" {
            fatal(&[b"WASMC_CHECKPOINT_CONTINUE must be 0 or 1"]);
        }
    }
    if control(b"WASMC_RESTORE").is_some_and(|p| p.is_empty()) {
        fatal(&[b"WASMC_RESTORE must name a checkpoint file, or be listen:ADDR:PORT"]);
    }
    remote::init();
    precopy::init();
    crate::control::init();
    let destination = control(b"WASMC_CHECKPOINT");
    if destination.is_some_and(|p| p.is_empty()) {
        fatal(&[b"WASMC_CHECKPOINT must name a file"]);
    }
    // A destination someone chose, or a checkpoint that is certain to be taken, is
    // checked now, by creating and removing the temporary there. (The default, in the
    // current directory, is not: a program that is never asked to stop may run where
    // it cannot write.)
    let migrating = remote::target().is_some();
    if destination.is_some() || COUNTDOWN_POLLS.load(SeqCst) != 0 || migrating {
        if let Err(msg) = crate::ckfile::check_writable(checkpoint::path()) {
            fatal(&[msg.as_bytes()]);
        }
    }
    if crate::instance::desc().migration_points != 0 {
        crate::signal::set_poll_hook(on_poll);
        crate::signal::install_handler(
            SIGUSR1,
            on_sigusr1,
            crate::signal::SA_RESTART | crate::signal::SA_ONSTACK,
        );
    }
}

/// Whether this process started from a checkpoint.
pub fn restoring() -> Option<&'static [u8]> {
    control(b"WASMC_RESTORE")
}

/// Runs the entry function on the current (native Wasm) stack, restoring first when
/// asked. Checkpoints are taken inside it, by the poll fault.
pub fn run_entry(vm: Vm, entry: extern "C" fn(*mut VmCtx, u64)) {
    if let Some(path) = restoring() {
        let frames = match remote::listen_addr() {
            Some(addr) => remote::receive(vm, &addr),
            None => {
                let (frames, wasi) = checkpoint::load(vm, path);
                if let Err(msg) = crate::wasi::restore_state(&wasi) {
                    fatal(&[b"cannot restore: ", msg.as_bytes()]);
                }
                frames
            }
        };
        if frames.is_empty() {
            fatal(&[b"checkpoint has no frames"]);
        }
        RESTORE.with(|r| *r = frames);
        vm.set_mig_state(mig_state::RESTORING);
        // Entries take their cold path, which sees RESTORING.
        crate::instance::set_poll_words(true);
    } else {
        resume(vm);
    }
    entry(vm.as_ptr(), vm.depth_left());
}

/// Back to normal running, at the start or once restoring is over: a countdown starts,
/// and a request that came meanwhile arms the polls.
fn resume(vm: Vm) {
    remote::report_resumed();
    vm.set_mig_state(mig_state::IDLE);
    let n = COUNTDOWN_START.load(SeqCst);
    vm.set_countdown(n);
    crate::instance::set_poll_words(n != 0);
    if n == 0 && COUNTDOWN_POLLS.load(SeqCst) != 0 {
        // `0:M`: no entries to count, the polls from here.
        count_polls();
    }
    RUNNING.store(true, SeqCst);
    arm_if_wanted();
}

/// The instance behind the vmctx generated code passed.
fn vm(vmctx: *mut VmCtx) -> Vm {
    // SAFETY: the callers are the hooks generated code calls, which pass the instance's
    // vmctx (abi-spec §2.2).
    unsafe { Vm::from_raw(vmctx) }
}

/// Hands the restore run's next frame to `rebuild`, as the checkpoint holds it, and
/// the function of the frame above it (`None` for the top frame: restoring is then
/// over, and the program runs on from the top frame's poll). `ret` is where the entry's call into the runtime returns to, which must be
/// in that function's code.
pub fn next_restore_frame(
    vmctx: *mut VmCtx,
    ret: u64,
    rebuild: impl FnOnce(&Frame<'static>, Option<u32>),
) {
    let vm = vm(vmctx);
    let last = RESTORE.with(|m| {
        let Some((f, next)) = m.take() else {
            fatal(&[b"internal error: restore ran past the last frame"]);
        };
        if !crate::trap::func_contains(f.func, ret) {
            fatal(&[
                b"checkpoint does not match this executable's code (frame of another function)",
            ]);
        }
        rebuild(&f, next);
        next.is_none()
    });
    if last {
        RESTORE.with(|m| *m = RestoreFrames::new());
        resume(vm);
    }
}

