//! Reads a validated Wasm module into the facts the translator and the emitter need.
//! Validation itself happens here too (wasmparser), so that every later stage may rely
//! on a well-formed module and never has to report malformed input.

use crate::error::CompileError;
use abi_spec::imports::{find_host_func, HostFunc};
use std::ops::Range;
use wasmparser::{
    BinaryReaderError, CompositeInnerType, ConstExpr, DataKind, ElementItems, ElementKind,
    ExternalKind, FuncToValidate, FuncType, FuncValidatorAllocations, FunctionBody, Name, Operator,
    Parser, Payload, RefType, TypeRef, ValType, ValidPayload, Validator, ValidatorResources,
};

/// A constant expression as it may initialise a global, a segment offset or an element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConstValue {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    RefNull,
    RefFunc(u32),
    /// The value of an (immutable) global defined earlier.
    GlobalGet(u32),
}

pub enum ImportKind {
    /// Provided by the runtime (WASI).
    Host(&'static HostFunc),
    /// Not provided: calling it traps (only with `--trap-unknown-imports`).
    Unknown,
}

pub struct FuncImport {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

pub struct Global {
    pub ty: ValType,
    pub mutable: bool,
    pub init: ConstValue,
}

pub struct Table {
    pub elem: RefType,
    pub min: u64,
    pub max: Option<u64>,
}

pub struct Memory {
    pub min: u64,
    pub max: Option<u64>,
}

pub struct DataSegment<'a> {
    pub bytes: &'a [u8],
    /// `Some(offset)` for an active segment of memory 0.
    pub active: Option<ConstValue>,
}

pub struct ElemSegment {
    pub elem: RefType,
    /// `None` for a null reference.
    pub items: Vec<Option<ConstValue>>,
    pub kind: ElemKind,
}

pub enum ElemKind {
    Passive,
    Declared,
    Active { table: u32, offset: ConstValue },
}

pub struct ModuleInfo<'a> {
    pub bytes: &'a [u8],
    pub types: Vec<FuncType>,
    /// For each type, the index of the first structurally equal type: the `type_id`
    /// that call_indirect compares.
    pub canonical_type: Vec<u32>,
    /// Type index of every function, imports first.
    pub func_types: Vec<u32>,
    pub imports: Vec<FuncImport>,
    pub tables: Vec<Table>,
    pub memory: Option<Memory>,
    pub globals: Vec<Global>,
    /// Type index of every tag (exception handling; no tag is imported).
    pub tags: Vec<u32>,
    /// Exports of functions, tables, memories and globals (a tag's is of no use to
    /// anyone outside).
    pub exports: Vec<(String, ExternalKind, u32)>,
    pub start: Option<u32>,
    pub elems: Vec<ElemSegment>,
    pub data: Vec<DataSegment<'a>>,
    pub bodies: Vec<FunctionBody<'a>>,
    pub func_names: Vec<Option<String>>,
}

impl<'a> ModuleInfo<'a> {
    pub fn num_imported_funcs(&self) -> u32 {
        self.imports.len() as u32
    }
    pub fn num_funcs(&self) -> u32 {
        self.func_types.len() as u32
    }
    pub fn func_type(&self, func: u32) -> &FuncType {
        &self.types[self.func_types[func as usize] as usize]
    }
    /// A readable name: the name section's, else `func<index>`.
    pub fn display_name(&self, func: u32) -> String {
        match &self.func_names[func as usize] {
            Some(n) => n.clone(),
            None => format!("func{func}"),
        }
    }
    pub fn export_func(&self, name: &str) -> Option<u32> {
        self.exports
            .iter()
            .find(|(n, k, _)| n == name && *k == ExternalKind::Func)
            .map(|e| e.2)
    }
}

/// Validates and reads `bytes`. `allow_unknown_imports` turns unknown function imports
/// into trapping stubs instead of an error. A module that is valid but uses a feature
/// wasmc does not compile is refused as unsupported, naming the feature, not as invalid.
pub fn read_module(
    bytes: &[u8],
    allow_unknown_imports: bool,
) -> Result<ModuleInfo<'_>, CompileError> {
    read(bytes, allow_unknown_imports).map_err(|e| match e {
        CompileError::Invalid { offset, func, .. } => {
            match crate::features::unsupported(bytes, offset as u64) {
                Some(feature) => CompileError::Unsupported {
                    feature: format!(
                        "{feature} (wasmc compiles WebAssembly 2.0 without SIMD, with exception handling and atomics on unshared memory)"
                    ),
                    func,
                    func_name: None,
                },
                None => e,
            }
        }
        e => e,
    })
}

fn read(bytes: &[u8], allow_unknown_imports: bool) -> Result<ModuleInfo<'_>, CompileError> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(CompileError::NotWasm);
    }
    let mut info = ModuleInfo {
        bytes,
        types: vec![],
        canonical_type: vec![],
        func_types: vec![],
        imports: vec![],
        tables: vec![],
        memory: None,
        globals: vec![],
        tags: vec![],
        exports: vec![],
        start: None,
        elems: vec![],
        data: vec![],
        bodies: vec![],
        func_names: vec![],
    };
    let mut validator = Validator::new_with_features(crate::features::supported());
    let mut body_ranges: Vec<Range<u64>> = vec![];
    let mut name_section = None;
    let mut to_validate = vec![];
    let invalid = reader_error;
    // The parser decodes some encodings by feature (e.g. memory limits as u32 without
    // memory64), so it must know exactly what is supported.
    let mut parser = Parser::new(0);
    parser.set_features(crate::features::supported());
    for payload in parser.parse_all(bytes) {
        let payload = payload.map_err(|e| invalid(e, &body_ranges, info.imports.len()))?;
        if let Payload::CodeSectionEntry(body) = &payload {
            body_ranges.push(body.range());
        }
        if let ValidPayload::Func(fv, body) = validator
            .payload(&payload)
            .map_err(|e| invalid(e, &body_ranges, info.imports.len()))?
        {
            to_validate.push((fv, body));
        }
        read_payload(&mut info, payload, allow_unknown_imports, &mut name_section).map_err(
            |e| match e {
                ReadError::Parse(e) => invalid(e, &body_ranges, info.imports.len()),
                ReadError::Compile(e) => e,
            },
        )?;
    }
    validate_bodies(to_validate, &body_ranges, info.imports.len())?;
    info.func_names = vec![None; info.func_types.len()];
    if let Some(names) = name_section {
        read_names(&mut info, names);
    }
    info.canonical_type = (0..info.types.len())
        .map(|i| info.types.iter().position(|t| *t == info.types[i]).unwrap() as u32)
        .collect();
    Ok(info)
}

enum ReadError {
    Parse(BinaryReaderError),
    Compile(CompileError),
}

impl From<BinaryReaderError> for ReadError {
    fn from(e: BinaryReaderError) -> Self {
        ReadError::Parse(e)
    }
}

fn read_payload<'a>(
    info: &mut ModuleInfo<'a>,
    payload: Payload<'a>,
    allow_unknown_imports: bool,
    name_section: &mut Option<wasmparser::NameSectionReader<'a>>,
) -> Result<(), ReadError> {
    match payload {
        Payload::TypeSection(reader) => {
            for group in reader {
                for sub in group?.into_types() {
                    match &sub.composite_type.inner {
                        CompositeInnerType::Func(f) => info.types.push(f.clone()),
                        _ => return Err(unsupported("GC types", None)),
                    }
                }
            }
        }
        Payload::ImportSection(reader) => {
            for imp in reader.into_imports() {
                let imp = imp?;
                match imp.ty {
                    TypeRef::Func(ty) => {
                        let kind = match find_host_func(imp.module, imp.name) {
                            Some(h) => {
                                let ft = &info.types[ty as usize];
                                if !host_signature_matches(h, ft) {
                                    return Err(ReadError::Compile(
                                        CompileError::ImportSignature {
                                            module: imp.module.to_string(),
                                            name: imp.name.to_string(),
                                        },
                                    ));
                                }
                                ImportKind::Host(h)
                            }
                            None if allow_unknown_imports => ImportKind::Unknown,
                            None => {
                                return Err(ReadError::Compile(CompileError::UnknownImport {
                                    module: imp.module.to_string(),
                                    name: imp.name.to_string(),
                                }))
                            }
                        };
                        info.func_types.push(ty);
                        info.imports.push(FuncImport {
                            module: imp.module.to_string(),
                            name: imp.name.to_string(),
                            kind,
                        });
                    }
                    other if imp.module == SPECTEST => spectest_import(info, imp.name, other)?,
                    other => {
                        let what = match other {
                            TypeRef::Table(_) => "table",
                            TypeRef::Memory(_) => "memory",
                            TypeRef::Global(_) => "global",
                            _ => "tag",
                        };
                        return Err(ReadError::Compile(CompileError::UnsupportedImport {
                            module: imp.module.to_string(),
                            name: imp.name.to_string(),
                            what,
                        }));
                    }
                }
            }
        }
        Payload::FunctionSection(reader) => {
            for ty in reader {
                info.func_types.push(ty?);
            }
        }
        Payload::TableSection(reader) => {
            for t in reader {
                let t = t?;
                if !matches!(t.init, wasmparser::TableInit::RefNull) {
                    return Err(unsupported("table initialiser expressions", None));
                }
                if crate::env::is_exnref(ValType::Ref(t.ty.element_type)) {
                    return Err(unsupported("tables of exception references", None));
                }
                info.tables.push(Table {
                    elem: t.ty.element_type,
                    min: t.ty.initial,
                    max: t.ty.maximum,
                });
            }
        }
        Payload::MemorySection(reader) => {
            for m in reader {
                let m = m?;
                if m.shared {
                    return Err(unsupported("shared memory (threads)", None));
                }
                info.memory = Some(Memory {
                    min: m.initial,
                    max: m.maximum,
                });
            }
        }
        Payload::GlobalSection(reader) => {
            for g in reader {
                let g = g?;
                if crate::env::is_exnref(g.ty.content_type) {
                    return Err(unsupported("globals of exception references", None));
                }
                let init = const_value(&g.init_expr)?;
                info.globals.push(Global {
                    ty: g.ty.content_type,
                    mutable: g.ty.mutable,
                    init,
                });
            }
        }
        Payload::ExportSection(reader) => {
            for e in reader {
                let e = e?;
                if e.kind != ExternalKind::Tag {
                    info.exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
        }
        Payload::TagSection(reader) => {
            for t in reader {
                info.tags.push(t?.func_type_idx);
            }
        }
        Payload::StartSection { func, .. } => info.start = Some(func),
        Payload::ElementSection(reader) => {
            for e in reader {
                let e = e?;
                let (elem, items) = match e.items {
                    ElementItems::Functions(r) => {
                        let mut items = vec![];
                        for f in r {
                            items.push(Some(ConstValue::RefFunc(f?)));
                        }
                        (RefType::FUNCREF, items)
                    }
                    ElementItems::Expressions(ty, r) => {
                        let mut items = vec![];
                        for expr in r {
                            items.push(match const_value(&expr?)? {
                                ConstValue::RefNull => None,
                                v => Some(v),
                            });
                        }
                        (ty, items)
                    }
                };
                let kind = match e.kind {
                    ElementKind::Passive => ElemKind::Passive,
                    ElementKind::Declared => ElemKind::Declared,
                    ElementKind::Active {
                        table_index,
                        offset_expr,
                    } => ElemKind::Active {
                        table: table_index.unwrap_or(0),
                        offset: const_value(&offset_expr)?,
                    },
                };
                info.elems.push(ElemSegment { elem, items, kind });
            }
        }
        Payload::DataSection(reader) => {
            for d in reader {
                let d = d?;
                let active = match d.kind {
                    DataKind::Passive => None,
                    DataKind::Active { offset_expr, .. } => Some(const_value(&offset_expr)?),
                };
                info.data.push(DataSegment {
                    bytes: d.data,
                    active,
                });
            }
        }
        Payload::CodeSectionEntry(body) => info.bodies.push(body),
        Payload::CustomSection(c) => {
            if let wasmparser::KnownCustom::Name(reader) = c.as_known() {
                *name_section = Some(reader);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The host module of the WebAssembly spec tests. Its table, memory and globals are
/// constants of the test suite, so wasmc defines them in the module itself.
const SPECTEST: &str = "spectest";

fn spectest_import(info: &mut ModuleInfo<'_>, name: &str, ty: TypeRef) -> Result<(), ReadError> {
    // An import links only if what the host has fits the declared limits.
    let fits = |min: u64, max: Option<u64>, have_min: u64, have_max: u64| {
        min <= have_min && max.is_none_or(|m| have_max <= m)
    };
    let unlinkable = || {
        ReadError::Compile(CompileError::IncompatibleImport {
            module: SPECTEST.into(),
            name: name.into(),
        })
    };
    match (name, ty) {
        ("table", TypeRef::Table(t))
            if t.element_type == RefType::FUNCREF && fits(t.initial, t.maximum, 10, 20) =>
        {
            info.tables.push(Table {
                elem: t.element_type,
                min: 10,
                max: Some(20),
            })
        }
        ("memory", TypeRef::Memory(m))
            if !m.memory64 && !m.shared && fits(m.initial, m.maximum, 1, 2) =>
        {
            info.memory = Some(Memory {
                min: 1,
                max: Some(2),
            })
        }
        ("table" | "memory", _) => return Err(unlinkable()),
        (_, TypeRef::Global(gt)) if gt.mutable => return Err(unlinkable()),
        (g, TypeRef::Global(gt)) => {
            let init = match (g, gt.content_type) {
                ("global_i32", ValType::I32) => ConstValue::I32(666),
                ("global_i64", ValType::I64) => ConstValue::I64(666),
                ("global_f32", ValType::F32) => ConstValue::F32(666.6f32.to_bits()),
                ("global_f64", ValType::F64) => ConstValue::F64(666.6f64.to_bits()),
                _ => {
                    return Err(ReadError::Compile(CompileError::UnknownImport {
                        module: SPECTEST.into(),
                        name: name.into(),
                    }))
                }
            };
            info.globals.push(Global {
                ty: gt.content_type,
                mutable: gt.mutable,
                init,
            });
        }
        _ => {
            return Err(ReadError::Compile(CompileError::UnknownImport {
                module: SPECTEST.into(),
                name: name.into(),
            }))
        }
    }
    Ok(())
}

fn unsupported(feature: &'static str, func: Option<u32>) -> ReadError {
    ReadError::Compile(CompileError::Unsupported {
        feature: feature.to_string(),
        func,
        func_name: None,
    })
}

fn host_signature_matches(h: &HostFunc, ft: &FuncType) -> bool {
    use abi_spec::ValType as A;
    let same = |ours: &[A], theirs: &[ValType]| {
        ours.len() == theirs.len()
            && ours.iter().zip(theirs).all(|(a, b)| match (a, b) {
                (A::I32, ValType::I32) | (A::I64, ValType::I64) => true,
                (A::F32, ValType::F32) | (A::F64, ValType::F64) => true,
                _ => false,
            })
    };
    same(h.params, ft.params()) && same(h.results, ft.results())
}

/// Evaluates the constant expressions Wasm 2.0 allows (one instruction then `end`).
fn const_value(expr: &ConstExpr<'_>) -> Result<ConstValue, ReadError> {
    let mut ops = expr.get_operators_reader();
    let v = match ops.read()? {
        Operator::I32Const { value } => ConstValue::I32(value),
        Operator::I64Const { value } => ConstValue::I64(value),
        Operator::F32Const { value } => ConstValue::F32(value.bits()),
        Operator::F64Const { value } => ConstValue::F64(value.bits()),
        Operator::RefNull { .. } => ConstValue::RefNull,
        Operator::RefFunc { function_index } => ConstValue::RefFunc(function_index),
        Operator::GlobalGet { global_index } => ConstValue::GlobalGet(global_index),
        _ => return Err(unsupported("extended constant expressions", None)),
    };
    match ops.read()? {
        Operator::End => Ok(v),
        _ => Err(unsupported("extended constant expressions", None)),
    }
}

fn read_names<'a>(info: &mut ModuleInfo<'a>, reader: wasmparser::NameSectionReader<'a>) {
    for (index, name) in function_names(reader) {
        if let Some(slot) = info.func_names.get_mut(index as usize) {
            *slot = Some(name.to_string());
        }
    }
}

/// The function names of a name section, (index, name). A damaged section only costs
/// names: what cannot be read is left out, never an error.
pub fn function_names(
    reader: wasmparser::NameSectionReader<'_>,
) -> impl Iterator<Item = (u32, &str)> {
    reader
        .into_iter()
        .flatten()
        .filter_map(|sub| match sub {
            Name::Function(map) => Some(map),
            _ => None,
        })
        .flat_map(|map| map.into_iter().flatten().map(|n| (n.index, n.name)))
}

/// Turns a wasmparser error into ours, naming the function it is in (by the byte
/// ranges of the function bodies). A feature wasmc does not enable (SIMD, threads...)
/// is an unsupported feature, not an invalid module.
fn reader_error(e: BinaryReaderError, ranges: &[Range<u64>], imported: usize) -> CompileError {
    let at = e.offset() as u64;
    let func = ranges
        .iter()
        .position(|r| r.contains(&at))
        .map(|i| (i + imported) as u32);
    // Whether it is invalid or unsupported, `read_module` tells.
    CompileError::Invalid {
        message: e.message().to_string(),
        offset: at as usize,
        func,
        func_name: None,
    }
}

/// Validates every function body, in parallel; the first error (lowest function
/// index) is reported with the function it is in.
fn validate_bodies(
    funcs: Vec<(FuncToValidate<ValidatorResources>, FunctionBody<'_>)>,
    ranges: &[Range<u64>],
    imported: usize,
) -> Result<(), CompileError> {
    use rayon::prelude::*;
    let errors: Vec<BinaryReaderError> = funcs
        .into_par_iter()
        .filter_map(|(fv, body)| {
            let mut v = fv.into_validator(FuncValidatorAllocations::default());
            v.validate(&body).err()
        })
        .collect();
    match errors.into_iter().min_by_key(|e| e.offset()) {
        None => Ok(()),
        Some(e) => Err(reader_error(e, ranges, imported)),
    }
}
