//! Between the running instance and the canonical checkpoint format of `abi-spec`:
//! gathering the state into a `CheckpointRef` (funcref addresses become function
//! indices) and writing it atomically; reading a file back, checking it against this
//! executable, and putting memory, globals, tables and segments in place. The WASI part
//! is the layer above's: `save` is given it, `load` hands it back.

use crate::ckfile;
use crate::ckstream::Session;
use abi_spec::stream as st;
use crate::host::{self, AT_FDCWD};
use crate::instance::{desc, slice, with_runtime, Vm};
use crate::print::{eprintln_parts, fatal};
use crate::sys::{self, nr};
use abi_spec::checkpoint::{self as ck, CheckpointRef, Frame, FrameRef, Isa, Sink, Slots, TableRef, Value, WasiRef, WasiView, WriteError};
use abi_spec::points::{self, Point, PointKind, PointTable};
use abi_spec::{FuncRecord, ValType};
use alloc::vec;
use alloc::vec::Vec;

const NULL_INDEX: u64 = u32::MAX as u64;

/// Where checkpoints go when `WASMC_CHECKPOINT` is not set.
pub const DEFAULT_PATH: &[u8] = b"wasmc.ckpt";

/// A path a control-socket command gave for the checkpoint under way.
static PATH_OVERRIDE: crate::cell::MainCell<Option<&'static [u8]>> = crate::cell::MainCell::new(None);

/// Sets (or clears) the path of the checkpoint under way.
pub fn set_path(path: Option<&'static [u8]>) {
    PATH_OVERRIDE.with(|p| *p = path);
}

/// Where a checkpoint goes: a control command's path, else `WASMC_CHECKPOINT`, else
/// [`DEFAULT_PATH`].
pub fn path() -> &'static [u8] {
    PATH_OVERRIDE
        .with(|p| *p)
        .or_else(|| crate::process::control(b"WASMC_CHECKPOINT"))
        .unwrap_or(DEFAULT_PATH)
}

/// One saved frame, as generated code stored it: raw 64-bit slots (funcrefs as record
/// addresses); [`save`] makes them canonical.
pub struct SavedFrame {
    pub func: u32,
    pub point: u32,
    pub types: Vec<ValType>,
    pub slots: Vec<u64>,
}

/// The frames to rebuild, outermost first, as the checkpoint holds them (its buffer is
/// kept for the process): [`apply_view`] checked them against this code, and restore takes
/// them one at a time, converting a frame's values to native slots as it writes them
/// ([`native_values`]). Nothing is copied per frame in between: a deep stack has
/// thousands of frames, and a vector of all their slots cost a page fault per 512.
pub struct RestoreFrames {
    rest: Option<ck::Iter<'static, Frame<'static>>>,
    next: Option<Frame<'static>>,
}

impl RestoreFrames {
    pub const fn new() -> RestoreFrames {
        RestoreFrames { rest: None, next: None }
    }

    fn of(frames: ck::List<'static, Frame<'static>>) -> RestoreFrames {
        let mut rest = frames.iter();
        let next = rest.next();
        RestoreFrames { rest: Some(rest), next }
    }

    pub fn is_empty(&self) -> bool {
        self.next.is_none()
    }

    /// The next frame, and the function of the one after it (`None`: this is the top).
    pub fn take(&mut self) -> Option<(Frame<'static>, Option<u32>)> {
        let f = self.next.take()?;
        self.next = self.rest.as_mut().and_then(|r| r.next());
        Some((f, self.next.map(|n| n.func)))
    }
}

/// A checked frame's values as native slots (funcrefs as record addresses), into `out`.
pub fn native_values(f: &Frame, out: &mut Vec<u64>) -> Result<(), &'static str> {
    out.clear();
    for (&code, slot) in f.type_codes().iter().zip(f.slots()) {
        out.push(native_slot(ValType::from_u8(code).ok_or(WRONG_TYPE)?, slot)?);
    }
    Ok(())
}

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
    // SAFETY: the descriptor's `funcs` holds `num_funcs` records (abi-spec §1.2).
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
    if !off.is_multiple_of(size) || off / size >= funcs().len() as u64 {
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

const WRONG_TYPE: &str = "checkpoint does not match this module (value of the wrong type)";

/// The inverse of [`canonical`], for a slot of a frame record (a v128 has none here:
/// no point holds one).
#[inline]
fn native_slot(t: ValType, slot: u64) -> Result<u64, &'static str> {
    match t {
        ValType::FuncRef if slot == NULL_INDEX => Ok(0),
        ValType::FuncRef if slot < funcs().len() as u64 => Ok(funcref_of(slot as u32)),
        ValType::ExternRef => Ok(0),
        ValType::I32 | ValType::F32 | ValType::I64 | ValType::F64 => Ok(slot),
        _ => Err(WRONG_TYPE),
    }
}

/// The inverse of [`canonical`], for a decoded value: its slot, as [`native_slot`].
fn native(t: ValType, v: &Value) -> Result<u64, &'static str> {
    let slot = match *v {
        Value::I32(x) | Value::F32(x) => x as u64,
        Value::I64(x) | Value::F64(x) => x,
        Value::FuncRef(i) => i.map_or(NULL_INDEX, u64::from),
        Value::NullExternRef => NULL_INDEX,
        Value::V128(_) => return Err(WRONG_TYPE),
    };
    if v.ty() != t {
        return Err(WRONG_TYPE);
    }
    native_slot(t, slot)
}

fn global_types() -> &'static [u8] {
    let d = desc();
    // SAFETY: the descriptor's `global_types` holds `num_globals` bytes.
    unsafe { slice(d.global_types, d.num_globals) }
}

/// Function `func`'s table of migration points, `None` for a function without one
/// (imports, or an executable compiled without points).
pub fn points_of(func: u32) -> Option<PointTable<'static>> {
    let d = desc();
    if func >= d.num_funcs || d.point_types_index == 0 {
        return None;
    }
    // SAFETY: the compiler emits `num_funcs` entries in the index (abi-spec's
    // `ModuleDesc::point_types_index`), each null or the address of a 4-byte aligned
    // table whose first word is its total length; the descriptor is immutable data.
    let index: &[u64] = unsafe { slice(d.point_types_index, d.num_funcs) };
    let blob = index[func as usize] as *const u8;
    if blob.is_null() {
        return None;
    }
    // SAFETY: as above, the table is `total_bytes` long and lives as long as the program.
    let bytes = unsafe {
        let len = points::total_bytes(core::ptr::read(blob as *const [u8; 4]));
        core::slice::from_raw_parts(blob, len)
    };
    PointTable::new(bytes)
}

/// The function whose points table was looked up last through [`cached_points_of`],
/// and the table: deep stacks repeat a few functions, and reading a table checks all of
/// it. Main flow only (checkpoint validation and restoring), never a signal handler.
static LAST_TABLE: crate::cell::MainCell<Option<(u32, PointTable<'static>)>> =
    crate::cell::MainCell::new(None);

/// [`points_of`], remembering the last table for the main flow.
fn cached_points_of(func: u32) -> Option<PointTable<'static>> {
    LAST_TABLE.with(|last| match *last {
        Some((f, t)) if f == func => Some(t),
        _ => {
            let t = points_of(func)?;
            *last = Some((func, t));
            Some(t)
        }
    })
}

/// What is derived from point records, kept by (function, point id) in `N` slots,
/// direct-mapped: restoring a deep stack asks about the same few pairs for every frame
/// (when the checkpoint is checked and when each frame is rebuilt), and parsing or
/// decoding a record each time was most of what a frame cost.
pub struct PointCache<T, const N: usize>([Option<(u32, u32, T)>; N]);

impl<T, const N: usize> PointCache<T, N> {
    pub const fn new() -> Self {
        PointCache([const { None }; N])
    }

    /// The entry of (`func`, `point`), made by `make` if its slot holds another.
    pub fn get(&mut self, func: u32, point: u32, make: impl FnOnce() -> Option<T>) -> Option<&T> {
        let slot = &mut self.0[(func as usize).wrapping_mul(31).wrapping_add(point as usize) % N];
        if slot.as_ref().is_none_or(|(f, k, _)| (*f, *k) != (func, point)) {
            *slot = Some((func, point, make()?));
        }
        slot.as_ref().map(|(_, _, t)| t)
    }
}

/// Parsed point records with their tables. Main flow only.
static POINTS: crate::cell::MainCell<PointCache<(PointTable<'static>, Point<'static>), 64>> =
    crate::cell::MainCell::new(PointCache::new());

/// Point `point` of function `func`, with the function's table.
pub fn table_and_point(func: u32, point: u32) -> Option<(PointTable<'static>, Point<'static>)> {
    POINTS.with(|cache| {
        cache
            .get(func, point, || {
                let table = cached_points_of(func)?;
                Some((table, table.point(point)?))
            })
            .copied()
    })
}

/// Point `point` of function `func`.
pub fn point(func: u32, point: u32) -> Option<Point<'static>> {
    table_and_point(func, point).map(|(_, p)| p)
}

struct FdSink {
    fd: i32,
    buf: Vec<u8>,
}

fn write_all(fd: i32, bytes: &[u8]) -> Result<(), ()> {
    crate::print::write_all(fd, bytes).then_some(()).ok_or(())
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
        let direct = bytes.len() >= ck::PIECE;
        if direct || self.buf.len() + bytes.len() > self.buf.capacity() {
            self.flush()?;
        }
        if direct {
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
    let page = crate::process::auxv(6).unwrap_or(4096); // AT_PAGESZ
    let chunk = ck::CHUNK as usize;
    if !page.is_power_of_two() || page < chunk || !(memory.as_ptr() as usize).is_multiple_of(page) {
        return None;
    }
    let mut resident = vec![0u8; memory.len().div_ceil(page)];
    // SAFETY: `memory` is page-aligned (checked) and mapped; the kernel writes one byte per
    // page of it into `resident`, which has exactly that many.
    let r = unsafe { sys::syscall3(nr::MINCORE, memory.as_ptr() as usize, memory.len(), resident.as_mut_ptr() as usize) };
    if r != 0 {
        return None;
    }
    Some((0..memory.len() / chunk).map(|i| resident[i * chunk / page] & 1 == 0).collect())
}

/// Whether `/proc/swaps` lists no swap area (only its header line). Its first 4 KiB
/// tell: a second line means a swap area.
fn no_swap() -> bool {
    let Ok(fd) = host::openat(AT_FDCWD, b"/proc/swaps", 0, 0) else {
        return false;
    };
    let mut buf = [0u8; 4096];
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { sys::syscall3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()) };
    host::close(fd);
    n > 0 && buf[..n as usize].iter().filter(|&&c| c == b'\n').count() == 1
}

/// Writes the checkpoint of the stopped instance (`frames` outermost first, `wasi` the
/// WASI state) to [`path`]. Returns false, after saying why on stderr, if it could not
/// be written.
pub fn save(vm: Vm, frames: &[SavedFrame], wasi: WasiRef) -> bool {
    match gather(vm, frames, wasi, |ck, untouched| write_atomically(path(), ck, untouched)) {
        Ok(()) => true,
        Err(msg) => {
            eprintln_parts(&[b"wasmc: checkpoint not written: ", msg.as_bytes(), b"; continuing"]);
            false
        }
    }
}

/// Sends the checkpoint of the instance, stopped at `stopped` (CLOCK_REALTIME ns), as
/// the last segment of `session`; with `memory` false its memory section has no runs
/// (pre-copy sent the pages).
pub fn send_segment(vm: Vm, frames: &[SavedFrame], wasi: WasiRef, session: &mut Session, memory: bool, stopped: u64) -> Result<(), &'static str> {
    gather(vm, frames, wasi, |ck, untouched| {
        session.segment(st::SEG_CHECKPOINT, stopped, |sink| match memory {
            true => encode(sink, ck, untouched),
            false => ck::write_checkpoint_hinted(sink, ck, &|_| true),
        })
    })
}

/// Sends `pages` (ascending indices of `page`-byte pages) of linear memory as a PAGES
/// segment of `session`; all-zero pages are left out when `skip_zero` (the destination
/// starts from zeroed memory).
pub fn send_pages(vm: Vm, session: &mut Session, pages: &[usize], page: usize, skip_zero: bool) -> Result<(), &'static str> {
    let base = vm.memory_base() as usize;
    let size = vm.memory_size() as usize;
    // SAFETY: linear memory is mapped readable up to its size; writes meanwhile are
    // the program's own (pre-copy tracks them and sends those pages again).
    let memory = unsafe { core::slice::from_raw_parts(base as *const u8, size) };
    let wanted = |p: usize| (p + 1) * page <= size && !(skip_zero && ck::is_zero(&memory[p * page..(p + 1) * page]));
    session.segment(st::SEG_PAGES, 0, |sink| {
        let mut i = 0;
        while i < pages.len() {
            if !wanted(pages[i]) {
                i += 1;
                continue;
            }
            // A run of consecutive wanted pages, at most a stream block long.
            let mut j = i + 1;
            while j < pages.len() && pages[j] == pages[j - 1] + 1 && (j - i) * page < st::BLOCK && wanted(pages[j]) {
                j += 1;
            }
            let bytes = &memory[pages[i] * page..(pages[j - 1] + 1) * page];
            sink.write(&st::pages_record((pages[i] * page) as u64, bytes.len() as u32)).map_err(WriteError::Sink)?;
            sink.write(bytes).map_err(WriteError::Sink)?;
            i = j;
        }
        Ok(())
    })
}

/// Puts pre-copied `bytes` at `at` in the fresh instance's linear memory, growing it to
/// hold them (memory never shrinks, so the checkpoint that follows is at least as large).
pub fn put_pages(vm: Vm, at: u64, bytes: &[u8]) -> Result<(), &'static str> {
    let end = at.checked_add(bytes.len() as u64).filter(|e| *e <= 1 << 32).ok_or("pages out of range")?;
    let cur = vm.memory_size();
    if end > cur && crate::instance::grow_memory(vm, (end - cur).div_ceil(abi_spec::WASM_PAGE)) < 0 {
        return Err("pages beyond what this module's memory can grow to");
    }
    // SAFETY: `[at, end)` lies inside linear memory (grown above), which is read-write;
    // `bytes` is a separate allocation.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), (vm.memory_base() + at) as *mut u8, bytes.len()) };
    Ok(())
}

/// Writes `ck` to `sink`, leaving out the chunks `untouched` says were never written.
fn encode<S: Sink>(sink: &mut S, ck: &CheckpointRef, untouched: Option<&[bool]>) -> Result<(), WriteError<S::Error>> {
    match untouched {
        Some(u) => ck::write_checkpoint_hinted(sink, ck, &|i| u.get(i).copied().unwrap_or(false)),
        None => ck::write_checkpoint(sink, ck),
    }
}

/// Gathers the instance's state into a [`CheckpointRef`] and hands it to `out`, with
/// the chunks of memory that were never touched.
fn gather<R>(
    vm: Vm,
    frames: &[SavedFrame],
    wasi: WasiRef,
    out: impl FnOnce(&CheckpointRef, Option<&[bool]>) -> Result<R, &'static str>,
) -> Result<R, &'static str> {
    let d = desc();
    let memory: &[u8] = if vm.memory_size() == 0 {
        &[]
    } else {
        // SAFETY: linear memory is mapped read-write up to its size, and nothing writes it
        // while the checkpoint is written (the guest is unwound; signal handlers only
        // write the mirror word, which lies below it).
        unsafe { core::slice::from_raw_parts(vm.memory_base() as *const u8, vm.memory_size() as usize) }
    };
    let gtypes: Vec<ValType> = global_types().iter().map(|b| ValType::from_u8(*b).unwrap_or(ValType::I64)).collect();
    let mut gslots = vec![];
    for (i, t) in gtypes.iter().enumerate() {
        gslots.push(canonical(*t, vm.global(i as u32))?);
    }
    let mut table_entries: Vec<Vec<u32>> = vec![];
    let ttypes = crate::instance::table_types();
    for i in 0..d.num_tables {
        let t = vm.table(i);
        // SAFETY: a table's `base` holds `len` elements, which nothing writes meanwhile.
        let elems: &[u64] = if t.len == 0 { &[] } else { unsafe { core::slice::from_raw_parts(t.base, t.len as usize) } };
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
    let (dropped_data, dropped_elem): (Vec<bool>, Vec<bool>) = with_runtime(|rt| {
        let data = (0..rt.dropped_data.len()).map(|i| rt.dropped_data.get(i)).collect();
        let elem = (0..rt.dropped_elems.len()).map(|i| rt.dropped_elems.get(i)).collect();
        (data, elem)
    });
    // All frames' canonical slots in one vector (a deep stack has thousands of frames).
    let mut frame_slots: Vec<u64> = Vec::with_capacity(frames.iter().map(|f| f.slots.len()).sum());
    for f in frames {
        for (t, v) in f.types.iter().zip(&f.slots) {
            frame_slots.push(canonical(*t, *v)?);
        }
    }
    let mut rest = &frame_slots[..];
    let frame_refs: Vec<FrameRef> = frames
        .iter()
        .map(|f| {
            let (s, after) = rest.split_at(f.slots.len());
            rest = after;
            FrameRef { func: f.func, point: f.point, values: Slots { types: &f.types, slots: s } }
        })
        .collect();
    let ck = CheckpointRef {
        module_hash: d.module_hash,
        source_isa: source_isa(),
        memory,
        globals: Slots { types: &gtypes, slots: &gslots },
        tables: &tables,
        dropped_data: &dropped_data,
        dropped_elem: &dropped_elem,
        frames: &frame_refs,
        wasi,
    };
    let untouched = untouched_chunks(memory);
    out(&ck, untouched.as_deref())
}

/// Writes `ck` through [`ckfile::write_atomically`].
fn write_atomically(path: &[u8], ck: &CheckpointRef, untouched: Option<&[bool]>) -> Result<(), &'static str> {
    let r = ckfile::write_atomically(path, |fd| {
        // 1 MiB: sparse memory arrives as thousands of 4 KiB runs, and fewer, larger
        // writes make the file system's work, and the fsync after it, cheaper (a GiB of
        // sparse memory checkpoints about 25% faster than with 64 KiB).
        let mut sink = FdSink { fd, buf: Vec::with_capacity(1 << 20) };
        encode(&mut sink, ck, untouched).and_then(|()| sink.flush().map_err(WriteError::Sink))
    });
    match r {
        Ok(()) => Ok(()),
        Err(ckfile::WriteFailure::Refused(msg)) | Err(ckfile::WriteFailure::Fill(WriteError::Invalid(msg))) => Err(msg),
        Err(ckfile::WriteFailure::Fill(WriteError::Sink(()))) => Err("writing the checkpoint file failed"),
    }
}

/// Loads the checkpoint at `path` into the fresh instance and returns the frames to
/// rebuild (outermost first) and the WASI state, for the caller to put in place. Any
/// mismatch stops the process with one line on stderr.
pub fn load(vm: Vm, path: &[u8]) -> (RestoreFrames, WasiView<'static>) {
    let src = ckfile::open(path).unwrap_or_else(|m| fatal(&[m.as_bytes()]));
    restore_from(vm, src).unwrap_or_else(|m| fatal(&[b"cannot restore: ", m.as_bytes()]))
}

/// Reads a checkpoint from `src` into the fresh instance; a mismatch is returned, for
/// the caller to answer before it stops. Linear memory goes straight into place
/// (`checkpoint::stream`), not into a buffer first: a checkpoint of N bytes of memory
/// used to cost N more for the whole run, since the WASI state borrows names from the
/// buffer, which is kept. Only the sections after memory are kept (leaked) for that.
pub fn restore_from<S: ck::Source>(vm: Vm, src: S) -> Result<(RestoreFrames, WasiView<'static>), &'static str> {
    let mut s = ck::stream(src).map_err(|e| e.message())?;
    // Both checked before any memory is read; `refuse` tells a corrupted file apart.
    if *s.module_hash() != desc().module_hash {
        return Err(s.refuse(ck::FormatError::OtherModule).message());
    }
    if let Err(m) = fit_memory(vm, s.memory_size()) {
        return Err(s.refuse(ck::FormatError::Malformed(m)).message());
    }
    let (base, size) = (vm.memory_base(), vm.memory_size());
    let placed = |offset: u64, len: u64| {
        let end = offset.checked_add(len).filter(|&e| e <= size)?;
        // SAFETY: `offset..end` lies inside linear memory, which is mapped read-write up
        // to its size; nothing else refers to it while a restore loads it.
        Some(unsafe { core::slice::from_raw_parts_mut((base + offset) as *mut u8, (end - offset) as usize) })
    };
    while s.next_run(placed).map_err(|e| e.message())? {}
    // The rest is kept for the process: WASI restore may keep borrowed names.
    let view = match s.rest_len() {
        Some(n) => {
            let n = usize::try_from(n).map_err(|_| "checkpoint is truncated")?;
            let rest = crate::heap::try_zeroed(n).ok_or("not enough memory to read the checkpoint")?;
            s.finish(rest.leak())
        }
        // A migration stream's segment, which says where it ends when it gets there.
        None => {
            let mut rest = Vec::new();
            s.read_rest(&mut rest).map_err(|e| e.message())?;
            s.finish_read(rest.leak())
        }
    };
    apply_view(vm, view.map_err(|e| e.message())?)
}

/// Grows the fresh instance's memory to a checkpoint's `size`, which must fit the
/// module's limits.
fn fit_memory(vm: Vm, size: u64) -> Result<(), &'static str> {
    let cur = vm.memory_size();
    if size < cur || (size > cur && crate::instance::grow_memory(vm, (size - cur) / abi_spec::WASM_PAGE) < 0) {
        return Err("checkpoint memory size does not fit this module");
    }
    Ok(())
}

/// Puts the rest of a validated checkpoint of this module in place, its memory being
/// there already ([`restore_from`]): frames checked against the code, globals, tables,
/// segments.
fn apply_view(vm: Vm, view: ck::CheckpointView<'static>) -> Result<(RestoreFrames, WasiView<'static>), &'static str> {
    let d = desc();
    // Frames: each must be a migration point of this code, with its value types, and
    // together a call chain this code can make: every frame but the innermost stopped
    // at a call of the next frame's function. Checked before anything runs.
    let mut views = view.frames.iter().peekable();
    // The previous frame's point, and whether its values include references: a deep
    // stack is mostly one recursive call repeated.
    let mut last: Option<(u32, u32, Point<'static>, bool)> = None;
    let mut outermost = true;
    while let Some(f) = views.next() {
        if f.func < d.num_imported_funcs || f.func >= d.num_funcs {
            return Err("checkpoint frame of a function this module does not define");
        }
        if outermost && funcs()[f.func as usize].code != d.entry {
            return Err("checkpoint's outermost frame is not the entry function");
        }
        outermost = false;
        let (want, refs) = match &last {
            Some((func, k, p, refs)) if (*func, *k) == (f.func, f.point) => (p, *refs),
            _ => {
                // A point without a site was removed with unreachable code: no frame is
                // there.
                let p = point(f.func, f.point)
                    .filter(|p| p.num_sites() == 1)
                    .ok_or("checkpoint frame at a migration point this code does not have")?;
                let refs = p.types.iter().any(|&t| t == ValType::FuncRef as u8 || t == ValType::ExternRef as u8);
                let l = last.insert((f.func, f.point, p, refs));
                (&l.2, refs)
            }
        };
        if f.type_codes() != want.types {
            return Err("checkpoint frame values do not match this code");
        }
        match views.peek() {
            Some(next) => {
                let calls_next = match want.kind {
                    PointKind::CallDirect { callee } => next.func == callee,
                    PointKind::CallIndirect { type_id } => {
                        funcs().get(next.func as usize).is_some_and(|r| r.type_id == type_id)
                    }
                    PointKind::Entry | PointKind::Loop => false,
                };
                if !calls_next {
                    return Err("checkpoint frames are not a call chain of this code (a caller frame is not stopped at a call of the next frame's function)");
                }
            }
            None if want.kind.is_call() => {
                return Err("checkpoint's innermost frame is stopped at a call, where no frame can resume");
            }
            None => {}
        }
        // A reference must name a function of this module; other values are as the
        // reader checked them.
        if refs {
            for (t, slot) in f.types().zip(f.slots()) {
                native_slot(t, slot)?;
            }
        }
    }
    let frames = RestoreFrames::of(view.frames);
    if frames.is_empty() {
        return Err("checkpoint has no frames");
    }
    // Globals.
    let gt = global_types();
    if view.globals.len() != gt.len() as u64 {
        return Err("checkpoint does not match this module (globals)");
    }
    for (i, val) in view.globals.iter().enumerate() {
        let t = ValType::from_u8(gt[i]).ok_or("bad global type")?;
        vm.set_global(i as u32, native(t, &val)?);
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
        let t = vm.table(i as u32);
        if tv.len < t.len || (tv.len > t.len && crate::instance::grow_table(vm, i as u32, tv.len - t.len, 0) < 0) {
            return Err("checkpoint table size does not fit this module");
        }
        let t = vm.table(i as u32);
        for (k, e) in tv.entries().enumerate() {
            let val = match e {
                None => 0,
                Some(f) if (f as usize) < funcs().len() && tv.elem == ValType::FuncRef => funcref_of(f),
                Some(_) => return Err("checkpoint table entry out of range"),
            };
            // SAFETY: the reader yields `tv.len` entries, and the table now has that length.
            unsafe { *t.base.add(k) = val };
        }
    }
    // Segments.
    with_runtime(|rt| {
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
        Ok(())
    })?;
    Ok((frames, view.wasi))
}
