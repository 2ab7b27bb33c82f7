//! The `fd_*` functions. Data goes straight to the host fd with readv/writev (no
//! buffering, so stdout/stderr interleave exactly as in a native program).

use super::errno::*;
use super::host;
use super::mem::{HostIovec, Mem};
use super::state;
use super::table::Kind;
use crate::sys::{nr, syscall2, syscall3, syscall4, syscall5};
use abi_spec::VmCtx;

pub const FDFLAGS_APPEND: u16 = 1;
pub const FDFLAGS_DSYNC: u16 = 2;
pub const FDFLAGS_NONBLOCK: u16 = 4;
pub const FDFLAGS_RSYNC: u16 = 8;
pub const FDFLAGS_SYNC: u16 = 16;

pub fn fdflags_to_linux(f: u16) -> usize {
    let mut fl = 0;
    if f & FDFLAGS_APPEND != 0 {
        fl |= host::O_APPEND;
    }
    if f & FDFLAGS_DSYNC != 0 {
        fl |= host::O_DSYNC;
    }
    if f & FDFLAGS_NONBLOCK != 0 {
        fl |= host::O_NONBLOCK;
    }
    // Linux defines O_RSYNC as O_SYNC.
    if f & (FDFLAGS_RSYNC | FDFLAGS_SYNC) != 0 {
        fl |= host::O_SYNC;
    }
    fl
}

pub fn fdflags_from_linux(fl: usize) -> u16 {
    let mut f = 0;
    if fl & host::O_APPEND != 0 {
        f |= FDFLAGS_APPEND;
    }
    if fl & host::O_NONBLOCK != 0 {
        f |= FDFLAGS_NONBLOCK;
    }
    if fl & host::O_SYNC == host::O_SYNC {
        f |= FDFLAGS_SYNC;
    } else if fl & host::O_DSYNC != 0 {
        f |= FDFLAGS_DSYNC;
    }
    f
}

/// Host fd of a guest fd.
pub fn host_fd(fd: u32) -> Result<i32, Errno> {
    Ok(state().get(fd)?.host_fd)
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
    let mem = unsafe { Mem::new(vmctx) };
    super::ret((|| {
        mem.ptr(out, 4)?;
        let e = state().get(fd)?;
        if e.is_dir() {
            return Err(if offset.is_some() { EISDIR } else { EBADF });
        }
        let h = e.host_fd as usize;
        let v: alloc::vec::Vec<HostIovec> = mem.iovecs(iovs, n)?;
        let (p, c) = (v.as_ptr() as usize, v.len());
        let done = match offset {
            None => {
                let call = if write { nr::WRITEV } else { nr::READV };
                retry(|| unsafe { syscall3(call, h, p, c) })?
            }
            Some(off) => {
                if off > i64::MAX as u64 {
                    return Err(EINVAL);
                }
                let call = if write { nr::PWRITEV } else { nr::PREADV };
                // 64-bit kernels take the whole offset in the "low" argument.
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
    let mem = unsafe { Mem::new(vmctx) };
    super::ret((|| {
        mem.ptr(newoffset, 8)?;
        let e = state().get(fd)?;
        if e.is_dir() {
            return Err(EBADF);
        }
        // WASI whence SET/CUR/END are 0/1/2, as in Linux.
        if whence > 2 {
            return Err(EINVAL);
        }
        let pos = host::lseek(e.host_fd, offset, whence)?;
        mem.write_u64(newoffset, pos)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_tell(vmctx: *mut VmCtx, fd: u32, offset: u32) -> i32 {
    let mem = unsafe { Mem::new(vmctx) };
    super::ret((|| {
        mem.ptr(offset, 8)?;
        let e = state().get(fd)?;
        if e.is_dir() {
            return Err(EBADF);
        }
        let pos = host::lseek(e.host_fd, 0, 1)?;
        mem.write_u64(offset, pos)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_close(_vmctx: *mut VmCtx, fd: u32) -> i32 {
    super::ret((|| {
        let e = state().remove(fd)?;
        if e.owns_host_fd() {
            host::close(e.host_fd);
        }
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_sync(_vmctx: *mut VmCtx, fd: u32) -> i32 {
    super::ret(host_fd(fd).and_then(|h| check(unsafe { crate::sys::syscall1(nr::FSYNC, h as usize) }).map(drop)))
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_datasync(_vmctx: *mut VmCtx, fd: u32) -> i32 {
    super::ret(host_fd(fd).and_then(|h| check(unsafe { crate::sys::syscall1(nr::FDATASYNC, h as usize) }).map(drop)))
}

/// Advice is only a hint; accepting it without acting is allowed.
#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_advise(_vmctx: *mut VmCtx, fd: u32, _offset: u64, _len: u64, advice: u32) -> i32 {
    super::ret((|| {
        let e = state().get(fd)?;
        if e.is_dir() {
            return Err(EBADF);
        }
        if advice > 5 {
            return Err(EINVAL);
        }
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_allocate(_vmctx: *mut VmCtx, fd: u32, offset: u64, len: u64) -> i32 {
    super::ret((|| {
        let e = state().get(fd)?;
        if e.is_dir() {
            return Err(EBADF);
        }
        if offset > i64::MAX as u64 || len > i64::MAX as u64 {
            return Err(EINVAL);
        }
        let h = e.host_fd as usize;
        retry(|| unsafe { syscall4(nr::FALLOCATE, h, 0, offset as usize, len as usize) })?;
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_fdstat_get(vmctx: *mut VmCtx, fd: u32, buf: u32) -> i32 {
    let mem = unsafe { Mem::new(vmctx) };
    super::ret((|| {
        mem.ptr(buf, 24)?;
        let e = state().get(fd)?;
        let filetype = if e.is_dir() { 3 } else { host::filetype_of_mode(host::fstatx(e.host_fd)?.mode) };
        let mut b = [0u8; 24];
        b[0] = filetype;
        b[2..4].copy_from_slice(&e.fdflags.to_le_bytes());
        b[8..16].copy_from_slice(&e.rights_base.to_le_bytes());
        b[16..24].copy_from_slice(&e.rights_inheriting.to_le_bytes());
        mem.write_bytes(buf, &b)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_fdstat_set_flags(_vmctx: *mut VmCtx, fd: u32, flags: u32) -> i32 {
    super::ret((|| {
        let flags = flags as u16;
        if flags & !0x1f != 0 {
            return Err(EINVAL);
        }
        let e = state().get(fd)?;
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
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_fdstat_set_rights(_vmctx: *mut VmCtx, fd: u32, base: u64, inheriting: u64) -> i32 {
    super::ret((|| {
        let e = state().get(fd)?;
        // Rights can only be dropped, never gained.
        if base & !e.rights_base != 0 || inheriting & !e.rights_inheriting != 0 {
            return Err(ENOTCAPABLE);
        }
        e.rights_base = base;
        e.rights_inheriting = inheriting;
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_filestat_get(vmctx: *mut VmCtx, fd: u32, buf: u32) -> i32 {
    let mem = unsafe { Mem::new(vmctx) };
    super::ret((|| {
        mem.ptr(buf, 64)?;
        let st = host::fstatx(host_fd(fd)?)?;
        mem.write_bytes(buf, &host::encode_filestat(&st))
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_filestat_set_size(_vmctx: *mut VmCtx, fd: u32, size: u64) -> i32 {
    super::ret((|| {
        let e = state().get(fd)?;
        if e.is_dir() {
            return Err(EISDIR);
        }
        if size > i64::MAX as u64 {
            return Err(EINVAL);
        }
        let h = e.host_fd as usize;
        retry(|| unsafe { syscall2(nr::FTRUNCATE, h, size as usize) })?;
        Ok(())
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_filestat_set_times(_vmctx: *mut VmCtx, fd: u32, atim: u64, mtim: u64, fst: u32) -> i32 {
    super::ret((|| {
        let times = host::utimens_times(atim, mtim, fst as u16)?;
        let e = state().get(fd)?;
        host::utimensat(e.host_fd, None, &times, 0)
    })())
}

/// The guest name of preopen `fd`; EBADF for any other fd.
fn preopen_name(fd: u32) -> Result<&'static [u8], Errno> {
    let st = state();
    let e = st.get(fd)?;
    if e.kind != Kind::PreopenDir {
        return Err(EBADF);
    }
    let i = e.preopen as usize;
    Ok(&st.preopens[i].guest)
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_prestat_get(vmctx: *mut VmCtx, fd: u32, buf: u32) -> i32 {
    let mem = unsafe { Mem::new(vmctx) };
    super::ret((|| {
        mem.ptr(buf, 8)?;
        let len = preopen_name(fd)?.len() as u32;
        mem.write_u32(buf, 0)?; // tag 0: directory
        mem.write_u32(buf + 4, len)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_prestat_dir_name(vmctx: *mut VmCtx, fd: u32, path: u32, path_len: u32) -> i32 {
    let mem = unsafe { Mem::new(vmctx) };
    super::ret((|| {
        let name = preopen_name(fd)?;
        if (path_len as usize) < name.len() {
            return Err(ENAMETOOLONG);
        }
        mem.write_bytes(path, name)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_renumber(_vmctx: *mut VmCtx, from: u32, to: u32) -> i32 {
    super::ret((|| {
        let st = state();
        st.get(from)?;
        st.get(to)?;
        if from == to {
            return Ok(());
        }
        let moved = st.fds[from as usize].take();
        if let Some(old) = core::mem::replace(&mut st.fds[to as usize], moved) {
            if old.owns_host_fd() {
                host::close(old.host_fd);
            }
        }
        while matches!(st.fds.last(), Some(None)) {
            st.fds.pop();
        }
        Ok(())
    })())
}
