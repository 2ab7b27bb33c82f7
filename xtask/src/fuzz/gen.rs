//! Random modules from wasm-smith, restricted to what wasmc claims to support (README
//! "What is supported": WebAssembly 2.0 minus SIMD, plus exception handling and
//! atomics), self-contained (no imports) and small, and made to terminate.

use super::rng::Rng;
use wasm_smith::{Config, Module};

/// Fuel of wasm-smith's termination pass: decremented at every function entry and loop
/// header, shared by all invocations of one instance (it is a global). Far below the
/// 100,000-frame limit, so only wasmtime's byte-sized stack can run out first.
const FUEL: u32 = 5_000;

/// Linear memory bound: 256 pages (16 MiB) keeps instantiation and bulk operations fast.
const MAX_MEMORY_BYTES: u64 = 256 * 65_536;

fn config(rng: &mut Rng) -> Config {
    // A third of the modules throw and catch (`try_table`, `throw`, `throw_ref`): wasmc
    // compiles the exception-handling proposal. (Modules with `exnref` globals or tables
    // wasmc refuses, and functions that take or return an `exnref` are not exported:
    // wasmtime's Python binding aborts on their type.)
    let exceptions = rng.chance(1, 3);
    // And a third use atomic instructions (the threads proposal without its shared
    // memories, which wasmc refuses: such modules are counted as rejected).
    let atomics = rng.chance(1, 3);
    Config {
        // Other proposals beyond WebAssembly 2.0, or SIMD: wasmc refuses them by design,
        // so generating them would only measure its error path.
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: atomics,
        shared_everything_threads_enabled: false,
        memory64_enabled: false,
        max_memories: 1,
        tail_call_enabled: false,
        exceptions_enabled: exceptions,
        max_tags: if exceptions { 4 } else { 0 },
        gc_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        // What 2.0 does include, stated so a changed wasm-smith default cannot drop it.
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        multi_value_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        // Self-contained: wasmc links no module but WASI, and the driver imports nothing.
        max_imports: 0,
        // Small and bounded: a declared maximum keeps memory.grow / table.grow bounded too.
        max_memory32_bytes: MAX_MEMORY_BYTES,
        memory_max_size_required: true,
        max_tables: 4,
        max_table_elements: 1_000,
        table_max_size_required: true,
        max_funcs: 40,
        // Everything exported: every function is invoked and every global compared.
        export_everything: true,
        // At least one function type and a few functions: without them most modules
        // have nothing to call.
        min_types: 1,
        min_funcs: 3,
        // Half the modules without trapping instructions (wasm-smith masks addresses and
        // guards divisions): otherwise `unreachable` and out-of-bounds traps end most calls
        // before they compute a value worth comparing.
        disallow_traps: rng.chance(1, 2),
        ..Config::default()
    }
}

/// The module of one case: `Err` when wasm-smith cannot build one from these bytes.
pub fn module(rng: &mut Rng) -> anyhow::Result<Vec<u8>> {
    let config = config(rng);
    let len = 1024 + rng.index(32 * 1024);
    let data = rng.bytes(len);
    let mut u = arbitrary::Unstructured::new(&data);
    let mut m = Module::new(config, &mut u)?;
    let fuel = m.ensure_termination(FUEL)?;
    export_fuel(&m.to_bytes(), fuel)
}

/// Name under which the fuel global is exported. The fuel is shared by all calls of an
/// instance, so one runaway loop would leave every later call trapping at its first
/// instruction; with the fuel visible, both drivers start a fresh instance when it is
/// gone (and compare it first, like any global).
pub const FUEL_EXPORT: &str = "__fuel";

/// Whether a function type takes or returns an `exnref`.
fn mentions_exnref(ty: &wasmparser::FuncType) -> bool {
    use wasmparser::{AbstractHeapType, HeapType, ValType};
    ty.params().iter().chain(ty.results()).any(|t| {
        matches!(t, ValType::Ref(r) if matches!(
            r.heap_type(),
            HeapType::Abstract { ty: AbstractHeapType::Exn | AbstractHeapType::NoExn, .. }
        ))
    })
}

/// Adds the export `FUEL_EXPORT` of global `fuel` to the module's export section
/// (every generated module has one: everything is exported), and leaves out the
/// exports of functions that take or return an `exnref` (see [`config`]).
fn export_fuel(wasm: &[u8], fuel: u32) -> anyhow::Result<Vec<u8>> {
    use wasm_encoder::{Encode, ExportKind, ExportSection, Section};
    use wasmparser::{ExternalKind, Parser, Payload};
    let mut out = wasm[..8].to_vec();
    // Per function (no imports: see `config`), whether its type mentions an `exnref`;
    // the type and function sections come before the export section.
    let (mut types, mut funcs) = (vec![], vec![]);
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::TypeSection(r) => {
                for t in r.clone().into_iter_err_on_gc_types() {
                    types.push(mentions_exnref(&t?));
                }
            }
            Payload::FunctionSection(r) => {
                for t in r.clone() {
                    funcs.push(types.get(t? as usize).copied().unwrap_or(false));
                }
            }
            _ => {}
        }
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        let (start, end) = (range.start as usize, range.end as usize);
        let Payload::ExportSection(reader) = payload else {
            out.push(id);
            (end - start).encode(&mut out);
            out.extend_from_slice(&wasm[start..end]);
            continue;
        };
        let mut sec = ExportSection::new();
        for e in reader {
            let e = e?;
            if e.kind == ExternalKind::Func && funcs.get(e.index as usize) == Some(&true) {
                continue;
            }
            let kind = match e.kind {
                ExternalKind::Func => ExportKind::Func,
                ExternalKind::Table => ExportKind::Table,
                ExternalKind::Memory => ExportKind::Memory,
                ExternalKind::Global => ExportKind::Global,
                ExternalKind::Tag => ExportKind::Tag,
                other => anyhow::bail!("export kind {other:?}"),
            };
            sec.export(e.name, kind, e.index);
        }
        sec.export(FUEL_EXPORT, ExportKind::Global, fuel);
        out.push(sec.id());
        sec.encode(&mut out);
    }
    Ok(out)
}
