//! What a checkpoint carries for the guest besides its fds: its arguments and
//! environment (a restored guest keeps its original ones) and its monotonic clock
//! (offset so that it never goes backwards).

use crate::cell::MainCell;
use crate::errno::{Errno, EINVAL};
use crate::host;

type Strs = &'static [&'static [u8]];

#[derive(Clone, Copy)]
struct Carried {
    args: Option<Strs>,
    env: Option<Strs>,
    /// Added to the host's monotonic clock after a restore.
    mono_offset: u64,
}

/// Main flow only: set once by a restore, before the guest runs; read by WASI calls and
/// checkpoints. Signal handlers never touch it.
static CARRIED: MainCell<Carried> = MainCell::new(Carried { args: None, env: None, mono_offset: 0 });

/// The guest's arguments: the checkpoint's after a restore, else the process's.
pub fn args() -> Strs {
    CARRIED.get().args.unwrap_or_else(crate::process::args)
}

/// The guest's environment: the checkpoint's after a restore, else the process's.
pub fn env() -> Strs {
    CARRIED.get().env.unwrap_or_else(crate::process::guest_env)
}

/// Takes over a checkpoint's arguments, environment and monotonic clock reading.
pub fn restore(args: Strs, env: Strs, monotonic_ns: u64) {
    let now = host::clock_gettime(1).unwrap_or(0);
    CARRIED.with(|c| *c = Carried { args: Some(args), env: Some(env), mono_offset: monotonic_ns.saturating_sub(now) });
}

/// WASI clock ids 0–3 are realtime, monotonic, process and thread CPU time, which are
/// Linux clock ids 0, 1, 2, 3 as well.
pub fn linux_clock(id: u32) -> Result<usize, Errno> {
    match id {
        0..=3 => Ok(id as usize),
        _ => Err(EINVAL),
    }
}

/// The guest's reading of clock `id`, in ns.
pub fn now(id: u32) -> Result<u64, Errno> {
    let t = host::clock_gettime(linux_clock(id)?)?;
    // After a migration the monotonic clock continues from the checkpoint's value.
    Ok(if id == 1 { t + CARRIED.get().mono_offset } else { t })
}
