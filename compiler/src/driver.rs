//! The compile pipeline, end to end, behind one function the CLI and tests call.

use crate::codegen::{self, OptLevel};
use crate::descriptor::{define_descriptor, DescriptorInput};
use crate::error::CompileError;
use crate::{init, link, module_info};
use anyhow::Context as _;
use cranelift_frontend::FunctionBuilderContext;
use std::path::{Path, PathBuf};
use targets::Arch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// A static executable linked with the runtime.
    Exe,
    /// A relocatable ELF object to link with the runtime archive yourself.
    Obj,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub target: Arch,
    pub opt_level: OptLevel,
    pub cpu_features: Vec<String>,
    pub migration_points: bool,
    pub trap_unknown_imports: bool,
    pub emit: Emit,
}

impl Options {
    pub fn new(target: Arch) -> Options {
        Options {
            target,
            opt_level: OptLevel::O2,
            cpu_features: vec![],
            migration_points: true,
            trap_unknown_imports: false,
            emit: Emit::Exe,
        }
    }
}

/// What every pipeline starts with: the validated module, the ISA, the object module
/// and the symbols declared in it.
struct Front<'a> {
    info: module_info::ModuleInfo<'a>,
    isa: cranelift_codegen::isa::OwnedTargetIsa,
    module: cranelift_object::ObjectModule,
    declared: codegen::Declared,
}

fn front<'a>(bytes: &'a [u8], opts: &Options) -> anyhow::Result<Front<'a>> {
    let info = module_info::read_module(bytes, opts.trap_unknown_imports)?;
    let isa = codegen::build_isa(
        opts.target,
        opts.opt_level,
        &opts.cpu_features,
        opts.migration_points,
    )?;
    let mut module = codegen::new_object_module(isa.clone())?;
    let declared = codegen::declare(&mut module, &info, opts.migration_points)?;
    Ok(Front {
        info,
        isa,
        module,
        declared,
    })
}

/// Compiles Wasm `bytes` to an ELF object for `opts.target`.
pub fn compile_object(bytes: &[u8], opts: &Options) -> anyhow::Result<Vec<u8>> {
    let Front {
        info,
        isa,
        mut module,
        declared,
    } = front(bytes, opts)?;
    let names = info.func_names.clone();
    let with_names = |e: CompileError| anyhow::Error::from(e.with_names(&names));
    let symbols = &declared.symbols;

    let funcs =
        codegen::compile_functions(&*isa, opts.target, &info, symbols, opts.migration_points)
            .map_err(with_names)?;
    codegen::define_functions(&mut module, symbols, &funcs, info.num_imported_funcs())?;

    let mut fctx = FunctionBuilderContext::new();
    let mut cx = codegen::Contexts::new();
    // Generated non-Wasm functions: no points, no parameter to keep, no depth charge.
    let compile_generated = |ir, index, id, cx: &mut codegen::Contexts| {
        codegen::compile_ir(&*isa, opts.target, ir, index, id, cx, vec![], &[], 0)
            .map_err(with_names)
    };
    let mut stubs = vec![];
    let generated = declared.stubs.iter().map(|&f| (f, false));
    for (f, adapter) in generated.chain(declared.adapters.iter().map(|&f| (f, true))) {
        let ir = if adapter {
            init::host_adapter(&info, f, symbols, &*isa, &mut fctx)
        } else {
            init::unknown_import_stub(&info, f, symbols, &*isa, &mut fctx)
        };
        let c = compile_generated(ir, f, symbols.funcs[f as usize], &mut cx)?;
        codegen::define_compiled(&mut module, symbols.funcs[f as usize], &c)?;
        stubs.push(c);
    }
    let trampolines = crate::exports::declare_trampolines(&mut module, &info)?;
    for &(ty, id) in &trampolines {
        let ir = crate::exports::trampoline(&info, ty, &*isa, &mut fctx);
        let c = compile_generated(ir, u32::MAX, id, &mut cx)?;
        codegen::define_compiled(&mut module, id, &c)?;
    }
    let data_table = init::active_data_table(&info)
        .map(|bytes| {
            crate::descriptor::bytes_object(&mut module, "wasmc_data_init", &bytes)
                .map(|id| (id, bytes.len()))
        })
        .transpose()?;
    let ir = init::init_function(&info, symbols, &*isa, &mut fctx, data_table);
    let c = compile_generated(ir, u32::MAX, declared.init, &mut cx)?;
    codegen::define_compiled(&mut module, declared.init, &c)?;

    define_descriptor(
        &mut module,
        &DescriptorInput {
            info: &info,
            symbols,
            funcs: &funcs,
            stubs: &stubs,
            init: declared.init,
            trampolines: &trampolines,
            migration_points: opts.migration_points,
        },
    )?;
    let mut product = module.finish();
    align_code(&mut product);
    add_name_aliases(&mut product, &info, symbols);
    Ok(product.emit().context("writing the object file")?)
}

/// How many values of the module's migration points `describe` located, summed over
/// its functions: what a checkpoint of this code can read (tests pin that nothing is
/// unknown).
pub fn point_coverage(bytes: &[u8], opts: &Options) -> anyhow::Result<crate::describe::Coverage> {
    let Front {
        info,
        isa,
        declared,
        ..
    } = front(bytes, opts)?;
    let funcs = codegen::compile_functions(
        &*isa,
        opts.target,
        &info,
        &declared.symbols,
        opts.migration_points,
    )?;
    let mut total = crate::describe::Coverage::default();
    for f in &funcs {
        total.add(f.coverage);
    }
    Ok(total)
}

/// The Cranelift IR of every defined function, as translated (before optimisation):
/// what the IR snapshot tests pin.
pub fn function_ir(bytes: &[u8], opts: &Options) -> anyhow::Result<Vec<String>> {
    functions_ir(bytes, opts, false)
}

/// The same after wasmc's optimisation (`sites::optimize`): what instruction
/// selection gets.
pub fn optimized_ir(bytes: &[u8], opts: &Options) -> anyhow::Result<Vec<String>> {
    functions_ir(bytes, opts, true)
}

fn functions_ir(bytes: &[u8], opts: &Options, optimized: bool) -> anyhow::Result<Vec<String>> {
    let Front {
        info,
        isa,
        declared,
        ..
    } = front(bytes, opts)?;
    let env = crate::env::ModuleEnv::new(
        &info,
        &declared.symbols,
        &*isa,
        opts.target,
        opts.migration_points,
    );
    let mut fctx = FunctionBuilderContext::new();
    let mut out = vec![];
    for (i, body) in info.bodies.iter().enumerate() {
        let t = crate::translate::translate_function(
            &env,
            info.num_imported_funcs() + i as u32,
            body,
            &mut fctx,
        )?;
        out.push(if optimized {
            codegen::optimized_ir(&*isa, t)?
        } else {
            t.func.display().to_string()
        });
    }
    Ok(out)
}

/// Starts the generated code on a cache line (64 bytes, the largest line of the three
/// ISAs' usual cores). Functions are aligned to 32 bytes within the section, so without
/// this the section's start, which the linker derives from the sizes of the sections
/// before it (the runtime's read-only data among them), decided whether each function
/// began on a line or half way through one: a change to the runtime alone made the
/// `calls` kernel run 1.27x the time at the same instructions on an AMD EPYC. Now where
/// a function's code falls in cache lines depends only on the module.
fn align_code(product: &mut cranelift_object::ObjectProduct) {
    let text = product
        .object
        .section_id(object::write::StandardSection::Text);
    product.object.section_mut(text).append_data(&[], 64);
}

/// Gives each compiled function a second, readable symbol from the name section, so
/// debuggers and profilers show Wasm names.
fn add_name_aliases(
    product: &mut cranelift_object::ObjectProduct,
    info: &module_info::ModuleInfo<'_>,
    symbols: &crate::env::Symbols,
) {
    use object::write::{Symbol, SymbolSection};
    use object::{SymbolFlags, SymbolKind, SymbolScope};
    for f in info.num_imported_funcs()..info.num_funcs() {
        let Some(name) = &info.func_names[f as usize] else {
            continue;
        };
        let sym_id = product.function_symbol(symbols.funcs[f as usize]);
        let sym = product.object.symbol(sym_id);
        let (section, value, size) = (sym.section, sym.value, sym.size);
        if let SymbolSection::Section(_) = section {
            product.object.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value,
                size,
                kind: SymbolKind::Text,
                scope: SymbolScope::Compilation,
                weak: false,
                section,
                flags: SymbolFlags::None,
            });
        }
    }
}

/// Compiles the file `input` to `output` (an executable or an object, per `opts.emit`).
/// The output is written atomically: a failed compile never leaves a partial file.
pub fn compile(input: &Path, output: &Path, opts: &Options) -> anyhow::Result<()> {
    let bytes = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let object = compile_object(&bytes, opts)?;
    let tmp_obj = temp_beside(output, "o");
    std::fs::write(&tmp_obj, &object)
        .with_context(|| format!("cannot write {}", output.display()))?;
    let result = match opts.emit {
        Emit::Obj => std::fs::rename(&tmp_obj, output)
            .with_context(|| format!("cannot write {}", output.display())),
        Emit::Exe => {
            let tmp_exe = temp_beside(output, "exe");
            let r = link::link(opts.target, &tmp_obj, &tmp_exe).and_then(|_| {
                std::fs::rename(&tmp_exe, output)
                    .with_context(|| format!("cannot write {}", output.display()))
            });
            let _ = std::fs::remove_file(&tmp_exe);
            r
        }
    };
    let _ = std::fs::remove_file(&tmp_obj);
    result
}

fn temp_beside(output: &Path, ext: &str) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "out".into());
    output.with_file_name(format!(".{name}.wasmc-{}.{ext}", std::process::id()))
}
