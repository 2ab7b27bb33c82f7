//! From a read module to one ELF object: the target ISA, symbol declarations, parallel
//! translation and compilation of every function, then the data the runtime reads.

use crate::env::{libcall_signature, wasm_signature, Libcall, ModuleEnv, Symbols};
use crate::error::CompileError;
use crate::module_info::{ImportKind, ModuleInfo};
use crate::translate::{translate_function, trap_from_code};
use anyhow::{anyhow, bail, Context as _};
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::FunctionBuilderContext;
use cranelift_module::{DataId, FuncId, Linkage, Module, ModuleReloc};
use cranelift_object::{ObjectBuilder, ObjectModule};
use std::sync::atomic::{AtomicUsize, Ordering};
use targets::Arch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLevel {
    O0,
    O1,
    O2,
}

/// Builds the Cranelift ISA for `arch`: the baseline CPU plus `cpu_features`; with
/// `migration_points`, what describing frames needs.
pub fn build_isa(
    arch: Arch,
    opt: OptLevel,
    cpu_features: &[String],
    migration_points: bool,
) -> anyhow::Result<OwnedTargetIsa> {
    let mut flags = settings::builder();
    let opt_level = match opt {
        OptLevel::O0 => "none",
        OptLevel::O1 | OptLevel::O2 => "speed",
    };
    let set = |flags: &mut settings::Builder, k: &str, v: &str| -> anyhow::Result<()> {
        flags
            .set(k, v)
            .map_err(|e| anyhow!("cranelift setting {k}={v}: {e}"))
    };
    set(&mut flags, "opt_level", opt_level)?;
    // Static, non-PIE executables: absolute addresses are fine and cheapest.
    set(&mut flags, "is_pic", "false")?;
    // Float results must be bit-identical on every ISA for a migrated program to
    // produce the output of an uninterrupted run. Cranelift's own pass would
    // canonicalise every float result; the translator canonicalises only what the
    // program can observe, and only where the hardware does not (see `translate`).
    set(&mut flags, "enable_nan_canonicalization", "false")?;
    set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
    // Migration points are described, not saved by code (`describe`): the runtime walks
    // frames by frame pointer and reads each function's clobber saves from the
    // prologue's unwind records, and stack locations of values need `unwind`.
    let described = if migration_points { "true" } else { "false" };
    set(&mut flags, "unwind_info", described)?;
    set(&mut flags, "preserve_frame_pointers", described)?;
    // Frames larger than the guard page below the Wasm stack must touch it page by
    // page, so that an overflow always faults in the guard and is reported as a trap.
    set(&mut flags, "enable_probestack", "true")?;
    set(&mut flags, "probestack_strategy", "inline")?;
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    let triple: target_lexicon::Triple = arch
        .lexicon_triple()
        .parse()
        .map_err(|e| anyhow!("{e:?}"))?;
    let mut builder = isa::lookup(triple).map_err(|e| anyhow!("target {arch}: {e}"))?;
    for (k, v) in arch.baseline_isa_flags() {
        builder
            .set(k, v)
            .map_err(|e| anyhow!("cranelift ISA setting {k}: {e}"))?;
    }
    for feat in cpu_features {
        let name = feat.trim().trim_start_matches('+');
        if name.is_empty() {
            continue;
        }
        if name == "native" {
            // What this machine's processor has (as a JIT like wasmtime compiles for);
            // the executable then runs only where they all are (a processor without
            // one stops with a one-line error at the first instruction it lacks).
            if Arch::host() != Some(arch) {
                bail!("--cpu-features native means this machine's processor, so only with --target {} (the host)", Arch::host().map_or("<none>", |a| a.name()));
            }
            cranelift_native::infer_native_flags(&mut builder)
                .map_err(|e| anyhow!("cannot read this processor's features: {e}"))?;
            continue;
        }
        let full = if name.starts_with("has_") {
            name.to_string()
        } else {
            format!("has_{name}")
        };
        builder
            .enable(&full)
            .map_err(|_| anyhow!("unknown CPU feature `{name}` for {arch} (Cranelift's ISA settings name them, e.g. avx2, bmi1, lse, zbb)"))?;
    }
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| anyhow!("cranelift ISA for {arch}: {e}"))
}

/// One function after compilation.
pub struct CompiledFunc {
    pub index: u32,
    pub code: Vec<u8>,
    pub alignment: u64,
    pub relocs: Vec<ModuleReloc>,
    /// (offset in the function, trap).
    pub traps: Vec<(u32, abi_spec::Trap)>,
    /// The function's migration-point table (`abi_spec::points`), empty without points.
    pub point_table: Vec<u8>,
    /// The function's exception-handling table (`abi_spec::eh`), empty if no call in
    /// it has a handler.
    pub eh_table: Vec<u8>,
    /// How many point values `describe` could locate.
    pub coverage: crate::describe::Coverage,
}

/// Symbol ids beyond those generated code refers to.
pub struct Declared {
    pub symbols: Symbols,
    pub init: FuncId,
    pub stubs: Vec<u32>,
    /// Host imports, each with an adapter (`init::host_adapter`) under its Wasm symbol.
    pub adapters: Vec<u32>,
}

pub fn new_object_module(isa: OwnedTargetIsa) -> anyhow::Result<ObjectModule> {
    let builder = ObjectBuilder::new(isa, "wasm", cranelift_module::default_libcall_names())
        .context("creating the object writer")?;
    Ok(ObjectModule::new(builder))
}

/// Name of the symbol of Wasm function `index` (defined, or a trapping import stub).
pub fn func_symbol(index: u32) -> String {
    format!("{}{index}", abi_spec::sym::FUNC_PREFIX)
}

pub fn declare(
    module: &mut ObjectModule,
    info: &ModuleInfo<'_>,
    migration_points: bool,
) -> anyhow::Result<Declared> {
    let cc = module.isa().default_call_conv();
    let mut funcs = vec![];
    let mut hosts = vec![];
    let mut stubs = vec![];
    let mut adapters = vec![];
    for f in 0..info.num_funcs() {
        let sig = wasm_signature(info.func_type(f), cc);
        let mut host = None;
        let id = match info.imports.get(f as usize).map(|i| &i.kind) {
            Some(ImportKind::Host(h)) => {
                let name = format!("{}{}", h.symbol_prefix(), h.name);
                let host_sig = crate::env::host_signature(info.func_type(f), cc);
                host = Some(module.declare_function(&name, Linkage::Import, &host_sig)?);
                adapters.push(f);
                module.declare_function(&func_symbol(f), Linkage::Local, &sig)?
            }
            Some(ImportKind::Unknown) => {
                stubs.push(f);
                module.declare_function(&func_symbol(f), Linkage::Local, &sig)?
            }
            None => module.declare_function(&func_symbol(f), Linkage::Local, &sig)?,
        };
        funcs.push(id);
        hosts.push(host);
    }
    let mut libcalls = vec![];
    for &l in Libcall::ALL {
        libcalls.push((
            l,
            module.declare_function(l.symbol(), Linkage::Import, &libcall_signature(l, cc))?,
        ));
    }
    let func_records = module.declare_data("wasmc_funcs", Linkage::Local, false, false)?;
    let mut point_types = vec![];
    for f in info.num_imported_funcs()..info.num_funcs() {
        point_types.push(if migration_points {
            Some(module.declare_data(&format!("wasmc_pt{f}"), Linkage::Local, false, false)?)
        } else {
            None
        });
    }
    let mut init_sig = cranelift_codegen::ir::Signature::new(cc);
    init_sig.params.push(cranelift_codegen::ir::AbiParam::new(
        cranelift_codegen::ir::types::I64,
    ));
    let init = module.declare_function(abi_spec::sym::INIT, Linkage::Local, &init_sig)?;
    let countdown = if migration_points {
        Some(module.declare_function(
            abi_spec::sym::COUNTDOWN,
            Linkage::Import,
            &crate::env::countdown_signature(),
        )?)
    } else {
        None
    };
    Ok(Declared {
        symbols: Symbols {
            countdown,
            funcs,
            hosts,
            libcalls,
            func_records,
            point_types,
        },
        init,
        stubs,
        adapters,
    })
}

/// After a function of more IR instructions than this, the next one gets a fresh
/// register-allocator context. regalloc2 clears its hash sets (`HashSet::clear`, which
/// writes every slot of the capacity) for each bundle it places, so a context a large
/// function grew made every later function pay for that capacity: with the largest
/// functions compiled first, 14% of compiling zstd. A fresh context for every function
/// costs its allocations instead, 3-6% on a module of 2,500 small functions.
const REGALLOC_REUSE_INSTS: usize = 2_000;

/// What compiling one function leaves for the next to reuse: Cranelift's context, for
/// our own pass sequence (`sites::optimize`), and the register allocator's (renewed
/// after a large function, [`REGALLOC_REUSE_INSTS`]).
pub struct Contexts {
    ctx: Context,
    regalloc: regalloc2::Ctx,
}

impl Contexts {
    pub fn new() -> Contexts {
        Contexts {
            ctx: Context::new(),
            regalloc: regalloc2::Ctx::default(),
        }
    }
}

impl Default for Contexts {
    fn default() -> Self {
        Self::new()
    }
}

/// A function on its way through [`prepare`], [`generate`] and [`finish`].
struct InFlight {
    index: u32,
    id: FuncId,
    depth_charge: u32,
    points: Vec<crate::translate::PointSites>,
}

fn codegen_error(index: u32, e: cranelift_codegen::CodegenError) -> CompileError {
    CompileError::Codegen {
        func: index,
        func_name: None,
        message: format!("{e:?}"),
    }
}

/// Stage 1: optimises `func` in `ctx` with our own pass sequence, so that point blocks
/// keep their parameters, then marks the sites that remain (`sites::analyze`).
fn prepare(
    isa: &dyn isa::TargetIsa,
    ctx: &mut Context,
    func: cranelift_codegen::ir::Function,
    index: u32,
    points: &mut [crate::translate::PointSites],
    keep: &[cranelift_codegen::ir::Value],
    floors: &[cranelift_codegen::ir::Block],
) -> Result<(), CompileError> {
    ctx.clear();
    ctx.func = func;
    crate::sites::optimize(ctx, isa, points, keep, floors).map_err(|e| codegen_error(index, e))?;
    if !points.is_empty() {
        crate::sites::analyze(ctx, points);
    }
    // Register numbers that let the allocator merge point parameters cheaply.
    crate::vreg_order::reverse_after_entry(&mut ctx.func);
    Ok(())
}

/// Stage 2: Cranelift's lowering, register allocation and emission of the prepared
/// function in `ctx`.
fn generate(
    isa: &dyn isa::TargetIsa,
    ctx: &Context,
    regalloc: &mut regalloc2::Ctx,
    index: u32,
) -> Result<cranelift_codegen::CompiledCode, CompileError> {
    let stencil = isa
        .compile_function(
            &ctx.func,
            &ctx.domtree,
            regalloc,
            false,
            &mut ControlPlane::default(),
        )
        .map_err(|e| codegen_error(index, e))?;
    if ctx.func.dfg.num_insts() > REGALLOC_REUSE_INSTS {
        *regalloc = regalloc2::Ctx::default();
    }
    Ok(stencil.apply_params(&ctx.func.params))
}

/// Stage 3: the compiled function as the object needs it, with its points described.
fn finish(
    isa: &dyn isa::TargetIsa,
    arch: Arch,
    ctx: &Context,
    f: &InFlight,
    compiled: &cranelift_codegen::CompiledCode,
) -> Result<CompiledFunc, CompileError> {
    let index = f.index;
    let code = compiled.code_buffer().to_vec();
    // The ISA's preferred function alignment (32 bytes on x86-64), as wasmtime uses:
    // with the minimum, hot loops land at arbitrary offsets and run up to 20% slower.
    let alignment =
        (compiled.buffer.alignment as u64).max(isa.function_alignment().preferred as u64);
    let traps = compiled
        .buffer
        .traps()
        .iter()
        .filter(|t| t.code != crate::translate::POLL_TRAP)
        .map(|t| (t.offset, trap_from_code(t.code)))
        .collect();
    let (point_table, coverage) = if f.points.is_empty() {
        // A table of no points: the runtime reads every defined function's table.
        let empty = abi_spec::points::TableDesc {
            points: &[],
            saves: &[],
            consts: &[],
            depth_charge: f.depth_charge,
        };
        (abi_spec::points::encode(&empty), Default::default())
    } else {
        crate::describe::describe(arch, &f.points, compiled, &ctx.func, f.depth_charge).map_err(
            |message| CompileError::Codegen {
                func: index,
                func_name: None,
                message: format!("describing migration points: {message}"),
            },
        )?
    };
    let relocs = compiled
        .buffer
        .relocs()
        .iter()
        .map(|r| ModuleReloc::from_mach_reloc(r, &ctx.func, f.id))
        .collect();
    Ok(CompiledFunc {
        index,
        code,
        alignment,
        relocs,
        traps,
        point_table,
        eh_table: eh_table(compiled),
        coverage,
    })
}

/// The handlers of each `try_call` in `compiled`, as the runtime's unwinder reads them
/// (`abi_spec::eh`); empty if there are none.
fn eh_table(compiled: &cranelift_codegen::CompiledCode) -> Vec<u8> {
    use abi_spec::eh;
    use cranelift_codegen::FinalizedMachExceptionHandler as H;
    let sites: Vec<eh::Site> = compiled
        .buffer
        .call_sites()
        .filter(|c| !c.exception_handlers.is_empty())
        .map(|c| eh::Site {
            ret_off: c.ret_addr,
            // Every backend records it for a `try_call`.
            sp_to_fp: c.frame_offset.unwrap_or(0),
            handlers: c
                .exception_handlers
                .iter()
                .filter_map(|h| match h {
                    H::Tag(tag, off) => Some((tag.as_u32(), *off)),
                    H::Default(off) => Some((eh::CATCH_ALL, *off)),
                    H::Context(_) => None,
                })
                .collect(),
        })
        .collect();
    if sites.is_empty() {
        vec![]
    } else {
        eh::encode(sites)
    }
}

/// Compiles a finished `ir::Function` into bytes, relocations and trap sites, and
/// describes its migration points (`points`; none for generated helpers).
#[allow(clippy::too_many_arguments)]
pub fn compile_ir(
    isa: &dyn isa::TargetIsa,
    arch: Arch,
    func: cranelift_codegen::ir::Function,
    index: u32,
    id: FuncId,
    cx: &mut Contexts,
    points: Vec<crate::translate::PointSites>,
    keep: &[cranelift_codegen::ir::Value],
    depth_charge: u32,
) -> Result<CompiledFunc, CompileError> {
    let mut f = InFlight {
        index,
        id,
        depth_charge,
        points,
    };
    prepare(isa, &mut cx.ctx, func, index, &mut f.points, keep, &[])?;
    let compiled = generate(isa, &cx.ctx, &mut cx.regalloc, index)?;
    finish(isa, arch, &cx.ctx, &f, &compiled)
}

/// `t` as [`prepare`] leaves it for instruction selection, printed.
pub fn optimized_ir(
    isa: &dyn isa::TargetIsa,
    mut t: crate::translate::Translated,
) -> Result<String, CompileError> {
    let mut ctx = Context::new();
    prepare(
        isa,
        &mut ctx,
        t.func,
        0,
        &mut t.points,
        &t.keep_params,
        &t.floors,
    )?;
    Ok(ctx.func.display().to_string())
}

/// A batch of functions one thread compiles stage by stage ([`compile_batch`]) ends
/// once its bodies reach this many bytes of Wasm (fewer as the module's work runs
/// out), or [`BATCH_FUNCS`] functions.
const BATCH_BYTES: u64 = 16 * 1024;
const BATCH_FUNCS: usize = 64;

/// Compiles `batch` (module function index, translation) stage by stage: each stage
/// runs over every function of the batch before the next stage starts, so that the
/// code of one stage (the translator, the e-graph, lowering, the allocator, emission,
/// `describe`) runs many times in a row. Compiling is bound by the processor's
/// instruction supply, not by the instructions it executes: on a module of 2,500
/// small functions, compiling each function through every stage before the next ran
/// 1.3x the instructions with points of the build without them but took 1.7x the time;
/// stage by stage the time fell by a third with points and a fifth without
/// (benches/COMPILE-TIME.md, *Compiling stage by stage*). `ctxs` grows to the largest batch and
/// is reused.
fn compile_batch(
    isa: &dyn isa::TargetIsa,
    arch: Arch,
    env: &ModuleEnv<'_>,
    batch: Vec<(u32, Result<crate::translate::Translated, CompileError>)>,
    ctxs: &mut Vec<Context>,
    regalloc: &mut regalloc2::Ctx,
    done: &mut Vec<(u32, Result<CompiledFunc, CompileError>)>,
) {
    if ctxs.len() < batch.len() {
        ctxs.resize_with(batch.len(), Context::new);
    }
    let prepared: Vec<(u32, Result<InFlight, CompileError>)> = batch
        .into_iter()
        .zip(ctxs.iter_mut())
        .map(|((index, translated), ctx)| {
            let f = translated.and_then(|t| {
                let mut f = InFlight {
                    index,
                    id: env.symbols.funcs[index as usize],
                    depth_charge: env.depth_charge(index),
                    points: t.points,
                };
                prepare(
                    isa,
                    ctx,
                    t.func,
                    index,
                    &mut f.points,
                    &t.keep_params,
                    &t.floors,
                )?;
                Ok(f)
            });
            (index, f)
        })
        .collect();
    let generated: Vec<_> = prepared
        .into_iter()
        .zip(ctxs.iter())
        .map(|((index, f), ctx)| {
            let g = f.and_then(|f| Ok((generate(isa, ctx, regalloc, f.index)?, f)));
            (index, g)
        })
        .collect();
    for ((index, g), ctx) in generated.into_iter().zip(ctxs.iter()) {
        let compiled = g.and_then(|(code, f)| finish(isa, arch, ctx, &f, &code));
        done.push((index, compiled));
    }
}

/// Translates and compiles every defined function, on all cores.
pub fn compile_functions(
    isa: &dyn isa::TargetIsa,
    arch: Arch,
    info: &ModuleInfo<'_>,
    symbols: &Symbols,
    migration_points: bool,
) -> Result<Vec<CompiledFunc>, CompileError> {
    let env = ModuleEnv::new(info, symbols, isa, arch, migration_points);
    let imported = info.num_imported_funcs();
    // Largest bodies first, each taken by whichever thread is free next (greedy
    // longest-first scheduling): compile time grows faster than a body's size, and a
    // large function must not start late, nor two share a thread while another idles.
    // (Rayon's own splitting hands out ranges: in module order lz4's two largest
    // functions landed on one thread, and in size order both always did.) A thread
    // takes small functions a batch at a time (`compile_batch`); a large one is a
    // batch of its own.
    let size = |i: usize| {
        let r = info.bodies[i].range();
        r.end - r.start
    };
    let mut order: Vec<usize> = (0..info.bodies.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(size(i)));
    // Bytes of Wasm from each position of `order` to its end.
    let mut left: Vec<u64> = order
        .iter()
        .rev()
        .scan(0, |sum, &i| {
            *sum += size(i);
            Some(*sum)
        })
        .collect();
    left.reverse();
    let threads = rayon::current_num_threads() as u64;
    let next = AtomicUsize::new(0);
    let per_thread = rayon::broadcast(|_| {
        let (mut fctx, mut ctxs, mut regalloc) = (
            FunctionBuilderContext::new(),
            vec![],
            regalloc2::Ctx::default(),
        );
        let mut done = vec![];
        loop {
            let (mut batch, mut bytes, mut limit) = (vec![], 0, BATCH_BYTES);
            while bytes < limit && batch.len() < BATCH_FUNCS {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = order.get(at) else {
                    break;
                };
                if batch.is_empty() {
                    // Smaller batches as the work runs out (guided scheduling), so
                    // that no thread is left with a long batch while the others idle.
                    limit = limit.min(left[at] / (4 * threads));
                }
                let index = imported + i as u32;
                bytes += size(i);
                batch.push((
                    index,
                    translate_function(&env, index, &info.bodies[i], &mut fctx),
                ));
            }
            if batch.is_empty() {
                break;
            }
            compile_batch(isa, arch, &env, batch, &mut ctxs, &mut regalloc, &mut done);
        }
        done
    });
    let mut all: Vec<_> = per_thread.into_iter().flatten().collect();
    // Module order, and the first failing function's error, whatever the threads did.
    all.sort_by_key(|(index, _)| *index);
    all.into_iter().map(|(_, compiled)| compiled).collect()
}

/// Defines compiled functions and their point-type tables in the object.
pub fn define_functions(
    module: &mut ObjectModule,
    symbols: &Symbols,
    funcs: &[CompiledFunc],
    imported: u32,
) -> anyhow::Result<()> {
    for f in funcs {
        define_compiled(module, symbols.funcs[f.index as usize], f)?;
        if let Some(data) = symbols.point_types[(f.index - imported) as usize] {
            define_bytes(module, data, f.point_table.clone(), 4)?;
        }
    }
    Ok(())
}

/// Defines the code of one compiled function (Wasm, stub, trampoline or init) under `id`.
pub fn define_compiled(
    module: &mut ObjectModule,
    id: FuncId,
    f: &CompiledFunc,
) -> anyhow::Result<()> {
    module.define_function_bytes(id, f.alignment, &f.code, &f.relocs)?;
    Ok(())
}

pub fn define_bytes(
    module: &mut ObjectModule,
    id: DataId,
    bytes: Vec<u8>,
    align: u64,
) -> anyhow::Result<()> {
    let mut d = cranelift_module::DataDescription::new();
    d.set_align(align);
    d.define(bytes.into_boxed_slice());
    module.define_data(id, &d)?;
    Ok(())
}
