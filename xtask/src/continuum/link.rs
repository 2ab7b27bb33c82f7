//! A link emulator of our own: a TCP forwarder that gives each direction of every
//! connection through it a bandwidth, a one-way latency and a jitter. This kernel has
//! no `netem`/`tbf` qdisc, so the delay is applied here, in user space, between the
//! source's namespace and the destination's.
//!
//! Each direction is a queue of chunks stamped with their arrival. A chunk leaves the
//! link once the ones before it have (serialisation at the link's bandwidth), and is
//! delivered a latency (± jitter, never reordering) after it left. The queue holds at
//! most a bandwidth-delay product, and the reader stops reading while it is full, so
//! the sender's TCP sees the link's rate (as through a real bottleneck), not the
//! loopback's.

use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A link's character (the Continuum framework's presets).
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub mbit: f64,
    pub latency_ms: f64,
    pub jitter_ms: f64,
}

pub const CLOUD_EDGE: Spec = Spec {
    name: "cloud-edge 1 Gbit/s, 7.5 ± 2.5 ms",
    mbit: 1000.0,
    latency_ms: 7.5,
    jitter_ms: 2.5,
};

pub const EDGE_DEVICE: Spec = Spec {
    name: "edge-device 4G 7.21 Mbit/s, 45 ± 5 ms",
    mbit: 7.21,
    latency_ms: 45.0,
    jitter_ms: 5.0,
};

/// A running emulated link: connections to `listen` reach `upstream` through it.
pub struct Link {
    pub listen: SocketAddr,
    cut: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Link {
    pub fn start(spec: Spec, listen: SocketAddr, upstream: SocketAddr, seed: u64) -> Result<Link> {
        let listener = TcpListener::bind(listen)
            .with_context(|| format!("link emulator: binding {listen}"))?;
        let listen = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (cut2, live2) = (cut.clone(), live.clone());
        thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(down) = conn else { continue };
                let Ok(up) = TcpStream::connect(upstream) else {
                    let _ = down.shutdown(Shutdown::Both);
                    continue;
                };
                if cut2.load(SeqCst) {
                    let _ = down.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = down.set_nodelay(true);
                let _ = up.set_nodelay(true);
                live2
                    .lock()
                    .unwrap()
                    .extend([down.try_clone().unwrap(), up.try_clone().unwrap()]);
                let s = seed.wrapping_add(n as u64 * 2);
                direction(spec, down.try_clone().unwrap(), up.try_clone().unwrap(), s);
                direction(spec, up, down, s + 1);
            }
        });
        Ok(Link { listen, cut, live })
    }

    /// Cuts the link: every connection through it is dropped, and new ones are refused.
    pub fn cut(&self) {
        self.cut.store(true, SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

struct Queue {
    chunks: VecDeque<(Instant, Vec<u8>)>,
    bytes: usize,
    closed: bool,
}

/// Forwards `from` to `to` through the link: a reader and a writer thread.
fn direction(spec: Spec, mut from: TcpStream, mut to: TcpStream, seed: u64) {
    let bytes_per_s = spec.mbit * 1e6 / 8.0;
    // Room for a bandwidth-delay product (and a little more), like a router's buffer.
    let window = ((bytes_per_s * spec.latency_ms * 2.0 / 1000.0) as usize).max(64 * 1024);
    let q = Arc::new((
        Mutex::new(Queue {
            chunks: VecDeque::new(),
            bytes: 0,
            closed: false,
        }),
        Condvar::new(),
    ));
    let q2 = q.clone();
    let from_ctl = from.try_clone().expect("cloning a socket");
    thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = from.read(&mut buf).unwrap_or(0);
            let (lock, cv) = &*q2;
            let mut g = lock.lock().unwrap();
            if n == 0 {
                g.closed = true;
                cv.notify_all();
                return;
            }
            while g.bytes >= window {
                g = cv.wait(g).unwrap();
            }
            g.chunks.push_back((Instant::now(), buf[..n].to_vec()));
            g.bytes += n;
            cv.notify_all();
        }
    });
    thread::spawn(move || {
        let mut rng = seed | 1;
        let mut link_free = Instant::now();
        let mut last_delivery = Instant::now();
        loop {
            let (arrived, chunk) = {
                let (lock, cv) = &*q;
                let mut g = lock.lock().unwrap();
                loop {
                    if let Some(c) = g.chunks.pop_front() {
                        g.bytes -= c.1.len();
                        cv.notify_all();
                        break c;
                    }
                    if g.closed {
                        let _ = to.shutdown(Shutdown::Write);
                        return;
                    }
                    g = cv.wait(g).unwrap();
                }
            };
            let serialise = Duration::from_secs_f64(chunk.len() as f64 / bytes_per_s);
            link_free = link_free.max(arrived) + serialise;
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let jitter = ((rng >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * spec.jitter_ms;
            let delay = Duration::from_secs_f64((spec.latency_ms + jitter).max(0.0) / 1000.0);
            let deliver = (link_free + delay).max(last_delivery);
            last_delivery = deliver;
            let now = Instant::now();
            if deliver > now {
                thread::sleep(deliver - now);
            }
            if to.write_all(&chunk).is_err() {
                // The far end is gone: so is the link, for the near end too.
                let _ = from_ctl.shutdown(Shutdown::Both);
                drain(&q);
                return;
            }
        }
    });
}

/// The writer is gone: frees the reader if it waits for room.
fn drain(q: &Arc<(Mutex<Queue>, Condvar)>) {
    let (lock, cv) = &**q;
    if let Ok(mut g) = lock.lock() {
        g.chunks.clear();
        g.bytes = 0;
        cv.notify_all();
    }
}
