//! Sandboxed path resolution and the `path_*` functions.
//!
//! The kernel never sees a guest path whole: we walk it one component at a time from
//! the directory fd with `openat(O_PATH|O_NOFOLLOW|O_DIRECTORY)`, expand symlinks
//! ourselves with `readlinkat`, and keep the stack of directories walked so `..` can
//! be checked against the root. Absolute paths, absolute symlink targets and any `..`
//! above the directory fd are ENOTCAPABLE. What reaches a syscall is always
//! (a directory fd beneath the root, one plain name), with O_NOFOLLOW/
//! AT_SYMLINK_NOFOLLOW so a final symlink is never followed by the kernel either.
//! (openat2 RESOLVE_BENEATH would do the same but is missing on older kernels and
//! qemu-user.)

use super::flags::*;
use super::mem::Mem;
use super::table::{self, FdEntry, Kind};
use crate::errno::*;
use crate::host;
use abi_spec::VmCtx;
use alloc::vec::Vec;

const MAX_SYMLINKS: u32 = 40;

/// The outcome of a walk: the directory holding the final component, and that name.
pub struct Resolved {
    root: i32,
    /// Directories opened during the walk (O_PATH), innermost last; closed on drop.
    stack: Vec<i32>,
    /// Components from the root to `dir()`, symlinks resolved.
    pub comps: Vec<Vec<u8>>,
    /// Final component: a plain name (with a trailing '/' when the guest path had one,
    /// so the kernel still demands a directory), or "." for the directory itself.
    pub name: Vec<u8>,
}

impl Resolved {
    pub fn dir(&self) -> i32 {
        *self.stack.last().unwrap_or(&self.root)
    }

    /// The resolved path below the root, for the fd table.
    pub fn rel_path(&self, base: &[u8]) -> Vec<u8> {
        let mut p = base.to_vec();
        let name = trim_slash(&self.name);
        for c in self.comps.iter().map(|c| &c[..]).chain(core::iter::once(name)) {
            if c == b"." || c.is_empty() {
                continue;
            }
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(c);
        }
        p
    }
}

impl Drop for Resolved {
    fn drop(&mut self) {
        for &fd in &self.stack {
            host::close(fd);
        }
    }
}

fn trim_slash(n: &[u8]) -> &[u8] {
    n.strip_suffix(b"/").unwrap_or(n)
}

/// Pushes the components of `p` onto `queue` so they pop in path order.
fn push_components(queue: &mut Vec<Vec<u8>>, p: &[u8]) {
    for c in p.split(|&b| b == b'/').rev() {
        if !c.is_empty() && c != b"." {
            queue.push(c.to_vec());
        }
    }
}

/// Resolves `path` beneath the directory `root`. With `follow`, a final symlink is
/// expanded too; a trailing slash always follows (as in POSIX).
pub fn resolve(root: i32, path: &[u8], follow: bool) -> Result<Resolved, Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path.contains(&0) {
        return Err(EINVAL);
    }
    if path[0] == b'/' {
        return Err(ENOTCAPABLE);
    }
    let mut r = Resolved { root, stack: Vec::new(), comps: Vec::new(), name: Vec::new() };
    let mut queue = Vec::new();
    push_components(&mut queue, path);
    let mut must_dir = path.ends_with(b"/");
    let mut links = 0u32;
    while let Some(c) = queue.pop() {
        let last = queue.is_empty();
        if c == b".." {
            if r.comps.pop().is_none() {
                return Err(ENOTCAPABLE);
            }
            if let Some(fd) = r.stack.pop() {
                host::close(fd);
            }
            continue;
        }
        if c.len() > 255 {
            return Err(ENAMETOOLONG);
        }
        let target = if last {
            if !(follow || must_dir) {
                None
            } else {
                match host::readlinkat(r.dir(), &c) {
                    Ok(t) => Some(t),
                    Err(ENOENT) | Err(EINVAL) => None,
                    Err(e) => return Err(e),
                }
            }
        } else {
            match host::openat(r.dir(), &c, host::O_PATH | host::O_NOFOLLOW | host::O_DIRECTORY, 0) {
                Ok(fd) => {
                    r.stack.push(fd);
                    r.comps.push(c);
                    continue;
                }
                Err(ENOTDIR) | Err(ELOOP) => match host::readlinkat(r.dir(), &c) {
                    Ok(t) => Some(t),
                    Err(EINVAL) => return Err(ENOTDIR),
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            }
        };
        match target {
            Some(t) => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ELOOP);
                }
                if t.is_empty() {
                    return Err(ENOENT);
                }
                if t[0] == b'/' {
                    return Err(ENOTCAPABLE);
                }
                if last && t.ends_with(b"/") {
                    must_dir = true;
                }
                push_components(&mut queue, &t);
            }
            None => {
                r.name = c;
                if must_dir {
                    r.name.push(b'/');
                }
                return Ok(r);
            }
        }
    }
    // The path named the current directory ("." or "a/..").
    r.name = b".".to_vec();
    Ok(r)
}

/// Looks up a directory fd and resolves a guest path beneath it. Returns the
/// resolution and the directory's (preopen, path) for recording new fds.
fn walk(mem: &Mem, fd: u32, ptr: u32, len: u32, follow: bool) -> Result<(Resolved, u32, Vec<u8>), Errno> {
    let path = mem.read_vec(ptr, len)?;
    let (dir, pre, base) = table::with(|t| {
        let e = t.get(fd)?;
        if !e.is_dir() {
            return Err(ENOTDIR);
        }
        Ok((e.host_fd, e.preopen, e.path.clone()))
    })?;
    Ok((resolve(dir, &path, follow)?, pre, base))
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_open(
    vmctx: *mut VmCtx,
    fd: u32,
    dirflags: u32,
    path: u32,
    path_len: u32,
    oflags: u32,
    rights_base: u64,
    rights_inheriting: u64,
    fdflags: u32,
    opened_fd: u32,
) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(opened_fd, 4)?;
        let oflags = oflags as u16;
        let fdflags = fdflags as u16;
        if oflags & !0xf != 0 || fdflags & !0x1f != 0 {
            return Err(EINVAL);
        }
        // O_CREAT|O_EXCL never follows a final symlink (POSIX).
        let creat_excl = oflags & (OFLAGS_CREAT | OFLAGS_EXCL) == OFLAGS_CREAT | OFLAGS_EXCL;
        let follow = dirflags & LOOKUP_SYMLINK_FOLLOW != 0 && !creat_excl;
        let (r, pre, base) = walk(&mem, fd, path, path_len, follow)?;
        let dir_inh = table::with(|t| t.get(fd).map(|e| e.rights_inheriting))?;
        use super::table::rights::*;
        let read = rights_base & (FD_READ | FD_READDIR) != 0;
        let write = rights_base & (FD_DATASYNC | FD_WRITE | FD_ALLOCATE | FD_FILESTAT_SET_SIZE) != 0;
        // A directory is only ever opened for reading, whatever rights were asked for
        // (callers routinely ask for all of them).
        let write = write && oflags & OFLAGS_DIRECTORY == 0;
        let mut fl = match (read, write) {
            (_, false) => host::O_RDONLY,
            (false, true) => host::O_WRONLY,
            (true, true) => host::O_RDWR,
        };
        fl |= host::O_NOFOLLOW | host::O_NOCTTY;
        if oflags & OFLAGS_CREAT != 0 {
            fl |= host::O_CREAT;
        }
        if oflags & OFLAGS_DIRECTORY != 0 {
            fl |= host::O_DIRECTORY;
        }
        if oflags & OFLAGS_EXCL != 0 {
            fl |= host::O_EXCL;
        }
        if oflags & OFLAGS_TRUNC != 0 {
            fl |= host::O_TRUNC;
        }
        fl |= fdflags_to_linux(fdflags);
        let host_fd = match host::openat(r.dir(), &r.name, fl, 0o666) {
            // A directory we may search but not list: still usable as a path base.
            Err(EACCES) if oflags & OFLAGS_DIRECTORY != 0 && !write => {
                host::openat(r.dir(), &r.name, host::O_PATH | host::O_DIRECTORY | host::O_NOFOLLOW, 0)?
            }
            other => other?,
        };
        let kind = match host::fstatx(host_fd) {
            Ok(st) if host::filetype_of_mode(st.mode) == 3 => Kind::Dir,
            Ok(_) => Kind::File,
            Err(e) => {
                host::close(host_fd);
                return Err(e);
            }
        };
        let entry = FdEntry {
            kind,
            host_fd,
            preopen: pre,
            path: r.rel_path(&base),
            oflags,
            fdflags,
            rights_base: rights_base & dir_inh,
            rights_inheriting: rights_inheriting & dir_inh,
            dir_cache: None,
        };
        let new_fd = table::with(|t| t.insert(entry));
        mem.write_u32(opened_fd, new_fd)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_create_directory(vmctx: *mut VmCtx, fd: u32, path: u32, path_len: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let (r, _, _) = walk(&mem, fd, path, path_len, false)?;
        host::mkdirat(r.dir(), &r.name)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_remove_directory(vmctx: *mut VmCtx, fd: u32, path: u32, path_len: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let (r, _, _) = walk(&mem, fd, path, path_len, false)?;
        host::unlinkat(r.dir(), &r.name, host::AT_REMOVEDIR)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_unlink_file(vmctx: *mut VmCtx, fd: u32, path: u32, path_len: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let (r, _, _) = walk(&mem, fd, path, path_len, false)?;
        host::unlinkat(r.dir(), &r.name, 0)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_rename(
    vmctx: *mut VmCtx,
    fd: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let (a, _, _) = walk(&mem, fd, old_path, old_len, false)?;
        let (b, _, _) = walk(&mem, new_fd, new_path, new_len, false)?;
        host::renameat(a.dir(), &a.name, b.dir(), &b.name)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_link(
    vmctx: *mut VmCtx,
    old_fd: u32,
    old_flags: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let follow = old_flags & LOOKUP_SYMLINK_FOLLOW != 0;
        let (a, _, _) = walk(&mem, old_fd, old_path, old_len, follow)?;
        let (b, _, _) = walk(&mem, new_fd, new_path, new_len, false)?;
        host::linkat(a.dir(), &a.name, b.dir(), &b.name)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_symlink(
    vmctx: *mut VmCtx,
    old_path: u32,
    old_len: u32,
    fd: u32,
    new_path: u32,
    new_len: u32,
) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let target = mem.read_vec(old_path, old_len)?;
        // A link that could only ever point outside the sandbox is refused outright
        // (our resolver would never follow it anyway, but host programs might).
        if target.first() == Some(&b'/') {
            return Err(ENOTCAPABLE);
        }
        if target.contains(&0) {
            return Err(EINVAL);
        }
        let (r, _, _) = walk(&mem, fd, new_path, new_len, false)?;
        host::symlinkat(&target, r.dir(), &r.name)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_readlink(
    vmctx: *mut VmCtx,
    fd: u32,
    path: u32,
    path_len: u32,
    buf: u32,
    buf_len: u32,
    bufused: u32,
) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let (r, _, _) = walk(&mem, fd, path, path_len, false)?;
        mem.ptr(bufused, 4)?;
        let out = mem.ptr(buf, buf_len as u64)?;
        let t = host::readlinkat(r.dir(), &r.name)?;
        // An absolute target (only the host can have made one: the guest's symlink
        // refuses them) is not shown: it would tell the guest about the host's file
        // system. wasmtime refuses it too; a relative target's text is shown, as there.
        if t.first() == Some(&b'/') {
            return Err(EPERM);
        }
        // Truncation is silent, as in POSIX readlink.
        let n = core::cmp::min(t.len(), buf_len as usize);
        // SAFETY: `out` has `buf_len` >= `n` checked bytes of guest memory, which never
        // overlaps the runtime's `t`.
        unsafe { core::ptr::copy_nonoverlapping(t.as_ptr(), out, n) };
        mem.write_u32(bufused, n as u32)
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_filestat_get(
    vmctx: *mut VmCtx,
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
    buf: u32,
) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(buf, 64)?;
        let (r, _, _) = walk(&mem, fd, path, path_len, flags & LOOKUP_SYMLINK_FOLLOW != 0)?;
        let st = host::statx(r.dir(), &r.name, host::AT_SYMLINK_NOFOLLOW)?;
        mem.write_bytes(buf, &host::encode_filestat(&st))
    })())
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_path_filestat_set_times(
    vmctx: *mut VmCtx,
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        let times = host::utimens_times(atim, mtim, fst_flags as u16)?;
        let (r, _, _) = walk(&mem, fd, path, path_len, flags & LOOKUP_SYMLINK_FOLLOW != 0)?;
        host::utimensat(r.dir(), Some(&r.name), &times, host::AT_SYMLINK_NOFOLLOW)
    })())
}
