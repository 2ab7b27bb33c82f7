//! Between the running instance and the canonical checkpoint format of `abi-spec`:
//! gathering the state into a `CheckpointRef` (funcref addresses become function
//! indices) and writing it atomically; reading a file back, checking it against this
//! executable, and putting memory, globals, tables and segments in place.

use crate::instance::{desc, runtime, slice};
use crate::migrate::SavedFrame;
use crate::print::{eprintln_parts, fatal};
use crate::startup::control;
use crate::sys::{self, nr};
use abi_spec::checkpoint::{self as ck, CheckpointRef, FrameRef, Isa, Sink, Slots, TableRef, Value, WriteError};
use abi_spec::{FuncRecord, ValType, VmCtx};
use alloc::vec;
use alloc::vec::Vec;

const AT_FDCWD: isize = -100;
const NULL_INDEX: u64 = u32::MAX as u64;

/// Where checkpoints go when `WASMC_CHECKPOINT` is not set.
pub const DEFAULT_PATH: &[u8] = b"wasmc.ckpt";

fn source_isa() -> Isa {
    if cfg!(target_arch = "x86_64") {
        Isa::X86_64
    } else if cfg!(target_arch = "aarch64") {
        Isa::Aarch64
    } else {
        Isa::Riscv64
    }
}

fn funcs() -> &'static [FuncRecord] {
    let d = desc();
    unsafe { slice(d.funcs, d.num_funcs) }
}

/// The funcref value (record address) of function `index`.
pub fn funcref_of(index: u32) -> u64 {
    &funcs()[index as usize] as *const FuncRecord as u64
}

/// Function index of a funcref value, `u32::MAX` for null.
fn index_of(funcref: u64) -> Result<u64, &'static str> {
    if funcref == 0 {
        return Ok(NULL_INDEX);
    }
    let base = funcs().as_ptr() as u64;
    let off = funcref.wrapping_sub(base);
    let size = core::mem::size_of::<FuncRecord>() as u64;
    if off % size != 0 || off / size >= funcs().len() as u64 {
        return Err("internal error: funcref outside the function table");
    }
    Ok(off / size)
}

/// Makes one slot canonical for its type.
fn canonical(t: ValType, slot: u64) -> Result<u64, &'static str> {
    match t {
        ValType::FuncRef => index_of(slot),
        ValType::ExternRef if slot != 0 => Err("cannot checkpoint a non-null externref"),
        ValType::ExternRef => Ok(NULL_INDEX),
        ValType::I32 | ValType::F32 => Ok(slot & 0xffff_ffff),
        _ => Ok(slot),
    }
}

/// The inverse of [`canonical`].
fn native(t: ValType, v: &Value) -> Result<u64, &'static str> {
    Ok(match (t, v) {
        (ValType::I32, Value::I32(x)) | (ValType::F32, Value::F32(x)) => *x as u64,
        (ValType::I64, Value::I64(x)) | (ValType::F64, Value::F64(x)) => *x,
        (ValType::FuncRef, Value::FuncRef(None)) | (ValType::ExternRef, Value::NullExternRef) => 0,
        (ValType::FuncRef, Value::FuncRef(Some(i))) if (*i as usize) < funcs().len() => funcref_of(*i),
        _ => return Err("checkpoint does not match this module (value of the wrong type)"),
    })
}

fn global_types() -> &'static [u8] {
    let d = desc();
    unsafe { slice(d.global_types, d.num_globals) }
}

fn global_slot(vmctx: *mut VmCtx, i: u32) -> *mut u64 {
    unsafe { (vmctx as *mut u8).add(abi_spec::global_offset(i) as usize) as *mut u64 }
}

/// The point-type record of `point` in function `func`: the types its frame holds.
fn point_types(func: u32, point: u32) -> Option<&'static [u8]> {
    let d = desc();
    let index: &[u64] = unsafe { slice(d.point_types_index, d.num_funcs) };
    let blob = *index.get(func as usize)? as *const u8;
    if blob.is_null() {
        return None;
    }
    unsafe {
        let rd = |p: *const u8| u32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
        let n = rd(blob);
        if point >= n {
            return None;
        }
        let mut p = blob.add(4);
        for _ in 0..point {
            let k = rd(p) as usize;
            p = p.add(4 + k.div_ceil(4) * 4);
        }
        Some(core::slice::from_raw_parts(p.add(4), rd(p) as usize))
    }
}

struct FdSink {
    fd: i32,
    buf: Vec<u8>,
}

fn write_all(fd: i32, bytes: &[u8]) -> Result<(), ()> {
    let mut off = 0;
    while off < bytes.len() {
        let r = unsafe { sys::syscall3(nr::WRITE, fd as usize, bytes[off..].as_ptr() as usize, bytes.len() - off) };
        if r == -4 {
            continue; // EINTR
        }
        if r <= 0 {
            return Err(());
        }
        off += r as usize;
    }
    Ok(())
}

impl FdSink {
    fn flush(&mut self) -> Result<(), ()> {
        write_all(self.fd, &self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl Sink for FdSink {
    type Error = ();
    fn write(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if self.buf.len() + bytes.len() > self.buf.capacity() {
            self.flush()?;
        }
        if bytes.len() >= self.buf.capacity() {
            // A run of linear memory: straight from the instance, never copied.
            return write_all(self.fd, bytes);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
}

/// Per 4 KiB chunk of `memory`, whether it was never touched (so it reads as zero):
/// the kernel has no page for it. Reading such chunks in the zero scan would fault
/// every one of them in. `None` when that cannot be told safely: with swap configured,
/// a page that is not resident may hold data in swap.
fn untouched_chunks(memory: &[u8]) -> Option<Vec<bool>> {
    if memory.is_empty() || !no_swap() {
        return None;
    }
    let page = crate::startup::auxv(6).unwrap_or(4096); // AT_PAGESZ
    let chunk = ck::CHUNK as usize;
    if !page.is_power_of_two() || page < chunk || memory.as_ptr() as usize % page != 0 {
        return None;
    }
    let mut resident = vec![0u8; memory.len().div_ceil(page)];
    let r = unsafe { sys::syscall3(nr::MINCORE, memory.as_ptr() as usize, memory.len(), resident.as_mut_ptr() as usize) };
    if r != 0 {
        return None;
    }
    Some((0..memory.len() / chunk).map(|i| resident[i * chunk / page] & 1 == 0).collect())
}

/// Whether `/proc/swaps` lists no swap area (only its header line).
fn no_swap() -> bool {
    read_file(b"/proc/swaps").is_ok_and(|b| b.iter().filter(|&&c| c == b'\n').count() == 1)
}

fn cpath(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    v.push(0);
    v
}

/// Writes the checkpoint of the unwound instance (`frames` outermost first). Returns
/// false, after saying why on stderr, if it could not be written.
pub fn save(vmctx: *mut VmCtx, frames: &[SavedFrame]) -> bool {
    match try_save(vmctx, frames) {
        Ok(()) => true,
        Err(msg) => {
            eprintln_parts(&[b"wasmc: checkpoint not written: ", msg.as_bytes(), b"; continuing"]);
            false
        }
    }
}

fn try_save(vmctx: *mut VmCtx, frames: &[SavedFrame]) -> Result<(), &'static str> {
    let d = desc();
    let v = unsafe { &*vmctx };
    let memory: &[u8] = if v.memory_size == 0 {
        &[]
    } else {
        unsafe { core::slice::from_raw_parts(v.memory_base as *const u8, v.memory_size as usize) }
    };
    let gtypes: Vec<ValType> = global_types().iter().map(|b| ValType::from_u8(*b).unwrap_or(ValType::I64)).collect();
    let mut gslots = vec![];
    for (i, t) in gtypes.iter().enumerate() {
        gslots.push(canonical(*t, unsafe { *global_slot(vmctx, i as u32) })?);
    }
    let mut table_entries: Vec<Vec<u32>> = vec![];
    let ttypes = crate::instance::table_types();
    for i in 0..d.num_tables {
        let t = unsafe { crate::instance::table(vmctx, i) };
        let elems: &[u64] = if t.len == 0 { &[] } else { unsafe { core::slice::from_raw_parts(t.base as *const u64, t.len as usize) } };
        let et = ValType::from_u8(ttypes[i as usize].elem).unwrap_or(ValType::FuncRef);
        let mut out = Vec::with_capacity(elems.len());
        for e in elems {
            out.push(canonical(et, *e)? as u32);
        }
        table_entries.push(out);
    }
    let tables: Vec<TableRef> = table_entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let tt = &ttypes[i];
            TableRef {
                elem: ValType::from_u8(tt.elem).unwrap_or(ValType::FuncRef),
                max: (tt.max != u64::MAX).then_some(tt.max),
                entries: e,
            }
        })
        .collect();
    let rt = runtime();
    let dropped_data: Vec<bool> = (0..rt.dropped_data.len()).map(|i| rt.dropped_data.get(i)).collect();
    let dropped_elem: Vec<bool> = (0..rt.dropped_elems.len()).map(|i| rt.dropped_elems.get(i)).collect();
    let mut frame_slots: Vec<Vec<u64>> = vec![];
    for f in frames {
        let mut s = Vec::with_capacity(f.slots.len());
        for (t, v) in f.types.iter().zip(&f.slots) {
            s.push(canonical(*t, *v)?);
        }
        frame_slots.push(s);
    }
    let frame_refs: Vec<FrameRef> = frames
        .iter()
        .zip(&frame_slots)
        .map(|(f, s)| FrameRef { func: f.func, point: f.point, values: Slots { types: &f.types, slots: s } })
        .collect();
    let wasi = crate::wasi::checkpoint_state()?;
    let ck = CheckpointRef {
        module_hash: d.module_hash,
        source_isa: source_isa(),
        memory,
        globals: Slots { types: &gtypes, slots: &gslots },
        tables: &tables,
        dropped_data: &dropped_data,
        dropped_elem: &dropped_elem,
        frames: &frame_refs,
        wasi: wasi.as_ref(),
    };
    let untouched = untouched_chunks(memory);
    write_atomically(control(b"WASMC_CHECKPOINT").unwrap_or(DEFAULT_PATH), &ck, untouched.as_deref())
}

/// Temporary file, then rename: a crash while writing never leaves a partial file
/// under the final name.
fn write_atomically(path: &[u8], ck: &CheckpointRef, untouched: Option<&[bool]>) -> Result<(), &'static str> {
    let mut tmp = path.to_vec();
    tmp.extend_from_slice(b".tmp");
    let ctmp = cpath(&tmp);
    let flags = 0o1 | 0o100 | 0o1000 | 0o2000000; // O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC
    let fd = unsafe { sys::syscall4(nr::OPENAT, AT_FDCWD as usize, ctmp.as_ptr() as usize, flags, 0o644) };
    if fd < 0 {
        return Err("cannot create the checkpoint file (WASMC_CHECKPOINT)");
    }
    // 1 MiB: sparse memory arrives as thousands of 4 KiB runs, and fewer, larger
    // writes make the file system's work, and the fsync after it, cheaper (a GiB of
    // sparse memory checkpoints about 25% faster than with 64 KiB).
    let mut sink = FdSink { fd: fd as i32, buf: Vec::with_capacity(1 << 20) };
    let r = match untouched {
        Some(u) => ck::write_checkpoint_hinted(&mut sink, ck, &|i| u.get(i).copied().unwrap_or(false)),
        None => ck::write_checkpoint(&mut sink, ck),
    };
    let flushed = r.is_ok() && sink.flush().is_ok() && unsafe { sys::syscall1(nr::FSYNC, fd as usize) } == 0;
    unsafe { sys::syscall1(nr::CLOSE, fd as usize) };
    let result = match r {
        Err(WriteError::Invalid(msg)) => Err(msg),
        Err(WriteError::Sink(())) => Err("writing the checkpoint file failed"),
        Ok(()) if !flushed => Err("writing the checkpoint file failed"),
        Ok(()) => {
            let cfinal = cpath(path);
            let r = unsafe { sys::syscall5(nr::RENAMEAT2, AT_FDCWD as usize, ctmp.as_ptr() as usize, AT_FDCWD as usize, cfinal.as_ptr() as usize, 0) };
            if r < 0 {
                Err("cannot rename the checkpoint file into place")
            } else {
                return Ok(());
            }
        }
    };
    unsafe { sys::syscall3(nr::UNLINKAT, AT_FDCWD as usize, ctmp.as_ptr() as usize, 0) };
    result
}

fn read_file(path: &[u8]) -> Result<Vec<u8>, &'static str> {
    let c = cpath(path);
    let fd = unsafe { sys::syscall4(nr::OPENAT, AT_FDCWD as usize, c.as_ptr() as usize, 0o2000000, 0) };
    if fd < 0 {
        return Err("cannot open the checkpoint file (WASMC_RESTORE)");
    }
    // Sized up front when the size is known, so a large checkpoint is read in place
    // instead of being copied at every doubling of the buffer.
    let size = unsafe { sys::syscall3(nr::LSEEK, fd as usize, 0, 2) }; // SEEK_END
    let rewound = size >= 0 && unsafe { sys::syscall3(nr::LSEEK, fd as usize, 0, 0) } == 0;
    let mut out: Vec<u8> = Vec::with_capacity(if rewound { size as usize + 1 } else { 1 << 16 });
    loop {
        if out.capacity() == out.len() {
            out.reserve(out.capacity().max(1 << 16));
        }
        let spare = out.capacity() - out.len();
        let r = unsafe { sys::syscall3(nr::READ, fd as usize, out.as_mut_ptr().add(out.len()) as usize, spare) };
        if r == -4 {
            continue;
        }
        if r < 0 {
            unsafe { sys::syscall1(nr::CLOSE, fd as usize) };
            return Err("cannot read the checkpoint file");
        }
        if r == 0 {
            break;
        }
        unsafe { out.set_len(out.len() + r as usize) };
    }
    unsafe { sys::syscall1(nr::CLOSE, fd as usize) };
    Ok(out)
}

/// Loads the checkpoint at `path` into the fresh instance and returns the frames to
/// rebuild (outermost first, slot 0 = point id). Any mismatch stops the process with
/// one line on stderr.
pub fn load(vmctx: *mut VmCtx, path: &[u8]) -> Vec<(u32, Vec<u64>)> {
    let bytes = read_file(path).unwrap_or_else(|m| fatal(&[m.as_bytes()]));
    // The file stays alive for the process: WASI restore may keep borrowed names.
    let bytes: &'static [u8] = bytes.leak();
    match apply(vmctx, bytes) {
        Ok(frames) => frames,
        Err(msg) => fatal(&[b"cannot restore: ", msg.as_bytes()]),
    }
}

fn apply(vmctx: *mut VmCtx, bytes: &'static [u8]) -> Result<Vec<(u32, Vec<u64>)>, &'static str> {
    let d = desc();
    let view = ck::read_checkpoint(bytes).map_err(|e| e.message())?;
    ck::check_module(&view, &d.module_hash).map_err(|e| e.message())?;
    // Linear memory.
    let v = unsafe { &mut *vmctx };
    let cur = v.memory_size;
    if view.memory.size < cur || (view.memory.size > cur && crate::instance::grow_memory(vmctx, (view.memory.size - cur) / abi_spec::WASM_PAGE) < 0) {
        return Err("checkpoint memory size does not fit this module");
    }
    for run in view.memory.runs.iter() {
        let end = run.offset.checked_add(run.bytes.len() as u64).ok_or("bad memory run")?;
        if end > v.memory_size {
            return Err("checkpoint memory run out of range");
        }
        unsafe { core::ptr::copy_nonoverlapping(run.bytes.as_ptr(), (v.memory_base + run.offset) as *mut u8, run.bytes.len()) };
    }
    // Globals.
    let gt = global_types();
    if view.globals.len() != gt.len() as u64 {
        return Err("checkpoint does not match this module (globals)");
    }
    for (i, val) in view.globals.iter().enumerate() {
        let t = ValType::from_u8(gt[i]).ok_or("bad global type")?;
        unsafe { *global_slot(vmctx, i as u32) = native(t, &val)? };
    }
    // Tables.
    let tt = crate::instance::table_types();
    if view.tables.len() != tt.len() as u64 {
        return Err("checkpoint does not match this module (tables)");
    }
    for (i, tv) in view.tables.iter().enumerate() {
        if tv.elem as u8 != tt[i].elem {
            return Err("checkpoint does not match this module (table type)");
        }
        let t = unsafe { crate::instance::table(vmctx, i as u32) };
        if tv.len < t.len || (tv.len > t.len && crate::instance::grow_table(vmctx, i as u32, tv.len - t.len, 0) < 0) {
            return Err("checkpoint table size does not fit this module");
        }
        let t = unsafe { crate::instance::table(vmctx, i as u32) };
        for (k, e) in tv.entries().enumerate() {
            let val = match e {
                None => 0,
                Some(f) if (f as usize) < funcs().len() && tv.elem == ValType::FuncRef => funcref_of(f),
                Some(_) => return Err("checkpoint table entry out of range"),
            };
            unsafe { *(t.base as *mut u64).add(k) = val };
        }
    }
    // Segments.
    let rt = runtime();
    if view.dropped_data.len as usize != rt.dropped_data.len() || view.dropped_elem.len as usize != rt.dropped_elems.len() {
        return Err("checkpoint does not match this module (segments)");
    }
    for i in 0..view.dropped_data.len {
        if view.dropped_data.is_set(i) {
            rt.dropped_data.set(i as usize);
        }
    }
    for i in 0..view.dropped_elem.len {
        if view.dropped_elem.is_set(i) {
            rt.dropped_elems.set(i as usize);
        }
    }
    crate::wasi::restore_state(&view.wasi)?;
    // Frames: each must be a migration point of this code, with its value types.
    let mut frames = vec![];
    for (k, f) in view.frames.iter().enumerate() {
        if f.func < d.num_imported_funcs || f.func >= d.num_funcs {
            return Err("checkpoint frame of a function this module does not define");
        }
        if k == 0 && funcs()[f.func as usize].code != d.entry {
            return Err("checkpoint's outermost frame is not the entry function");
        }
        let want = point_types(f.func, f.point).ok_or("checkpoint frame at a migration point this code does not have")?;
        if want.len() != f.num_values() as usize || !f.types().zip(want).all(|(a, b)| a as u8 == *b) {
            return Err("checkpoint frame values do not match this code");
        }
        let mut slots = Vec::with_capacity(want.len() + 1);
        slots.push(f.point as u64);
        for (t, val) in f.types().zip(f.values()) {
            slots.push(native(t, &val)?);
        }
        frames.push((f.func, slots));
    }
    if frames.is_empty() {
        return Err("checkpoint has no frames");
    }
    Ok(frames)
}
