//! The contract between wasmc-generated code and the wasmc runtime.
//!
//! Both sides depend on this crate and on nothing else for the shape of what they
//! share: the vmctx layout, the module descriptor the compiler emits, runtime function
//! symbols and signatures, trap codes, the WASI imports the runtime provides, and the
//! canonical (ISA-neutral) checkpoint format. `SPEC.md` beside this crate is the
//! written form of the same contract.
//!
//! Every target wasmc supports is 64-bit little-endian LP64, so all pointer-sized
//! fields are declared as `u64` and the layouts are identical on every ISA.
#![no_std]

pub mod checkpoint;
pub mod eh;
pub mod imports;
pub mod libcall;
pub mod points;
pub mod records;
pub mod stream;
pub mod text;
pub mod vmctx;

pub use vmctx::*;

/// Bumped whenever anything in this crate changes shape. A checkpoint records it and an
/// executable refuses a checkpoint written with another ABI version.
pub const ABI_VERSION: u32 = 6;

/// Wasm value types as the runtime and the checkpoint see them.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValType {
    I32 = 0,
    I64 = 1,
    F32 = 2,
    F64 = 3,
    V128 = 4,
    FuncRef = 5,
    ExternRef = 6,
    /// A caught exception (the exception-handling proposal): never in a checkpoint, as
    /// no frame holding one can be rebuilt (`eh`).
    ExnRef = 7,
}

impl ValType {
    pub fn from_u8(b: u8) -> Option<ValType> {
        Some(match b {
            0 => ValType::I32,
            1 => ValType::I64,
            2 => ValType::F32,
            3 => ValType::F64,
            4 => ValType::V128,
            5 => ValType::FuncRef,
            6 => ValType::ExternRef,
            7 => ValType::ExnRef,
            _ => return None,
        })
    }
    /// A type a checkpoint may hold values of: every one but [`ValType::ExnRef`].
    pub fn from_checkpoint_u8(b: u8) -> Option<ValType> {
        ValType::from_u8(b).filter(|t| *t != ValType::ExnRef)
    }
    pub fn name(self) -> &'static str {
        match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
            ValType::ExnRef => "exnref",
        }
    }
}

/// Why a Wasm program stopped abnormally. Generated code raises these either as
/// Cranelift trap instructions (found through the trap table, see [`TrapSite`]) or by
/// calling [`libcall::Libcall::Trap`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    Unreachable = 1,
    MemoryOutOfBounds = 2,
    TableOutOfBounds = 3,
    IntegerDivideByZero = 4,
    IntegerOverflow = 5,
    BadConversionToInteger = 6,
    IndirectCallToNull = 7,
    IndirectCallTypeMismatch = 8,
    StackExhausted = 9,
    UnknownImport = 10,
    /// An exception no handler caught reached the runtime.
    UncaughtException = 11,
    /// `throw_ref` of a null exception reference.
    NullExceptionReference = 12,
    /// An atomic access whose address is not a multiple of its width.
    UnalignedAtomic = 13,
    /// `memory.atomic.wait32/64` on unshared memory (the only kind wasmc has).
    WaitOnUnsharedMemory = 14,
}

impl Trap {
    pub const ALL: [Trap; 14] = [
        Trap::Unreachable,
        Trap::MemoryOutOfBounds,
        Trap::TableOutOfBounds,
        Trap::IntegerDivideByZero,
        Trap::IntegerOverflow,
        Trap::BadConversionToInteger,
        Trap::IndirectCallToNull,
        Trap::IndirectCallTypeMismatch,
        Trap::StackExhausted,
        Trap::UnknownImport,
        Trap::UncaughtException,
        Trap::NullExceptionReference,
        Trap::UnalignedAtomic,
        Trap::WaitOnUnsharedMemory,
    ];
    pub fn from_u8(b: u8) -> Option<Trap> {
        Trap::ALL.iter().copied().find(|t| *t as u8 == b)
    }
    /// The message printed on stderr; the wording follows the spec test suite.
    pub fn message(self) -> &'static str {
        match self {
            Trap::Unreachable => "unreachable",
            Trap::MemoryOutOfBounds => "out of bounds memory access",
            Trap::TableOutOfBounds => "out of bounds table access",
            Trap::IntegerDivideByZero => "integer divide by zero",
            Trap::IntegerOverflow => "integer overflow",
            Trap::BadConversionToInteger => "invalid conversion to integer",
            Trap::IndirectCallToNull => "uninitialized element",
            Trap::IndirectCallTypeMismatch => "indirect call type mismatch",
            Trap::StackExhausted => "call stack exhausted",
            Trap::UnknownImport => "call to unknown import",
            Trap::UncaughtException => "uncaught exception",
            Trap::NullExceptionReference => "null exception reference",
            Trap::UnalignedAtomic => "unaligned atomic",
            Trap::WaitOnUnsharedMemory => "expected shared memory",
        }
    }
}

/// Exit status of a process that trapped.
pub const TRAP_EXIT_CODE: i32 = 134;
/// Exit status of a process that wrote a checkpoint and stopped (SIGUSR1 or
/// `WASMC_CHECKPOINT_AFTER`), ready to be restored with `WASMC_RESTORE`.
pub const CHECKPOINT_EXIT_CODE: i32 = 85;
/// Exit status of a process stopped by the runtime itself (bad environment, bad
/// checkpoint, out of memory at start-up). The message on stderr says which.
pub const RUNTIME_ERROR_EXIT_CODE: i32 = 125;

/// Wasm page size.
pub const WASM_PAGE: u64 = 65536;

/// Wasm call depth every executable allows, on every ISA. Entering a function when
/// `depth_left` is zero traps with [`Trap::StackExhausted`].
pub const MAX_CALL_DEPTH: u64 = 100_000;

/// Native stack the runtime runs Wasm code on (reserved, committed only as it is
/// touched). Sized so that [`MAX_CALL_DEPTH`] frames of up to 40 KiB fit on every ISA, so
/// the same Wasm call depth works everywhere; a guard region below it turns a native
/// overflow (frames of pathological size) into the same trap.
pub const NATIVE_STACK_BYTES: u64 = 4 << 30;

/// Bytes reserved for linear memory: 4 GiB addressable by an i32 index plus a 4 GiB guard
/// region covering any static offset, so generated code never checks bounds.
pub const MEMORY_RESERVATION: u64 = 8 << 30;

/// Bytes reserved just below linear memory and just below the vmctx. Each holds a poll
/// word in its last page: [`MEMORY_POLL`] and [`VMCTX_POLL`]. Migration polls load one
/// of them (the one whose base the function keeps in a register anyway); the runtime
/// makes both prefixes unreadable to stop the program at its next poll (SPEC §2.1).
pub const MEMORY_PREFIX: u64 = 64 << 10;

/// Offset from the memory base of the poll word functions that access memory load.
pub const MEMORY_POLL: i32 = -8;

/// Offset from the vmctx of the poll word every other function loads.
pub const VMCTX_POLL: i32 = -8;

/// Poll words per prefix: point `k` polls the word at `POLL − 4·(k mod POLL_WORDS)`, so
/// that two polls never load the same address with nothing between (which Cranelift
/// would merge as a redundant load). 30 keeps the displacement within one byte on
/// x86-64 and within every ISA's short load offset.
pub const POLL_WORDS: u32 = 30;

/// Symbols of what generated code and the runtime share besides the runtime functions
/// (which are [`libcall::Libcall`]).
pub mod sym {
    /// The module descriptor ([`crate::ModuleDesc`]) emitted by the compiler.
    pub const MODULE: &str = "wasmc_module";
    /// Prefix of the symbol of every defined function; the suffix is the function index.
    /// (`wasmc_f12`). A `.symtab` alias carries the name-section name for debuggers.
    pub const FUNC_PREFIX: &str = "wasmc_f";
    /// `(vmctx)`: the compiler-generated instantiation function: globals, tables, data
    /// and element segments, then the start function.
    pub const INIT: &str = "wasmc_init";
    /// `(vmctx)`, calling convention *preserve-all* (it changes no register): the
    /// runtime's countdown, which every entry poll's cold path calls while
    /// `WASMC_CHECKPOINT_AFTER` counts (§2.1).
    pub const COUNTDOWN: &str = "wasmc_countdown";
}

/// Values of `VmCtx::mig_state`, which only function entries read: a request to stop
/// reaches generated code through the poll pages, not through this word.
pub mod mig_state {
    pub const IDLE: u32 = 0;
    /// Frames are being rebuilt, outermost first: every entry calls the runtime to
    /// rebuild its frame.
    pub const RESTORING: u32 = 3;
}
