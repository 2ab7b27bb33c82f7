//! (d) Checkpoint and restore, with `benches/checkpoint/ckpt.c` (see its header):
//! linear memory from 1 MiB to 1 GiB, dense and sparse, and stacks 10 to 10,000 frames.
//!
//! Method (x86_64, natively), per configuration, in interleaved rounds:
//!  * checkpoint: spawn, read stdout up to "ready", then (t0) send SIGUSR1 and (t1)
//!    wait for exit 85 (checkpoint written, process gone). Baseline: the same program
//!    with /ck/go already present, timed from "ready" to its normal exit: it passes the
//!    same point, unwinds the same frames and tears down the same memory. Checkpoint
//!    cost = median(checkpointing) − median(baseline). Both include the pipe wake-up.
//!  * restore: whole-process time of `WASMC_RESTORE=ckpt` (go present, so it finishes
//!    right after the restored point) vs a fresh start with the same arguments, which
//!    fills the memory and builds the stack itself. Both print the same "done" line.
//!  * the floor "time to write the memory": writing a buffer the size of the checkpoint
//!    to a new file in the same directory, fsyncing it and renaming it into place, as
//!    the runtime does (an atomic, durable file write).

use super::measure::{time_once, Stats};
use super::Config;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

pub struct CkRow {
    pub mib: usize,
    pub dense: bool,
    pub depth: usize,
    pub checkpoint: Stats,
    pub baseline: Stats,
    pub restore: Stats,
    pub fresh: Stats,
    pub size: u64,
    /// Bytes of the 4 KiB chunks the program made non-zero: the format leaves out
    /// all-zero 4 KiB chunks (abi-spec CHUNK), so this is what a checkpoint must hold
    /// beyond the program's own data, heap and frames.
    pub nonzero: u64,
    pub write_floor: Stats,
}

extern "C" {
    // std already links libc; sending the signal directly keeps `kill(1)`'s start-up
    // out of the trigger time.
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGUSR1: i32 = 10;

pub fn configs(quick: bool) -> Vec<(usize, bool, usize)> {
    let mems: &[usize] = if quick {
        &[1, 16, 64]
    } else {
        &[1, 4, 16, 64, 256, 1024]
    };
    let depths: &[usize] = if quick {
        &[10, 1000]
    } else {
        &[10, 100, 1000, 10000]
    };
    let mut v = vec![];
    for &m in mems {
        v.push((m, true, 10));
        v.push((m, false, 10));
    }
    for &d in depths.iter().filter(|&&d| d != 10) {
        v.push((1, true, d));
    }
    v
}

pub fn run(cfg: &Config) -> Result<Vec<CkRow>> {
    crate::step("bench: checkpoint and restore (benches/checkpoint/ckpt.c)");
    let dir = cfg.work.join("ckpt");
    testsuite::exec::fresh_dir(&dir.join("guest"))?;
    let exe = dir.join("ckpt");
    super::measure::wasmc(
        &cfg.wasmc,
        &crate::root().join("benches/checkpoint/ckpt.wasm"),
        &exe,
        &[],
    )?;
    let ck = dir.join("state.ckpt");
    let go = dir.join("guest/go");
    let mut rows = vec![];
    for (mib, dense, depth) in configs(cfg.quick) {
        let args = vec![
            mib.to_string(),
            if dense { "dense" } else { "sparse" }.to_string(),
            depth.to_string(),
        ];
        let base = || {
            let mut c = Command::new(&exe);
            testsuite::exec::scrub_env(&mut c);
            c.env(
                "WASMC_DIRS",
                format!("{}::/ck", dir.join("guest").display()),
            );
            c
        };
        let (mut ckt, mut bt, mut rt, mut ft, mut wt) = (vec![], vec![], vec![], vec![], vec![]);
        let mut size = 0;
        // One untimed round first (page cache, lazily built files).
        for round in 0..=cfg.rounds {
            let _ = std::fs::remove_file(&go);
            let _ = std::fs::remove_file(&ck);
            let mut c = base();
            c.args(&args).env("WASMC_CHECKPOINT", &ck);
            let t_ck = from_ready(c, true)?;
            size = std::fs::metadata(&ck)
                .context("no checkpoint written")?
                .len();

            std::fs::write(&go, "")?;
            let mut c = base();
            c.args(&args);
            let t_base = from_ready(c, false)?;

            let mut c = base();
            c.env("WASMC_RESTORE", &ck);
            let (t_restore, out_r) = whole(c)?;
            let mut c = base();
            c.args(&args);
            let (t_fresh, out_f) = whole(c)?;
            // A restored run prints only what comes after the checkpoint.
            if !String::from_utf8_lossy(&out_f).ends_with(&*String::from_utf8_lossy(&out_r))
                || out_r.is_empty()
            {
                bail!("ckpt {args:?}: restored run printed {out_r:?}, fresh run {out_f:?}");
            }
            let t_write = write_floor(&dir.join("floor.bin"), size)?;
            if round > 0 {
                ckt.push(t_ck);
                bt.push(t_base);
                rt.push(t_restore);
                ft.push(t_fresh);
                wt.push(t_write);
            }
        }
        let pages = (mib * 16) as u64;
        let row = CkRow {
            mib,
            dense,
            depth,
            checkpoint: Stats::of(&ckt),
            baseline: Stats::of(&bt),
            restore: Stats::of(&rt),
            fresh: Stats::of(&ft),
            size,
            nonzero: if dense { pages * 65536 } else { pages * 4096 },
            write_floor: Stats::of(&wt),
        };
        println!(
            "    {mib:>5} MiB {:<6} depth {depth:>5}: checkpoint {:.2} ms (baseline {:.2} ms), restore {:.1} ms vs fresh {:.1} ms, size {} B, write floor {:.2} ms",
            args[1],
            row.checkpoint.median * 1e3,
            row.baseline.median * 1e3,
            row.restore.median * 1e3,
            row.fresh.median * 1e3,
            row.size,
            row.write_floor.median * 1e3
        );
        rows.push(row);
    }
    let _ = std::fs::remove_file(&ck);
    let _ = std::fs::remove_file(dir.join("floor.bin"));
    Ok(rows)
}

/// Seconds from reading "ready" to exit; with `signal`, SIGUSR1 is sent at "ready" and
/// the process must exit 85 (checkpoint written), else 0.
fn from_ready(mut c: Command, signal: bool) -> Result<f64> {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            let o = child.wait_with_output()?;
            bail!(
                "ckpt ended before \"ready\": {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        if line.trim() == "ready" {
            break;
        }
    }
    let t0 = Instant::now();
    if signal && unsafe { kill(child.id() as i32, SIGUSR1) } != 0 {
        bail!("kill(SIGUSR1) failed");
    }
    // Drain stdout (the uninterrupted run prints "done") so the child never blocks.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest)?;
    let status = child.wait()?;
    let t = t0.elapsed().as_secs_f64();
    let want = if signal {
        testsuite::crossmigrate::CHECKPOINT_EXIT
    } else {
        0
    };
    if status.code() != Some(want) {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err)?;
        bail!("ckpt exited {status} (expected {want}): {err}");
    }
    Ok(t)
}

fn whole(mut c: Command) -> Result<(f64, Vec<u8>)> {
    let (t, out, err, code) = time_once(&mut c)?;
    if code != Some(0) {
        bail!("{c:?} exited {code:?}: {}", String::from_utf8_lossy(&err));
    }
    Ok((t, out))
}

fn write_floor(path: &Path, size: u64) -> Result<f64> {
    // Non-zero bytes, so no file system can shortcut zero pages.
    let buf = vec![0x5au8; size as usize];
    let tmp = path.with_extension("tmp");
    let t0 = Instant::now();
    let mut f = std::fs::File::create(&tmp)?;
    std::io::Write::write_all(&mut f, &buf)?;
    f.sync_all()?; // the runtime fsyncs its checkpoint before renaming it into place
    drop(f);
    std::fs::rename(&tmp, path)?;
    let t = t0.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(t)
}
