//! The migration stream: how a checkpoint travels from a running program to the node
//! that resumes it (SPEC.md §4). Its last segment is the canonical checkpoint, byte for
//! byte; before it, pre-copy sends rounds of memory pages while the program still runs.
//! Around them, a handshake that binds the transfer to one session and one module,
//! blocks that may be LZ4-compressed, and an HMAC-SHA256 per segment under a pre-shared
//! key that the destination checks before it uses anything the segment holds.
//!
//! ```text
//! destination -> source  HELLO    "WASMCHI1" | abi u32 | 0 u32 | nonce[16] | module hash[32]
//!                                  | proof[32]: MAC of the 64 bytes before it
//! source -> destination  OFFER    "WASMCCK1" | flags u32 | 0 u32 | nonce[16]
//!   segments, each:      SEGMENT  kind u32 | seq u32 | stopped-at ns u64
//!                        blocks   header u32 (stored length | LZ4 bit) | stored bytes ...
//!                        end      header 0
//!                        MAC[32]  over HELLO, OFFER, SEGMENT, every header and block
//!   (PAGES segments, then one CHECKPOINT segment)
//!   (after each PAGES segment, destination -> source  ROUND  "WASMCRD1" | seq u32
//!                                  | MAC[32], as a verdict's)
//! destination -> source  VERDICT  "WASMCOK1" or "WASMCNO1" | code u32
//!                                  | MAC[32] over HELLO, OFFER and the 12 bytes before it
//! ```
//!
//! Every MAC is HMAC-SHA256 under the key, with its own domain string first. HELLO's
//! proof lets the source refuse, before sending anything, a destination without the
//! key (the program then keeps running where it is). The two fresh nonces make
//! recorded messages useless in another session: a replayed stream fails the
//! destination's check, a replayed ACK the source's. The source leaves its program only
//! on an ACK whose MAC it has checked, so nobody without the key can make a
//! computation stop.

extern crate alloc;

use alloc::vec::Vec;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

pub const HELLO_MAGIC: [u8; 8] = *b"WASMCHI1";
pub const OFFER_MAGIC: [u8; 8] = *b"WASMCCK1";
pub const ACK_MAGIC: [u8; 8] = *b"WASMCOK1";
pub const ROUND_MAGIC: [u8; 8] = *b"WASMCRD1";
pub const NAK_MAGIC: [u8; 8] = *b"WASMCNO1";

pub const HELLO_LEN: usize = 64 + MAC_LEN;
pub const OFFER_LEN: usize = 32;
pub const SEGMENT_LEN: usize = 16;
pub const MAC_LEN: usize = 32;
pub const VERDICT_LEN: usize = 8 + 4 + MAC_LEN;

/// OFFER flag: blocks may be LZ4-compressed (the source always sets it when it
/// compresses; a block says for itself whether it is).
pub const FLAG_LZ4: u32 = 1;

/// The most raw bytes one block carries.
pub const BLOCK: usize = 1 << 20;
/// Block header bit: the stored bytes are an LZ4 block (else the raw bytes).
pub const LZ4_BIT: u32 = 1 << 31;
/// The most stored bytes a block may have: a compressed block that does not shrink is
/// sent raw instead, so never more than [`BLOCK`].
pub const MAX_STORED: usize = BLOCK;

/// Keys shorter than this are refused: they could be guessed.
pub const MIN_KEY: usize = 16;
/// Keys longer than this are refused: a key file that large is a mistake.
pub const MAX_KEY: usize = 4096;

const HELLO_DOMAIN: &[u8] = b"wasmc migration hello v1";
const STREAM_DOMAIN: &[u8] = b"wasmc migration stream v1";
const VERDICT_DOMAIN: &[u8] = b"wasmc migration verdict v1";

/// The destination's greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub abi_version: u32,
    pub nonce: [u8; 16],
    pub module_hash: [u8; 32],
}

impl Hello {
    pub fn encode(&self, key: &[u8]) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[..8].copy_from_slice(&HELLO_MAGIC);
        b[8..12].copy_from_slice(&self.abi_version.to_le_bytes());
        b[16..32].copy_from_slice(&self.nonce);
        b[32..64].copy_from_slice(&self.module_hash);
        let mut m = keyed(key);
        m.update(HELLO_DOMAIN);
        m.update(&b[..64]);
        b[64..].copy_from_slice(&m.finalize().into_bytes());
        b
    }

    /// Reads a HELLO, checking that its sender holds `key`.
    pub fn decode(key: &[u8], b: &[u8; HELLO_LEN]) -> Result<Hello, &'static str> {
        if b[..8] != HELLO_MAGIC {
            return Err("the peer is not a wasmc migration destination");
        }
        let mut m = keyed(key);
        m.update(HELLO_DOMAIN);
        m.update(&b[..64]);
        if m.verify_slice(&b[64..]).is_err() {
            return Err("the destination does not hold the same key (WASMC_MIGRATE_KEY_FILE)");
        }
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&b[16..32]);
        let mut module_hash = [0u8; 32];
        module_hash.copy_from_slice(&b[32..64]);
        Ok(Hello {
            abi_version: u32::from_le_bytes(b[8..12].try_into().unwrap()),
            nonce,
            module_hash,
        })
    }
}

/// The source's OFFER, with its fresh `nonce`.
pub fn offer(flags: u32, nonce: [u8; 16]) -> [u8; OFFER_LEN] {
    let mut b = [0u8; OFFER_LEN];
    b[..8].copy_from_slice(&OFFER_MAGIC);
    b[8..12].copy_from_slice(&flags.to_le_bytes());
    b[16..32].copy_from_slice(&nonce);
    b
}

/// The flags of an OFFER.
pub fn decode_offer(b: &[u8; OFFER_LEN]) -> Result<u32, Refusal> {
    if b[..8] != OFFER_MAGIC || b[12..16] != [0; 4] {
        return Err(Refusal::BadStream);
    }
    let flags = u32::from_le_bytes(b[8..12].try_into().unwrap());
    if flags & !FLAG_LZ4 != 0 {
        return Err(Refusal::BadStream);
    }
    Ok(flags)
}

/// Why a destination refused a stream: the code of its NAK, and the exit status's
/// one-line message on both sides.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a migration stream, or one cut short.
    BadStream = 1,
    /// The MAC does not match: another key, or bytes changed on the way.
    BadMac = 2,
    /// A checkpoint of another module, or another ABI version.
    OtherModule = 3,
    /// Authentic, but not a checkpoint this executable can resume.
    BadCheckpoint = 4,
    /// Larger than any checkpoint can be.
    TooLarge = 5,
    /// The peer stopped sending.
    Stalled = 6,
    /// The source hung up after the greeting: it holds another key, or runs another
    /// module (only said locally: the source is gone).
    Declined = 7,
}

impl Refusal {
    pub fn from_code(c: u32) -> Option<Refusal> {
        Some(match c {
            1 => Refusal::BadStream,
            2 => Refusal::BadMac,
            3 => Refusal::OtherModule,
            4 => Refusal::BadCheckpoint,
            5 => Refusal::TooLarge,
            6 => Refusal::Stalled,
            7 => Refusal::Declined,
            _ => return None,
        })
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::BadStream => "not a wasmc migration stream, or cut short",
            Refusal::BadMac => "authentication failed (another key, or the stream was altered)",
            Refusal::OtherModule => "the checkpoint is of another module or ABI version",
            Refusal::BadCheckpoint => "the checkpoint does not fit this executable",
            Refusal::TooLarge => "the stream is larger than any checkpoint can be",
            Refusal::Stalled => "the peer stopped sending (WASMC_MIGRATE_TIMEOUT)",
            Refusal::Declined => "the source hung up after the greeting (it holds another key, or runs another module)",
        }
    }
}

fn keyed(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts every key length")
}

/// A segment of memory pages (pre-copy): records `offset u64 | length u32 | bytes`.
pub const SEG_PAGES: u32 = 1;
/// The last segment: a canonical checkpoint. After PAGES segments its memory section
/// has no runs: memory is what the pages said (absent: zero), to the recorded size.
pub const SEG_CHECKPOINT: u32 = 2;

/// A segment's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub kind: u32,
    /// 0, 1, 2, ... in the order sent: a segment cannot be dropped, repeated or moved.
    pub seq: u32,
    /// CHECKPOINT: when the source stopped (CLOCK_REALTIME, ns), for the destination's
    /// downtime report; 0 in PAGES.
    pub stopped_ns: u64,
}

impl Segment {
    pub fn encode(&self) -> [u8; SEGMENT_LEN] {
        let mut b = [0u8; SEGMENT_LEN];
        b[..4].copy_from_slice(&self.kind.to_le_bytes());
        b[4..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..].copy_from_slice(&self.stopped_ns.to_le_bytes());
        b
    }

    /// A segment header, which must be the `seq`-th.
    pub fn decode(b: &[u8; SEGMENT_LEN], seq: u32) -> Result<Segment, Refusal> {
        let s = Segment {
            kind: u32::from_le_bytes(b[..4].try_into().unwrap()),
            seq: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            stopped_ns: u64::from_le_bytes(b[8..].try_into().unwrap()),
        };
        if s.seq != seq || !(s.kind == SEG_PAGES || s.kind == SEG_CHECKPOINT) {
            return Err(Refusal::BadStream);
        }
        Ok(s)
    }
}

/// The header of a PAGES record for `len` bytes at `offset` of linear memory.
pub fn pages_record(offset: u64, len: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&offset.to_le_bytes());
    b[8..].copy_from_slice(&len.to_le_bytes());
    b
}

/// The records of a PAGES segment's payload, in order: (offset, bytes).
pub fn pages_records(mut payload: &[u8]) -> impl Iterator<Item = Result<(u64, &[u8]), Refusal>> {
    core::iter::from_fn(move || {
        if payload.is_empty() {
            return None;
        }
        if payload.len() < 12 {
            payload = &[];
            return Some(Err(Refusal::BadStream));
        }
        let offset = u64::from_le_bytes(payload[..8].try_into().unwrap());
        let len = u32::from_le_bytes(payload[8..12].try_into().unwrap()) as usize;
        if payload.len() - 12 < len {
            payload = &[];
            return Some(Err(Refusal::BadStream));
        }
        let bytes = &payload[12..12 + len];
        payload = &payload[12 + len..];
        Some(Ok((offset, bytes)))
    })
}

/// The MAC of one segment: fed every byte after its header as sent, checked at the end.
pub struct StreamMac(Hmac<Sha256>);

impl StreamMac {
    pub fn new(
        key: &[u8],
        hello: &[u8; HELLO_LEN],
        offer: &[u8; OFFER_LEN],
        segment: &[u8; SEGMENT_LEN],
    ) -> StreamMac {
        let mut m = keyed(key);
        m.update(STREAM_DOMAIN);
        m.update(hello);
        m.update(offer);
        m.update(segment);
        StreamMac(m)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; MAC_LEN] {
        self.0.finalize().into_bytes().into()
    }

    /// Whether `mac` is this stream's, compared in constant time.
    pub fn verify(self, mac: &[u8; MAC_LEN]) -> bool {
        self.0.verify_slice(mac).is_ok()
    }
}

/// A destination's answer: ACK (`refusal` None) or NAK, authenticated for the session.
pub fn verdict(
    key: &[u8],
    hello: &[u8; HELLO_LEN],
    offer: &[u8; OFFER_LEN],
    refusal: Option<Refusal>,
) -> [u8; VERDICT_LEN] {
    let magic = if refusal.is_some() {
        NAK_MAGIC
    } else {
        ACK_MAGIC
    };
    let code = refusal.map_or(0, |r| r as u32);
    let mut b = [0u8; VERDICT_LEN];
    b[..8].copy_from_slice(&magic);
    b[8..12].copy_from_slice(&code.to_le_bytes());
    let mac = verdict_mac(key, hello, offer, &b[..12])
        .finalize()
        .into_bytes();
    b[12..].copy_from_slice(&mac);
    b
}

fn verdict_mac(
    key: &[u8],
    hello: &[u8; HELLO_LEN],
    offer: &[u8; OFFER_LEN],
    head: &[u8],
) -> Hmac<Sha256> {
    let mut m = keyed(key);
    m.update(VERDICT_DOMAIN);
    m.update(hello);
    m.update(offer);
    m.update(head);
    m
}

/// The destination's receipt for PAGES segment `seq` (as long as a verdict): sent once
/// the segment checked out and its pages are in place, so the source knows a round has
/// arrived, not merely left its socket.
pub fn round_receipt(
    key: &[u8],
    hello: &[u8; HELLO_LEN],
    offer: &[u8; OFFER_LEN],
    seq: u32,
) -> [u8; VERDICT_LEN] {
    let mut b = [0u8; VERDICT_LEN];
    b[..8].copy_from_slice(&ROUND_MAGIC);
    b[8..12].copy_from_slice(&seq.to_le_bytes());
    let mac = verdict_mac(key, hello, offer, &b[..12])
        .finalize()
        .into_bytes();
    b[12..].copy_from_slice(&mac);
    b
}

/// Whether `b` is the destination's authentic receipt for PAGES segment `seq`.
pub fn is_round_receipt(
    key: &[u8],
    hello: &[u8; HELLO_LEN],
    offer: &[u8; OFFER_LEN],
    seq: u32,
    b: &[u8; VERDICT_LEN],
) -> bool {
    b[..8] == ROUND_MAGIC
        && b[8..12] == seq.to_le_bytes()
        && verdict_mac(key, hello, offer, &b[..12])
            .verify_slice(&b[12..])
            .is_ok()
}

/// What a source makes of the verdict it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The destination has the checkpoint and resumes it.
    Accepted,
    /// The destination refused, and will not run the checkpoint.
    Refused(Refusal),
    /// Not an authentic verdict of this session: nothing can be concluded.
    Garbled,
}

pub fn read_verdict(
    key: &[u8],
    hello: &[u8; HELLO_LEN],
    offer: &[u8; OFFER_LEN],
    b: &[u8; VERDICT_LEN],
) -> Verdict {
    let code = u32::from_le_bytes(b[8..12].try_into().unwrap());
    if verdict_mac(key, hello, offer, &b[..12])
        .verify_slice(&b[12..])
        .is_err()
    {
        return Verdict::Garbled;
    }
    match (
        b[..8] == ACK_MAGIC,
        b[..8] == NAK_MAGIC,
        Refusal::from_code(code),
    ) {
        (true, _, _) if code == 0 => Verdict::Accepted,
        (_, true, Some(r)) => Verdict::Refused(r),
        _ => Verdict::Garbled,
    }
}

/// Reads the rest of a segment whose header was read: its blocks up to the end header,
/// then its MAC, which must check out; returns the payload, of at most `max` bytes.
/// `read` fills its buffer exactly from the connection (its error is the refusal an I/O
/// failure means); `wire` counts the bytes read. Blocks are decoded before the MAC is
/// checked, by a decoder that is safe on any input; nothing returns until it has been.
pub fn read_segment(
    read: &mut impl FnMut(&mut [u8]) -> Result<(), Refusal>,
    mac: StreamMac,
    max: u64,
    wire: &mut u64,
) -> Result<Vec<u8>, Refusal> {
    let mut src = SegmentSource::new(read, mac, max);
    let mut payload = Vec::new();
    let read = src.drain(&mut payload);
    *wire += src.wire;
    read.map(|()| payload)
}

/// A segment whose header was read, as its payload arrives, block by block: what
/// [`read_segment`] reads, for a reader that takes the payload as it comes (a
/// destination restoring a checkpoint segment puts its memory in place as it arrives,
/// `checkpoint::stream`, and holds no copy of it). The MAC is checked when the end
/// header arrives: until then, what was read may be put in place but not used (SPEC.md
/// §4: nothing runs before the whole segment is authentic). As a checkpoint
/// [`Source`](crate::checkpoint::Source) it has no known length, and any failure reads
/// as a truncated input, with the refusal it means in [`Self::refusal`].
pub struct SegmentSource<R> {
    read: R,
    /// Taken when the end header arrives and the MAC is checked.
    mac: Option<StreamMac>,
    max: u64,
    stored: Vec<u8>,
    /// The decoded block being read, from `at`.
    block: Vec<u8>,
    at: usize,
    /// Payload bytes decoded so far.
    total: u64,
    /// Bytes read from the connection.
    pub wire: u64,
    /// Why the segment was refused, once it was.
    pub refusal: Option<Refusal>,
}

impl<R: FnMut(&mut [u8]) -> Result<(), Refusal>> SegmentSource<R> {
    pub fn new(read: R, mac: StreamMac, max: u64) -> Self {
        SegmentSource {
            read,
            mac: Some(mac),
            max,
            stored: Vec::new(),
            block: Vec::new(),
            at: 0,
            total: 0,
            wire: 0,
            refusal: None,
        }
    }

    /// Whole and authentic: every block read and the MAC checked.
    pub fn verified(&self) -> bool {
        self.mac.is_none() && self.refusal.is_none()
    }

    /// Reads the next block into `block`; `Ok(false)` at the (authentic) end.
    fn next_block(&mut self) -> Result<bool, Refusal> {
        if let Some(r) = self.refusal {
            return Err(r);
        }
        if self.mac.is_none() {
            return Ok(false);
        }
        let step = self.step();
        if let Err(r) = step {
            self.refusal = Some(r);
        }
        step
    }

    /// [`Self::next_block`] before the end.
    fn step(&mut self) -> Result<bool, Refusal> {
        let mac = self.mac.as_mut().expect("the end not reached yet");
        let mut h = [0u8; 4];
        (self.read)(&mut h)?;
        mac.update(&h);
        self.wire += 4;
        let Some((len, lz4)) = decode_header(u32::from_le_bytes(h))? else {
            let mut tag = [0u8; MAC_LEN];
            (self.read)(&mut tag)?;
            self.wire += MAC_LEN as u64;
            if !self.mac.take().is_some_and(|m| m.verify(&tag)) {
                return Err(Refusal::BadMac);
            }
            return Ok(false);
        };
        if self.stored.len() < MAX_STORED {
            self.stored
                .try_reserve_exact(MAX_STORED)
                .map_err(|_| Refusal::TooLarge)?;
            self.stored.resize(MAX_STORED, 0);
            self.block
                .try_reserve_exact(BLOCK)
                .map_err(|_| Refusal::TooLarge)?;
        }
        (self.read)(&mut self.stored[..len])?;
        mac.update(&self.stored[..len]);
        self.wire += len as u64;
        self.block.clear();
        self.at = 0;
        decode_block(&self.stored[..len], lz4, &mut self.block)?;
        self.total += self.block.len() as u64;
        if self.total > self.max {
            return Err(Refusal::TooLarge);
        }
        Ok(true)
    }

    /// Reads the rest of the segment and drops it (a reader that refuses what it read
    /// so far still lets the sender finish, so that it hears the refusal).
    pub fn skip_to_end(&mut self) -> Result<(), Refusal> {
        self.at = self.block.len();
        while self.next_block()? {
            self.at = self.block.len();
        }
        Ok(())
    }

    /// Appends the rest of the payload to `out`, up to the authentic end.
    pub fn drain(&mut self, out: &mut Vec<u8>) -> Result<(), Refusal> {
        loop {
            let rest = &self.block[self.at..];
            out.try_reserve(rest.len()).map_err(|_| Refusal::TooLarge)?;
            out.extend_from_slice(rest);
            self.at = self.block.len();
            if !self.next_block()? {
                return Ok(());
            }
        }
    }
}

impl<R: FnMut(&mut [u8]) -> Result<(), Refusal>> crate::checkpoint::Source for SegmentSource<R> {
    fn fill(&mut self, mut buf: &mut [u8]) -> Result<(), crate::checkpoint::FormatError> {
        while !buf.is_empty() {
            if self.at == self.block.len() && !self.next_block().unwrap_or(false) {
                return Err(crate::checkpoint::FormatError::Truncated);
            }
            let n = buf.len().min(self.block.len() - self.at);
            let (head, tail) = buf.split_at_mut(n);
            head.copy_from_slice(&self.block[self.at..self.at + n]);
            self.at += n;
            buf = tail;
        }
        Ok(())
    }

    fn left(&self) -> Option<u64> {
        None
    }

    fn read_to_end(&mut self, out: &mut Vec<u8>) -> Result<(), crate::checkpoint::FormatError> {
        self.drain(out)
            .map_err(|_| crate::checkpoint::FormatError::Truncated)
    }
}

/// Appends one block for `raw` (at most [`BLOCK`] bytes) to `out`: its header and
/// stored bytes, LZ4-compressed when `compress` and that makes it smaller. `scratch` is
/// reused between calls.
pub fn encode_block(raw: &[u8], compress: bool, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
    assert!(!raw.is_empty() && raw.len() <= BLOCK);
    if compress {
        scratch.resize(lz4_flex::block::get_maximum_output_size(raw.len()), 0);
        if let Ok(n) = lz4_flex::block::compress_into(raw, scratch) {
            if n < raw.len() {
                out.extend_from_slice(&(n as u32 | LZ4_BIT).to_le_bytes());
                out.extend_from_slice(&scratch[..n]);
                return;
            }
        }
    }
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(raw);
}

/// A block header: `None` for the end of the stream, else the stored length and
/// whether it is compressed.
pub fn decode_header(h: u32) -> Result<Option<(usize, bool)>, Refusal> {
    if h == 0 {
        return Ok(None);
    }
    let len = (h & !LZ4_BIT) as usize;
    if len == 0 || len > MAX_STORED {
        return Err(Refusal::BadStream);
    }
    Ok(Some((len, h & LZ4_BIT != 0)))
}

/// Appends the raw bytes of a block to `out`. A compressed block must decode to at
/// most [`BLOCK`] bytes.
pub fn decode_block(stored: &[u8], compressed: bool, out: &mut Vec<u8>) -> Result<(), Refusal> {
    if !compressed {
        out.extend_from_slice(stored);
        return Ok(());
    }
    let at = out.len();
    out.resize(at + BLOCK, 0);
    match lz4_flex::block::decompress_into(stored, &mut out[at..]) {
        Ok(n) if n > 0 => {
            out.truncate(at + n);
            Ok(())
        }
        _ => {
            out.truncate(at);
            Err(Refusal::BadStream)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const KEY: &[u8] = b"0123456789abcdef-test-key";

    const OTHER_KEY: &[u8] = b"another key, as long as the first";

    fn hello() -> [u8; HELLO_LEN] {
        Hello {
            abi_version: crate::ABI_VERSION,
            nonce: [7; 16],
            module_hash: [9; 32],
        }
        .encode(KEY)
    }

    #[test]
    fn hello_round_trips_and_proves_the_key() {
        let h = Hello {
            abi_version: 3,
            nonce: [1; 16],
            module_hash: [2; 32],
        };
        assert_eq!(Hello::decode(KEY, &h.encode(KEY)), Ok(h));
        assert!(Hello::decode(OTHER_KEY, &h.encode(KEY))
            .unwrap_err()
            .contains("key"));
        let mut changed = h.encode(KEY);
        changed[40] ^= 1;
        assert!(Hello::decode(KEY, &changed).is_err(), "another module hash");
        let mut bad = h.encode(KEY);
        bad[0] ^= 1;
        assert!(Hello::decode(KEY, &bad).is_err());
    }

    #[test]
    fn blocks_round_trip_compressed_or_not() {
        let compressible = alloc::vec![42u8; BLOCK];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        let (mut scratch, mut wire) = (Vec::new(), Vec::new());
        encode_block(&compressible, true, &mut scratch, &mut wire);
        let first = wire.len();
        encode_block(&noise, true, &mut scratch, &mut wire);
        encode_block(&noise, false, &mut scratch, &mut wire);
        assert!(
            first < 10_000,
            "a run of one byte compresses ({first} bytes)"
        );
        let mut out = Vec::new();
        let mut at = 0;
        let mut kinds = Vec::new();
        while at < wire.len() {
            let h = u32::from_le_bytes(wire[at..at + 4].try_into().unwrap());
            let (len, lz4) = decode_header(h).unwrap().unwrap();
            decode_block(&wire[at + 4..at + 4 + len], lz4, &mut out).unwrap();
            kinds.push(lz4);
            at += 4 + len;
        }
        assert_eq!(kinds, [true, false, false], "noise is sent raw");
        let mut want = compressible.clone();
        want.extend_from_slice(&noise);
        want.extend_from_slice(&noise);
        assert_eq!(out, want);
    }

    #[test]
    fn bad_blocks_are_refused() {
        assert_eq!(decode_header(0), Ok(None));
        assert_eq!(decode_header(LZ4_BIT), Err(Refusal::BadStream));
        assert_eq!(decode_header((BLOCK + 1) as u32), Err(Refusal::BadStream));
        let mut out = Vec::new();
        assert_eq!(
            decode_block(&[0xff, 0xff, 0xff], true, &mut out),
            Err(Refusal::BadStream)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn the_mac_binds_key_session_and_bytes() {
        let (h, o) = (hello(), offer(FLAG_LZ4, [3; 16]));
        let seg = Segment {
            kind: SEG_CHECKPOINT,
            seq: 0,
            stopped_ns: 0,
        }
        .encode();
        let mut m = StreamMac::new(KEY, &h, &o, &seg);
        m.update(b"payload");
        let mac = m.finish();
        let check = |key: &[u8], hello: &[u8; HELLO_LEN], offer: &[u8; OFFER_LEN], bytes: &[u8]| {
            let mut m = StreamMac::new(key, hello, offer, &seg);
            m.update(bytes);
            m.verify(&mac)
        };
        let moved = Segment {
            kind: SEG_CHECKPOINT,
            seq: 1,
            stopped_ns: 0,
        }
        .encode();
        let mut m = StreamMac::new(KEY, &h, &o, &moved);
        m.update(b"payload");
        assert!(
            !m.verify(&mac),
            "a segment moved to another place in the stream"
        );
        assert!(check(KEY, &h, &o, b"payload"));
        assert!(!check(OTHER_KEY, &h, &o, b"payload"));
        assert!(!check(KEY, &h, &o, b"paylaod"));
        let mut other = h;
        other[20] ^= 1;
        assert!(
            !check(KEY, &other, &o, b"payload"),
            "a stream recorded in another session"
        );
        assert!(!check(KEY, &h, &offer(FLAG_LZ4, [4; 16]), b"payload"));
    }

    #[test]
    fn segments_and_page_records_round_trip() {
        let seg = Segment {
            kind: SEG_PAGES,
            seq: 3,
            stopped_ns: 77,
        };
        assert_eq!(Segment::decode(&seg.encode(), 3), Ok(seg));
        assert_eq!(
            Segment::decode(&seg.encode(), 2),
            Err(Refusal::BadStream),
            "out of order"
        );
        let bad = Segment {
            kind: 9,
            seq: 0,
            stopped_ns: 0,
        };
        assert_eq!(Segment::decode(&bad.encode(), 0), Err(Refusal::BadStream));
        let mut payload = Vec::new();
        payload.extend_from_slice(&pages_record(4096, 3));
        payload.extend_from_slice(b"abc");
        payload.extend_from_slice(&pages_record(1 << 32, 0));
        let got: Vec<_> = pages_records(&payload).collect();
        assert_eq!(got, [Ok((4096, &b"abc"[..])), Ok((1 << 32, &b""[..]))]);
        payload.extend_from_slice(&pages_record(0, 10));
        payload.extend_from_slice(b"short");
        assert_eq!(
            pages_records(&payload).last(),
            Some(Err(Refusal::BadStream))
        );
    }

    /// A segment's bytes after its header, as a source sends them: `payload` in blocks,
    /// the end header, the MAC.
    fn segment_wire(payload: &[u8], key: &[u8]) -> Vec<u8> {
        let header = Segment {
            kind: SEG_CHECKPOINT,
            seq: 0,
            stopped_ns: 0,
        }
        .encode();
        let mut mac = StreamMac::new(key, &hello(), &offer(FLAG_LZ4, [5; 16]), &header);
        let (mut wire, mut scratch) = (vec![], vec![]);
        for block in payload.chunks(BLOCK) {
            let mut b = vec![];
            encode_block(block, true, &mut scratch, &mut b);
            mac.update(&b);
            wire.extend_from_slice(&b);
        }
        mac.update(&[0; 4]);
        wire.extend_from_slice(&[0; 4]);
        wire.extend_from_slice(&mac.finish());
        wire
    }

    fn source_of<'w>(
        wire: &'w [u8],
        max: u64,
    ) -> SegmentSource<impl FnMut(&mut [u8]) -> Result<(), Refusal> + 'w> {
        let header = Segment {
            kind: SEG_CHECKPOINT,
            seq: 0,
            stopped_ns: 0,
        }
        .encode();
        let mac = StreamMac::new(KEY, &hello(), &offer(FLAG_LZ4, [5; 16]), &header);
        let mut at = 0;
        let read = move |buf: &mut [u8]| {
            let end = at + buf.len();
            let bytes = wire.get(at..end).ok_or(Refusal::BadStream)?;
            buf.copy_from_slice(bytes);
            at = end;
            Ok(())
        };
        SegmentSource::new(read, mac, max)
    }

    #[test]
    fn a_segment_reads_the_same_whole_or_piece_by_piece() {
        use crate::checkpoint::{FormatError, Source};
        // Two and a half blocks, half of them compressible.
        let payload: Vec<u8> = (0..(BLOCK * 5 / 2) as u32)
            .map(|i| {
                if i % 2 == 0 {
                    0
                } else {
                    (i.wrapping_mul(2654435761) >> 17) as u8
                }
            })
            .collect();
        let wire = segment_wire(&payload, KEY);
        let (mut wire_count, mut at) = (0, 0);
        let mut read = |buf: &mut [u8]| {
            buf.copy_from_slice(&wire[at..at + buf.len()]);
            at += buf.len();
            Ok(())
        };
        let whole = read_segment(&mut read, mac_for_test(), u64::MAX, &mut wire_count);
        assert_eq!(whole.as_deref(), Ok(&payload[..]));
        assert_eq!(wire_count, wire.len() as u64);
        for piece in [1usize, 4095, 65536, BLOCK + 1] {
            let mut src = source_of(&wire, u64::MAX);
            let mut got = vec![0u8; payload.len() / 2];
            for chunk in got.chunks_mut(piece) {
                src.fill(chunk).unwrap();
            }
            assert!(!src.verified(), "the end is not read yet");
            src.read_to_end(&mut got).unwrap();
            assert!(src.verified());
            assert_eq!(got, payload, "pieces of {piece}");
            assert_eq!(
                src.fill(&mut [0]),
                Err(FormatError::Truncated),
                "past the end"
            );
        }
        // Another key, a flipped byte anywhere, a cut: refused, never verified.
        let mut src = source_of(&wire, u64::MAX);
        let foreign = segment_wire(&payload, OTHER_KEY);
        let mut other = source_of(&foreign, u64::MAX);
        assert!(other.read_to_end(&mut vec![]).is_err());
        assert_eq!(other.refusal, Some(Refusal::BadMac));
        for at in [0, 3, 4, wire.len() / 2, wire.len() - 40, wire.len() - 1] {
            let mut bad = wire.clone();
            bad[at] ^= 0x40;
            let mut src = source_of(&bad, u64::MAX);
            assert!(src.read_to_end(&mut vec![]).is_err(), "byte {at}");
            assert!(src.refusal.is_some() && !src.verified(), "byte {at}");
        }
        let mut cut = source_of(&wire[..wire.len() - 1], u64::MAX);
        assert!(cut.read_to_end(&mut vec![]).is_err() && !cut.verified());
        let mut small = source_of(&wire, BLOCK as u64);
        assert!(small.read_to_end(&mut vec![]).is_err());
        assert_eq!(small.refusal, Some(Refusal::TooLarge));
        assert!(src.read_to_end(&mut vec![]).is_ok() && src.verified());
    }

    fn mac_for_test() -> StreamMac {
        let header = Segment {
            kind: SEG_CHECKPOINT,
            seq: 0,
            stopped_ns: 0,
        }
        .encode();
        StreamMac::new(KEY, &hello(), &offer(FLAG_LZ4, [5; 16]), &header)
    }

    #[test]
    fn verdicts_are_authenticated() {
        let (h, o) = (hello(), offer(0, [5; 16]));
        assert_eq!(
            read_verdict(KEY, &h, &o, &verdict(KEY, &h, &o, None)),
            Verdict::Accepted
        );
        assert_eq!(
            read_verdict(OTHER_KEY, &h, &o, &verdict(KEY, &h, &o, None)),
            Verdict::Garbled
        );
        let other = offer(0, [6; 16]);
        assert_eq!(
            read_verdict(KEY, &h, &other, &verdict(KEY, &h, &o, None)),
            Verdict::Garbled,
            "an ACK of another session"
        );
        assert_eq!(
            read_verdict(KEY, &h, &o, &verdict(KEY, &h, &o, Some(Refusal::BadMac))),
            Verdict::Refused(Refusal::BadMac)
        );
        let receipt = round_receipt(KEY, &h, &o, 2);
        assert!(is_round_receipt(KEY, &h, &o, 2, &receipt));
        assert!(
            !is_round_receipt(KEY, &h, &o, 3, &receipt),
            "a receipt for another round"
        );
        assert!(!is_round_receipt(OTHER_KEY, &h, &o, 2, &receipt));
        assert_eq!(
            read_verdict(KEY, &h, &o, &receipt),
            Verdict::Garbled,
            "a receipt is no verdict"
        );
        let mut forged = verdict(KEY, &h, &o, Some(Refusal::BadMac));
        forged[..8].copy_from_slice(&ACK_MAGIC);
        assert_eq!(read_verdict(KEY, &h, &o, &forged), Verdict::Garbled);
    }
}
