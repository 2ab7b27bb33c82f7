//! [`MainCell`]: the one home of mutable runtime state that signal handlers never touch.
//!
//! The runtime runs one thread (Wasm threads are not supported). Besides it, the only
//! flow of control is a signal handler (faults, SIGUSR1), which can interrupt the main
//! flow between any two instructions. So state falls into two kinds, and every static
//! says which it is:
//! - state a signal handler reads or writes is an atomic (`core::sync::atomic`), or a
//!   vmctx word accessed atomically through a raw pointer, never through a reference.
//!   Only atomic loads and stores are used: read-modify-write operations (swap,
//!   fetch_add, compare_exchange) become calls to compiler-builtins' outline atomics on
//!   aarch64, which need libc's `getauxval`; with a single thread, a load and a store
//!   do, as long as a handler arriving between them is harmless (each use says why);
//! - everything else is main-flow state in a `MainCell`, reached only by a short
//!   [`MainCell::with`] closure, so no `&mut` to it outlives one access and two never
//!   exist at once.

use core::cell::{Cell, UnsafeCell};

/// Main-flow state: mutable, never touched by a signal handler. Closures given to
/// [`with`](MainCell::with) must be short: no guest code, nothing that can trap (the
/// spec-test harness leaves a trap by a jump, which would leave the cell marked busy)
/// and no `with` on the same cell.
pub struct MainCell<T> {
    busy: Cell<bool>,
    value: UnsafeCell<T>,
}

// SAFETY: only the one runtime thread ever reaches a `MainCell`: there are no others, and
// signal handlers, which run on that thread, never touch one (module comment). `with`
// guards against the remaining hazard, re-entry.
unsafe impl<T> Sync for MainCell<T> {}

impl<T> MainCell<T> {
    pub const fn new(value: T) -> MainCell<T> {
        MainCell { busy: Cell::new(false), value: UnsafeCell::new(value) }
    }

    /// Runs `f` with the only `&mut` to the value. A `with` inside another on the same
    /// cell is a runtime bug: it stops the process rather than making a second `&mut`.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        if self.busy.replace(true) {
            reentered();
        }
        // SAFETY: `busy` was false, so no other reference to the value exists (only `with`
        // makes one, and it keeps `busy` set while that reference lives); no other thread
        // or signal handler reaches the cell (the `Sync` impl).
        let r = f(unsafe { &mut *self.value.get() });
        self.busy.set(false);
        r
    }
}

impl<T: Copy> MainCell<T> {
    /// A copy of the value.
    pub fn get(&self) -> T {
        self.with(|v| *v)
    }
}

/// Out of line: one copy of the message instead of one per `with` (each is a few
/// hundred bytes of every executable).
#[cold]
#[inline(never)]
fn reentered() -> ! {
    panic!("runtime state re-entered")
}
