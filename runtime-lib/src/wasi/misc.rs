//! Arguments, environment, clocks, randomness, process control and the socket stubs.

use super::carried::{self, linux_clock, now};
use super::mem::Mem;
use crate::errno::*;
use crate::host;
use crate::sys::{nr, syscall0, syscall3};
use abi_spec::VmCtx;

/// Writes `count` and the total size of the NUL-terminated strings.
fn sizes(mem: &Mem, list: &[&[u8]], count: u32, size: u32) -> Result<(), Errno> {
    mem.ptr(count, 4)?;
    mem.ptr(size, 4)?;
    let total: usize = list.iter().map(|s| s.len() + 1).sum();
    mem.write_u32(count, list.len() as u32)?;
    mem.write_u32(size, total as u32)
}

/// Writes the pointer array and the NUL-terminated strings they point at.
fn strings(mem: &Mem, list: &[&[u8]], ptrs: u32, buf: u32) -> Result<(), Errno> {
    mem.array(ptrs, list.len() as u32, 4)?;
    let total: usize = list.iter().map(|s| s.len() + 1).sum();
    mem.ptr(buf, total as u64)?;
    let mut at = buf;
    for (i, s) in list.iter().enumerate() {
        mem.write_u32(ptrs + 4 * i as u32, at)?;
        mem.write_bytes(at, s)?;
        mem.write_bytes(at + s.len() as u32, &[0])?;
        at += s.len() as u32 + 1;
    }
    Ok(())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_args_sizes_get(vmctx: *mut VmCtx, argc: u32, buf_size: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret(sizes(&mem, carried::args(), argc, buf_size))
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_args_get(vmctx: *mut VmCtx, argv: u32, buf: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret(strings(&mem, carried::args(), argv, buf))
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_environ_sizes_get(vmctx: *mut VmCtx, count: u32, buf_size: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret(sizes(&mem, carried::env(), count, buf_size))
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_environ_get(vmctx: *mut VmCtx, environ: u32, buf: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret(strings(&mem, carried::env(), environ, buf))
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_clock_res_get(vmctx: *mut VmCtx, id: u32, out: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(out, 8)?;
        let res = host::clock_getres(linux_clock(id)?)?;
        mem.write_u64(out, res)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_clock_time_get(vmctx: *mut VmCtx, id: u32, _precision: u64, out: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(out, 8)?;
        mem.write_u64(out, now(id)?)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_random_get(vmctx: *mut VmCtx, buf: u32, len: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let p = mem.ptr(buf, len as u64)?;
        let mut done = 0usize;
        // getrandom returns at most 32 MiB per call and may be interrupted: loop.
        while done < len as usize {
            // SAFETY: `p` points at `len` checked bytes of guest memory; the kernel
            // fills at most the `len - done` not yet filled.
            let r = unsafe { syscall3(nr::GETRANDOM, p.add(done) as usize, len as usize - done, 0) };
            if r == -(linux::EINTR as isize) {
                continue;
            }
            done += check(r)?;
        }
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_proc_exit(_vmctx: *mut VmCtx, code: u32) {
    crate::print::exit(code as i32)
}

/// Raising signals is not part of what wasmc supports (and is gone from later WASI).
#[no_mangle]
pub extern "C" fn wasmc_wasi_proc_raise(_vmctx: *mut VmCtx, _sig: u32) -> i32 {
    ENOSYS as i32
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_sched_yield(_vmctx: *mut VmCtx) -> i32 {
    // SAFETY: sched_yield touches no memory.
    unsafe { syscall0(nr::SCHED_YIELD) };
    0
}

// Preview 1 sockets only make sense with host-provided listening sockets, which wasmc
// does not preopen: every socket call is ENOTSUP.

#[no_mangle]
pub extern "C" fn wasmc_wasi_sock_accept(_vmctx: *mut VmCtx, _fd: u32, _flags: u32, _out: u32) -> i32 {
    ENOTSUP as i32
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_sock_recv(
    _vmctx: *mut VmCtx,
    _fd: u32,
    _iovs: u32,
    _n: u32,
    _flags: u32,
    _nread: u32,
    _oflags: u32,
) -> i32 {
    ENOTSUP as i32
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_sock_send(_vmctx: *mut VmCtx, _fd: u32, _iovs: u32, _n: u32, _flags: u32, _nw: u32) -> i32 {
    ENOTSUP as i32
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_sock_shutdown(_vmctx: *mut VmCtx, _fd: u32, _how: u32) -> i32 {
    ENOTSUP as i32
}
