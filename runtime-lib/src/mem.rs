//! `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`: there is no libc, but LLVM emits
//! calls to these for every struct copy and `ptr::copy`, and Wasm bulk memory ops land
//! here too.
//!
//! LLVM's loop-idiom pass turns a plain copy loop back into a `memcpy` call, which here
//! would be infinite recursion. Every loop therefore moves data through volatile
//! accesses or inline asm, which the optimiser may not merge into a library call.
//!
//! Each exported function has the C library's contract (its `# Safety` section); the
//! helpers access memory only inside the ranges their callers vouch for.

use core::ptr::{read_volatile, write_volatile};

const W: usize = core::mem::size_of::<usize>();

/// # Safety
/// `s..s+n` readable, `d..d+n` writable.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
unsafe fn bytes_fwd(mut d: *mut u8, mut s: *const u8, n: usize) {
    // SAFETY: every access is inside `s..s+n` and `d..d+n` (caller).
    unsafe {
        let end = d.add(n);
        while d < end {
            write_volatile(d, read_volatile(s));
            d = d.add(1);
            s = s.add(1);
        }
    }
}

/// # Safety
/// `s..s+n` readable, `d..d+n` writable.
#[inline(always)]
unsafe fn bytes_bwd(d: *mut u8, s: *const u8, mut n: usize) {
    // SAFETY: every access is inside `s..s+n` and `d..d+n` (caller).
    unsafe {
        while n > 0 {
            n -= 1;
            write_volatile(d.add(n), read_volatile(s.add(n)));
        }
    }
}

/// Loads one word from a possibly unaligned address where the ISA allows it cheaply.
///
/// # Safety
/// `p..p+8` readable.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn load_unaligned(p: *const u8) -> usize {
    // SAFETY: `ldr` of 8 readable bytes (caller); AArch64 allows unaligned loads.
    unsafe {
        let v: usize;
        core::arch::asm!("ldr {v}, [{p}]", v = out(reg) v, p = in(reg) p, options(nostack, readonly, preserves_flags));
        v
    }
}

/// # Safety
/// `p..p+8` writable.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn store_unaligned(p: *mut u8, v: usize) {
    // SAFETY: `str` to 8 writable bytes (caller); AArch64 allows unaligned stores.
    unsafe {
        core::arch::asm!("str {v}, [{p}]", v = in(reg) v, p = in(reg) p, options(nostack, preserves_flags));
    }
}

/// Forward copy. Word-at-a-time when source and destination share alignment (or the ISA
/// has cheap unaligned access), bytes otherwise.
///
/// # Safety
/// `s..s+n` readable, `d..d+n` writable; if they overlap, `d` is not after `s`.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn copy_fwd(mut d: *mut u8, mut s: *const u8, mut n: usize) {
    // SAFETY: every access is inside `s..s+n` and `d..d+n` (caller), whole words only
    // where both are word-aligned or the ISA takes unaligned words.
    unsafe {
        if (d as usize ^ s as usize) & (W - 1) == 0 {
            while n > 0 && d as usize & (W - 1) != 0 {
                write_volatile(d, read_volatile(s));
                d = d.add(1);
                s = s.add(1);
                n -= 1;
            }
            while n >= W {
                write_volatile(d as *mut usize, read_volatile(s as *const usize));
                d = d.add(W);
                s = s.add(W);
                n -= W;
            }
        } else {
            #[cfg(target_arch = "aarch64")]
            while n >= W {
                store_unaligned(d, load_unaligned(s));
                d = d.add(W);
                s = s.add(W);
                n -= W;
            }
        }
        bytes_fwd(d, s, n);
    }
}

/// x86_64: `rep movsb` is fast on every CPU with ERMSB and tiny in code size.
///
/// # Safety
/// `s..s+n` readable, `d..d+n` writable; if they overlap, `d` is not after `s`.
#[cfg(target_arch = "x86_64")]
unsafe fn copy_fwd(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: `rep movsb` copies exactly `n` bytes from `s` to `d`, forward (the ABI keeps
    // the direction flag clear), inside the ranges the caller vouches for.
    unsafe {
        core::arch::asm!("rep movsb",
            inout("rcx") n => _, inout("rdi") d => _, inout("rsi") s => _,
            options(nostack, preserves_flags));
    }
}

/// Backward copy (overlapping `memmove` with `d > s`).
///
/// # Safety
/// `s..s+n` readable, `d..d+n` writable; if they overlap, `d` is not before `s`.
unsafe fn copy_bwd(d: *mut u8, s: *const u8, mut n: usize) {
    // SAFETY: as in `copy_fwd`, from the end down.
    unsafe {
        if (d as usize ^ s as usize) & (W - 1) == 0 {
            while n > 0 && (d as usize + n) & (W - 1) != 0 {
                n -= 1;
                write_volatile(d.add(n), read_volatile(s.add(n)));
            }
            while n >= W {
                n -= W;
                write_volatile(d.add(n) as *mut usize, read_volatile(s.add(n) as *const usize));
            }
        } else {
            #[cfg(target_arch = "aarch64")]
            while n >= W {
                n -= W;
                store_unaligned(d.add(n), load_unaligned(s.add(n)));
            }
        }
        bytes_bwd(d, s, n);
    }
}

/// # Safety
/// `s..s+n` readable, `d..d+n` writable, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the C contract (module comment).
    unsafe {
        copy_fwd(d, s, n);
        d
    }
}

/// # Safety
/// `s..s+n` readable, `d..d+n` writable.
#[no_mangle]
pub unsafe extern "C" fn memmove(d: *mut u8, s: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the C contract (module comment); the direction suits any overlap.
    unsafe {
        // Forward is safe unless the destination starts inside the source.
        if (d as usize).wrapping_sub(s as usize) >= n {
            copy_fwd(d, s, n);
        } else {
            copy_bwd(d, s, n);
        }
        d
    }
}

/// # Safety
/// `d..d+n` writable.
#[cfg(target_arch = "x86_64")]
#[no_mangle]
pub unsafe extern "C" fn memset(d: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the C contract (module comment): `d..d+n` writable.
    unsafe {
        core::arch::asm!("rep stosb",
            inout("rcx") n => _, inout("rdi") d => _, in("al") c as u8,
            options(nostack, preserves_flags));
        d
    }
}

/// # Safety
/// `d..d+n` writable.
#[cfg(not(target_arch = "x86_64"))]
#[no_mangle]
pub unsafe extern "C" fn memset(d: *mut u8, c: i32, mut n: usize) -> *mut u8 {
    // SAFETY: the C contract (module comment): `d..d+n` writable.
    unsafe {
        let b = c as u8;
        let mut p = d;
        while n > 0 && p as usize & (W - 1) != 0 {
            write_volatile(p, b);
            p = p.add(1);
            n -= 1;
        }
        let word = (b as usize).wrapping_mul(usize::MAX / 255);
        while n >= W {
            write_volatile(p as *mut usize, word);
            p = p.add(W);
            n -= W;
        }
        while n > 0 {
            write_volatile(p, b);
            p = p.add(1);
            n -= 1;
        }
        d
    }
}

/// # Safety
/// `a..a+n` and `b..b+n` readable.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the C contract (module comment): `a..a+n` and `b..b+n` readable.
    unsafe {
        let mut i = 0;
        while i < n {
            let (x, y) = (read_volatile(a.add(i)), read_volatile(b.add(i)));
            if x != y {
                return x as i32 - y as i32;
            }
            i += 1;
        }
        0
    }
}

/// # Safety
/// `a..a+n` and `b..b+n` readable.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the C contract, which `memcmp` shares.
    unsafe { memcmp(a, b, n) }
}
