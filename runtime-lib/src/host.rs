//! Thin wrappers over the Linux system calls on files, clocks and polls that the WASI
//! layer and checkpoint files use, plus the flag values that differ between ISAs and
//! the WASI encodings of their results. Every wrapper returns a WASI errno on failure.

use crate::errno::{check, Errno};
use crate::sys::{nr, syscall2, syscall3, syscall4, syscall5, syscall6};
use alloc::vec::Vec;

pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: usize = 0x100;
pub const AT_REMOVEDIR: usize = 0x200;
pub const AT_EMPTY_PATH: usize = 0x1000;

pub const O_RDONLY: usize = 0;
pub const O_WRONLY: usize = 1;
pub const O_RDWR: usize = 2;
pub const O_CREAT: usize = 0o100;
pub const O_EXCL: usize = 0o200;
pub const O_NOCTTY: usize = 0o400;
pub const O_TRUNC: usize = 0o1000;
pub const O_APPEND: usize = 0o2000;
pub const O_NONBLOCK: usize = 0o4000;
pub const O_DSYNC: usize = 0o10000;
pub const O_SYNC: usize = 0o4010000;
pub const O_CLOEXEC: usize = 0o2000000;
pub const O_PATH: usize = 0o10000000;
// aarch64 swapped these bits relative to the generic table (x86_64 and riscv64 agree).
#[cfg(target_arch = "aarch64")]
pub const O_DIRECTORY: usize = 0o40000;
#[cfg(target_arch = "aarch64")]
pub const O_NOFOLLOW: usize = 0o100000;
#[cfg(not(target_arch = "aarch64"))]
pub const O_DIRECTORY: usize = 0o200000;
#[cfg(not(target_arch = "aarch64"))]
pub const O_NOFOLLOW: usize = 0o400000;

pub const F_GETFL: usize = 3;
pub const F_SETFL: usize = 4;

/// `name` with a NUL appended, for the kernel.
pub fn cstr(name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(name.len() + 1);
    v.extend_from_slice(name);
    v.push(0);
    v
}

pub fn openat(dir: i32, name: &[u8], flags: usize, mode: usize) -> Result<i32, Errno> {
    let c = cstr(name);
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let r = unsafe { syscall4(nr::OPENAT, dir as isize as usize, c.as_ptr() as usize, flags | O_CLOEXEC, mode) };
    check(r).map(|fd| fd as i32)
}

pub fn close(fd: i32) {
    // SAFETY: close touches no memory (a stale fd is only an error).
    unsafe { crate::sys::syscall1(nr::CLOSE, fd as usize) };
}

/// Reads a symlink's target; `Err(EINVAL)` when `name` is not a symlink.
pub fn readlinkat(dir: i32, name: &[u8]) -> Result<Vec<u8>, Errno> {
    let c = cstr(name);
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    loop {
        let cap = buf.capacity();
        // SAFETY: `c` is NUL-terminated; the kernel writes at most `cap` bytes into
        // `buf`'s spare capacity.
        let r = unsafe {
            syscall4(nr::READLINKAT, dir as isize as usize, c.as_ptr() as usize, buf.as_mut_ptr() as usize, cap)
        };
        let n = check(r)?;
        if n < cap {
            // SAFETY: the kernel initialised the first `n` < `cap` bytes.
            unsafe { buf.set_len(n) };
            return Ok(buf);
        }
        // Possibly truncated: retry with a larger buffer (targets are at most PATH_MAX).
        if cap >= 65536 {
            return Err(crate::errno::ENAMETOOLONG);
        }
        buf.reserve(cap * 2);
    }
}

pub fn fcntl(fd: i32, cmd: usize, arg: usize) -> Result<usize, Errno> {
    // SAFETY: F_GETFL and F_SETFL (the only commands used) touch no memory.
    check(unsafe { syscall3(nr::FCNTL, fd as usize, cmd, arg) })
}

/// The part of `struct statx` the WASI layer reads (the kernel writes 256 bytes).
#[repr(C)]
pub struct Statx {
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub _pad1: u16,
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: StatxTs,
    pub btime: StatxTs,
    pub ctime: StatxTs,
    pub mtime: StatxTs,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub _spare: [u64; 14],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct StatxTs {
    pub sec: i64,
    pub nsec: u32,
    pub _pad: i32,
}

impl StatxTs {
    pub fn nanos(&self) -> u64 {
        (self.sec as u64).wrapping_mul(1_000_000_000).wrapping_add(self.nsec as u64)
    }
}

const STATX_BASIC_STATS: usize = 0x7ff;

/// statx on `name` under `dir` (`name` empty → the fd itself).
pub fn statx(dir: i32, name: &[u8], flags: usize) -> Result<Statx, Errno> {
    let c = cstr(name);
    // SAFETY: `Statx` is integers only, for which all-zero is a value.
    let mut st: Statx = unsafe { core::mem::zeroed() };
    let fl = if name.is_empty() { flags | AT_EMPTY_PATH } else { flags };
    // SAFETY: `c` is NUL-terminated; the kernel writes at most a `struct statx` (256
    // bytes, the size of `Statx`) into `st`.
    let r = unsafe {
        syscall5(
            nr::STATX,
            dir as isize as usize,
            c.as_ptr() as usize,
            fl,
            STATX_BASIC_STATS,
            &mut st as *mut Statx as usize,
        )
    };
    check(r)?;
    Ok(st)
}

pub fn fstatx(fd: i32) -> Result<Statx, Errno> {
    statx(fd, b"", AT_SYMLINK_NOFOLLOW)
}

/// `dev_t` as glibc encodes it, so `st_dev` matches what a native program sees.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (major as u64, minor as u64);
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

/// WASI filetype of an `st_mode`.
pub fn filetype_of_mode(mode: u16) -> u8 {
    match mode as u32 & 0o170000 {
        0o060000 => 1, // block device
        0o020000 => 2, // character device
        0o040000 => 3, // directory
        0o100000 => 4, // regular file
        0o140000 => 6, // socket: Linux cannot tell stream from datagram here
        0o120000 => 7, // symbolic link
        _ => 0,        // fifo and anything else
    }
}

/// Encodes a WASI `filestat` (64 bytes) from a statx result.
pub fn encode_filestat(st: &Statx) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&makedev(st.dev_major, st.dev_minor).to_le_bytes());
    b[8..16].copy_from_slice(&st.ino.to_le_bytes());
    b[16] = filetype_of_mode(st.mode);
    b[24..32].copy_from_slice(&(st.nlink as u64).to_le_bytes());
    b[32..40].copy_from_slice(&st.size.to_le_bytes());
    b[40..48].copy_from_slice(&st.atime.nanos().to_le_bytes());
    b[48..56].copy_from_slice(&st.mtime.nanos().to_le_bytes());
    b[56..64].copy_from_slice(&st.ctime.nanos().to_le_bytes());
    b
}

#[repr(C)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Builds the two utimensat timespecs from WASI `fstflags` (ATIM=1, ATIM_NOW=2, MTIM=4,
/// MTIM_NOW=8); setting a time both explicitly and to "now" is EINVAL.
pub fn utimens_times(atim: u64, mtim: u64, fst: u16) -> Result<[Timespec; 2], Errno> {
    if fst & !0xf != 0 || (fst & 3) == 3 || (fst & 12) == 12 {
        return Err(crate::errno::EINVAL);
    }
    let one = |t: u64, set: bool, now: bool| {
        if now {
            Timespec { sec: 0, nsec: UTIME_NOW }
        } else if set {
            Timespec { sec: (t / 1_000_000_000) as i64, nsec: (t % 1_000_000_000) as i64 }
        } else {
            Timespec { sec: 0, nsec: UTIME_OMIT }
        }
    };
    Ok([one(atim, fst & 1 != 0, fst & 2 != 0), one(mtim, fst & 4 != 0, fst & 8 != 0)])
}

/// utimensat; `name` None → the fd itself.
pub fn utimensat(dir: i32, name: Option<&[u8]>, times: &[Timespec; 2], flags: usize) -> Result<(), Errno> {
    let c = name.map(cstr);
    let p = c.as_ref().map_or(0, |c| c.as_ptr() as usize);
    // SAFETY: `p` is null or a NUL-terminated name, and `times` two timespecs, for the
    // kernel to read.
    check(unsafe { syscall4(nr::UTIMENSAT, dir as isize as usize, p, times.as_ptr() as usize, flags) })?;
    Ok(())
}

pub fn mkdirat(dir: i32, name: &[u8]) -> Result<(), Errno> {
    let c = cstr(name);
    // SAFETY: `c` is NUL-terminated and outlives the call.
    check(unsafe { syscall3(nr::MKDIRAT, dir as isize as usize, c.as_ptr() as usize, 0o777) })?;
    Ok(())
}

pub fn unlinkat(dir: i32, name: &[u8], flags: usize) -> Result<(), Errno> {
    let c = cstr(name);
    // SAFETY: `c` is NUL-terminated and outlives the call.
    check(unsafe { syscall3(nr::UNLINKAT, dir as isize as usize, c.as_ptr() as usize, flags) })?;
    Ok(())
}

pub fn renameat(d1: i32, n1: &[u8], d2: i32, n2: &[u8]) -> Result<(), Errno> {
    let (c1, c2) = (cstr(n1), cstr(n2));
    // SAFETY: both names are NUL-terminated and outlive the call.
    check(unsafe {
        syscall5(nr::RENAMEAT2, d1 as isize as usize, c1.as_ptr() as usize, d2 as isize as usize, c2.as_ptr() as usize, 0)
    })?;
    Ok(())
}

pub fn linkat(d1: i32, n1: &[u8], d2: i32, n2: &[u8]) -> Result<(), Errno> {
    let (c1, c2) = (cstr(n1), cstr(n2));
    // SAFETY: both names are NUL-terminated and outlive the call.
    check(unsafe {
        syscall5(nr::LINKAT, d1 as isize as usize, c1.as_ptr() as usize, d2 as isize as usize, c2.as_ptr() as usize, 0)
    })?;
    Ok(())
}

pub fn symlinkat(target: &[u8], dir: i32, name: &[u8]) -> Result<(), Errno> {
    let (c1, c2) = (cstr(target), cstr(name));
    // SAFETY: both strings are NUL-terminated and outlive the call.
    check(unsafe { syscall3(nr::SYMLINKAT, c1.as_ptr() as usize, dir as isize as usize, c2.as_ptr() as usize) })?;
    Ok(())
}

pub fn lseek(fd: i32, off: i64, whence: u32) -> Result<u64, Errno> {
    // SAFETY: lseek touches no memory.
    check(unsafe { syscall3(nr::LSEEK, fd as usize, off as usize, whence as usize) }).map(|v| v as u64)
}

pub fn getdents64(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    check(unsafe { syscall3(nr::GETDENTS64, fd as usize, buf.as_mut_ptr() as usize, buf.len()) })
}

pub fn clock_gettime(id: usize) -> Result<u64, Errno> {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: the kernel writes one timespec into `ts`.
    check(unsafe { syscall2(nr::CLOCK_GETTIME, id, &mut ts as *mut Timespec as usize) })?;
    Ok((ts.sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.nsec as u64))
}

pub fn clock_getres(id: usize) -> Result<u64, Errno> {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: the kernel writes one timespec into `ts`.
    check(unsafe { syscall2(nr::CLOCK_GETRES, id, &mut ts as *mut Timespec as usize) })?;
    Ok((ts.sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.nsec as u64))
}

/// ppoll with an optional relative timeout in nanoseconds.
pub fn ppoll(fds: &mut [PollFd], timeout_ns: Option<u64>) -> Result<usize, Errno> {
    let ts = timeout_ns.map(|t| Timespec {
        sec: core::cmp::min(t / 1_000_000_000, i64::MAX as u64) as i64,
        nsec: (t % 1_000_000_000) as i64,
    });
    let tp = ts.as_ref().map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: `fds` holds `fds.len()` pollfds the kernel updates; `tp` is null or a
    // timespec; no signal mask is passed.
    check(unsafe { syscall6(nr::PPOLL, fds.as_mut_ptr() as usize, fds.len(), tp, 0, 8, 0) })
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

pub const POLLIN: i16 = 1;
pub const POLLOUT: i16 = 4;
pub const POLLERR: i16 = 8;
pub const POLLHUP: i16 = 16;
pub const POLLNVAL: i16 = 32;
pub const FIONREAD: usize = 0x541b;

/// Forks the process (clone with SIGCHLD to the parent, no shared memory): the child
/// gets a copy-on-write snapshot of all memory. Returns the child's pid in the parent,
/// 0 in the child, a negative errno on failure.
pub fn fork() -> isize {
    const SIGCHLD: usize = 17;
    // SAFETY: a plain fork: the child continues on its own copy of this stack and of
    // all memory; the parent's memory is untouched.
    unsafe { crate::sys::syscall5(nr::CLONE, SIGCHLD, 0, 0, 0, 0) }
}

/// Reaps child `pid` if it has ended: `Some(true)` when it exited with status 0,
/// `Some(false)` when it failed or was killed, `None` while it runs.
pub fn reap(pid: i32) -> Option<bool> {
    const WNOHANG: usize = 1;
    let mut status: i32 = 0;
    // SAFETY: the kernel writes the 4-byte status into `status`.
    let r = unsafe { syscall4(nr::WAIT4, pid as usize, &mut status as *mut i32 as usize, WNOHANG, 0) };
    match r {
        0 => None,
        r if r < 0 => Some(false),
        _ => Some(status == 0),
    }
}
