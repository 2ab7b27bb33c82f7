//! An owned, editable copy of a checkpoint (host tools only, feature `std`): read with
//! the validating reader, written back with the writer (which also computes the
//! checksum). The fuzzer's structured mutants are edits of it; `wasmc receive` builds a
//! whole checkpoint file from a pre-copy stream with it (the pages, then the rest).

extern crate alloc;

use super::{
    read_checkpoint, write_checkpoint, CheckpointRef, FdKind, FdRef, FrameRef, Isa, Slots,
    TableRef, Value, WasiRef, WriteError, NONE,
};
use crate::ValType;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// One value: its type and up to two 64-bit slots (the second only for v128), encoded
/// as the writer's `Slots` want them (funcref: index or `NONE`; externref: `NONE`).
#[derive(Clone, Copy, Debug)]
pub struct Val {
    pub ty: ValType,
    pub lo: u64,
    pub hi: u64,
}

impl Val {
    fn from_value(v: Value) -> Val {
        let (ty, lo, hi) = match v {
            Value::I32(x) | Value::F32(x) => (v.ty(), x as u64, 0),
            Value::I64(x) | Value::F64(x) => (v.ty(), x, 0),
            Value::V128(b) => {
                let lo = u64::from_le_bytes(b[..8].try_into().unwrap());
                let hi = u64::from_le_bytes(b[8..].try_into().unwrap());
                (ValType::V128, lo, hi)
            }
            Value::FuncRef(f) => (ValType::FuncRef, f.unwrap_or(NONE) as u64, 0),
            Value::NullExternRef => (ValType::ExternRef, NONE as u64, 0),
        };
        Val { ty, lo, hi }
    }

    /// `ty` with bits the writer accepts for it, taken from `bits` where possible.
    pub fn of_type(ty: ValType, bits: u64) -> Val {
        let lo = match ty {
            ValType::FuncRef => bits & 0xffff_ffff,
            ValType::ExternRef => NONE as u64,
            _ => bits,
        };
        Val {
            ty,
            lo,
            hi: bits.rotate_left(32),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Table {
    pub elem: ValType,
    pub max: Option<u64>,
    pub entries: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Frame {
    pub func: u32,
    pub point: u32,
    pub values: Vec<Val>,
}

#[derive(Clone, Debug)]
pub struct Fd {
    pub fd: u32,
    pub kind: FdKind,
    pub preopen: Option<u32>,
    pub path: Vec<u8>,
    pub oflags: u16,
    pub fdflags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
    pub offset: u64,
}

#[derive(Clone, Debug)]
pub struct Ckpt {
    pub module_hash: [u8; 32],
    pub source_isa: Isa,
    pub memory: Vec<u8>,
    pub globals: Vec<Val>,
    pub tables: Vec<Table>,
    pub dropped_data: Vec<bool>,
    pub dropped_elem: Vec<bool>,
    pub frames: Vec<Frame>,
    pub args: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub preopens: Vec<Vec<u8>>,
    pub fds: Vec<Fd>,
    pub free_fds: Vec<u32>,
    pub monotonic_ns: u64,
}

impl Ckpt {
    /// Reads `bytes`, refusing a memory larger than `max_memory` bytes (the model holds
    /// all of it).
    pub fn parse(bytes: &[u8], max_memory: u64) -> Result<Ckpt, String> {
        let v = read_checkpoint(bytes).map_err(|e| e.message().to_string())?;
        if v.memory.size > max_memory {
            return Err(format!(
                "memory of {} bytes is too big to edit",
                v.memory.size
            ));
        }
        let mut memory = vec![0u8; v.memory.size as usize];
        for run in v.memory.runs.iter() {
            let at = run.offset as usize;
            memory[at..at + run.bytes.len()].copy_from_slice(run.bytes);
        }
        let bits = |b: super::Bitset| (0..b.len).map(|i| b.is_set(i)).collect();
        Ok(Ckpt {
            module_hash: v.module_hash,
            source_isa: v.source_isa,
            memory,
            globals: v.globals.iter().map(Val::from_value).collect(),
            tables: v
                .tables
                .iter()
                .map(|t| Table {
                    elem: t.elem,
                    max: t.max,
                    entries: t.entries().map(|e| e.unwrap_or(NONE)).collect(),
                })
                .collect(),
            dropped_data: bits(v.dropped_data),
            dropped_elem: bits(v.dropped_elem),
            frames: v
                .frames
                .iter()
                .map(|f| Frame {
                    func: f.func,
                    point: f.point,
                    values: f.values().map(Val::from_value).collect(),
                })
                .collect(),
            args: v.wasi.args.iter().map(<[u8]>::to_vec).collect(),
            env: v.wasi.env.iter().map(<[u8]>::to_vec).collect(),
            preopens: v.wasi.preopens.iter().map(<[u8]>::to_vec).collect(),
            fds: v
                .wasi
                .fds
                .iter()
                .map(|f| Fd {
                    fd: f.fd,
                    kind: f.kind,
                    preopen: f.preopen,
                    path: f.path.to_vec(),
                    oflags: f.oflags,
                    fdflags: f.fdflags,
                    rights_base: f.rights_base,
                    rights_inheriting: f.rights_inheriting,
                    offset: f.offset,
                })
                .collect(),
            free_fds: v.wasi.free_fds.iter().collect(),
            monotonic_ns: v.wasi.monotonic_ns,
        })
    }

    /// Encodes the model; `Err` names what the writer refuses to express (an edit that
    /// breaks one of its own invariants, e.g. fds out of order).
    pub fn write(&self) -> Result<Vec<u8>, &'static str> {
        fn slots(vals: &[Val]) -> (Vec<ValType>, Vec<u64>) {
            let mut s = Vec::new();
            for v in vals {
                s.push(v.lo);
                if v.ty == ValType::V128 {
                    s.push(v.hi);
                }
            }
            (vals.iter().map(|v| v.ty).collect(), s)
        }
        let (gt, gs) = slots(&self.globals);
        let frame_slots: Vec<_> = self.frames.iter().map(|f| slots(&f.values)).collect();
        let frames: Vec<FrameRef> = self
            .frames
            .iter()
            .zip(&frame_slots)
            .map(|(f, (t, s))| FrameRef {
                func: f.func,
                point: f.point,
                values: Slots { types: t, slots: s },
            })
            .collect();
        let tables: Vec<TableRef> = self
            .tables
            .iter()
            .map(|t| TableRef {
                elem: t.elem,
                max: t.max,
                entries: &t.entries,
            })
            .collect();
        let fds: Vec<FdRef> = self
            .fds
            .iter()
            .map(|f| FdRef {
                fd: f.fd,
                kind: f.kind,
                preopen: f.preopen,
                path: &f.path,
                oflags: f.oflags,
                fdflags: f.fdflags,
                rights_base: f.rights_base,
                rights_inheriting: f.rights_inheriting,
                offset: f.offset,
            })
            .collect();
        fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
            v.iter().map(Vec::as_slice).collect()
        }
        let (args, env, preopens) = (refs(&self.args), refs(&self.env), refs(&self.preopens));
        let ck = CheckpointRef {
            module_hash: self.module_hash,
            source_isa: self.source_isa,
            memory: &self.memory,
            globals: Slots {
                types: &gt,
                slots: &gs,
            },
            tables: &tables,
            dropped_data: &self.dropped_data,
            dropped_elem: &self.dropped_elem,
            frames: &frames,
            wasi: WasiRef {
                args: &args,
                env: &env,
                preopens: &preopens,
                fds: &fds,
                free_fds: &self.free_fds,
                monotonic_ns: self.monotonic_ns,
            },
        };
        let mut out = Vec::new();
        match write_checkpoint(&mut out, &ck) {
            Ok(()) => Ok(out),
            Err(WriteError::Invalid(m)) => Err(m),
            Err(WriteError::Sink(e)) => match e {},
        }
    }
}
