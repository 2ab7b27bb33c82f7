//! WASI state across a migration: what goes into a checkpoint and how it comes back.
//!
//! Carried: the guest's arguments and environment (a restored guest keeps its original
//! ones), the fd table (files and directories are re-opened by their guest path below
//! the preopen of the same guest name, at the same fd number, offset and flags), and
//! the monotonic clock (offset so that it never goes backwards). Stdio fds are
//! re-attached to the new process's stdin, stdout and stderr: a half-read stdin pipe
//! cannot be carried, so input the old process had already read is not read again.

use super::host;
use super::state;
use super::table::{FdEntry, Kind};
use abi_spec::checkpoint::{FdKind, FdRef, WasiRef, WasiView};
use alloc::vec::Vec;
use core::cell::UnsafeCell;

struct Restored {
    args: Option<Vec<&'static [u8]>>,
    env: Option<Vec<&'static [u8]>>,
    /// Added to the host's monotonic clock after a restore.
    mono_offset: u64,
}

struct Cell(UnsafeCell<Restored>);
// SAFETY: single guest thread.
unsafe impl Sync for Cell {}
static RESTORED: Cell = Cell(UnsafeCell::new(Restored { args: None, env: None, mono_offset: 0 }));

fn restored() -> &'static mut Restored {
    unsafe { &mut *RESTORED.0.get() }
}

/// The guest's arguments: the checkpoint's after a restore, else the process's.
pub fn args() -> &'static [&'static [u8]] {
    restored().args.as_deref().unwrap_or_else(crate::startup::args)
}

/// The guest's environment: the checkpoint's after a restore, else the process's.
pub fn env() -> &'static [&'static [u8]] {
    restored().env.as_deref().unwrap_or_else(crate::startup::guest_env)
}

/// Offset of the guest's monotonic clock from the host's.
pub fn mono_offset() -> u64 {
    restored().mono_offset
}

/// The WASI part of a checkpoint, owned until it is written.
pub struct Snapshot {
    preopens: Vec<&'static [u8]>,
    fds: Vec<FdRef<'static>>,
    monotonic_ns: u64,
}

impl Snapshot {
    pub fn as_ref(&self) -> WasiRef<'_> {
        WasiRef {
            args: args(),
            env: env(),
            preopens: &self.preopens,
            fds: &self.fds,
            monotonic_ns: self.monotonic_ns,
        }
    }
}

fn fd_kind(k: Kind) -> FdKind {
    match k {
        Kind::Stdin => FdKind::Stdin,
        Kind::Stdout => FdKind::Stdout,
        Kind::Stderr => FdKind::Stderr,
        Kind::PreopenDir => FdKind::PreopenDir,
        Kind::File => FdKind::File,
        Kind::Dir => FdKind::Dir,
    }
}

pub fn checkpoint_state() -> Result<Snapshot, &'static str> {
    let st: &'static mut super::table::State = state();
    let preopens = st.preopens.iter().map(|p| p.guest.as_slice()).collect();
    let mut fds = Vec::new();
    for (i, e) in st.fds.iter().enumerate() {
        let Some(e) = e else { continue };
        let offset = match e.kind {
            Kind::File => host::lseek(e.host_fd, 0, 1).unwrap_or(0),
            _ => 0,
        };
        fds.push(FdRef {
            fd: i as u32,
            kind: fd_kind(e.kind),
            preopen: (e.preopen != u32::MAX).then_some(e.preopen),
            path: &e.path,
            oflags: e.oflags,
            fdflags: e.fdflags,
            rights_base: e.rights_base,
            rights_inheriting: e.rights_inheriting,
            offset,
        });
    }
    let monotonic_ns = super::misc::now(1).unwrap_or(0);
    Ok(Snapshot { preopens, fds, monotonic_ns })
}

/// Guest fds a checkpoint may name: every open guest fd holds a host fd, and Linux
/// gives a process at most 2^20 (`fs.nr_open`'s default).
const MAX_RESTORED_FD: usize = 1 << 20;

/// Puts the checkpoint's WASI state in place of the fresh one `init` built.
pub fn restore_state(view: &WasiView<'static>) -> Result<(), &'static str> {
    let r = restored();
    r.args = Some(view.args.iter().collect());
    r.env = Some(view.env.iter().collect());
    let now = host::clock_gettime(1).unwrap_or(0);
    r.mono_offset = view.monotonic_ns.saturating_sub(now);

    let st = state();
    // Preopens are matched by guest name: the new host maps them with WASMC_DIRS.
    let mut map = Vec::new();
    for name in view.preopens.iter() {
        let idx = st.preopens.iter().position(|p| p.guest == name);
        map.push(idx.ok_or("the checkpoint needs a preopened directory that WASMC_DIRS does not give")?);
    }
    let mut fds: Vec<Option<FdEntry>> = Vec::new();
    for rec in view.fds.iter() {
        let (kind, host_fd, preopen) = match rec.kind {
            FdKind::Stdin => (Kind::Stdin, 0, u32::MAX),
            FdKind::Stdout => (Kind::Stdout, 1, u32::MAX),
            FdKind::Stderr => (Kind::Stderr, 2, u32::MAX),
            k => {
                let p = rec.preopen.and_then(|p| map.get(p as usize).copied()).ok_or("checkpoint fd without a preopen")?;
                let root = preopen_fd(st, p)?;
                let kind = match k {
                    FdKind::PreopenDir => Kind::PreopenDir,
                    FdKind::Dir => Kind::Dir,
                    _ => Kind::File,
                };
                // The preopen itself is already open (by `init`); keep that fd.
                let fd = if kind == Kind::PreopenDir { root } else { reopen(root, kind, rec.path, rec.rights_base, rec.fdflags)? };
                if kind == Kind::File && rec.offset != 0 && host::lseek(fd, rec.offset as i64, 0).is_err() {
                    return Err("cannot seek a re-opened file to its checkpointed offset");
                }
                (kind, fd, p as u32)
            }
        };
        let slot = rec.fd as usize;
        if slot >= MAX_RESTORED_FD {
            return Err("checkpoint fd number out of range");
        }
        if fds.get(slot).is_some_and(|e| e.is_some()) {
            return Err("checkpoint has two records for one fd");
        }
        if fds.len() <= slot {
            fds.resize_with(slot + 1, || None);
        }
        fds[slot] = Some(FdEntry {
            kind,
            host_fd,
            preopen,
            path: rec.path.to_vec(),
            oflags: rec.oflags,
            fdflags: rec.fdflags,
            rights_base: rec.rights_base,
            rights_inheriting: rec.rights_inheriting,
            dir_cache: None,
        });
    }
    st.fds = fds;
    Ok(())
}

/// The host fd of preopen `p` in the fresh table `init` built.
fn preopen_fd(st: &super::table::State, p: usize) -> Result<i32, &'static str> {
    st.fds
        .iter()
        .flatten()
        .find(|e| e.kind == Kind::PreopenDir && e.preopen as usize == p)
        .map(|e| e.host_fd)
        .ok_or("preopened directory missing")
}

fn reopen(root: i32, kind: Kind, path: &[u8], rights: u64, fdflags: u16) -> Result<i32, &'static str> {
    use super::table::rights::*;
    let target: &[u8] = if path.is_empty() { b"." } else { path };
    let mut fl = if kind == Kind::File {
        let read = rights & FD_READ != 0;
        let write = rights & (FD_WRITE | FD_DATASYNC | FD_ALLOCATE | FD_FILESTAT_SET_SIZE) != 0;
        match (read, write) {
            (_, false) => host::O_RDONLY,
            (false, true) => host::O_WRONLY,
            (true, true) => host::O_RDWR,
        }
    } else {
        host::O_RDONLY | host::O_DIRECTORY
    };
    if fdflags & 1 != 0 {
        fl |= host::O_APPEND;
    }
    // Through the sandboxed resolver, as path_open does: the new host's directory may
    // hold symlinks that the old one did not.
    let r = super::path::resolve(root, target, false).map_err(|_| "a file the checkpoint had open is not reachable below its preopen")?;
    host::openat(r.dir(), &r.name, fl | host::O_NOFOLLOW, 0).map_err(|_| "cannot re-open a file the checkpoint had open")
}
