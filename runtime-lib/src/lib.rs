//! wasmc-rt: the runtime linked into every executable wasmc produces.
//!
//! `no_std`, no libc: raw syscalls (`sys`), an mmap heap (`heap`), our own `mem*`
//! (`mem`) and the few libm functions Cranelift may call (`fmath`). Start-up
//! (`startup`) parses argv/envp, installs fault handlers (`signal`), instantiates the
//! module from its descriptor (`instance`) and runs it on a dedicated native stack
//! (`stack`). Generated code calls back into `libcalls`, `trap`, `migrate`
//! and the WASI layer (`wasi`).
#![no_std]

extern crate alloc;

pub mod fmath;
pub mod harness;
pub mod checkpoint;
pub mod ckfile;
pub mod heap;
pub mod instance;
pub mod libcalls;
pub mod mem;
pub mod migrate;
pub mod print;
pub mod signal;
pub mod spectest;
pub mod stack;
pub mod startup;
#[allow(dead_code)]
pub mod sys;
pub mod trap;
mod wasi;

use core::cell::UnsafeCell;

#[global_allocator]
static HEAP: heap::Heap = heap::Heap::new();

/// A process-wide mutable static. The runtime is single-threaded (Wasm threads are not
/// supported) and signal handlers only touch state they own, so plain cells suffice.
/// `repr(transparent)` so asm can address the value through the symbol.
#[repr(transparent)]
pub struct Global<T>(UnsafeCell<T>);

unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub const fn new(v: T) -> Global<T> {
        Global(UnsafeCell::new(v))
    }
    pub fn get(&self) -> *mut T {
        self.0.get()
    }
}

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
