//! The per-function table of migration points, which the compiler emits (one object
//! per function with points, found through `FuncRecord::point_table`) and the runtime
//! reads to take a frame out of a stopped program and to check a checkpoint's frames
//! before anything runs. Encoder and reader live here together so the two sides cannot
//! drift.
//!
//! A frame is *described*, not saved by code: the table says where each Wasm value of a
//! point lives in the machine state at that point's pc (a register, a slot of the
//! native frame, or a constant), and which callee-saved registers the function's
//! prologue stored where, so the runtime can read the innermost frame from the fault
//! at a poll and every frame below it by unwinding (ARCHITECTURE.md, "Migration
//! points").
//!
//! Layout (little-endian; the table is 4-byte aligned and padded to a multiple of 4):
//!
//! ```text
//! u32 total_bytes                 the whole table, this word included
//! u32 num_points
//! u32 num_saves
//! u32 num_consts
//! u32 depth_charge                what the function's entry takes from the depth
//! u32 num_extras                  entries of the extras pool
//! u32 pc[num_points]              each point's site, 0xffffffff if it has none
//! u32 offset[num_points]          of each record, from the start of the table
//! save[num_saves]:   u32 reg, i32 fp_offset
//! const[num_consts]: u64 bits
//! extra[num_extras]: u32 loc, u32 source, u32 data
//! record (bytes, unaligned): u8 kind | poll_len << 4, uleb target (call points only),
//!         uleb nvals, u8 types[nvals], loc[nvals] (only with a site),
//!         uleb nextras, index[nextras] (u8; u16 past 256 entries, u32 past 65536)
//! ```
//!
//! A `loc` is one to three bytes ([`ValueLoc::put_bytes`]), in a pool entry zero-padded
//! to a word. A record names its extras by their index in the pool, where each
//! distinct one is once.
//!
//! `kind` is a [`PointKind`]; `target` is the callee's function index for a direct call
//! point, the canonical type id (`FuncRecord::type_id`) of the callee for an indirect
//! one, and 0 otherwise. A *site* is a place in the code where a frame can be stopped
//! at the point: `pc` is the offset in the function's code of the poll (entry and loop
//! points, one site: the load that faults when the runtime asks the program to stop,
//! `poll_len` bytes long) or of a return address (call points), each with the values'
//! locations there. A point has one site, or none if the optimiser removed it with
//! unreachable code. `types` are
//! [`ValType`] codes of the frame record's values, in order: locals, then operand-stack
//! values below the point. `loc` is a [`Loc`]. A save says the prologue stored register
//! `reg` (a [`Loc::Reg`] number) at `fp + fp_offset`; the caller's frame pointer and
//! return address are at `fp` and `fp + 8` on every ISA. The *extras* are the other
//! values live at the site, which a rebuilt frame needs too: each is at `loc` and is an
//! [`Extra`] (`source` its kind, `data` its operand). `depth_charge` is what the
//! function subtracts from the call-depth argument it is entered with before passing it
//! on (0 outside recursion), so a frame rebuilt below enters its callee with the depth
//! the call would have passed (SPEC.md §2.3).

extern crate alloc;

use crate::ValType;
use alloc::vec::Vec;

/// What a migration point is, which tells where a frame stopped there can resume and
/// what frame may lie above it in a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointKind {
    /// Function entry (point 0).
    Entry,
    /// A loop header.
    Loop,
    /// A call of a Wasm function by index: the next frame belongs to that function.
    CallDirect { callee: u32 },
    /// `call_indirect`: the next frame belongs to a function of this canonical type id.
    CallIndirect { type_id: u32 },
}

impl PointKind {
    fn encode(self) -> (u8, u32) {
        match self {
            PointKind::Entry => (0, 0),
            PointKind::Loop => (1, 0),
            PointKind::CallDirect { callee } => (2, callee),
            PointKind::CallIndirect { type_id } => (3, type_id),
        }
    }

    fn decode(kind: u8, target: u32) -> Option<PointKind> {
        Some(match kind {
            0 => PointKind::Entry,
            1 => PointKind::Loop,
            2 => PointKind::CallDirect { callee: target },
            3 => PointKind::CallIndirect { type_id: target },
            _ => return None,
        })
    }

    /// Whether a frame stopped here has a callee frame above it (the innermost frame of
    /// a checkpoint never stops at a call: calls are where frames *below* resume).
    pub fn is_call(self) -> bool {
        matches!(
            self,
            PointKind::CallDirect { .. } | PointKind::CallIndirect { .. }
        )
    }
}

/// Where a value of a frame lives at its point's pc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// Nowhere the compiler could name: a frame stopped here cannot be read, so the
    /// runtime goes on to the next poll (never a wrong value).
    Unknown,
    /// A register: 0-31 the general-purpose register with that hardware number, 32-63
    /// the float/vector register `n - 32` (its low bits hold the value).
    Reg(u8),
    /// The 8-byte slot at `fp + offset` (a multiple of 4 within ±128 KiB).
    Frame(i32),
    /// The table's constant `index` (a value the optimiser made a constant).
    Const(u16),
}

/// Where a value lives, and whether it is a raw float-arithmetic result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueLoc {
    pub loc: Loc,
    /// A raw float-arithmetic result: canonicalise a NaN when reading it.
    pub arith: bool,
}

impl ValueLoc {
    /// The location as a pool entry holds it: its record bytes ([`ValueLoc::put_bytes`],
    /// at most three) zero-padded to a word, so the two places share one encoding.
    fn word(self) -> u32 {
        let mut b = Vec::with_capacity(4);
        self.put_bytes(&mut b);
        b.resize(4, 0);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    fn from_word(w: u32) -> Option<ValueLoc> {
        ValueLoc::take_bytes(&w.to_le_bytes()).map(|(l, _)| l)
    }

    /// Whether `fp + offset` can be described by a [`Loc::Frame`].
    pub fn frame_offset_fits(offset: i64) -> bool {
        offset % 4 == 0 && (i16::MIN as i64 * 4..=i16::MAX as i64 * 4).contains(&offset)
    }
}

/// A value live at a site that is not one of the point's Wasm values, as the runtime
/// recomputes it when it rebuilds the frame there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// The instance's vmctx.
    Vmctx,
    /// The table's constant `index`.
    Const(u16),
    /// The 64-bit word at this offset in the vmctx (read-only while code runs).
    VmLoad64(i32),
    /// The 32-bit word at this offset in the vmctx, zero-extended.
    VmLoad32(i32),
    /// Extra `base` (an earlier one of the same site) plus the table's constant `konst`.
    AddConst { base: u16, konst: u16 },
    /// The point's Wasm value `index`, kept here as well as where the site says.
    Value(u16),
    /// The call-depth argument the frame's function was entered with.
    Depth,
    /// Something the compiler cannot name: no frame stops at this site.
    Unknown,
}

impl Extra {
    fn encode(self) -> (u32, u32) {
        match self {
            Extra::Unknown => (0, 0),
            Extra::Vmctx => (1, 0),
            Extra::Const(i) => (2, i as u32),
            Extra::VmLoad64(off) => (3, off as u32),
            Extra::VmLoad32(off) => (4, off as u32),
            Extra::AddConst { base, konst } => (5, base as u32 | (konst as u32) << 16),
            Extra::Value(i) => (6, i as u32),
            Extra::Depth => (7, 0),
        }
    }

    fn decode(kind: u32, data: u32) -> Option<Extra> {
        Some(match kind {
            0 => Extra::Unknown,
            1 => Extra::Vmctx,
            2 => Extra::Const(u16::try_from(data).ok()?),
            3 => Extra::VmLoad64(data as i32),
            4 => Extra::VmLoad32(data as i32),
            5 => Extra::AddConst {
                base: data as u16,
                konst: (data >> 16) as u16,
            },
            6 => Extra::Value(u16::try_from(data).ok()?),
            7 => Extra::Depth,
            _ => return None,
        })
    }
}

/// One point as the compiler describes it.
pub struct PointDesc<'a> {
    pub kind: PointKind,
    pub types: &'a [ValType],
    /// Length in bytes of the poll instruction (0 for calls).
    pub poll_len: u8,
    /// (pc, one location per value in the order of `types`) of each site.
    pub sites: Vec<(u32, &'a [ValueLoc])>,
    /// The other values live at the (one) site: where each is, and what.
    pub extras: &'a [(ValueLoc, Extra)],
}

/// A function's table as the compiler describes it.
pub struct TableDesc<'a> {
    pub points: &'a [PointDesc<'a>],
    /// Callee-saved registers the prologue stores: (register number, offset from fp).
    pub saves: &'a [(u8, i32)],
    pub consts: &'a [u64],
    /// What the function's entry takes from its call-depth argument.
    pub depth_charge: u32,
}

const HEADER: usize = 24;

/// Value locations in a record, one to three bytes each (a register, a slot near the
/// frame pointer: one or two): see [`ValueLoc::put_bytes`].
const LOC_BYTE_FRAME: u8 = 0x80;
const LOC_BYTE_OTHER: u8 = 0xc0;
const LOC_BYTE_ARITH: u8 = 0x08;
/// A `pc` word of a point without a site.
const NO_SITE: u32 = u32::MAX;

impl ValueLoc {
    /// Appends the location as a record holds it: `00rrrrrr` register `r`, `01rrrrrr`
    /// the same with *arith*; `10hhhhhh llllllll` a frame slot whose offset in units of
    /// 4 is the 14-bit two's-complement `hhhhhhllllllll`; `11000aKK` otherwise, with
    /// `a` *arith* and `KK` 0 unknown, 1 a frame slot (an `i16` of units follows), 2 a
    /// constant (its `u16` index follows).
    fn put_bytes(self, out: &mut Vec<u8>) {
        let arith = if self.arith { LOC_BYTE_ARITH } else { 0 };
        match self.loc {
            Loc::Reg(r) if r < 64 => out.push(r | if self.arith { 0x40 } else { 0 }),
            Loc::Frame(off) if !self.arith && (-(1 << 13)..1 << 13).contains(&(off / 4)) => {
                let units = (off / 4) as u16 & 0x3fff;
                out.extend_from_slice(&[LOC_BYTE_FRAME | (units >> 8) as u8, units as u8]);
            }
            Loc::Frame(off) => {
                out.push(LOC_BYTE_OTHER | arith | 1);
                out.extend_from_slice(&((off / 4) as i16).to_le_bytes());
            }
            Loc::Const(i) => {
                out.push(LOC_BYTE_OTHER | arith | 2);
                out.extend_from_slice(&i.to_le_bytes());
            }
            // A register number past 63 is not a location: written as unknown.
            Loc::Unknown | Loc::Reg(_) => out.push(LOC_BYTE_OTHER | arith),
        }
    }

    /// The location at the start of `b`, and its length in bytes.
    fn take_bytes(b: &[u8]) -> Option<(ValueLoc, usize)> {
        let first = *b.first()?;
        let u16_at = |i: usize| Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]));
        Some(match first >> 6 {
            0 | 1 => (
                ValueLoc {
                    loc: Loc::Reg(first & 0x3f),
                    arith: first & 0x40 != 0,
                },
                1,
            ),
            2 => {
                let units = (u16::from(first & 0x3f) << 8 | u16::from(*b.get(1)?)) << 2;
                let loc = Loc::Frame(i32::from(units as i16 >> 2) * 4);
                (ValueLoc { loc, arith: false }, 2)
            }
            _ => {
                let arith = first & LOC_BYTE_ARITH != 0;
                let (loc, len) = match first & !LOC_BYTE_ARITH {
                    0xc0 => (Loc::Unknown, 1),
                    0xc1 => (Loc::Frame(i32::from(u16_at(1)? as i16) * 4), 3),
                    0xc2 => (Loc::Const(u16_at(1)?), 3),
                    _ => return None,
                };
                (ValueLoc { loc, arith }, len)
            }
        })
    }
}

/// Bytes of a record's index into a pool of `entries` extras: 1, 2, or 4.
fn index_width(entries: u32) -> usize {
    match entries {
        0..=0x100 => 1,
        0x101..=0x1_0000 => 2,
        _ => 4,
    }
}

/// A little-endian index of 1, 2 or 4 bytes.
fn read_index(b: &[u8]) -> u32 {
    b.iter().rev().fold(0, |w, &x| w << 8 | u32::from(x))
}

/// Appends `v` as unsigned LEB128.
fn put_uleb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The unsigned LEB128 number at `*at` in `b` (at most 32 bits), advancing `*at`.
fn take_uleb(b: &[u8], at: &mut usize) -> Option<u32> {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        let bits = u32::from(byte & 0x7f);
        if shift == 28 && bits > 0x0f {
            return None;
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Encodes a function's points (index = point id) in the layout above. The records
/// are byte streams, not words: a large program's tables (LLVM, 75 MB of Wasm) took
/// 172 MB in words, more than its 126 MB of x86-64 code, and take 72 MB so.
pub fn encode(t: &TableDesc) -> Vec<u8> {
    // The pool: each distinct (location, source, data) of the extras once. A
    // function's points mostly repeat a few (the vmctx, the memory base, the depth,
    // each in its one place), which took 45% of a large program's tables when every
    // record held its own.
    let mut pool: Vec<[u32; 3]> = Vec::new();
    // Looked up by a scan while the pool is short (a small function's is), by a map
    // once it is not.
    const SCAN: usize = 32;
    let mut pooled = alloc::collections::BTreeMap::new();
    // Every point's pool indices, in point order.
    let mut indices: Vec<u32> = Vec::with_capacity(t.points.iter().map(|p| p.extras.len()).sum());
    for p in t.points {
        for (l, e) in p.extras {
            let (kind, data) = e.encode();
            let entry = [l.word(), kind, data];
            let found = if pool.len() <= SCAN {
                pool.iter().position(|x| *x == entry).map(|i| i as u32)
            } else {
                if pooled.is_empty() {
                    pooled.extend(pool.iter().enumerate().map(|(i, x)| (*x, i as u32)));
                }
                pooled.get(&entry).copied()
            };
            indices.push(found.unwrap_or_else(|| {
                pool.push(entry);
                let i = pool.len() as u32 - 1;
                if !pooled.is_empty() {
                    pooled.insert(entry, i);
                }
                i
            }));
        }
    }
    let width = index_width(pool.len() as u32);
    let mut records = Vec::new();
    let mut offsets = Vec::with_capacity(t.points.len());
    let fixed =
        HEADER + 8 * t.points.len() + 8 * t.saves.len() + 8 * t.consts.len() + 12 * pool.len();
    let mut rest = &indices[..];
    for p in t.points {
        let (extras, after) = rest.split_at(p.extras.len());
        rest = after;
        assert!(p.sites.len() <= 1, "a point has at most one site");
        assert!(p.poll_len < 16, "a poll is at most 15 bytes long");
        offsets.push((fixed + records.len()) as u32);
        let (kind, target) = p.kind.encode();
        records.push(kind | p.poll_len << 4);
        if p.kind.is_call() {
            put_uleb(&mut records, target);
        }
        put_uleb(&mut records, p.types.len() as u32);
        records.extend(p.types.iter().map(|t| *t as u8));
        if let Some((_, locs)) = p.sites.first() {
            assert_eq!(p.types.len(), locs.len(), "a location per value");
            for l in *locs {
                l.put_bytes(&mut records);
            }
        }
        put_uleb(&mut records, extras.len() as u32);
        for &i in extras {
            records.extend_from_slice(&i.to_le_bytes()[..width]);
        }
    }
    let mut out = Vec::with_capacity(fixed + records.len() + 3);
    let put = |out: &mut Vec<u8>, w: u32| out.extend_from_slice(&w.to_le_bytes());
    put(&mut out, 0); // total, patched below
    put(&mut out, t.points.len() as u32);
    put(&mut out, t.saves.len() as u32);
    put(&mut out, t.consts.len() as u32);
    put(&mut out, t.depth_charge);
    put(&mut out, pool.len() as u32);
    for p in t.points {
        put(&mut out, p.sites.first().map_or(NO_SITE, |s| s.0));
    }
    for &o in &offsets {
        put(&mut out, o);
    }
    for (reg, off) in t.saves {
        put(&mut out, *reg as u32);
        put(&mut out, *off as u32);
    }
    for c in t.consts {
        out.extend_from_slice(&c.to_le_bytes());
    }
    for entry in &pool {
        for w in entry {
            put(&mut out, *w);
        }
    }
    debug_assert_eq!(out.len(), fixed);
    out.extend_from_slice(&records);
    out.resize(out.len().next_multiple_of(4), 0);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out
}

/// Reads the `total_bytes` word at the start of a table, so a holder of only its
/// address can form the slice [`PointTable::new`] takes.
pub fn total_bytes(first_word: [u8; 4]) -> usize {
    u32::from_le_bytes(first_word) as usize
}

/// A validated view of one function's point table.
#[derive(Clone, Copy)]
pub struct PointTable<'a> {
    bytes: &'a [u8],
    num_points: u32,
    num_saves: u32,
    num_consts: u32,
    depth_charge: u32,
    num_extras: u32,
}

/// One point as the runtime reads it.
#[derive(Clone, Copy, Debug)]
pub struct Point<'a> {
    pub kind: PointKind,
    /// [`ValType`] codes; every one was checked to be a valid code.
    pub types: &'a [u8],
    pub poll_len: u8,
    /// The site's pc, if the point has a site.
    pc: Option<u32>,
    /// The values' locations at the site (read with [`Point::locs`]; empty without one).
    locs: &'a [u8],
    /// The extras: an index into `pool` each, `width` bytes long.
    extras: &'a [u8],
    width: usize,
    /// The table's pool of extras: location, kind, data words.
    pool: &'a [u8],
}

/// The values' locations of a point's site, in order.
pub struct Locs<'a> {
    bytes: &'a [u8],
}

impl Iterator for Locs<'_> {
    type Item = ValueLoc;
    fn next(&mut self) -> Option<ValueLoc> {
        // Checked when the table was read.
        let (l, n) = ValueLoc::take_bytes(self.bytes)?;
        self.bytes = &self.bytes[n..];
        Some(l)
    }
}

impl<'a> Point<'a> {
    pub fn num_sites(&self) -> usize {
        usize::from(self.pc.is_some())
    }

    pub fn num_extras(&self) -> usize {
        self.extras.len() / self.width
    }

    fn pool_word(&self, i: usize, j: usize) -> u32 {
        let index = read_index(&self.extras[i * self.width..(i + 1) * self.width]) as usize;
        let at = 12 * index + 4 * j;
        let b = &self.pool[at..at + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Whether a frame stopped at this point can be rebuilt: none of its extras is
    /// [`Extra::Unknown`] (whose kind word is 0). Reads only the kind words, since a
    /// checkpoint asks it of every frame.
    pub fn rebuildable(&self) -> bool {
        (0..self.num_extras()).all(|i| self.pool_word(i, 1) != 0)
    }

    /// Extra `i` of the site: where it is and what it is (checked when the table was
    /// read).
    pub fn extra(&self, i: usize) -> (ValueLoc, Extra) {
        (
            ValueLoc::from_word(self.pool_word(i, 0)).unwrap_or(ValueLoc {
                loc: Loc::Unknown,
                arith: false,
            }),
            Extra::decode(self.pool_word(i, 1), self.pool_word(i, 2)).unwrap_or(Extra::Unknown),
        )
    }

    /// The pc (offset in the function) of site `s`.
    pub fn site_pc(&self, s: usize) -> u32 {
        assert!(s < self.num_sites(), "no such site");
        self.pc.unwrap_or(NO_SITE)
    }

    /// Where each value lives at site `s`, in the order of [`Point::types`].
    pub fn locs(&self, s: usize) -> Locs<'a> {
        assert!(s < self.num_sites(), "no such site");
        Locs { bytes: self.locs }
    }
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let w = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

impl<'a> PointTable<'a> {
    /// `None` when `bytes` is not a well-formed table.
    pub fn new(bytes: &'a [u8]) -> Option<PointTable<'a>> {
        if word(bytes, 0)? as usize != bytes.len() {
            return None;
        }
        let table = PointTable {
            bytes,
            num_points: word(bytes, 4)?,
            num_saves: word(bytes, 8)?,
            num_consts: word(bytes, 12)?,
            depth_charge: word(bytes, 16)?,
            num_extras: word(bytes, 20)?,
        };
        if table.records_at() as u64 > bytes.len() as u64 {
            return None;
        }
        let saves_ok = (0..table.num_saves).all(|i| table.save(i).is_some_and(|(r, _)| r < 64));
        let pool_ok = table.pool().chunks_exact(12).all(|e| {
            let w =
                |j: usize| u32::from_le_bytes([e[4 * j], e[4 * j + 1], e[4 * j + 2], e[4 * j + 3]]);
            table.loc_ok(ValueLoc::from_word(w(0))) && Extra::decode(w(1), w(2)).is_some()
        });
        (saves_ok && pool_ok && (0..table.num_points).all(|k| table.parse(k, true).is_some()))
            .then_some(table)
    }

    pub fn len(&self) -> u32 {
        self.num_points
    }

    /// What the function's entry takes from its call-depth argument.
    pub fn depth_charge(&self) -> u32 {
        self.depth_charge
    }

    pub fn is_empty(&self) -> bool {
        self.num_points == 0
    }

    fn pcs_at(&self) -> usize {
        HEADER
    }

    fn offsets_at(&self) -> usize {
        HEADER + 4 * self.num_points as usize
    }

    fn saves_at(&self) -> usize {
        HEADER + 8 * self.num_points as usize
    }

    fn consts_at(&self) -> usize {
        self.saves_at() + 8 * self.num_saves as usize
    }

    fn pool_at(&self) -> usize {
        self.consts_at() + 8 * self.num_consts as usize
    }

    fn records_at(&self) -> usize {
        self.pool_at() + 12 * self.num_extras as usize
    }

    fn pool(&self) -> &'a [u8] {
        &self.bytes[self.pool_at()..self.records_at()]
    }

    /// Callee-saved register `i` the prologue stores: (register number, fp offset).
    pub fn save(&self, i: u32) -> Option<(u8, i32)> {
        if i >= self.num_saves {
            return None;
        }
        let at = self.saves_at() + 8 * i as usize;
        Some((
            word(self.bytes, at)? as u8,
            word(self.bytes, at + 4)? as i32,
        ))
    }

    pub fn num_saves(&self) -> u32 {
        self.num_saves
    }

    pub fn constant(&self, i: u16) -> Option<u64> {
        if i as u32 >= self.num_consts {
            return None;
        }
        let at = self.consts_at() + 8 * i as usize;
        let lo = word(self.bytes, at)? as u64;
        let hi = word(self.bytes, at + 4)? as u64;
        Some(lo | hi << 32)
    }

    fn loc_ok(&self, l: Option<ValueLoc>) -> bool {
        l.is_some_and(|l| match l.loc {
            Loc::Const(i) => (i as u32) < self.num_consts,
            Loc::Reg(r) => r < 64,
            _ => true,
        })
    }

    /// Point `k`, or `None` when the function has no such point. Its contents were
    /// checked when the table was read ([`PointTable::new`]), so this is cheap enough to
    /// call once per frame.
    pub fn point(&self, k: u32) -> Option<Point<'a>> {
        self.parse(k, false)
    }

    /// The site pc of point `k` (`NO_SITE` without one).
    fn pc(&self, k: u32) -> Option<u32> {
        word(self.bytes, self.pcs_at() + 4 * k as usize)
    }

    /// Point `k`'s record; with `check`, also every value type, location and extra.
    fn parse(&self, k: u32, check: bool) -> Option<Point<'a>> {
        if k >= self.num_points {
            return None;
        }
        let b = self.bytes;
        let mut at = word(b, self.offsets_at() + 4 * k as usize)? as usize;
        if at < self.records_at() {
            return None;
        }
        let pc = Some(self.pc(k)?).filter(|&pc| pc != NO_SITE);
        let head = *b.get(at)?;
        at += 1;
        let target = if head & 0x0f >= 2 {
            take_uleb(b, &mut at)?
        } else {
            0
        };
        let kind = PointKind::decode(head & 0x0f, target)?;
        let nvals = take_uleb(b, &mut at)? as usize;
        let types = b.get(at..at.checked_add(nvals)?)?;
        at += nvals;
        if check && !types.iter().all(|t| ValType::from_u8(*t).is_some()) {
            return None;
        }
        let locs_at = at;
        if pc.is_some() {
            for _ in 0..nvals {
                let (l, n) = ValueLoc::take_bytes(b.get(at..)?)?;
                if check && !self.loc_ok(Some(l)) {
                    return None;
                }
                at += n;
            }
        }
        let locs = &b[locs_at..at];
        let nextras = take_uleb(b, &mut at)? as usize;
        let width = index_width(self.num_extras);
        let extras = b.get(at..at.checked_add(nextras.checked_mul(width)?)?)?;
        let point = Point {
            kind,
            types,
            poll_len: head >> 4,
            pc,
            locs,
            extras,
            width,
            pool: self.pool(),
        };
        if check {
            let index_ok = extras
                .chunks_exact(width)
                .all(|b| read_index(b) < self.num_extras);
            let extras_ok = index_ok
                && (0..nextras).all(|i| match point.extra(i).1 {
                    Extra::Const(c) => (c as u32) < self.num_consts,
                    // Computed from an earlier extra: one pass in order evaluates all.
                    Extra::AddConst { base, konst } => {
                        (base as usize) < i && (konst as u32) < self.num_consts
                    }
                    Extra::Value(v) => (v as usize) < nvals,
                    _ => true,
                });
            if !extras_ok {
                return None;
            }
        }
        Some(point)
    }

    /// The entry or loop point whose poll is at `pc` (an offset in the function).
    pub fn poll_at(&self, pc: u32) -> Option<(u32, Point<'a>)> {
        (0..self.num_points)
            .filter(|&k| self.pc(k) == Some(pc))
            .filter_map(|k| Some((k, self.point(k)?)))
            .find(|(_, p)| !p.kind.is_call())
    }

    /// The call point and site whose return address is `pc` (an offset in the
    /// function).
    pub fn call_returning_to(&self, pc: u32) -> Option<(u32, Point<'a>, usize)> {
        (0..self.num_points)
            .filter(|&k| self.pc(k) == Some(pc))
            .filter_map(|k| Some((k, self.point(k)?)))
            .find_map(|(k, p)| p.kind.is_call().then_some((k, p, 0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn at(loc: Loc) -> ValueLoc {
        ValueLoc { loc, arith: false }
    }

    #[test]
    fn round_trip() {
        let locs1 = [at(Loc::Reg(3))];
        let locs2 = [
            at(Loc::Frame(-40)),
            ValueLoc {
                loc: Loc::Reg(33),
                arith: true,
            },
            at(Loc::Const(0)),
            at(Loc::Unknown),
            at(Loc::Frame(131068)),
        ];
        let locs4 = [at(Loc::Reg(12))];
        let extras2 = [
            (at(Loc::Reg(14)), Extra::Vmctx),
            (at(Loc::Unknown), Extra::VmLoad64(-8)),
            (at(Loc::Frame(-24)), Extra::AddConst { base: 1, konst: 0 }),
            (at(Loc::Reg(40)), Extra::VmLoad32(96)),
            (at(Loc::Reg(3)), Extra::Const(0)),
            (at(Loc::Frame(-32)), Extra::Depth),
        ];
        let points = [
            PointDesc {
                kind: PointKind::Entry,
                types: &[ValType::I32],
                poll_len: 4,
                sites: vec![(4, &locs1[..])],
                extras: &[],
            },
            PointDesc {
                kind: PointKind::Loop,
                types: &[
                    ValType::I64,
                    ValType::F64,
                    ValType::F32,
                    ValType::I32,
                    ValType::FuncRef,
                ],
                poll_len: 3,
                sites: vec![(20, &locs2[..])],
                extras: &extras2,
            },
            PointDesc {
                kind: PointKind::CallDirect { callee: 7 },
                types: &[],
                poll_len: 0,
                sites: vec![(44, &[][..])],
                extras: &[],
            },
            PointDesc {
                kind: PointKind::CallIndirect { type_id: 3 },
                types: &[ValType::ExternRef],
                poll_len: 0,
                sites: vec![(60, &locs4[..])],
                // Unrebuildable.
                extras: &[(at(Loc::Unknown), Extra::Unknown)],
            },
        ];
        let bytes = encode(&TableDesc {
            points: &points,
            saves: &[(3, -8), (44, -16)],
            consts: &[u64::MAX - 1],
            depth_charge: 3,
        });
        assert_eq!(bytes.len() % 4, 0);
        let t = PointTable::new(&bytes).expect("well-formed");
        assert_eq!(t.len(), 4);
        for (k, d) in points.iter().enumerate() {
            let p = t.point(k as u32).unwrap();
            assert_eq!(p.kind, d.kind);
            let want: Vec<u8> = d.types.iter().map(|t| *t as u8).collect();
            assert_eq!(p.types, &want[..]);
            assert_eq!(p.poll_len, d.poll_len);
            assert_eq!(p.num_sites(), d.sites.len());
            for (s, (pc, locs)) in d.sites.iter().enumerate() {
                assert_eq!(p.site_pc(s), *pc);
                assert_eq!(p.locs(s).collect::<Vec<_>>(), *locs);
            }
            assert_eq!(p.num_extras(), d.extras.len());
            assert_eq!(
                p.rebuildable(),
                !d.extras.iter().any(|(_, e)| *e == Extra::Unknown)
            );
            for (i, e) in d.extras.iter().enumerate() {
                assert_eq!(p.extra(i), *e);
            }
        }
        assert!(t.point(4).is_none());
        assert_eq!(t.save(0), Some((3, -8)));
        assert_eq!(t.save(1), Some((44, -16)));
        assert_eq!(t.save(2), None);
        assert_eq!(t.constant(0), Some(u64::MAX - 1));
        assert_eq!(t.depth_charge(), 3);
        assert_eq!(t.poll_at(20).map(|(k, _)| k), Some(1));
        assert_eq!(t.poll_at(44).map(|(k, _)| k), None, "a call is not a poll");
        assert_eq!(
            t.call_returning_to(60).map(|(k, _, s)| (k, s)),
            Some((3, 0))
        );
    }

    #[test]
    fn frame_offsets_that_do_not_fit_are_refused() {
        assert!(ValueLoc::frame_offset_fits(-131072));
        assert!(!ValueLoc::frame_offset_fits(131072));
        assert!(!ValueLoc::frame_offset_fits(6));
    }

    #[test]
    fn every_location_round_trips_through_its_bytes() {
        let mut locs = vec![
            at(Loc::Unknown),
            at(Loc::Const(0)),
            at(Loc::Const(u16::MAX)),
        ];
        for r in 0..64 {
            locs.push(at(Loc::Reg(r)));
        }
        for units in [-32768, -8193, -8192, -1, 0, 1, 8191, 8192, 32767] {
            locs.push(at(Loc::Frame(units * 4)));
        }
        let with_arith: Vec<ValueLoc> = locs
            .iter()
            .map(|l| ValueLoc { arith: true, ..*l })
            .collect();
        for l in locs.iter().chain(&with_arith) {
            let mut b = vec![];
            l.put_bytes(&mut b);
            assert_eq!(ValueLoc::take_bytes(&b), Some((*l, b.len())), "{l:?}");
        }
        // Short forms: a register in one byte, a slot within 32 KiB of fp in two.
        let len = |l: ValueLoc| {
            let mut b = vec![];
            l.put_bytes(&mut b);
            b.len()
        };
        assert_eq!(len(at(Loc::Reg(40))), 1);
        assert_eq!(len(at(Loc::Frame(-32768))), 2);
        assert_eq!(len(at(Loc::Frame(-32772))), 3);
        for bad in [0xc3u8, 0xc4, 0xcb, 0xd0, 0xff] {
            assert_eq!(ValueLoc::take_bytes(&[bad, 0, 0]), None, "{bad:#x}");
        }
    }

    #[test]
    fn pool_indices_take_one_two_or_four_bytes() {
        assert_eq!(index_width(0), 1);
        assert_eq!(index_width(256), 1);
        assert_eq!(index_width(257), 2);
        assert_eq!(index_width(65_536), 2);
        assert_eq!(index_width(65_537), 4);
        assert_eq!(read_index(&[0x34, 0x12]), 0x1234);
        assert_eq!(read_index(&70_000u32.to_le_bytes()), 70_000);
    }

    #[test]
    fn uleb_round_trips_and_refuses_overlong_numbers() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u32::MAX] {
            let mut b = vec![];
            put_uleb(&mut b, v);
            let mut at = 0;
            assert_eq!(take_uleb(&b, &mut at), Some(v));
            assert_eq!(at, b.len());
        }
        assert_eq!(
            take_uleb(&[0xff, 0xff, 0xff, 0xff, 0x1f], &mut 0),
            None,
            "33 bits"
        );
        assert_eq!(take_uleb(&[0x80, 0x80], &mut 0), None, "truncated");
    }

    #[test]
    fn extras_are_pooled_and_wide_indices_used_past_256() {
        let extras: Vec<(ValueLoc, Extra)> = (0..300)
            .map(|i| (at(Loc::Frame(-8 * (i + 1))), Extra::VmLoad64(i)))
            .collect();
        // Two points with the same first 300 extras, so the pool holds each once.
        let points = [
            PointDesc {
                kind: PointKind::Entry,
                types: &[],
                poll_len: 4,
                sites: vec![(0, &[][..])],
                extras: &extras,
            },
            PointDesc {
                kind: PointKind::Loop,
                types: &[],
                poll_len: 4,
                sites: vec![(8, &[][..])],
                extras: &extras[..2],
            },
        ];
        let bytes = encode(&TableDesc {
            points: &points,
            saves: &[],
            consts: &[],
            depth_charge: 0,
        });
        let t = PointTable::new(&bytes).expect("well-formed");
        assert_eq!(t.num_extras, 300);
        assert_eq!(index_width(t.num_extras), 2);
        for (k, d) in points.iter().enumerate() {
            let p = t.point(k as u32).unwrap();
            assert_eq!(p.num_extras(), d.extras.len());
            for (i, e) in d.extras.iter().enumerate() {
                assert_eq!(p.extra(i), *e);
            }
        }
    }

    #[test]
    fn damaged_tables_are_refused() {
        let locs = [at(Loc::Reg(1)), at(Loc::Const(0))];
        let points = [PointDesc {
            kind: PointKind::Loop,
            types: &[ValType::I32, ValType::I64],
            poll_len: 4,
            sites: vec![(8, &locs[..])],
            extras: &[
                (at(Loc::Unknown), Extra::VmLoad64(16)),
                (at(Loc::Reg(2)), Extra::AddConst { base: 0, konst: 0 }),
            ],
        }];
        let bytes = encode(&TableDesc {
            points: &points,
            saves: &[],
            consts: &[5],
            depth_charge: 0,
        });
        assert!(PointTable::new(&bytes).is_some());
        // Header 24, one pc and one offset, one constant, two pooled extras: the
        // record starts at 64 with its head byte, then nvals, two types, the locs
        // (register: one byte; constant: three), nextras and two indices.
        let pool = 40;
        let rec = 64;
        assert_eq!(word(&bytes, 28), Some(rec as u32));
        let types = rec + 2;
        let locs = types + 2;
        let nextras = locs + 4;
        assert_eq!(bytes[nextras], 2);
        assert!(
            PointTable::new(&bytes[..bytes.len() - 4]).is_none(),
            "truncated"
        );
        let mut bad_kind = bytes.clone();
        bad_kind[rec] = 0x49;
        assert!(PointTable::new(&bad_kind).is_none(), "unknown kind");
        let mut bad_type = bytes.clone();
        bad_type[types] = 0xee;
        assert!(PointTable::new(&bad_type).is_none(), "unknown value type");
        let mut long_count = bytes.clone();
        long_count[rec + 1] = 100;
        assert!(
            PointTable::new(&long_count).is_none(),
            "value count past the end"
        );
        let mut bad_offset = bytes.clone();
        bad_offset[28] = 8;
        assert!(
            PointTable::new(&bad_offset).is_none(),
            "a record inside the header"
        );
        let mut bad_const = bytes.clone();
        bad_const[locs + 2] = 1; // second loc: constant index 1 of 1
        assert!(
            PointTable::new(&bad_const).is_none(),
            "constant index past the pool"
        );
        let mut bad_loc = bytes.clone();
        bad_loc[locs] = 0xc5;
        assert!(PointTable::new(&bad_loc).is_none(), "unknown location kind");
        let mut bad_index = bytes.clone();
        bad_index[nextras + 1] = 2;
        assert!(PointTable::new(&bad_index).is_none(), "extra past the pool");
        let mut bad_extra = bytes.clone();
        bad_extra[pool + 4] = 9;
        assert!(PointTable::new(&bad_extra).is_none(), "unknown extra kind");
        // The second computed from itself, not from an earlier extra: a pass in
        // order could not compute it.
        let mut fwd = bytes.clone();
        fwd[pool + 12 + 8] = 1;
        assert!(
            PointTable::new(&fwd).is_none(),
            "an extra computed from itself"
        );
    }
}
