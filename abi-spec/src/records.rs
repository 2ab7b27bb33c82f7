//! Encoders of the descriptor records the compiler emits as data ([`FuncRecord`],
//! [`TrapSite`], [`Bytes`], [`TableType`], [`ExportDesc`]). The runtime reads them as the
//! `#[repr(C)]` structs they are; these encoders write every field at the offset the
//! struct gives it (`offset_of!`), so writer and reader follow one definition, and the
//! round-trip tests below catch an encoder that writes a field into another's place.
//!
//! Address fields are left zero and listed in [`Encoded::addrs`]: the compiler turns
//! them into relocations.

extern crate alloc;

use crate::{Bytes, ExportDesc, FuncRecord, TableType, Trap, TrapSite, ValType};
use alloc::vec;
use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

/// One record's bytes, and the offsets in them where an address `A` goes.
pub struct Encoded<A> {
    pub bytes: Vec<u8>,
    pub addrs: Vec<(usize, A)>,
}

impl<A> Encoded<A> {
    fn new<T>() -> Encoded<A> {
        Encoded {
            bytes: vec![0; size_of::<T>()],
            addrs: Vec::new(),
        }
    }

    fn put(&mut self, at: usize, b: &[u8]) -> &mut Self {
        self.bytes[at..at + b.len()].copy_from_slice(b);
        self
    }

    fn u32(&mut self, at: usize, v: u32) -> &mut Self {
        self.put(at, &v.to_le_bytes())
    }

    fn u64(&mut self, at: usize, v: u64) -> &mut Self {
        self.put(at, &v.to_le_bytes())
    }

    fn addr(&mut self, at: usize, a: A) -> &mut Self {
        self.addrs.push((at, a));
        self
    }

    fn done(&mut self) -> Encoded<A> {
        Encoded {
            bytes: core::mem::take(&mut self.bytes),
            addrs: core::mem::take(&mut self.addrs),
        }
    }
}

impl FuncRecord {
    pub fn encode<A>(code: A, code_size: u32, type_id: u32) -> Encoded<A> {
        Encoded::new::<FuncRecord>()
            .addr(offset_of!(FuncRecord, code), code)
            .u32(offset_of!(FuncRecord, code_size), code_size)
            .u32(offset_of!(FuncRecord, type_id), type_id)
            .done()
    }
}

impl TrapSite {
    pub fn encode<A>(func_index: u32, offset: u32, code: Trap) -> Encoded<A> {
        Encoded::new::<TrapSite>()
            .u32(offset_of!(TrapSite, func_index), func_index)
            .u32(offset_of!(TrapSite, offset), offset)
            .u32(offset_of!(TrapSite, code), code as u32)
            .done()
    }
}

impl Bytes {
    /// A byte string of `len` bytes at address `ptr`.
    pub fn encode<A>(ptr: A, len: u64) -> Encoded<A> {
        Encoded::new::<Bytes>()
            .addr(offset_of!(Bytes, ptr), ptr)
            .u64(offset_of!(Bytes, len), len)
            .done()
    }
}

impl TableType {
    pub fn encode<A>(min: u64, max: Option<u64>, elem: ValType) -> Encoded<A> {
        Encoded::new::<TableType>()
            .u64(offset_of!(TableType, min), min)
            .u64(offset_of!(TableType, max), max.unwrap_or(u64::MAX))
            .put(offset_of!(TableType, elem), &[elem as u8])
            .done()
    }
}

impl ExportDesc {
    /// `name`, `params` and `results` are (address, length) of byte strings;
    /// `trampoline` is there for function exports only.
    pub fn encode<A>(
        name: (A, u64),
        kind: u8,
        index: u32,
        trampoline: Option<A>,
        params: (A, u64),
        results: (A, u64),
    ) -> Encoded<A> {
        let mut e = Encoded::new::<ExportDesc>();
        let field = |e: &mut Encoded<A>, at: usize, (ptr, len): (A, u64)| {
            e.addr(at + offset_of!(Bytes, ptr), ptr)
                .u64(at + offset_of!(Bytes, len), len);
        };
        field(&mut e, offset_of!(ExportDesc, name), name);
        e.put(offset_of!(ExportDesc, kind), &[kind])
            .u32(offset_of!(ExportDesc, index), index);
        if let Some(t) = trampoline {
            e.addr(offset_of!(ExportDesc, trampoline), t);
        }
        field(&mut e, offset_of!(ExportDesc, params), params);
        field(&mut e, offset_of!(ExportDesc, results), results);
        e.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export_kind;

    /// What the linker does: every address field gets its (here: numeric) target.
    fn link(e: Encoded<u64>) -> Vec<u8> {
        let mut b = e.bytes;
        for (at, a) in e.addrs {
            b[at..at + 8].copy_from_slice(&a.to_le_bytes());
        }
        b
    }

    /// Reads the linked bytes as the runtime does: as the struct itself.
    fn read<T>(b: &[u8]) -> T {
        assert_eq!(b.len(), size_of::<T>());
        // SAFETY: `b` holds exactly `size_of::<T>()` bytes, and every `T` here is a
        // `#[repr(C)]` struct of integers, for which any bit pattern is valid.
        unsafe { core::ptr::read_unaligned(b.as_ptr() as *const T) }
    }

    #[test]
    fn func_record_round_trips() {
        let r: FuncRecord = read(&link(FuncRecord::encode(
            0x1122_3344_5566_7788,
            0xaaaa,
            0xbbbb,
        )));
        assert_eq!(
            (r.code, r.code_size, r.type_id),
            (0x1122_3344_5566_7788, 0xaaaa, 0xbbbb)
        );
    }

    #[test]
    fn trap_site_round_trips() {
        let t: TrapSite = read(&link(TrapSite::encode(7, 0x1234, Trap::IntegerOverflow)));
        assert_eq!(
            (t.func_index, t.offset, t.code, t._pad),
            (7, 0x1234, Trap::IntegerOverflow as u32, 0)
        );
    }

    #[test]
    fn bytes_and_table_type_round_trip() {
        let b: Bytes = read(&link(Bytes::encode(0xdead_beef, 42)));
        assert_eq!((b.ptr, b.len), (0xdead_beef, 42));
        let t: TableType = read(&link(TableType::encode(3, Some(9), ValType::ExternRef)));
        assert_eq!(
            (t.min, t.max, t.elem, t._pad),
            (3, 9, ValType::ExternRef as u8, [0; 7])
        );
        let t: TableType = read(&link(TableType::encode::<u64>(1, None, ValType::FuncRef)));
        assert_eq!(t.max, u64::MAX);
    }

    #[test]
    fn export_desc_round_trips() {
        let e: ExportDesc = read(&link(ExportDesc::encode(
            (0x100, 5),
            export_kind::FUNC,
            12,
            Some(0x200),
            (0x300, 2),
            (0x400, 1),
        )));
        assert_eq!(
            (e.name.ptr, e.name.len, e.kind, e.index, e.trampoline),
            (0x100, 5, export_kind::FUNC, 12, 0x200)
        );
        assert_eq!(
            (e.params.ptr, e.params.len, e.results.ptr, e.results.len),
            (0x300, 2, 0x400, 1)
        );
        let g: ExportDesc = read(&link(ExportDesc::encode(
            (0x100, 1),
            export_kind::GLOBAL,
            3,
            None,
            (0, 0),
            (0, 0),
        )));
        assert_eq!((g.kind, g.index, g.trampoline), (export_kind::GLOBAL, 3, 0));
    }
}
