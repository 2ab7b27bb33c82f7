//! Pre-copy live migration (`WASMC_MIGRATE_PRECOPY=1`): memory crosses the link while
//! the program keeps running, and the program stops only for what it wrote meanwhile.
//!
//! A request starts a session with the destination and round 1: all of memory is made
//! read-only (`dirty`), and a forked child sends every non-zero page from its
//! copy-on-write snapshot, consistent as of the fork, while the parent runs on and its
//! first write to each page marks that page dirty. When the child ends (SIGCHLD arms
//! the polls), the next poll takes the dirty pages and either forks the next round with
//! them or, when iterating no longer pays, stops right there: it sends the last dirty
//! pages and the checkpoint (without memory) itself and waits for the verdict, whose
//! outcome `remote::conclude` turns into "exit", "keep running" or "keep a file".
//!
//! Iterating stops (the rule SPEC.md §4 documents) when the dirty pages would take at
//! most [`TARGET_NS`] at the rate the last round went, or when they did not shrink by a
//! tenth from the round before (the program writes faster than the link carries: then
//! the rest goes stop-and-copy), or after [`MAX_ROUNDS`] rounds.

use crate::cell::MainCell;
use crate::checkpoint;
use crate::ckstream::{Sent, Session};
use crate::dirty;
use crate::instance::Vm;
use crate::print::eprintln_parts;
use crate::process::control;
use crate::remote;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// The last round is due when its pages would take no longer than this. Small, since
/// the stop also pays a round trip and the destination's checking and applying: a
/// round more costs little, a megabyte in the stop costs tens of milliseconds on a
/// slow (or emulated) destination.
const TARGET_NS: u64 = 5_000_000;
/// Rounds before the rest goes stop-and-copy whatever the rate.
const MAX_ROUNDS: u32 = 10;

/// A round's child has ended (SIGCHLD): the next poll looks. Atomic: set by a handler.
static CHILD_ENDED: AtomicBool = AtomicBool::new(false);

/// The migration under way.
struct Precopy {
    session: Session,
    /// The child sending the current round, 0 once reaped.
    child: i32,
    round: u32,
    /// When this round started sending, and the bytes of memory it sends.
    started_ns: u64,
    bytes: u64,
    /// When the migration began, for the stats line.
    began_ns: u64,
    /// Pages taken for the final round at a poll where the frames could not be read.
    pending: Vec<usize>,
    /// The final round is due.
    last: bool,
    /// Pages the program dirtied per second during the last round.
    dirty_rate: u64,
}

/// Main flow only (the poll fault, never inside another `with`).
static STATE: MainCell<Option<Precopy>> = MainCell::new(None);

const SIGCHLD: i32 = 17;
use remote::now_ns;

/// Whether migrations go by pre-copy.
pub fn enabled() -> bool {
    remote::precopy_wanted() && remote::target().is_some()
}

/// Whether a pre-copy is under way.
pub fn active() -> bool {
    STATE.with(|s| s.is_some())
}

/// The pre-copy under way: its round, and the pages dirtied per second in the last one.
pub fn progress() -> Option<(u32, u64)> {
    STATE.with(|s| s.as_ref().map(|p| (p.round, p.dirty_rate)))
}

/// Whether the next poll has pre-copy work: a round's child ended, or the final round
/// waits for a poll whose frames can be read.
pub fn wants_poll() -> bool {
    CHILD_ENDED.load(SeqCst) || STATE.with(|s| s.as_ref().is_some_and(|p| p.last))
}

extern "C" fn on_sigchld(_sig: i32, _info: *mut u8, _uc: *mut u8) {
    CHILD_ENDED.store(true, SeqCst);
    if !crate::instance::arm_polls(true) {
        eprintln_parts(&[b"wasmc: cannot arm the migration polls"]);
    }
}

/// Checks `WASMC_MIGRATE_PRECOPY` and sets up what pre-copy needs; at start-up.
pub fn init() {
    match control(b"WASMC_MIGRATE_PRECOPY") {
        None | Some(b"0") => {}
        Some(b"1") => {}
        Some(_) => crate::print::fatal(&[b"WASMC_MIGRATE_PRECOPY must be 0 or 1"]),
    }
    // Always: a control-socket command may ask for a pre-copy.
    crate::signal::set_write_hook(dirty::on_write_fault);
    crate::signal::install_handler(SIGCHLD, on_sigchld, crate::signal::SA_RESTART | crate::signal::SA_ONSTACK);
}

fn give_up(vm: Vm, why: &'static str) {
    dirty::stop(vm.memory_size() as usize);
    remote::conclude(Sent::NotTaken(why), || false);
    remote::finished();
}

/// Starts a pre-copy at a poll where a migration was asked for; the program runs on.
pub fn begin(vm: Vm) {
    let Some(to) = remote::target() else { return };
    let session = match Session::open(&to, &remote::link(), &crate::instance::desc().module_hash) {
        Ok(s) => s,
        Err(why) => {
            remote::conclude(Sent::NotTaken(why), || false);
            remote::finished();
            return;
        }
    };
    let size = vm.memory_size() as usize;
    if !dirty::start(vm.memory_base() as usize, size) {
        return give_up(vm, "cannot track the program's writes to memory");
    }
    let pages: Vec<usize> = (0..size / dirty::page_size()).collect();
    let now = now_ns();
    spawn(vm, Precopy { session, child: 0, round: 0, started_ns: now, bytes: 0, began_ns: now, pending: Vec::new(), last: false, dirty_rate: 0 }, pages);
}

/// Forks the child that sends `pages` as the next round.
fn spawn(vm: Vm, mut p: Precopy, pages: Vec<usize>) {
    let page = dirty::page_size();
    let first = p.round == 0;
    let pid = crate::host::fork();
    if pid == 0 {
        // The child: memory is its snapshot; it sends and ends (exit_group: nothing of
        // the parent's state is dropped or flushed here).
        // Done once the destination has the pages in place, not when they have left:
        // the next round's timing, and the final stop, must not wait behind buffers.
        let ok = checkpoint::send_pages(vm, &mut p.session, &pages, page, first)
            .and_then(|()| p.session.await_receipts())
            .is_ok();
        crate::print::exit(if ok { 0 } else { 1 });
    }
    if pid < 0 {
        return give_up(vm, "cannot fork the process that sends memory");
    }
    // The child sends segment `seq`, and reads its receipt.
    p.session.seq += 1;
    p.child = pid as i32;
    p.round += 1;
    p.started_ns = now_ns();
    p.bytes = (pages.len() * page) as u64;
    STATE.with(|s| *s = Some(p));
}

/// At a poll with pre-copy work ([`wants_poll`]): reaps the round's child and starts the
/// next round, or stops the program and finishes the migration.
pub fn step(uc: *mut u8) {
    CHILD_ENDED.store(false, SeqCst);
    let Some(vm) = Vm::get() else { return };
    let Some(mut p) = STATE.with(|s| s.take()) else { return };
    let size = vm.memory_size() as usize;
    let page = dirty::page_size();
    if p.child != 0 {
        match crate::host::reap(p.child) {
            None => {
                STATE.with(|s| *s = Some(p));
                return;
            }
            Some(false) => return give_up(vm, "sending memory failed (the link or the destination went away)"),
            Some(true) => p.child = 0,
        }
        let elapsed = now_ns().saturating_sub(p.started_ns).max(1);
        let dirty = dirty::take(size);
        let dirty_bytes = (dirty.len() * page) as u64;
        p.dirty_rate = (dirty.len() as f64 * 1e9 / elapsed as f64) as u64;
        // In f64: a u128 product would pull in compiler_builtins' __udivti3, whose
        // object needs an unwinder the runtime does not have.
        let eta = (dirty_bytes as f64 * elapsed as f64 / p.bytes.max(1) as f64) as u64;
        let shrinking = p.round < 2 || dirty_bytes * 10 < p.bytes * 9;
        if eta > TARGET_NS && shrinking && p.round < MAX_ROUNDS {
            return spawn(vm, p, dirty);
        }
        p.pending = dirty;
        p.last = true;
    }
    // The final round: the program stops here if its frames can be read at this poll.
    // SAFETY: a fault at a poll of the running program (the caller's contract).
    let Ok(mut frames) = (unsafe { crate::frames::read_stack(uc) }) else {
        STATE.with(|s| *s = Some(p));
        return;
    };
    let stopped = remote::realtime_ns();
    frames.reverse();
    let mut pages = core::mem::take(&mut p.pending);
    pages.extend(dirty::take_last(size));
    pages.sort_unstable();
    pages.dedup();
    let wasi = crate::wasi::checkpoint_state();
    let sent = checkpoint::send_pages(vm, &mut p.session, &pages, page, false)
        .and_then(|()| wasi.lend(|w| checkpoint::send_segment(vm, &frames, w, &mut p.session, false, stopped)));
    let sent = match sent {
        Ok(()) => p.session.verdict(),
        Err(why) => Sent::NotTaken(why),
    };
    remote::report_sent(p.round, p.session.sent, p.began_ns);
    let safe = remote::conclude(sent, || wasi.lend(|w| checkpoint::save(vm, &frames, w)));
    if safe && !remote::keep_going() {
        crate::print::exit(abi_spec::CHECKPOINT_EXIT_CODE);
    }
    // Only now, off the downtime: making a large memory writable again takes
    // milliseconds, and nothing writes it while the state leaves.
    dirty::stop(size);
    remote::finished();
}
