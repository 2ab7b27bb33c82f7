//! The live-migration part of `cargo xtask demo`: the demo starts on x86_64 and is
//! stopped there by SIGUSR1 in the middle of its loops; the checkpoint is restored by
//! the aarch64 executable (under qemu), which is checkpointed again and finished by the
//! riscv64 executable. The three outputs put together must equal one uninterrupted run.

use crate::step;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use targets::Arch;

/// Exit status of a process that wrote a checkpoint (abi-spec's CHECKPOINT_EXIT_CODE).
const CHECKPOINTED: i32 = 85;
/// A larger problem than the plain demo, so that a signal can land mid-run.
const LIMIT: &str = "30000000";

struct Demo {
    work: PathBuf,
    exes: Vec<(Arch, PathBuf)>,
}

impl Demo {
    fn command(&self, arch: Arch) -> Command {
        let exe = &self.exes.iter().find(|(a, _)| *a == arch).unwrap().1;
        let mut cmd = testsuite::exec::command_for(arch, exe);
        testsuite::exec::scrub_env(&mut cmd);
        cmd.arg(LIMIT)
            .env("DEMO_USER", "wasmc")
            .env(
                "WASMC_DIRS",
                format!("{}::/data", self.work.join("data").display()),
            )
            .current_dir(&self.work)
            .stdin(Stdio::null());
        cmd
    }
}

fn checkpointed(o: &Output) -> bool {
    o.status.code() == Some(CHECKPOINTED)
}

/// Runs `cmd` and sends SIGUSR1 after `delay`; returns the output and whether the
/// signal was sent while the program still ran.
fn run_with_signal(mut cmd: Command, delay: Duration) -> Result<(Output, bool)> {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the demo")?;
    let pid = child.id();
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while start.elapsed() < delay && !waiter.is_finished() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let sent = !waiter.is_finished()
        && Command::new("kill")
            .args(["-USR1", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
    let out = waiter
        .join()
        .map_err(|_| anyhow::anyhow!("waiting for the demo"))??;
    Ok((out, sent))
}

fn show(label: &str, out: &Output) {
    println!("---- {label} ----");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!("---- [{}] ----", out.status);
}

pub fn run(work: &Path, exes: Vec<(Arch, PathBuf)>) -> Result<()> {
    let d = Demo {
        work: work.join("migrate"),
        exes,
    };
    testsuite::exec::fresh_dir(&d.work.join("data"))?;
    step(format!(
        "live migration: demo {LIMIT} starts on x86_64, moves to aarch64, finishes on riscv64"
    ));

    let start = Instant::now();
    let reference = d
        .command(Arch::X86_64)
        .output()
        .context("uninterrupted run")?;
    let native_time = start.elapsed();
    if !reference.status.success() {
        bail!("the uninterrupted demo failed ({})", reference.status);
    }
    testsuite::exec::fresh_dir(&d.work.join("data"))?;

    // How long aarch64 takes under qemu, to aim its signal at the middle of its part.
    let start = Instant::now();
    let arm_reference = d
        .command(Arch::Aarch64)
        .output()
        .context("uninterrupted aarch64 run")?;
    let arm_time = start.elapsed();
    if arm_reference.stdout != reference.stdout {
        bail!("aarch64 and x86_64 disagree even without migration");
    }
    testsuite::exec::fresh_dir(&d.work.join("data"))?;

    // Hop 1: x86_64, stopped by a signal about a third of the way in (sooner on a
    // retry, should the program have finished first on a fast machine).
    let ck1 = d.work.join("hop1.ckpt");
    let mut delay = native_time / 3;
    let hop1 = loop {
        let mut cmd = d.command(Arch::X86_64);
        cmd.env("WASMC_CHECKPOINT", &ck1);
        let (out, sent) = run_with_signal(cmd, delay)?;
        if sent && checkpointed(&out) {
            break out;
        }
        if delay < Duration::from_millis(2) {
            bail!(
                "the x86_64 run could not be stopped by SIGUSR1 ({})",
                out.status
            );
        }
        testsuite::exec::fresh_dir(&d.work.join("data"))?;
        delay /= 2;
    };
    show("x86_64, stopped by SIGUSR1", &hop1);

    // Hop 2: aarch64 restores it and is stopped by a signal too.
    let ck2 = d.work.join("hop2.ckpt");
    let mut cmd = d.command(Arch::Aarch64);
    cmd.env("WASMC_RESTORE", &ck1).env("WASMC_CHECKPOINT", &ck2);
    let (hop2, _) = run_with_signal(cmd, arm_time / 3)?;
    show(
        "aarch64 under qemu, restored from x86_64's checkpoint, stopped by SIGUSR1",
        &hop2,
    );

    // Hop 3: riscv64 finishes (if aarch64 finished first, there is nothing left to move).
    let mut parts = vec![hop1.stdout.clone(), hop2.stdout.clone()];
    if checkpointed(&hop2) {
        let mut cmd = d.command(Arch::Riscv64);
        cmd.env("WASMC_RESTORE", &ck2);
        let hop3 = cmd.output().context("riscv64 hop")?;
        show("riscv64 under qemu (restored, runs to the end)", &hop3);
        if !hop3.status.success() {
            bail!("the riscv64 hop failed ({})", hop3.status);
        }
        parts.push(hop3.stdout);
    } else if !hop2.status.success() {
        bail!("the aarch64 hop failed ({})", hop2.status);
    }
    let combined: Vec<u8> = parts.concat();
    if combined != reference.stdout {
        println!(
            "{}",
            testsuite::diff(
                &String::from_utf8_lossy(&reference.stdout),
                &String::from_utf8_lossy(&combined)
            )
        );
        bail!("the migrated run's output differs from the uninterrupted run's");
    }
    println!(
        "live migration x86_64 -> aarch64 -> {}: output identical to one uninterrupted run",
        if parts.len() == 3 {
            "riscv64"
        } else {
            "(finished on aarch64)"
        }
    );
    Ok(())
}
