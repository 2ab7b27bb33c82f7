//! Running a restored executable with a time limit that tells a hang from a long run.
//!
//! A mutated checkpoint may legitimately make a program run for ages (a loop counter
//! set to 2^32). When the limit passes, the process gets SIGUSR1: a program that is
//! running Wasm code reaches a migration point within one loop iteration and stops with
//! exit 85, so it was merely slow. One that does not answer is stuck where no migration
//! point is reached (in the runtime): a hang.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a probed process has to answer SIGUSR1 with a checkpoint.
const PROBE_GRACE: Duration = Duration::from_secs(3);
/// Output kept per stream: a mutant may print in a loop until the limit.
const KEEP: usize = 64 * 1024;

pub struct Probed {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Still running at the limit, so it was sent SIGUSR1 (and then ended by itself:
    /// exit 85 if it checkpointed as asked).
    pub slow: bool,
    /// Still running at the limit and did not answer SIGUSR1: killed.
    pub hung: bool,
}

impl Probed {
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn status_text(&self) -> String {
        match (self.hung, self.slow, self.signal, self.code) {
            (true, ..) => "hung (no answer to SIGUSR1 after the time limit)".into(),
            (_, true, _, Some(85)) => "still running at the limit; checkpointed on SIGUSR1".into(),
            (_, true, Some(s), _) => {
                format!("still running at the limit; killed by signal {s} after SIGUSR1")
            }
            (_, true, _, c) => format!(
                "still running at the limit; exit {} after SIGUSR1",
                c.unwrap_or(-1)
            ),
            (_, _, Some(s), _) => format!("killed by signal {s}"),
            (_, _, _, c) => format!("exit {}", c.unwrap_or(-1)),
        }
    }
}

fn reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let (mut kept, mut buf) = (Vec::new(), [0u8; 8192]);
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = KEEP.saturating_sub(kept.len()).min(n);
            kept.extend_from_slice(&buf[..room]);
        }
        kept
    })
}

fn wait_until(
    child: &mut std::process::Child,
    until: Instant,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` (stdin empty) for up to `limit`, then probes it as described above.
pub fn run_probed(mut cmd: Command, limit: Duration) -> std::io::Result<Probed> {
    let _slot = testsuite::exec::Slot::acquire();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
    let (mut slow, mut hung) = (false, false);
    let status = match wait_until(&mut child, Instant::now() + limit)? {
        Some(s) => s,
        None => {
            // Our own child, by pid: it cannot have been reaped and reused yet.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) };
            match wait_until(&mut child, Instant::now() + PROBE_GRACE)? {
                Some(s) => {
                    slow = true;
                    s
                }
                None => {
                    hung = true;
                    let _ = child.kill();
                    child.wait()?
                }
            }
        }
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(Probed {
        code: status.code(),
        signal: status.signal(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        slow,
        hung,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Probed {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        run_probed(cmd, Duration::from_millis(300)).unwrap()
    }

    #[test]
    fn a_live_program_that_checkpoints_on_sigusr1_is_slow_not_hung() {
        let p = sh("trap 'exit 85' USR1; while :; do sleep 0.05; done");
        assert!(
            p.slow && !p.hung && p.code == Some(85),
            "{}",
            p.status_text()
        );
    }

    #[test]
    fn a_program_that_ignores_sigusr1_is_hung() {
        let p = sh("trap '' USR1; exec sleep 30"); // exec: no child keeps the pipes open
        assert!(p.hung, "{}", p.status_text());
    }

    #[test]
    fn a_quick_program_is_neither() {
        let p = sh("echo out; echo err >&2; exit 3");
        assert!(!p.slow && !p.hung && p.code == Some(3));
        assert_eq!(
            (p.stdout.as_slice(), p.stderr.as_slice()),
            (&b"out\n"[..], &b"err\n"[..])
        );
    }
}
