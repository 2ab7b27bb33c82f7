//! The runtime's heap: power-of-two size classes (16 B .. 2 KiB) carved from 64 KiB
//! mmap arenas with one free list per class, and a private mmap for anything larger.
//!
//! Wasm code is single-threaded and signal handlers never allocate, so the free lists
//! are main-flow state in a [`MainCell`] and need no locking. Large blocks are resized
//! with `mremap`, which keeps table growth cheap.

use crate::cell::MainCell;
use crate::sys::{self, nr};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::null_mut;

pub const PROT_NONE: usize = 0;
pub const PROT_RW: usize = 3;
pub const MAP_PRIVATE: usize = 0x02;
pub const MAP_ANONYMOUS: usize = 0x20;
pub const MAP_NORESERVE: usize = 0x4000;
const MREMAP_MAYMOVE: usize = 1;
pub const PAGE: usize = 4096;

/// Anonymous private mapping of `len` bytes; `None` when the kernel refuses.
pub fn mmap(len: usize, prot: usize, extra_flags: usize) -> Option<*mut u8> {
    // SAFETY: a new anonymous mapping at an address of the kernel's choosing touches no
    // existing memory.
    let r = unsafe {
        sys::syscall6(nr::MMAP, 0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, usize::MAX, 0)
    };
    // The kernel returns -errno (a value in the last page of the address space) on error.
    if (r as usize) > usize::MAX - 4095 {
        None
    } else {
        Some(r as *mut u8)
    }
}

/// Unmaps a mapping [`mmap`] made.
///
/// # Safety
/// `p..p+len` must be a mapping of this heap's that nothing uses any more.
unsafe fn munmap(p: *mut u8, len: usize) {
    // SAFETY: the caller's promise.
    unsafe { sys::syscall2(nr::MUNMAP, p as usize, len) };
}

/// Changes protection of a page-aligned range; false on failure. Callers only change
/// mappings they made for the purpose (linear memory, the stack guard), so no Rust
/// object loses access.
pub fn mprotect(p: *mut u8, len: usize, prot: usize) -> bool {
    // SAFETY: see above; the kernel checks the range itself.
    unsafe { sys::syscall3(nr::MPROTECT, p as usize, len, prot) == 0 }
}

/// A vector of `n` zero bytes, or `None` when there is not the memory for it. A buffer
/// above the size classes is a fresh mapping, which is zero already, so it is not
/// written (`alloc_zeroed`): reading a file into it touches each page once, not twice.
pub fn try_zeroed(n: usize) -> Option<alloc::vec::Vec<u8>> {
    if n == 0 {
        return Some(alloc::vec::Vec::new());
    }
    let layout = Layout::array::<u8>(n).ok()?;
    // SAFETY: the layout's size is not zero.
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is a block of the global allocator for `n` bytes of alignment 1, all
    // initialised (zero); the vector owns it from here and frees it with that layout.
    Some(unsafe { alloc::vec::Vec::from_raw_parts(p, n, n) })
}

const MIN_SHIFT: usize = 4; // 16 bytes
const MAX_SHIFT: usize = 11; // 2 KiB; larger requests get their own mapping
const CLASSES: usize = MAX_SHIFT - MIN_SHIFT + 1;
const ARENA: usize = 64 * 1024;

struct State {
    free: [*mut u8; CLASSES],
    bump: usize,
    bump_end: usize,
}

/// The global allocator. Main flow only: signal handlers never allocate.
pub struct Heap(MainCell<State>);

impl Heap {
    pub const fn new() -> Heap {
        Heap(MainCell::new(State { free: [null_mut(); CLASSES], bump: 0, bump_end: 0 }))
    }
}

fn round_pages(n: usize) -> usize {
    (n + PAGE - 1) & !(PAGE - 1)
}

/// Size class for a layout, or None when it goes to a private mapping.
fn class_of(l: &Layout) -> Option<usize> {
    let need = l.size().max(l.align()).max(1 << MIN_SHIFT);
    if need > 1 << MAX_SHIFT {
        return None;
    }
    let shift = usize::BITS as usize - (need - 1).leading_zeros() as usize;
    Some(shift - MIN_SHIFT)
}

impl State {
    /// A block for a small layout of class `c`, or null.
    fn alloc_small(&mut self, c: usize) -> *mut u8 {
        let head = self.free[c];
        if !head.is_null() {
            // SAFETY: a free-list block is at least 16 bytes, aligned, unused, and its
            // first word is the next block (written by `free_small`).
            self.free[c] = unsafe { *(head as *mut *mut u8) };
            return head;
        }
        let size = 1usize << (c + MIN_SHIFT);
        // Blocks are naturally aligned to their size: arenas are page aligned and every
        // block carved from one is rounded up to its class size.
        let mut p = (self.bump + size - 1) & !(size - 1);
        if self.bump == 0 || p + size > self.bump_end {
            let Some(a) = mmap(ARENA, PROT_RW, 0) else { return null_mut() };
            self.bump_end = a as usize + ARENA;
            p = a as usize;
        }
        self.bump = p + size;
        p as *mut u8
    }

    /// Puts block `p` of class `c` on its free list.
    ///
    /// # Safety
    /// `p` must be a block `alloc_small(c)` returned that nothing uses any more.
    unsafe fn free_small(&mut self, p: *mut u8, c: usize) {
        // SAFETY: the block is ours, unused and at least a word long (caller).
        unsafe { *(p as *mut *mut u8) = self.free[c] };
        self.free[c] = p;
    }
}

// SAFETY: blocks are distinct (a block is handed out once until freed), of at least the
// layout's size and alignment (size classes are powers of two, naturally aligned;
// private mappings are page-aligned and larger alignments are refused); the state is
// reached only through `MainCell::with`, which nothing here re-enters.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let Some(c) = class_of(&l) else {
            // mmap memory is page aligned; larger alignments are not needed by the runtime.
            if l.align() > PAGE {
                return null_mut();
            }
            return mmap(round_pages(l.size()), PROT_RW, 0).unwrap_or(null_mut());
        };
        self.0.with(|st| st.alloc_small(c))
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        match class_of(&l) {
            // SAFETY: `p` came from `alloc` with the same layout, so from class `c`
            // (GlobalAlloc's contract).
            Some(c) => self.0.with(|st| unsafe { st.free_small(p, c) }),
            // SAFETY: as above, a private mapping of that rounded size.
            None => unsafe { munmap(p, round_pages(l.size())) },
        }
    }

    // Fresh mappings are already zero; only recycled small blocks need clearing.
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract is passed on.
        let p = unsafe { self.alloc(l) };
        if !p.is_null() && class_of(&l).is_some() {
            // SAFETY: a fresh block of at least `l.size()` bytes.
            unsafe { core::ptr::write_bytes(p, 0, l.size()) };
        }
        p
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let old_c = class_of(&l);
        // SAFETY: GlobalAlloc's contract: `new_size` rounded up to `l.align()` does not
        // overflow isize, and the alignment is `l`'s, a power of two.
        let new_l = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        match (old_c, class_of(&new_l)) {
            (Some(a), Some(b)) if a == b => p,
            (None, None) => {
                // SAFETY: `p` is a private mapping of the old rounded size (GlobalAlloc's
                // contract); MREMAP_MAYMOVE moves it whole or fails leaving it intact.
                let r = unsafe { sys::syscall4(nr::MREMAP, p as usize, round_pages(l.size()), round_pages(new_size), MREMAP_MAYMOVE) };
                if (r as usize) > usize::MAX - 4095 { null_mut() } else { r as *mut u8 }
            }
            _ => {
                // SAFETY: GlobalAlloc's contract is passed on; the old and new blocks are
                // distinct and each at least the copied size.
                unsafe {
                    let q = self.alloc(new_l);
                    if !q.is_null() {
                        core::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                        self.dealloc(p, l);
                    }
                    q
                }
            }
        }
    }
}
