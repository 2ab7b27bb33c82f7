//! Runtime functions generated code calls (`abi_spec::sym`): memory and table growth and
//! the bulk-memory / reference-type instructions.
//!
//! Bounds are checked as the Wasm spec says, in u64 so nothing overflows: an access of
//! `len` at `off` is fine iff `off + len <= size` (zero length exactly at the end is in
//! bounds), and nothing is written when it traps.
//!
//! The instructions that can trap are entered through tiny asm stubs that record the
//! return address into Wasm code before jumping to the Rust body, so a trap report can
//! name the calling function without unwinding (Rust gives no portable way to read the
//! return address).

use crate::instance::{bytes, desc, grow_memory, grow_table, slice, table_types, with_runtime, Table, Vm};
use abi_spec::{Bytes, Trap, VmCtx};
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// Return address of the latest trapping-capable libcall. Written by the stubs' asm on
/// every such call, read by the main flow when one traps; atomic so that the Rust side
/// never holds a plain reference to a word asm writes.
static LIBCALL_RA: AtomicUsize = AtomicUsize::new(0);

fn trap(t: Trap) -> ! {
    crate::trap::report_at_return_address(t, LIBCALL_RA.load(SeqCst))
}

/// Defines `$name` (an exported symbol) as a stub saving the return address, then
/// tail-jumping to `$imp`.
macro_rules! stub {
    ($name:literal, $imp:path) => {
        #[cfg(target_arch = "x86_64")]
        core::arch::global_asm!(
            concat!(".globl ", $name),
            concat!(".type ", $name, ",@function"),
            concat!($name, ":"),
            "mov rax, qword ptr [rsp]",
            "mov qword ptr [rip + {ra}], rax",
            "jmp {imp}",
            ra = sym LIBCALL_RA,
            imp = sym $imp,
        );
        #[cfg(target_arch = "aarch64")]
        core::arch::global_asm!(
            concat!(".globl ", $name),
            concat!(".type ", $name, ",%function"),
            concat!($name, ":"),
            "adrp x16, {ra}",
            "str x30, [x16, :lo12:{ra}]",
            "b {imp}",
            ra = sym LIBCALL_RA,
            imp = sym $imp,
        );
        #[cfg(target_arch = "riscv64")]
        core::arch::global_asm!(
            concat!(".globl ", $name),
            concat!(".type ", $name, ",@function"),
            concat!($name, ":"),
            "lla t0, {ra}",
            "sd ra, 0(t0)",
            "tail {imp}",
            ra = sym LIBCALL_RA,
            imp = sym $imp,
        );
    };
}

stub!("wasmc_memory_fill", memory_fill);
stub!("wasmc_memory_copy", memory_copy);
stub!("wasmc_memory_init", memory_init);
stub!("wasmc_table_fill", table_fill);
stub!("wasmc_table_copy", table_copy);
stub!("wasmc_table_init", table_init);

// The contract with generated code: each runtime function has exactly the type
// `abi_spec::libcall` gives it, from which the compiler builds its call signatures. A
// parameter changed on either side stops this build. (The stubs above forward their
// arguments unchanged to the functions checked here; the migration hooks are checked in
// `migrate`.)
const _: () = {
    use abi_spec::libcall::fn_type as t;
    let _: t::MemoryGrow = wasmc_memory_grow;
    let _: t::MemoryFill = memory_fill;
    let _: t::MemoryCopy = memory_copy;
    let _: t::MemoryInit = memory_init;
    let _: t::DataDrop = wasmc_data_drop;
    let _: t::TableGrow = wasmc_table_grow;
    let _: t::TableFill = table_fill;
    let _: t::TableCopy = table_copy;
    let _: t::TableInit = table_init;
    let _: t::ElemDrop = wasmc_elem_drop;
    let _: t::Trap = crate::trap::wasmc_trap;
};

/// Checks `off + len <= size` for Wasm u32 operands.
#[inline]
fn in_bounds(off: i32, len: i32, size: u64) -> bool {
    off as u32 as u64 + len as u32 as u64 <= size
}

/// The instance behind the vmctx generated code passed.
fn vm(vmctx: *mut VmCtx) -> Vm {
    // SAFETY: every caller is a runtime function generated code calls, which passes the
    // instance's vmctx (abi-spec §1.4).
    unsafe { Vm::from_raw(vmctx) }
}

/// Address of linear-memory byte `off` (bounds already checked).
fn mem(vm: Vm, off: i32) -> *mut u8 {
    (vm.memory_base() + off as u32 as u64) as *mut u8
}

#[no_mangle]
pub extern "C" fn wasmc_memory_grow(vmctx: *mut VmCtx, delta_pages: i32) -> i32 {
    grow_memory(vm(vmctx), delta_pages as u32 as u64) as i32
}

extern "C" fn memory_fill(v: *mut VmCtx, dst: i32, val: i32, len: i32) {
    let v = vm(v);
    if !in_bounds(dst, len, v.memory_size()) {
        trap(Trap::MemoryOutOfBounds);
    }
    // SAFETY: `dst..dst+len` lies inside linear memory (checked), which is read-write up
    // to its size; no reference to it is live.
    unsafe { core::ptr::write_bytes(mem(v, dst), val as u8, len as u32 as usize) };
}

extern "C" fn memory_copy(v: *mut VmCtx, dst: i32, src: i32, len: i32) {
    let v = vm(v);
    let size = v.memory_size();
    if !in_bounds(dst, len, size) || !in_bounds(src, len, size) {
        trap(Trap::MemoryOutOfBounds);
    }
    // SAFETY: both ranges lie inside linear memory (checked); `copy` allows overlap.
    unsafe { core::ptr::copy(mem(v, src), mem(v, dst), len as u32 as usize) };
}

/// The bytes of data segment `seg`; empty once dropped.
fn data_segment(seg: i32) -> &'static [u8] {
    let d = desc();
    // SAFETY: the descriptor's `data_segments` holds `num_data_segments` entries.
    let segs: &[Bytes] = unsafe { slice(d.data_segments, d.num_data_segments) };
    let i = seg as u32 as usize;
    match segs.get(i) {
        Some(b) if !with_runtime(|rt| rt.dropped_data.get(i)) => bytes(b),
        _ => &[],
    }
}

extern "C" fn memory_init(v: *mut VmCtx, seg: i32, dst: i32, src: i32, len: i32) {
    let v = vm(v);
    let data = data_segment(seg);
    if !in_bounds(src, len, data.len() as u64) || !in_bounds(dst, len, v.memory_size()) {
        trap(Trap::MemoryOutOfBounds);
    }
    // SAFETY: the source range lies inside the segment and the destination inside linear
    // memory (both checked); read-only descriptor data never overlaps linear memory.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr().add(src as u32 as usize), mem(v, dst), len as u32 as usize) };
}

#[no_mangle]
pub extern "C" fn wasmc_data_drop(_vmctx: *mut VmCtx, seg: i32) {
    with_runtime(|rt| rt.dropped_data.set(seg as u32 as usize));
}

#[no_mangle]
pub extern "C" fn wasmc_table_grow(vmctx: *mut VmCtx, table: i32, init: i64, delta: i32) -> i32 {
    grow_table(vm(vmctx), table as u32, delta as u32 as u64, init as u64) as i32
}

/// Table `t`; traps on a bad table index.
fn tab(v: Vm, t: i32) -> Table {
    if t as u32 as usize >= table_types().len() {
        trap(Trap::TableOutOfBounds);
    }
    v.table(t as u32)
}

extern "C" fn table_fill(v: *mut VmCtx, t: i32, dst: i32, val: i64, len: i32) {
    let t = tab(vm(v), t);
    if !in_bounds(dst, len, t.len) {
        trap(Trap::TableOutOfBounds);
    }
    for i in 0..len as u32 as usize {
        // SAFETY: `dst + i` is below the table's length (checked), so an element of it.
        unsafe { *t.base.add(dst as u32 as usize + i) = val as u64 };
    }
}

extern "C" fn table_copy(v: *mut VmCtx, dst_t: i32, src_t: i32, dst: i32, src: i32, len: i32) {
    let v = vm(v);
    let (d, s) = (tab(v, dst_t), tab(v, src_t));
    if !in_bounds(dst, len, d.len) || !in_bounds(src, len, s.len) {
        trap(Trap::TableOutOfBounds);
    }
    if len == 0 {
        return; // an empty table may have a null base, invalid even for 0-length copies
    }
    // SAFETY: both ranges lie inside their tables (checked); `copy` allows overlap (the
    // same table).
    unsafe { core::ptr::copy(s.base.add(src as u32 as usize), d.base.add(dst as u32 as usize), len as u32 as usize) };
}

extern "C" fn table_init(v: *mut VmCtx, t: i32, seg: i32, dst: i32, src: i32, len: i32) {
    let d = desc();
    // SAFETY: the descriptor's `elem_segments` holds `num_elem_segments` entries.
    let segs: &[Bytes] = unsafe { slice(d.elem_segments, d.num_elem_segments) };
    let i = seg as u32 as usize;
    let elems = match segs.get(i) {
        Some(b) if !with_runtime(|rt| rt.dropped_elems.get(i)) => bytes(b),
        _ => &[],
    };
    let t = tab(vm(v), t);
    if !in_bounds(src, len, elems.len() as u64 / 8) || !in_bounds(dst, len, t.len) {
        trap(Trap::TableOutOfBounds);
    }
    let from = elems.as_ptr() as *const u64;
    for i in 0..len as u32 as usize {
        // SAFETY: `src + i` is an element of the segment and `dst + i` one of the table
        // (both checked); segment data may be unaligned, hence `read_unaligned`.
        unsafe { *t.base.add(dst as u32 as usize + i) = from.add(src as u32 as usize + i).read_unaligned() };
    }
}

#[no_mangle]
pub extern "C" fn wasmc_elem_drop(_vmctx: *mut VmCtx, seg: i32) {
    with_runtime(|rt| rt.dropped_elems.set(seg as u32 as usize));
}
