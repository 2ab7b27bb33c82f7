//! Rebuilding the Wasm frames of a checkpoint on the native stack, from the points
//! tables: the inverse of `frames`, and nothing in generated code but one call at each
//! function's entry.
//!
//! Restore calls the entry function. Each function's entry takes its cold path and
//! calls `wasmc_countdown`, which, seeing the restore state, jumps to
//! `wasmc_mig_restore_enter` (below) with the call's return address in place: by then
//! the entry's prologue has run, so its frame exists and the caller's callee-saved
//! registers are stored where its epilogue will take them back. The trampoline captures every register into a [`RegFile`];
//! [`rebuild_frame`] writes the frame's values where its point's site keeps them
//! (registers in the file, frame slots in memory) together with the site's *extras*
//! (the vmctx, the memory base: values the code computed from the vmctx alone), and
//! chooses where to go:
//!
//! - a frame below the top stopped at a call: into the callee, as the call would have
//!   entered it (return address = the call's, vmctx in the first argument register);
//!   the callee's prologue then saves this frame's callee-saved registers, and its own
//!   entry calls back here for the next frame;
//! - the top frame stopped at a poll: to the poll, with restoring over.
//!
//! The trampoline then loads the registers from the file and jumps. Callee-saved
//! registers the site does not name keep the values they had at the entry's call, which
//! is what the frames below need of them (the entry's prologue saved only those its
//! function uses). Caller-saved ones hold nothing live at a call, so for a frame below
//! the top the trampoline neither stores nor loads them, but for the callee's
//! arguments; for the top frame, stopped at a poll, it loads them all, zero where the
//! site names none (`RegFile`).

use crate::cell::MainCell;
use crate::checkpoint::{native_values, table_and_point, PointCache};
use crate::print::fatal;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use abi_spec::points::{Extra, Loc};
use abi_spec::VmCtx;

/// Registers 0-31 general purpose by hardware number, 32-63 the float/vector registers
/// (low 64 bits), then the stack pointer and the pc to continue at.
///
/// The trampoline stores only the registers in [`isa::STORED`]: those a frame below
/// must find unchanged (callee-saved: the entry's prologue saved only those it uses
/// itself) and those read here. The rest are written here where a site names them,
/// and loaded only for the top frame, which gets zero in every one it does not name
/// (a register a site does not name holds nothing live there).
#[repr(C)]
pub struct RegFile {
    regs: [MaybeUninit<u64>; 64],
    sp: u64,
    pc: u64,
}

impl RegFile {
    /// A register the trampoline stored.
    fn get(&self, r: usize) -> u64 {
        assert!(isa::STORED & (1 << r) != 0);
        // SAFETY: the trampoline stored every register of `STORED`.
        unsafe { self.regs[r].assume_init() }
    }

    fn set(&mut self, r: usize, v: u64) {
        self.regs[r].write(v);
    }

    /// For the top frame, whose every register the trampoline loads: zero in those it
    /// did not store, before the site's values go in.
    fn clear_unstored(&mut self) {
        for r in 0..64 {
            if isa::STORED & (1 << r) == 0 {
                self.set(r, 0);
            }
        }
    }
}

// The trampolines below address the file by these offsets.
const _: () = assert!(
    core::mem::offset_of!(RegFile, sp) == 512
        && core::mem::offset_of!(RegFile, pc) == 520
        && core::mem::size_of::<RegFile>() == 528
);

/// `STORED`: the registers the trampoline stores in the file (bit n for slot n).
#[cfg(target_arch = "x86_64")]
mod isa {
    pub const ARG0: usize = 7; // rdi
    pub const ARG1: usize = 6; // rsi
    pub const FP: usize = 5; // rbp
    /// rbx, rsp, rbp, rdi, r12-r15.
    pub const STORED: u64 = 1 << 3 | 1 << 4 | 1 << 5 | 1 << 7 | 0xf << 12;
}
#[cfg(target_arch = "aarch64")]
mod isa {
    pub const ARG0: usize = 0;
    pub const ARG1: usize = 1;
    pub const FP: usize = 29;
    pub const LR: usize = 30;
    /// x0, x18-x30, sp, d8-d15.
    pub const STORED: u64 = 1 | 0x3fff << 18 | 1 << 31 | 0xff << 40;
}
#[cfg(target_arch = "riscv64")]
mod isa {
    pub const ARG0: usize = 10; // a0
    pub const ARG1: usize = 11; // a1
    pub const FP: usize = 8; // s0
    pub const LR: usize = 1; // ra
    /// ra, sp, gp, tp, s0, s1, a0, s2-s11, fs0, fs1, fs2-fs11.
    pub const STORED: u64 =
        1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 8 | 1 << 9 | 1 << 10 | 0x3ff << 18 | 1 << 40 | 1 << 41 | 0x3ff << 50;
}

// x86_64: called with the return address on the stack, so the caller's sp is 8 above
// the entry's. rax is the scratch register of the final jump and, for the top frame, is
// loaded last; the pc goes through the new stack (push, ret), below the sp the frame
// continues with. Only the registers of `isa::STORED` are stored (see `RegFile`).
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl wasmc_mig_restore_enter",
    ".hidden wasmc_mig_restore_enter",
    ".type wasmc_mig_restore_enter,@function",
    "wasmc_mig_restore_enter:",
    "sub rsp, 536",
    "mov [rsp + 24], rbx",
    "mov [rsp + 40], rbp",
    "mov [rsp + 56], rdi",
    "mov [rsp + 96], r12",
    "mov [rsp + 104], r13",
    "mov [rsp + 112], r14",
    "mov [rsp + 120], r15",
    "lea rax, [rsp + 544]",
    "mov [rsp + 32], rax",
    "mov [rsp + 512], rax",
    "mov rdi, rsp",
    "call {rebuild}",
    "test rax, rax",
    // Flags stay as `test` set them to the end: `mov`, `movq` and `push` leave them.
    "jz 2f",
    // The top frame: the caller-saved registers too.
    "movq xmm0, [rsp + 256]",
    "movq xmm1, [rsp + 264]",
    "movq xmm2, [rsp + 272]",
    "movq xmm3, [rsp + 280]",
    "movq xmm4, [rsp + 288]",
    "movq xmm5, [rsp + 296]",
    "movq xmm6, [rsp + 304]",
    "movq xmm7, [rsp + 312]",
    "movq xmm8, [rsp + 320]",
    "movq xmm9, [rsp + 328]",
    "movq xmm10, [rsp + 336]",
    "movq xmm11, [rsp + 344]",
    "movq xmm12, [rsp + 352]",
    "movq xmm13, [rsp + 360]",
    "movq xmm14, [rsp + 368]",
    "movq xmm15, [rsp + 376]",
    "mov rcx, [rsp + 8]",
    "mov rdx, [rsp + 16]",
    "mov r8, [rsp + 64]",
    "mov r9, [rsp + 72]",
    "mov r10, [rsp + 80]",
    "mov r11, [rsp + 88]",
    "2:",
    // Every frame: the callee-saved registers and the callee's arguments.
    "mov rbx, [rsp + 24]",
    "mov rbp, [rsp + 40]",
    "mov rsi, [rsp + 48]",
    "mov rdi, [rsp + 56]",
    "mov r12, [rsp + 96]",
    "mov r13, [rsp + 104]",
    "mov r14, [rsp + 112]",
    "mov r15, [rsp + 120]",
    "mov rax, rsp",
    "mov rsp, [rax + 512]",
    "push qword ptr [rax + 520]",
    "jz 3f",
    "mov rax, [rax]",
    "3:",
    "ret",
    rebuild = sym wasmc_mig_rebuild,
);

// aarch64: `bl` leaves sp as it was. x16 and x17 are never allocated by Cranelift (its
// scratch registers): x17 holds the file while the others are loaded, x16 the target.
// Only the registers of `isa::STORED` are stored (see `RegFile`).
#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl wasmc_mig_restore_enter",
    ".hidden wasmc_mig_restore_enter",
    ".type wasmc_mig_restore_enter,%function",
    "wasmc_mig_restore_enter:",
    "sub sp, sp, #528",
    "str x0, [sp, #0]",
    "stp x18, x19, [sp, #144]",
    "stp x20, x21, [sp, #160]",
    "stp x22, x23, [sp, #176]",
    "stp x24, x25, [sp, #192]",
    "stp x26, x27, [sp, #208]",
    "stp x28, x29, [sp, #224]",
    "str x30, [sp, #240]",
    "add x9, sp, #528",
    "str x9, [sp, #248]",
    "str x9, [sp, #512]",
    "stp d8, d9, [sp, #320]",
    "stp d10, d11, [sp, #336]",
    "stp d12, d13, [sp, #352]",
    "stp d14, d15, [sp, #368]",
    "mov x0, sp",
    "bl {rebuild}",
    "mov x17, sp",
    "cbz x0, 2f",
    // The top frame: the caller-saved registers too.
    "ldp d0, d1, [x17, #256]",
    "ldp d2, d3, [x17, #272]",
    "ldp d4, d5, [x17, #288]",
    "ldp d6, d7, [x17, #304]",
    "ldp d16, d17, [x17, #384]",
    "ldp d18, d19, [x17, #400]",
    "ldp d20, d21, [x17, #416]",
    "ldp d22, d23, [x17, #432]",
    "ldp d24, d25, [x17, #448]",
    "ldp d26, d27, [x17, #464]",
    "ldp d28, d29, [x17, #480]",
    "ldp d30, d31, [x17, #496]",
    "ldp x2, x3, [x17, #16]",
    "ldp x4, x5, [x17, #32]",
    "ldp x6, x7, [x17, #48]",
    "ldp x8, x9, [x17, #64]",
    "ldp x10, x11, [x17, #80]",
    "ldp x12, x13, [x17, #96]",
    "ldp x14, x15, [x17, #112]",
    "2:",
    // Every frame: the callee-saved registers and the callee's arguments.
    "ldp x0, x1, [x17, #0]",
    "ldp d8, d9, [x17, #320]",
    "ldp d10, d11, [x17, #336]",
    "ldp d12, d13, [x17, #352]",
    "ldp d14, d15, [x17, #368]",
    "ldp x18, x19, [x17, #144]",
    "ldp x20, x21, [x17, #160]",
    "ldp x22, x23, [x17, #176]",
    "ldp x24, x25, [x17, #192]",
    "ldp x26, x27, [x17, #208]",
    "ldp x28, x29, [x17, #224]",
    "ldr x30, [x17, #240]",
    "ldr x16, [x17, #512]",
    "mov sp, x16",
    "ldr x16, [x17, #520]",
    "br x16",
    rebuild = sym wasmc_mig_rebuild,
);

// riscv64: `call` leaves sp as it was. x30 and x31 are never allocated by Cranelift
// (its spill temporaries): x31 holds the file while the others are loaded, then the
// target. Only the registers of `isa::STORED` are stored (see `RegFile`).
#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".globl wasmc_mig_restore_enter",
    ".hidden wasmc_mig_restore_enter",
    ".type wasmc_mig_restore_enter,@function",
    "wasmc_mig_restore_enter:",
    "addi sp, sp, -528",
    "sd x1, 8(sp)",
    "sd x3, 24(sp)",
    "sd x4, 32(sp)",
    "sd x8, 64(sp)",
    "sd x9, 72(sp)",
    "sd x10, 80(sp)",
    "sd x18, 144(sp)",
    "sd x19, 152(sp)",
    "sd x20, 160(sp)",
    "sd x21, 168(sp)",
    "sd x22, 176(sp)",
    "sd x23, 184(sp)",
    "sd x24, 192(sp)",
    "sd x25, 200(sp)",
    "sd x26, 208(sp)",
    "sd x27, 216(sp)",
    "addi x5, sp, 528",
    "sd x5, 16(sp)",
    "sd x5, 512(sp)",
    "fsd f8, 320(sp)",
    "fsd f9, 328(sp)",
    "fsd f18, 400(sp)",
    "fsd f19, 408(sp)",
    "fsd f20, 416(sp)",
    "fsd f21, 424(sp)",
    "fsd f22, 432(sp)",
    "fsd f23, 440(sp)",
    "fsd f24, 448(sp)",
    "fsd f25, 456(sp)",
    "fsd f26, 464(sp)",
    "fsd f27, 472(sp)",
    "mv a0, sp",
    "call {rebuild}",
    "mv x31, sp",
    "beqz a0, 2f",
    // The top frame: the caller-saved registers too.
    "fld f0, 256(x31)",
    "fld f1, 264(x31)",
    "fld f2, 272(x31)",
    "fld f3, 280(x31)",
    "fld f4, 288(x31)",
    "fld f5, 296(x31)",
    "fld f6, 304(x31)",
    "fld f7, 312(x31)",
    "fld f10, 336(x31)",
    "fld f11, 344(x31)",
    "fld f12, 352(x31)",
    "fld f13, 360(x31)",
    "fld f14, 368(x31)",
    "fld f15, 376(x31)",
    "fld f16, 384(x31)",
    "fld f17, 392(x31)",
    "fld f28, 480(x31)",
    "fld f29, 488(x31)",
    "fld f30, 496(x31)",
    "fld f31, 504(x31)",
    "ld x5, 40(x31)",
    "ld x6, 48(x31)",
    "ld x7, 56(x31)",
    "ld x12, 96(x31)",
    "ld x13, 104(x31)",
    "ld x14, 112(x31)",
    "ld x15, 120(x31)",
    "ld x16, 128(x31)",
    "ld x17, 136(x31)",
    "ld x28, 224(x31)",
    "ld x29, 232(x31)",
    "2:",
    // Every frame: the callee-saved registers and the callee's arguments.
    "fld f8, 320(x31)",
    "fld f9, 328(x31)",
    "fld f18, 400(x31)",
    "fld f19, 408(x31)",
    "fld f20, 416(x31)",
    "fld f21, 424(x31)",
    "fld f22, 432(x31)",
    "fld f23, 440(x31)",
    "fld f24, 448(x31)",
    "fld f25, 456(x31)",
    "fld f26, 464(x31)",
    "fld f27, 472(x31)",
    "ld x1, 8(x31)",
    "ld x3, 24(x31)",
    "ld x4, 32(x31)",
    "ld x8, 64(x31)",
    "ld x9, 72(x31)",
    "ld x10, 80(x31)",
    "ld x11, 88(x31)",
    "ld x18, 144(x31)",
    "ld x19, 152(x31)",
    "ld x20, 160(x31)",
    "ld x21, 168(x31)",
    "ld x22, 176(x31)",
    "ld x23, 184(x31)",
    "ld x24, 192(x31)",
    "ld x25, 200(x31)",
    "ld x26, 208(x31)",
    "ld x27, 216(x31)",
    "ld x2, 512(x31)",
    "ld x31, 520(x31)",
    "jr x31",
    rebuild = sym wasmc_mig_rebuild,
);

/// Called by the trampoline with the registers of a function entry's call of
/// `wasmc_countdown`, which jumped to the trampoline because a restore is running.
/// Returns 1 for the top frame (the trampoline then loads every register), else 0
/// (it loads those of [`isa::STORED`] and the callee's arguments: a frame stopped at a
/// call keeps its values in callee-saved registers and frame slots).
extern "C" fn wasmc_mig_rebuild(file: *mut RegFile) -> u64 {
    // SAFETY: the trampoline passes its own stack buffer, laid out as `RegFile`.
    let file = unsafe { &mut *file };
    let vmctx = file.get(isa::ARG0);
    let ret = return_address(file);
    let mut top = false;
    crate::migrate::next_restore_frame(vmctx as *mut VmCtx, ret, |frame, next| {
        top = next.is_none();
        if top {
            file.clear_unstored();
        }
        let converted = VALUES.with(|values| {
            native_values(frame, values)?;
            // SAFETY: the frame is this function's, live on the Wasm stack, and its
            // prologue has run (the entry is calling us).
            unsafe { rebuild_frame(file, vmctx, frame.func, frame.point, values, next) }
        });
        if let Err(msg) = converted {
            fatal(&[b"cannot restore: ", msg.as_bytes()]);
        }
    });
    top as u64
}

/// Where the call that reached the trampoline returns to: into the entry whose frame
/// is being rebuilt.
fn return_address(file: &RegFile) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the call pushed it just below the caller's stack pointer, which the
        // trampoline recorded as the file's; that stack is live.
        unsafe { *((file.sp - 8) as *const u64) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        file.get(isa::LR)
    }
}

const MISMATCH: &str = "checkpoint does not match this executable's code";

/// Where an extra's value comes from before the constants of its `AddConst` chain are
/// added (see [`Prepared`]).
#[derive(Clone, Copy)]
enum Root {
    Vmctx,
    Const(u64),
    VmLoad64(i32),
    VmLoad32(i32),
    /// The frame's Wasm value with this index.
    Value(usize),
    Depth,
}

/// A point's site decoded for writing frames back at it, once per (function, point)
/// rather than once per frame: a deep stack repeats a few points, and decoding every
/// location and extra word for every frame was a third of what rebuilding one cost.
struct Prepared {
    /// Per Wasm value: where it goes, and whether it is an f32 (which riscv64 keeps
    /// NaN-boxed in a float register).
    values: Vec<(Loc, bool)>,
    /// Per extra that the site holds somewhere: where it goes, and its value as a root
    /// plus a constant (an `AddConst` chain folded).
    extras: Vec<(Loc, Root, u64)>,
    site_pc: u32,
    depth_charge: u32,
}

impl Prepared {
    /// `None` where the checkpoint cannot match the code (an unknown location or extra).
    fn new(func: u32, k: u32) -> Option<Prepared> {
        let (table, point) = table_and_point(func, k)?;
        let constant = |c: u16| table.constant(c);
        let mut values = Vec::with_capacity(point.types.len());
        for (t, l) in point.types.iter().zip(point.locs(0)) {
            let loc = l.loc;
            if loc == Loc::Unknown {
                return None;
            }
            values.push((loc, *t == abi_spec::ValType::F32 as u8));
        }
        let mut extras = Vec::with_capacity(point.num_extras());
        for i in 0..point.num_extras() {
            let (loc, mut e) = point.extra(i);
            if e == Extra::Unknown {
                return None;
            }
            if loc.loc == Loc::Unknown {
                continue;
            }
            // An `AddConst`'s base is an earlier extra (the table was checked), so the
            // chain ends.
            let mut add = 0u64;
            let root = loop {
                break match e {
                    Extra::AddConst { base, konst } => {
                        add = add.wrapping_add(constant(konst)?);
                        e = point.extra(base as usize).1;
                        continue;
                    }
                    Extra::Vmctx => Root::Vmctx,
                    Extra::Const(c) => Root::Const(constant(c)?),
                    Extra::VmLoad64(off) => Root::VmLoad64(off),
                    Extra::VmLoad32(off) => Root::VmLoad32(off),
                    Extra::Value(v) if (v as usize) < values.len() => Root::Value(v as usize),
                    Extra::Depth => Root::Depth,
                    Extra::Value(_) | Extra::Unknown => return None,
                };
            };
            extras.push((loc.loc, root, add));
        }
        Some(Prepared {
            values,
            extras,
            site_pc: point.site_pc(0),
            depth_charge: table.depth_charge(),
        })
    }
}

/// [`Prepared`] sites. Main flow only (restoring).
static PREPARED: MainCell<PointCache<Prepared, 64>> = MainCell::new(PointCache::new());

/// The frame being rebuilt's values as native slots, reused from frame to frame.
static VALUES: MainCell<Vec<u64>> = MainCell::new(Vec::new());

/// Writes one frame (at point `k`, with `values`) into the register file and the frame
/// of `func` at the file's frame pointer, and sets the pc and sp to continue with: the
/// callee `next` of a call point, or the poll of the top frame.
///
/// # Safety
/// `file` holds the registers of `func`'s entry calling the trampoline, whose frame
/// pointer and stack pointer delimit `func`'s live frame.
unsafe fn rebuild_frame(
    file: &mut RegFile,
    vmctx: u64,
    func: u32,
    k: u32,
    values: &[u64],
    next: Option<u32>,
) -> Result<(), &'static str> {
    // The frames were checked against this code when the checkpoint was read
    // (`checkpoint::apply_view`): each is at a point with a site and these value types, and
    // each but the innermost is at a call of the next frame's function.
    let fp = file.get(isa::FP);
    // SAFETY: `vmctx` is the instance's, passed by its entry's hook.
    let vm = unsafe { crate::instance::Vm::from_raw(vmctx as *mut VmCtx) };
    // The call-depth argument this frame was entered with: restore enters the first
    // frame with `depth_left` (`migrate::run_entry`), each next one with what is left
    // after the frame below (set below).
    let depth = vm.depth_left();
    let (site_pc, depth_charge) = PREPARED.with(|cache| {
        let p = cache.get(func, k, || Prepared::new(func, k)).ok_or(MISMATCH)?;
        if values.len() != p.values.len() {
            return Err(MISMATCH);
        }
        let mut put = |loc: Loc, v: u64| match loc {
            Loc::Reg(r) => file.set(r as usize, v),
            // SAFETY: the compiler described a slot of this frame, which is live.
            Loc::Frame(off) => unsafe { *(fp.wrapping_add(off as i64 as u64) as *mut u64) = v },
            // Not held anywhere at the site: rematerialised, or dead. (`Prepared` has
            // no `Unknown` location.)
            Loc::Const(_) | Loc::Unknown => {}
        };
        // riscv64 keeps an f32 in a float register NaN-boxed (upper 32 bits all ones);
        // without the box the register reads as the canonical NaN.
        let boxed = |i: usize| match p.values[i].1 && cfg!(target_arch = "riscv64") {
            true => values[i] | 0xffff_ffff_0000_0000,
            false => values[i],
        };
        for (i, &(loc, _)) in p.values.iter().enumerate() {
            put(loc, boxed(i));
        }
        for &(loc, root, add) in &p.extras {
            let base = match root {
                Root::Vmctx => vmctx,
                Root::Const(c) => c,
                // SAFETY: the vmctx is the instance's, and the compiler named a field
                // of it.
                Root::VmLoad64(off) => unsafe { *((vmctx as i64 + off as i64) as *const u64) },
                // SAFETY: as above.
                Root::VmLoad32(off) => unsafe { *((vmctx as i64 + off as i64) as *const u32) as u64 },
                Root::Value(i) => boxed(i),
                Root::Depth => depth,
            };
            put(loc, base.wrapping_add(add));
        }
        Ok((p.site_pc, p.depth_charge))
    })?;
    let code = crate::trap::func_code(func).ok_or(MISMATCH)?;
    let site = code + site_pc as u64;
    match next {
        Some(callee) => {
            // What the call passes on: the frame's depth less its function's charge
            // (which its entry checked when the frame was first made).
            let left = depth.checked_sub(depth_charge as u64).ok_or(MISMATCH)?;
            vm.set_depth_left(left);
            enter(file, site, vmctx, left, callee)?
        }
        None => {
            vm.set_depth_left(abi_spec::MAX_CALL_DEPTH);
            file.pc = site
        }
    }
    Ok(())
}

/// Sets the file up to enter function `callee` as a call returning to `ret` would, with
/// the vmctx and call-depth arguments (abi-spec §1.5).
fn enter(
    file: &mut RegFile,
    ret: u64,
    vmctx: u64,
    depth: u64,
    callee: u32,
) -> Result<(), &'static str> {
    file.pc = crate::trap::func_code(callee).ok_or("checkpoint names a function without code")?;
    file.set(isa::ARG0, vmctx);
    file.set(isa::ARG1, depth);
    #[cfg(target_arch = "x86_64")]
    {
        file.sp -= 8;
        // SAFETY: the slot below the caller's sp is the Wasm stack's, free, and is where
        // the call would have put its return address.
        unsafe { *(file.sp as *mut u64) = ret };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        file.set(isa::LR, ret);
    }
    Ok(())
}
