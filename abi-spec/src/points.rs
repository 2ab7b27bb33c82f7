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
//! Layout (little-endian, 4-byte aligned):
//!
//! ```text
//! u32 total_bytes                 the whole table, this word included
//! u32 num_points
//! u32 num_saves
//! u32 num_consts
//! u32 depth_charge                what the function's entry takes from the depth
//! u32 offset[num_points]          of each record, from the start of the table
//! save[num_saves]:   u32 reg, i32 fp_offset
//! const[num_consts]: u64 bits
//! record: u8 kind, u8 poll_len, u8 nsites, u8 0, u32 target, u32 nvals, u32 0,
//!         u8 types[nvals], pad to 4,
//!         site[nsites]: u32 pc, u32 loc[nvals],
//!         u32 nextras, extra[nextras]: u32 loc, u32 source, u32 data
//! ```
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

const LOC_UNKNOWN: u32 = 0;
const LOC_REG: u32 = 1;
const LOC_FRAME: u32 = 2;
const LOC_CONST: u32 = 3;
/// In a loc word: the value is a float-arithmetic result the code kept raw (x86_64
/// NaN rules), so the runtime canonicalises a NaN there when it reads it.
const ARITH_BIT: u32 = 0x80;

/// One value's location word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueLoc {
    pub loc: Loc,
    /// A raw float-arithmetic result: canonicalise a NaN when reading it.
    pub arith: bool,
}

impl ValueLoc {
    fn encode(self) -> u32 {
        let (kind, data) = match self.loc {
            Loc::Unknown => (LOC_UNKNOWN, 0u16),
            Loc::Reg(r) => (LOC_REG, r as u16),
            Loc::Frame(off) => (LOC_FRAME, ((off / 4) as i16) as u16),
            Loc::Const(i) => (LOC_CONST, i),
        };
        kind | if self.arith { ARITH_BIT } else { 0 } | (data as u32) << 16
    }

    fn decode(w: u32) -> Option<ValueLoc> {
        let data = (w >> 16) as u16;
        let loc = match w & 0x7f {
            LOC_UNKNOWN => Loc::Unknown,
            LOC_REG if data < 64 => Loc::Reg(data as u8),
            LOC_FRAME => Loc::Frame(data as i16 as i32 * 4),
            LOC_CONST => Loc::Const(data),
            _ => return None,
        };
        Some(ValueLoc {
            loc,
            arith: w & ARITH_BIT != 0,
        })
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

const HEADER: usize = 20;

const RECORD_HEADER: usize = 16;

fn record_bytes(nvals: usize, nsites: usize, nextras: usize) -> usize {
    RECORD_HEADER + nvals.div_ceil(4) * 4 + nsites * (4 + 4 * nvals) + 4 + 12 * nextras
}

/// Encodes a function's points (index = point id) in the layout above.
pub fn encode(t: &TableDesc) -> Vec<u8> {
    let mut out = Vec::new();
    let put = |out: &mut Vec<u8>, w: u32| out.extend_from_slice(&w.to_le_bytes());
    put(&mut out, 0); // total, patched below
    put(&mut out, t.points.len() as u32);
    put(&mut out, t.saves.len() as u32);
    put(&mut out, t.consts.len() as u32);
    put(&mut out, t.depth_charge);
    let mut offset = HEADER + 4 * t.points.len() + 8 * t.saves.len() + 8 * t.consts.len();
    for p in t.points {
        put(&mut out, offset as u32);
        offset += record_bytes(p.types.len(), p.sites.len(), p.extras.len());
    }
    for (reg, off) in t.saves {
        put(&mut out, *reg as u32);
        put(&mut out, *off as u32);
    }
    for c in t.consts {
        out.extend_from_slice(&c.to_le_bytes());
    }
    for p in t.points {
        let (kind, target) = p.kind.encode();
        let start = out.len();
        assert!(p.sites.len() <= u8::MAX as usize);
        out.extend_from_slice(&[kind, p.poll_len, p.sites.len() as u8, 0]);
        put(&mut out, target);
        put(&mut out, p.types.len() as u32);
        put(&mut out, 0);
        out.extend(p.types.iter().map(|t| *t as u8));
        out.resize(start + RECORD_HEADER + p.types.len().div_ceil(4) * 4, 0);
        for (pc, locs) in &p.sites {
            assert_eq!(p.types.len(), locs.len(), "a location per value");
            put(&mut out, *pc);
            for l in *locs {
                put(&mut out, l.encode());
            }
        }
        put(&mut out, p.extras.len() as u32);
        for (l, e) in p.extras {
            let (kind, data) = e.encode();
            put(&mut out, l.encode());
            put(&mut out, kind);
            put(&mut out, data);
        }
        debug_assert_eq!(
            out.len(),
            start + record_bytes(p.types.len(), p.sites.len(), p.extras.len())
        );
    }
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
}

/// One point as the runtime reads it.
#[derive(Clone, Copy, Debug)]
pub struct Point<'a> {
    pub kind: PointKind,
    /// [`ValType`] codes; every one was checked to be a valid code.
    pub types: &'a [u8],
    pub poll_len: u8,
    nsites: u8,
    /// The sites: pc, then a location word per value (read with [`Point::loc`]).
    sites: &'a [u8],
    /// The extras: location, kind, data words (read with [`Point::extra`]).
    extras: &'a [u8],
}

impl Point<'_> {
    pub fn num_sites(&self) -> usize {
        self.nsites as usize
    }

    pub fn num_extras(&self) -> usize {
        self.extras.len() / 12
    }

    /// Whether a frame stopped at this point can be rebuilt: none of its extras is
    /// [`Extra::Unknown`] (whose kind word is 0). Reads only the kind words, since a
    /// checkpoint asks it of every frame.
    pub fn rebuildable(&self) -> bool {
        self.extras.chunks_exact(12).all(|e| e[4..8] != [0; 4])
    }

    /// Extra `i` of the site: where it is and what it is (checked when the table was
    /// read).
    pub fn extra(&self, i: usize) -> (ValueLoc, Extra) {
        let w = |j: usize| {
            let at = 12 * i + 4 * j;
            let b = &self.extras[at..at + 4];
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        };
        (
            ValueLoc::decode(w(0)).unwrap_or(ValueLoc {
                loc: Loc::Unknown,
                arith: false,
            }),
            Extra::decode(w(1), w(2)).unwrap_or(Extra::Unknown),
        )
    }

    fn site_bytes(&self) -> usize {
        4 + 4 * self.types.len()
    }

    /// The pc (offset in the function) of site `s`.
    pub fn site_pc(&self, s: usize) -> u32 {
        let at = s * self.site_bytes();
        let w = &self.sites[at..at + 4];
        u32::from_le_bytes([w[0], w[1], w[2], w[3]])
    }

    /// Where value `i` lives at site `s` (checked when the table was read).
    pub fn loc(&self, s: usize, i: usize) -> ValueLoc {
        let at = s * self.site_bytes() + 4 + 4 * i;
        let w = &self.sites[at..at + 4];
        ValueLoc::decode(u32::from_le_bytes([w[0], w[1], w[2], w[3]])).unwrap_or(ValueLoc {
            loc: Loc::Unknown,
            arith: false,
        })
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
        };
        let fixed = (HEADER as u64)
            + 4 * table.num_points as u64
            + 8 * (table.num_saves as u64 + table.num_consts as u64);
        if fixed > bytes.len() as u64 {
            return None;
        }
        let saves_ok = (0..table.num_saves).all(|i| table.save(i).is_some_and(|(r, _)| r < 64));
        (saves_ok && (0..table.num_points).all(|k| table.parse(k, true).is_some())).then_some(table)
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

    fn saves_at(&self) -> usize {
        HEADER + 4 * self.num_points as usize
    }

    fn consts_at(&self) -> usize {
        self.saves_at() + 8 * self.num_saves as usize
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

    /// Point `k`, or `None` when the function has no such point. Its contents were
    /// checked when the table was read ([`PointTable::new`]), so this is cheap enough to
    /// call once per frame.
    pub fn point(&self, k: u32) -> Option<Point<'a>> {
        self.parse(k, false)
    }

    /// Point `k`'s record; with `check`, also every value type, location and extra.
    fn parse(&self, k: u32, check: bool) -> Option<Point<'a>> {
        if k >= self.num_points {
            return None;
        }
        let at = word(self.bytes, HEADER + 4 * k as usize)? as usize;
        let kind = *self.bytes.get(at)?;
        let poll_len = *self.bytes.get(at + 1)?;
        let nsites = *self.bytes.get(at + 2)?;
        let target = word(self.bytes, at + 4)?;
        let nvals = word(self.bytes, at + 8)? as usize;
        let start = at + RECORD_HEADER;
        let types = self.bytes.get(start..start.checked_add(nvals)?)?;
        if check && !types.iter().all(|t| ValType::from_u8(*t).is_some()) {
            return None;
        }
        let sites_at = start + nvals.div_ceil(4) * 4;
        let site_bytes = nvals.checked_mul(4)?.checked_add(4)?;
        let sites_end = sites_at.checked_add(site_bytes.checked_mul(nsites as usize)?)?;
        let sites = self.bytes.get(sites_at..sites_end)?;
        let nextras = word(self.bytes, sites_end)? as usize;
        let extras_at = sites_end + 4;
        let extras = self
            .bytes
            .get(extras_at..extras_at.checked_add(nextras.checked_mul(12)?)?)?;
        let loc_ok = |w: u32| {
            ValueLoc::decode(w).is_some_and(|l| match l.loc {
                Loc::Const(i) => (i as u32) < self.num_consts,
                _ => true,
            })
        };
        let extras_ok = !check
            || extras.chunks_exact(12).enumerate().all(|(i, e)| {
                let w = |j: usize| {
                    u32::from_le_bytes([e[4 * j], e[4 * j + 1], e[4 * j + 2], e[4 * j + 3]])
                };
                loc_ok(w(0))
                    && Extra::decode(w(1), w(2)).is_some_and(|x| match x {
                        Extra::Const(k) => (k as u32) < self.num_consts,
                        // Computed from an earlier extra: one pass in order evaluates all.
                        Extra::AddConst { base, konst } => {
                            (base as usize) < i && (konst as u32) < self.num_consts
                        }
                        Extra::Value(v) => (v as usize) < nvals,
                        _ => true,
                    })
            });
        let locs_ok = !check
            || sites
                .chunks_exact(site_bytes)
                .flat_map(|s| s[4..].chunks_exact(4))
                .all(|w| loc_ok(u32::from_le_bytes([w[0], w[1], w[2], w[3]])));
        if !locs_ok || !extras_ok {
            return None;
        }
        let kind = PointKind::decode(kind, target)?;
        // A point has one site, or none when the optimiser removed it with
        // unreachable code.
        if nsites > 1 {
            return None;
        }
        Some(Point {
            kind,
            types,
            poll_len,
            nsites,
            sites,
            extras,
        })
    }

    /// The entry or loop point whose poll is at `pc` (an offset in the function).
    pub fn poll_at(&self, pc: u32) -> Option<(u32, Point<'a>)> {
        (0..self.num_points)
            .filter_map(|k| Some((k, self.point(k)?)))
            .find(|(_, p)| !p.kind.is_call() && p.num_sites() == 1 && p.site_pc(0) == pc)
    }

    /// The call point and site whose return address is `pc` (an offset in the
    /// function).
    pub fn call_returning_to(&self, pc: u32) -> Option<(u32, Point<'a>, usize)> {
        (0..self.num_points)
            .filter_map(|k| Some((k, self.point(k)?)))
            .find_map(|(k, p)| {
                let s = (0..p.num_sites()).find(|s| p.site_pc(*s) == pc)?;
                p.kind.is_call().then_some((k, p, s))
            })
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
                for (i, l) in locs.iter().enumerate() {
                    assert_eq!(p.loc(s, i), *l);
                }
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
        // header 20, one offset, one const: the record starts at 32.
        let rec = 32;
        let site = rec + 16 + 4;
        assert!(
            PointTable::new(&bytes[..bytes.len() - 4]).is_none(),
            "truncated"
        );
        let mut bad_kind = bytes.clone();
        bad_kind[rec] = 9;
        assert!(PointTable::new(&bad_kind).is_none(), "unknown kind");
        let mut bad_type = bytes.clone();
        bad_type[rec + 16] = 0xee;
        assert!(PointTable::new(&bad_type).is_none(), "unknown value type");
        let mut long_count = bytes.clone();
        long_count[rec + 8] = 200;
        assert!(
            PointTable::new(&long_count).is_none(),
            "value count past the end"
        );
        let mut two_sites = bytes.clone();
        two_sites[rec + 2] = 2;
        assert!(
            PointTable::new(&two_sites).is_none(),
            "a point with two sites"
        );
        let mut bad_const = bytes.clone();
        bad_const[site + 4 + 4 + 2] = 1; // second loc: constant index 1 of 1
        assert!(
            PointTable::new(&bad_const).is_none(),
            "constant index past the pool"
        );
        let mut bad_loc = bytes.clone();
        bad_loc[site + 4] = 9;
        assert!(PointTable::new(&bad_loc).is_none(), "unknown location kind");
        // The extras: after the site (pc, two locs) and their count.
        let extra = site + 12 + 4;
        assert_eq!(
            PointTable::new(&bytes)
                .unwrap()
                .point(0)
                .unwrap()
                .num_extras(),
            2
        );
        let mut bad_extra = bytes.clone();
        bad_extra[extra + 4] = 9;
        assert!(PointTable::new(&bad_extra).is_none(), "unknown extra kind");
        // The second computed from itself, not from an earlier extra: a pass in
        // order could not compute it.
        let mut fwd = bytes.clone();
        fwd[extra + 12 + 8] = 1;
        assert!(
            PointTable::new(&fwd).is_none(),
            "an extra computed from itself"
        );
    }
}
