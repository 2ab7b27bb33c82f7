//! Reading the Wasm frames of a program stopped at a migration poll, from its machine
//! state and the points tables (abi-spec `points`): nothing in generated code saves
//! them.
//!
//! The innermost frame is read at the faulting poll: every register is in the signal's
//! `ucontext`, and the point's site says which register or frame slot holds each value.
//! Frames below are read by unwinding: every function keeps a frame pointer, with the
//! caller's frame pointer at `fp` and the return address at `fp + 8` on all three ISAs;
//! restoring the callee-saved registers the callee's prologue stored (the table's
//! saves) gives the caller's registers at its call, where its call point's site says
//! where its values are. The walk ends at the first return address outside Wasm code
//! (the runtime, which called the entry function).

use crate::checkpoint::{points_of, SavedFrame};
use abi_spec::points::{Loc, Point, PointTable, ValueLoc};
use abi_spec::ValType;
use alloc::vec::Vec;

/// The registers of one frame: 0-31 general purpose by hardware number, 32-63 the low
/// 64 bits of the float/vector registers.
pub struct Regs([u64; 64]);

#[cfg(target_arch = "x86_64")]
mod uc {
    /// `uc_mcontext.gregs`; `fpregs` (a pointer to the FXSAVE image) follows 23 words on.
    const GREGS: usize = 40;
    const FPREGS_PTR: usize = GREGS + 23 * 8;
    /// XMM registers in the FXSAVE image.
    const XMM: usize = 160;
    /// gregs index of each register by hardware number (rax, rcx, rdx, rbx, rsp, rbp,
    /// rsi, rdi, r8-r15).
    const GREG_OF: [usize; 16] = [13, 14, 12, 11, 15, 10, 9, 8, 0, 1, 2, 3, 4, 5, 6, 7];
    pub const FP: usize = 5;

    /// # Safety
    /// `uc` is the ucontext the kernel passed a signal handler.
    pub unsafe fn read(uc: *const u8, r: &mut [u64; 64]) {
        for (hw, g) in GREG_OF.iter().enumerate() {
            // SAFETY: gregs[0..23] lie in the ucontext (caller).
            r[hw] = unsafe { *(uc.add(GREGS + 8 * g) as *const u64) };
        }
        // SAFETY: as above; the kernel always provides the FP state of a user fault.
        let fp = unsafe { *(uc.add(FPREGS_PTR) as *const *const u8) };
        if !fp.is_null() {
            for i in 0..16 {
                // SAFETY: the FXSAVE image holds 16 XMM registers of 16 bytes.
                r[32 + i] = unsafe { *(fp.add(XMM + 16 * i) as *const u64) };
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod uc {
    /// `uc_mcontext.regs` (after `fault_address`), and `__reserved` (16-aligned after
    /// sp, pc, pstate), whose first record is the FP/SIMD context.
    const REGS: usize = 176 + 8;
    const RESERVED: usize = 464;
    const FPSIMD_MAGIC: u32 = 0x4650_8001;
    pub const FP: usize = 29;

    /// # Safety
    /// `uc` is the ucontext the kernel passed a signal handler.
    pub unsafe fn read(uc: *const u8, r: &mut [u64; 64]) {
        for (i, slot) in r.iter_mut().enumerate().take(31) {
            // SAFETY: regs[0..31] lie in the ucontext (caller).
            *slot = unsafe { *(uc.add(REGS + 8 * i) as *const u64) };
        }
        // SAFETY: the reserved area starts with the FP/SIMD record on Linux (and qemu).
        let magic = unsafe { *(uc.add(RESERVED) as *const u32) };
        if magic == FPSIMD_MAGIC {
            for i in 0..32 {
                // SAFETY: the record holds 32 vector registers of 16 bytes after its
                // 8-byte head, fpsr and fpcr.
                r[32 + i] = unsafe { *(uc.add(RESERVED + 16 + 16 * i) as *const u64) };
            }
        }
    }
}

#[cfg(target_arch = "riscv64")]
mod uc {
    /// `uc_mcontext`: pc, x1-x31, then f0-f31 (the D extension's state).
    const GREGS: usize = 176;
    const FREGS: usize = GREGS + 32 * 8;
    pub const FP: usize = 8;

    /// # Safety
    /// `uc` is the ucontext the kernel passed a signal handler.
    pub unsafe fn read(uc: *const u8, r: &mut [u64; 64]) {
        for (i, slot) in r.iter_mut().enumerate().take(32).skip(1) {
            // SAFETY: x1-x31 follow the pc in the ucontext (caller).
            *slot = unsafe { *(uc.add(GREGS + 8 * i) as *const u64) };
        }
        for (i, slot) in r[32..].iter_mut().enumerate() {
            // SAFETY: f0-f31 follow the integer registers.
            *slot = unsafe { *(uc.add(FREGS + 8 * i) as *const u64) };
        }
    }
}

/// Why the frames cannot be read at this poll; the runtime tries again at the next one.
pub struct Unreadable;

/// Frames deeper than any run can make (call depth plus the uncounted chain below it)
/// mean a broken frame-pointer chain.
const MAX_FRAMES: usize = abi_spec::MAX_CALL_DEPTH as usize + 2_000;

/// # Safety
/// `addr` is a readable, 8-byte aligned word of a live Wasm stack frame.
unsafe fn word(addr: u64) -> u64 {
    // SAFETY: caller.
    unsafe { *(addr as *const u64) }
}

/// A value of type code `ty` at location `l`, in `regs` with frame pointer `fp`.
fn value(table: &PointTable, ty: u8, l: ValueLoc, regs: &Regs, fp: u64) -> Result<u64, Unreadable> {
    let raw = match l.loc {
        Loc::Reg(r) => regs.0[r as usize],
        // SAFETY: the compiler described a slot of this frame, which is live.
        Loc::Frame(off) => unsafe { word(fp.wrapping_add(off as i64 as u64)) },
        Loc::Const(c) => table.constant(c).ok_or(Unreadable)?,
        Loc::Unknown => return Err(Unreadable),
    };
    let ty = ValType::from_u8(ty).ok_or(Unreadable)?;
    Ok(match ty {
        ValType::I32 => raw & 0xffff_ffff,
        ValType::F32 => {
            let bits = raw & 0xffff_ffff;
            // A raw arithmetic result: the checkpoint holds the canonical NaN (x86_64).
            if l.arith && f32::from_bits(bits as u32).is_nan() {
                0x7fc0_0000
            } else {
                bits
            }
        }
        ValType::F64 if l.arith && f64::from_bits(raw).is_nan() => 0x7ff8_0000_0000_0000,
        _ => raw,
    })
}

fn read_frame(
    func: u32,
    table: &PointTable,
    k: u32,
    p: &Point,
    site: usize,
    regs: &Regs,
    fp: u64,
) -> Result<SavedFrame, Unreadable> {
    // A value live at the site that a rebuilt frame could not recompute: a frame stopped
    // here could be read but never restored.
    if !p.rebuildable() {
        return Err(Unreadable);
    }
    let n = p.types.len();
    let mut slots = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    for (&t, l) in p.types.iter().zip(p.locs(site)) {
        slots.push(value(table, t, l, regs, fp)?);
        types.push(ValType::from_u8(t).ok_or(Unreadable)?);
    }
    Ok(SavedFrame {
        func,
        point: k,
        types,
        slots,
    })
}

/// The function containing `pc` and `pc`'s offset in it.
fn locate(pc: u64) -> Option<(u32, u32)> {
    let func = crate::trap::func_at(pc as usize)?;
    let start = crate::trap::func_code(func)?;
    Some((func, (pc - start) as u32))
}

/// The length of the poll load at `pc`, if there is one: a fault there means the polls
/// are armed.
pub fn poll_at(pc: usize) -> Option<u8> {
    let (func, off) = locate(pc as u64)?;
    let (_, p) = points_of(func)?.poll_at(off)?;
    Some(p.poll_len)
}

/// The call site `read_stack` looked up last: the function, the return address's
/// offset in it (`u32::MAX`: none yet), and the site's point, its id and its site index.
struct CallSite<'t> {
    func: u32,
    off: u32,
    k: u32,
    site: usize,
    point: Point<'t>,
}

/// Every Wasm frame of a program stopped at the poll of `uc`, innermost first.
///
/// # Safety
/// `uc` is the ucontext of a fault at a migration poll ([`site_at`]), whose stack is
/// the Wasm stack the runtime called the entry function on.
pub unsafe fn read_stack(uc: *const u8) -> Result<Vec<SavedFrame>, Unreadable> {
    let mut regs = Regs([0; 64]);
    // SAFETY: caller.
    unsafe { uc::read(uc, &mut regs.0) };
    // SAFETY: caller.
    let pc = unsafe { crate::signal::ucontext_pc(uc) } as u64;
    let mut fp = regs.0[uc::FP];
    let (func, off) = locate(pc).ok_or(Unreadable)?;
    let table = points_of(func).ok_or(Unreadable)?;
    let (k, p) = table.poll_at(off).ok_or(Unreadable)?;
    let mut frames = alloc::vec![read_frame(func, &table, k, &p, 0, &regs, fp)?];
    let mut table = table;
    // Deep stacks repeat a few functions and call sites: look each up once, not once a
    // frame (the lookups scan the function records and validate the whole table, and
    // parsing the call's point record was a tenth of what reading a frame cost).
    let mut cur = CallSite {
        func,
        off: u32::MAX,
        k,
        site: 0,
        point: p,
    };
    let mut code = crate::trap::func_code(func).ok_or(Unreadable)?;
    let mut code_end = code + crate::trap::func_code_size(func).ok_or(Unreadable)? as u64;
    loop {
        // Unwind: the caller's callee-saved registers, frame pointer and pc.
        for i in 0..table.num_saves() {
            let (r, off) = table.save(i).ok_or(Unreadable)?;
            // SAFETY: the prologue stored the register there; the frame is live.
            regs.0[r as usize] = unsafe { word(fp.wrapping_add(off as i64 as u64)) };
        }
        // SAFETY: every Wasm function keeps a frame pointer: [fp] and [fp + 8] hold the
        // caller's frame pointer and the return address.
        let (caller_fp, ra) = unsafe { (word(fp), word(fp + 8)) };
        fp = caller_fp;
        regs.0[uc::FP] = fp;
        // A return address outside Wasm code: the runtime called this function.
        // (ra - 1 is inside the call: a call can end its function.)
        let (func, off) = if code < ra && ra <= code_end {
            (cur.func, (ra - code) as u32)
        } else {
            let Some((func, off)) = locate(ra - 1) else {
                break;
            };
            table = points_of(func).ok_or(Unreadable)?;
            code = ra - 1 - off as u64;
            code_end = code + crate::trap::func_code_size(func).ok_or(Unreadable)? as u64;
            (cur.func, cur.off) = (func, u32::MAX);
            (func, off + 1)
        };
        if cur.off != off {
            let (k, _, site) = table.call_returning_to(off).ok_or(Unreadable)?;
            let point = table.point(k).ok_or(Unreadable)?;
            cur = CallSite {
                func,
                off,
                k,
                site,
                point,
            };
        }
        frames.push(read_frame(func, &table, cur.k, &cur.point, cur.site, &regs, fp)?);
        if frames.len() > MAX_FRAMES {
            return Err(Unreadable);
        }
    }
    Ok(frames)
}
