//! Pre-copy's dirty-page tracking: which pages of linear memory the program writes
//! while its memory is being sent. Tracked pages are read-only; the first write to one
//! faults, and the fault marks the page dirty and makes it writable again, so a page
//! costs one fault per round however often it is written. This works the same natively
//! and under qemu-user on every ISA (soft-dirty bits and userfaultfd do not).
//!
//! The kernel does not fault on a read-only page it writes for us (read(2) into guest
//! memory fails with EFAULT instead), so the runtime marks such a range first
//! ([`touch`]). Pages that `memory.grow` adds while tracking are writable and untracked;
//! [`take`] counts them dirty.
//!
//! State is atomics: the fault handler reads and writes it. Only the main thread runs
//! (the handler included), so a bitmap word is updated with a load and a store.

use crate::heap::{mprotect, PROT_RW};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

const PROT_READ: usize = 1;
/// The largest linear memory (65536 Wasm pages).
const MAX_MEMORY: usize = 1 << 32;

static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Linear memory's base while tracking.
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Pages `[0, TRACKED)` are tracked (read-only unless dirty).
static TRACKED: AtomicUsize = AtomicUsize::new(0);
static PAGE_SHIFT: AtomicUsize = AtomicUsize::new(12);
/// The bitmap: one bit per page of the largest memory, `BITMAP_WORDS` words.
static BITMAP: AtomicUsize = AtomicUsize::new(0);
static BITMAP_WORDS: AtomicUsize = AtomicUsize::new(0);

/// The host's page size.
pub fn page_size() -> usize {
    1 << PAGE_SHIFT.load(SeqCst)
}

fn word(i: usize) -> &'static AtomicU64 {
    let words = BITMAP.load(SeqCst) as *const AtomicU64;
    debug_assert!(i < BITMAP_WORDS.load(SeqCst));
    // SAFETY: `start` allocated the bitmap for every page of a 4 GiB memory and never
    // frees it; callers pass the index of a page below TRACKED, which fits.
    unsafe { &*words.add(i) }
}

fn page_ptr(page: usize) -> *mut u8 {
    (BASE.load(SeqCst) + (page << PAGE_SHIFT.load(SeqCst))) as *mut u8
}

/// Marks `page` dirty and writable. Safe in the fault handler.
fn mark(page: usize) {
    let w = word(page / 64);
    let bit = 1u64 << (page % 64);
    if w.load(SeqCst) & bit == 0 {
        w.store(w.load(SeqCst) | bit, SeqCst);
        mprotect(page_ptr(page), page_size(), PROT_RW);
    }
}

/// Starts tracking `memory` (base and size): every page read-only, none dirty. False if
/// the pages cannot be protected (nothing is tracked then).
pub fn start(base: usize, size: usize) -> bool {
    let page = crate::process::auxv(6).unwrap_or(4096); // AT_PAGESZ
    if !page.is_power_of_two() || !base.is_multiple_of(page) {
        return false;
    }
    PAGE_SHIFT.store(page.trailing_zeros() as usize, SeqCst);
    if BITMAP.load(SeqCst) == 0 {
        let words = (MAX_MEMORY / page).div_ceil(64);
        let bits: Vec<AtomicU64> = (0..words).map(|_| AtomicU64::new(0)).collect();
        BITMAP_WORDS.store(words, SeqCst);
        BITMAP.store(bits.leak().as_ptr() as usize, SeqCst);
    }
    for i in 0..BITMAP_WORDS.load(SeqCst) {
        word(i).store(0, SeqCst);
    }
    BASE.store(base, SeqCst);
    TRACKED.store(size / page, SeqCst);
    if size != 0 && !mprotect(base as *mut u8, size, PROT_READ) {
        return false;
    }
    ACTIVE.store(true, SeqCst);
    true
}

/// The fault handler's hook: a write to a tracked page. Safe in signal handlers.
pub fn on_write_fault(addr: usize) -> bool {
    if !ACTIVE.load(SeqCst) {
        return false;
    }
    let off = addr.wrapping_sub(BASE.load(SeqCst));
    let page = off >> PAGE_SHIFT.load(SeqCst);
    if page >= TRACKED.load(SeqCst) {
        return false;
    }
    mark(page);
    true
}

/// Marks `[addr, addr + len)` dirty before the kernel writes it.
pub fn touch(addr: usize, len: usize) {
    if !ACTIVE.load(SeqCst) || len == 0 {
        return;
    }
    let shift = PAGE_SHIFT.load(SeqCst);
    let off = addr.wrapping_sub(BASE.load(SeqCst));
    let tracked = TRACKED.load(SeqCst);
    for page in off >> shift..=(off + len - 1) >> shift {
        if page < tracked {
            mark(page);
        }
    }
}

/// The pages written since `start` or the last `take`, and those `memory.grow` added,
/// for memory of `size` bytes now; they are tracked (read-only) again from here.
pub fn take(size: usize) -> Vec<usize> {
    let shift = PAGE_SHIFT.load(SeqCst);
    let tracked = TRACKED.load(SeqCst);
    let now = size >> shift;
    let mut dirty = Vec::new();
    for i in 0..tracked.div_ceil(64) {
        let w = word(i).load(SeqCst);
        if w == 0 {
            continue;
        }
        word(i).store(0, SeqCst);
        for b in 0..64 {
            if w & (1 << b) != 0 {
                dirty.push(i * 64 + b);
            }
        }
    }
    for &p in &dirty {
        mprotect(page_ptr(p), 1 << shift, PROT_READ);
    }
    if now > tracked {
        mprotect(page_ptr(tracked), (now - tracked) << shift, PROT_READ);
        dirty.extend(tracked..now);
        TRACKED.store(now, SeqCst);
    }
    dirty
}

/// The pages written since the last `take`, and those `memory.grow` added, for the
/// final stop: unlike [`take`] it leaves them writable, and tracks nothing from here
/// (the rest of memory stays read-only until [`stop`], which the stopped program does
/// not need before its state has left).
pub fn take_last(size: usize) -> Vec<usize> {
    let tracked = TRACKED.load(SeqCst);
    let mut dirty = Vec::new();
    for i in 0..tracked.div_ceil(64) {
        let w = word(i).load(SeqCst);
        word(i).store(0, SeqCst);
        let mut bits = w;
        while bits != 0 {
            dirty.push(i * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
    dirty.extend(tracked..size >> PAGE_SHIFT.load(SeqCst));
    dirty
}

/// Stops tracking: memory of `size` bytes is writable again.
pub fn stop(size: usize) {
    if !ACTIVE.load(SeqCst) {
        return;
    }
    ACTIVE.store(false, SeqCst);
    if size != 0 {
        mprotect(BASE.load(SeqCst) as *mut u8, size, PROT_RW);
    }
    TRACKED.store(0, SeqCst);
}
