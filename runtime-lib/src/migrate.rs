//! Migration hooks called from generated migration points (`abi_spec::sym::MIG_*`).
//!
//! Checkpoint/restore is not implemented yet: these exist so every executable links.
//! `wasmc_mig_poll` keeps programs running if a point fires anyway; the frame hooks are
//! only reached while saving or restoring, which cannot start without the real runtime.

use crate::print::fatal;
use abi_spec::{PollAction, VmCtx};

#[no_mangle]
pub extern "C" fn wasmc_mig_poll(vmctx: *mut VmCtx) -> i32 {
    // Volatile: signal handlers write this word asynchronously.
    unsafe { core::ptr::write_volatile(&mut (*vmctx).mig_state, abi_spec::mig_state::IDLE) };
    PollAction::Continue as i32
}

fn unavailable() -> ! {
    fatal(&[b"internal error: migration not available"])
}

#[no_mangle]
pub extern "C" fn wasmc_mig_save_frame(_vmctx: *mut VmCtx, _func: i32, _point: i32, _nvals: i32, _types: *const u8) -> *mut u64 {
    unavailable()
}

#[no_mangle]
pub extern "C" fn wasmc_mig_restore_frame(_vmctx: *mut VmCtx, _func: i32) -> *const u64 {
    unavailable()
}

#[no_mangle]
pub extern "C" fn wasmc_mig_restore_callee(_vmctx: *mut VmCtx) -> i64 {
    unavailable()
}
