//! WASI state across a migration: what goes into a checkpoint and how it comes back.
//!
//! Carried: the guest's arguments, environment and monotonic clock ([`carried`]), and
//! the fd table (files and directories are re-opened by their guest path below the
//! preopen of the same guest name, at the same fd number, offset and flags). Stdio fds
//! are re-attached to the new process's stdin, stdout and stderr: a half-read stdin
//! pipe cannot be carried, so input the old process had already read is not read again.

use super::carried;
use super::table::{self, FdEntry, Kind, State};
use crate::host;
use abi_spec::checkpoint::{FdKind, FdRef, WasiRef, WasiView};
use alloc::vec::Vec;

/// The WASI part of a checkpoint, copied out of the state so that the state is not
/// borrowed while the checkpoint is written.
pub struct Snapshot {
    preopens: Vec<Vec<u8>>,
    /// Each fd's record, with its path kept beside it ([`FdRef::path`] is filled in by
    /// [`Snapshot::lend`]).
    fds: Vec<(FdRef<'static>, Vec<u8>)>,
    free: Vec<u32>,
    monotonic_ns: u64,
}

impl Snapshot {
    /// Runs `f` with the snapshot as the checkpoint writer takes it.
    pub fn lend<R>(&self, f: impl FnOnce(WasiRef) -> R) -> R {
        let preopens: Vec<&[u8]> = self.preopens.iter().map(|p| p.as_slice()).collect();
        let fds: Vec<FdRef> = self.fds.iter().map(|(r, path)| FdRef { path, ..*r }).collect();
        f(WasiRef { args: carried::args(), env: carried::env(), preopens: &preopens, fds: &fds, free_fds: &self.free, monotonic_ns: self.monotonic_ns })
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

/// The WASI state as a checkpoint records it.
pub fn checkpoint_state() -> Snapshot {
    let (preopens, fds, free) = table::with(|st| {
        let preopens = st.preopens.iter().map(|p| p.guest.clone()).collect();
        let mut fds = Vec::new();
        for (i, e) in st.fds.iter().enumerate() {
            let Some(e) = e else { continue };
            let offset = match e.kind {
                Kind::File => host::lseek(e.host_fd, 0, 1).unwrap_or(0),
                _ => 0,
            };
            let record = FdRef {
                fd: i as u32,
                kind: fd_kind(e.kind),
                preopen: (e.preopen != u32::MAX).then_some(e.preopen),
                path: &[],
                oflags: e.oflags,
                fdflags: e.fdflags,
                rights_base: e.rights_base,
                rights_inheriting: e.rights_inheriting,
                offset,
            };
            fds.push((record, e.path.clone()));
        }
        (preopens, fds, st.free.clone())
    });
    let monotonic_ns = carried::now(1).unwrap_or(0);
    Snapshot { preopens, fds, free, monotonic_ns }
}

/// Guest fds a checkpoint may name: every open guest fd holds a host fd, and Linux
/// gives a process at most 2^20 (`fs.nr_open`'s default).
const MAX_RESTORED_FD: usize = 1 << 20;

/// Puts the checkpoint's WASI state in place of the fresh one `init` built.
pub fn restore_state(view: &WasiView<'static>) -> Result<(), &'static str> {
    let args: Vec<&'static [u8]> = view.args.iter().collect();
    let env: Vec<&'static [u8]> = view.env.iter().collect();
    // Leaked: a restore happens once, and the guest reads them for the rest of the run.
    carried::restore(args.leak(), env.leak(), view.monotonic_ns);

    // Preopens are matched by guest name: the new host maps them with WASMC_DIRS. `map`
    // takes a checkpoint preopen index to this process's; `roots` holds each preopen's
    // host fd.
    let (map, roots) = table::with(|st| {
        let mut map = Vec::new();
        for name in view.preopens.iter() {
            let idx = st.preopens.iter().position(|p| p.guest == name);
            map.push(idx.ok_or("the checkpoint needs a preopened directory that WASMC_DIRS does not give")?);
        }
        let roots: Vec<Option<i32>> = (0..st.preopens.len()).map(|p| preopen_fd(st, p)).collect();
        Ok::<_, &'static str>((map, roots))
    })?;
    let mut fds: Vec<Option<FdEntry>> = Vec::new();
    for rec in view.fds.iter() {
        let (kind, host_fd, preopen) = match rec.kind {
            FdKind::Stdin => (Kind::Stdin, 0, u32::MAX),
            FdKind::Stdout => (Kind::Stdout, 1, u32::MAX),
            FdKind::Stderr => (Kind::Stderr, 2, u32::MAX),
            k => {
                let p = rec.preopen.and_then(|p| map.get(p as usize).copied()).ok_or("checkpoint fd without a preopen")?;
                let root = roots[p].ok_or("preopened directory missing")?;
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
    // The reader checked that no free number is open or listed twice.
    let mut free = Vec::new();
    for fd in view.free_fds.iter() {
        if fd as usize >= MAX_RESTORED_FD {
            return Err("checkpoint fd number out of range");
        }
        free.push(fd);
    }
    table::with(|st| {
        st.fds = fds;
        st.free = free;
    });
    Ok(())
}

/// The host fd of preopen `p` in the fresh table `init` built.
fn preopen_fd(st: &State, p: usize) -> Option<i32> {
    st.fds.iter().flatten().find(|e| e.kind == Kind::PreopenDir && e.preopen as usize == p).map(|e| e.host_fd)
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
    if fdflags & super::flags::FDFLAGS_APPEND != 0 {
        fl |= host::O_APPEND;
    }
    // Through the sandboxed resolver, as path_open does: the new host's directory may
    // hold symlinks that the old one did not.
    let r = super::path::resolve(root, target, false).map_err(|_| "a file the checkpoint had open is not reachable below its preopen")?;
    host::openat(r.dir(), &r.name, fl | host::O_NOFOLLOW, 0).map_err(|_| "cannot re-open a file the checkpoint had open")
}
