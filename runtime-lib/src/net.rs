//! TCP over raw system calls, for migration streams: IPv4 and IPv6, blocking sockets
//! whose every wait is bounded by the kernel's send and receive timeouts (so a peer
//! that stops answering is an error, never a hang), except waiting for a connection.

use crate::print::EINTR;
use crate::sys::{self, nr};
use core::net::SocketAddr;

const AF_UNIX: usize = 1;
const AF_INET: usize = 2;
const AF_INET6: usize = 10;
const SOCK_STREAM: usize = 1;
const SOCK_CLOEXEC: usize = 0o2000000;
const SOCK_NONBLOCK: usize = 0o4000;
const F_SETFL: usize = 4;
const F_SETOWN: usize = 8;
const O_NONBLOCK: usize = 0o4000;
const O_ASYNC: usize = 0o20000;
const SOL_SOCKET: usize = 1;
const SO_REUSEADDR: usize = 2;
// The 64-bit `struct timeval` options (asm-generic numbering, all three ISAs).
const SO_RCVTIMEO: usize = 20;
const SO_SNDTIMEO: usize = 21;
const IPPROTO_TCP: usize = 6;
const TCP_NODELAY: usize = 1;
const EAGAIN: isize = -11;
const EINPROGRESS: isize = -115;

/// Why a transfer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// The peer closed the connection.
    Closed,
    /// Nothing moved for the whole timeout.
    TimedOut,
    /// Another error (reset, unreachable, ...).
    Failed,
}

impl IoError {
    pub fn message(self) -> &'static str {
        match self {
            IoError::Closed => "the peer closed the connection",
            IoError::TimedOut => "the peer stopped answering (WASMC_MIGRATE_TIMEOUT)",
            IoError::Failed => "the connection failed",
        }
    }
}

/// A socket, closed when dropped.
pub struct Socket(i32);

impl Drop for Socket {
    fn drop(&mut self) {
        crate::host::close(self.0);
    }
}

/// `struct sockaddr_in` / `sockaddr_in6` for `addr`, and its length.
fn sockaddr(addr: &SocketAddr) -> ([u8; 28], usize) {
    let mut b = [0u8; 28];
    b[2..4].copy_from_slice(&addr.port().to_be_bytes());
    match addr {
        SocketAddr::V4(a) => {
            b[0..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
            b[4..8].copy_from_slice(&a.ip().octets());
            (b, 16)
        }
        SocketAddr::V6(a) => {
            b[0..2].copy_from_slice(&(AF_INET6 as u16).to_ne_bytes());
            b[4..8].copy_from_slice(&a.flowinfo().to_be_bytes());
            b[8..24].copy_from_slice(&a.ip().octets());
            b[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
            (b, 28)
        }
    }
}

/// `struct sockaddr_un` for `path` (NUL-terminated; pass `2 + path.len() + 1` as its
/// length), `None` for a path the kernel cannot take.
fn sockaddr_un(path: &[u8]) -> Option<[u8; 110]> {
    if path.is_empty() || path.len() > 107 || path.contains(&0) {
        return None;
    }
    let mut sa = [0u8; 110];
    sa[..2].copy_from_slice(&(AF_UNIX as u16).to_ne_bytes());
    sa[2..2 + path.len()].copy_from_slice(path);
    Some(sa)
}

fn family(addr: &SocketAddr) -> usize {
    if addr.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

impl Socket {
    fn new(addr: &SocketAddr) -> Result<Socket, IoError> {
        // SAFETY: socket touches no memory.
        let fd = unsafe { sys::syscall3(nr::SOCKET, family(addr), SOCK_STREAM | SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(IoError::Failed);
        }
        Ok(Socket(fd as i32))
    }

    fn set_int(&self, level: usize, opt: usize, v: i32) {
        // SAFETY: the kernel reads the 4-byte int, which outlives the call.
        unsafe { sys::syscall5(nr::SETSOCKOPT, self.0 as usize, level, opt, &v as *const i32 as usize, 4) };
    }

    /// Bounds every later send and receive (and `connect`) to `secs` seconds without
    /// progress.
    fn set_timeouts(&self, secs: u64) {
        let tv: [i64; 2] = [secs as i64, 0];
        for opt in [SO_RCVTIMEO, SO_SNDTIMEO] {
            // SAFETY: the kernel reads the 16-byte timeval, which outlives the call.
            unsafe { sys::syscall5(nr::SETSOCKOPT, self.0 as usize, SOL_SOCKET, opt, tv.as_ptr() as usize, 16) };
        }
    }

    /// Connects to `addr`, giving up after `secs` seconds.
    pub fn connect(addr: &SocketAddr, secs: u64) -> Result<Socket, IoError> {
        let s = Socket::new(addr)?;
        s.set_timeouts(secs);
        s.set_int(IPPROTO_TCP, TCP_NODELAY, 1);
        let (sa, len) = sockaddr(addr);
        loop {
            // SAFETY: the kernel reads `len` bytes of `sa`, which outlives the call.
            let r = unsafe { sys::syscall3(nr::CONNECT, s.0 as usize, sa.as_ptr() as usize, len) };
            return match r {
                0 => Ok(s),
                EINTR => continue,
                // The send timeout ran out while the handshake was under way.
                EINPROGRESS | EAGAIN => Err(IoError::TimedOut),
                _ => Err(IoError::Failed),
            };
        }
    }

    /// A socket listening on `addr` (port 0: any free port).
    pub fn listen(addr: &SocketAddr) -> Result<Socket, &'static str> {
        let s = Socket::new(addr).map_err(|_| "cannot create a socket")?;
        s.set_int(SOL_SOCKET, SO_REUSEADDR, 1);
        let (sa, len) = sockaddr(addr);
        // SAFETY: the kernel reads `len` bytes of `sa`, which outlives the call.
        if unsafe { sys::syscall3(nr::BIND, s.0 as usize, sa.as_ptr() as usize, len) } != 0 {
            return Err("cannot listen on that address (in use, or not this host's)");
        }
        // SAFETY: listen touches no memory.
        if unsafe { sys::syscall2(nr::LISTEN, s.0 as usize, 1) } != 0 {
            return Err("cannot listen on that address");
        }
        Ok(s)
    }

    /// A Unix stream socket listening at `path`, non-blocking, that raises SIGIO in this
    /// process when a connection arrives. Nothing may exist at `path`.
    pub fn listen_unix(path: &[u8]) -> Result<Socket, &'static str> {
        let sa = sockaddr_un(path).ok_or("WASMC_CONTROL must be a path of 1 to 107 bytes")?;
        // SAFETY: socket touches no memory.
        let fd = unsafe { sys::syscall3(nr::SOCKET, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) };
        if fd < 0 {
            return Err("cannot create the control socket");
        }
        let s = Socket(fd as i32);
        // SAFETY: the kernel reads the sockaddr_un (family, path, NUL), which outlives the call.
        if unsafe { sys::syscall3(nr::BIND, s.0 as usize, sa.as_ptr() as usize, 2 + path.len() + 1) } != 0 {
            return Err("cannot create the control socket at WASMC_CONTROL (it exists, or its directory is not writable)");
        }
        // SAFETY: listen and fcntl touch no memory.
        let ok = unsafe {
            sys::syscall2(nr::LISTEN, s.0 as usize, 8) == 0
                && sys::syscall3(nr::FCNTL, s.0 as usize, F_SETOWN, sys::syscall0(nr::GETPID) as usize) == 0
                && sys::syscall3(nr::FCNTL, s.0 as usize, F_SETFL, O_NONBLOCK | O_ASYNC) == 0
        };
        if !ok {
            return Err("cannot listen on the control socket");
        }
        Ok(s)
    }

    /// Whether something accepts connections on the Unix socket at `path`.
    pub fn unix_accepts(path: &[u8]) -> bool {
        let Some(sa) = sockaddr_un(path) else { return false };
        // SAFETY: socket touches no memory.
        let fd = unsafe { sys::syscall3(nr::SOCKET, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return false;
        }
        let s = Socket(fd as i32);
        // SAFETY: the kernel reads the sockaddr_un, which outlives the call.
        unsafe { sys::syscall3(nr::CONNECT, s.0 as usize, sa.as_ptr() as usize, 2 + path.len() + 1) == 0 }
    }

    /// A waiting connection, if any (never blocks), with transfers bounded to `secs`.
    pub fn accept_now(&self, secs: u64) -> Option<Socket> {
        // SAFETY: no address is asked for (both pointers null).
        let fd = unsafe { sys::syscall4(nr::ACCEPT4, self.0 as usize, 0, 0, SOCK_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        let s = Socket(fd as i32);
        s.set_timeouts(secs);
        Some(s)
    }

    /// Reads up to `buf.len()` bytes, once; 0 at the end.
    pub fn read_some(&self, buf: &mut [u8]) -> Result<usize, IoError> {
        loop {
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
            let n = unsafe { sys::syscall3(nr::READ, self.0 as usize, buf.as_mut_ptr() as usize, buf.len()) };
            return match n {
                EINTR => continue,
                EAGAIN => Err(IoError::TimedOut),
                n if n < 0 => Err(IoError::Failed),
                n => Ok(n as usize),
            };
        }
    }

    /// The port this socket is bound to.
    pub fn local_port(&self) -> u16 {
        let mut sa = [0u8; 28];
        let mut len: u32 = 28;
        // SAFETY: the kernel writes at most `len` bytes into `sa` and the length into `len`.
        let r = unsafe { sys::syscall3(nr::GETSOCKNAME, self.0 as usize, sa.as_mut_ptr() as usize, &mut len as *mut u32 as usize) };
        if r != 0 {
            return 0;
        }
        u16::from_be_bytes([sa[2], sa[3]])
    }

    /// Waits for one connection (as long as it takes), then bounds its transfers to
    /// `secs` seconds without progress.
    pub fn accept(&self, secs: u64) -> Result<Socket, IoError> {
        loop {
            // SAFETY: no address is asked for (both pointers null).
            let fd = unsafe { sys::syscall4(nr::ACCEPT4, self.0 as usize, 0, 0, SOCK_CLOEXEC) };
            if fd == EINTR {
                continue;
            }
            if fd < 0 {
                return Err(IoError::Failed);
            }
            let s = Socket(fd as i32);
            s.set_timeouts(secs);
            s.set_int(IPPROTO_TCP, TCP_NODELAY, 1);
            return Ok(s);
        }
    }

    pub fn write_all(&self, mut bytes: &[u8]) -> Result<(), IoError> {
        while !bytes.is_empty() {
            // SAFETY: the kernel reads at most `bytes.len()` bytes of `bytes`.
            let n = unsafe { sys::syscall3(nr::WRITE, self.0 as usize, bytes.as_ptr() as usize, bytes.len()) };
            match n {
                EINTR => continue,
                EAGAIN => return Err(IoError::TimedOut),
                n if n <= 0 => return Err(IoError::Failed),
                n => bytes = &bytes[n as usize..],
            }
        }
        Ok(())
    }

    pub fn read_exact(&self, mut buf: &mut [u8]) -> Result<(), IoError> {
        while !buf.is_empty() {
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
            let n = unsafe { sys::syscall3(nr::READ, self.0 as usize, buf.as_mut_ptr() as usize, buf.len()) };
            match n {
                EINTR => continue,
                EAGAIN => return Err(IoError::TimedOut),
                0 => return Err(IoError::Closed),
                n if n < 0 => return Err(IoError::Failed),
                n => buf = &mut buf[n as usize..],
            }
        }
        Ok(())
    }
}

/// `n` random bytes from the kernel.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let mut at = 0;
    while at < N {
        // SAFETY: the kernel writes at most `N - at` bytes at the end of `b`.
        let r = unsafe { sys::syscall3(nr::GETRANDOM, b.as_mut_ptr() as usize + at, N - at, 0) };
        if r > 0 {
            at += r as usize;
        } else if r != EINTR {
            crate::print::fatal(&[b"the kernel gives no random bytes (getrandom)"]);
        }
    }
    b
}
