//! `fd_readdir`: directory listings in the WASI dirent encoding.
//!
//! Cookies are entry indices: the entry with cookie `i` has `d_next = i + 1`. "." and
//! ".." come first (as in wasmtime), then the rest in the kernel's order. The listing
//! is read whole when the guest starts at cookie 0 and served from the cache after.

use super::mem::Mem;
use super::table::{self, DirCache};
use crate::errno::*;
use crate::host;
use abi_spec::VmCtx;
use alloc::vec::Vec;

/// WASI filetype of a `d_type` (DT_*).
pub fn filetype_of_dtype(t: u8) -> u8 {
    match t {
        6 => 1,  // DT_BLK
        2 => 2,  // DT_CHR
        4 => 3,  // DT_DIR
        8 => 4,  // DT_REG
        12 => 6, // DT_SOCK
        10 => 7, // DT_LNK
        _ => 0,
    }
}

/// Appends one WASI dirent (24-byte header, then the name without NUL).
pub fn encode_dirent(out: &mut Vec<u8>, next: u64, ino: u64, ftype: u8, name: &[u8]) {
    out.extend_from_slice(&next.to_le_bytes());
    out.extend_from_slice(&ino.to_le_bytes());
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend_from_slice(&[ftype, 0, 0, 0]);
    out.extend_from_slice(name);
}

struct Raw {
    ino: u64,
    ftype: u8,
    name: Vec<u8>,
}

/// Parses a getdents64 buffer (`d_ino u64, d_off i64, d_reclen u16, d_type u8,
/// d_name NUL-terminated`).
fn parse_linux_dirents(buf: &[u8], out: &mut Vec<Raw>) {
    let mut off = 0;
    while off + 19 <= buf.len() {
        let ino = u64::from_le_bytes(buf[off..off + 8].try_into().unwrap());
        let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
        if reclen == 0 || off + reclen > buf.len() {
            break;
        }
        let dtype = buf[off + 18];
        let name = &buf[off + 19..off + reclen];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        out.push(Raw { ino, ftype: dtype, name: name.to_vec() });
        off += reclen;
    }
}

fn build(fd: i32) -> Result<DirCache, Errno> {
    host::lseek(fd, 0, 0)?;
    let mut raw = Vec::new();
    let mut buf = alloc::vec![0u8; 8192];
    loop {
        let n = host::getdents64(fd, &mut buf)?;
        if n == 0 {
            break;
        }
        parse_linux_dirents(&buf[..n], &mut raw);
    }
    let is_dot = |n: &[u8]| n == b"." || n == b"..";
    let dots = [&b"."[..], &b".."[..]].map(|d| match raw.iter().find(|r| r.name == d) {
        Some(r) => (r.ino, r.ftype),
        None => (0, 4),
    });
    let mut c = DirCache { bytes: Vec::new(), offsets: Vec::with_capacity(raw.len()) };
    let mut push = |name: &[u8], ino: u64, dtype: u8| {
        let ftype = if dtype == 0 {
            // DT_UNKNOWN (some filesystems): ask statx.
            host::statx(fd, name, host::AT_SYMLINK_NOFOLLOW).map(|s| host::filetype_of_mode(s.mode)).unwrap_or(0)
        } else {
            filetype_of_dtype(dtype)
        };
        let next = c.offsets.len() as u64 + 1;
        c.offsets.push(c.bytes.len());
        encode_dirent(&mut c.bytes, next, ino, ftype, name);
    };
    push(b".", dots[0].0, dots[0].1);
    push(b"..", dots[1].0, dots[1].1);
    for r in raw.iter().filter(|r| !is_dot(&r.name)) {
        push(&r.name, r.ino, r.ftype);
    }
    Ok(c)
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_fd_readdir(vmctx: *mut VmCtx, fd: u32, buf: u32, buf_len: u32, cookie: u64, bufused: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        mem.ptr(bufused, 4)?;
        let out = mem.ptr(buf, buf_len as u64)?;
        let n = table::with(|t| {
            let e = t.get(fd)?;
            if !e.is_dir() {
                return Err(ENOTDIR);
            }
            if cookie == 0 || e.dir_cache.is_none() {
                e.dir_cache = Some(build(e.host_fd)?);
            }
            let Some(c) = e.dir_cache.as_ref() else { return Ok(0) };
            if cookie >= c.offsets.len() as u64 {
                return Ok(0);
            }
            // The last entry may be cut short: the guest sees bufused == buf_len and
            // retries with a bigger buffer (the WASI contract).
            let from = c.offsets[cookie as usize];
            let n = core::cmp::min(c.bytes.len() - from, buf_len as usize);
            // SAFETY: `out` has `buf_len` >= `n` bytes of guest memory (checked), and the
            // cache holds `n` bytes from `from`; guest memory is no runtime allocation.
            unsafe { core::ptr::copy_nonoverlapping(c.bytes.as_ptr().add(from), out, n) };
            Ok(n)
        })?;
        mem.write_u32(bufused, n as u32)
    })())
}
