//! WASI flag values the fd table, `fd_*` and `path_*` share, and how fdflags map to
//! Linux open flags.

use crate::host;

/// `lookupflags`: follow a final symlink.
pub const LOOKUP_SYMLINK_FOLLOW: u32 = 1;

/// `oflags` of `path_open`.
pub const OFLAGS_CREAT: u16 = 1;
pub const OFLAGS_DIRECTORY: u16 = 2;
pub const OFLAGS_EXCL: u16 = 4;
pub const OFLAGS_TRUNC: u16 = 8;

/// `fdflags` of an fd.
pub const FDFLAGS_APPEND: u16 = 1;
pub const FDFLAGS_DSYNC: u16 = 2;
pub const FDFLAGS_NONBLOCK: u16 = 4;
pub const FDFLAGS_RSYNC: u16 = 8;
pub const FDFLAGS_SYNC: u16 = 16;

/// The Linux open flags for WASI `fdflags`.
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

/// The WASI `fdflags` of Linux open flags (`F_GETFL`).
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
