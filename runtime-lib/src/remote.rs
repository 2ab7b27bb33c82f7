//! Migration between nodes: the `WASMC_MIGRATE_*` controls, what a send's outcome
//! means for the program (the policy: the computation runs exactly once, or waits in a
//! file), and the destination's side (`WASMC_RESTORE=listen:`). The transfer itself is
//! `ckstream`'s; pre-copy's rounds are `precopy`'s.

use crate::cell::MainCell;
use crate::checkpoint::{self, RestoreFrames, SavedFrame};
use crate::ckstream::{self, Link, Sent, Session};
use crate::instance::Vm;
use crate::print::{eprintln_parts, fatal};
use crate::process::control;
use abi_spec::stream::{Refusal, MAX_KEY, MIN_KEY};
use core::net::SocketAddr;

/// The `WASMC_MIGRATE_*` controls, read at start-up.
struct NetControls {
    /// `WASMC_MIGRATE_TO`: checkpoints go there instead of to a file.
    to: Option<SocketAddr>,
    /// `WASMC_RESTORE=listen:ADDR`.
    listen: Option<SocketAddr>,
    key: &'static [u8],
    timeout: u64,
    compress: bool,
}

impl NetControls {
    fn link(&self) -> Link {
        Link { key: self.key, timeout: self.timeout, compress: self.compress }
    }
}

/// Main flow only: read at start-up, then by the restore run and by the poll fault (a
/// synchronous fault of generated code, never inside a `MainCell::with`).
static NET: MainCell<NetControls> =
    MainCell::new(NetControls { to: None, listen: None, key: &[], timeout: DEFAULT_TIMEOUT, compress: true });

/// Seconds a migration transfer may go without progress, unless `WASMC_MIGRATE_TIMEOUT`.
const DEFAULT_TIMEOUT: u64 = 10;

/// The prefix of `WASMC_RESTORE` that makes it wait for a migration stream.
const LISTEN: &[u8] = b"listen:";

fn parse_addr(name: &[u8], v: &[u8]) -> SocketAddr {
    match core::str::from_utf8(v).ok().and_then(|s| s.parse().ok()) {
        Some(a) => a,
        None => fatal(&[name, b" must be IPV4:PORT or [IPV6]:PORT (numeric, no host names)"]),
    }
}

/// Reads and checks the `WASMC_MIGRATE_*` controls and `WASMC_RESTORE=listen:`.
pub fn init() {
    let to = control(b"WASMC_MIGRATE_TO").map(|v| parse_addr(b"WASMC_MIGRATE_TO", v));
    let listen = control(b"WASMC_RESTORE")
        .and_then(|v| v.strip_prefix(LISTEN))
        .map(|v| parse_addr(b"WASMC_RESTORE=listen:", v));
    let key: &'static [u8] = match control(b"WASMC_MIGRATE_KEY_FILE") {
        Some(path) => crate::ckfile::read_key(path, MIN_KEY, MAX_KEY).unwrap_or_else(|m| fatal(&[m.as_bytes()])).leak(),
        None if to.is_some() || listen.is_some() => {
            fatal(&[b"migrating over the network needs WASMC_MIGRATE_KEY_FILE (a pre-shared key of 16 to 4096 bytes)"])
        }
        None => &[],
    };
    let timeout = match control(b"WASMC_MIGRATE_TIMEOUT") {
        None => DEFAULT_TIMEOUT,
        Some(v) => match crate::process::parse_u64(v) {
            Some(n @ 1..=3600) => n,
            _ => fatal(&[b"WASMC_MIGRATE_TIMEOUT must be a number of seconds from 1 to 3600"]),
        },
    };
    let compress = match control(b"WASMC_MIGRATE_COMPRESS") {
        None | Some(b"1") => true,
        Some(b"0") => false,
        Some(_) => fatal(&[b"WASMC_MIGRATE_COMPRESS must be 0 or 1"]),
    };
    if !matches!(control(b"WASMC_MIGRATE_STATS"), None | Some(b"0") | Some(b"1")) {
        fatal(&[b"WASMC_MIGRATE_STATS must be 0 or 1"]);
    }
    NET.with(|n| *n = NetControls { to, listen, key, timeout, compress });
}

/// `WASMC_RESTORE=listen:ADDR`: waits for one migration stream, and loads it. A stream
/// that is not authentic, or not a checkpoint this executable can resume, is refused
/// (the source keeps running) and stops this process with one line.
pub fn receive(vm: Vm, addr: &SocketAddr) -> RestoreFrames {
    let link = NET.with(|n| n.link());
    let (listener, port) = ckstream::listen(addr).unwrap_or_else(|m| fatal(&[m.as_bytes()]));
    let mut l = crate::print::Line::new();
    l.s(b"wasmc: waiting for a migration on port ").dec(port as u64).nl().write(crate::print::STDERR);
    let module_hash = crate::instance::desc().module_hash;
    let received = ckstream::receive(&listener, &link, &module_hash, crate::ckfile::MAX_CHECKPOINT_BYTES, |at, bytes| {
        checkpoint::put_pages(vm, at, bytes).map_err(|_| Refusal::BadCheckpoint)
    });
    let (mut rx, stats) = match received {
        Ok(r) => r,
        Err(r) => fatal(&[b"migration refused: ", r.message().as_bytes()]),
    };
    drop(listener);
    // Read as a file is, as it arrives: memory into place, the rest kept. Nothing of it
    // runs before the segment's MAC has checked out at its end (`SegmentSource`).
    let mut src = rx.checkpoint();
    let restored = checkpoint::restore_from(vm, &mut src);
    if restored.is_err() && !src.verified() {
        // The sender is still sending: let it finish, so that it hears the refusal
        // rather than a connection cut.
        let _ = src.skip_to_end();
    }
    let (wire, refusal, verified) = (src.wire, src.refusal, src.verified());
    drop(src);
    let mut stats = stats;
    stats.wire += wire;
    let refuse = |r: Refusal, what: &[u8], msg: &str| -> ! {
        rx.answer(link.key, Some(r));
        fatal(&[b"migration refused: ", what, msg.as_bytes()])
    };
    let (frames, wasi) = match (restored, refusal) {
        // The stream itself failed (a bad MAC, a cut, a stall): that is the refusal,
        // whatever the restore made of the bytes it was given.
        (_, Some(r)) => refuse(r, b"", r.message()),
        (Err(m), None) => refuse(Refusal::BadCheckpoint, b"cannot restore: ", m),
        (Ok(_), None) if !verified => refuse(Refusal::BadStream, b"", Refusal::BadStream.message()),
        (Ok(r), None) => r,
    };
    if let Err(msg) = crate::wasi::restore_state(&wasi) {
        refuse(Refusal::BadCheckpoint, b"cannot restore: ", msg);
    }
    // The point of no return: from here this node runs the program.
    rx.answer(link.key, None);
    if stats_wanted() {
        RECEIVED.with(|r| *r = Some(stats));
    }
    frames
}

/// The stream the destination resumed, until [`report_resumed`] says what it cost.
static RECEIVED: MainCell<Option<ckstream::Stats>> = MainCell::new(None);

/// Called when the restored program runs again (its frames rebuilt): with
/// `WASMC_MIGRATE_STATS=1`, the line of what the stream held, and the downtime from the
/// source's stop to here (the two nodes' realtime clocks must agree for it to mean
/// anything; they do on one machine).
pub fn report_resumed() {
    let Some(stats) = RECEIVED.with(|r| r.take()) else { return };
    let now = realtime_ns();
    let mut l = crate::print::Line::new();
    // Pre-copy's final stop sends one PAGES segment too: the rounds are the ones before.
    l.s(b"wasmc: migration received: ").dec(stats.rounds.saturating_sub(1) as u64).s(b" pre-copy rounds, ").dec(stats.wire);
    l.s(b" bytes, downtime ").dec(now.saturating_sub(stats.stopped_ns) / 1000).s(b" us").nl().write(crate::print::STDERR);
}

const CLOCK_REALTIME: usize = 0;

/// `WASMC_MIGRATE_STATS=1`: one line on stderr per migration, on both sides.
pub fn stats_wanted() -> bool {
    control(b"WASMC_MIGRATE_STATS") == Some(b"1")
}

/// What a control-socket command asked of the migration under way, over the
/// `WASMC_*` controls; cleared by [`finished`].
#[derive(Clone, Copy, Default)]
pub struct Request {
    /// `Some(None)`: a file, even with `WASMC_MIGRATE_TO`.
    pub to: Option<Option<(SocketAddr, &'static [u8])>>,
    pub precopy: Option<bool>,
    pub keep_going: Option<bool>,
}

static REQUEST: MainCell<Request> = MainCell::new(Request { to: None, precopy: None, keep_going: None });

pub fn set_request(r: Request) {
    REQUEST.with(|q| *q = r);
}

/// The migration under way is over (however it ended): back to the `WASMC_*` controls.
pub fn finished() {
    REQUEST.with(|q| *q = Request::default());
    checkpoint::set_path(None);
}

/// Where a migration goes: a control command's node, else `WASMC_MIGRATE_TO`.
pub fn target() -> Option<SocketAddr> {
    match REQUEST.with(|q| q.to) {
        Some(to) => to.map(|t| t.0),
        None => NET.with(|n| n.to),
    }
}

/// The target as the user wrote it, for messages.
fn target_name() -> &'static [u8] {
    match REQUEST.with(|q| q.to) {
        Some(Some((_, name))) => name,
        _ => control(b"WASMC_MIGRATE_TO").unwrap_or_default(),
    }
}

/// Whether the migration goes by pre-copy: the command's choice, else
/// `WASMC_MIGRATE_PRECOPY=1`.
pub fn precopy_wanted() -> bool {
    REQUEST.with(|q| q.precopy).unwrap_or_else(|| control(b"WASMC_MIGRATE_PRECOPY") == Some(b"1"))
}

/// Whether the program goes on after its state is safe elsewhere (a snapshot):
/// the command's choice, else `WASMC_CHECKPOINT_CONTINUE=1`.
pub fn keep_going() -> bool {
    REQUEST.with(|q| q.keep_going).unwrap_or_else(|| control(b"WASMC_CHECKPOINT_CONTINUE") == Some(b"1"))
}

/// Whether a key was given, so that a control command may migrate over the network.
pub fn has_key() -> bool {
    NET.with(|n| !n.key.is_empty())
}

/// `WASMC_RESTORE=listen:ADDR`, if set.
pub fn listen_addr() -> Option<SocketAddr> {
    NET.with(|n| n.listen)
}

pub fn link() -> Link {
    NET.with(|n| n.link())
}

/// Stop-and-copy: sends the checkpoint of the stopped program to `to` in one segment.
/// Returns whether the state is safe elsewhere (see [`conclude`]).
pub fn send_stopped(vm: Vm, frames: &[SavedFrame], to: &SocketAddr) -> bool {
    let (began, stopped) = (now_ns(), realtime_ns());
    let wasi = crate::wasi::checkpoint_state();
    let sent = match Session::open(to, &link(), &crate::instance::desc().module_hash) {
        Err(why) => Sent::NotTaken(why),
        Ok(mut session) => match wasi.lend(|w| checkpoint::send_segment(vm, frames, w, &mut session, true, stopped)) {
            Err(why) => Sent::NotTaken(why),
            Ok(()) => {
                let verdict = session.verdict();
                report_sent(0, session.sent, began);
                verdict
            }
        },
    };
    conclude(sent, || wasi.lend(|w| checkpoint::save(vm, frames, w)))
}

const CLOCK_MONOTONIC: usize = 1;

pub fn now_ns() -> u64 {
    crate::host::clock_gettime(CLOCK_MONOTONIC).unwrap_or(0)
}

/// The wall clock, which the two ends of a migration share on one machine.
pub fn realtime_ns() -> u64 {
    crate::host::clock_gettime(CLOCK_REALTIME).unwrap_or(0)
}

/// With `WASMC_MIGRATE_STATS=1`, the source's line: pre-copy rounds before the stop,
/// bytes sent in the stop (segment headers, blocks, MACs), and the time from the request
/// to the verdict.
pub fn report_sent(rounds: u32, stop_bytes: u64, began_ns: u64) {
    if !stats_wanted() {
        return;
    }
    let mut l = crate::print::Line::new();
    l.s(b"wasmc: migration sent: ").dec(rounds as u64).s(b" pre-copy rounds, ").dec(stop_bytes);
    l.s(b" bytes in the final stop, ").dec(now_ns().saturating_sub(began_ns) / 1000).s(b" us in all");
    l.nl().write(crate::print::STDERR);
}

/// What a send's outcome means: says it on stderr and returns whether the state is
/// safe elsewhere (the destination runs it, or it is in a file), so this process may
/// stop. When the whole stream went out unconfirmed, the destination may be running it:
/// the state goes to a file with `save` (true if written) rather than run twice here.
pub fn conclude(sent: Sent, save: impl FnOnce() -> bool) -> bool {
    let name = target_name();
    match sent {
        Sent::Accepted => {
            eprintln_parts(&[b"wasmc: migrated to ", name]);
            crate::control::reply(&[b"ok migrated to ", name]);
            true
        }
        Sent::NotTaken(why) => {
            eprintln_parts(&[b"wasmc: migration to ", name, b" failed: ", why.as_bytes(), b"; continuing"]);
            crate::control::reply(&[b"error migration to ", name, b" failed: ", why.as_bytes(), b"; the program goes on here"]);
            false
        }
        Sent::Unconfirmed(why) => {
            eprintln_parts(&[b"wasmc: migration to ", name, b" not confirmed: ", why.as_bytes()]);
            let written = save();
            if written {
                eprintln_parts(&[b"wasmc: checkpoint written to ", checkpoint::path()]);
                crate::control::reply(&[b"ok migration to ", name, b" not confirmed; checkpoint written to ", checkpoint::path()]);
            } else {
                crate::control::reply(&[b"error migration to ", name, b" not confirmed, and no checkpoint written; the program goes on here"]);
            }
            written
        }
    }
}

