//! Instantiation from the compiler's module descriptor: the vmctx, linear memory and
//! tables, plus the runtime state a checkpoint needs (dropped segments).

use crate::print::fatal;
use crate::Global;
use abi_spec::{ModuleDesc, TableInstance, TableType, VmCtx, WASM_PAGE};
use alloc::alloc::{alloc_zeroed, realloc, Layout};
use alloc::vec::Vec;
use core::cell::Cell;

extern "C" {
    /// Emitted by the compiler (`abi_spec::sym::MODULE`).
    static wasmc_module: ModuleDesc;
}

/// The module descriptor.
pub fn desc() -> &'static ModuleDesc {
    unsafe { &wasmc_module }
}

/// Tables never grow beyond this many elements even without a declared maximum.
pub const TABLE_ELEMS_CAP: u64 = 10_000_000;
/// Pages addressable with an i32 index.
pub const MAX_PAGES: u64 = 65536;

/// A fixed-size bit set (dropped data / element segments).
pub struct Bitset {
    words: Vec<Cell<u64>>,
    len: usize,
}

impl Bitset {
    fn new(len: usize) -> Bitset {
        Bitset { words: (0..len.div_ceil(64)).map(|_| Cell::new(0)).collect(), len }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64].get() & (1 << (i % 64)) != 0
    }
    pub fn set(&self, i: usize) {
        if i < self.len {
            let w = &self.words[i / 64];
            w.set(w.get() | 1 << (i % 64));
        }
    }
}

/// Runtime-private state; `VmCtx::runtime` points here.
pub struct Runtime {
    pub vmctx: *mut VmCtx,
    /// Start of the linear-memory reservation (`MEMORY_RESERVATION` bytes), 0 if none.
    pub memory_reservation: usize,
    /// Effective maximum of linear memory in pages.
    pub memory_max_pages: u64,
    pub dropped_data: Bitset,
    pub dropped_elems: Bitset,
}

static RUNTIME: Global<Option<Runtime>> = Global::new(None);

/// The runtime state; only valid after [`instantiate`].
pub fn runtime() -> &'static mut Runtime {
    unsafe { (*RUNTIME.get()).as_mut().unwrap_or_else(|| fatal(&[b"internal error: no instance"])) }
}

/// The vmctx, or null before instantiation (safe from signal handlers).
pub fn vmctx_or_null() -> *mut VmCtx {
    unsafe { (*RUNTIME.get()).as_ref().map_or(core::ptr::null_mut(), |r| r.vmctx) }
}

/// Data segments dropped so far (`data.drop`, or active segments after instantiation).
pub fn dropped_data() -> &'static Bitset {
    &runtime().dropped_data
}

/// Element segments dropped so far.
pub fn dropped_elems() -> &'static Bitset {
    &runtime().dropped_elems
}

/// The module's table types.
pub fn table_types() -> &'static [TableType] {
    let d = desc();
    unsafe { slice(d.tables, d.num_tables) }
}

/// The `i`th table instance inside the vmctx (caller checks `i < num_tables`).
pub unsafe fn table(vmctx: *mut VmCtx, i: u32) -> &'static mut TableInstance {
    let off = abi_spec::table_offset(desc().num_globals, i) as usize;
    &mut *((vmctx as *mut u8).add(off) as *mut TableInstance)
}

/// A slice of `n` descriptor entries at address `p` (may be 0 when `n` is 0).
pub unsafe fn slice<T>(p: u64, n: u32) -> &'static [T] {
    if n == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(p as *const T, n as usize)
    }
}

/// The bytes a descriptor [`abi_spec::Bytes`] refers to.
pub fn bytes(b: &abi_spec::Bytes) -> &'static [u8] {
    if b.len == 0 {
        &[]
    } else {
        unsafe { core::slice::from_raw_parts(b.ptr as *const u8, b.len as usize) }
    }
}

/// Builds the vmctx, linear memory and tables. Globals stay zero: the generated init
/// function sets them.
pub fn instantiate() -> *mut VmCtx {
    let d = desc();
    if d.abi_version != abi_spec::ABI_VERSION {
        fatal(&[b"module was compiled for another runtime ABI version"]);
    }
    let size = (d.vmctx_size as usize).max(abi_spec::vmctx_size(d.num_globals, d.num_tables) as usize);
    let vmctx = unsafe { alloc_zeroed(Layout::from_size_align_unchecked(size, 16)) } as *mut VmCtx;
    if vmctx.is_null() {
        fatal(&[b"out of memory allocating the instance"]);
    }
    let mut rt = Runtime {
        vmctx,
        memory_reservation: 0,
        memory_max_pages: 0,
        dropped_data: Bitset::new(d.num_data_segments as usize),
        dropped_elems: Bitset::new(d.num_elem_segments as usize),
    };
    let v = unsafe { &mut *vmctx };
    v.depth_left = abi_spec::MAX_CALL_DEPTH;
    // Migration points store their values here before calling the runtime.
    let scratch_bytes = (d.max_point_values as usize).max(1) * 8;
    let scratch = unsafe { alloc_zeroed(Layout::from_size_align_unchecked(scratch_bytes, 16)) };
    if scratch.is_null() {
        fatal(&[b"out of memory allocating the instance"]);
    }
    v.mig_scratch = scratch as u64;
    v.module = d as *const ModuleDesc as u64;
    if d.has_memory != 0 {
        let prefix = abi_spec::MEMORY_PREFIX as usize;
        let start = crate::heap::mmap(prefix + abi_spec::MEMORY_RESERVATION as usize, crate::heap::PROT_NONE, crate::heap::MAP_NORESERVE)
            .unwrap_or_else(|| fatal(&[b"cannot reserve address space for linear memory"]));
        // The prefix is a multiple of any page size, so memory stays page-aligned.
        if !crate::heap::mprotect(start, prefix, crate::heap::PROT_RW) {
            fatal(&[b"cannot map the page below linear memory"]);
        }
        let base = unsafe { start.add(prefix) };
        crate::migrate::set_state_mirror(unsafe { base.offset(abi_spec::MIG_STATE_MIRROR as isize) } as *mut u32);
        rt.memory_reservation = base as usize;
        rt.memory_max_pages = d.memory_max_pages.min(MAX_PAGES);
        if d.memory_min_pages > rt.memory_max_pages {
            fatal(&[b"linear memory minimum exceeds its maximum"]);
        }
        let bytes = (d.memory_min_pages * WASM_PAGE) as usize;
        if bytes > 0 && !crate::heap::mprotect(base, bytes, crate::heap::PROT_RW) {
            fatal(&[b"out of memory allocating linear memory"]);
        }
        v.memory_base = base as u64;
        v.memory_size = bytes as u64;
    }
    for (i, t) in table_types().iter().enumerate() {
        let ti = unsafe { table(vmctx, i as u32) };
        if t.min > TABLE_ELEMS_CAP {
            fatal(&[b"table too large"]);
        }
        if t.min > 0 {
            let p = unsafe { alloc_zeroed(Layout::from_size_align_unchecked(t.min as usize * 8, 8)) };
            if p.is_null() {
                fatal(&[b"out of memory allocating a table"]);
            }
            ti.base = p as u64;
        }
        ti.len = t.min;
    }
    unsafe {
        *RUNTIME.get() = Some(rt);
        v.runtime = (*RUNTIME.get()).as_mut().unwrap() as *mut Runtime as u64;
    }
    vmctx
}

/// `memory.grow`: old size in pages, or -1 when the maximum or the kernel says no.
pub fn grow_memory(vmctx: *mut VmCtx, delta_pages: u64) -> i64 {
    let rt = runtime();
    let v = unsafe { &mut *vmctx };
    let old = v.memory_size / WASM_PAGE;
    if rt.memory_reservation == 0 {
        return if delta_pages == 0 { 0 } else { -1 };
    }
    let new = old + delta_pages;
    if new > rt.memory_max_pages {
        return -1;
    }
    if delta_pages > 0 {
        let start = (rt.memory_reservation + v.memory_size as usize) as *mut u8;
        if !crate::heap::mprotect(start, (delta_pages * WASM_PAGE) as usize, crate::heap::PROT_RW) {
            return -1;
        }
        v.memory_size = new * WASM_PAGE;
    }
    old as i64
}

/// `table.grow`: old length, or -1 beyond the maximum or when allocation fails. New
/// elements are set to `init`.
pub fn grow_table(vmctx: *mut VmCtx, index: u32, delta: u64, init: u64) -> i64 {
    let Some(tt) = table_types().get(index as usize) else { return -1 };
    let t = unsafe { table(vmctx, index) };
    let old = t.len;
    let new = old + delta;
    if new > tt.max.min(TABLE_ELEMS_CAP) {
        return -1;
    }
    if delta == 0 {
        return old as i64;
    }
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
        unsafe { *p.add(i as usize) = init };
    }
    t.base = p as u64;
    t.len = new;
    old as i64
}
