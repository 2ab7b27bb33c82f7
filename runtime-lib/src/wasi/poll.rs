//! `poll_oneoff`: clock subscriptions (relative or absolute) and fd readiness via ppoll.

use super::carried::now;
use super::mem::Mem;
use super::table;
use crate::errno::*;
use crate::host::{self, PollFd};
use crate::sys::{nr, syscall3};
use abi_spec::VmCtx;
use alloc::vec::Vec;

const SUB_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;
const TAG_CLOCK: u8 = 0;
const TAG_FD_READ: u8 = 1;
const TAG_FD_WRITE: u8 = 2;
const SUBCLOCK_ABSTIME: u16 = 1;
const EVENTRW_HANGUP: u16 = 1;

struct Event {
    userdata: u64,
    error: Errno,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

struct Clock {
    userdata: u64,
    /// On CLOCK_MONOTONIC.
    deadline: u64,
}

fn encode(e: &Event) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0..8].copy_from_slice(&e.userdata.to_le_bytes());
    b[8..10].copy_from_slice(&e.error.to_le_bytes());
    b[10] = e.kind;
    b[16..24].copy_from_slice(&e.nbytes.to_le_bytes());
    b[24..26].copy_from_slice(&e.flags.to_le_bytes());
    b
}

/// Bytes readable without blocking (for files: up to end of file).
fn readable(fd: i32) -> u64 {
    let mut n: i32 = 0;
    // SAFETY: FIONREAD writes one int into `n`.
    let r = unsafe { syscall3(nr::IOCTL, fd as usize, host::FIONREAD, &mut n as *mut i32 as usize) };
    if r < 0 || n < 0 {
        0
    } else {
        n as u64
    }
}

#[no_mangle]
pub extern "C" fn wasmc_wasi_poll_oneoff(vmctx: *mut VmCtx, subs: u32, events_out: u32, nsubs: u32, nevents: u32) -> i32 {
    // SAFETY: generated code passes its vmctx to every WASI function (abi-spec §1.4).
    let mem = unsafe { Mem::new(vmctx) };
    ret((|| {
        if nsubs == 0 {
            return Err(EINVAL);
        }
        mem.array(subs, nsubs, SUB_SIZE as u64)?;
        mem.array(events_out, nsubs, EVENT_SIZE as u64)?;
        mem.ptr(nevents, 4)?;

        let mut events: Vec<Event> = Vec::new();
        let mut clocks: Vec<Clock> = Vec::new();
        let mut fds: Vec<PollFd> = Vec::new();
        let mut fd_subs: Vec<(u64, u8)> = Vec::new();
        for i in 0..nsubs {
            let s = subs + i * SUB_SIZE;
            let userdata = mem.read_u64(s)?;
            let tag = mem.read_u8(s + 8)?;
            match tag {
                TAG_CLOCK => {
                    let id = mem.read_u32(s + 16)?;
                    let timeout = mem.read_u64(s + 24)?;
                    let flags = mem.read_u16(s + 40)?;
                    // Every deadline is kept on the monotonic clock, so one clock decides
                    // when sleeping is over (an absolute time on another clock is turned
                    // into "that much from now").
                    let mono = now(1)?;
                    let deadline = match (id, flags & SUBCLOCK_ABSTIME != 0) {
                        (1, true) => Ok(timeout),
                        (0..=3, false) => Ok(mono.saturating_add(timeout)),
                        (0..=3, true) => now(id).map(|t| mono.saturating_add(timeout.saturating_sub(t))),
                        _ => Err(EINVAL),
                    };
                    match deadline {
                        Ok(deadline) => clocks.push(Clock { userdata, deadline }),
                        Err(e) => events.push(Event { userdata, error: e, kind: tag, nbytes: 0, flags: 0 }),
                    }
                }
                TAG_FD_READ | TAG_FD_WRITE => {
                    let fd = mem.read_u32(s + 16)?;
                    match table::with(|t| t.get(fd).map(|e| e.host_fd)) {
                        Ok(host_fd) => {
                            let ev = if tag == TAG_FD_READ { host::POLLIN } else { host::POLLOUT };
                            fds.push(PollFd { fd: host_fd, events: ev, revents: 0 });
                            fd_subs.push((userdata, tag));
                        }
                        Err(e) => events.push(Event { userdata, error: e, kind: tag, nbytes: 0, flags: 0 }),
                    }
                }
                _ => return Err(EINVAL),
            }
        }

        loop {
            // Failed subscriptions are events already: then only look, never wait.
            let timeout = if !events.is_empty() {
                Some(0)
            } else {
                let mono = now(1)?;
                clocks.iter().map(|c| c.deadline.saturating_sub(mono)).min()
            };
            match host::ppoll(&mut fds, timeout) {
                Ok(_) => {}
                Err(EINTR) => continue,
                Err(e) => return Err(e),
            }
            for (p, &(userdata, kind)) in fds.iter().zip(&fd_subs) {
                if p.revents == 0 {
                    continue;
                }
                let mut ev = Event { userdata, error: 0, kind, nbytes: 0, flags: 0 };
                if p.revents & host::POLLNVAL != 0 {
                    ev.error = EBADF;
                } else if p.revents & host::POLLHUP != 0 {
                    ev.flags = EVENTRW_HANGUP;
                } else if p.revents & host::POLLERR != 0 {
                    ev.error = EIO;
                } else if kind == TAG_FD_READ {
                    ev.nbytes = readable(p.fd);
                }
                events.push(ev);
            }
            let mono = now(1)?;
            for c in clocks.iter().filter(|c| mono >= c.deadline) {
                events.push(Event { userdata: c.userdata, error: 0, kind: TAG_CLOCK, nbytes: 0, flags: 0 });
            }
            if !events.is_empty() {
                break;
            }
        }
        for (i, e) in events.iter().enumerate() {
            mem.write_bytes(events_out + i as u32 * EVENT_SIZE, &encode(e))?;
        }
        mem.write_u32(nevents, events.len() as u32)
    })())
}
