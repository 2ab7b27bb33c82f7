//! The guest's file-descriptor table, the WASI layer's one piece of state.
//!
//! Guest fds are virtual: each slot records what the fd is, the host fd behind it and
//! enough about how it was opened (preopen index, guest path below that preopen,
//! oflags, fdflags, rights) that a checkpoint can re-open it by path on another machine.

use crate::cell::MainCell;
use crate::errno::{Errno, EBADF};
use crate::host;
use alloc::vec::Vec;

/// Main flow only: WASI calls (and start-up and checkpoints, between them); signal
/// handlers never touch it. `None` until first used.
static STATE: MainCell<Option<State>> = MainCell::new(None);

/// Runs `f` on the WASI state, which starts with just stdio if `wasi::init` has not run.
/// `f` must not call `with` itself.
pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(s.get_or_insert_with(State::new)))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Stdin,
    Stdout,
    Stderr,
    PreopenDir,
    File,
    Dir,
}

/// `fd_readdir` listing of a directory, already in WASI dirent encoding. Rebuilt when
/// the guest starts over (cookie 0) so a listing stays consistent across the calls of
/// one readdir pass and each call is O(bytes returned).
pub struct DirCache {
    pub bytes: Vec<u8>,
    /// Byte offset of the entry with cookie `i`.
    pub offsets: Vec<usize>,
}

pub struct FdEntry {
    pub kind: Kind,
    pub host_fd: i32,
    /// Index into [`State::preopens`]; `u32::MAX` for stdio.
    pub preopen: u32,
    /// Path below the preopen root, '/'-separated, symlinks already resolved ("" is the
    /// root itself).
    pub path: Vec<u8>,
    /// Kept for checkpoint/restore (re-opening by path), not read by WASI calls.
    #[allow(dead_code)]
    pub oflags: u16,
    pub fdflags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
    pub dir_cache: Option<DirCache>,
}

impl FdEntry {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir | Kind::PreopenDir)
    }
    /// Stdio host fds are shared with the runtime (trap messages go to fd 2), so the
    /// guest closing them only drops the slot.
    pub fn owns_host_fd(&self) -> bool {
        !matches!(self.kind, Kind::Stdin | Kind::Stdout | Kind::Stderr)
    }
}

pub struct Preopen {
    /// Host directory as given in WASMC_DIRS; kept for checkpoint/restore.
    #[allow(dead_code)]
    pub host: Vec<u8>,
    pub guest: Vec<u8>,
}

pub struct State {
    pub fds: Vec<Option<FdEntry>>,
    /// Closed fd numbers, the one closed last at the end: the next open takes it, as
    /// wasmtime does (POSIX would take the lowest). Which number a file gets is the
    /// program's to see, and a program that writes to an fd it closed (Yosys's ABC pass
    /// renumbers onto one) writes into whatever file took the number, so wasmc hands
    /// them out as the reference runtime does; a checkpoint carries the list.
    pub free: Vec<u32>,
    pub preopens: Vec<Preopen>,
}

pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const ALL: u64 = (1 << 30) - 1;
    /// What an open regular file (or stdio stream) can do.
    pub const FILE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;
    /// Everything except the byte-stream operations.
    pub const DIR: u64 = ALL
        & !(FD_DATASYNC | FD_READ | FD_SEEK | FD_TELL | FD_WRITE | FD_ADVISE | FD_ALLOCATE | FD_FILESTAT_SET_SIZE);
}

impl State {
    pub fn new() -> State {
        let mut s = State { fds: Vec::new(), free: Vec::new(), preopens: Vec::new() };
        for (fd, kind) in [(0, Kind::Stdin), (1, Kind::Stdout), (2, Kind::Stderr)] {
            let fl = host::fcntl(fd, host::F_GETFL, 0).unwrap_or(0);
            s.fds.push(Some(FdEntry {
                kind,
                host_fd: fd,
                preopen: u32::MAX,
                path: Vec::new(),
                oflags: 0,
                fdflags: super::flags::fdflags_from_linux(fl),
                rights_base: rights::FILE,
                rights_inheriting: 0,
                dir_cache: None,
            }));
        }
        s
    }

    pub fn get(&mut self, fd: u32) -> Result<&mut FdEntry, Errno> {
        self.fds.get_mut(fd as usize).and_then(|e| e.as_mut()).ok_or(EBADF)
    }

    /// Installs `e` under the number closed last ([`State::free`]), or the one after
    /// the highest ever used (every free slot below it is in `free`).
    pub fn insert(&mut self, e: FdEntry) -> u32 {
        let fd = self.free.pop().unwrap_or(self.fds.len() as u32);
        let i = fd as usize;
        if self.fds.len() <= i {
            self.fds.resize_with(i + 1, || None);
        }
        self.fds[i] = Some(e);
        fd
    }

    /// Closes `fd` in the table: its number is the next one handed out.
    pub fn remove(&mut self, fd: u32) -> Result<FdEntry, Errno> {
        let e = self.fds.get_mut(fd as usize).and_then(|e| e.take()).ok_or(EBADF)?;
        self.free.push(fd);
        Ok(e)
    }
}
