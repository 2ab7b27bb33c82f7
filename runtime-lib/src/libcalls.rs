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

use crate::instance::{bytes, desc, dropped_data, dropped_elems, grow_memory, grow_table, slice, table, table_types};
use crate::Global;
use abi_spec::{Bytes, Trap, VmCtx};

/// Return address of the latest trapping-capable libcall (written by the stubs).
static LIBCALL_RA: Global<usize> = Global::new(0);

fn trap(t: Trap) -> ! {
    crate::trap::report_at_return_address(t, unsafe { *LIBCALL_RA.get() })
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

/// Checks `off + len <= size` for Wasm u32 operands.
#[inline]
fn in_bounds(off: i32, len: i32, size: u64) -> bool {
    off as u32 as u64 + len as u32 as u64 <= size
}

/// Address of linear-memory byte `off` (bounds already checked).
unsafe fn mem(v: *mut VmCtx, off: i32) -> *mut u8 {
    ((*v).memory_base + off as u32 as u64) as *mut u8
}

#[no_mangle]
pub extern "C" fn wasmc_memory_grow(vmctx: *mut VmCtx, delta_pages: i32) -> i32 {
    grow_memory(vmctx, delta_pages as u32 as u64) as i32
}

extern "C" fn memory_fill(v: *mut VmCtx, dst: i32, val: i32, len: i32) {
    unsafe {
        if !in_bounds(dst, len, (*v).memory_size) {
            trap(Trap::MemoryOutOfBounds);
        }
        core::ptr::write_bytes(mem(v, dst), val as u8, len as u32 as usize);
    }
}

extern "C" fn memory_copy(v: *mut VmCtx, dst: i32, src: i32, len: i32) {
    unsafe {
        let size = (*v).memory_size;
        if !in_bounds(dst, len, size) || !in_bounds(src, len, size) {
            trap(Trap::MemoryOutOfBounds);
        }
        core::ptr::copy(mem(v, src), mem(v, dst), len as u32 as usize);
    }
}

/// The bytes of data segment `seg`; empty once dropped.
fn data_segment(seg: i32) -> &'static [u8] {
    let d = desc();
    let segs: &[Bytes] = unsafe { slice(d.data_segments, d.num_data_segments) };
    match segs.get(seg as u32 as usize) {
        Some(b) if !dropped_data().get(seg as u32 as usize) => bytes(b),
        _ => &[],
    }
}

extern "C" fn memory_init(v: *mut VmCtx, seg: i32, dst: i32, src: i32, len: i32) {
    let data = data_segment(seg);
    unsafe {
        if !in_bounds(src, len, data.len() as u64) || !in_bounds(dst, len, (*v).memory_size) {
            trap(Trap::MemoryOutOfBounds);
        }
        core::ptr::copy_nonoverlapping(data.as_ptr().add(src as u32 as usize), mem(v, dst), len as u32 as usize);
    }
}

#[no_mangle]
pub extern "C" fn wasmc_data_drop(_vmctx: *mut VmCtx, seg: i32) {
    dropped_data().set(seg as u32 as usize);
}

#[no_mangle]
pub extern "C" fn wasmc_table_grow(vmctx: *mut VmCtx, table: i32, init: i64, delta: i32) -> i32 {
    grow_table(vmctx, table as u32, delta as u32 as u64, init as u64) as i32
}

/// Table `t` as (element pointer, length); traps on a bad table index.
unsafe fn tab(v: *mut VmCtx, t: i32) -> (*mut u64, u64) {
    if t as u32 as usize >= table_types().len() {
        trap(Trap::TableOutOfBounds);
    }
    let ti = table(v, t as u32);
    (ti.base as *mut u64, ti.len)
}

extern "C" fn table_fill(v: *mut VmCtx, t: i32, dst: i32, val: i64, len: i32) {
    unsafe {
        let (base, n) = tab(v, t);
        if !in_bounds(dst, len, n) {
            trap(Trap::TableOutOfBounds);
        }
        for i in 0..len as u32 as usize {
            *base.add(dst as u32 as usize + i) = val as u64;
        }
    }
}

extern "C" fn table_copy(v: *mut VmCtx, dst_t: i32, src_t: i32, dst: i32, src: i32, len: i32) {
    unsafe {
        let (db, dn) = tab(v, dst_t);
        let (sb, sn) = tab(v, src_t);
        if !in_bounds(dst, len, dn) || !in_bounds(src, len, sn) {
            trap(Trap::TableOutOfBounds);
        }
        if len == 0 {
            return; // an empty table may have a null base, invalid even for 0-length copies
        }
        core::ptr::copy(sb.add(src as u32 as usize), db.add(dst as u32 as usize), len as u32 as usize);
    }
}

extern "C" fn table_init(v: *mut VmCtx, t: i32, seg: i32, dst: i32, src: i32, len: i32) {
    let d = desc();
    let segs: &[Bytes] = unsafe { slice(d.elem_segments, d.num_elem_segments) };
    let elems = match segs.get(seg as u32 as usize) {
        Some(b) if !dropped_elems().get(seg as u32 as usize) => bytes(b),
        _ => &[],
    };
    unsafe {
        let (base, n) = tab(v, t);
        if !in_bounds(src, len, elems.len() as u64 / 8) || !in_bounds(dst, len, n) {
            trap(Trap::TableOutOfBounds);
        }
        let from = elems.as_ptr() as *const u64;
        for i in 0..len as u32 as usize {
            let e = from.add(src as u32 as usize + i).read_unaligned();
            *base.add(dst as u32 as usize + i) = e;
        }
    }
}

#[no_mangle]
pub extern "C" fn wasmc_elem_drop(_vmctx: *mut VmCtx, seg: i32) {
    dropped_elems().set(seg as u32 as usize);
}
