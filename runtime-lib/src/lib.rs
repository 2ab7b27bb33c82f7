//! wasmc-rt: the runtime linked into every executable wasmc produces.
//!
//! `no_std`, no libc. The modules form layers; a module uses only modules of its own
//! layer or below (ARCHITECTURE.md, "Runtime layering"; a workspace test checks it):
//! 0. base: raw syscalls (`sys`), our own `mem*` (`mem`), the libm functions Cranelift
//!    may call (`fmath`), main-flow state (`cell`), the mmap heap (`heap`), output
//!    (`print`), errnos and file syscalls (`errno`, `host`);
//! 1. `process`: arguments, environment, auxv, `WASMC_*` controls;
//! 2. the instance (`instance`), its native stack (`stack`) and trap reports (`trap`);
//! 3. what generated code and checkpoints need below policy: `libcalls`, fault handling
//!    (`signal`), checkpoint encoding and files (`checkpoint`, `ckfile`);
//! 4. services the guest sees: migration (`migrate`), `wasi`, `spectest`;
//! 5. the entry point (`startup`) and the spec-test harness (`harness`), which reaches
//!    the trap path only through the hook `trap::set_hook`.
//!
//! State a signal handler touches is atomic; all other mutable state is in
//! `cell::MainCell`s (see `cell`).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod cell;
mod checkpoint;
mod ckfile;
mod ckstream;
mod control;
mod countdown;
mod dirty;
mod errno;
mod exn;
mod fmath;
mod frames;
mod harness;
mod heap;
mod host;
mod instance;
mod libcalls;
mod mem;
mod net;
mod migrate;
mod print;
mod precopy;
mod process;
mod rebuild;
mod remote;
mod signal;
mod spectest;
mod stack;
mod startup;
#[allow(dead_code)] // the whole syscall table, used or not, so a new call needs no lookup
mod sys;
mod trap;
mod wasi;

#[global_allocator]
static HEAP: heap::Heap = heap::Heap::new();

/// Panics are runtime bugs: report once and stop. Only the static message and location
/// are printed so `core::fmt` is not linked in.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut l = print::Line::new();
    l.s(b"wasmc: internal error: ");
    l.s(info.message().as_str().unwrap_or("panic").as_bytes());
    if let Some(loc) = info.location() {
        l.s(b" at ").s(loc.file().as_bytes()).s(b":").dec(loc.line() as u64);
    }
    l.nl().write(print::STDERR);
    print::exit(abi_spec::RUNTIME_ERROR_EXIT_CODE)
}
