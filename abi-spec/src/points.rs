//! The per-function table of migration points, which the compiler emits (one object
//! per function with points, found through `ModuleDesc::point_types_index`) and the
//! runtime reads to record a saved frame and to check a checkpoint's frames before
//! anything runs. Encoder and reader live here together so the two sides cannot drift.
//!
//! Layout (little-endian, 4-byte aligned):
//!
//! ```text
//! u32 total_bytes                 the whole table, this word included
//! u32 num_points
//! u32 offset[num_points]          of each record, from the start of the table
//! record: u8 kind, u8 pad[3], u32 target, u32 nvals, u8 types[nvals], pad to 4
//! ```
//!
//! `kind` is a [`PointKind`]; `target` is the callee's function index for a direct call
//! point, the canonical type id (`FuncRecord::type_id`) of the callee for an indirect
//! one, and 0 otherwise. `types` are [`ValType`] codes of the frame record's values, in
//! order: locals, then operand-stack values below the point.

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

/// One point as the compiler describes it.
pub struct PointDesc<'a> {
    pub kind: PointKind,
    pub types: &'a [ValType],
}

const HEADER: usize = 8;
const RECORD_HEADER: usize = 12;

fn record_bytes(nvals: usize) -> usize {
    RECORD_HEADER + nvals.div_ceil(4) * 4
}

/// Encodes a function's points (index = point id) in the layout above.
pub fn encode(points: &[PointDesc]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0u32.to_le_bytes()); // total, patched below
    out.extend_from_slice(&(points.len() as u32).to_le_bytes());
    let mut offset = HEADER + 4 * points.len();
    for p in points {
        out.extend_from_slice(&(offset as u32).to_le_bytes());
        offset += record_bytes(p.types.len());
    }
    for p in points {
        let (kind, target) = p.kind.encode();
        let start = out.len();
        out.extend_from_slice(&[kind, 0, 0, 0]);
        out.extend_from_slice(&target.to_le_bytes());
        out.extend_from_slice(&(p.types.len() as u32).to_le_bytes());
        out.extend(p.types.iter().map(|t| *t as u8));
        out.resize(start + record_bytes(p.types.len()), 0);
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
}

/// One point as the runtime reads it.
#[derive(Clone, Copy, Debug)]
pub struct Point<'a> {
    pub kind: PointKind,
    /// [`ValType`] codes; every one was checked to be a valid code.
    pub types: &'a [u8],
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
        let num_points = word(bytes, 4)?;
        let table = PointTable { bytes, num_points };
        (0..num_points)
            .all(|k| table.point(k).is_some())
            .then_some(table)
    }

    pub fn len(&self) -> u32 {
        self.num_points
    }

    pub fn is_empty(&self) -> bool {
        self.num_points == 0
    }

    /// Point `k`, or `None` when the function has no such point.
    pub fn point(&self, k: u32) -> Option<Point<'a>> {
        if k >= self.num_points {
            return None;
        }
        let at = word(self.bytes, HEADER + 4 * k as usize)? as usize;
        let kind = *self.bytes.get(at)?;
        let target = word(self.bytes, at + 4)?;
        let nvals = word(self.bytes, at + 8)? as usize;
        let start = at + RECORD_HEADER;
        let types = self.bytes.get(start..start.checked_add(nvals)?)?;
        if !types.iter().all(|t| ValType::from_u8(*t).is_some()) {
            return None;
        }
        Some(Point {
            kind: PointKind::decode(kind, target)?,
            types,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let descs = [
            PointDesc {
                kind: PointKind::Entry,
                types: &[ValType::I32],
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
            },
            PointDesc {
                kind: PointKind::CallDirect { callee: 7 },
                types: &[],
            },
            PointDesc {
                kind: PointKind::CallIndirect { type_id: 3 },
                types: &[ValType::ExternRef],
            },
        ];
        let bytes = encode(&descs);
        assert_eq!(bytes.len() % 4, 0);
        let t = PointTable::new(&bytes).expect("well-formed");
        assert_eq!(t.len(), 4);
        for (k, d) in descs.iter().enumerate() {
            let p = t.point(k as u32).unwrap();
            assert_eq!(p.kind, d.kind);
            let want: Vec<u8> = d.types.iter().map(|t| *t as u8).collect();
            assert_eq!(p.types, &want[..]);
        }
        assert!(t.point(4).is_none());
    }

    #[test]
    fn damaged_tables_are_refused() {
        let bytes = encode(&[PointDesc {
            kind: PointKind::Loop,
            types: &[ValType::I32, ValType::I64],
        }]);
        assert!(
            PointTable::new(&bytes[..bytes.len() - 4]).is_none(),
            "truncated"
        );
        let mut bad_kind = bytes.clone();
        bad_kind[12] = 9;
        assert!(PointTable::new(&bad_kind).is_none(), "unknown kind");
        let mut bad_type = bytes.clone();
        bad_type[24] = 0xee;
        assert!(PointTable::new(&bad_type).is_none(), "unknown value type");
        let mut long_count = bytes.clone();
        long_count[20] = 200;
        assert!(
            PointTable::new(&long_count).is_none(),
            "value count past the end"
        );
    }
}
