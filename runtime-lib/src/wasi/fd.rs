//! The `fd_*` functions. Data goes straight to the host fd with readv/writev (no
//! buffering, so stdout/stderr interleave exactly as in a native program).

use super::flags::*;
use super::mem::{HostIovec, Mem};
use super::table::{self, FdEntry, Kind};
use crate::errno::*;
use crate::host;
use crate::sys::{nr, syscall2, syscall3, syscall4, syscall5};
use abi_spec::VmCtx;

/// Host fd of a guest fd.
pub fn host_fd(fd: u32) -> Result<i32, Errno> {
    entry(fd, |e| e.host_fd)
}

/// Runs `f` on the entry of guest fd `fd`; EBADF if there is none.
fn entry<R>(fd: u32, f: impl FnOnce(&mut FdEntry) -> R) -> Result<R, Errno> {
    table::with(|t| t.get(fd).map(f))
}

/// The host fd of `fd` when it is not a directory, else `dir_error`.
fn file_fd(fd: u32, dir_error: Errno) -> Result<i32, Errno> {
    entry(fd, |e| if e.is_dir() { Err(dir_error) } else { Ok(e.host_fd) })?
}

/// Runs a syscall again when a signal (e.g. the runtime's own) interrupted it, so the
/// guest never sees an EINTR it did not cause.
fn retry(mut f: impl FnMut() -> isize) -> Result<usize, Errno> {
    loop {
        let r = f();
        if r != -(linux::EINTR as isize) {
            return check(r);
        }
    }
}

fn rw(vmctx: *mut VmCtx, fd: u32, iovs: u32, n: u32, offset: Option<u64>, out: u32, write: bool) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(out, 4)?;
        let h = file_fd(fd, if offset.is_some() { EISDIR } else { EBADF })? as usize;
        let v: alloc::vec::Vec<HostIovec> = mem.iovecs(iovs, n)?;
        let (p, c) = (v.as_ptr() as usize, v.len());
        let done = match offset {
            None => {
                let call = if write { nr::WRITEV } else { nr::READV };
                // SAFETY: `v` holds `c` host iovecs, each a range of guest memory
                // `iovecs` checked, for the kernel to fill or send.
                retry(|| unsafe { syscall3(call, h, p, c) })?
            }
            Some(off) => {
                if off > i64::MAX as u64 {
                    return Err(EINVAL);
                }
                let call = if write { nr::PWRITEV } else { nr::PREADV };
                // 64-bit kernels take the whole offset in the "low" argument.
                // SAFETY: as for readv/writev above.
                retry(|| unsafe { syscall5(call, h, p, c, off as usize, 0) })?
            }
        };
        mem.write_u32(out, done as u32)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_read(vmctx: *mut VmCtx, fd: u32, iovs: u32, n: u32, nread: u32) -> i32 {
    rw(vmctx, fd, iovs, n, None, nread, false)
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_write(vmctx: *mut VmCtx, fd: u32, iovs: u32, n: u32, nwritten: u32) -> i32 {
    rw(vmctx, fd, iovs, n, None, nwritten, true)
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_pread(vmctx: *mut VmCtx, fd: u32, iovs: u32, n: u32, offset: u64, nread: u32) -> i32 {
    rw(vmctx, fd, iovs, n, Some(offset), nread, false)
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_pwrite(vmctx: *mut VmCtx, fd: u32, iovs: u32, n: u32, offset: u64, nw: u32) -> i32 {
    rw(vmctx, fd, iovs, n, Some(offset), nw, true)
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_seek(vmctx: *mut VmCtx, fd: u32, offset: i64, whence: u32, newoffset: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(newoffset, 8)?;
        let h = file_fd(fd, EBADF)?;
        // WASI whence SET/CUR/END are 0/1/2, as in Linux.
        if whence > 2 {
            return Err(EINVAL);
        }
        let pos = host::lseek(h, offset, whence)?;
        mem.write_u64(newoffset, pos)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_tell(vmctx: *mut VmCtx, fd: u32, offset: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(offset, 8)?;
        let pos = host::lseek(file_fd(fd, EBADF)?, 0, 1)?;
        mem.write_u64(offset, pos)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_close(_vmctx: *mut VmCtx, fd: u32) -> i32 {
    ret((|| {
        let e = table::with(|t| t.remove(fd))?;
        if e.owns_host_fd() {
            host::close(e.host_fd);
        }
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_sync(_vmctx: *mut VmCtx, fd: u32) -> i32 {
    // SAFETY: fsync touches no memory.
    ret(host_fd(fd).and_then(|h| check(unsafe { crate::sys::syscall1(nr::FSYNC, h as usize) }).map(drop)))
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_datasync(_vmctx: *mut VmCtx, fd: u32) -> i32 {
    // SAFETY: fdatasync touches no memory.
    ret(host_fd(fd).and_then(|h| check(unsafe { crate::sys::syscall1(nr::FDATASYNC, h as usize) }).map(drop)))
}

/// Advice is only a hint; accepting it without acting is allowed.
#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_advise(_vmctx: *mut VmCtx, fd: u32, _offset: u64, _len: u64, advice: u32) -> i32 {
    ret((|| {
        file_fd(fd, EBADF)?;
        if advice > 5 {
            return Err(EINVAL);
        }
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_allocate(_vmctx: *mut VmCtx, fd: u32, offset: u64, len: u64) -> i32 {
    ret((|| {
        let h = file_fd(fd, EBADF)? as usize;
        if offset > i64::MAX as u64 || len > i64::MAX as u64 {
            return Err(EINVAL);
        }
        // SAFETY: fallocate touches no memory.
        retry(|| unsafe { syscall4(nr::FALLOCATE, h, 0, offset as usize, len as usize) })?;
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_fdstat_get(vmctx: *mut VmCtx, fd: u32, buf: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(buf, 24)?;
        let (is_dir, host_fd, fdflags, base, inheriting) = entry(fd, |e| (e.is_dir(), e.host_fd, e.fdflags, e.rights_base, e.rights_inheriting))?;
        let filetype = if is_dir { 3 } else { host::filetype_of_mode(host::fstatx(host_fd)?.mode) };
        let mut b = [0u8; 24];
        b[0] = filetype;
        b[2..4].copy_from_slice(&fdflags.to_le_bytes());
        b[8..16].copy_from_slice(&base.to_le_bytes());
        b[16..24].copy_from_slice(&inheriting.to_le_bytes());
        mem.write_bytes(buf, &b)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_fdstat_set_flags(_vmctx: *mut VmCtx, fd: u32, flags: u32) -> i32 {
    ret((|| {
        let flags = flags as u16;
        if flags & !0x1f != 0 {
            return Err(EINVAL);
        }
        entry(fd, |e| {
            // F_SETFL can change only APPEND and NONBLOCK on Linux; the sync modes are
            // fixed at open.
            let sync = FDFLAGS_DSYNC | FDFLAGS_RSYNC | FDFLAGS_SYNC;
            if flags & sync != e.fdflags & sync {
                return Err(ENOTSUP);
            }
            let cur = host::fcntl(e.host_fd, host::F_GETFL, 0)?;
            let mut fl = cur & !(host::O_APPEND | host::O_NONBLOCK);
            fl |= fdflags_to_linux(flags & (FDFLAGS_APPEND | FDFLAGS_NONBLOCK));
            host::fcntl(e.host_fd, host::F_SETFL, fl)?;
            e.fdflags = flags;
            Ok(())
        })?
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_fdstat_set_rights(_vmctx: *mut VmCtx, fd: u32, base: u64, inheriting: u64) -> i32 {
    ret((|| {
        entry(fd, |e| {
            // Rights can only be dropped, never gained.
            if base & !e.rights_base != 0 || inheriting & !e.rights_inheriting != 0 {
                return Err(ENOTCAPABLE);
            }
            e.rights_base = base;
            e.rights_inheriting = inheriting;
            Ok(())
        })?
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_filestat_get(vmctx: *mut VmCtx, fd: u32, buf: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(buf, 64)?;
        let st = host::fstatx(host_fd(fd)?)?;
        mem.write_bytes(buf, &host::encode_filestat(&st))
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_filestat_set_size(_vmctx: *mut VmCtx, fd: u32, size: u64) -> i32 {
    ret((|| {
        let h = file_fd(fd, EISDIR)? as usize;
        if size > i64::MAX as u64 {
            return Err(EINVAL);
        }
        // SAFETY: ftruncate touches no memory (the file is not mapped).
        retry(|| unsafe { syscall2(nr::FTRUNCATE, h, size as usize) })?;
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_filestat_set_times(_vmctx: *mut VmCtx, fd: u32, atim: u64, mtim: u64, fst: u32) -> i32 {
    ret((|| {
        let times = host::utimens_times(atim, mtim, fst as u16)?;
        host::utimensat(host_fd(fd)?, None, &times, 0)
    })())
}

/// The guest name of preopen `fd`; EBADF for any other fd.
fn preopen_name(fd: u32) -> Result<alloc::vec::Vec<u8>, Errno> {
    table::with(|t| {
        let e = t.get(fd)?;
        if e.kind != Kind::PreopenDir {
            return Err(EBADF);
        }
        let i = e.preopen as usize;
        Ok(t.preopens[i].guest.clone())
    })
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_prestat_get(vmctx: *mut VmCtx, fd: u32, buf: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(buf, 8)?;
        let len = preopen_name(fd)?.len() as u32;
        mem.write_u32(buf, 0)?; // tag 0: directory
        mem.write_u32(buf + 4, len)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_prestat_dir_name(vmctx: *mut VmCtx, fd: u32, path: u32, path_len: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let name = preopen_name(fd)?;
        if (path_len as usize) < name.len() {
            return Err(ENAMETOOLONG);
        }
        mem.write_bytes(path, &name)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_renumber(_vmctx: *mut VmCtx, from: u32, to: u32) -> i32 {
    ret(table::with(|st| {
        st.get(from)?;
        st.get(to)?;
        if from == to {
            return Ok(());
        }
        let moved = st.remove(from)?;
        if let Some(old) = st.fds[to as usize].replace(moved) {
            if old.owns_host_fd() {
                host::close(old.host_fd);
            }
        }
        Ok(())
    }))
}
