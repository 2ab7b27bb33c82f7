//! Writing a checkpoint: [`write_checkpoint`] streams a borrowed [`CheckpointRef`] to a
//! [`Sink`].
//!
//! Every section is emitted twice by the same code: once into a byte counter (which also
//! validates the input, so nothing is written for invalid state) and once for real, so
//! section lengths are known up front without buffering anything.

// abi-spec's lib.rs has no `extern crate alloc` (it stays core-only elsewhere).
extern crate alloc;

use super::*;
use crate::ValType;
use alloc::vec::Vec;
use core::convert::Infallible;

/// Where checkpoint bytes go (a buffered file descriptor in the runtime, a `Vec` in
/// tests). Called with small pieces and with whole runs of linear memory.
pub trait Sink {
    type Error;
    fn write(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
}

impl Sink for Vec<u8> {
    type Error = Infallible;
    fn write(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Why [`write_checkpoint`] failed.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError<E> {
    /// The sink failed.
    Sink(E),
    /// The state cannot be encoded (e.g. a non-null externref); nothing was written.
    Invalid(&'static str),
}

/// Values (of globals or of one frame) as the runtime holds them: one type per value
/// and 64-bit slots, one per value except v128, which takes two (low half first).
/// i32/f32 use the low 32 bits of their slot (the high bits are ignored). Slots must be
/// canonical already: a funcref slot holds a function index or `u32::MAX` for null
/// (never a pointer), an externref slot `u32::MAX` (only null can be checkpointed).
#[derive(Clone, Copy, Default)]
pub struct Slots<'a> {
    pub types: &'a [ValType],
    pub slots: &'a [u64],
}

/// One frame of the call stack.
#[derive(Clone, Copy)]
pub struct FrameRef<'a> {
    pub func: u32,
    /// Migration point id within `func` (0 = function entry).
    pub point: u32,
    pub values: Slots<'a>,
}

/// One table: its element type (funcref or externref), declared maximum, and elements
/// as function indices (`u32::MAX` for null; the only value an externref table holds).
#[derive(Clone, Copy)]
pub struct TableRef<'a> {
    pub elem: ValType,
    pub max: Option<u64>,
    pub entries: &'a [u32],
}

/// One open guest fd.
#[derive(Clone, Copy)]
pub struct FdRef<'a> {
    pub fd: u32,
    pub kind: FdKind,
    /// Index into [`WasiRef::preopens`]; `None` exactly for stdio.
    pub preopen: Option<u32>,
    /// Guest path below the preopen ("" for the preopen itself and for stdio).
    pub path: &'a [u8],
    pub oflags: u16,
    pub fdflags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
    /// Current file offset (0 where it means nothing).
    pub offset: u64,
}

/// WASI state. Host paths are never recorded: preopens are matched by guest name.
#[derive(Clone, Copy, Default)]
pub struct WasiRef<'a> {
    pub args: &'a [&'a [u8]],
    /// `KEY=VALUE` strings.
    pub env: &'a [&'a [u8]],
    /// Guest names of the preopened directories.
    pub preopens: &'a [&'a [u8]],
    /// Open fds, by increasing fd number.
    pub fds: &'a [FdRef<'a>],
    /// Closed fds whose numbers the next opens take, the next one last (as wasmtime
    /// hands them out: the one closed last first).
    pub free_fds: &'a [u32],
    /// WASI monotonic clock at checkpoint time, in ns.
    pub monotonic_ns: u64,
}

/// Everything a checkpoint holds, borrowed.
#[derive(Clone, Copy)]
pub struct CheckpointRef<'a> {
    pub module_hash: [u8; 32],
    pub source_isa: Isa,
    /// The whole linear memory (empty for a module without one); size a multiple of
    /// 64 KiB.
    pub memory: &'a [u8],
    pub globals: Slots<'a>,
    pub tables: &'a [TableRef<'a>],
    /// One flag per data / element segment: dropped (`data.drop`, or active and
    /// already applied) or not.
    pub dropped_data: &'a [bool],
    pub dropped_elem: &'a [bool],
    /// Outermost first.
    pub frames: &'a [FrameRef<'a>],
    pub wasi: WasiRef<'a>,
}

/// Where emitted bytes go: a counter (first pass) or the hashing sink (second pass).
// The small writers are `#[inline]`: the runtime is built for size, where each would
// stay a call, and a deep stack's frames put a few of them per value.
trait Out {
    type E;
    fn put(&mut self, b: &[u8]) -> Result<(), WriteError<Self::E>>;
    /// [`Out::put`] of a few bytes whose number is known where it is called.
    #[inline]
    fn put_word<const N: usize>(&mut self, b: [u8; N]) -> Result<(), WriteError<Self::E>> {
        self.put(&b)
    }
    #[inline]
    fn u8(&mut self, v: u8) -> Result<(), WriteError<Self::E>> {
        self.put_word([v])
    }
    #[inline]
    fn u16(&mut self, v: u16) -> Result<(), WriteError<Self::E>> {
        self.put_word(v.to_le_bytes())
    }
    #[inline]
    fn u32(&mut self, v: u32) -> Result<(), WriteError<Self::E>> {
        self.put_word(v.to_le_bytes())
    }
    #[inline]
    fn u64(&mut self, v: u64) -> Result<(), WriteError<Self::E>> {
        self.put_word(v.to_le_bytes())
    }
    fn count(&mut self, n: usize) -> Result<(), WriteError<Self::E>> {
        self.u32(u32::try_from(n).map_err(|_| WriteError::Invalid("too many items"))?)
    }
    /// `u32 len` + bytes.
    fn str(&mut self, s: &[u8]) -> Result<(), WriteError<Self::E>> {
        self.count(s.len())?;
        self.put(s)
    }
}

struct Count(u64);

impl Out for Count {
    type E = Infallible;
    fn put(&mut self, b: &[u8]) -> Result<(), WriteError<Infallible>> {
        self.0 += b.len() as u64;
        Ok(())
    }
}

/// Bytes put a few at a time (a frame's ids, each value, each type) are gathered in a
/// [`Hashing`]'s stage and hashed and written together: a hash update and a sink write
/// per value were most of what writing a deep stack's frames cost.
const STAGE: usize = 256;

/// The pieces a long run is hashed and written in: well inside a core's L2 cache.
pub const PIECE: usize = 256 << 10;

struct Hashing<'s, S: Sink> {
    sink: &'s mut S,
    hash: Checksum,
    stage: [u8; STAGE],
    staged: usize,
}

impl<'s, S: Sink> Hashing<'s, S> {
    fn new(sink: &'s mut S) -> Self {
        Hashing {
            sink,
            hash: Checksum::new(),
            stage: [0; STAGE],
            staged: 0,
        }
    }

    /// Hashes and writes what is staged.
    fn flush(&mut self) -> Result<(), WriteError<S::Error>> {
        if self.staged > 0 {
            let b = &self.stage[..self.staged];
            self.hash.update(b);
            self.sink.write(b).map_err(WriteError::Sink)?;
            self.staged = 0;
        }
        Ok(())
    }
}

impl<S: Sink> Out for Hashing<'_, S> {
    type E = S::Error;
    fn put(&mut self, b: &[u8]) -> Result<(), WriteError<S::Error>> {
        if b.len() <= STAGE - self.staged {
            self.stage[self.staged..self.staged + b.len()].copy_from_slice(b);
            self.staged += b.len();
            return Ok(());
        }
        self.flush()?;
        // A long run (linear memory) is hashed and handed on a piece at a time, so the
        // sink reads each piece while it is still in cache: hashing all of it first
        // read it from memory twice.
        for piece in b.chunks(PIECE) {
            self.hash.update(piece);
            self.sink.write(piece).map_err(WriteError::Sink)?;
        }
        Ok(())
    }
    #[inline]
    fn put_word<const N: usize>(&mut self, b: [u8; N]) -> Result<(), WriteError<S::Error>> {
        if N > STAGE - self.staged {
            self.flush()?;
        }
        self.stage[self.staged..self.staged + N].copy_from_slice(&b);
        self.staged += N;
        Ok(())
    }
}

/// Streams `ck` to `sink` as a v3 checkpoint. The input is validated completely before
/// the first byte is written; memory is read twice (zero scan, then writing the
/// non-zero runs) and never copied.
pub fn write_checkpoint<S: Sink>(
    sink: &mut S,
    ck: &CheckpointRef,
) -> Result<(), WriteError<S::Error>> {
    write_checkpoint_hinted(sink, ck, &|_| false)
}

/// [`write_checkpoint`], told which 4 KiB chunks of memory are known to read as zero
/// (`untouched(chunk_index)`, e.g. pages the kernel never mapped), so that the zero scan
/// does not read, and thereby fault in, them. The output is the same.
pub fn write_checkpoint_hinted<S: Sink>(
    sink: &mut S,
    ck: &CheckpointRef,
    untouched: &dyn Fn(usize) -> bool,
) -> Result<(), WriteError<S::Error>> {
    let runs = memory_runs(ck.memory, untouched)?;
    // First pass: lengths (and validation).
    let mut lens = [0u64; 6];
    for (i, len) in lens.iter_mut().enumerate() {
        let mut c = Count(0);
        match section(&mut c, i, ck, &runs) {
            Ok(()) => *len = c.0,
            Err(WriteError::Invalid(m)) => return Err(WriteError::Invalid(m)),
            Err(WriteError::Sink(e)) => match e {},
        }
    }
    let mut header = [0u8; HEADER_SIZE];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&crate::ABI_VERSION.to_le_bytes());
    header[16..48].copy_from_slice(&ck.module_hash);
    // The ISA byte is hashed as zero so checkpoints from different ISAs differ in it only.
    let mut o = Hashing::new(sink);
    o.put(&header[..ISA_OFFSET])?;
    o.flush()?;
    o.sink
        .write(&[ck.source_isa as u8])
        .map_err(WriteError::Sink)?;
    o.hash.update(&[0]);
    o.put(&header[ISA_OFFSET + 1..])?;
    for (i, len) in lens.iter().enumerate() {
        o.u32(tag::ORDER[i])?;
        o.u64(*len)?;
        section(&mut o, i, ck, &runs)?;
    }
    o.flush()?;
    let h = o.hash.finish();
    o.sink.write(&h.to_le_bytes()).map_err(WriteError::Sink)
}

fn section<O: Out>(
    o: &mut O,
    i: usize,
    ck: &CheckpointRef,
    runs: &[(usize, usize)],
) -> Result<(), WriteError<O::E>> {
    match i {
        0 => memory(o, ck.memory, runs),
        1 => globals(o, ck.globals),
        2 => tables(o, ck.tables),
        3 => {
            bitset(o, ck.dropped_data)?;
            bitset(o, ck.dropped_elem)
        }
        4 => frames(o, ck.frames),
        _ => wasi(o, &ck.wasi),
    }
}

/// Whether `chunk` is all zero bytes.
pub fn is_zero(chunk: &[u8]) -> bool {
    // Blocks of 256 bytes, each OR-folded in 16-byte words (which the compiler
    // vectorizes), and the scan stops at the first block that is not zero: a chunk the
    // program wrote is nearly always told by its first bytes, so memory is read here
    // about once, when it is written out, and not twice.
    chunk.chunks(256).all(|block| {
        let mut words = block.chunks_exact(16);
        let mut acc = 0u128;
        for w in &mut words {
            acc |= u128::from_ne_bytes(w.try_into().unwrap_or([0; 16]));
        }
        acc == 0 && words.remainder().iter().all(|&b| b == 0)
    })
}

/// Maximal runs of non-zero 4 KiB chunks, as (start, end) byte offsets.
fn memory_runs<E>(
    mem: &[u8],
    untouched: &dyn Fn(usize) -> bool,
) -> Result<Vec<(usize, usize)>, WriteError<E>> {
    if !(mem.len() as u64).is_multiple_of(crate::WASM_PAGE) {
        return Err(WriteError::Invalid(
            "memory size is not a multiple of 64 KiB",
        ));
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, chunk) in mem.chunks(CHUNK as usize).enumerate() {
        if untouched(i) || is_zero(chunk) {
            continue;
        }
        let start = i * CHUNK as usize;
        let end = start + chunk.len();
        match runs.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => runs.push((start, end)),
        }
    }
    Ok(runs)
}

fn memory<O: Out>(o: &mut O, mem: &[u8], runs: &[(usize, usize)]) -> Result<(), WriteError<O::E>> {
    o.u64(mem.len() as u64)?;
    for &(a, b) in runs {
        o.u64(a as u64)?;
        o.u64((b - a) as u64)?;
        o.put(mem.get(a..b).unwrap_or(&[]))?;
    }
    Ok(())
}

/// Encodes `types`/`slots` values; `with_types` puts each type byte before its value
/// (globals), otherwise only the values are written (frames list the types first).
fn values<O: Out>(o: &mut O, v: Slots, with_types: bool) -> Result<(), WriteError<O::E>> {
    let mut slots = v.slots.iter();
    let mut next = || {
        slots
            .next()
            .copied()
            .ok_or(WriteError::Invalid("fewer value slots than types"))
    };
    for &t in v.types {
        if with_types {
            o.u8(t as u8)?;
        }
        let s = next()?;
        match t {
            ValType::I32 | ValType::F32 => o.u64(s & 0xffff_ffff)?,
            ValType::I64 | ValType::F64 => o.u64(s)?,
            ValType::V128 => {
                let hi = next()?;
                o.u64(s)?;
                o.u64(hi)?;
            }
            ValType::FuncRef if s > u32::MAX as u64 => {
                return Err(WriteError::Invalid("funcref value is not a function index"))
            }
            ValType::FuncRef => o.u64(s)?,
            ValType::ExternRef if s != NONE as u64 => {
                return Err(WriteError::Invalid(
                    "a non-null externref cannot be checkpointed",
                ))
            }
            ValType::ExternRef => o.u64(s)?,
            ValType::ExnRef => return Err(WriteError::Invalid("an exnref cannot be checkpointed")),
        }
    }
    if slots.next().is_some() {
        return Err(WriteError::Invalid("more value slots than types"));
    }
    Ok(())
}

fn globals<O: Out>(o: &mut O, g: Slots) -> Result<(), WriteError<O::E>> {
    o.count(g.types.len())?;
    values(o, g, true)
}

fn tables<O: Out>(o: &mut O, tables: &[TableRef]) -> Result<(), WriteError<O::E>> {
    o.count(tables.len())?;
    for t in tables {
        let len = t.entries.len() as u64;
        match t.elem {
            ValType::FuncRef => {}
            ValType::ExternRef if t.entries.iter().all(|&e| e == NONE) => {}
            ValType::ExternRef => {
                return Err(WriteError::Invalid(
                    "a non-null externref cannot be checkpointed",
                ))
            }
            _ => return Err(WriteError::Invalid("table element type is not a reference")),
        }
        if t.max.is_some_and(|m| len > m || m == u64::MAX) {
            return Err(WriteError::Invalid("table is longer than its maximum"));
        }
        o.u8(t.elem as u8)?;
        o.u64(len)?;
        o.u64(t.max.unwrap_or(u64::MAX))?;
        for &e in t.entries {
            o.u32(e)?;
        }
    }
    Ok(())
}

fn bitset<O: Out>(o: &mut O, flags: &[bool]) -> Result<(), WriteError<O::E>> {
    o.count(flags.len())?;
    for byte in flags.chunks(8) {
        let b = byte
            .iter()
            .enumerate()
            .fold(0u8, |b, (i, &f)| b | ((f as u8) << i));
        o.u8(b)?;
    }
    Ok(())
}

fn frames<O: Out>(o: &mut O, frames: &[FrameRef]) -> Result<(), WriteError<O::E>> {
    o.count(frames.len())?;
    for f in frames {
        o.u32(f.func)?;
        o.u32(f.point)?;
        o.count(f.values.types.len())?;
        for &t in f.values.types {
            o.u8(t as u8)?;
        }
        values(o, f.values, false)?;
    }
    Ok(())
}

fn wasi<O: Out>(o: &mut O, w: &WasiRef) -> Result<(), WriteError<O::E>> {
    for list in [w.args, w.env, w.preopens] {
        o.count(list.len())?;
        for s in list {
            o.str(s)?;
        }
    }
    o.count(w.fds.len())?;
    let mut prev: Option<u32> = None;
    for f in w.fds {
        if prev.is_some_and(|p| p >= f.fd) {
            return Err(WriteError::Invalid("fds are not in increasing order"));
        }
        prev = Some(f.fd);
        match f.preopen {
            None if !f.kind.has_preopen() => {}
            Some(p) if f.kind.has_preopen() && (p as usize) < w.preopens.len() => {}
            _ => return Err(WriteError::Invalid("fd has a bad preopen index")),
        }
        o.u32(f.fd)?;
        o.u8(f.kind as u8)?;
        o.u32(f.preopen.unwrap_or(NONE))?;
        o.str(f.path)?;
        o.u16(f.oflags)?;
        o.u16(f.fdflags)?;
        o.u64(f.rights_base)?;
        o.u64(f.rights_inheriting)?;
        o.u64(f.offset)?;
    }
    if !free_fds_valid(w.fds.iter().map(|f| f.fd), w.free_fds.iter().copied()) {
        return Err(WriteError::Invalid("a free fd is open or listed twice"));
    }
    o.count(w.free_fds.len())?;
    for &fd in w.free_fds {
        o.u32(fd)?;
    }
    o.u64(w.monotonic_ns)
}

/// Whether the closed fds `free` (in any order) hold no number twice and none of the
/// open fds `open` (ascending): the writer's rule and the reader's. Costs a sorted copy
/// of `free`, then one walk along both.
pub(super) fn free_fds_valid(
    open: impl Iterator<Item = u32>,
    free: impl Iterator<Item = u32>,
) -> bool {
    let mut sorted: Vec<u32> = free.collect();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return false;
    }
    let mut open = open.peekable();
    sorted.iter().all(|&f| {
        while open.next_if(|&o| o < f).is_some() {}
        open.peek() != Some(&f)
    })
}
