//! Reading a checkpoint file without holding its linear memory: [`stream`] reads the
//! header and the memory section from a [`Source`], and hands each memory run's bytes
//! straight to where the caller wants them (a restoring runtime: its own linear memory);
//! [`Streamed::finish`] then reads the small rest of the file and validates the whole as
//! [`read_checkpoint`] does, checksum included.
//!
//! [`read_checkpoint`] needs the whole file in memory, so a restore read a checkpoint of
//! N bytes of memory into a buffer, copied the runs into linear memory and kept the
//! buffer for the process (the WASI state borrows names from it): twice the memory, for
//! the whole run. Streamed, memory is read once, into place, and only the sections
//! after it (globals, tables, segments, frames, WASI) stay in a buffer.
//!
//! The checks are [`read_checkpoint`]'s, made as the bytes arrive, so a bad file is
//! refused with the same messages, but possibly after some runs were written: a caller
//! must not run anything from that memory before `finish` succeeds. Where a check fails
//! before the checksum could be checked, the rest of the file is read through it first,
//! so that a corrupted file is refused as corrupted, as `read_checkpoint` refuses it.

use super::read::{
    assemble, check_run, check_versions, header, memory_size, run_shape, section_len,
    split_sections, Cursor, Header, SHORT_SECTION,
};
use super::*;

extern crate alloc;
use alloc::vec::Vec;

/// The bytes of a checkpoint, in order.
pub trait Source {
    /// Fills `buf` with the next bytes; `FormatError::Truncated` if the input ends first.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), FormatError>;
    /// How many bytes are left (a file: its size when opened, less what was read), or
    /// `None` for an input that tells where it ends only when it gets there (a
    /// migration stream's segment, `stream::SegmentSource`).
    fn left(&self) -> Option<u64>;
    /// Appends the rest of the input to `out`. The default reads [`Self::left`] bytes.
    fn read_to_end(&mut self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let n = self.left().ok_or(FormatError::Truncated)?;
        let n = usize::try_from(n).map_err(|_| FormatError::Truncated)?;
        out.try_reserve_exact(n)
            .map_err(|_| FormatError::Malformed("not enough memory to read the checkpoint"))?;
        let at = out.len();
        out.resize(at + n, 0);
        self.fill(&mut out[at..])
    }
}

impl<S: Source + ?Sized> Source for &mut S {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), FormatError> {
        (**self).fill(buf)
    }
    fn left(&self) -> Option<u64> {
        (**self).left()
    }
    fn read_to_end(&mut self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        (**self).read_to_end(out)
    }
}

/// A checkpoint already in memory (a migration stream's segment).
impl Source for &[u8] {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), FormatError> {
        if buf.len() > self.len() {
            return Err(FormatError::Truncated);
        }
        let (head, rest) = self.split_at(buf.len());
        buf.copy_from_slice(head);
        *self = rest;
        Ok(())
    }
    fn left(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
}

/// A checkpoint whose header and memory section are being read (see the module).
pub struct Streamed<S> {
    src: S,
    hash: Checksum,
    header: Header,
    size: u64,
    /// Bytes of the memory section not read yet.
    section_left: u64,
    /// End of the last run read.
    end: Option<u64>,
    nonzero: u64,
}

/// Runs are read and hashed this much at a time, so the checksum reads what the read
/// just wrote while it is still in cache.
const PIECE: usize = 256 << 10;

/// Reads and checks the header and the start of the memory section.
pub fn stream<S: Source>(mut src: S) -> Result<Streamed<S>, FormatError> {
    let mut head = [0u8; HEADER_SIZE];
    let n = src
        .left()
        .map_or(HEADER_SIZE, |l| l.min(HEADER_SIZE as u64) as usize);
    src.fill(&mut head[..n])?;
    check_versions(&head[..n])?;
    // The header, the memory section's tag, length and size, and the trailer.
    let short = |src: &S, need: u64| src.left().is_some_and(|l| l < need);
    if n < HEADER_SIZE || short(&src, (20 + TRAILER_SIZE) as u64) {
        return Err(FormatError::Truncated);
    }
    let mut hash = Checksum::new();
    let mut zeroed = head;
    zeroed[ISA_OFFSET] = 0;
    hash.update(&zeroed);
    let mut start = [0u8; 20];
    src.fill(&mut start)?;
    hash.update(&start);
    let opened = (|| {
        let header = header(&head)?;
        let mut c = Cursor::truncated(&start);
        let len = section_len(&mut c, 0)?;
        // What follows the size: the runs, then at least the trailer.
        let section_left = len.checked_sub(8).ok_or(SHORT_SECTION)?;
        if short(&src, section_left.saturating_add(TRAILER_SIZE as u64)) {
            return Err(FormatError::Truncated);
        }
        Ok((header, section_left, memory_size(&mut c)?))
    })();
    match opened {
        Ok((header, section_left, size)) => Ok(Streamed {
            src,
            hash,
            header,
            size,
            section_left,
            end: None,
            nonzero: 0,
        }),
        Err(e) => Err(settle(&mut src, &mut hash, e)),
    }
}

/// What to report for an error found before the checksum could be checked: like
/// [`read_checkpoint`], a file whose checksum does not match is corrupted, whatever
/// else is wrong with it. So the rest is read through the checksum first (a refused
/// file only), and `e` stands only if the file is intact.
fn settle<S: Source>(src: &mut S, hash: &mut Checksum, e: FormatError) -> FormatError {
    if e == FormatError::Truncated {
        return e;
    }
    let Some(mut left) = src.left() else {
        // An input of unknown length: all of the rest, then its last bytes are the
        // trailer.
        let mut rest = Vec::new();
        if src.read_to_end(&mut rest).is_err() || rest.len() < TRAILER_SIZE {
            return FormatError::Truncated;
        }
        let (body, trailer) = rest.split_at(rest.len() - TRAILER_SIZE);
        hash.update(body);
        return if hash.finish().to_le_bytes() != trailer {
            FormatError::Checksum
        } else {
            e
        };
    };
    let mut buf = [0u8; 4096];
    while left > TRAILER_SIZE as u64 {
        let n = (left - TRAILER_SIZE as u64).min(buf.len() as u64) as usize;
        if src.fill(&mut buf[..n]).is_err() {
            return FormatError::Truncated;
        }
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    let mut trailer = [0u8; TRAILER_SIZE];
    match src.fill(&mut trailer) {
        Err(_) => FormatError::Truncated,
        Ok(()) if hash.finish().to_le_bytes() != trailer => FormatError::Checksum,
        Ok(()) => e,
    }
}

impl<S: Source> Streamed<S> {
    /// The module the checkpoint says it is of (not yet covered by the checksum).
    pub fn module_hash(&self) -> &[u8; 32] {
        &self.header.module_hash
    }

    /// What to report for a mismatch the caller found before the checksum was checked
    /// (the module hash, a memory size the module cannot have): reads the rest through
    /// the checksum, so that a corrupted file is refused as corrupted, not for what its
    /// corrupted bytes say.
    pub fn refuse(mut self, e: FormatError) -> FormatError {
        settle(&mut self.src, &mut self.hash, e)
    }

    /// Linear memory's size, in bytes (a multiple of 64 KiB).
    pub fn memory_size(&self) -> u64 {
        self.size
    }

    /// Reads the next memory run into `place(offset, len)`, which must be `len` bytes
    /// long (the run is checked to lie inside the memory size first). `Ok(false)` after
    /// the last run.
    pub fn next_run<'m>(
        &mut self,
        place: impl FnOnce(u64, u64) -> Option<&'m mut [u8]>,
    ) -> Result<bool, FormatError> {
        if self.section_left == 0 {
            return Ok(false);
        }
        self.run(place)
            .map_err(|e| settle(&mut self.src, &mut self.hash, e))?;
        Ok(true)
    }

    fn run<'m>(
        &mut self,
        place: impl FnOnce(u64, u64) -> Option<&'m mut [u8]>,
    ) -> Result<(), FormatError> {
        if self.section_left < 16 {
            return Err(SHORT_SECTION);
        }
        let mut head = [0u8; 16];
        self.src.fill(&mut head)?;
        self.hash.update(&head);
        self.section_left -= 16;
        let word = |k: usize| u64::from_le_bytes(head[k..k + 8].try_into().unwrap_or([0; 8]));
        let (offset, len) = (word(0), word(8));
        // `read_checkpoint`'s order: the run's shape, that its bytes are there, then
        // where it lies.
        run_shape(offset, len)?;
        if len > self.section_left {
            return Err(SHORT_SECTION);
        }
        self.end = Some(check_run(offset, len, self.size, self.end)?);
        let dest = place(offset, len)
            .filter(|d| d.len() as u64 == len)
            .ok_or(FormatError::Malformed("checkpoint memory run out of range"))?;
        for piece in dest.chunks_mut(PIECE) {
            self.src.fill(piece)?;
            self.hash.update(piece);
        }
        self.section_left -= len;
        self.nonzero += len;
        Ok(())
    }

    /// How many bytes [`Self::finish`] reads: the sections after memory and the trailer
    /// (`None` if the input does not say: then [`Self::read_rest`]).
    pub fn rest_len(&self) -> Option<u64> {
        self.src.left()
    }

    fn memory_read_whole(&self) -> Result<(), FormatError> {
        if self.section_left != 0 {
            return Err(FormatError::Malformed(
                "checkpoint memory was not read whole",
            ));
        }
        Ok(())
    }

    /// After the last run: reads the rest of the file into `rest` ([`Self::rest_len`]
    /// bytes) and validates all of it, returning the view (whose memory has no runs:
    /// they are in place).
    pub fn finish<'r>(mut self, rest: &'r mut [u8]) -> Result<CheckpointView<'r>, FormatError> {
        self.memory_read_whole()?;
        if self.src.left() != Some(rest.len() as u64) {
            return Err(FormatError::Truncated);
        }
        self.src.fill(rest)?;
        let rest: &'r [u8] = rest;
        self.validate(rest)
    }

    /// After the last run, for an input of unknown length: appends all the rest to
    /// `out`, for [`Self::finish_read`].
    pub fn read_rest(&mut self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        self.memory_read_whole()?;
        self.src.read_to_end(out)
    }

    /// Validates the whole checkpoint, `rest` being what [`Self::read_rest`] read.
    pub fn finish_read(self, rest: &[u8]) -> Result<CheckpointView<'_>, FormatError> {
        self.validate(rest)
    }

    fn validate(mut self, rest: &[u8]) -> Result<CheckpointView<'_>, FormatError> {
        let n = rest.len();
        if n < TRAILER_SIZE {
            return Err(FormatError::Truncated);
        }
        let (body, trailer) = rest.split_at(n - TRAILER_SIZE);
        self.hash.update(body);
        let sections = split_sections::<5>(rest, 1);
        if self.hash.finish().to_le_bytes() != trailer {
            return Err(match sections {
                Err(FormatError::Truncated) => FormatError::Truncated,
                _ => FormatError::Checksum,
            });
        }
        assemble(
            self.header,
            MemoryView::placed(self.size, self.nonzero),
            sections?,
        )
    }
}
