//! Output without `core::fmt` (which would add tens of KB to every executable).
//!
//! Messages are assembled in a fixed stack buffer ([`Line`]) and written with one
//! `write` so a diagnostic line is never interleaved with guest output. Nothing here
//! allocates, so it is safe to use from a signal handler.

use crate::sys::{self, nr};

pub const STDOUT: i32 = 1;
pub const STDERR: i32 = 2;

/// Raw `-EINTR`/`-EAGAIN` as system calls return them (asm-generic numbering, all ISAs).
pub const EINTR: isize = -4;
pub const EAGAIN: isize = -11;

/// Writes all of `bytes` to `fd`, retrying on partial writes and EINTR. Returns false
/// if the kernel reported another error (the rest is dropped).
pub fn write_all(fd: i32, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: the kernel reads at most `bytes.len()` bytes of `bytes`.
        let n = unsafe { sys::syscall3(nr::WRITE, fd as usize, bytes.as_ptr() as usize, bytes.len()) };
        if n == EINTR || n == EAGAIN {
            continue;
        }
        if n <= 0 {
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// Writes the concatenation of `parts` and a newline to stderr as one write.
pub fn eprintln_parts(parts: &[&[u8]]) {
    let mut l = Line::new();
    for p in parts {
        l.s(p);
    }
    l.nl().write(STDERR);
}

/// A line being assembled in a fixed buffer; text beyond its capacity is truncated
/// (diagnostics only, never guest data).
pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    pub const fn new() -> Line {
        Line { buf: [0; 512], len: 0 }
    }
    /// Appends bytes. The last byte of the buffer is kept for [`Line::nl`], so a long
    /// message is cut short but still ends its line.
    pub fn s(&mut self, bytes: &[u8]) -> &mut Line {
        for &b in bytes {
            if self.len >= self.buf.len() - 1 {
                break;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }
    /// Appends `v` in decimal.
    pub fn dec(&mut self, v: u64) -> &mut Line {
        let mut tmp = [0u8; 20];
        let n = fmt_dec(v, &mut tmp);
        self.s(&tmp[tmp.len() - n..])
    }
    /// Appends a signed decimal.
    pub fn idec(&mut self, v: i64) -> &mut Line {
        if v < 0 {
            self.s(b"-");
        }
        self.dec(v.unsigned_abs())
    }
    /// Appends `0x` and `v` in lower-case hex.
    pub fn hex(&mut self, v: u64) -> &mut Line {
        let mut tmp = [0u8; 16];
        let n = fmt_hex(v, &mut tmp);
        self.s(b"0x").s(&tmp[tmp.len() - n..])
    }
    /// Appends module- or user-supplied text escaped (`abi_spec::text`): it can neither
    /// break the line nor reach the terminal as control characters.
    pub fn escaped(&mut self, bytes: &[u8]) -> &mut Line {
        abi_spec::text::escape(bytes, |p| {
            self.s(p);
        });
        self
    }
    pub fn nl(&mut self) -> &mut Line {
        self.buf[self.len.min(self.buf.len() - 1)] = b'\n';
        self.len = self.len.min(self.buf.len() - 1) + 1;
        self
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn write(&self, fd: i32) {
        write_all(fd, self.as_bytes());
    }
}

/// Formats `v` in decimal right-aligned at the end of `out`; returns the digit count.
pub fn fmt_dec(mut v: u64, out: &mut [u8; 20]) -> usize {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return out.len() - i;
        }
    }
}

/// Formats `v` in hex right-aligned at the end of `out`; returns the digit count.
pub fn fmt_hex(mut v: u64, out: &mut [u8; 16]) -> usize {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            return out.len() - i;
        }
    }
}

/// Ends the whole process (all threads) with `code`.
pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group ends the process; it touches no memory.
        unsafe { sys::syscall1(nr::EXIT_GROUP, code as usize) };
    }
}

/// Prints `wasmc: <parts...>` on stderr and exits with the runtime-error status.
pub fn fatal(parts: &[&[u8]]) -> ! {
    let mut l = Line::new();
    l.s(b"wasmc: ");
    for p in parts {
        l.s(p);
    }
    l.nl().write(STDERR);
    exit(abi_spec::RUNTIME_ERROR_EXIT_CODE)
}
