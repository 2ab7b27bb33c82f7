//! Instantiation from the compiler's module descriptor: the vmctx, linear memory and
//! tables, plus the runtime state a checkpoint needs (dropped segments). [`Vm`] is the
//! one way to read and write the vmctx, including `mig_state`, which signal handlers
//! write too.

use crate::cell::MainCell;
use crate::print::fatal;
use abi_spec::{ModuleDesc, TableInstance, TableType, VmCtx, WASM_PAGE};
use alloc::alloc::{alloc_zeroed, realloc, Layout};
use alloc::vec::Vec;
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering::SeqCst};

extern "C" {
    /// Emitted by the compiler (`abi_spec::sym::MODULE`).
    static wasmc_module: ModuleDesc;
}

/// The module descriptor: immutable data, so signal handlers may read it too.
pub fn desc() -> &'static ModuleDesc {
    // SAFETY: the compiler emits `wasmc_module` in every executable as read-only data of
    // this layout (abi-spec §1.2); nothing writes it.
    unsafe { &wasmc_module }
}

/// Tables never grow beyond this many elements even without a declared maximum.
pub const TABLE_ELEMS_CAP: u64 = 10_000_000;
/// Pages addressable with an i32 index.
pub const MAX_PAGES: u64 = 65536;

/// A fixed-size bit set (dropped data / element segments).
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    fn new(len: usize) -> Bitset {
        Bitset { words: alloc::vec![0; len.div_ceil(64)], len }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1 << (i % 64)) != 0
    }
    pub fn set(&mut self, i: usize) {
        if i < self.len {
            self.words[i / 64] |= 1 << (i % 64);
        }
    }
}

/// Runtime-private instance state.
pub struct Runtime {
    /// Effective maximum of linear memory in pages.
    pub memory_max_pages: u64,
    pub dropped_data: Bitset,
    pub dropped_elems: Bitset,
}

/// Main flow only (instantiation, libcalls, checkpoints); `None` before [`instantiate`].
static RUNTIME: MainCell<Option<Runtime>> = MainCell::new(None);

/// Runs `f` on the runtime state; only valid after [`instantiate`].
pub fn with_runtime<R>(f: impl FnOnce(&mut Runtime) -> R) -> R {
    RUNTIME.with(|r| f(r.as_mut().unwrap_or_else(|| fatal(&[b"internal error: no instance"]))))
}

/// The vmctx, null before [`instantiate`] has finished. Written once by the main flow;
/// read by the SIGUSR1 handler, hence atomic.
static VMCTX: AtomicPtr<VmCtx> = AtomicPtr::new(null_mut());

/// Start of linear memory (0 without one, or before instantiation has finished). Written
/// once by the main flow; read by the fault handler to tell a Wasm out-of-bounds access
/// from a runtime bug, hence atomic.
static MEMORY: AtomicUsize = AtomicUsize::new(0);

/// The poll prefixes (`abi_spec::MEMORY_PREFIX` bytes each, below the vmctx and below
/// linear memory; null without a memory), which [`arm_polls`] makes unreadable. Set at
/// instantiation; read by signal handlers, hence atomic.
static VMCTX_POLLS: AtomicPtr<u8> = AtomicPtr::new(null_mut());
static MEMORY_POLLS: AtomicPtr<u8> = AtomicPtr::new(null_mut());

/// Sets every poll word (non-zero: polls take their cold path, which counts down, or at
/// an entry restores). The words are the last `abi_spec::POLL_WORDS` of each poll
/// prefix. Only called while the prefixes are readable (not armed).
pub fn set_poll_words(on: bool) {
    for p in [&VMCTX_POLLS, &MEMORY_POLLS] {
        let p = p.load(SeqCst);
        if p.is_null() {
            continue;
        }
        for i in 0..abi_spec::POLL_WORDS as usize {
            let at = abi_spec::MEMORY_PREFIX as usize - 8 - 4 * i;
            // SAFETY: `at` lies in the prefix mapping, read-write while not armed; the
            // words are 4-byte aligned and Rust only accesses them atomically
            // (generated code only reads them).
            unsafe { AtomicU32::from_ptr(p.add(at) as *mut u32) }.store(on as u32, SeqCst);
        }
    }
}

/// Makes the poll pages unreadable (`true`), so the next migration poll faults, or
/// readable again. Safe in signal handlers (two `mprotect` calls). Returns false if the
/// kernel refused.
pub fn arm_polls(armed: bool) -> bool {
    let prot = if armed { crate::heap::PROT_NONE } else { crate::heap::PROT_RW };
    [&VMCTX_POLLS, &MEMORY_POLLS].iter().all(|p| {
        let p = p.load(SeqCst);
        p.is_null() || crate::heap::mprotect(p, abi_spec::MEMORY_PREFIX as usize, prot)
    })
}

/// The instance's vmctx. Only [`instantiate`] makes one, and [`Vm::from_raw`] for the
/// pointer generated code passes (the same one), so every accessor may rely on it
/// pointing at the live vmctx, which is never freed. Fields are read and written through
/// the raw pointer, never through a reference: a signal handler may write `mig_state`
/// at any moment, and a live `&VmCtx` or `&mut VmCtx` would make that undefined.
#[derive(Clone, Copy)]
pub struct Vm(NonNull<VmCtx>);

/// A table as the vmctx records it: `len` 8-byte elements at `base`.
#[derive(Clone, Copy)]
pub struct Table {
    pub base: *mut u64,
    pub len: u64,
}

impl Vm {
    /// # Safety
    /// `vmctx` must be the pointer [`instantiate`] returned: what generated code passes
    /// to every runtime function.
    pub unsafe fn from_raw(vmctx: *mut VmCtx) -> Vm {
        // SAFETY: the vmctx is a live allocation (caller), so not null.
        Vm(unsafe { NonNull::new_unchecked(vmctx) })
    }

    /// The vmctx once [`instantiate`] has finished; safe in signal handlers.
    pub fn get() -> Option<Vm> {
        NonNull::new(VMCTX.load(SeqCst)).map(Vm)
    }

    pub fn as_ptr(self) -> *mut VmCtx {
        self.0.as_ptr()
    }

    pub fn memory_base(self) -> u64 {
        // SAFETY: a live vmctx (type invariant); a plain field read through the pointer.
        unsafe { (*self.as_ptr()).memory_base }
    }

    pub fn memory_size(self) -> u64 {
        // SAFETY: as in `memory_base`.
        unsafe { (*self.as_ptr()).memory_size }
    }

    fn set_memory_size(self, bytes: u64) {
        // SAFETY: as in `memory_base`; only the main flow writes it, between Wasm calls.
        unsafe { (*self.as_ptr()).memory_size = bytes }
    }

    /// The call-depth argument a call from the runtime into Wasm code passes (generated
    /// entries read it: `wasmc_init`, export trampolines; `migrate::run_entry`).
    pub fn depth_left(self) -> u64 {
        // SAFETY: as in `memory_base`.
        unsafe { (*self.as_ptr()).depth_left }
    }

    /// Resets the call-depth budget (after the harness abandoned a trapped call).
    pub fn set_depth_left(self, n: u64) {
        // SAFETY: as in `memory_base`.
        unsafe { (*self.as_ptr()).depth_left = n }
    }

    /// Sets the countdown generated code decrements while the poll words are set.
    /// Volatile: the compiler must not assume generated code leaves the word alone.
    pub fn set_countdown(self, n: u64) {
        // SAFETY: as in `memory_base`; the field is aligned and only this thread writes it.
        unsafe { core::ptr::write_volatile(&raw mut (*self.as_ptr()).countdown, n) }
    }

    /// Sets `mig_state`. Safe in signal handlers.
    pub fn set_mig_state(self, s: u32) {
        // SAFETY: the word is 4-byte aligned in the live vmctx, and every access to it
        // from Rust is atomic (generated code only reads it, on this same thread).
        unsafe { AtomicU32::from_ptr(&raw mut (*self.as_ptr()).mig_state) }.store(s, SeqCst);
    }

    /// The address of global `i`'s slot; stops the process if there is no such global.
    fn global_slot(self, i: u32) -> *mut u64 {
        if i >= desc().num_globals {
            fatal(&[b"internal error: global index out of range"]);
        }
        // SAFETY: the vmctx holds `num_globals` 16-byte slots from `global_offset(0)`
        // (it was allocated with `vmctx_size`), and `i` is one of them.
        unsafe { (self.as_ptr() as *mut u8).add(abi_spec::global_offset(i) as usize) as *mut u64 }
    }

    /// The low 64 bits of global `i` (all of any scalar or reference).
    pub fn global(self, i: u32) -> u64 {
        // SAFETY: an aligned slot of the live vmctx; no Wasm code runs meanwhile.
        unsafe { *self.global_slot(i) }
    }

    pub fn set_global(self, i: u32, v: u64) {
        // SAFETY: as in `global`.
        unsafe { *self.global_slot(i) = v }
    }

    /// The `TableInstance` of table `i`; stops the process if there is no such table.
    fn table_slot(self, i: u32) -> *mut TableInstance {
        let d = desc();
        if i >= d.num_tables {
            fatal(&[b"internal error: table index out of range"]);
        }
        // SAFETY: the vmctx holds `num_tables` table instances after the globals, and `i`
        // is one of them.
        unsafe { (self.as_ptr() as *mut u8).add(abi_spec::table_offset(d.num_globals, i) as usize) as *mut TableInstance }
    }

    pub fn table(self, i: u32) -> Table {
        let t = self.table_slot(i);
        // SAFETY: an aligned table instance of the live vmctx; no Wasm code runs meanwhile.
        unsafe { Table { base: (*t).base as *mut u64, len: (*t).len } }
    }

    fn set_table(self, i: u32, table: Table) {
        let t = self.table_slot(i);
        // SAFETY: as in `table`.
        unsafe {
            (*t).base = table.base as u64;
            (*t).len = table.len;
        }
    }
}

/// Start of linear memory, 0 without one (or before instantiation). Safe in signal
/// handlers.
pub fn memory_start() -> usize {
    MEMORY.load(SeqCst)
}

/// The module's table types.
pub fn table_types() -> &'static [TableType] {
    let d = desc();
    // SAFETY: the descriptor's `tables` holds `num_tables` entries (abi-spec §1.2).
    unsafe { slice(d.tables, d.num_tables) }
}

/// A slice of `n` descriptor entries at address `p` (may be 0 when `n` is 0).
///
/// # Safety
/// Unless `n` is 0, `p` must be the address of `n` initialised `T`s that are never
/// written (descriptor tables are).
pub unsafe fn slice<T>(p: u64, n: u32) -> &'static [T] {
    if n == 0 {
        &[]
    } else {
        // SAFETY: the caller's promise.
        unsafe { core::slice::from_raw_parts(p as *const T, n as usize) }
    }
}

/// The bytes a descriptor [`abi_spec::Bytes`] refers to.
pub fn bytes(b: &abi_spec::Bytes) -> &'static [u8] {
    if b.len == 0 {
        &[]
    } else {
        // SAFETY: every `Bytes` the compiler emits points at `len` bytes of read-only
        // data (abi-spec §1.2), and only descriptor `Bytes` exist in the runtime.
        unsafe { core::slice::from_raw_parts(b.ptr as *const u8, b.len as usize) }
    }
}

/// `n` zeroed bytes aligned to `align` (a power of two), or stops the process.
fn alloc_or_die(n: usize, align: usize, what: &[u8]) -> *mut u8 {
    let Ok(layout) = Layout::from_size_align(n, align) else { fatal(&[what]) };
    // SAFETY: callers ask for at least one byte (`alloc_zeroed` needs a non-zero size).
    let p = unsafe { alloc_zeroed(layout) };
    if p.is_null() {
        fatal(&[what]);
    }
    p
}

/// Builds the vmctx, linear memory and tables. Globals stay zero: the generated init
/// function sets them.
pub fn instantiate() -> Vm {
    let d = desc();
    if d.abi_version != abi_spec::ABI_VERSION {
        fatal(&[b"module was compiled for another runtime ABI version"]);
    }
    let size = (d.vmctx_size as usize).max(abi_spec::vmctx_size(d.num_globals, d.num_tables) as usize);
    let oom: &[u8] = b"out of memory allocating the instance";
    // The vmctx sits right above its poll prefix (`abi_spec::VMCTX_POLL`).
    let prefix = abi_spec::MEMORY_PREFIX as usize;
    let polls = crate::heap::mmap(prefix + size, crate::heap::PROT_RW, 0).unwrap_or_else(|| fatal(&[oom]));
    VMCTX_POLLS.store(polls, SeqCst);
    // SAFETY: `prefix` bytes into the mapping just made, which has `size` more.
    let vm = Vm(NonNull::new(unsafe { polls.add(prefix) } as *mut VmCtx).unwrap_or_else(|| fatal(&[oom])));
    let mut rt = Runtime {
        memory_max_pages: 0,
        dropped_data: Bitset::new(d.num_data_segments as usize),
        dropped_elems: Bitset::new(d.num_elem_segments as usize),
    };
    vm.set_depth_left(abi_spec::MAX_CALL_DEPTH);
    let v = vm.as_ptr();
    // SAFETY: the vmctx was just allocated (zeroed, `size` bytes) and nothing else knows
    // it yet: no signal handler can see it before VMCTX is published below.
    unsafe {
        (*v).module = d as *const ModuleDesc as u64;
        // Opaque to generated code; the runtime itself reaches its state by `with_runtime`.
        (*v).runtime = &RUNTIME as *const MainCell<Option<Runtime>> as u64;
    }
    if d.has_memory != 0 {
        let start = crate::heap::mmap(prefix + abi_spec::MEMORY_RESERVATION as usize, crate::heap::PROT_NONE, crate::heap::MAP_NORESERVE)
            .unwrap_or_else(|| fatal(&[b"cannot reserve address space for linear memory"]));
        // The prefix is a multiple of any page size, so memory stays page-aligned.
        if !crate::heap::mprotect(start, prefix, crate::heap::PROT_RW) {
            fatal(&[b"cannot map the page below linear memory"]);
        }
        MEMORY_POLLS.store(start, SeqCst);
        // SAFETY: `prefix` bytes into the reservation just made.
        let base = unsafe { start.add(prefix) };
        rt.memory_max_pages = d.memory_max_pages.min(MAX_PAGES);
        if d.memory_min_pages > rt.memory_max_pages {
            fatal(&[b"linear memory minimum exceeds its maximum"]);
        }
        let bytes = (d.memory_min_pages * WASM_PAGE) as usize;
        if bytes > 0 && !crate::heap::mprotect(base, bytes, crate::heap::PROT_RW) {
            fatal(&[b"out of memory allocating linear memory"]);
        }
        // SAFETY: as above, the vmctx is still private to this function.
        unsafe { (*v).memory_base = base as u64 };
        vm.set_memory_size(bytes as u64);
    }
    for (i, t) in table_types().iter().enumerate() {
        if t.min > TABLE_ELEMS_CAP {
            fatal(&[b"table too large"]);
        }
        let base = if t.min > 0 { alloc_or_die(t.min as usize * 8, 8, b"out of memory allocating a table") } else { null_mut() };
        vm.set_table(i as u32, Table { base: base as *mut u64, len: t.min });
    }
    RUNTIME.with(|r| *r = Some(rt));
    // Published last: the fault handler takes a fault in memory for a Wasm trap, and the
    // SIGUSR1 handler writes `mig_state`, only once the instance is complete.
    MEMORY.store(vm.memory_base() as usize, SeqCst);
    VMCTX.store(vm.as_ptr(), SeqCst);
    vm
}

/// `memory.grow`: old size in pages, or -1 when the maximum or the kernel says no.
pub fn grow_memory(vm: Vm, delta_pages: u64) -> i64 {
    let size = vm.memory_size();
    let old = size / WASM_PAGE;
    let start = memory_start();
    if start == 0 {
        return if delta_pages == 0 { 0 } else { -1 };
    }
    let new = old + delta_pages;
    if new > with_runtime(|rt| rt.memory_max_pages) {
        return -1;
    }
    if delta_pages > 0 {
        if !crate::heap::mprotect((start + size as usize) as *mut u8, (delta_pages * WASM_PAGE) as usize, crate::heap::PROT_RW) {
            return -1;
        }
        vm.set_memory_size(new * WASM_PAGE);
    }
    old as i64
}

/// `table.grow`: old length, or -1 beyond the maximum or when allocation fails. New
/// elements are set to `init`.
pub fn grow_table(vm: Vm, index: u32, delta: u64, init: u64) -> i64 {
    let Some(tt) = table_types().get(index as usize) else { return -1 };
    let t = vm.table(index);
    let old = t.len;
    let new = old + delta;
    if new > tt.max.min(TABLE_ELEMS_CAP) {
        return -1;
    }
    if delta == 0 {
        return old as i64;
    }
    // SAFETY: align 8 is a power of two, and sizes of at most TABLE_ELEMS_CAP elements
    // cannot overflow; a table of length `old` > 0 was allocated with exactly the old
    // layout (here or in `instantiate`), and the new size is not zero.
    let p = unsafe {
        if old == 0 {
            alloc_zeroed(Layout::from_size_align_unchecked(new as usize * 8, 8))
        } else {
            realloc(t.base as *mut u8, Layout::from_size_align_unchecked(old as usize * 8, 8), new as usize * 8)
        }
    } as *mut u64;
    if p.is_null() {
        return -1;
    }
    for i in old..new {
        // SAFETY: `p` holds `new` elements.
        unsafe { *p.add(i as usize) = init };
    }
    vm.set_table(index, Table { base: p, len: new });
    old as i64
}
