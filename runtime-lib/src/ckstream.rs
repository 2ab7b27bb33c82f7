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

/// A [`Sink`] that cuts the checkpoint into blocks, compresses them, feeds the MAC and
/// sends them.
pub struct StreamSink<'a> {
    sock: &'a Socket,
    mac: StreamMac,
    compress: bool,
    /// Raw bytes of the block being filled.
    raw: Vec<u8>,
    wire: Vec<u8>,
    scratch: Vec<u8>,
}

impl StreamSink<'_> {
    fn emit(&mut self, block: Option<&[u8]>) -> Result<(), IoError> {
        let block = block.unwrap_or(&self.raw);
        self.wire.clear();
        st::encode_block(block, self.compress, &mut self.scratch, &mut self.wire);
        self.mac.update(&self.wire);
        self.sock.write_all(&self.wire)
    }

    /// Sends the last block, the end header and the MAC.
    fn finish(mut self) -> Result<(), IoError> {
        if !self.raw.is_empty() {
            self.emit(None)?;
        }
        self.mac.update(&[0; 4]);
        self.sock.write_all(&[0; 4])?;
        self.sock.write_all(&self.mac.finish())
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

/// Sends a checkpoint of the module `module_hash` to `to`; `write` writes it into the
/// sink it is given.
pub fn send(
    to: &SocketAddr,
    link: &Link,
    module_hash: &[u8; 32],
    write: impl FnOnce(&mut StreamSink) -> Result<(), WriteError<IoError>>,
) -> Sent {
    let sock = match Socket::connect(to, link.timeout) {
        Ok(s) => s,
        Err(IoError::Failed) => return Sent::NotTaken("cannot connect (nobody listening there?)"),
        Err(e) => return Sent::NotTaken(e.message()),
    };
    let mut hello = [0u8; st::HELLO_LEN];
    if let Err(e) = sock.read_exact(&mut hello) {
        return Sent::NotTaken(e.message());
    }
    let h = match Hello::decode(link.key, &hello) {
        Ok(h) => h,
        Err(msg) => return Sent::NotTaken(msg),
    };
    if h.abi_version != abi_spec::ABI_VERSION || h.module_hash != *module_hash {
        return Sent::NotTaken("the destination runs another module or wasmc version");
    }
    let offer = st::offer(if link.compress { st::FLAG_LZ4 } else { 0 }, crate::net::random());
    if let Err(e) = sock.write_all(&offer) {
        return Sent::NotTaken(e.message());
    }
    let mut sink = StreamSink {
        sock: &sock,
        mac: StreamMac::new(link.key, &hello, &offer),
        compress: link.compress,
        raw: Vec::with_capacity(st::BLOCK),
        wire: Vec::new(),
        scratch: Vec::new(),
    };
    match write(&mut sink) {
        Ok(()) => {}
        Err(WriteError::Sink(e)) => return Sent::NotTaken(e.message()),
        Err(WriteError::Invalid(msg)) => return Sent::NotTaken(msg),
    }
    if let Err(e) = sink.finish() {
        return Sent::NotTaken(e.message());
    }
    let mut verdict = [0u8; st::VERDICT_LEN];
    if let Err(e) = sock.read_exact(&mut verdict) {
        return Sent::Unconfirmed(e.message());
    }
    match st::read_verdict(link.key, &hello, &offer, &verdict) {
        Verdict::Accepted => Sent::Accepted,
        Verdict::Refused(r) => Sent::NotTaken(r.message()),
        Verdict::Garbled => Sent::Unconfirmed("the destination's answer is not authentic"),
    }
}

/// A checkpoint received and authenticated, whose sender waits for the verdict.
pub struct Received {
    sock: Socket,
    hello: [u8; st::HELLO_LEN],
    offer: [u8; st::OFFER_LEN],
    pub bytes: Vec<u8>,
}

impl Received {
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

/// Takes one connection on `listener` and receives a checkpoint of `module_hash` from
/// it, of at most `max` bytes. A refusal has been answered (when the connection still
/// allowed it) by the time it is returned.
pub fn receive(listener: &Socket, link: &Link, module_hash: &[u8; 32], max: u64) -> Result<Received, Refusal> {
    let sock = listener.accept(link.timeout).map_err(|_| Refusal::BadStream)?;
    let hello = Hello { abi_version: abi_spec::ABI_VERSION, nonce: crate::net::random(), module_hash: *module_hash }.encode(link.key);
    let io = |e: IoError| if e == IoError::TimedOut { Refusal::Stalled } else { Refusal::BadStream };
    sock.write_all(&hello).map_err(io)?;
    let mut offer = [0u8; st::OFFER_LEN];
    sock.read_exact(&mut offer).map_err(|e| if e == IoError::Closed { Refusal::Declined } else { io(e) })?;
    let refuse = |r: Refusal, offer: &[u8; st::OFFER_LEN]| {
        let _ = sock.write_all(&st::verdict(link.key, &hello, offer, Some(r)));
        r
    };
    st::decode_offer(&offer).map_err(|r| refuse(r, &offer))?;
    let mut mac = StreamMac::new(link.key, &hello, &offer);
    let mut bytes: Vec<u8> = Vec::new();
    let mut stored = alloc::vec![0u8; st::MAX_STORED];
    loop {
        let mut h = [0u8; 4];
        sock.read_exact(&mut h).map_err(|e| refuse(io(e), &offer))?;
        mac.update(&h);
        let Some((len, lz4)) = st::decode_header(u32::from_le_bytes(h)).map_err(|r| refuse(r, &offer))? else {
            break;
        };
        sock.read_exact(&mut stored[..len]).map_err(|e| refuse(io(e), &offer))?;
        mac.update(&stored[..len]);
        if bytes.len() as u64 > max || bytes.try_reserve(st::BLOCK).is_err() {
            return Err(refuse(Refusal::TooLarge, &offer));
        }
        // Decoded before the MAC is checked, by a decoder that is safe on any input;
        // nothing uses the bytes until the MAC has been.
        st::decode_block(&stored[..len], lz4, &mut bytes).map_err(|r| refuse(r, &offer))?;
    }
    let mut tag = [0u8; st::MAC_LEN];
    sock.read_exact(&mut tag).map_err(|e| refuse(io(e), &offer))?;
    if !mac.verify(&tag) {
        return Err(refuse(Refusal::BadMac, &offer));
    }
    if bytes.len() as u64 > max {
        return Err(refuse(Refusal::TooLarge, &offer));
    }
    Ok(Received { sock, hello, offer, bytes })
}
