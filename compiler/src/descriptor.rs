//! The read-only data the runtime needs about the module: the [`abi_spec::ModuleDesc`]
//! under `wasmc_module` and every table it points to. Layouts come from `abi-spec`;
//! addresses are filled in by relocations, so the object stays position-independent
//! until the linker places it.

use crate::codegen::CompiledFunc;
use crate::env::{abi_type, Symbols};
use crate::module_info::{ConstValue, ModuleInfo};
use abi_spec::records::Encoded;
use abi_spec::{Bytes, ExportDesc, FuncRecord, ModuleDesc, TableType, TrapSite};
use cranelift_module::{DataDescription, DataId, FuncId, Linkage, Module};
use cranelift_object::ObjectModule;
use sha2::{Digest, Sha256};
use std::mem::offset_of;

/// What an address field of a record points at.
#[derive(Clone, Copy)]
enum Target {
    Func(FuncId),
    Data(DataId, i64),
}

/// A data object under construction: bytes plus relocations.
struct Blob {
    bytes: Vec<u8>,
    funcs: Vec<(usize, FuncId)>,
    datas: Vec<(usize, DataId, i64)>,
}

impl Blob {
    fn new() -> Blob {
        Blob {
            bytes: vec![],
            funcs: vec![],
            datas: vec![],
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes.extend(v.to_le_bytes());
    }
    fn data_addr(&mut self, d: DataId, addend: i64) {
        self.datas.push((self.bytes.len(), d, addend));
        self.u64(0);
    }
    /// Appends a record encoded by `abi_spec::records`, its addresses as relocations.
    fn record(&mut self, e: Encoded<Target>) {
        let base = self.bytes.len();
        self.bytes.extend_from_slice(&e.bytes);
        for (at, t) in e.addrs {
            match t {
                Target::Func(f) => self.funcs.push((base + at, f)),
                Target::Data(d, addend) => self.datas.push((base + at, d, addend)),
            }
        }
    }
    fn patch_u64(&mut self, at: usize, v: u64) {
        self.bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn patch_u32(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn define(mut self, module: &mut ObjectModule, id: DataId) -> anyhow::Result<()> {
        // Never an empty object: the runtime may take its address even for 0 entries.
        if self.bytes.is_empty() {
            self.bytes.resize(8, 0);
        }
        let mut d = DataDescription::new();
        d.set_align(16);
        d.define(self.bytes.into_boxed_slice());
        for (off, f) in self.funcs {
            let r = module.declare_func_in_data(f, &mut d);
            d.write_function_addr(off as u32, r);
        }
        for (off, data, addend) in self.datas {
            let gv = module.declare_data_in_data(data, &mut d);
            d.write_data_addr(off as u32, gv, addend);
        }
        module.define_data(id, &d)?;
        Ok(())
    }
}

fn local_data(module: &mut ObjectModule, name: &str) -> anyhow::Result<DataId> {
    Ok(module.declare_data(name, Linkage::Local, false, false)?)
}

/// Defines a byte string and returns its id.
pub(crate) fn bytes_object(
    module: &mut ObjectModule,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<DataId> {
    let id = local_data(module, name)?;
    let mut b = Blob::new();
    b.bytes.extend_from_slice(bytes);
    b.define(module, id)?;
    Ok(id)
}

/// An array of [`abi_spec::Bytes`] pointing at `items` (each defined as its own object).
fn bytes_array(
    module: &mut ObjectModule,
    name: &str,
    items: &[(DataId, usize)],
) -> anyhow::Result<DataId> {
    let id = local_data(module, name)?;
    let mut b = Blob::new();
    for (data, len) in items {
        b.record(Bytes::encode(Target::Data(*data, 0), *len as u64));
    }
    b.define(module, id)?;
    Ok(id)
}

pub struct DescriptorInput<'a> {
    pub info: &'a ModuleInfo<'a>,
    pub symbols: &'a Symbols,
    pub funcs: &'a [CompiledFunc],
    /// Compiled stubs of unknown imports (their code sizes and trap sites count too).
    pub stubs: &'a [CompiledFunc],
    pub init: FuncId,
    /// Per canonical function type, the trampoline that calls such a function.
    pub trampolines: &'a [(u32, FuncId)],
    pub migration_points: bool,
}

pub fn define_descriptor(
    module: &mut ObjectModule,
    input: &DescriptorInput<'_>,
) -> anyhow::Result<()> {
    let info = input.info;
    let symbols = input.symbols;
    let n = info.num_funcs() as usize;
    let mut sizes = vec![0u32; n];
    for c in input.funcs.iter().chain(input.stubs) {
        sizes[c.index as usize] = c.code.len() as u32;
    }

    // Function records: the targets of funcref values.
    let mut recs = Blob::new();
    for f in 0..n {
        recs.record(FuncRecord::encode(
            Target::Func(symbols.funcs[f]),
            sizes[f],
            info.canonical_type[info.func_types[f] as usize],
        ));
    }
    recs.define(module, symbols.func_records)?;

    // Names, for trap messages, debuggers and `wasmc inspect`.
    let mut names_blob = vec![];
    let mut name_ranges = vec![];
    for f in 0..n as u32 {
        let name = match info.imports.get(f as usize) {
            Some(imp) => format!("{}.{}", imp.module, imp.name),
            None => info.display_name(f),
        };
        name_ranges.push((names_blob.len(), name.len()));
        names_blob.extend_from_slice(name.as_bytes());
    }
    let names_data = bytes_object(module, "wasmc_name_bytes", &names_blob)?;
    let names_id = local_data(module, "wasmc_names")?;
    let mut names = Blob::new();
    for (off, len) in name_ranges {
        names.record(Bytes::encode(
            Target::Data(names_data, off as i64),
            len as u64,
        ));
    }
    names.define(module, names_id)?;

    // Trap sites, sorted by function then offset.
    let traps_id = local_data(module, "wasmc_traps")?;
    let mut traps = Blob::new();
    let mut num_traps = 0u32;
    for c in input.funcs.iter().chain(input.stubs) {
        for (off, trap) in &c.traps {
            traps.record(TrapSite::encode(c.index, *off, *trap));
            num_traps += 1;
        }
    }
    traps.define(module, traps_id)?;

    let gtypes: Vec<u8> = info.globals.iter().map(|g| abi_type(g.ty) as u8).collect();
    let gmut: Vec<u8> = info.globals.iter().map(|g| g.mutable as u8).collect();
    let gtypes_id = bytes_object(module, "wasmc_global_types", &gtypes)?;
    let gmut_id = bytes_object(module, "wasmc_global_mutable", &gmut)?;

    let tables_id = local_data(module, "wasmc_tables")?;
    let mut tables = Blob::new();
    for t in &info.tables {
        tables.record(TableType::encode(
            t.min,
            t.max,
            abi_type(wasmparser::ValType::Ref(t.elem)),
        ));
    }
    tables.define(module, tables_id)?;

    let mut datas = vec![];
    for (i, d) in info.data.iter().enumerate() {
        datas.push((
            bytes_object(module, &format!("wasmc_data{i}"), d.bytes)?,
            d.bytes.len(),
        ));
    }
    let datas_id = bytes_array(module, "wasmc_data_segments", &datas)?;

    let mut elems = vec![];
    for (i, e) in info.elems.iter().enumerate() {
        let id = local_data(module, &format!("wasmc_elem{i}"))?;
        let mut b = Blob::new();
        for item in &e.items {
            match item {
                Some(ConstValue::RefFunc(f)) => b.data_addr(
                    symbols.func_records,
                    *f as i64 * abi_spec::FUNC_RECORD_SIZE as i64,
                ),
                None | Some(ConstValue::RefNull) => b.u64(0),
                Some(_) => anyhow::bail!(
                    "element segment {i}: only ref.func and ref.null items are supported"
                ),
            }
        }
        let len = b.bytes.len();
        b.define(module, id)?;
        elems.push((id, len));
    }
    let elems_id = bytes_array(module, "wasmc_elem_segments", &elems)?;

    let pt_index_id = local_data(module, "wasmc_point_types_index")?;
    let mut pt_index = Blob::new();
    let imported = info.num_imported_funcs() as usize;
    for f in 0..n {
        match f.checked_sub(imported).and_then(|d| symbols.point_types[d]) {
            Some(id) => pt_index.data_addr(id, 0),
            None => pt_index.u64(0),
        }
    }
    pt_index.define(module, pt_index_id)?;

    // Exception-handling tables (`abi_spec::eh`), for the functions that have one.
    let mut eh_index_id = None;
    if input.funcs.iter().any(|f| !f.eh_table.is_empty()) {
        let mut tables = vec![None; n];
        for f in input.funcs.iter().filter(|f| !f.eh_table.is_empty()) {
            let name = format!("wasmc_eh{}", f.index);
            tables[f.index as usize] = Some(bytes_object(module, &name, &f.eh_table)?);
        }
        let id = local_data(module, "wasmc_eh_tables")?;
        let mut b = Blob::new();
        for t in tables {
            match t {
                Some(data) => b.data_addr(data, 0),
                None => b.u64(0),
            }
        }
        b.define(module, id)?;
        eh_index_id = Some(id);
    }

    let exports_id = define_exports(module, input)?;

    // The descriptor itself.
    let desc_id = module.declare_data(abi_spec::sym::MODULE, Linkage::Export, false, false)?;
    let mut d = Blob::new();
    d.bytes.resize(std::mem::size_of::<ModuleDesc>(), 0);
    macro_rules! at {
        ($f:ident) => {
            offset_of!(ModuleDesc, $f)
        };
    }
    let reloc_data = |d: &mut Blob, at: usize, id: DataId| d.datas.push((at, id, 0));
    d.patch_u32(at!(abi_version), abi_spec::ABI_VERSION);
    d.patch_u32(at!(migration_points), input.migration_points as u32);
    let hash = Sha256::digest(info.bytes);
    d.bytes[at!(module_hash)..at!(module_hash) + 32].copy_from_slice(&hash);
    reloc_data(&mut d, at!(funcs), symbols.func_records);
    d.patch_u32(at!(num_funcs), n as u32);
    d.patch_u32(at!(num_imported_funcs), imported as u32);
    reloc_data(&mut d, at!(func_names), names_id);
    reloc_data(&mut d, at!(trap_sites), traps_id);
    d.patch_u32(at!(num_trap_sites), num_traps);
    d.patch_u32(at!(num_globals), info.globals.len() as u32);
    reloc_data(&mut d, at!(global_types), gtypes_id);
    reloc_data(&mut d, at!(global_mutable), gmut_id);
    reloc_data(&mut d, at!(tables), tables_id);
    d.patch_u32(at!(num_tables), info.tables.len() as u32);
    if let Some(m) = &info.memory {
        d.patch_u32(at!(has_memory), 1);
        d.patch_u64(at!(memory_min_pages), m.min);
        d.patch_u64(at!(memory_max_pages), m.max.unwrap_or(u64::MAX));
    }
    reloc_data(&mut d, at!(data_segments), datas_id);
    d.patch_u32(at!(num_data_segments), info.data.len() as u32);
    d.patch_u32(at!(num_elem_segments), info.elems.len() as u32);
    reloc_data(&mut d, at!(elem_segments), elems_id);
    d.funcs.push((at!(init), input.init));
    if let Some(start) = info.export_func("_start") {
        d.funcs.push((at!(entry), symbols.funcs[start as usize]));
    }
    d.patch_u32(
        at!(vmctx_size),
        abi_spec::vmctx_size(info.globals.len() as u32, info.tables.len() as u32),
    );
    reloc_data(&mut d, at!(point_types_index), pt_index_id);
    if let Some(id) = eh_index_id {
        reloc_data(&mut d, at!(eh_tables), id);
    }
    d.patch_u32(at!(num_exports), info.exports.len() as u32);
    reloc_data(&mut d, at!(exports), exports_id);
    d.define(module, desc_id)?;
    Ok(())
}

/// The export table ([`abi_spec::ExportDesc`]s) with names and type codes.
fn define_exports(
    module: &mut ObjectModule,
    input: &DescriptorInput<'_>,
) -> anyhow::Result<DataId> {
    use abi_spec::export_kind;
    use wasmparser::ExternalKind;
    let info = input.info;
    // One blob holds every name and type list; descriptors point into it.
    let mut strings = vec![];
    let mut pieces = vec![];
    let mut put = |bytes: &[u8]| {
        let at = strings.len();
        strings.extend_from_slice(bytes);
        (at, bytes.len())
    };
    for (name, kind, index) in &info.exports {
        let (params, results): (Vec<u8>, Vec<u8>) = if *kind == ExternalKind::Func {
            let ft = info.func_type(*index);
            (
                ft.params().iter().map(|t| abi_type(*t) as u8).collect(),
                ft.results().iter().map(|t| abi_type(*t) as u8).collect(),
            )
        } else {
            (vec![], vec![])
        };
        pieces.push((put(name.as_bytes()), put(&params), put(&results)));
    }
    let strings_id = bytes_object(module, "wasmc_export_strings", &strings)?;
    let id = local_data(module, "wasmc_exports")?;
    let mut b = Blob::new();
    for ((_, kind, index), (n, p, r)) in info.exports.iter().zip(pieces) {
        let string = |(at, len): (usize, usize)| (Target::Data(strings_id, at as i64), len as u64);
        let trampoline = (*kind == ExternalKind::Func).then(|| {
            let ty = info.canonical_type[info.func_types[*index as usize] as usize];
            let (_, f) = input
                .trampolines
                .iter()
                .find(|(t, _)| *t == ty)
                .expect("declared for every exported type");
            Target::Func(*f)
        });
        let kind = match kind {
            ExternalKind::Func => export_kind::FUNC,
            ExternalKind::Table => export_kind::TABLE,
            ExternalKind::Memory => export_kind::MEMORY,
            _ => export_kind::GLOBAL,
        };
        b.record(ExportDesc::encode(
            string(n),
            kind,
            *index,
            trampoline,
            string(p),
            string(r),
        ));
    }
    b.define(module, id)?;
    Ok(id)
}
