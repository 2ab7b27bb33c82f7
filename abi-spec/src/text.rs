//! How module-supplied text (function, import and export names, paths from the
//! environment) is shown in a one-line message, by the compiler and the runtime alike:
//! printable ASCII as it is, everything else as `\xNN`, and `\` as `\\`. A name can then
//! neither break the line nor send an escape sequence to the terminal.

/// The escaped form of one byte: the bytes to print and how many of them there are.
pub fn escape_byte(b: u8) -> ([u8; 4], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'\\' => ([b'\\', b'\\', 0, 0], 2),
        0x20..=0x7e => ([b, 0, 0, 0], 1),
        _ => (
            [b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]],
            4,
        ),
    }
}

/// Calls `out` with the escaped form of `bytes`, piece by piece.
pub fn escape(bytes: &[u8], mut out: impl FnMut(&[u8])) {
    for &b in bytes {
        let (e, n) = escape_byte(b);
        out(&e[..n]);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    fn esc(b: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        super::escape(b, |p| v.extend_from_slice(p));
        v
    }

    #[test]
    fn control_and_non_ascii_bytes_are_escaped() {
        assert_eq!(esc(b"main"), b"main");
        assert_eq!(esc(b"a\nb\x1b[31m"), b"a\\x0ab\\x1b[31m");
        assert_eq!(esc(b"back\\slash"), b"back\\\\slash");
        assert_eq!(esc("é".as_bytes()), b"\\xc3\\xa9");
        assert_eq!(esc(b"\x7f\x00"), b"\\x7f\\x00");
    }
}
