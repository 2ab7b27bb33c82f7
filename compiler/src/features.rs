//! What wasmc compiles (WebAssembly 2.0 without SIMD, with exception handling and
//! atomics on unshared memory), and, when validation fails, whether
//! the module is invalid or only uses a feature beyond that.
//!
//! wasmparser reports both the same way, as a validation error whose message differs by
//! feature: "exceptions proposal not enabled", "memory64 must be enabled for 64-bit
//! memories", "constant expression required" for an extended constant, "... support is
//! not enabled" for others. Matching messages would miss whichever a new wasmparser
//! words differently. So on the error path only, [`unsupported`] validates the module
//! again with every feature it knows (an invalid module stops there, at the same
//! error), then with one more feature at a time; the first with which validation gets
//! past the error is the feature the module needs. A real C++ program (yosys from PyPI, with
//! exceptions) was reported as an "invalid module" before.

use wasmparser::{Validator, WasmFeatures as F};

/// WebAssembly 2.0 without SIMD, exception handling (`try_table`, `throw`,
/// `throw_ref`, `exnref`) and the threads proposal's atomic instructions: what wasmc
/// compiles. A shared memory, the rest of that proposal, is refused when the module is
/// read (`module_info`): wasmc runs one thread.
pub fn supported() -> F {
    (F::WASM2 & !F::SIMD) | F::EXCEPTIONS | F::THREADS
}

/// Features a module may need beyond [`supported`], each with what it takes to validate
/// (a proposal builds on others) and its name for the user; the likelier first.
const CANDIDATES: &[(F, &str)] = &[
    (
        F::LEGACY_EXCEPTIONS,
        "legacy exception handling (try, catch, rethrow, delegate)",
    ),
    (F::SIMD, "SIMD"),
    (F::RELAXED_SIMD.union(F::SIMD), "relaxed SIMD"),
    (F::TAIL_CALL, "tail calls"),
    (F::MEMORY64, "memory64"),
    (F::MULTI_MEMORY, "multiple memories"),
    (F::EXTENDED_CONST, "extended constant expressions"),
    (F::FUNCTION_REFERENCES, "typed function references"),
    (
        F::GC.union(F::FUNCTION_REFERENCES).union(F::GC_TYPES),
        "garbage collection",
    ),
    (F::CUSTOM_PAGE_SIZES, "custom page sizes"),
    (F::WIDE_ARITHMETIC, "wide arithmetic"),
    (
        F::SHARED_EVERYTHING_THREADS.union(F::THREADS),
        "shared-everything threads",
    ),
    (
        F::STACK_SWITCHING
            .union(F::EXCEPTIONS)
            .union(F::FUNCTION_REFERENCES),
        "stack switching",
    ),
    (F::MEMORY_CONTROL, "memory control"),
];

/// Offset of the first validation error of `bytes` with `features`, `None` if valid.
fn first_error(bytes: &[u8], features: F) -> Option<u64> {
    Validator::new_with_features(features)
        .validate_all(bytes)
        .err()
        .map(|e| e.offset())
}

/// The feature `bytes` needs beyond [`supported`] to validate past its first error,
/// at `offset`; `None` if none does (the module is invalid). Runs only after an error:
/// a wrong candidate stops at the same offset, the right one validates further.
pub fn unsupported(bytes: &[u8], offset: u64) -> Option<&'static str> {
    let past = |f: F| first_error(bytes, supported() | f).is_none_or(|o| o > offset);
    // An invalid module costs one more validation, not one per candidate: with every
    // candidate at once, the error does not move.
    let all = CANDIDATES.iter().fold(F::empty(), |all, (f, _)| all | *f);
    if !past(all) {
        return None;
    }
    CANDIDATES
        .iter()
        .find(|(f, _)| past(*f))
        .map(|(_, name)| *name)
}
