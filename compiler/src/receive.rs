//! `wasmc receive`: a migration destination that keeps what it receives as a checkpoint
//! file instead of running it (SPEC.md §4), so a program can be moved to a node that
//! stores it, and a stream can be inspected with `wasmc inspect`. It answers like a
//! running destination: an ACK once the file is written (the source then stops), a NAK
//! with the reason otherwise (the source goes on).
//!
//! A pre-copy stream's memory comes in PAGES segments and its checkpoint holds none; the
//! file is then re-encoded whole: the checkpoint with the pages as its memory.

use abi_spec::checkpoint::owned::Ckpt;
use abi_spec::checkpoint::{check_module, read_checkpoint};
use abi_spec::stream::{self as st, Hello, Refusal, StreamMac};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// Waits on `listen` for one stream of `module`'s checkpoint, authenticated with the
/// key in `key_file`, and writes it to `out`. Returns the bytes written.
pub fn receive(listen: SocketAddr, key_file: &Path, module: &Path, out: &Path) -> Result<u64> {
    let key = std::fs::read(key_file).with_context(|| format!("reading {}", key_file.display()))?;
    if !(st::MIN_KEY..=st::MAX_KEY).contains(&key.len()) {
        bail!("the key file must hold 16 to 4096 bytes");
    }
    let wasm = std::fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    let module_hash: [u8; 32] = Sha256::digest(&wasm).into();
    let listener =
        TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!(
        "wasmc: waiting for a migration on port {}",
        listener.local_addr()?.port()
    );
    let (mut sock, _) = listener.accept()?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let hello = Hello {
        abi_version: abi_spec::ABI_VERSION,
        nonce: rand_nonce(),
        module_hash,
    }
    .encode(&key);
    sock.write_all(&hello)?;
    let mut offer = [0u8; st::OFFER_LEN];
    sock.read_exact(&mut offer)
        .map_err(|_| anyhow::anyhow!("{}", Refusal::Declined.message()))?;
    let bytes = match checkpoint(&mut sock, &key, &hello, &offer, &module_hash) {
        Ok(b) => b,
        Err((r, why)) => {
            let _ = sock.write_all(&st::verdict(&key, &hello, &offer, Some(r)));
            bail!(
                "migration refused: {}",
                why.unwrap_or_else(|| r.message().to_string())
            );
        }
    };
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    // Durable before the source is told it may stop.
    std::fs::File::open(out)?.sync_all()?;
    sock.write_all(&st::verdict(&key, &hello, &offer, None))?;
    Ok(bytes.len() as u64)
}

/// The largest linear memory.
const MAX_MEMORY: u64 = 1 << 32;

/// Why a stream is refused: the code the source gets, and a fuller reason for here.
type Refused = (Refusal, Option<String>);

/// The checkpoint a stream carries, whole, checked against the module: pre-copy's pages
/// (each segment receipted once in place) merged into its checkpoint segment.
fn checkpoint(
    sock: &mut TcpStream,
    key: &[u8],
    hello: &[u8; st::HELLO_LEN],
    offer: &[u8; st::OFFER_LEN],
    module_hash: &[u8; 32],
) -> Result<Vec<u8>, Refused> {
    st::decode_offer(offer).map_err(|r| (r, None))?;
    let mut read = |buf: &mut [u8]| {
        let mut s: &TcpStream = sock;
        s.read_exact(buf).map_err(|_| Refusal::BadStream)
    };
    let mut image: Vec<u8> = Vec::new();
    let mut seq = 0;
    let mut wire = 0;
    let bytes = loop {
        let mut header = [0u8; st::SEGMENT_LEN];
        read(&mut header).map_err(|r| (r, None))?;
        let segment = st::Segment::decode(&header, seq).map_err(|r| (r, None))?;
        let mac = StreamMac::new(key, hello, offer, &header);
        let payload = st::read_segment(&mut read, mac, MAX_MEMORY + (1 << 30), &mut wire)
            .map_err(|r| (r, None))?;
        if segment.kind == st::SEG_CHECKPOINT {
            break payload;
        }
        for record in st::pages_records(&payload) {
            let (at, data) = record.map_err(|r| (r, None))?;
            let end = at as usize + data.len();
            if end as u64 > MAX_MEMORY {
                return Err((Refusal::TooLarge, None));
            }
            if image.len() < end {
                image.resize(end, 0);
            }
            image[at as usize..end].copy_from_slice(data);
        }
        let mut s: &TcpStream = sock;
        s.write_all(&st::round_receipt(key, hello, offer, seq))
            .map_err(|_| (Refusal::BadStream, None))?;
        seq += 1;
    };
    let bytes = if seq == 0 {
        Ok(bytes)
    } else {
        whole(&bytes, image)
    };
    let refused = |msg: String| (Refusal::BadCheckpoint, Some(msg));
    let bytes = bytes.map_err(refused)?;
    read_checkpoint(&bytes)
        .and_then(|v| check_module(&v, module_hash))
        .map_err(|e| refused(e.message().to_string()))?;
    Ok(bytes)
}

/// The checkpoint of a pre-copy stream (memory size, no runs) with `pages` as its
/// memory, as one file.
fn whole(checkpoint: &[u8], pages: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut ck = Ckpt::parse(checkpoint, MAX_MEMORY)?;
    if pages.len() > ck.memory.len() {
        return Err("pages beyond the checkpoint's memory size".into());
    }
    ck.memory[..pages.len()].copy_from_slice(&pages);
    ck.write().map_err(str::to_string)
}

fn rand_nonce() -> [u8; 16] {
    let mut n = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut n))
        .expect("reading /dev/urandom");
    n
}
