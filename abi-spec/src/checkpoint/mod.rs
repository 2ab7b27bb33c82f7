//! The canonical checkpoint format, version 3 (see `SPEC.md`, "Checkpoint format").
//!
//! A checkpoint is the whole execution state of a Wasm program stopped at a migration
//! point, in Wasm terms only: linear memory, globals, tables, dropped segments, the
//! frames of the call stack (function index, point id, values), and the WASI state.
//! It never holds a native address, register or frame layout, so the same state is
//! encoded to the same bytes on every ISA (only the informational source-ISA byte
//! differs, and the checksum is computed as if it were zero).
//!
//! The writer ([`write_checkpoint`]) streams to a [`Sink`] straight from borrowed
//! state (linear memory may be GiBs: it is never copied). The reader
//! ([`read_checkpoint`]) validates a whole file up front and returns borrowed views
//! whose iterators then cannot fail. Neither panics on any input.

#[cfg(feature = "std")]
pub mod owned;
mod read;
mod streamed;
mod write;

pub use read::*;
pub use streamed::*;
pub use write::*;

/// First 8 bytes of every checkpoint.
pub const MAGIC: [u8; 8] = *b"WASMCKPT";
/// Version of the layout described here. A reader accepts exactly this version.
pub const FORMAT_VERSION: u32 = 3;
/// Header: magic, format version, ABI version, module hash, source ISA, 7 zero bytes.
pub const HEADER_SIZE: usize = 56;
/// Offset of the source-ISA byte, which the checksum counts as zero.
pub const ISA_OFFSET: usize = 48;
/// Size of the checksum trailer.
pub const TRAILER_SIZE: usize = 8;
/// Granularity at which all-zero memory is left out.
pub const CHUNK: u64 = 4096;

/// Section tags, in the only order they may appear.
pub mod tag {
    pub const MEMORY: u32 = 1;
    pub const GLOBALS: u32 = 2;
    pub const TABLES: u32 = 3;
    pub const SEGMENTS: u32 = 4;
    pub const FRAMES: u32 = 5;
    pub const WASI: u32 = 6;
    pub const ORDER: [u32; 6] = [MEMORY, GLOBALS, TABLES, SEGMENTS, FRAMES, WASI];
}

/// "No index": null funcref/externref, no preopen, no table maximum (as u64::MAX).
pub const NONE: u32 = u32::MAX;

/// The ISA that wrote a checkpoint. Informational only: restoring never depends on it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    X86_64 = 0,
    Aarch64 = 1,
    Riscv64 = 2,
}

impl Isa {
    pub fn from_u8(b: u8) -> Option<Isa> {
        Some(match b {
            0 => Isa::X86_64,
            1 => Isa::Aarch64,
            2 => Isa::Riscv64,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Isa::X86_64 => "x86_64",
            Isa::Aarch64 => "aarch64",
            Isa::Riscv64 => "riscv64",
        }
    }
}

/// What a guest fd is; decides how a restore re-opens it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    PreopenDir = 3,
    File = 4,
    Dir = 5,
}

impl FdKind {
    pub fn from_u8(b: u8) -> Option<FdKind> {
        Some(match b {
            0 => FdKind::Stdin,
            1 => FdKind::Stdout,
            2 => FdKind::Stderr,
            3 => FdKind::PreopenDir,
            4 => FdKind::File,
            5 => FdKind::Dir,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            FdKind::Stdin => "stdin",
            FdKind::Stdout => "stdout",
            FdKind::Stderr => "stderr",
            FdKind::PreopenDir => "preopen",
            FdKind::File => "file",
            FdKind::Dir => "dir",
        }
    }
    /// Stdio has no preopen; everything else lives below one.
    pub fn has_preopen(self) -> bool {
        !matches!(self, FdKind::Stdin | FdKind::Stdout | FdKind::Stderr)
    }
}

/// A canonical Wasm value as read back from a checkpoint. Floats are raw bits (NaN
/// payloads survive); references are function indices, never pointers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    I32(u32),
    I64(u64),
    F32(u32),
    F64(u64),
    V128([u8; 16]),
    /// Function index, `None` for null.
    FuncRef(Option<u32>),
    /// Always null: a non-null externref cannot be checkpointed.
    NullExternRef,
}

impl Value {
    pub fn ty(&self) -> crate::ValType {
        use crate::ValType as T;
        match self {
            Value::I32(_) => T::I32,
            Value::I64(_) => T::I64,
            Value::F32(_) => T::F32,
            Value::F64(_) => T::F64,
            Value::V128(_) => T::V128,
            Value::FuncRef(_) => T::FuncRef,
            Value::NullExternRef => T::ExternRef,
        }
    }
}

/// Encoded size of a value of type `t` (in globals and frames).
pub fn value_size(t: crate::ValType) -> usize {
    if t == crate::ValType::V128 {
        16
    } else {
        8
    }
}

/// Why a checkpoint was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Does not start with [`MAGIC`].
    NotCheckpoint,
    /// Format version other than [`FORMAT_VERSION`] (the one found).
    UnsupportedVersion(u32),
    /// Written by an executable with another [`crate::ABI_VERSION`] (the one found).
    AbiMismatch(u32),
    /// The file ends before its sections do.
    Truncated,
    /// The trailer does not match the contents.
    Checksum,
    /// The module hash is not the one of the module restoring it.
    OtherModule,
    /// Intact (checksum matches) but not valid v3: a writer bug. The text says what.
    Malformed(&'static str),
}

impl FormatError {
    /// A one-line message without numbers (the runtime avoids `core::fmt`).
    pub fn message(&self) -> &'static str {
        match self {
            FormatError::NotCheckpoint => "not a wasmc checkpoint",
            FormatError::UnsupportedVersion(_) => {
                "checkpoint format version is not supported (this is 3)"
            }
            FormatError::AbiMismatch(_) => {
                "checkpoint was written by an executable of another ABI version"
            }
            FormatError::Truncated => "checkpoint is truncated",
            FormatError::Checksum => "checkpoint is corrupted (checksum mismatch)",
            FormatError::OtherModule => "checkpoint is of another module",
            FormatError::Malformed(m) => m,
        }
    }

    /// The message in up to three parts, `before`, a number, `after`, so that a caller
    /// without `core::fmt` can print e.g. "checkpoint format version 2 is not supported
    /// (this is 3)". Without a number, `before` is [`Self::message`].
    pub fn parts(&self) -> (&'static str, Option<u32>, &'static str) {
        match *self {
            FormatError::UnsupportedVersion(v) => (
                "checkpoint format version ",
                Some(v),
                " is not supported (this is 3)",
            ),
            FormatError::AbiMismatch(v) => (
                "checkpoint ABI version ",
                Some(v),
                " does not match this executable's",
            ),
            _ => (self.message(), None, ""),
        }
    }
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (a, n, b) = self.parts();
        match n {
            Some(n) => write!(f, "{a}{n}{b}"),
            None => f.write_str(a),
        }
    }
}

/// The trailer checksum, streamed. The input is taken as little-endian 64-bit words
/// (the last one zero-padded). Word `i` is folded into lane `i % 4` as
/// `h = rotl((h ^ w) * 0x100000001b3, 29)`; lane `j` starts from
/// `0xcbf29ce484222325 + j`. The lanes are then folded, as words, into lane 0 (lanes 1,
/// 2, 3 in order), the byte length is xor-ed in and the result is mixed by
/// `h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33`. Four independent chains run at
/// memory speed (a dense GiB of linear memory is written and read back through it); the
/// rotation carries every bit into the next multiplication, so no single or paired bit
/// flip cancels out.
#[derive(Clone, Copy)]
pub struct Checksum {
    lanes: [u64; 4],
    /// Words folded so far (which lane the next one goes to).
    words: u64,
    buf: [u8; 8],
    pending: usize,
    len: u64,
}

const LANE_SEED: u64 = 0xcbf2_9ce4_8422_2325;

impl Checksum {
    pub const fn new() -> Checksum {
        Checksum {
            lanes: [LANE_SEED, LANE_SEED + 1, LANE_SEED + 2, LANE_SEED + 3],
            words: 0,
            buf: [0; 8],
            pending: 0,
            len: 0,
        }
    }

    #[inline]
    fn fold(h: u64, w: u64) -> u64 {
        (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29)
    }

    #[inline]
    fn word(&mut self, w: u64) {
        let lane = (self.words % 4) as usize;
        self.lanes[lane] = Self::fold(self.lanes[lane], w);
        self.words += 1;
    }

    #[inline]
    fn le(w: &[u8]) -> u64 {
        u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.pending > 0 {
            let take = (8 - self.pending).min(bytes.len());
            self.buf[self.pending..self.pending + take].copy_from_slice(&bytes[..take]);
            self.pending += take;
            bytes = &bytes[take..];
            if self.pending < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.buf));
            self.pending = 0;
        }
        // Single words up to lane 0, then four lanes at a time.
        while !self.words.is_multiple_of(4) && bytes.len() >= 8 {
            self.word(Self::le(bytes));
            bytes = &bytes[8..];
        }
        let mut blocks = bytes.chunks_exact(32);
        let [mut a, mut b, mut c, mut d] = self.lanes;
        for blk in &mut blocks {
            a = Self::fold(a, Self::le(&blk[0..8]));
            b = Self::fold(b, Self::le(&blk[8..16]));
            c = Self::fold(c, Self::le(&blk[16..24]));
            d = Self::fold(d, Self::le(&blk[24..32]));
        }
        self.lanes = [a, b, c, d];
        self.words += (bytes.len() / 32 * 4) as u64;
        let mut words = blocks.remainder().chunks_exact(8);
        for w in &mut words {
            self.word(Self::le(w));
        }
        let rest = words.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.pending = rest.len();
    }

    pub fn finish(&self) -> u64 {
        let mut s = *self;
        if s.pending > 0 {
            let mut last = [0u8; 8];
            last[..s.pending].copy_from_slice(&s.buf[..s.pending]);
            s.word(u64::from_le_bytes(last));
        }
        let mut h = s.lanes[0];
        for lane in &s.lanes[1..] {
            h = Self::fold(h, *lane);
        }
        h ^= s.len;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

impl Default for Checksum {
    fn default() -> Checksum {
        Checksum::new()
    }
}

/// The checksum of a complete file body (everything before the trailer), with the
/// source-ISA byte counted as zero.
pub fn checksum(body: &[u8]) -> u64 {
    let mut h = Checksum::new();
    if body.len() > ISA_OFFSET {
        h.update(&body[..ISA_OFFSET]);
        h.update(&[0]);
        h.update(&body[ISA_OFFSET + 1..]);
    } else {
        h.update(body);
    }
    h.finish()
}
