//! The emulated continuum's nodes: one Linux network namespace per node, each joined to
//! the root namespace by a veth pair. Node `i` is `10.78.i.2`; the root side of its
//! link is `10.78.i.1`, where the link emulators that lead away from it listen. Nodes
//! reach each other only through an emulator.

use anyhow::{bail, Context, Result};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use targets::Arch;

/// A node: its name, its ISA, its namespace.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    pub name: &'static str,
    pub arch: Arch,
    pub index: u8,
}

pub const CLOUD: Node = Node {
    name: "cloud",
    arch: Arch::X86_64,
    index: 0,
};
pub const EDGE: Node = Node {
    name: "edge",
    arch: Arch::Aarch64,
    index: 1,
};
pub const DEVICE: Node = Node {
    name: "device",
    arch: Arch::Riscv64,
    index: 2,
};
pub const NODES: [Node; 3] = [CLOUD, EDGE, DEVICE];

impl Node {
    pub fn netns(&self) -> String {
        format!("wasmc-{}", self.name)
    }
    /// The node's own address.
    pub fn addr(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 78, self.index, 2))
    }
    /// The root namespace's end of the node's link.
    pub fn gateway(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 78, self.index, 1))
    }
    fn host_if(&self) -> String {
        format!("wmc{}h", self.index)
    }
    /// `program` run inside the node's namespace (under qemu-user for a foreign ISA).
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns()]);
        if let Some(q) = self.arch.runner() {
            c.arg(q);
        }
        c.arg(program);
        c
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The namespaces and links, removed again when dropped.
pub struct Continuum;

impl Continuum {
    pub fn create() -> Result<Continuum> {
        let c = Continuum;
        c.remove();
        for n in NODES {
            let (ns, host) = (n.netns(), n.host_if());
            let peer = format!("wmc{}n", n.index);
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer])?;
            ip(&["link", "set", &peer, "netns", &ns])?;
            ip(&["addr", "add", &format!("{}/24", n.gateway()), "dev", &host])?;
            ip(&["link", "set", &host, "up"])?;
            ip(&[
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{}/24", n.addr()),
                "dev",
                &peer,
            ])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &peer, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(c)
    }

    fn remove(&self) {
        for n in NODES {
            let _ = ip(&["netns", "del", &n.netns()]);
            let _ = ip(&["link", "del", &n.host_if()]);
        }
    }
}

impl Drop for Continuum {
    fn drop(&mut self) {
        self.remove();
    }
}
