//! Structured checkpoint mutants: edits of the decoded model ([`Ckpt`]) that the
//! format's writer can still encode, so the file is intact (checksum and structure
//! right) but its contents disagree with the module or with each other. Each edit says
//! what it did; `None` means it does not apply to this checkpoint (no frames, ...).

use super::rng::Rng;
use abi_spec::checkpoint::owned::{Ckpt, Fd, Frame, Table, Val};
use abi_spec::checkpoint::{FdKind, NONE};
use abi_spec::ValType;

const TYPES: [ValType; 7] = [
    ValType::I32,
    ValType::I64,
    ValType::F32,
    ValType::F64,
    ValType::V128,
    ValType::FuncRef,
    ValType::ExternRef,
];

type Edit = fn(&mut Ckpt, &mut Rng) -> Option<String>;

/// Every edit, with a name for the statistics.
pub const EDITS: &[(&str, Edit)] = &[
    ("frames", frames_reshape),
    ("frame-ids", frame_ids),
    ("frame-values", frame_values),
    ("globals", globals),
    ("tables", tables),
    ("memory", memory),
    ("segments", segments),
    ("fds", fds),
    ("wasi-lists", wasi_lists),
];

fn pick<T>(rng: &mut Rng, v: &[T]) -> Option<usize> {
    (!v.is_empty()).then(|| rng.index(v.len()))
}

fn random_type(rng: &mut Rng) -> ValType {
    TYPES[rng.index(TYPES.len())]
}

/// Bits likely to matter: boundaries, or the old value nudged.
fn interesting_u64(rng: &mut Rng, old: u64) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => u64::MAX,
        2 => old.wrapping_add(1),
        3 => old ^ (1 << rng.below(64)),
        4 => rng.interesting_u32(old as u32) as u64,
        _ => rng.next_u64(),
    }
}

/// Frames added, removed or reordered (the call stack no longer matches its code).
fn frames_reshape(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    let n = c.frames.len();
    let i = pick(rng, &c.frames)?;
    Some(match rng.below(7) {
        0 => {
            c.frames.push(c.frames[n - 1].clone());
            "innermost frame duplicated".into()
        }
        1 => {
            c.frames.insert(i, c.frames[i].clone());
            format!("frame {i} of {n} duplicated")
        }
        2 => {
            c.frames.pop();
            "innermost frame removed".into()
        }
        3 => {
            c.frames.remove(0);
            "outermost frame removed".into()
        }
        4 => {
            c.frames.clear();
            "all frames removed".into()
        }
        5 if n >= 2 => {
            let j = (i + 1 + rng.index(n - 1)) % n;
            c.frames.swap(i, j);
            format!("frames {i} and {j} of {n} swapped")
        }
        _ => {
            let extra = Frame {
                func: rng.interesting_u32(c.frames[i].func),
                point: rng.interesting_u32(0),
                values: Vec::new(),
            };
            c.frames.push(extra);
            "a frame of a random function appended".into()
        }
    })
}

/// A frame's function index or point id changed.
fn frame_ids(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    let n = c.frames.len();
    let i = pick(rng, &c.frames)?;
    let f = &mut c.frames[i];
    Some(if rng.chance(1, 2) {
        let old = f.point;
        f.point = rng.interesting_u32(old);
        format!("frame {i} of {n}: point id {old} -> {}", f.point)
    } else {
        let old = f.func;
        f.func = rng.interesting_u32(old);
        format!("frame {i} of {n}: function index {old} -> {}", f.func)
    })
}

/// A frame's values: a type byte changed, one added or removed, or bits changed.
fn frame_values(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    let n = c.frames.len();
    let i = pick(rng, &c.frames)?;
    let vals = &mut c.frames[i].values;
    let k = rng.index(vals.len().max(1));
    Some(match rng.below(4) {
        0 if !vals.is_empty() => {
            let (old, ty) = (vals[k].ty, random_type(rng));
            vals[k] = Val::of_type(ty, vals[k].lo);
            format!("frame {i} of {n}: value {k} type {old:?} -> {ty:?}")
        }
        1 if !vals.is_empty() => {
            vals.remove(k);
            format!("frame {i} of {n}: value {k} removed")
        }
        2 if !vals.is_empty() => {
            let old = vals[k].lo;
            let v = Val::of_type(vals[k].ty, interesting_u64(rng, old));
            vals[k] = v;
            format!(
                "frame {i} of {n}: value {k} ({:?}) {old:#x} -> {:#x}",
                v.ty, v.lo
            )
        }
        _ => {
            let ty = random_type(rng);
            vals.insert(k.min(vals.len()), Val::of_type(ty, rng.next_u64()));
            format!("frame {i} of {n}: a {ty:?} value inserted at {k}")
        }
    })
}

/// Globals: one more, one fewer, a type changed, a value changed.
fn globals(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    let n = c.globals.len();
    Some(match (rng.below(4), pick(rng, &c.globals)) {
        (0, _) | (_, None) => {
            let ty = random_type(rng);
            c.globals.push(Val::of_type(ty, rng.next_u64()));
            format!("a {ty:?} global appended to {n}")
        }
        (1, Some(_)) => {
            c.globals.pop();
            format!("last of {n} globals removed")
        }
        (2, Some(i)) => {
            let (old, ty) = (c.globals[i].ty, random_type(rng));
            c.globals[i] = Val::of_type(ty, c.globals[i].lo);
            format!("global {i} of {n}: type {old:?} -> {ty:?}")
        }
        (_, Some(i)) => {
            let g = c.globals[i];
            c.globals[i] = Val::of_type(g.ty, interesting_u64(rng, g.lo));
            format!(
                "global {i} ({:?}) of {n}: {:#x} -> {:#x}",
                g.ty, g.lo, c.globals[i].lo
            )
        }
    })
}

/// Tables: count, length, maximum, element type, an element's function index.
fn tables(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    let n = c.tables.len();
    let which = pick(rng, &c.tables);
    Some(match (rng.below(6), which) {
        (0, _) | (_, None) => {
            let len = rng.index(8);
            let t = Table {
                elem: ValType::FuncRef,
                max: None,
                entries: vec![NONE; len],
            };
            c.tables.push(t);
            format!("a funcref table of {len} nulls appended to {n}")
        }
        (1, Some(i)) => {
            c.tables.remove(i);
            format!("table {i} of {n} removed")
        }
        (2, Some(i)) => {
            let t = &mut c.tables[i];
            let old = t.entries.len();
            if rng.chance(1, 2) && old > 0 {
                t.entries.truncate(rng.index(old));
            } else {
                let big = rng.chance(1, 8);
                let more = 1 + rng.index(if big { 100_000 } else { 16 });
                t.entries.extend(std::iter::repeat_n(NONE, more));
                t.max = t.max.map(|m| m.max(t.entries.len() as u64));
            }
            format!("table {i}: length {old} -> {}", t.entries.len())
        }
        (3, Some(i)) => {
            let t = &mut c.tables[i];
            let old = t.max;
            t.max = match rng.below(3) {
                0 => None,
                1 => Some(t.entries.len() as u64),
                _ => Some(u64::MAX - 1),
            };
            format!("table {i}: maximum {old:?} -> {:?}", t.max)
        }
        (4, Some(i)) => {
            let t = &mut c.tables[i];
            let old = t.elem;
            t.elem = if old == ValType::FuncRef {
                ValType::ExternRef
            } else {
                ValType::FuncRef
            };
            // The writer only encodes null externrefs.
            t.entries.iter_mut().for_each(|e| *e = NONE);
            format!(
                "table {i}: element type {old:?} -> {:?} (entries nulled)",
                t.elem
            )
        }
        (_, Some(i)) => {
            let t = &mut c.tables[i];
            let k = pick(rng, &t.entries)?;
            let old = t.entries[k];
            t.entries[k] = rng.interesting_u32(if old == NONE { 0 } else { old });
            format!("table {i}[{k}]: function {old:#x} -> {:#x}", t.entries[k])
        }
    })
}

/// Memory size changed (grown or shrunk by pages, emptied).
fn memory(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    let old = c.memory.len();
    let page = 65_536;
    let new = match rng.below(4) {
        0 => old + page * (1 + rng.index(4)),
        1 => old.saturating_sub(page * (1 + rng.index(4))),
        2 => 0,
        _ => old + page * 1024,
    };
    c.memory.resize(new, 0);
    Some(format!("memory size {old} -> {new}"))
}

/// Dropped-segment flags: one toggled, or a segment more or fewer.
fn segments(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    let data = rng.chance(1, 2);
    let (name, flags) = if data {
        ("data", &mut c.dropped_data)
    } else {
        ("elem", &mut c.dropped_elem)
    };
    let n = flags.len();
    Some(match (rng.below(3), pick(rng, flags)) {
        (0, Some(i)) => {
            flags[i] = !flags[i];
            format!("{name} segment {i} of {n}: dropped flag toggled")
        }
        (1, Some(_)) => {
            flags.pop();
            format!("last of {n} {name} segments removed")
        }
        _ => {
            flags.push(rng.chance(1, 2));
            format!("a {name} segment appended to {n}")
        }
    })
}

fn random_kind(rng: &mut Rng) -> FdKind {
    FdKind::from_u8(rng.below(6) as u8).unwrap_or(FdKind::File)
}

/// Fd records: guest fd numbers, kinds, paths, flags, rights, offsets, records added
/// or removed. Fds are re-sorted (the writer insists on increasing order).
fn fds(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    let n = c.fds.len();
    let i = pick(rng, &c.fds);
    let what = match (rng.below(9), i) {
        (0, Some(i)) => {
            let old = c.fds[i].fd;
            c.fds[i].fd = if rng.chance(1, 2) {
                u32::MAX
            } else {
                rng.interesting_u32(old)
            };
            format!("fd record {i} of {n}: guest fd {old} -> {:#x}", c.fds[i].fd)
        }
        (1, Some(i)) => {
            let f = &mut c.fds[i];
            let old = f.kind;
            f.kind = random_kind(rng);
            // Keep the writer's preopen rule: stdio has none, the rest need a valid one.
            f.preopen = match (f.kind.has_preopen(), c.preopens.len()) {
                (false, _) => None,
                (true, 0) => return None,
                (true, p) => Some(f.preopen.unwrap_or(0).min(p as u32 - 1)),
            };
            format!("fd {} kind {} -> {}", f.fd, old.name(), f.kind.name())
        }
        (2, Some(i)) => {
            let paths: [&[u8]; 7] = [
                b"..",
                b"../../etc/passwd",
                b"/etc/passwd",
                b"a\0b",
                b"",
                b"no/such/file",
                b".",
            ];
            let p = paths[rng.index(paths.len())].to_vec();
            let f = &mut c.fds[i];
            let old = String::from_utf8_lossy(&f.path).into_owned();
            f.path = if rng.chance(1, 8) {
                vec![b'x'; 5000]
            } else {
                p
            };
            format!(
                "fd {} path {old:?} -> {:?}",
                f.fd,
                String::from_utf8_lossy(&f.path)
            )
        }
        (3, Some(i)) => {
            let f = &mut c.fds[i];
            f.oflags = rng.next_u64() as u16;
            f.fdflags = rng.next_u64() as u16;
            format!(
                "fd {}: oflags {:#x}, fdflags {:#x}",
                f.fd, f.oflags, f.fdflags
            )
        }
        (4, Some(i)) => {
            let f = &mut c.fds[i];
            f.rights_base = interesting_u64(rng, f.rights_base);
            f.rights_inheriting = interesting_u64(rng, f.rights_inheriting);
            format!(
                "fd {}: rights {:#x} / {:#x}",
                f.fd, f.rights_base, f.rights_inheriting
            )
        }
        (5, Some(i)) => {
            let f = &mut c.fds[i];
            let old = f.offset;
            f.offset = interesting_u64(rng, old);
            format!("fd {}: offset {old} -> {}", f.fd, f.offset)
        }
        (6, Some(i)) => {
            let f = c.fds.remove(i);
            format!("fd record {} ({}) removed", f.fd, f.kind.name())
        }
        (7, Some(i)) => {
            let mut f = c.fds[i].clone();
            f.fd = c
                .fds
                .iter()
                .map(|f| f.fd)
                .max()
                .unwrap_or(2)
                .saturating_add(1 + rng.below(3) as u32);
            let s = format!("fd record {} duplicated as fd {}", c.fds[i].fd, f.fd);
            c.fds.push(f);
            s
        }
        _ => {
            if c.preopens.is_empty() {
                return None;
            }
            let fd = c
                .fds
                .iter()
                .map(|f| f.fd)
                .max()
                .unwrap_or(2)
                .saturating_add(1);
            c.fds.push(Fd {
                fd,
                kind: FdKind::File,
                preopen: Some(0),
                path: b"fuzz-created.txt".to_vec(),
                oflags: 1, // O_CREAT: a restore must not create files
                fdflags: 0,
                rights_base: u64::MAX,
                rights_inheriting: u64::MAX,
                offset: 0,
            });
            format!("a file record for a file that does not exist added as fd {fd}")
        }
    };
    c.fds.sort_by_key(|f| f.fd);
    c.fds.dedup_by_key(|f| f.fd);
    Some(what)
}

/// Arguments, environment, preopen names, the closed fds, the monotonic clock.
fn wasi_lists(c: &mut Ckpt, rng: &mut Rng) -> Option<String> {
    Some(match rng.below(7) {
        0 => {
            c.args
                .push(vec![b'a'; if rng.chance(1, 4) { 1 << 20 } else { 100 }]);
            format!(
                "an argument of {} bytes appended",
                c.args.last().unwrap().len()
            )
        }
        1 => {
            c.args.clear();
            "all arguments removed (no argv[0])".into()
        }
        2 => {
            c.env.push(b"NO_EQUALS_SIGN".to_vec());
            "an environment entry without '=' appended".into()
        }
        3 => {
            let i = pick(rng, &c.preopens)?;
            let old = String::from_utf8_lossy(&c.preopens[i]).into_owned();
            c.preopens[i] = b"/no-such-preopen".to_vec();
            format!("preopen {i} renamed {old:?} -> \"/no-such-preopen\"")
        }
        4 => {
            c.preopens.push(b"/extra".to_vec());
            "a preopen \"/extra\" appended".into()
        }
        5 => {
            // A closed fd the next open takes: any number, which a restore must either
            // hand out or refuse (an open one or a repeat is malformed, one beyond the
            // fds a process can hold out of range).
            let fd = rng.interesting_u32(c.fds.last().map_or(3, |f| f.fd));
            c.free_fds.push(fd);
            format!("closed fd {fd} appended to the ones reused next")
        }
        _ => {
            let old = c.monotonic_ns;
            c.monotonic_ns = interesting_u64(rng, old);
            format!("monotonic clock {old} -> {}", c.monotonic_ns)
        }
    })
}
