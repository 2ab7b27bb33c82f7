//! `cargo xtask continuum`: live migration measured on an emulated cloud–edge–device
//! continuum on this machine. Three nodes, one per ISA (x86_64 cloud, aarch64 edge and
//! riscv64 device under qemu-user), each a network namespace (`nodes`), joined through
//! link emulators of our own (`link`) with the Continuum framework's presets. A live
//! program (`benches/continuum/live.c`: memory written at a steady rate in a working
//! set) is moved cloud → edge → device → cloud while it runs, by stop-and-copy and by
//! pre-copy, and its output must equal one uninterrupted run's. Then the fault cases:
//! a wrong key, a destination killed mid-transfer, a link cut mid-transfer; each must
//! end with the program still running somewhere (here: finishing at the source).
//! Results: `benches/CONTINUUM.md` and `benches/continuum.png`.

mod link;
mod nodes;
mod report;

use crate::{cargo, root, run_checked, step};
use anyhow::{bail, Context, Result};
use link::Link;
use nodes::{Continuum, Node, CLOUD, DEVICE, EDGE};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub use report::{Fault, Hop};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    StopAndCopy,
    PreCopy,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::StopAndCopy => "stop-and-copy",
            Mode::PreCopy => "pre-copy",
        }
    }
}

/// KiB the program rewrites per step, and its working set: with a 1 ms sleep per step
/// about 16 MiB/s (natively; less under qemu), within 1 MiB.
const KIB_PER_STEP: u64 = 16;
const HOT_MIB: u64 = 1;
const SLEEP_US: u64 = 1000;
/// A node runs this long after it resumed before it is asked to move on.
const DWELL: Duration = Duration::from_secs(2);
const PORT: u16 = 7000;

struct Ctx {
    dir: PathBuf,
    key: PathBuf,
    exes: Vec<(targets::Arch, PathBuf)>,
}

impl Ctx {
    fn exe(&self, n: Node) -> &Path {
        &self.exes.iter().find(|(a, _)| *a == n.arch).unwrap().1
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

pub fn run(quick: bool) -> Result<()> {
    if !is_root() {
        bail!("continuum needs root: it creates network namespaces and veth links");
    }
    let revision =
        crate::bench::report::revision(&["benches/CONTINUUM.md", "benches/continuum.png"]);
    run_checked(cargo().args(["build", "--release", "-p", "wasmc"]))?;
    let wasmc = root().join("target/release/wasmc");
    let dir = root().join("target/continuum");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let key = dir.join("key");
    std::fs::write(
        &key,
        (0..32u8)
            .map(|i| i.wrapping_mul(97).wrapping_add(13))
            .collect::<Vec<_>>(),
    )?;
    let wasm = root().join("benches/continuum/live.wasm");
    let mut exes = vec![];
    for n in nodes::NODES {
        let out = dir.join(format!("live-{}", n.arch.name()));
        run_checked(
            Command::new(&wasmc)
                .args(["--target", n.arch.name()])
                .arg(&wasm)
                .arg("-o")
                .arg(&out),
        )?;
        exes.push((n.arch, out));
    }
    let ctx = Ctx { dir, key, exes };
    let _net = Continuum::create()?;
    let mut hops = vec![];
    let sizes: &[u64] = if quick { &[16] } else { &[16, 64] };
    for &mib in sizes {
        for mode in [Mode::StopAndCopy, Mode::PreCopy] {
            step(format!(
                "continuum: {mib} MiB, {}: cloud -> edge -> device -> cloud",
                mode.name()
            ));
            hops.extend(chain(&ctx, mib, mode, &[CLOUD, EDGE, DEVICE, CLOUD])?);
        }
    }
    if !quick {
        for mode in [Mode::StopAndCopy, Mode::PreCopy] {
            step(format!(
                "continuum: 256 MiB, {}: cloud -> edge",
                mode.name()
            ));
            hops.extend(chain(&ctx, 256, mode, &[CLOUD, EDGE])?);
        }
    }
    let faults = fault_cases(&ctx)?;
    report::write(&hops, &faults, quick, &revision)
}

/// The link a hop from `a` to `b` crosses: the device has only its 4G uplink.
fn spec(a: Node, b: Node) -> link::Spec {
    if a.index == DEVICE.index || b.index == DEVICE.index {
        link::EDGE_DEVICE
    } else {
        link::CLOUD_EDGE
    }
}

/// Seconds a transfer of `mib` takes over the slowest link of `path`, at most.
fn transfer_secs(mib: u64, path: &[Node]) -> f64 {
    path.windows(2)
        .map(|w| mib as f64 * 1.05 * 1048576.0 / (spec(w[0], w[1]).mbit * 1e6 / 8.0))
        .sum()
}

/// Arguments of the live program: enough steps to outlast every hop of `path` twice.
fn live_args(mib: u64, path: &[Node], extra_secs: f64) -> Vec<String> {
    let secs = transfer_secs(mib, path) * 2.0
        + DWELL.as_secs_f64() * path.len() as f64
        + 10.0
        + extra_secs;
    let steps = (secs * 1000.0 / (SLEEP_US as f64 / 1000.0)) as u64;
    [mib, steps, KIB_PER_STEP, SLEEP_US, HOT_MIB]
        .iter()
        .map(|v| v.to_string())
        .collect()
}

/// One uninterrupted run (natively, without the sleeps, which change nothing printed).
fn reference(ctx: &Ctx, args: &[String]) -> Result<String> {
    let mut a = args.to_vec();
    a[3] = "0".into();
    let out = Command::new(ctx.exe(CLOUD)).args(&a).env_clear().output()?;
    if !out.status.success() {
        bail!(
            "the reference run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A program running on a node, its output collected as it comes.
struct Proc {
    child: Child,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
    first_line: mpsc::Receiver<String>,
}

fn spawn(ctx: &Ctx, node: Node, args: &[String], env: &[(&str, String)]) -> Result<Proc> {
    let mut cmd = node.command(ctx.exe(node));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("WASMC_MIGRATE_KEY_FILE", &ctx.key)
        .env("WASMC_MIGRATE_STATS", "1");
    cmd.current_dir(&ctx.dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting the program on the {}", node.name))?;
    let mut out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, first_line) = mpsc::channel();
    let stdout = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
            let _ = tx.send(line.clone());
            all += &line;
            all.push('\n');
        }
        all
    });
    Ok(Proc {
        child,
        stdout,
        stderr,
        first_line,
    })
}

impl Proc {
    /// Waits for the "waiting for a migration" line of a destination.
    fn wait_listening(&self) -> Result<()> {
        let line = self
            .first_line
            .recv_timeout(Duration::from_secs(60))
            .context("a destination did not start listening")?;
        if !line.contains("waiting for a migration") {
            bail!("a destination said {line:?}");
        }
        Ok(())
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }

    /// Waits for the exit (killing the program after `limit`): status, stdout, stderr.
    fn finish(mut self, limit: Duration) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break s.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        (
            status,
            self.stdout.join().unwrap_or_default(),
            self.stderr.join().unwrap_or_default(),
        )
    }
}

fn precopy_env(mode: Mode) -> (&'static str, String) {
    (
        "WASMC_MIGRATE_PRECOPY",
        if mode == Mode::PreCopy { "1" } else { "0" }.into(),
    )
}

/// Moves the live program along `path` (a node per hop, the first one starts it) and
/// returns the hops' measurements; fails if its output is not the uninterrupted one.
fn chain(ctx: &Ctx, mib: u64, mode: Mode, path: &[Node]) -> Result<Vec<Hop>> {
    let args = live_args(mib, path, 0.0);
    let want = reference(ctx, &args)?;
    let limit = Duration::from_secs_f64(transfer_secs(mib, path) * 4.0 + 600.0);
    // Destinations first, the last hop's first, each told where to move on to.
    let mut links = vec![];
    let mut procs: Vec<Proc> = vec![];
    for (i, node) in path.iter().enumerate().skip(1).rev() {
        let port = PORT + i as u16;
        let mut env = vec![
            ("WASMC_RESTORE", format!("listen:{}:{port}", node.addr())),
            precopy_env(mode),
        ];
        if let Some(l) = links.last().map(|l: &Link| l.listen) {
            env.push(("WASMC_MIGRATE_TO", l.to_string()));
        }
        let p = spawn(ctx, *node, &args, &env)?;
        p.wait_listening()?;
        procs.push(p);
        let from = path[i - 1];
        links.push(Link::start(
            spec(from, *node),
            SocketAddr::new(from.gateway(), 0),
            SocketAddr::new(node.addr(), port),
            7 + i as u64,
        )?);
    }
    procs.reverse();
    links.reverse();
    let src = spawn(
        ctx,
        path[0],
        &args,
        &[
            ("WASMC_MIGRATE_TO", links[0].listen.to_string()),
            precopy_env(mode),
        ],
    )?;
    procs.insert(0, src);
    // The source fills its memory first; then each node is asked to move on after it
    // has run for a while.
    thread::sleep(Duration::from_secs(3));
    let mut results = vec![];
    let mut procs = procs.into_iter();
    let mut current = procs.next().unwrap();
    for hop in 0..path.len() - 1 {
        current.signal("-USR1");
        let (code, out, err) = current.finish(limit);
        if code != Some(85) {
            bail!(
                "hop {} ({} -> {}): the source ended with {code:?}: {err}",
                hop + 1,
                path[hop].name,
                path[hop + 1].name
            );
        }
        results.push((out, err));
        current = procs.next().unwrap();
        thread::sleep(DWELL);
    }
    let (code, out, err) = current.finish(limit);
    if code != Some(0) {
        bail!("the last node's run ended with {code:?}: {err}");
    }
    results.push((out, err));
    let printed: String = results.iter().map(|r| r.0.as_str()).collect();
    if printed != want {
        bail!(
            "{mib} MiB, {}: the migrated run printed something else than the uninterrupted one",
            mode.name()
        );
    }
    let mut hops = vec![];
    for i in 0..path.len() - 1 {
        hops.push(Hop::parse(
            mib,
            mode,
            path[i],
            path[i + 1],
            spec(path[i], path[i + 1]),
            &results[i].1,
            &results[i + 1].1,
        )?);
    }
    for h in &hops {
        println!("  {}", h.line());
    }
    Ok(hops)
}

/// The fault cases, over a 4G link cloud -> edge with pre-copy (so a transfer is under
/// way long enough to be interrupted): the program must run to its end at the source,
/// printing what the uninterrupted run prints.
fn fault_cases(ctx: &Ctx) -> Result<Vec<Fault>> {
    let mib = 16;
    let args = live_args(mib, &[CLOUD, DEVICE], 0.0);
    let want = reference(ctx, &args)?;
    let mut faults = vec![];
    for case in [
        "wrong key",
        "destination killed mid-transfer",
        "link cut mid-transfer",
    ] {
        step(format!("continuum: fault case: {case}"));
        let other_key = ctx.dir.join("other.key");
        std::fs::write(&other_key, b"not the key the source holds, 32b")?;
        let mut env = vec![
            (
                "WASMC_RESTORE",
                format!("listen:{}:{}", EDGE.addr(), PORT + 10),
            ),
            precopy_env(Mode::PreCopy),
        ];
        if case == "wrong key" {
            env.push(("WASMC_MIGRATE_KEY_FILE", other_key.display().to_string()));
        }
        let dest = spawn(ctx, EDGE, &args, &env)?;
        dest.wait_listening()?;
        let link = Link::start(
            link::EDGE_DEVICE,
            SocketAddr::new(CLOUD.gateway(), 0),
            SocketAddr::new(EDGE.addr(), PORT + 10),
            99,
        )?;
        let src = spawn(
            ctx,
            CLOUD,
            &args,
            &[
                ("WASMC_MIGRATE_TO", link.listen.to_string()),
                precopy_env(Mode::PreCopy),
            ],
        )?;
        thread::sleep(Duration::from_secs(3));
        src.signal("-USR1");
        thread::sleep(Duration::from_secs(3));
        match case {
            "destination killed mid-transfer" => dest.signal("-KILL"),
            "link cut mid-transfer" => link.cut(),
            _ => {}
        }
        let (code, out, err) = src.finish(Duration::from_secs(900));
        let (dcode, _, derr) = dest.finish(Duration::from_secs(120));
        let ok = code == Some(0) && out == want;
        println!(
            "  {case}: source {code:?}, {}; destination {dcode:?}",
            if ok {
                "finished with the uninterrupted output"
            } else {
                "DIVERGED OR LOST"
            }
        );
        faults.push(Fault {
            case,
            ok,
            source: last_line(&err),
            destination: last_line(&derr),
        });
    }
    Ok(faults)
}

fn last_line(s: &str) -> String {
    s.lines()
        .rfind(|l| l.starts_with("wasmc:"))
        .unwrap_or("(nothing)")
        .to_string()
}
