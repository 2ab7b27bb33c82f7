//! Byte-level checkpoint mutants: flips (with the checksum left stale, or recomputed so
//! the reader's structural checks are what stands between the bytes and the runtime),
//! truncations, header and length-field edits. Section boundaries come from walking
//! the file as SPEC.md §3.1 lays it out, so edits can aim at the small sections
//! (a uniformly random byte would nearly always land in memory).

use super::rng::Rng;
use abi_spec::checkpoint::{checksum, HEADER_SIZE, ISA_OFFSET, TRAILER_SIZE};
use std::ops::Range;

const SECTIONS: [&str; 6] = ["memory", "globals", "tables", "segments", "frames", "wasi"];

/// A part of the file: "header", a section's payload, or "trailer"; `field` is where
/// the section's u32 tag + u64 length sit (empty for header and trailer).
pub struct Part {
    pub name: &'static str,
    pub field: Range<usize>,
    pub payload: Range<usize>,
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The parts of an intact checkpoint (the base files always are).
pub fn layout(b: &[u8]) -> Vec<Part> {
    let mut parts = vec![Part {
        name: "header",
        field: 0..0,
        payload: 0..HEADER_SIZE.min(b.len()),
    }];
    let mut at = HEADER_SIZE;
    for name in SECTIONS {
        let Some(len) = u64_at(b, at + 4) else { break };
        let start = at + 12;
        let end = start.saturating_add(len as usize).min(b.len());
        parts.push(Part {
            name,
            field: at..start,
            payload: start..end,
        });
        at = end;
    }
    parts.push(Part {
        name: "trailer",
        field: 0..0,
        payload: b.len().saturating_sub(TRAILER_SIZE)..b.len(),
    });
    parts
}

/// Rewrites the trailer so it matches the (edited) body, as SPEC.md §3.1 defines it.
pub fn fix_checksum(b: &mut [u8]) {
    if b.len() < TRAILER_SIZE {
        return;
    }
    let body = b.len() - TRAILER_SIZE;
    let h = checksum(&b[..body]);
    b[body..].copy_from_slice(&h.to_le_bytes());
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    if let Some(s) = b.get_mut(at..at + 8) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// A few bytes xor-ed with random non-zero masks, in one part picked uniformly.
pub fn flips(base: &[u8], rng: &mut Rng, fix: bool) -> (Vec<u8>, String) {
    let parts = layout(base);
    let body_parts: Vec<&Part> = parts
        .iter()
        .filter(|p| p.name != "trailer" && !p.payload.is_empty())
        .collect();
    let mut b = base.to_vec();
    let p = body_parts[rng.index(body_parts.len())];
    let n = 1 + rng.index(4);
    let mut what = Vec::new();
    for _ in 0..n {
        let at = p.payload.start + rng.index(p.payload.len());
        let mask = 1u8.max(rng.next_u64() as u8);
        b[at] ^= mask;
        what.push(format!("{at:#x}^{mask:#04x}"));
    }
    if fix {
        fix_checksum(&mut b);
    }
    let how = if fix {
        "checksum recomputed"
    } else {
        "checksum stale"
    };
    (
        b,
        format!("flip bytes {} in {} ({how})", what.join(","), p.name),
    )
}

/// The file cut at a random length (often inside the small sections near the end).
pub fn truncate(base: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let len = match rng.below(3) {
        0 => rng.index(base.len()),
        1 => base.len() - 1 - rng.index(base.len().min(256)),
        _ => rng.index(HEADER_SIZE + 16),
    };
    (
        base[..len].to_vec(),
        format!("truncated to {len} of {} bytes", base.len()),
    )
}

/// Header fields: version numbers, module hash, the informational ISA byte (a valid
/// other ISA must still restore; an invalid one must be refused), the zero padding.
pub fn header(base: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = base.to_vec();
    let what = match rng.below(5) {
        0 => {
            let v = rng.interesting_u32(2);
            set_u32(&mut b, 8, v);
            format!("format version {v}")
        }
        1 => {
            let v = rng.interesting_u32(u32::from_le_bytes(b[12..16].try_into().unwrap()));
            set_u32(&mut b, 12, v);
            format!("ABI version {v}")
        }
        2 => {
            let at = 16 + rng.index(32);
            b[at] ^= 1;
            format!("module hash byte {at} flipped")
        }
        3 => {
            b[ISA_OFFSET] = rng.below(5) as u8;
            format!("source ISA byte {}", b[ISA_OFFSET])
        }
        _ => {
            let at = ISA_OFFSET + 1 + rng.index(7);
            b[at] = 1u8.max(rng.next_u64() as u8);
            format!("header padding byte {at} = {:#x}", b[at])
        }
    };
    fix_checksum(&mut b);
    (b, format!("{what} (checksum recomputed)"))
}

/// Length and count fields: a section's payload length, the memory size, or the
/// leading u32 count of globals/tables/segments/frames/wasi args, off by a little or
/// a lot, checksum recomputed.
pub fn fields(base: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let parts = layout(base);
    let sections: Vec<&Part> = parts.iter().filter(|p| !p.field.is_empty()).collect();
    let p = sections[rng.index(sections.len())];
    let mut b = base.to_vec();
    let what = match rng.below(3) {
        0 => {
            let old = u64_at(&b, p.field.start + 4).unwrap_or(0);
            let v = match rng.below(4) {
                0 => old.wrapping_add(1 + rng.below(16)),
                1 => old.wrapping_sub(1 + rng.below(16)),
                2 => u64::MAX - rng.below(16),
                _ => 0,
            };
            set_u64(&mut b, p.field.start + 4, v);
            format!("{} section length {old} -> {v}", p.name)
        }
        1 if p.name == "memory" => {
            let old = u64_at(&b, p.payload.start).unwrap_or(0);
            let v = match rng.below(5) {
                0 => old + 65_536,
                1 => old.saturating_sub(65_536),
                2 => 1 << 32,
                3 => (1 << 32) + 65_536,
                _ => old + 1 + rng.below(65_535),
            };
            set_u64(&mut b, p.payload.start, v);
            format!("memory size {old} -> {v}")
        }
        _ => {
            let at = p.payload.start;
            let old = b
                .get(at..at + 4)
                .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap()));
            let v = rng.interesting_u32(old);
            set_u32(&mut b, at, v);
            format!("first u32 of {} {old} -> {v}", p.name)
        }
    };
    fix_checksum(&mut b);
    (b, format!("{what} (checksum recomputed)"))
}

/// Bytes appended after the trailer (and the checksum recomputed over them, so only
/// the "nothing after the last section" rule refuses the file).
pub fn append(base: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let n = 1 + rng.index(32);
    let mut b = base[..base.len() - TRAILER_SIZE].to_vec();
    b.extend(rng.bytes(n));
    b.extend_from_slice(&[0; TRAILER_SIZE]);
    fix_checksum(&mut b);
    (
        b,
        format!("{n} bytes inserted before the trailer (checksum recomputed)"),
    )
}
