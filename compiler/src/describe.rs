//! From compiled code to the function's [`abi_spec::points`] table: where each Wasm
//! value of each migration point lives at the point's pc, and where the prologue saved
//! the callee-saved registers. Nothing here generates code; it reads what Cranelift
//! reports about the code it generated:
//!
//! - the point's sites: poll loads are trap sites with [`POLL_TRAP`], calls are call
//!   sites (return addresses); both carry the srcloc `point << 1 | site`;
//! - the register allocator's report of every virtual register live at each site
//!   instruction and where (`CompiledCode::site_report`: regalloc2 walks each register's
//!   live ranges over the sites, and lowering maps IR values to registers), with every
//!   frame slot such a register occupies anywhere in the function;
//! - the unwind pseudo-instructions of the prologue (frame and clobber-save offsets).
//!
//! A point's value no register holds at its site is a constant (recorded as such) or
//! dead (any bits do, since nothing reads it before it is written again: recorded as
//! the constant 0). That needs no liveness of our own: a point's values are block
//! parameters or results of instructions with an effect (`phis::is_held`), which
//! instruction selection never folds into a use beyond a site (the site is an effect
//! too), so a value live after the site has a register there. Every other register live
//! at a site is an *extra*: a value the runtime recomputes from the vmctx
//! (`sites::source`), or unknown, and then the runtime will not stop at that site
//! (never a wrong value).

use crate::sites::Source;
use crate::translate::{PointSites, POLL_TRAP};
use abi_spec::points::{self, Extra, Loc, PointDesc, TableDesc, ValueLoc};
use cranelift_codegen::ir::{self, ValueDef};
use cranelift_codegen::isa::unwind::UnwindInst;
use cranelift_codegen::{CompiledCode, LabelValueLoc, RealReg, RegClass, SiteValue};
use rustc_hash::FxHashMap as HashMap;
use targets::Arch;

/// How many values of a function's points could be located, for `wasmc --stats`-like
/// reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub located: usize,
    pub constant: usize,
    pub dead: usize,
    pub unknown: usize,
    /// Other values live at sites (vmctx-derived) that a rebuilt frame needs.
    pub extras: usize,
    /// Such values the runtime could not recompute: their sites cannot stop a frame.
    pub unknown_extras: usize,
    /// Sites in or at calls of functions whose results go through memory: they cannot
    /// stop a frame either.
    pub unrebuildable: usize,
}

impl Coverage {
    pub fn add(&mut self, o: Coverage) {
        self.located += o.located;
        self.constant += o.constant;
        self.dead += o.dead;
        self.unknown += o.unknown;
        self.extras += o.extras;
        self.unknown_extras += o.unknown_extras;
        self.unrebuildable += o.unrebuildable;
    }
}

/// The srcloc that tags site `site` of point `point`.
pub fn site_srcloc(point: usize, site: usize) -> ir::SourceLoc {
    debug_assert!(site < 2);
    ir::SourceLoc::new(((point as u32) << 1) | site as u32)
}

fn reg_number(r: RealReg) -> u8 {
    match r.class() {
        RegClass::Int => r.hw_enc(),
        RegClass::Float | RegClass::Vector => 32 + r.hw_enc(),
    }
}

/// A poll load, decoded.
struct PollInsn {
    /// Its length (the runtime steps over it when a fault there is to go on).
    len: u8,
    /// The register it reads its address from.
    base: u8,
}

/// The poll or countdown load at the start of `code`.
fn decode_poll(arch: Arch, code: &[u8]) -> Result<PollInsn, String> {
    const PAST_END: &str = "poll past the end of the code";
    let word = |n: usize| -> Result<u32, String> {
        let b = code.get(..n).ok_or(PAST_END)?;
        Ok(b.iter().rev().fold(0u32, |w, &x| (w << 8) | x as u32))
    };
    match arch {
        // `ldr`/`ldur wt, [xn, #imm]`: Rn in bits 5..10.
        Arch::Aarch64 => Ok(PollInsn {
            len: 4,
            base: ((word(4)? >> 5) & 31) as u8,
        }),
        // The C extension's 16-bit encodings have the low two bits != 0b11.
        Arch::Riscv64 => match code.first() {
            // `c.lw rd', imm(rs1')`: rs1' in bits 7..10, x8 to x15.
            Some(b) if b & 3 != 3 => Ok(PollInsn {
                len: 2,
                base: (((word(2)? >> 7) & 7) + 8) as u8,
            }),
            // `lw rd, imm(rs1)`: rs1 in bits 15..20.
            Some(_) => Ok(PollInsn {
                len: 4,
                base: ((word(4)? >> 15) & 31) as u8,
            }),
            None => Err(PAST_END.into()),
        },
        Arch::X86_64 => {
            // `mov r32, [base + disp]` (a loop's poll): optional REX, 8B /r, ModRM,
            // optional SIB, disp; or `cmp dword [base + disp], imm8` (an entry's, the
            // load folded into its branch's test): 83 /7 and the imm8 after the rest.
            let rex = code.first().filter(|b| *b & 0xf0 == 0x40).copied();
            let i = usize::from(rex.is_some());
            let modrm = *code.get(i + 1).ok_or(PAST_END)?;
            let imm = match code.get(i) {
                Some(0x8b) => 0,
                Some(0x83) if (modrm >> 3) & 7 == 7 => 1,
                _ => {
                    return Err(format!(
                        "unexpected poll encoding {:02x?}",
                        &code[..code.len().min(8)]
                    ))
                }
            };
            let (md, rm) = (modrm >> 6, modrm & 7);
            let mut len = i + 2;
            let mut disp = match md {
                1 => 1,
                2 => 4,
                0 if rm == 5 => 4,
                _ => 0,
            };
            let mut base = rm;
            if md != 3 && rm == 4 {
                let sib = *code.get(len).ok_or(PAST_END)?;
                len += 1;
                base = sib & 7;
                if md == 0 && base == 5 {
                    disp = 4;
                }
            }
            if md == 3 {
                return Err("poll is not a load".into());
            }
            Ok(PollInsn {
                len: (len + disp + imm) as u8,
                base: base | (rex.unwrap_or(0) & 1) << 3,
            })
        }
    }
}

/// What the optimised function says of a value the labels gave no location for.
enum Unlocated {
    /// Defined by a constant.
    Const(u64),
    /// Still in the code with its own virtual register, yet live nowhere: dead.
    Dead,
    /// Rewritten by the optimiser into a value the label does not follow.
    Lost,
}

fn without_location(func: &ir::Function, v: ir::Value) -> Unlocated {
    // Follow aliases by hand: the optimiser leaves some pointing at nothing.
    let mut v = v;
    for _ in 0..64 {
        if !func.dfg.value_is_valid(v) {
            return Unlocated::Lost;
        }
        match func.dfg.value_alias_dest_for_serialization(v) {
            Some(to) => v = to,
            None => break,
        }
    }
    if !func.dfg.value_is_attached(v) {
        return Unlocated::Lost;
    }
    if let Some(c) = crate::sites::constant(func, v) {
        return Unlocated::Const(c);
    }
    match func.dfg.value_def(v) {
        ValueDef::Result(inst, _) if func.layout.inst_block(inst).is_some() => Unlocated::Dead,
        ValueDef::Param(block, _) if func.layout.is_block_inserted(block) => Unlocated::Dead,
        _ => Unlocated::Lost,
    }
}

/// Builds the points table of a compiled function (see the module comment).
pub fn describe(
    arch: Arch,
    points: &[PointSites],
    compiled: &CompiledCode,
    func: &ir::Function,
    depth_charge: u32,
) -> Result<(Vec<u8>, Coverage), String> {
    let code = compiled.code_buffer();
    let buffer = &compiled.buffer;
    let srclocs = buffer.get_srclocs_sorted();
    // (point, site) of the instruction covering `offset`.
    let site_at = |offset: u32| -> Option<(usize, usize)> {
        let i = srclocs.partition_point(|s| s.end <= offset);
        let s = srclocs.get(i).filter(|s| s.start <= offset)?;
        let loc = s.loc;
        (!loc.is_default()).then(|| ((loc.bits() >> 1) as usize, (loc.bits() & 1) as usize))
    };
    // pcs[(point, site)] = (pc the frame is at, offset to look the labels up at).
    let mut pcs: HashMap<(usize, usize), (u32, u32)> = HashMap::default();
    for t in buffer.traps().iter().filter(|t| t.code == POLL_TRAP) {
        let key = site_at(t.offset).ok_or("a poll without its point")?;
        pcs.insert(key, (t.offset, t.offset));
    }
    for cs in buffer.call_sites() {
        if let Some(key) = site_at(cs.ret_addr - 1) {
            // Look inside the call instruction: what holds a value across the call is
            // its location *during* the call, before anything after it runs.
            pcs.insert(key, (cs.ret_addr, cs.ret_addr - 1));
        }
    }

    // The frame: CFA = fp + up; clobbers saved below fp.
    let mut up = None;
    let mut down = 0u32;
    let mut saves = vec![];
    for (_, u) in &buffer.unwind_info {
        match u {
            UnwindInst::DefineNewFrame {
                offset_upward_to_caller_sp,
                offset_downward_to_clobbers,
            } => {
                up = Some(*offset_upward_to_caller_sp as i64);
                down = *offset_downward_to_clobbers;
            }
            UnwindInst::SaveReg {
                clobber_offset,
                reg,
            } => {
                saves.push((reg_number(*reg), *clobber_offset as i32 - down as i32));
            }
            _ => {}
        }
    }
    let Some(up) = up else {
        return Err("a function with migration points has no frame pointer".into());
    };

    // What the register allocator reports live at each site instruction.
    let report = &compiled.site_report;
    let vreg_of = |v: ir::Value| -> Option<u32> {
        report
            .value_vregs
            .get(v.as_u32() as usize)
            .copied()
            .filter(|r| *r != u32::MAX)
    };
    // The IR values each register live at a site holds, by register: built on the
    // first site with a value that is no Wasm value of its point.
    let mut by_vreg: Option<Vec<(u32, ir::Value)>> = None;
    let frame_loc = |off: i64| {
        if ValueLoc::frame_offset_fits(off + up) {
            Loc::Frame((off + up) as i32)
        } else {
            Loc::Unknown
        }
    };
    let loc_of = |l: LabelValueLoc| match l {
        LabelValueLoc::Reg(r) => match r.to_real_reg() {
            Some(r) => Loc::Reg(reg_number(r)),
            None => Loc::Unknown,
        },
        LabelValueLoc::CFAOffset(off) => frame_loc(off),
    };
    // A register's frame slots besides `at`: the allocator may keep a value in a
    // register at the site and in its spill slot too, and read the slot later without
    // storing the register again (the slot already held the value). A rebuilt frame
    // must have it in both.
    let other_slots = |vreg: u32, at: Loc| -> Vec<Loc> {
        let first = report.stack_slots.partition_point(|s| s.0 < vreg);
        let mut out: Vec<Loc> = vec![];
        for &(_, l) in report.stack_slots[first..]
            .iter()
            .take_while(|s| s.0 == vreg)
        {
            let l = loc_of(l);
            if l != at && !out.contains(&l) {
                out.push(l);
            }
        }
        out
    };

    let mut consts: Vec<u64> = vec![];
    let mut const_index = |c: u64| -> Option<u16> {
        let i = consts.iter().position(|x| *x == c).unwrap_or_else(|| {
            consts.push(c);
            consts.len() - 1
        });
        u16::try_from(i).ok()
    };
    let mut coverage = Coverage::default();
    // Every site's locations and every point's extras, in order, in one vector each
    // (a small function's table was mostly allocations): per site (point, pc, end of
    // its locations), per point (poll length, end of its extras).
    let mut all_locs: Vec<ValueLoc> = vec![];
    let mut all_extras: Vec<(ValueLoc, Extra)> = vec![];
    let mut site_ends: Vec<(usize, u32, usize)> = vec![];
    let mut point_ends: Vec<(u8, usize)> = Vec::with_capacity(points.len());
    // Each site's work lists, emptied for the next.
    let mut site_extras: Vec<(ValueLoc, Extra)> = vec![];
    let mut copies: Vec<(ValueLoc, Extra)> = vec![];
    let mut locs: Vec<ValueLoc> = vec![];
    let mut value_vregs: Vec<u32> = vec![];
    // Per entry of `site_extras`: the value and the register it is, if any.
    let mut extra_values: Vec<Option<ir::Value>> = vec![];
    let mut extra_vregs: Vec<Option<u32>> = vec![];
    let mut others: Vec<&SiteValue> = vec![];
    for (k, p) in points.iter().enumerate() {
        // The length of the point's poll (at its first site with code), 0 at a call.
        let mut poll_len = None;
        site_extras.clear();
        for (s, site) in p.sites.iter().enumerate() {
            let Some(&(pc, query)) = pcs.get(&(k, s)) else {
                // A site the optimiser removed with unreachable code is no site: no
                // frame can ever be there. A reachable poll is never removed.
                if site.reachable && !p.kind.is_call() {
                    return Err(format!(
                        "the poll of migration point {k} is missing from the code"
                    ));
                }
                continue;
            };
            // The site instruction's report: at a call what outlives the call (its
            // arguments are consumed), at a poll everything there, its base included.
            let is_call = p.kind.is_call();
            let entry = report
                .sites
                .get(report.sites.partition_point(|e| e.1 <= query))
                .filter(|e| e.0 <= query && query < e.1)
                .ok_or_else(|| format!("no register report at migration point {k}"))?;
            // Sorted by register; read in place, not copied per site.
            let reported = &report.values[entry.2 as usize..(entry.2 + entry.3) as usize];
            let counts = |sv: &&SiteValue| !is_call || sv.live_after;
            let located = |vreg: u32| -> Option<Loc> {
                let i = reported.partition_point(|sv| sv.vreg < vreg);
                reported[i..]
                    .iter()
                    .take_while(|sv| sv.vreg == vreg)
                    .find(counts)
                    .map(|sv| loc_of(sv.loc))
            };
            copies.clear();
            locs.clear();
            value_vregs.clear();
            for (i, v) in site.values.iter().enumerate() {
                let vreg = vreg_of(*v);
                value_vregs.extend(vreg);
                let loc = match vreg.and_then(located) {
                    Some(loc) => loc,
                    None => {
                        // Held by no register at the site: a constant, or dead (any
                        // bits do: nothing reads it before writing it).
                        let c = match without_location(func, *v) {
                            Unlocated::Const(c) => Some((c, false)),
                            Unlocated::Dead => Some((0, true)),
                            Unlocated::Lost => None,
                        };
                        match c.and_then(|(c, dead)| Some((const_index(c)?, dead))) {
                            Some((i, dead)) => {
                                if dead {
                                    coverage.dead += 1;
                                } else {
                                    coverage.constant += 1;
                                }
                                locs.push(ValueLoc {
                                    loc: Loc::Const(i),
                                    arith: false,
                                });
                                continue;
                            }
                            None => Loc::Unknown,
                        }
                    }
                };
                match loc {
                    Loc::Unknown => coverage.unknown += 1,
                    _ => coverage.located += 1,
                }
                if let (Some(vreg), true) = (vreg, loc != Loc::Unknown) {
                    for l in other_slots(vreg, loc) {
                        if l == Loc::Unknown {
                            coverage.unknown_extras += 1;
                        }
                        let i = u16::try_from(i).map_or(Extra::Unknown, Extra::Value);
                        copies.push((
                            ValueLoc {
                                loc: l,
                                arith: false,
                            },
                            i,
                        ));
                    }
                }
                locs.push(ValueLoc {
                    loc,
                    arith: p.arith[i],
                });
            }
            extra_values.clear();
            extra_vregs.clear();
            if site.unrebuildable {
                coverage.unrebuildable += 1;
                site_extras.push((
                    ValueLoc {
                        loc: Loc::Unknown,
                        arith: false,
                    },
                    Extra::Unknown,
                ));
                extra_values.push(None);
                extra_vregs.push(None);
            }
            // Every other register live there is an extra: what the runtime recomputes
            // (from the vmctx, or a constant), or an unknown that keeps frames from
            // stopping here. A site no frame can stop at needs none (the return area's
            // address, which no IR value holds, is live at those in or at calls of
            // functions returning in memory).
            others.clear();
            others.extend(
                reported
                    .iter()
                    .filter(counts)
                    .filter(|sv| !site.unrebuildable && !value_vregs.contains(&sv.vreg)),
            );
            if !others.is_empty() {
                let by_vreg = by_vreg.get_or_insert_with(|| {
                    // Only the registers live at some site: one pass over the values.
                    let top = report.values.iter().map(|sv| sv.vreg as usize + 1).max();
                    let mut at_site = vec![false; top.unwrap_or(0)];
                    for sv in &report.values {
                        at_site[sv.vreg as usize] = true;
                    }
                    // Sized once, not grown push by push.
                    let mut m: Vec<(u32, ir::Value)> = Vec::with_capacity(report.value_vregs.len());
                    m.extend(
                        report
                            .value_vregs
                            .iter()
                            .enumerate()
                            .filter(|(_, r)| at_site.get(**r as usize) == Some(&true))
                            .map(|(v, r)| (*r, ir::Value::from_u32(v as u32))),
                    );
                    m.sort_unstable();
                    m
                });
                // (register if held, value, what it is), operands before what is
                // computed from them.
                let mut extras: Vec<(Option<u32>, Option<ir::Value>, Source)> = vec![];
                for sv in &others {
                    let first = by_vreg.partition_point(|e| e.0 < sv.vreg);
                    let mut best: Option<(ir::Value, Source)> = None;
                    for &(_, v) in by_vreg[first..].iter().take_while(|e| e.0 == sv.vreg) {
                        let src = crate::sites::source(func, v);
                        if best.is_none() || src != Source::Unknown {
                            best = Some((v, src));
                        }
                        if src != Source::Unknown {
                            break;
                        }
                    }
                    let (v, src) = best.map_or((None, Source::Unknown), |(v, s)| (Some(v), s));
                    extras.push((Some(sv.vreg), v, src));
                }
                // The operands a recomputed value needs that no register holds here.
                let mut k = 0;
                while k < extras.len() {
                    if let Source::AddConst(base, _) = extras[k].2 {
                        if !extras.iter().any(|e| e.1 == Some(base)) {
                            extras.push((None, Some(base), crate::sites::source(func, base)));
                        }
                    }
                    k += 1;
                }
                let depth = |s: &Source| match s {
                    Source::AddConst(..) => 2,
                    Source::VmLoad64(_) | Source::VmLoad32(_) => 1,
                    _ => 0,
                };
                extras.sort_by_key(|(r, v, s)| (depth(s), v.map(|v| v.as_u32()), *r));
                for (vreg, v, src) in extras {
                    let loc = vreg.and_then(located).unwrap_or(Loc::Unknown);
                    let index = |x: ir::Value| {
                        extra_values
                            .iter()
                            .position(|e| *e == Some(x))
                            .and_then(|i| u16::try_from(i).ok())
                    };
                    let extra = match src {
                        Source::Const(_) if loc == Loc::Unknown => continue,
                        Source::Vmctx => Extra::Vmctx,
                        Source::Depth => Extra::Depth,
                        Source::Const(c) => const_index(c).map_or(Extra::Unknown, Extra::Const),
                        Source::VmLoad64(off) => Extra::VmLoad64(off),
                        Source::VmLoad32(off) => Extra::VmLoad32(off),
                        Source::AddConst(base, c) => match (index(base), const_index(c)) {
                            (Some(b), Some(c)) => Extra::AddConst { base: b, konst: c },
                            _ => Extra::Unknown,
                        },
                        Source::Unknown => Extra::Unknown,
                    };
                    if extra == Extra::Unknown {
                        coverage.unknown_extras += 1;
                    } else {
                        coverage.extras += 1;
                    }
                    site_extras.push((ValueLoc { loc, arith: false }, extra));
                    extra_values.push(v);
                    extra_vregs.push(vreg);
                    if let (Some(vreg), true) = (vreg, loc != Loc::Unknown) {
                        for l in other_slots(vreg, loc) {
                            let extra = if l == Loc::Unknown {
                                Extra::Unknown
                            } else {
                                extra
                            };
                            site_extras.push((
                                ValueLoc {
                                    loc: l,
                                    arith: false,
                                },
                                extra,
                            ));
                            extra_values.push(v);
                            extra_vregs.push(Some(vreg));
                        }
                    }
                }
            }
            // A poll reads its base (the memory base or the vmctx) from a register,
            // which the allocator may have loaded for the poll alone from the base's
            // spill slot. A frame rebuilt here gets the base in that register too, so
            // the code after the poll finds it where it was before the poll
            // (regalloc2's eliminator relies on it: `written_at_resume`).
            if !is_call {
                let poll = decode_poll(arch, &code[pc as usize..])?;
                poll_len.get_or_insert(poll.len);
                let base = func.dfg.resolve_aliases(func.dfg.inst_args(site.inst)[0]);
                let base_vreg = vreg_of(base);
                let reg = Loc::Reg(poll.base);
                // Where the report already puts the base in that register (most
                // polls), the frame gets it there anyway.
                let as_extra =
                    base_vreg.and_then(|b| extra_vregs.iter().position(|e| *e == Some(b)));
                let extra = match as_extra {
                    Some(i) => {
                        let there = (0..extra_vregs.len())
                            .any(|j| extra_vregs[j] == base_vreg && site_extras[j].0.loc == reg);
                        (!there).then_some(site_extras[i].1)
                    }
                    None => site
                        .values
                        .iter()
                        .position(|v| *v == base)
                        .filter(|&i| locs[i].loc != reg)
                        .and_then(|i| u16::try_from(i).ok())
                        .map(Extra::Value),
                };
                if let Some(extra) = extra {
                    site_extras.push((
                        ValueLoc {
                            loc: reg,
                            arith: false,
                        },
                        extra,
                    ));
                    extra_values.push(Some(base));
                    extra_vregs.push(base_vreg);
                }
            }
            site_extras.append(&mut copies);
            all_locs.extend_from_slice(&locs);
            site_ends.push((k, pc, all_locs.len()));
        }
        all_extras.extend_from_slice(&site_extras);
        point_ends.push((poll_len.unwrap_or(0), all_extras.len()));
    }
    let (mut sites_from, mut locs_from, mut extras_from) = (0, 0, 0);
    let descs: Vec<PointDesc> = points
        .iter()
        .zip(&point_ends)
        .enumerate()
        .map(|(k, (p, &(poll_len, extras_end)))| {
            let sites_to = sites_from
                + site_ends[sites_from..]
                    .iter()
                    .take_while(|e| e.0 == k)
                    .count();
            let sites = site_ends[sites_from..sites_to]
                .iter()
                .map(|&(_, pc, end)| {
                    let locs = &all_locs[locs_from..end];
                    locs_from = end;
                    (pc, locs)
                })
                .collect();
            sites_from = sites_to;
            let extras = &all_extras[extras_from..extras_end];
            extras_from = extras_end;
            PointDesc {
                kind: p.kind,
                types: &p.types,
                poll_len,
                sites,
                extras,
            }
        })
        .collect();
    let table = points::encode(&TableDesc {
        points: &descs,
        saves: &saves,
        consts: &consts,
        depth_charge,
    });
    Ok((table, coverage))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_len(arch: Arch, code: &[u8]) -> Result<u8, String> {
        decode_poll(arch, code).map(|p| p.len)
    }

    fn poll_base(arch: Arch, code: &[u8]) -> Result<u8, String> {
        decode_poll(arch, code).map(|p| p.base)
    }

    #[test]
    fn x86_poll_lengths() {
        // mov eax, [r14 - 8]
        assert_eq!(poll_len(Arch::X86_64, &[0x41, 0x8b, 0x46, 0xf8]), Ok(4));
        // mov eax, [rdi - 0x1000] (disp32)
        assert_eq!(
            poll_len(Arch::X86_64, &[0x8b, 0x87, 0, 0xf0, 0xff, 0xff]),
            Ok(6)
        );
        // mov eax, [rsp - 8] (SIB)
        assert_eq!(poll_len(Arch::X86_64, &[0x8b, 0x44, 0x24, 0xf8]), Ok(4));
        assert!(decode_poll(Arch::X86_64, &[0x90]).is_err());
        // cmp dword ptr [rax - 8], 0
        assert_eq!(poll_len(Arch::X86_64, &[0x83, 0x78, 0xf8, 0x00]), Ok(4));
        // cmp dword ptr [r14 - 0x1000], 0 (disp32)
        assert_eq!(
            poll_len(Arch::X86_64, &[0x41, 0x83, 0xbe, 0, 0xf0, 0xff, 0xff, 0x00]),
            Ok(8)
        );
        // add dword ptr [rax - 8], 0 (83 /0) is no poll
        assert!(decode_poll(Arch::X86_64, &[0x83, 0x40, 0xf8, 0x00]).is_err());
    }

    #[test]
    fn riscv_poll_lengths() {
        // lw a1, 0(a0)
        assert_eq!(poll_len(Arch::Riscv64, &[0x83, 0x25, 0x05, 0x00]), Ok(4));
        // c.lw s0, 4(a0)
        assert_eq!(poll_len(Arch::Riscv64, &[0x40, 0x41]), Ok(2));
    }

    /// Encodings from `llvm-mc -show-encoding`.
    #[test]
    fn poll_bases() {
        // movl -0x24(%rax), %edi
        assert_eq!(poll_base(Arch::X86_64, &[0x8b, 0x78, 0xdc]), Ok(0));
        // movl -0x24(%r13), %r9d
        assert_eq!(poll_base(Arch::X86_64, &[0x45, 0x8b, 0x4d, 0xdc]), Ok(13));
        // cmpl $0x0, -0x8(%r14)
        assert_eq!(
            poll_base(Arch::X86_64, &[0x41, 0x83, 0x7e, 0xf8, 0x00]),
            Ok(14)
        );
        // movl -0x24(%r12), %eax (SIB)
        assert_eq!(
            poll_base(Arch::X86_64, &[0x41, 0x8b, 0x44, 0x24, 0xdc]),
            Ok(12)
        );
        // ldur w1, [x2, #-36]
        assert_eq!(poll_base(Arch::Aarch64, &[0x41, 0xc0, 0x5d, 0xb8]), Ok(2));
        // lw a0, -36(s1)
        assert_eq!(poll_base(Arch::Riscv64, &[0x03, 0xa5, 0xc4, 0xfd]), Ok(9));
        // c.lw a0, 4(s1)
        assert_eq!(poll_base(Arch::Riscv64, &[0xc8, 0x40]), Ok(9));
    }
}
