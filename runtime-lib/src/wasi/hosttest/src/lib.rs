//! Compiles the runtime's WASI sources into a std crate so they can be unit-tested on
//! the host (see Cargo.toml).
extern crate alloc;

#[path = "../../../sys.rs"]
#[allow(dead_code)]
mod sys;

#[path = "../../../cell.rs"]
mod cell;

#[path = "../../../errno.rs"]
#[allow(dead_code)]
pub mod errno;

#[path = "../../../host.rs"]
#[allow(dead_code)]
mod host;

#[path = "../../../print.rs"]
#[allow(dead_code)]
mod print;

#[path = "../../mod.rs"]
#[allow(dead_code)]
pub mod wasi;

/// Stand-in for the runtime's `process` module: fixed values for the unit tests, else
/// `HOSTTEST_ARGS` / `HOSTTEST_ENV` (fields separated by 0x1f) for run_wasm.py.
pub mod process {
    use std::sync::OnceLock;

    fn split(var: &str) -> &'static [&'static [u8]] {
        let v = std::env::var(var).unwrap_or_default();
        let parts: Vec<&'static [u8]> = if v.is_empty() {
            Vec::new()
        } else {
            v.split('\x1f').map(|s| &*Box::leak(s.as_bytes().to_vec().into_boxed_slice())).collect()
        };
        Box::leak(parts.into_boxed_slice())
    }

    pub fn args() -> &'static [&'static [u8]] {
        static A: OnceLock<&'static [&'static [u8]]> = OnceLock::new();
        if cfg!(test) {
            return &[b"prog", b"one", b"two words"];
        }
        A.get_or_init(|| split("HOSTTEST_ARGS"))
    }
    pub fn guest_env() -> &'static [&'static [u8]] {
        static E: OnceLock<&'static [&'static [u8]]> = OnceLock::new();
        if cfg!(test) {
            return &[b"A=1", b"HOME=/sb"];
        }
        E.get_or_init(|| split("HOSTTEST_ENV"))
    }
}

/// For run_wasm.py: `wasi::init` with a WASMC_DIRS value; 0 on success.
#[no_mangle]
pub extern "C" fn hosttest_init(dirs: *const u8, len: usize) -> i32 {
    let d = if dirs.is_null() { None } else { Some(unsafe { std::slice::from_raw_parts(dirs, len) }) };
    match wasi::init(d) {
        Ok(()) => 0,
        Err(m) => {
            eprintln!("{m}");
            1
        }
    }
}

#[cfg(test)]
mod tests;
