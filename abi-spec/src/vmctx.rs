//! Memory layouts shared by generated code and the runtime.
//!
//! The runtime allocates one [`VmCtx`] per process (followed by the module's globals and
//! table descriptors) and passes a pointer to it as the first argument of every
//! generated function. Generated code addresses fields by the offsets below; the
//! runtime uses the Rust structs. A test pins that both agree.

/// Fixed header of the vmctx. Globals and tables follow at [`globals_offset`] and
/// [`tables_offset`].
#[repr(C)]
pub struct VmCtx {
    /// See [`crate::mig_state`]. Written by signal handlers, hence a plain word read
    /// with a single load by generated code.
    pub mig_state: u32,
    pub _pad0: u32,
    /// Wasm frames that may still be entered before [`crate::Trap::StackExhausted`].
    pub depth_left: u64,
    /// Base of linear memory (never moves: the whole reservation is made up front).
    pub memory_base: u64,
    /// Current size of linear memory in bytes.
    pub memory_size: u64,
    /// The module descriptor (`*const ModuleDesc`).
    pub module: u64,
    /// Runtime-private state (`*mut` runtime type), opaque to generated code.
    pub runtime: u64,
    /// Reserved, 0.
    pub _reserved: u64,
    /// While the deterministic countdown runs: the polls still to pass before the
    /// program stops; decremented by generated code.
    pub countdown: u64,
}

pub const VMCTX_MIG_STATE: i32 = 0;
pub const VMCTX_DEPTH_LEFT: i32 = 8;
pub const VMCTX_MEMORY_BASE: i32 = 16;
pub const VMCTX_MEMORY_SIZE: i32 = 24;
pub const VMCTX_MODULE: i32 = 32;
pub const VMCTX_RUNTIME: i32 = 40;
pub const VMCTX_COUNTDOWN: i32 = 56;
pub const VMCTX_HEADER_SIZE: u32 = 64;

/// Every global takes one 16-byte slot (room for v128); scalars sit in the low bytes.
pub const GLOBAL_SLOT: u32 = 16;

pub const fn globals_offset() -> u32 {
    VMCTX_HEADER_SIZE
}
pub const fn global_offset(index: u32) -> u32 {
    globals_offset() + index * GLOBAL_SLOT
}
pub const fn tables_offset(num_globals: u32) -> u32 {
    globals_offset() + num_globals * GLOBAL_SLOT
}
pub const fn table_offset(num_globals: u32, index: u32) -> u32 {
    tables_offset(num_globals) + index * core::mem::size_of::<TableInstance>() as u32
}
pub const fn vmctx_size(num_globals: u32, num_tables: u32) -> u32 {
    table_offset(num_globals, num_tables)
}

/// A table as generated code sees it: `len` elements of 8 bytes at `base`. A funcref
/// element is a pointer to a [`FuncRecord`] or 0 for null; an externref element is an
/// opaque non-zero host value or 0 for null.
#[repr(C)]
pub struct TableInstance {
    pub base: u64,
    pub len: u64,
}
pub const TABLE_BASE: i32 = 0;
pub const TABLE_LEN: i32 = 8;

/// One per function of the module (imports first, as in the Wasm index space); a funcref
/// value is the address of one of these. `type_id` is the index of the first
/// structurally equal type in the module's type section, so a type check is one compare.
#[repr(C)]
pub struct FuncRecord {
    /// Native code address (`extern "C" fn(vmctx, params...) -> results`).
    pub code: u64,
    /// Size of the native code in bytes (0 for imports); maps a trapping pc to a function.
    pub code_size: u32,
    pub type_id: u32,
}
pub const FUNC_RECORD_SIZE: u32 = 16;
pub const FUNC_RECORD_CODE: i32 = 0;
pub const FUNC_RECORD_TYPE_ID: i32 = 12;

/// A place in generated code where a hardware trap (or trap instruction) may fire.
#[repr(C)]
pub struct TrapSite {
    pub func_index: u32,
    /// Offset of the trapping instruction from the function's code address.
    pub offset: u32,
    /// A [`crate::Trap`] code.
    pub code: u32,
    pub _pad: u32,
}

/// A byte string in the executable's read-only data (data segment, name, ...).
#[repr(C)]
pub struct Bytes {
    pub ptr: u64,
    pub len: u64,
}

/// Table types as declared by the module.
#[repr(C)]
pub struct TableType {
    pub min: u64,
    /// `u64::MAX` when the module declares no maximum.
    pub max: u64,
    /// A [`crate::ValType`] (`FuncRef` or `ExternRef`).
    pub elem: u8,
    pub _pad: [u8; 7],
}

/// The module descriptor, emitted by the compiler under the symbol [`crate::sym::MODULE`]
/// and read by the runtime at start-up. All pointers are absolute addresses.
#[repr(C)]
pub struct ModuleDesc {
    pub abi_version: u32,
    /// Non-zero when the code has migration points (`--no-migration-points` clears it).
    pub migration_points: u32,
    /// SHA-256-sized digest of the module bytes (first 32 bytes used); a checkpoint
    /// records it and a restore refuses another module's.
    pub module_hash: [u8; 32],
    /// `*const FuncRecord`, `num_funcs` entries (imports first).
    pub funcs: u64,
    pub num_funcs: u32,
    pub num_imported_funcs: u32,
    /// `*const Bytes`, one name per function (empty when the name section has none).
    pub func_names: u64,
    /// `*const TrapSite`, `num_trap_sites` entries.
    pub trap_sites: u64,
    pub num_trap_sites: u32,
    pub num_globals: u32,
    /// `*const u8`, one [`crate::ValType`] per global.
    pub global_types: u64,
    /// `*const u8`, 1 where the global is mutable.
    pub global_mutable: u64,
    /// `*const TableType`, `num_tables` entries.
    pub tables: u64,
    pub num_tables: u32,
    pub has_memory: u32,
    pub memory_min_pages: u64,
    /// `u64::MAX` when the module declares no maximum (then 65536 pages apply).
    pub memory_max_pages: u64,
    /// `*const Bytes`, one per data segment.
    pub data_segments: u64,
    pub num_data_segments: u32,
    pub num_elem_segments: u32,
    /// `*const Bytes`, one per element segment; the bytes are `len / 8` u64 elements
    /// (funcref record addresses or 0).
    pub elem_segments: u64,
    /// `extern "C" fn(vmctx)`: the instantiation function ([`crate::sym::INIT`]).
    pub init: u64,
    /// `extern "C" fn(vmctx)`: the `_start` export, or 0 for a module without one.
    pub entry: u64,
    pub vmctx_size: u32,
    pub _pad: u32,
    /// `*const u64`, one address per function (imports included): that function's
    /// exception-handling table ([`crate::eh`]), or 0 (no call with a handler); 0
    /// altogether for a module without `try_table`.
    pub eh_tables: u64,
    /// `*const u64`, one address per function (imports included): that function's
    /// table of migration points ([`crate::points`]: kind, callee and value types of
    /// each), or 0 (imports, no migration points).
    pub point_types_index: u64,
    /// Reserved, 0.
    pub _reserved: u32,
    pub num_exports: u32,
    /// `*const ExportDesc`, `num_exports` entries: what a host (the spec-test harness)
    /// may call or read by name.
    pub exports: u64,
}

/// Kinds of [`ExportDesc`].
pub mod export_kind {
    pub const FUNC: u8 = 0;
    pub const TABLE: u8 = 1;
    pub const MEMORY: u8 = 2;
    pub const GLOBAL: u8 = 3;
}

/// One export of the module. A function export comes with a trampoline that calls any
/// function of its type from the host with arguments and results in 64-bit slots
/// (`extern "C" fn(vmctx, code: u64, args: *const u64, results: *mut u64)`).
#[repr(C)]
pub struct ExportDesc {
    pub name: Bytes,
    /// An [`export_kind`] value.
    pub kind: u8,
    pub _pad: [u8; 3],
    pub index: u32,
    /// Trampoline address, for function exports; 0 otherwise.
    pub trampoline: u64,
    /// [`crate::ValType`] bytes of the parameters and results (function exports).
    pub params: Bytes,
    pub results: Bytes,
}

pub const MODULE_DESC_SIZE: u32 = core::mem::size_of::<ModuleDesc>() as u32;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn offsets_match_structs() {
        assert_eq!(offset_of!(VmCtx, mig_state) as i32, VMCTX_MIG_STATE);
        assert_eq!(offset_of!(VmCtx, depth_left) as i32, VMCTX_DEPTH_LEFT);
        assert_eq!(offset_of!(VmCtx, memory_base) as i32, VMCTX_MEMORY_BASE);
        assert_eq!(offset_of!(VmCtx, memory_size) as i32, VMCTX_MEMORY_SIZE);
        assert_eq!(offset_of!(VmCtx, module) as i32, VMCTX_MODULE);
        assert_eq!(offset_of!(VmCtx, runtime) as i32, VMCTX_RUNTIME);
        assert_eq!(offset_of!(VmCtx, countdown) as i32, VMCTX_COUNTDOWN);
        assert_eq!(size_of::<VmCtx>() as u32, VMCTX_HEADER_SIZE);
        assert_eq!(offset_of!(TableInstance, base) as i32, TABLE_BASE);
        assert_eq!(offset_of!(TableInstance, len) as i32, TABLE_LEN);
        assert_eq!(size_of::<FuncRecord>() as u32, FUNC_RECORD_SIZE);
        assert_eq!(offset_of!(FuncRecord, code) as i32, FUNC_RECORD_CODE);
        assert_eq!(offset_of!(FuncRecord, type_id) as i32, FUNC_RECORD_TYPE_ID);
        assert_eq!(size_of::<TrapSite>(), 16);
        assert_eq!(size_of::<Bytes>(), 16);
        assert_eq!(size_of::<TableType>(), 24);
        assert_eq!(size_of::<ExportDesc>(), 64);
    }

    #[test]
    fn layout_of_globals_and_tables() {
        assert_eq!(global_offset(0), 64);
        assert_eq!(global_offset(2), 96);
        assert_eq!(table_offset(2, 0), 96);
        assert_eq!(table_offset(2, 1), 112);
        assert_eq!(vmctx_size(2, 2), 128);
    }
}
