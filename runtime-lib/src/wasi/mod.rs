//! WASI preview 1 for wasmc executables.
//!
//! Every import in `abi_spec::imports::WASI_FUNCS` is a `wasmc_wasi_<name>` function
//! here, called directly by generated code with the vmctx prepended. Guest pointers are
//! bounds-checked against linear memory ([`mem`]); the guest's fds are virtual
//! ([`table`]) and every path is resolved by hand beneath a preopened directory
//! ([`path`]), so nothing outside `WASMC_DIRS` is reachable.
//!
//! Files build on each other without cycles: `flags`, `mem` and `carried` at the bottom,
//! then `table` (the fd table, the layer's state), the calls (`fd`, `dir`, `path`,
//! `poll`, `misc`), `migrate` (the WASI part of a checkpoint), and this file on top.

pub mod carried;
pub mod dir;
pub mod fd;
pub mod flags;
pub mod mem;
pub mod migrate;
pub mod misc;
pub mod path;
pub mod poll;
pub mod table;

use crate::host;
use alloc::boxed::Box;
use alloc::vec::Vec;
pub use migrate::{checkpoint_state, restore_state};
use table::{FdEntry, Kind, Preopen};

/// Sets up the fd table: stdio at 0–2, then one preopen per `WASMC_DIRS` entry from
/// fd 3 on. `dirs` is `HOST[::GUEST][,HOST2[::GUEST2]...]`; GUEST defaults to HOST.
pub fn init(dirs: Option<&[u8]>) -> Result<(), &'static str> {
    table::with(|st| {
        let Some(dirs) = dirs else { return Ok(()) };
        if dirs.is_empty() {
            return Ok(());
        }
        add_preopens(st, dirs)
    })
}

fn add_preopens(st: &mut table::State, dirs: &[u8]) -> Result<(), &'static str> {
    for spec in dirs.split(|&b| b == b',') {
        let (host, guest) =
            split_spec(spec).ok_or_else(|| fail(b"WASMC_DIRS: bad entry (want HOST[::GUEST][,...]): ", spec))?;
        if !guest_name_ok(guest) {
            return Err(fail(b"WASMC_DIRS: bad guest name (want /ABSOLUTE, ., or a relative path without ., .. or empty components, in printable characters): ", guest));
        }
        if st.preopens.iter().any(|p| p.guest == guest) {
            return Err(fail(b"WASMC_DIRS: guest name given twice: ", guest));
        }
        let fd = host::openat(host::AT_FDCWD, host, host::O_RDONLY | host::O_DIRECTORY, 0)
            .map_err(|_| fail(b"WASMC_DIRS: cannot open directory ", host))?;
        st.preopens.push(Preopen { host: host.to_vec(), guest: guest.to_vec() });
        st.insert(FdEntry {
            kind: Kind::PreopenDir,
            host_fd: fd,
            preopen: (st.preopens.len() - 1) as u32,
            path: Vec::new(),
            oflags: flags::OFLAGS_DIRECTORY,
            fdflags: 0,
            rights_base: table::rights::DIR,
            rights_inheriting: table::rights::ALL,
            dir_cache: None,
        });
    }
    Ok(())
}

/// Splits `HOST[::GUEST]`; both parts must be non-empty.
fn split_spec(spec: &[u8]) -> Option<(&[u8], &[u8])> {
    let (host, guest) = match spec.windows(2).position(|w| w == b"::") {
        Some(i) => (&spec[..i], &spec[i + 2..]),
        None => (spec, spec),
    };
    if host.is_empty() || guest.is_empty() || host.contains(&0) {
        return None;
    }
    Some((host, guest))
}

/// Whether `guest` can name a preopen: `.`, or a path (absolute or relative) whose
/// components are all names: no empty, `.` or `..` component (a guest path is matched
/// against it component by component, and a checkpoint finds the preopen again by it),
/// and only printable characters.
fn guest_name_ok(guest: &[u8]) -> bool {
    if guest == b"." || guest == b"/" {
        return true;
    }
    let rest = guest.strip_prefix(b"/").unwrap_or(guest);
    !rest.is_empty()
        && guest.iter().all(|&c| c >= 0x20 && c != 0x7f)
        && rest.split(|&c| c == b'/').all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// `msg` followed by the offending entry (escaped); leaked because the caller wants
/// `&'static str` and start-up fails right after.
fn fail(msg: &'static [u8], what: &[u8]) -> &'static str {
    let mut s = Vec::new();
    s.extend_from_slice(msg);
    if what.is_empty() {
        s.extend_from_slice(b"\"\"");
    }
    abi_spec::text::escape(what, |p| s.extend_from_slice(p));
    match core::str::from_utf8(Box::leak(s.into_boxed_slice())) {
        Ok(m) => m,
        Err(_) => "WASMC_DIRS: cannot open directory (name is not UTF-8)",
    }
}
