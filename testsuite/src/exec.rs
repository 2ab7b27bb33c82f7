//! Running child processes: with a timeout, with output captured, and never more than
//! [`MAX_PROCESSES`] at once across all tests of a test binary. The machine has 2 cores,
//! and each qemu-user process of a wasmc executable reserves its linear-memory region
//! (8 GiB of address space) plus a 1 GiB native stack up front.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

pub const MAX_PROCESSES: usize = 4;

static SLOTS: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Holds one of the [`MAX_PROCESSES`] slots until dropped.
pub struct Slot(());

impl Slot {
    pub fn acquire() -> Slot {
        let mut used = SLOTS.lock().unwrap();
        while *used >= MAX_PROCESSES {
            used = FREED.wait(used).unwrap();
        }
        *used += 1;
        Slot(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *SLOTS.lock().unwrap() -= 1;
        FREED.notify_one();
    }
}

#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Exit status, or None when killed by a signal or the timeout.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// "exit 0", "killed by signal 11", "timed out after 120s": for reports.
    pub fn status_text(&self) -> String {
        if self.timed_out {
            format!("timed out after {:.0?}", self.elapsed)
        } else if let Some(s) = self.signal {
            format!("killed by signal {s}")
        } else {
            format!("exit {}", self.code.unwrap_or(-1))
        }
    }
}

/// Runs `cmd` to completion (or kills it after `timeout`), capturing stdout and stderr,
/// inside one process slot. Stdin is empty.
pub fn run(mut cmd: Command, timeout: Duration) -> std::io::Result<Outcome> {
    let _slot = Slot::acquire();
    let start = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    // Readers on their own threads: a child filling one pipe must not block on it
    // while we wait on the other.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(Outcome {
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        code: if timed_out { None } else { status.code() },
        signal: if timed_out { None } else { status.signal() },
        timed_out,
        elapsed: start.elapsed(),
    })
}

/// Applies `f` to every item on up to `workers` threads; results keep the input order.
/// (Process-level concurrency is bounded separately by [`Slot`].)
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1).min(items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

/// A command that runs `exe` (built for `arch`) here: directly, or under qemu-user.
pub fn command_for(arch: targets::Arch, exe: &Path) -> Command {
    match arch.runner() {
        Some(q) => {
            let mut c = Command::new(q);
            c.arg(exe);
            c
        }
        None => Command::new(exe),
    }
}

/// Removes every `WASMC_*` variable inherited from the developer's shell, so a stray
/// setting cannot change what a test observes.
pub fn scrub_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WASMC_") {
            cmd.env_remove(k);
        }
    }
}

/// Empties (or creates) a directory.
pub fn fresh_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)
}

/// Makes `to` a copy of the tree at `from` (files, directories, symlinks as links),
/// emptying it first.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fresh_dir(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ty = e.file_type()?;
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ty.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Seconds from an env var, or a default (slow machines can raise timeouts).
pub fn timeout_from_env(var: &str, default_secs: u64) -> Duration {
    let s = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_secs);
    Duration::from_secs(s)
}
