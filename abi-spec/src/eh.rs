//! Exception handling (the WebAssembly exception-handling proposal, `try_table`,
//! `throw`, `throw_ref`): the exception object generated code builds, and the table of
//! handlers per function the runtime's unwinder reads.
//!
//! A call inside a `try_table` is a Cranelift `try_call`: where it returns normally the
//! code goes on; where an exception unwinds to it, the runtime enters the handler the
//! table names for that call, with the stack pointer the call had, the function's
//! frame pointer, and the exception in the first result register. Nothing else is
//! restored: wasmc's copy of Cranelift treats every register as clobbered by a
//! `try_call` (`compiler/vendor/cranelift-codegen/WASMC.md`), so no value lives in a
//! register across one.
//!
//! An exception is `[tag: u32, n: u32, payload: n × u64]` in the runtime's heap: the
//! tag's index in the module, and one 8-byte slot per payload value (a 32-bit value in
//! the low half), written and read only by generated code.
//!
//! A table is little-endian u32s: the number of call sites, then per site (ascending by
//! return offset) `[return offset, sp_to_fp, first handler, number of handlers]`, then
//! the handlers `[tag, handler offset]` (offsets from the function's code address;
//! `sp_to_fp` is the distance from the stack pointer at the call up to the frame
//! pointer). The handlers of a site are in the order the Wasm semantics try them
//! (innermost `try_table` first, each one's clauses in order); [`CATCH_ALL`] matches any
//! tag.

/// The tag of a handler that catches every exception (`catch_all`, `catch_all_ref`).
pub const CATCH_ALL: u32 = u32::MAX;

/// Bytes before the payload in an exception.
pub const PAYLOAD_OFFSET: i32 = 8;

/// Offset of payload value `i` in an exception.
pub const fn payload_offset(i: u32) -> i32 {
    PAYLOAD_OFFSET + 8 * i as i32
}

extern crate alloc;

use alloc::vec::Vec;

/// One call site with handlers, as the compiler describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub ret_off: u32,
    pub sp_to_fp: u32,
    /// (tag or [`CATCH_ALL`], handler offset), in the order they are tried.
    pub handlers: Vec<(u32, u32)>,
}

/// The table of `sites` (any order).
pub fn encode(mut sites: Vec<Site>) -> Vec<u8> {
    sites.sort_by_key(|s| s.ret_off);
    let mut words = alloc::vec![sites.len() as u32];
    let mut first = 0u32;
    for s in &sites {
        words.extend([s.ret_off, s.sp_to_fp, first, s.handlers.len() as u32]);
        first += s.handlers.len() as u32;
    }
    for s in &sites {
        for &(tag, off) in &s.handlers {
            words.extend([tag, off]);
        }
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A function's table, read in place.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    words: &'a [u8],
    sites: usize,
}

fn word(bytes: &[u8], i: usize) -> Option<u32> {
    let b = bytes.get(4 * i..4 * i + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> Table<'a> {
    /// The table at the start of `bytes`, if its sites fit.
    pub fn new(bytes: &'a [u8]) -> Option<Table<'a>> {
        let sites = word(bytes, 0)? as usize;
        word(bytes, 4 * sites)?;
        Some(Table {
            words: bytes,
            sites,
        })
    }

    /// The table a descriptor's `eh_tables` entry points to.
    ///
    /// # Safety
    /// `p` is such an entry: the compiler wrote a whole table there, never changed.
    pub unsafe fn at(p: *const u8) -> Option<Table<'static>> {
        // SAFETY: a table starts with its number of sites (caller).
        let sites = u32::from_le(unsafe { core::ptr::read_unaligned(p as *const u32) });
        let mut len = 4 * (1 + 4 * sites as usize);
        // SAFETY: the sites follow (caller); the last one says where the handlers end.
        if sites > 0 {
            let last = unsafe { core::slice::from_raw_parts(p, len) };
            let end = word(last, 4 * sites as usize - 1)? + word(last, 4 * sites as usize)?;
            len += 8 * end as usize;
        }
        // SAFETY: the whole table is `len` bytes (caller).
        Table::new(unsafe { core::slice::from_raw_parts(p, len) })
    }

    /// The handlers of the call returning to `ret_off`: the stack pointer's distance to
    /// the frame pointer at the call, and (tag, handler offset) pairs in order.
    pub fn site(&self, ret_off: u32) -> Option<(u32, impl Iterator<Item = (u32, u32)> + 'a)> {
        let at = |i: usize, f: usize| word(self.words, 1 + 4 * i + f);
        let (mut lo, mut hi) = (0, self.sites);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let off = at(mid, 0)?;
            if off == ret_off {
                let (sp_to_fp, first, n) = (at(mid, 1)?, at(mid, 2)?, at(mid, 3)?);
                let base = 1 + 4 * self.sites;
                let words = self.words;
                let handlers = (first..first + n).filter_map(move |h| {
                    let i = base + 2 * h as usize;
                    Some((word(words, i)?, word(words, i + 1)?))
                });
                return Some((sp_to_fp, handlers));
            }
            if off < ret_off {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_table_finds_each_site_and_its_handlers_in_order() {
        let bytes = encode(vec![
            Site {
                ret_off: 40,
                sp_to_fp: 32,
                handlers: vec![(3, 100), (CATCH_ALL, 120)],
            },
            Site {
                ret_off: 8,
                sp_to_fp: 16,
                handlers: vec![(1, 60)],
            },
        ]);
        let t = Table::new(&bytes).unwrap();
        let (sp, h) = t.site(40).unwrap();
        assert_eq!(sp, 32);
        assert_eq!(h.collect::<Vec<_>>(), vec![(3, 100), (CATCH_ALL, 120)]);
        let (sp, h) = t.site(8).unwrap();
        assert_eq!(sp, 16);
        assert_eq!(h.collect::<Vec<_>>(), vec![(1, 60)]);
        assert!(t.site(9).is_none());
        // SAFETY: `bytes` holds a whole table.
        let in_place = unsafe { Table::at(bytes.as_ptr()) }.unwrap();
        assert_eq!(in_place.words.len(), bytes.len());
    }
}
