//! Reading a checkpoint: [`read_checkpoint`] validates a whole file and returns
//! borrowed views.
//!
//! Every item is decoded by one function used twice: once while validating (errors
//! propagate) and again by the views' iterators, which can then not fail (they would
//! just stop). Nothing is allocated but a sorted copy of the closed fds, to check them
//! (its size is what the file holds, not a count it claims); nothing is sized from an
//! untrusted count, and all slicing goes through [`Cursor`], so no input makes the
//! reader panic.

use super::*;
use crate::ValType;

/// A position in a byte string; running out yields `short`.
#[derive(Clone, Copy)]
pub struct Cursor<'a> {
    b: &'a [u8],
    short: FormatError,
}

pub(super) const SHORT_SECTION: FormatError =
    FormatError::Malformed("checkpoint is malformed (section shorter than its contents)");

fn bad(m: &'static str) -> FormatError {
    FormatError::Malformed(m)
}

// The small readers are `#[inline]`: the runtime is built for size, where each would
// stay a call, and restoring a deep stack reads three fields of every frame twice.
impl<'a> Cursor<'a> {
    /// Over a header or a field of one, where running out means the file was cut.
    pub(super) fn truncated(b: &'a [u8]) -> Cursor<'a> {
        Cursor {
            b,
            short: FormatError::Truncated,
        }
    }
    #[inline]
    fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor {
            b,
            short: SHORT_SECTION,
        }
    }
    #[inline]
    fn take(&mut self, n: u64) -> Result<&'a [u8], FormatError> {
        match usize::try_from(n) {
            Ok(n) if n <= self.b.len() => {
                let (a, rest) = self.b.split_at(n);
                self.b = rest;
                Ok(a)
            }
            _ => Err(self.short),
        }
    }
    #[inline]
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N as u64)?);
        Ok(a)
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.arr::<1>()?[0])
    }
    #[inline]
    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    #[inline]
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    #[inline]
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn str(&mut self) -> Result<&'a [u8], FormatError> {
        let n = self.u32()?;
        self.take(n as u64)
    }
    fn valtype(&mut self) -> Result<ValType, FormatError> {
        ValType::from_checkpoint_u8(self.u8()?)
            .ok_or(bad("checkpoint is malformed (bad value type)"))
    }
    fn end(&self) -> Result<(), FormatError> {
        match self.b.is_empty() {
            true => Ok(()),
            false => Err(bad(
                "checkpoint is malformed (section longer than its contents)",
            )),
        }
    }
}

type Decode<'a, T> = fn(&mut Cursor<'a>) -> Result<T, FormatError>;

/// A validated list of `len` items of one kind.
pub struct List<'a, T> {
    len: u64,
    bytes: &'a [u8],
    f: Decode<'a, T>,
}

impl<T> Clone for List<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for List<'_, T> {}

impl<T> core::fmt::Debug for List<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "List(len {})", self.len)
    }
}

impl<'a, T> List<'a, T> {
    /// Decodes (and so validates) `len` items from `c`.
    fn parse(c: &mut Cursor<'a>, len: u64, f: Decode<'a, T>) -> Result<List<'a, T>, FormatError> {
        Self::parse_checked(c, len, f, f)
    }
    /// Validates `len` items from `c` with `check`; iterating decodes them with `f`,
    /// which may then skip what `check` established (a deep stack's frames are
    /// iterated once per restore, and checking every value again doubled the cost).
    fn parse_checked(
        c: &mut Cursor<'a>,
        len: u64,
        check: Decode<'a, T>,
        f: Decode<'a, T>,
    ) -> Result<List<'a, T>, FormatError> {
        let start = c.b;
        for _ in 0..len {
            check(c)?;
        }
        let used = start.len() - c.b.len();
        Ok(List {
            len,
            bytes: &start[..used],
            f,
        })
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn iter(&self) -> Iter<'a, T> {
        Iter {
            c: Cursor::new(self.bytes),
            left: self.len,
            f: self.f,
        }
    }
}

impl<'a, T> IntoIterator for List<'a, T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

pub struct Iter<'a, T> {
    c: Cursor<'a>,
    left: u64,
    f: Decode<'a, T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        (self.f)(&mut self.c).ok()
    }
}

/// A validated checkpoint.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointView<'a> {
    pub format_version: u32,
    pub abi_version: u32,
    pub module_hash: [u8; 32],
    pub source_isa: Isa,
    pub memory: MemoryView<'a>,
    pub globals: List<'a, Value>,
    pub tables: List<'a, TableView<'a>>,
    pub dropped_data: Bitset<'a>,
    pub dropped_elem: Bitset<'a>,
    /// Outermost first.
    pub frames: List<'a, Frame<'a>>,
    pub wasi: WasiView<'a>,
}

#[derive(Clone, Copy, Debug)]
pub struct MemoryView<'a> {
    /// Bytes (a multiple of 64 KiB).
    pub size: u64,
    /// Sum of the run lengths; everything else is zero.
    pub nonzero_bytes: u64,
    /// Non-zero runs, by increasing offset, never overlapping or touching.
    pub runs: List<'a, MemoryRun<'a>>,
}

#[derive(Clone, Copy, Debug)]
pub struct MemoryRun<'a> {
    pub offset: u64,
    pub bytes: &'a [u8],
}

#[derive(Clone, Copy, Debug)]
pub struct TableView<'a> {
    /// `FuncRef` or `ExternRef`.
    pub elem: ValType,
    pub len: u64,
    /// `None`: no declared maximum.
    pub max: Option<u64>,
    entries: &'a [u8],
}

impl<'a> TableView<'a> {
    /// Element `i`: a function index, or `None` for null.
    pub fn get(&self, i: u64) -> Option<Option<u32>> {
        let i = usize::try_from(i).ok()?.checked_mul(4)?;
        let b = self.entries.get(i..i.checked_add(4)?)?;
        Some(index(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }
    pub fn entries(&self) -> impl Iterator<Item = Option<u32>> + 'a {
        self.entries
            .chunks_exact(4)
            .map(|b| index(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }
}

fn index(v: u32) -> Option<u32> {
    (v != NONE).then_some(v)
}

/// Which segments are dropped.
#[derive(Clone, Copy, Debug)]
pub struct Bitset<'a> {
    pub len: u32,
    bits: &'a [u8],
}

impl Bitset<'_> {
    pub fn is_set(&self, i: u32) -> bool {
        i < self.len
            && self
                .bits
                .get(i as usize / 8)
                .is_some_and(|b| b >> (i % 8) & 1 != 0)
    }
    pub fn count_set(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub func: u32,
    pub point: u32,
    types: &'a [u8],
    values: &'a [u8],
}

impl<'a> Frame<'a> {
    pub fn num_values(&self) -> u32 {
        self.types.len() as u32
    }
    #[inline]
    pub fn types(&self) -> impl Iterator<Item = ValType> + 'a {
        self.types.iter().filter_map(|&t| ValType::from_u8(t))
    }
    /// The value type codes (`ValType as u8`), in record order.
    #[inline]
    pub fn type_codes(&self) -> &'a [u8] {
        self.types
    }
    /// The values in record order: locals, operand stack by depth, loop params.
    pub fn values(&self) -> impl Iterator<Item = Value> + 'a {
        let mut c = Cursor::new(self.values);
        self.types().map_while(move |t| value(&mut c, t).ok())
    }
    /// The values' 8-byte slots in record order, as the format holds them (a v128 is
    /// two, low half first): an i32, f32, funcref or externref in the low 32 bits with
    /// the high bits zero (checked when the file was read), a null reference `NONE`.
    #[inline]
    pub fn slots(&self) -> impl Iterator<Item = u64> + 'a {
        self.values
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
    }
}

#[derive(Clone, Copy, Debug)]
pub struct WasiView<'a> {
    pub args: List<'a, &'a [u8]>,
    pub env: List<'a, &'a [u8]>,
    /// Guest names of the preopened directories.
    pub preopens: List<'a, &'a [u8]>,
    /// By increasing fd.
    pub fds: List<'a, FdRecord<'a>>,
    /// Closed fds whose numbers the next opens take, the next one last.
    pub free_fds: List<'a, u32>,
    pub monotonic_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdRecord<'a> {
    pub fd: u32,
    pub kind: FdKind,
    /// Index into the preopens; `None` exactly for stdio.
    pub preopen: Option<u32>,
    pub path: &'a [u8],
    pub oflags: u16,
    pub fdflags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
    pub offset: u64,
}

/// Refuses a checkpoint of another module (`hash` as in `ModuleDesc::module_hash`).
pub fn check_module(view: &CheckpointView, hash: &[u8; 32]) -> Result<(), FormatError> {
    match view.module_hash == *hash {
        true => Ok(()),
        false => Err(FormatError::OtherModule),
    }
}

/// Validates a whole checkpoint file (header, section order and contents, checksum, no
/// trailing bytes). Module identity is the caller's business ([`check_module`]).
pub fn read_checkpoint(b: &[u8]) -> Result<CheckpointView<'_>, FormatError> {
    use FormatError::*;
    check_versions(b)?;
    if b.len() < HEADER_SIZE + TRAILER_SIZE {
        return Err(Truncated);
    }
    let (body, trailer) = b.split_at(b.len() - TRAILER_SIZE);
    let sections = split_sections::<6>(&b[HEADER_SIZE..], 0);
    if checksum(body).to_le_bytes() != trailer {
        // A cut file also fails the checksum; tell the two apart by the framing.
        return Err(match sections {
            Err(Truncated) => Truncated,
            _ => Checksum,
        });
    }
    let [mem, glob, tab, seg, fr, wasi] = sections?;
    let header = header(b)?;
    assemble(header, memory(mem)?, [glob, tab, seg, fr, wasi])
}

/// What a checkpoint's header says beyond the versions, which [`check_versions`]
/// accepted only as this reader's own.
#[derive(Clone, Copy)]
pub(super) struct Header {
    pub module_hash: [u8; 32],
    pub source_isa: Isa,
}

/// The magic and the two versions, from the start of `b`: the first things refused.
pub(super) fn check_versions(b: &[u8]) -> Result<(), FormatError> {
    use FormatError::*;
    if b.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(b) {
            Truncated
        } else {
            NotCheckpoint
        });
    }
    let mut c = Cursor::truncated(b);
    if c.arr::<8>()? != MAGIC {
        return Err(NotCheckpoint);
    }
    let format_version = c.u32()?;
    if format_version != FORMAT_VERSION {
        return Err(UnsupportedVersion(format_version));
    }
    let abi_version = c.u32()?;
    if abi_version != crate::ABI_VERSION {
        return Err(AbiMismatch(abi_version));
    }
    Ok(())
}

/// The rest of the header (at least [`HEADER_SIZE`] bytes of `b`, whose magic and
/// versions [`check_versions`] accepted).
pub(super) fn header(b: &[u8]) -> Result<Header, FormatError> {
    let mut c = Cursor::truncated(b);
    c.take(16)?;
    let module_hash = c.arr::<32>()?;
    let source_isa =
        Isa::from_u8(c.u8()?).ok_or(bad("checkpoint is malformed (unknown source ISA)"))?;
    if c.arr::<7>()? != [0; 7] {
        return Err(bad("checkpoint is malformed (non-zero header padding)"));
    }
    Ok(Header {
        module_hash,
        source_isa,
    })
}

/// The view of a checkpoint from its header, its memory and the payloads of the five
/// sections after memory, each validated whole.
pub(super) fn assemble<'a>(
    h: Header,
    memory: MemoryView<'a>,
    [glob, tab, seg, fr, wasi]: [&'a [u8]; 5],
) -> Result<CheckpointView<'a>, FormatError> {
    let mut c = Cursor::new(glob);
    let n = c.u32()?;
    let globals = List::parse(&mut c, n as u64, global)?;
    c.end()?;

    let mut c = Cursor::new(tab);
    let n = c.u32()?;
    let tables = List::parse(&mut c, n as u64, table)?;
    c.end()?;

    let mut c = Cursor::new(seg);
    let dropped_data = bitset(&mut c)?;
    let dropped_elem = bitset(&mut c)?;
    c.end()?;

    let mut c = Cursor::new(fr);
    let n = c.u32()?;
    let frames = List::parse_checked(&mut c, n as u64, checked_frame, frame)?;
    c.end()?;

    Ok(CheckpointView {
        format_version: FORMAT_VERSION,
        abi_version: crate::ABI_VERSION,
        module_hash: h.module_hash,
        source_isa: h.source_isa,
        memory,
        globals,
        tables,
        dropped_data,
        dropped_elem,
        frames,
        wasi: wasi_state(wasi)?,
    })
}

/// Splits `b` into the payloads of the sections from `tag::ORDER[first]` on (`b` is the
/// file after the header, or after the memory section), checking tags, order and that
/// exactly the trailer follows. Running out of bytes is `Truncated`.
pub(super) fn split_sections<const N: usize>(
    b: &[u8],
    first: usize,
) -> Result<[&[u8]; N], FormatError> {
    let mut c = Cursor::truncated(b);
    let mut out: [&[u8]; N] = [&[]; N];
    for (i, slot) in out.iter_mut().enumerate() {
        let len = section_len(&mut c, first + i)?;
        *slot = c.take(len)?;
    }
    match c.b.len() {
        TRAILER_SIZE => Ok(out),
        n if n < TRAILER_SIZE => Err(FormatError::Truncated),
        _ => Err(bad(
            "checkpoint is malformed (bytes after the last section)",
        )),
    }
}

/// A section's tag, which must be the `i`-th of `tag::ORDER`, and its payload's length.
pub(super) fn section_len(c: &mut Cursor<'_>, i: usize) -> Result<u64, FormatError> {
    let t = c.u32()?;
    if t != tag::ORDER[i] {
        return Err(bad(match tag::ORDER.contains(&t) {
            true => "checkpoint is malformed (sections out of order)",
            false => "checkpoint is malformed (unknown section)",
        }));
    }
    c.u64()
}

/// Linear memory's size, the first field of the memory section.
pub(super) fn memory_size(c: &mut Cursor<'_>) -> Result<u64, FormatError> {
    let size = c.u64()?;
    if !size.is_multiple_of(crate::WASM_PAGE) {
        return Err(bad(
            "checkpoint is malformed (memory size not a multiple of 64 KiB)",
        ));
    }
    Ok(size)
}

/// Where a memory run lies, given the end of the run before it: inside `size`, after
/// (and not touching) the previous run. Returns the run's end. (Its shape is
/// [`run_shape`]'s, checked first.)
pub(super) fn check_run(
    offset: u64,
    len: u64,
    size: u64,
    prev_end: Option<u64>,
) -> Result<u64, FormatError> {
    match offset.checked_add(len).filter(|&e| e <= size) {
        Some(end) if prev_end.is_none_or(|e| offset > e) => Ok(end),
        _ => Err(bad(
            "checkpoint is malformed (memory runs out of bounds or order)",
        )),
    }
}

/// A memory run's offset and length: 4 KiB aligned, not empty.
pub(super) fn run_shape(offset: u64, len: u64) -> Result<(), FormatError> {
    match offset.is_multiple_of(CHUNK) && len.is_multiple_of(CHUNK) && len > 0 {
        true => Ok(()),
        false => Err(bad(
            "checkpoint is malformed (memory run not 4 KiB aligned)",
        )),
    }
}

impl<'a> MemoryView<'a> {
    /// The memory of a checkpoint whose runs a streamed reader already put in place
    /// (`stream`): its size and how much of it was non-zero, no runs.
    pub fn placed(size: u64, nonzero_bytes: u64) -> MemoryView<'a> {
        MemoryView {
            size,
            nonzero_bytes,
            runs: List {
                len: 0,
                bytes: &[],
                f: run,
            },
        }
    }
}

fn memory(p: &[u8]) -> Result<MemoryView<'_>, FormatError> {
    let mut c = Cursor::new(p);
    let size = memory_size(&mut c)?;
    let start = c;
    let (mut n, mut nonzero, mut end) = (0u64, 0u64, None::<u64>);
    while !c.b.is_empty() {
        let r = run(&mut c)?;
        let len = r.bytes.len() as u64;
        end = Some(check_run(r.offset, len, size, end)?);
        nonzero += len;
        n += 1;
    }
    let runs = List {
        len: n,
        bytes: start.b,
        f: run,
    };
    Ok(MemoryView {
        size,
        nonzero_bytes: nonzero,
        runs,
    })
}

fn run<'a>(c: &mut Cursor<'a>) -> Result<MemoryRun<'a>, FormatError> {
    let offset = c.u64()?;
    let len = c.u64()?;
    run_shape(offset, len)?;
    Ok(MemoryRun {
        offset,
        bytes: c.take(len)?,
    })
}

fn value(c: &mut Cursor<'_>, t: ValType) -> Result<Value, FormatError> {
    Ok(match t {
        ValType::I64 => Value::I64(c.u64()?),
        ValType::F64 => Value::F64(c.u64()?),
        ValType::V128 => Value::V128(c.arr()?),
        ValType::ExnRef => return Err(bad("checkpoint is malformed (bad value type)")),
        ValType::I32 | ValType::F32 | ValType::FuncRef | ValType::ExternRef => {
            let (lo, hi) = (c.u32()?, c.u32()?);
            check_slot(t, lo, hi)?;
            match t {
                ValType::I32 => Value::I32(lo),
                ValType::F32 => Value::F32(lo),
                ValType::FuncRef => Value::FuncRef(index(lo)),
                _ => Value::NullExternRef,
            }
        }
    })
}

/// What the format asks of the 8-byte slot of a value of type `t` (low and high
/// halves) beyond its type: a 32-bit value or funcref has zero high bits, an externref
/// is null. [`value`] and [`checked_frame`] both check slots by it.
#[inline]
fn check_slot(t: ValType, lo: u32, hi: u32) -> Result<(), FormatError> {
    match t {
        ValType::ExternRef if lo != NONE => {
            Err(bad("checkpoint is malformed (non-null externref)"))
        }
        ValType::I32 | ValType::F32 | ValType::FuncRef | ValType::ExternRef if hi != 0 => {
            Err(bad("checkpoint is malformed (non-zero value padding)"))
        }
        _ => Ok(()),
    }
}

fn global(c: &mut Cursor<'_>) -> Result<Value, FormatError> {
    let t = c.valtype()?;
    value(c, t)
}

fn table<'a>(c: &mut Cursor<'a>) -> Result<TableView<'a>, FormatError> {
    let elem = c.valtype()?;
    let len = c.u64()?;
    let max = index64(c.u64()?);
    let entries = c.take(len.checked_mul(4).ok_or(SHORT_SECTION)?)?;
    let t = TableView {
        elem,
        len,
        max,
        entries,
    };
    let ok = match elem {
        ValType::FuncRef => true,
        ValType::ExternRef => t.entries().all(|e| e.is_none()),
        _ => false,
    };
    if !ok || max.is_some_and(|m| len > m) {
        return Err(bad("checkpoint is malformed (bad table)"));
    }
    Ok(t)
}

fn index64(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

fn bitset<'a>(c: &mut Cursor<'a>) -> Result<Bitset<'a>, FormatError> {
    let len = c.u32()?;
    let bits = c.take((len as u64).div_ceil(8))?;
    // Bits past `len` must be clear so that one state has one encoding.
    if len % 8 != 0 && bits.last().is_some_and(|b| b >> (len % 8) != 0) {
        return Err(bad(
            "checkpoint is malformed (bits set past the last segment)",
        ));
    }
    Ok(Bitset { len, bits })
}

/// A frame record as [`checked_frame`] accepted it: iterating a checkpoint's frames
/// decodes each again, for every frame of a deep stack, so this trusts what that
/// checked (the type codes) and only finds the record's bounds.
fn frame<'a>(c: &mut Cursor<'a>) -> Result<Frame<'a>, FormatError> {
    let (func, point, types, rest) = frame_head(c)?;
    // `value_size`: 16 bytes for a v128, 8 for any other (valid) type.
    let wide = types.iter().filter(|&&t| t == ValType::V128 as u8).count();
    let width = (types.len() + wide) * 8;
    let Some(values) = rest.get(..width) else {
        return Err(c.short);
    };
    c.b = &rest[width..];
    Ok(Frame {
        func,
        point,
        types,
        values,
    })
}

type FrameHead<'a> = (u32, u32, &'a [u8], &'a [u8]);

/// A frame record's function, point and type codes, and the bytes after them. Sliced
/// directly rather than through the cursor's field readers: a deep stack's records are
/// read three times per restore (checked, then iterated to check them against the code
/// and to rebuild them), so each instruction here counts thousands of times.
#[inline]
fn frame_head<'a>(c: &Cursor<'a>) -> Result<FrameHead<'a>, FormatError> {
    let b = c.b;
    let word = |k: usize| {
        b.get(k..k + 4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    };
    let (Some(func), Some(point), Some(n)) = (word(0), word(4), word(8)) else {
        return Err(c.short);
    };
    let end = 12 + n as usize;
    match b.get(12..end) {
        Some(types) => Ok((func, point, types, &b[end..])),
        None => Err(c.short),
    }
}

/// A frame record with its type codes and every value valid (padding, externrefs), so
/// that `values()` and `slots()` cannot fail later. One pass over the types: a deep
/// stack has thousands of frames, and decoding each value here was a sixth of what
/// restoring a frame cost.
fn checked_frame<'a>(c: &mut Cursor<'a>) -> Result<Frame<'a>, FormatError> {
    let (func, point, types, rest) = frame_head(c)?;
    // The values follow the types: their slots are checked where they lie, then taken.
    let mut at = 0;
    for &t in types {
        let t = ValType::from_checkpoint_u8(t)
            .ok_or(bad("checkpoint is malformed (bad value type)"))?;
        let size = value_size(t);
        let Some(slot) = rest.get(at..at + size) else {
            return Err(c.short);
        };
        let half = |k: usize| u32::from_le_bytes([slot[k], slot[k + 1], slot[k + 2], slot[k + 3]]);
        check_slot(t, half(0), half(4))?;
        at += size;
    }
    c.b = &rest[at..];
    Ok(Frame {
        func,
        point,
        types,
        values: &rest[..at],
    })
}

fn wasi_state(p: &[u8]) -> Result<WasiView<'_>, FormatError> {
    let mut c = Cursor::new(p);
    let args = strs(&mut c)?;
    let env = strs(&mut c)?;
    let preopens = strs(&mut c)?;
    let n = c.u32()?;
    let fds = List::parse(&mut c, n as u64, fd)?;
    let n = c.u32()?;
    let free_fds = List::parse(&mut c, n as u64, |c| c.u32())?;
    let monotonic_ns = c.u64()?;
    c.end()?;
    let mut prev = None;
    for f in fds.iter() {
        let preopen_ok = match f.preopen {
            None => !f.kind.has_preopen(),
            Some(i) => f.kind.has_preopen() && (i as u64) < preopens.len(),
        };
        if !preopen_ok || prev.is_some_and(|p| p >= f.fd) {
            return Err(bad("checkpoint is malformed (bad fd record)"));
        }
        prev = Some(f.fd);
    }
    if !super::write::free_fds_valid(fds.iter().map(|f| f.fd), free_fds.iter()) {
        return Err(bad(
            "checkpoint is malformed (a free fd is open or listed twice)",
        ));
    }
    Ok(WasiView {
        args,
        env,
        preopens,
        fds,
        free_fds,
        monotonic_ns,
    })
}

fn strs<'a>(c: &mut Cursor<'a>) -> Result<List<'a, &'a [u8]>, FormatError> {
    let n = c.u32()?;
    List::parse(c, n as u64, Cursor::str)
}

fn fd<'a>(c: &mut Cursor<'a>) -> Result<FdRecord<'a>, FormatError> {
    Ok(FdRecord {
        fd: c.u32()?,
        kind: FdKind::from_u8(c.u8()?).ok_or(bad("checkpoint is malformed (bad fd kind)"))?,
        preopen: index(c.u32()?),
        path: c.str()?,
        oflags: c.u16()?,
        fdflags: c.u16()?,
        rights_base: c.u64()?,
        rights_inheriting: c.u64()?,
        offset: c.u64()?,
    })
}
