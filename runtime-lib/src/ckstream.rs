//! Checkpoints over TCP (abi-spec `stream`, SPEC.md §4): the source's send and the
//! destination's receive. Mechanism only: what a failure means for the program (keep
//! running, fall back to a file, refuse) is `migrate`'s policy.

use crate::net::{IoError, Socket};
use abi_spec::checkpoint::{Sink, WriteError};
use abi_spec::stream::{self as st, Hello, Refusal, StreamMac, Verdict};
use alloc::vec::Vec;
use core::net::SocketAddr;

/// Where and how a stream goes, from the `WASMC_MIGRATE_*` controls.
pub struct Link {
    pub key: &'static [u8],
    /// Seconds a transfer may go without progress.
    pub timeout: u64,
    pub compress: bool,
}

/// How a send ended.
pub enum Sent {
    /// The destination has the checkpoint and runs it.
    Accepted,
    /// The destination cannot have it (nothing sent, a stream cut short, or a refusal
    /// it authenticated): the program may go on here.
    NotTaken(&'static str),
    /// The whole stream went out, but no authentic verdict came back: the destination
    /// may be running it.
    Unconfirmed(&'static str),
}

/// A [`Sink`] that cuts a segment's payload into blocks, compresses them, feeds the
/// segment's MAC and sends them.
pub struct StreamSink<'a> {
    sock: &'a Socket,
    mac: StreamMac,
    compress: bool,
    /// Raw bytes of the block being filled.
    raw: Vec<u8>,
    wire: Vec<u8>,
    scratch: Vec<u8>,
    /// Bytes on the wire so far.
    pub sent: u64,
}

impl StreamSink<'_> {
    fn emit(&mut self, block: Option<&[u8]>) -> Result<(), IoError> {
        let block = block.unwrap_or(&self.raw);
        self.wire.clear();
        st::encode_block(block, self.compress, &mut self.scratch, &mut self.wire);
        self.mac.update(&self.wire);
        self.sent += self.wire.len() as u64;
        self.sock.write_all(&self.wire)
    }

    /// Sends the last block, the end header and the MAC; returns the bytes sent.
    fn finish(mut self) -> Result<u64, IoError> {
        if !self.raw.is_empty() {
            self.emit(None)?;
        }
        self.mac.update(&[0; 4]);
        self.sock.write_all(&[0; 4])?;
        self.sock.write_all(&self.mac.finish())?;
        Ok(self.sent + 4 + st::MAC_LEN as u64)
    }
}

impl Sink for StreamSink<'_> {
    type Error = IoError;
    fn write(&mut self, mut bytes: &[u8]) -> Result<(), IoError> {
        if !self.raw.is_empty() {
            let take = bytes.len().min(st::BLOCK - self.raw.len());
            self.raw.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.raw.len() < st::BLOCK {
                return Ok(());
            }
            self.emit(None)?;
            self.raw.clear();
        }
        // Whole blocks of a memory run go straight from the instance.
        while bytes.len() >= st::BLOCK {
            self.emit(Some(&bytes[..st::BLOCK]))?;
            bytes = &bytes[st::BLOCK..];
        }
        self.raw.extend_from_slice(bytes);
        Ok(())
    }
}

/// A source's open connection to a destination that holds the key and runs this module.
pub struct Session {
    sock: Socket,
    hello: [u8; st::HELLO_LEN],
    offer: [u8; st::OFFER_LEN],
    key: &'static [u8],
    compress: bool,
    /// The next segment's number.
    pub seq: u32,
    /// Bytes on the wire so far (after the handshake).
    pub sent: u64,
    /// PAGES segments whose receipt has not been read.
    unreceipted: Vec<u32>,
}

impl Session {
    /// Connects to `to` and checks its greeting.
    pub fn open(to: &SocketAddr, link: &Link, module_hash: &[u8; 32]) -> Result<Session, &'static str> {
        let sock = match Socket::connect(to, link.timeout) {
            Ok(s) => s,
            Err(IoError::Failed) => return Err("cannot connect (nobody listening there?)"),
            Err(e) => return Err(e.message()),
        };
        let mut hello = [0u8; st::HELLO_LEN];
        sock.read_exact(&mut hello).map_err(IoError::message)?;
        let h = Hello::decode(link.key, &hello)?;
        if h.abi_version != abi_spec::ABI_VERSION || h.module_hash != *module_hash {
            return Err("the destination runs another module or wasmc version");
        }
        let offer = st::offer(if link.compress { st::FLAG_LZ4 } else { 0 }, crate::net::random());
        sock.write_all(&offer).map_err(IoError::message)?;
        Ok(Session { sock, hello, offer, key: link.key, compress: link.compress, seq: 0, sent: 0, unreceipted: Vec::new() })
    }

    /// Sends one segment of `kind`, whose payload `write` writes into the sink.
    pub fn segment(
        &mut self,
        kind: u32,
        stopped_ns: u64,
        write: impl FnOnce(&mut StreamSink) -> Result<(), WriteError<IoError>>,
    ) -> Result<(), &'static str> {
        let header = st::Segment { kind, seq: self.seq, stopped_ns }.encode();
        self.sock.write_all(&header).map_err(IoError::message)?;
        let mut sink = StreamSink {
            sock: &self.sock,
            mac: StreamMac::new(self.key, &self.hello, &self.offer, &header),
            compress: self.compress,
            raw: Vec::with_capacity(st::BLOCK),
            wire: Vec::new(),
            scratch: Vec::new(),
            sent: 0,
        };
        match write(&mut sink) {
            Ok(()) => {}
            Err(WriteError::Sink(e)) => return Err(e.message()),
            Err(WriteError::Invalid(msg)) => return Err(msg),
        }
        self.sent += st::SEGMENT_LEN as u64 + sink.finish().map_err(IoError::message)?;
        if kind == st::SEG_PAGES {
            self.unreceipted.push(self.seq);
        }
        self.seq += 1;
        Ok(())
    }

    /// Waits until the destination has every PAGES segment sent so far in place.
    pub fn await_receipts(&mut self) -> Result<(), &'static str> {
        for seq in core::mem::take(&mut self.unreceipted) {
            let mut b = [0u8; st::VERDICT_LEN];
            self.sock.read_exact(&mut b).map_err(IoError::message)?;
            if !st::is_round_receipt(self.key, &self.hello, &self.offer, seq, &b) {
                return Err("the destination's receipt for a round is not authentic");
            }
        }
        Ok(())
    }

    /// Waits for the destination's verdict on the whole stream (after the receipts
    /// still due).
    pub fn verdict(&mut self) -> Sent {
        if let Err(why) = self.await_receipts() {
            return Sent::Unconfirmed(why);
        }
        let mut verdict = [0u8; st::VERDICT_LEN];
        if let Err(e) = self.sock.read_exact(&mut verdict) {
            return Sent::Unconfirmed(e.message());
        }
        match st::read_verdict(self.key, &self.hello, &self.offer, &verdict) {
            Verdict::Accepted => Sent::Accepted,
            Verdict::Refused(r) => Sent::NotTaken(r.message()),
            Verdict::Garbled => Sent::Unconfirmed("the destination's answer is not authentic"),
        }
    }
}


/// A stream whose checkpoint segment has begun: its payload is read as it is restored
/// ([`Self::checkpoint`]), and its sender waits for the verdict.
pub struct Received {
    sock: Socket,
    hello: [u8; st::HELLO_LEN],
    offer: [u8; st::OFFER_LEN],
    /// The checkpoint segment's MAC, its header fed in.
    mac: Option<StreamMac>,
    max: u64,
}

/// What an I/O failure on the connection means for the stream.
fn io_refusal(e: IoError) -> Refusal {
    if e == IoError::TimedOut {
        Refusal::Stalled
    } else {
        Refusal::BadStream
    }
}

impl Received {
    /// The checkpoint segment's payload, as a checkpoint source that checks the MAC at
    /// the segment's end (once only).
    pub fn checkpoint(&mut self) -> st::SegmentSource<impl FnMut(&mut [u8]) -> Result<(), Refusal> + '_> {
        let mac = self.mac.take().expect("one checkpoint segment");
        let sock = &self.sock;
        st::SegmentSource::new(move |buf: &mut [u8]| sock.read_exact(buf).map_err(io_refusal), mac, self.max)
    }

    /// Tells the source whether this node runs the checkpoint (`None`: it does). An
    /// answer that cannot be delivered changes nothing here: the source then keeps the
    /// checkpoint in a file.
    pub fn answer(&self, key: &[u8], refusal: Option<Refusal>) {
        let _ = self.sock.write_all(&st::verdict(key, &self.hello, &self.offer, refusal));
    }
}

/// A bound listener, and where it listens.
pub fn listen(addr: &SocketAddr) -> Result<(Socket, u16), &'static str> {
    let s = Socket::listen(addr)?;
    let port = s.local_port();
    Ok((s, port))
}

/// What a destination learnt about a stream, for `WASMC_MIGRATE_STATS`.
#[derive(Clone, Copy, Default)]
pub struct Stats {
    /// PAGES segments before the checkpoint (pre-copy's rounds, and its final stop's).
    pub rounds: u32,
    /// Bytes on the wire after the handshake.
    pub wire: u64,
    /// When the source stopped (CLOCK_REALTIME ns, the source's clock).
    pub stopped_ns: u64,
}

/// Takes one connection on `listener` and receives a checkpoint of `module_hash` from
/// it, of at most `max` bytes. The pages of pre-copy rounds go to `pages` (offset,
/// bytes) as soon as their segment's MAC checks out. Returns when the checkpoint
/// segment begins: its payload is read while it is restored ([`Received::checkpoint`]),
/// so the destination never holds a copy of the memory it carries. A refusal has been
/// answered (when the connection still allowed it) by the time it is returned.
pub fn receive(
    listener: &Socket,
    link: &Link,
    module_hash: &[u8; 32],
    max: u64,
    mut pages: impl FnMut(u64, &[u8]) -> Result<(), Refusal>,
) -> Result<(Received, Stats), Refusal> {
    let sock = listener.accept(link.timeout).map_err(|_| Refusal::BadStream)?;
    let hello = Hello { abi_version: abi_spec::ABI_VERSION, nonce: crate::net::random(), module_hash: *module_hash }.encode(link.key);
    let io = io_refusal;
    sock.write_all(&hello).map_err(io)?;
    let mut offer = [0u8; st::OFFER_LEN];
    sock.read_exact(&mut offer).map_err(|e| if e == IoError::Closed { Refusal::Declined } else { io(e) })?;
    let refuse = |r: Refusal, offer: &[u8; st::OFFER_LEN]| {
        let _ = sock.write_all(&st::verdict(link.key, &hello, offer, Some(r)));
        r
    };
    st::decode_offer(&offer).map_err(|r| refuse(r, &offer))?;
    let mut stats = Stats::default();
    let mut read = |buf: &mut [u8]| sock.read_exact(buf).map_err(io);
    for seq in 0.. {
        let mut header = [0u8; st::SEGMENT_LEN];
        read(&mut header).map_err(|r| refuse(r, &offer))?;
        stats.wire += st::SEGMENT_LEN as u64;
        let segment = st::Segment::decode(&header, seq).map_err(|r| refuse(r, &offer))?;
        let mac = StreamMac::new(link.key, &hello, &offer, &header);
        if segment.kind == st::SEG_PAGES {
            let bytes = st::read_segment(&mut read, mac, max, &mut stats.wire).map_err(|r| refuse(r, &offer))?;
            for record in st::pages_records(&bytes) {
                let (at, data) = record.map_err(|r| refuse(r, &offer))?;
                pages(at, data).map_err(|r| refuse(r, &offer))?;
            }
            sock.write_all(&st::round_receipt(link.key, &hello, &offer, seq)).map_err(|e| refuse(io(e), &offer))?;
            stats.rounds += 1;
            continue;
        }
        stats.stopped_ns = segment.stopped_ns;
        return Ok((Received { sock, hello, offer, mac: Some(mac), max }, stats));
    }
    unreachable!("the segment loop returns")
}
