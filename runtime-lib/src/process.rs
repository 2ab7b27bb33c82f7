//! What the kernel handed the process: arguments, environment, auxiliary vector, and
//! the runtime's own `WASMC_*` controls split off the environment so the guest never
//! sees them. Read once by [`init`] from the initial stack, fixed after.

use crate::cell::MainCell;
use alloc::vec::Vec;

type Strs = &'static [&'static [u8]];

#[derive(Clone, Copy)]
struct Facts {
    args: Strs,
    guest_env: Strs,
    controls: Strs,
    auxv: *const usize,
}

/// Main flow only: written once by [`init`] before anything else runs, read after.
/// Signal handlers never read it.
static FACTS: MainCell<Facts> = MainCell::new(Facts { args: &[], guest_env: &[], controls: &[], auxv: core::ptr::null() });

/// The program arguments as given, `argv[0]` included.
pub fn args() -> Strs {
    FACTS.get().args
}

/// The environment the guest sees: `KEY=VALUE` entries, all `WASMC_*` removed.
pub fn guest_env() -> Strs {
    FACTS.get().guest_env
}

/// The value of the runtime control `name` (a full variable name, e.g. `b"WASMC_DIRS"`).
pub fn control(name: &[u8]) -> Option<&'static [u8]> {
    FACTS.get().controls.iter().find_map(|e| e.strip_prefix(name)?.strip_prefix(b"="))
}

/// Whether the spec-test runner asked for harness mode (`WASMC_HARNESS=1`).
pub fn harness_mode() -> bool {
    control(b"WASMC_HARNESS") == Some(b"1")
}

/// libc's `getauxval`, for the one caller that wants it: compiler-builtins' AArch64
/// outline atomics ask for `AT_HWCAP` to use LSE atomics where the CPU has them. (The
/// `sha2` crate would ask too, for the SHA-256 instructions, but 0.10 uses them only with
/// its `asm` feature; see ARCHITECTURE.md on why the portable code is kept.)
#[cfg(target_arch = "aarch64")]
#[no_mangle]
pub extern "C" fn getauxval(key: u64) -> u64 {
    auxv(key as usize).unwrap_or(0) as u64
}

/// The value of an auxiliary-vector entry (`AT_PAGESZ` = 6, `AT_RANDOM` = 25, ...).
pub fn auxv(key: usize) -> Option<usize> {
    let mut p = FACTS.get().auxv;
    if p.is_null() {
        return None;
    }
    // SAFETY: `init` took `p` from the kernel's initial stack, which stays mapped and
    // unchanged for the whole process: (key, value) pairs ending with key AT_NULL = 0.
    unsafe {
        while *p != 0 {
            if *p == key {
                return Some(*p.add(1));
            }
            p = p.add(2);
        }
    }
    None
}

/// Reads the kernel's initial stack at `sp`: argc, argv[0..argc], NULL, envp..., NULL,
/// auxv pairs, AT_NULL.
///
/// # Safety
/// `sp` must be the stack pointer the kernel entered `_start` with.
pub unsafe fn init(sp: *const usize) {
    // SAFETY: the layout above, which the kernel guarantees at entry; the strings and
    // vectors stay in place for the life of the process.
    let (args, env, auxv) = unsafe {
        let (args, envp) = read_vec(sp.add(1) as *const *const u8);
        let (env, auxv) = read_vec(envp as *const *const u8);
        (args, env, auxv)
    };
    let (controls, guest): (Vec<_>, Vec<_>) = env.into_iter().partition(|e| e.starts_with(b"WASMC_"));
    let facts = Facts { args: args.leak(), guest_env: guest.leak(), controls: controls.leak(), auxv };
    FACTS.with(|f| *f = facts);
}

/// Length of a NUL-terminated string. Volatile reads keep LLVM from turning the loop
/// into a call to `strlen`, which does not exist here.
///
/// # Safety
/// `p` must point to a NUL-terminated string that lives as long as the process.
unsafe fn cstr(p: *const u8) -> &'static [u8] {
    let mut n = 0;
    // SAFETY: every byte up to and including the NUL is readable (caller), and the bytes
    // before it are the string.
    unsafe {
        while core::ptr::read_volatile(p.add(n)) != 0 {
            n += 1;
        }
        core::slice::from_raw_parts(p, n)
    }
}

/// Reads the NULL-terminated pointer vector at `p`; returns the strings and the address
/// after the terminating NULL.
///
/// # Safety
/// `p` must point to a NULL-terminated vector of pointers to NUL-terminated strings, all
/// living as long as the process.
unsafe fn read_vec(mut p: *const *const u8) -> (Vec<&'static [u8]>, *const usize) {
    let mut v = Vec::new();
    // SAFETY: the vector is readable up to its NULL (caller), each entry a string `cstr`
    // may read.
    unsafe {
        while !(*p).is_null() {
            v.push(cstr(*p));
            p = p.add(1);
        }
        (v, p.add(1) as *const usize)
    }
}

/// A `WASMC_*` number: decimal digits only, at most 19 of them.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u64)
    })
}
