//! Raw Linux system calls for the three supported ISAs. No libc: every call goes
//! through `syscall6`, and every number comes from `nr`. Returns are raw kernel values
//! (negative errno on failure).
//!
//! Every function here has the same contract: the arguments must be valid for call `n`
//! (memory they point at valid for what the kernel reads and writes there), and the
//! call must not unmap, remap or otherwise change memory that Rust code still uses.

/// System call `n` with six arguments.
///
/// # Safety
/// See the module comment.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    let ret: isize;
    // SAFETY: the kernel's system call convention for this ISA; what the call does to
    // memory is the caller's to vouch for.
    unsafe { core::arch::asm!("syscall",
        inlateout("rax") n as isize => ret,
        in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d, in("r8") e, in("r9") f,
        lateout("rcx") _, lateout("r11") _,
        options(nostack)) };
    ret
}

/// System call `n` with six arguments.
///
/// # Safety
/// See the module comment.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    let ret: isize;
    // SAFETY: the kernel's system call convention for this ISA; what the call does to
    // memory is the caller's to vouch for.
    unsafe { core::arch::asm!("svc 0",
        in("x8") n,
        inlateout("x0") a as isize => ret,
        in("x1") b, in("x2") c, in("x3") d, in("x4") e, in("x5") f,
        options(nostack)) };
    ret
}

/// System call `n` with six arguments.
///
/// # Safety
/// See the module comment.
#[cfg(target_arch = "riscv64")]
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    let ret: isize;
    // SAFETY: the kernel's system call convention for this ISA; what the call does to
    // memory is the caller's to vouch for.
    unsafe { core::arch::asm!("ecall",
        in("a7") n,
        inlateout("a0") a as isize => ret,
        in("a1") b, in("a2") c, in("a3") d, in("a4") e, in("a5") f,
        options(nostack)) };
    ret
}

/// # Safety
/// See the module comment.
#[inline(always)]
pub unsafe fn syscall0(n: usize) -> isize {
    // SAFETY: the caller's promise, passed on.
    unsafe { syscall6(n, 0, 0, 0, 0, 0, 0) }
}
/// # Safety
/// See the module comment.
#[inline(always)]
pub unsafe fn syscall1(n: usize, a: usize) -> isize {
    // SAFETY: the caller's promise, passed on.
    unsafe { syscall6(n, a, 0, 0, 0, 0, 0) }
}
/// # Safety
/// See the module comment.
#[inline(always)]
pub unsafe fn syscall2(n: usize, a: usize, b: usize) -> isize {
    // SAFETY: the caller's promise, passed on.
    unsafe { syscall6(n, a, b, 0, 0, 0, 0) }
}
/// # Safety
/// See the module comment.
#[inline(always)]
pub unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: the caller's promise, passed on.
    unsafe { syscall6(n, a, b, c, 0, 0, 0) }
}
/// # Safety
/// See the module comment.
#[inline(always)]
pub unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    // SAFETY: the caller's promise, passed on.
    unsafe { syscall6(n, a, b, c, d, 0, 0) }
}
/// # Safety
/// See the module comment.
#[inline(always)]
pub unsafe fn syscall5(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
    // SAFETY: the caller's promise, passed on.
    unsafe { syscall6(n, a, b, c, d, e, 0) }
}

/// System call numbers. Only the `*at` family is used for paths (the generic table of
/// aarch64 and riscv64 has no `open`/`stat`/`rename`), and `statx` for metadata (the
/// one stat layout that is the same on every ISA).
#[cfg(target_arch = "x86_64")]
pub mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const LSEEK: usize = 8;
    pub const MMAP: usize = 9;
    pub const MPROTECT: usize = 10;
    pub const MUNMAP: usize = 11;
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGRETURN: usize = 15;
    pub const IOCTL: usize = 16;
    pub const PREAD64: usize = 17;
    pub const PWRITE64: usize = 18;
    pub const READV: usize = 19;
    pub const WRITEV: usize = 20;
    pub const SCHED_YIELD: usize = 24;
    pub const MREMAP: usize = 25;
    pub const MINCORE: usize = 27;
    pub const MADVISE: usize = 28;
    pub const DUP: usize = 32;
    pub const NANOSLEEP: usize = 35;
    pub const GETPID: usize = 39;
    pub const EXIT: usize = 60;
    pub const SOCKET: usize = 41;
    pub const CLONE: usize = 56;
    pub const WAIT4: usize = 61;
    pub const CONNECT: usize = 42;
    pub const BIND: usize = 49;
    pub const LISTEN: usize = 50;
    pub const GETSOCKNAME: usize = 51;
    pub const SETSOCKOPT: usize = 54;
    pub const ACCEPT4: usize = 288;
    pub const KILL: usize = 62;
    pub const FCNTL: usize = 72;
    pub const FSYNC: usize = 74;
    pub const FDATASYNC: usize = 75;
    pub const FTRUNCATE: usize = 77;
    pub const GETCWD: usize = 79;
    pub const SIGALTSTACK: usize = 131;
    pub const GETTID: usize = 186;
    pub const GETDENTS64: usize = 217;
    pub const CLOCK_GETTIME: usize = 228;
    pub const CLOCK_GETRES: usize = 229;
    pub const CLOCK_NANOSLEEP: usize = 230;
    pub const EXIT_GROUP: usize = 231;
    pub const TGKILL: usize = 234;
    pub const OPENAT: usize = 257;
    pub const MKDIRAT: usize = 258;
    pub const UNLINKAT: usize = 263;
    pub const LINKAT: usize = 265;
    pub const SYMLINKAT: usize = 266;
    pub const READLINKAT: usize = 267;
    pub const FACCESSAT: usize = 269;
    pub const PPOLL: usize = 271;
    pub const UTIMENSAT: usize = 280;
    pub const FALLOCATE: usize = 285;
    pub const DUP3: usize = 292;
    pub const PIPE2: usize = 293;
    pub const PREADV: usize = 295;
    pub const PWRITEV: usize = 296;
    pub const RENAMEAT2: usize = 316;
    pub const GETRANDOM: usize = 318;
    pub const STATX: usize = 332;
}

#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
pub mod nr {
    pub const GETCWD: usize = 17;
    pub const DUP: usize = 23;
    pub const DUP3: usize = 24;
    pub const FCNTL: usize = 25;
    pub const IOCTL: usize = 29;
    pub const MKDIRAT: usize = 34;
    pub const UNLINKAT: usize = 35;
    pub const SYMLINKAT: usize = 36;
    pub const LINKAT: usize = 37;
    pub const FTRUNCATE: usize = 46;
    pub const FALLOCATE: usize = 47;
    pub const FACCESSAT: usize = 48;
    pub const OPENAT: usize = 56;
    pub const CLOSE: usize = 57;
    pub const PIPE2: usize = 59;
    pub const GETDENTS64: usize = 61;
    pub const LSEEK: usize = 62;
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const READV: usize = 65;
    pub const WRITEV: usize = 66;
    pub const PREAD64: usize = 67;
    pub const PWRITE64: usize = 68;
    pub const PREADV: usize = 69;
    pub const PWRITEV: usize = 70;
    pub const PPOLL: usize = 73;
    pub const READLINKAT: usize = 78;
    pub const FSYNC: usize = 82;
    pub const FDATASYNC: usize = 83;
    pub const UTIMENSAT: usize = 88;
    pub const EXIT: usize = 93;
    pub const EXIT_GROUP: usize = 94;
    pub const NANOSLEEP: usize = 101;
    pub const CLOCK_GETTIME: usize = 113;
    pub const CLOCK_GETRES: usize = 114;
    pub const CLOCK_NANOSLEEP: usize = 115;
    pub const SCHED_YIELD: usize = 124;
    pub const KILL: usize = 129;
    pub const TGKILL: usize = 131;
    pub const SIGALTSTACK: usize = 132;
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const RT_SIGRETURN: usize = 139;
    pub const GETPID: usize = 172;
    pub const GETTID: usize = 178;
    pub const SOCKET: usize = 198;
    pub const CLONE: usize = 220;
    pub const WAIT4: usize = 260;
    pub const BIND: usize = 200;
    pub const LISTEN: usize = 201;
    pub const CONNECT: usize = 203;
    pub const GETSOCKNAME: usize = 204;
    pub const SETSOCKOPT: usize = 208;
    pub const ACCEPT4: usize = 242;
    pub const MUNMAP: usize = 215;
    pub const MREMAP: usize = 216;
    pub const MMAP: usize = 222;
    pub const MPROTECT: usize = 226;
    pub const MINCORE: usize = 232;
    pub const MADVISE: usize = 233;
    pub const RENAMEAT2: usize = 276;
    pub const GETRANDOM: usize = 278;
    pub const STATX: usize = 291;
}
