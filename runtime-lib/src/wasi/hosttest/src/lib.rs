//! Compiles the runtime's WASI sources into a std crate so they can be unit-tested on
//! the host (see Cargo.toml).
extern crate alloc;

#[path = "../../../sys.rs"]
#[allow(dead_code)]
mod sys;

#[path = "../../mod.rs"]
#[allow(dead_code)]
pub mod wasi;

/// Stand-in for the runtime's start-up module.
pub mod startup {
    pub fn args() -> &'static [&'static [u8]] {
        &[b"prog", b"one", b"two words"]
    }
    pub fn guest_env() -> &'static [&'static [u8]] {
        &[b"A=1", b"HOME=/sb"]
    }
}

#[cfg(test)]
mod tests;
