//! WASI preview 1 errno values and the Linux → WASI translation: the error type of the
//! WASI layer and of the system-call wrappers in `host`.
//!
//! Linux uses the asm-generic errno numbering on all three supported ISAs (x86_64 too),
//! so one table serves every target.

pub type Errno = u16;

pub const SUCCESS: Errno = 0;
pub const E2BIG: Errno = 1;
pub const EACCES: Errno = 2;
pub const EADDRINUSE: Errno = 3;
pub const EADDRNOTAVAIL: Errno = 4;
pub const EAFNOSUPPORT: Errno = 5;
pub const EAGAIN: Errno = 6;
pub const EALREADY: Errno = 7;
pub const EBADF: Errno = 8;
pub const EBADMSG: Errno = 9;
pub const EBUSY: Errno = 10;
pub const ECANCELED: Errno = 11;
pub const ECHILD: Errno = 12;
pub const ECONNABORTED: Errno = 13;
pub const ECONNREFUSED: Errno = 14;
pub const ECONNRESET: Errno = 15;
pub const EDEADLK: Errno = 16;
pub const EDESTADDRREQ: Errno = 17;
pub const EDOM: Errno = 18;
pub const EDQUOT: Errno = 19;
pub const EEXIST: Errno = 20;
pub const EFAULT: Errno = 21;
pub const EFBIG: Errno = 22;
pub const EHOSTUNREACH: Errno = 23;
pub const EIDRM: Errno = 24;
pub const EILSEQ: Errno = 25;
pub const EINPROGRESS: Errno = 26;
pub const EINTR: Errno = 27;
pub const EINVAL: Errno = 28;
pub const EIO: Errno = 29;
pub const EISCONN: Errno = 30;
pub const EISDIR: Errno = 31;
pub const ELOOP: Errno = 32;
pub const EMFILE: Errno = 33;
pub const EMLINK: Errno = 34;
pub const EMSGSIZE: Errno = 35;
pub const EMULTIHOP: Errno = 36;
pub const ENAMETOOLONG: Errno = 37;
pub const ENETDOWN: Errno = 38;
pub const ENETRESET: Errno = 39;
pub const ENETUNREACH: Errno = 40;
pub const ENFILE: Errno = 41;
pub const ENOBUFS: Errno = 42;
pub const ENODEV: Errno = 43;
pub const ENOENT: Errno = 44;
pub const ENOEXEC: Errno = 45;
pub const ENOLCK: Errno = 46;
pub const ENOLINK: Errno = 47;
pub const ENOMEM: Errno = 48;
pub const ENOMSG: Errno = 49;
pub const ENOPROTOOPT: Errno = 50;
pub const ENOSPC: Errno = 51;
pub const ENOSYS: Errno = 52;
pub const ENOTCONN: Errno = 53;
pub const ENOTDIR: Errno = 54;
pub const ENOTEMPTY: Errno = 55;
pub const ENOTRECOVERABLE: Errno = 56;
pub const ENOTSOCK: Errno = 57;
pub const ENOTSUP: Errno = 58;
pub const ENOTTY: Errno = 59;
pub const ENXIO: Errno = 60;
pub const EOVERFLOW: Errno = 61;
pub const EOWNERDEAD: Errno = 62;
pub const EPERM: Errno = 63;
pub const EPIPE: Errno = 64;
pub const EPROTO: Errno = 65;
pub const EPROTONOSUPPORT: Errno = 66;
pub const EPROTOTYPE: Errno = 67;
pub const ERANGE: Errno = 68;
pub const EROFS: Errno = 69;
pub const ESPIPE: Errno = 70;
pub const ESRCH: Errno = 71;
pub const ESTALE: Errno = 72;
pub const ETIMEDOUT: Errno = 73;
pub const ETXTBSY: Errno = 74;
pub const EXDEV: Errno = 75;
pub const ENOTCAPABLE: Errno = 76;

/// Linux errno values this module needs to recognise before translation.
pub mod linux {
    pub const EINTR: i32 = 4;
}

/// Translates a (positive) Linux errno into its WASI number. Errnos WASI has no name
/// for become EIO, the generic "something failed below us".
pub const fn from_linux(e: i32) -> Errno {
    match e {
        0 => SUCCESS,
        1 => EPERM,
        2 => ENOENT,
        3 => ESRCH,
        4 => EINTR,
        5 => EIO,
        6 => ENXIO,
        7 => E2BIG,
        8 => ENOEXEC,
        9 => EBADF,
        10 => ECHILD,
        11 => EAGAIN,
        12 => ENOMEM,
        13 => EACCES,
        14 => EFAULT,
        16 => EBUSY,
        17 => EEXIST,
        18 => EXDEV,
        19 => ENODEV,
        20 => ENOTDIR,
        21 => EISDIR,
        22 => EINVAL,
        23 => ENFILE,
        24 => EMFILE,
        25 => ENOTTY,
        26 => ETXTBSY,
        27 => EFBIG,
        28 => ENOSPC,
        29 => ESPIPE,
        30 => EROFS,
        31 => EMLINK,
        32 => EPIPE,
        33 => EDOM,
        34 => ERANGE,
        35 => EDEADLK,
        36 => ENAMETOOLONG,
        37 => ENOLCK,
        38 => ENOSYS,
        39 => ENOTEMPTY,
        40 => ELOOP,
        42 => ENOMSG,
        43 => EIDRM,
        61 => EIO,   // ENODATA
        62 => ETIMEDOUT, // ETIME
        67 => ENOLINK,
        71 => EPROTO,
        72 => EMULTIHOP,
        74 => EBADMSG,
        75 => EOVERFLOW,
        84 => EILSEQ,
        88 => ENOTSOCK,
        89 => EDESTADDRREQ,
        90 => EMSGSIZE,
        91 => EPROTOTYPE,
        92 => ENOPROTOOPT,
        93 => EPROTONOSUPPORT,
        94 => ENOTSUP,      // ESOCKTNOSUPPORT
        95 => ENOTSUP,      // EOPNOTSUPP
        96 => EAFNOSUPPORT, // EPFNOSUPPORT
        97 => EAFNOSUPPORT,
        98 => EADDRINUSE,
        99 => EADDRNOTAVAIL,
        100 => ENETDOWN,
        101 => ENETUNREACH,
        102 => ENETRESET,
        103 => ECONNABORTED,
        104 => ECONNRESET,
        105 => ENOBUFS,
        106 => EISCONN,
        107 => ENOTCONN,
        108 => EPIPE, // ESHUTDOWN
        110 => ETIMEDOUT,
        111 => ECONNREFUSED,
        112 => EHOSTUNREACH, // EHOSTDOWN
        113 => EHOSTUNREACH,
        114 => EALREADY,
        115 => EINPROGRESS,
        116 => ESTALE,
        122 => EDQUOT,
        125 => ECANCELED,
        130 => EOWNERDEAD,
        131 => ENOTRECOVERABLE,
        _ => EIO,
    }
}

/// Converts a WASI function's result into the errno the guest sees.
#[inline]
pub fn ret(r: Result<(), Errno>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e as i32,
    }
}

/// Turns a raw syscall return (negative errno on failure) into a `Result`.
#[inline]
pub fn check(ret: isize) -> Result<usize, Errno> {
    if ret < 0 && ret > -4096 {
        Err(from_linux((-ret) as i32))
    } else {
        Ok(ret as usize)
    }
}
