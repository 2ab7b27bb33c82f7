//! The control socket for orchestrators (`WASMC_CONTROL=PATH`, SPEC.md §5): a node
//! agent connects, writes one line (`status`, `checkpoint [PATH]`, `snapshot [PATH]`,
//! `migrate ADDR:PORT [precopy]`) and reads one line back (`ok ...` or `error ...`).
//!
//! The runtime has one thread, so nothing waits on the socket: it raises SIGIO when a
//! connection arrives, the handler arms the polls, and the next migration point (main
//! flow) takes the connections. `status` is answered there; a command that stops the
//! program keeps its connection until the outcome is known (`reply`), as the answer
//! says what happened (`ok checkpoint written to ...`, `ok migrated to ...`, or why not).

use crate::cell::MainCell;
use crate::net::Socket;
use crate::process::control;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// A connection is waiting. Set by the SIGIO handler, hence atomic.
static PENDING: AtomicBool = AtomicBool::new(false);

struct State {
    listener: Option<Socket>,
    /// The connection whose command is under way, answered by [`reply`].
    waiting: Option<Socket>,
}

/// Main flow only (start-up, and the poll fault).
static STATE: MainCell<State> = MainCell::new(State { listener: None, waiting: None });

const SIGIO: i32 = 29;
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
/// Seconds a client may take to send its line.
const CLIENT_TIMEOUT: u64 = 2;

/// What a client asked for, beyond `status`.
pub enum Command {
    /// Write a checkpoint (to this file, else the usual one) and stop.
    Checkpoint(Option<&'static [u8]>),
    /// Write a checkpoint and keep running.
    Snapshot(Option<&'static [u8]>),
    /// Move to a node listening at `to` (named `name` in messages), by pre-copy if asked.
    Migrate { to: SocketAddr, name: &'static [u8], precopy: bool },
}

extern "C" fn on_sigio(_sig: i32, _info: *mut u8, _uc: *mut u8) {
    PENDING.store(true, SeqCst);
    if !crate::instance::arm_polls(true) {
        crate::print::eprintln_parts(&[b"wasmc: cannot arm the migration polls"]);
    }
}

/// Opens the control socket if `WASMC_CONTROL` asks for one; at start-up. A path that
/// holding anything but a dead socket is refused.
pub fn init() {
    let Some(path) = control(b"WASMC_CONTROL") else { return };
    // A socket left by a process that ended (nobody accepts on it) is replaced; anything
    // else there is refused.
    if crate::host::statx(crate::host::AT_FDCWD, path, crate::host::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| st.mode & S_IFMT == S_IFSOCK)
        && !Socket::unix_accepts(path)
    {
        let _ = crate::host::unlinkat(crate::host::AT_FDCWD, path, 0);
    }
    let s = Socket::listen_unix(path).unwrap_or_else(|m| crate::print::fatal(&[m.as_bytes()]));
    STATE.with(|st| st.listener = Some(s));
    crate::signal::install_handler(SIGIO, on_sigio, crate::signal::SA_RESTART | crate::signal::SA_ONSTACK);
}

/// Whether a connection may be waiting.
pub fn pending() -> bool {
    PENDING.load(SeqCst)
}

/// Takes the waiting connections: answers `status` lines with `status()`, refuses bad
/// ones, and returns the first command (its connection kept for [`reply`]). Further
/// connections wait for the next point.
pub fn serve(status: impl Fn() -> Vec<u8>) -> Option<Command> {
    PENDING.store(false, SeqCst);
    loop {
        let conn = STATE.with(|st| st.listener.as_ref().and_then(|l| l.accept_now(CLIENT_TIMEOUT)))?;
        let line = read_line(&conn);
        let answer = |parts: &[&[u8]]| write_line(&conn, parts);
        let Some(line) = line else {
            answer(&[b"error no command line (one line, at most 512 bytes, within 2 s)"]);
            continue;
        };
        let mut words = line.split(|c| *c == b' ').filter(|w| !w.is_empty());
        let (verb, arg, flag, extra) = (words.next(), words.next(), words.next(), words.next());
        let leak = |a: Option<&[u8]>| a.map(|a| &*a.to_vec().leak());
        let cmd = match (verb, arg, flag, extra) {
            (Some(b"status"), None, None, None) => {
                answer(&[b"ok ", &status()]);
                continue;
            }
            (Some(b"checkpoint"), path, None, None) => Command::Checkpoint(leak(path)),
            (Some(b"snapshot"), path, None, None) => Command::Snapshot(leak(path)),
            (Some(b"migrate"), Some(addr), flag @ (None | Some(b"precopy")), None) => {
                match core::str::from_utf8(addr).ok().and_then(|a| a.parse().ok()) {
                    Some(to) => Command::Migrate { to, name: leak(Some(addr)).unwrap_or_default(), precopy: flag.is_some() },
                    None => {
                        answer(&[b"error migrate needs IPV4:PORT or [IPV6]:PORT"]);
                        continue;
                    }
                }
            }
            _ => {
                answer(&[b"error unknown command (status, checkpoint [PATH], snapshot [PATH], migrate ADDR:PORT [precopy])"]);
                continue;
            }
        };
        if STATE.with(|st| st.waiting.is_some()) {
            answer(&[b"error busy: another command is under way"]);
            continue;
        }
        STATE.with(|st| st.waiting = Some(conn));
        // Others may be waiting behind this one.
        PENDING.store(true, SeqCst);
        return Some(cmd);
    }
}

/// Answers the command under way (if any) with the line `parts`, and closes it.
pub fn reply(parts: &[&[u8]]) {
    let Some(conn) = STATE.with(|st| st.waiting.take()) else { return };
    write_line(&conn, parts);
}

/// Writes the concatenation of `parts` and a newline to `conn`, in one write; a client
/// that went away is no concern of the program's.
fn write_line(conn: &Socket, parts: &[&[u8]]) {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(p);
    }
    out.push(b'\n');
    let _ = conn.write_all(&out);
}

/// One line from `conn` (without its newline), at most 512 bytes.
fn read_line(conn: &Socket) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    while line.len() < 512 {
        let n = conn.read_some(&mut buf[..512 - line.len()]).ok()?;
        if n == 0 {
            break;
        }
        line.extend_from_slice(&buf[..n]);
        if let Some(end) = line.iter().position(|c| *c == b'\n') {
            line.truncate(end);
            return Some(line);
        }
    }
    (!line.is_empty() && line.len() < 512).then_some(line)
}
