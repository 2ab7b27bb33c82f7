//! What `cargo xtask continuum` measured: per hop, from the two ends' stats lines
//! (`WASMC_MIGRATE_STATS=1`), and the fault cases; written to `benches/CONTINUUM.md`
//! and plotted to `benches/continuum.png` (`--quick`: under target/continuum).

use super::link::Spec;
use super::nodes::Node;
use super::Mode;
use crate::bench::report::provenance;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::process::Command;

/// One hop of a migrated run.
pub struct Hop {
    pub mib: u64,
    pub mode: Mode,
    pub from: Node,
    pub to: Node,
    pub link: Spec,
    /// Pre-copy rounds before the stop (0 for stop-and-copy).
    pub rounds: u64,
    /// Bytes the destination received after the handshake.
    pub bytes: u64,
    /// Bytes the source sent while the program was stopped.
    pub stop_bytes: u64,
    /// From the request to the verdict, at the source.
    pub total_ms: f64,
    /// From the source's stop to the restored program running, at the destination.
    pub downtime_ms: f64,
}

/// The numbers of a `wasmc: migration ...: ` line, in order.
fn numbers(err: &str, prefix: &str) -> Result<Vec<u64>> {
    let line = err
        .lines()
        .find(|l| l.starts_with(prefix))
        .with_context(|| format!("no {prefix:?} line in {err:?}"))?;
    Ok(line[prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect())
}

impl Hop {
    pub fn parse(
        mib: u64,
        mode: Mode,
        from: Node,
        to: Node,
        link: Spec,
        src_err: &str,
        dst_err: &str,
    ) -> Result<Hop> {
        let sent = numbers(src_err, "wasmc: migration sent: ")?;
        let got = numbers(dst_err, "wasmc: migration received: ")?;
        if sent.len() != 3 || got.len() != 3 {
            bail!("unexpected stats lines: {src_err:?} / {dst_err:?}");
        }
        Ok(Hop {
            mib,
            mode,
            from,
            to,
            link,
            rounds: sent[0],
            bytes: got[1],
            stop_bytes: sent[1],
            total_ms: sent[2] as f64 / 1000.0,
            downtime_ms: got[2] as f64 / 1000.0,
        })
    }

    pub fn line(&self) -> String {
        format!(
            "{} -> {} ({}): {} rounds, {:.1} MB sent, {:.1} MB in the stop, total {:.0} ms, downtime {:.1} ms",
            self.from.name,
            self.to.name,
            self.mode.name(),
            self.rounds,
            self.bytes as f64 / 1e6,
            self.stop_bytes as f64 / 1e6,
            self.total_ms,
            self.downtime_ms
        )
    }
}

/// A fault case and how it ended.
pub struct Fault {
    pub case: &'static str,
    /// The program finished at the source with the uninterrupted output.
    pub ok: bool,
    pub source: String,
    pub destination: String,
}

pub fn write(hops: &[Hop], faults: &[Fault], quick: bool, revision: &str) -> Result<()> {
    let out = if quick {
        crate::root().join("target/continuum")
    } else {
        crate::root().join("benches")
    };
    let mut m = String::new();
    writeln!(m, "# wasmc live migration on an emulated continuum\n")?;
    provenance(&mut m, "continuum", quick, revision)?;
    writeln!(
        m,
        "* nodes: cloud x86_64 (native), edge aarch64 and device riscv64 (qemu-user), each a network namespace; \
         links through our own emulator (bandwidth, latency ± jitter, a bandwidth-delay product of buffer): \
         cloud–edge 1 Gbit/s 7.5 ± 2.5 ms, edge–device and device–cloud 4G 7.21 Mbit/s 45 ± 5 ms."
    )?;
    writeln!(
        m,
        "* program: `benches/continuum/live.c`, memory filled with random (incompressible) data, then \
         {} KiB rewritten per step within a {} MiB working set, a {} µs sleep per step (about 16 MiB/s natively, less under qemu). \
         Each node runs {} s after it resumed, then is asked (SIGUSR1) to move on.",
        super::KIB_PER_STEP,
        super::HOT_MIB,
        super::SLEEP_US,
        super::DWELL.as_secs()
    )?;
    writeln!(
        m,
        "* **downtime**: from the source's stop (its last migration point) to the destination running the program again, \
         by CLOCK_REALTIME on both ends (one machine). **total**: from the request to the destination's verdict, at the source. \
         **sent**: bytes the destination received (pre-copy rounds included); **in the stop**: what crossed while the program was stopped.\n"
    )?;
    let mut sizes: Vec<u64> = hops.iter().map(|h| h.mib).collect();
    sizes.dedup();
    for mib in sizes {
        writeln!(m, "## {mib} MiB\n")?;
        writeln!(m, "| hop | link | mode | rounds | sent (MB) | in the stop (MB) | total (ms) | **downtime (ms)** | downtime, stop-and-copy / pre-copy |")?;
        writeln!(m, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")?;
        for h in hops.iter().filter(|h| h.mib == mib) {
            let ratio = if h.mode == Mode::PreCopy {
                hops.iter()
                    .find(|s| {
                        s.mib == mib
                            && s.mode == Mode::StopAndCopy
                            && s.from.name == h.from.name
                            && s.to.name == h.to.name
                    })
                    .map(|s| format!("{:.1}x", s.downtime_ms / h.downtime_ms.max(0.001)))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            writeln!(
                m,
                "| {} → {} | {} | {} | {} | {:.1} | {:.1} | {:.0} | {:.1} | {} |",
                h.from.name,
                h.to.name,
                h.link.name,
                h.mode.name(),
                h.rounds,
                h.bytes as f64 / 1e6,
                h.stop_bytes as f64 / 1e6,
                h.total_ms,
                h.downtime_ms,
                ratio
            )?;
        }
        writeln!(m)?;
    }
    writeln!(m, "Every migrated run printed exactly what the uninterrupted run prints (checked; a difference fails the command).\n")?;
    writeln!(m, "## Fault cases\n")?;
    writeln!(m, "16 MiB, pre-copy over a 4G link cloud → edge; the fault comes 3 s after the request. The program must finish where it was, printing what the uninterrupted run prints.\n")?;
    writeln!(m, "| case | outcome | source said | destination said |")?;
    writeln!(m, "| --- | --- | --- | --- |")?;
    for f in faults {
        writeln!(
            m,
            "| {} | {} | `{}` | `{}` |",
            f.case,
            if f.ok {
                "finished at the source, output identical"
            } else {
                "**lost or diverged**"
            },
            f.source,
            f.destination
        )?;
    }
    writeln!(m, "\n![downtime per hop](continuum.png)")?;
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("CONTINUUM.md"), &m)?;
    let mut csv = String::from("mib,hop,mode,downtime_ms,total_ms\n");
    for h in hops {
        writeln!(
            csv,
            "{},{}→{},{},{},{}",
            h.mib,
            h.from.name,
            h.to.name,
            h.mode.name(),
            h.downtime_ms,
            h.total_ms
        )?;
    }
    let data = crate::root().join("target/continuum/continuum.csv");
    std::fs::write(&data, csv)?;
    let plot = Command::new(crate::bench::measure::python())
        .arg(crate::root().join("benches/plot_continuum.py"))
        .arg(&data)
        .arg(out.join("continuum.png"))
        .status();
    if !plot.map(|s| s.success()).unwrap_or(false) {
        println!("warning: the plot was not drawn (python3 with matplotlib is needed)");
    }
    print!("{m}");
    println!("written: {}", out.join("CONTINUUM.md").display());
    if faults.iter().any(|f| !f.ok) {
        bail!("a fault case lost or diverged the computation");
    }
    Ok(())
}
