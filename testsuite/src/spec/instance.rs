//! Compiling a module with wasmc (cached by content) and driving one instance of it: a
//! process in harness mode (`WASMC_HARNESS=1`, see runtime-lib/src/harness.rs) that
//! answers one line per command.

use super::values::{parse_value, Value};
use crate::exec::{command_for, run, scrub_env};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use targets::Arch;

/// Per-command time limit: the slowest legitimate command is deep recursion until
/// exhaustion under qemu.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const COMPILE_TIMEOUT: Duration = Duration::from_secs(120);

/// What wasmc did with a module.
pub enum Compiled {
    Exe(PathBuf),
    /// Exit code 1 with a `wasmc: error:` line: the module was rejected.
    Rejected(String),
    /// Anything else (panic, signal, timeout, exit 1 without the error line): a bug.
    Crashed(String),
}

pub struct Compiler {
    pub isa: Arch,
    pub wasmc: PathBuf,
    pub cache: PathBuf,
    /// Identifies the wasmc build, so a rebuilt compiler never reuses stale executables.
    stamp: String,
}

/// FNV-1a 64, twice with different offsets: a stable content key (std's hasher is not
/// promised to be stable across Rust releases).
fn content_key(parts: &[&[u8]]) -> String {
    let mut out = String::new();
    for seed in [0xcbf2_9ce4_8422_2325u64, 0x6c62_272e_07bb_0142] {
        let mut h = seed;
        for p in parts {
            for &b in *p {
                h ^= b as u64;
                h = h.wrapping_mul(0x100_0000_01b3);
            }
            h ^= 0xff;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        out += &format!("{h:016x}");
    }
    out
}

impl Compiler {
    pub fn new(isa: Arch, wasmc: PathBuf, cache_root: &Path) -> anyhow::Result<Compiler> {
        let meta = std::fs::metadata(&wasmc).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (build it: cargo build --release -p wasmc)",
                wasmc.display()
            )
        })?;
        let mtime = meta
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let cache = cache_root.join(isa.name());
        std::fs::create_dir_all(&cache)?;
        Ok(Compiler {
            isa,
            wasmc,
            cache,
            stamp: format!("{}-{mtime}", meta.len()),
        })
    }

    pub fn compile(&self, wasm: &[u8]) -> Compiled {
        let key = content_key(&[wasm, self.isa.name().as_bytes(), self.stamp.as_bytes()]);
        let exe = self.cache.join(&key);
        let rejected = self.cache.join(format!("{key}.rejected"));
        if exe.exists() {
            return Compiled::Exe(exe);
        }
        if let Ok(msg) = std::fs::read_to_string(&rejected) {
            return Compiled::Rejected(msg);
        }
        // Unique per process and call: two scripts may hold the same module.
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let uniq = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let input = self.cache.join(format!("{key}.{uniq}.wasm"));
        let tmp = self.cache.join(format!("{key}.{uniq}.tmp"));
        if let Err(e) = std::fs::write(&input, wasm) {
            return Compiled::Crashed(format!("cannot write {}: {e}", input.display()));
        }
        let mut cmd = Command::new(&self.wasmc);
        cmd.arg("--target")
            .arg(self.isa.name())
            .arg(&input)
            .arg("-o")
            .arg(&tmp);
        let out = run(cmd, COMPILE_TIMEOUT);
        let _ = std::fs::remove_file(&input);
        let out = match out {
            Ok(o) => o,
            Err(e) => return Compiled::Crashed(format!("cannot run wasmc: {e}")),
        };
        let stderr = out.stderr_str();
        match out.code {
            Some(0) => match std::fs::rename(&tmp, &exe) {
                Ok(()) => Compiled::Exe(exe),
                Err(e) => Compiled::Crashed(format!("wasmc succeeded but {}: {e}", tmp.display())),
            },
            Some(1)
                if stderr.lines().any(|l| l.starts_with("wasmc: error:"))
                    && !stderr.contains("panicked") =>
            {
                let msg = stderr
                    .lines()
                    .find(|l| l.starts_with("wasmc: error:"))
                    .unwrap_or("")
                    .to_string();
                let _ = std::fs::write(&rejected, &msg);
                Compiled::Rejected(msg)
            }
            _ => {
                let _ = std::fs::remove_file(&tmp);
                Compiled::Crashed(format!("wasmc {}: {}", out.status_text(), stderr.trim()))
            }
        }
    }
}

/// One answer of the harness.
#[derive(Debug)]
pub enum Reply {
    Ok(Vec<Value>),
    Trap(String),
    Exhausted,
    /// The harness refused the command (unknown export, bad arity).
    Error(String),
    /// The process died or hung: status and stderr.
    Died(String),
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Ok(vs) => write!(
                f,
                "[{}]",
                vs.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Reply::Trap(m) => write!(f, "trap \"{m}\""),
            Reply::Exhausted => write!(f, "stack exhausted"),
            Reply::Error(m) => write!(f, "harness error: {m}"),
            Reply::Died(m) => write!(f, "process died: {m}"),
        }
    }
}

/// A running module instance.
pub struct Instance {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    dead: bool,
}

/// Export names as one protocol word: hex, `-` for the empty name.
fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Instance {
    /// Starts `exe` and waits for instantiation: `Ok` when ready, `Err(reply)` when the
    /// instantiation trapped (`Reply::Trap`/`Exhausted`) or the process failed.
    pub fn start(isa: Arch, exe: &Path) -> Result<Instance, Reply> {
        let mut cmd = command_for(isa, exe);
        scrub_env(&mut cmd);
        cmd.env("WASMC_HARNESS", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| Reply::Died(format!("cannot start {}: {e}", exe.display())))?;
        let (tx, rx) = channel();
        let stdout = child.stdout.take().unwrap();
        // Reader threads: a blocked read must never stall the runner past its timeout.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(ans) = line.strip_prefix("=> ") {
                    if tx.send(ans.to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (mut err_pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut err_pipe, &mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap();
                if s.len() < 64 * 1024 {
                    s.extend_from_slice(&buf[..n]);
                }
            }
        });
        let stdin = child.stdin.take();
        let mut inst = Instance {
            child,
            stdin,
            lines: rx,
            stderr,
            dead: false,
        };
        match inst.answer() {
            Reply::Ok(_) => Ok(inst),
            other => Err(other),
        }
    }

    fn died(&mut self, why: &str) -> Reply {
        self.dead = true;
        let _ = self.child.kill();
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
        std::thread::sleep(Duration::from_millis(20)); // let the stderr thread catch up
        let err = String::from_utf8_lossy(&self.stderr.lock().unwrap())
            .trim()
            .to_string();
        Reply::Died(format!("{why}; {status}; stderr: {err}"))
    }

    fn answer(&mut self) -> Reply {
        if self.dead {
            return Reply::Died("instance died earlier".into());
        }
        let line = match self.lines.recv_timeout(COMMAND_TIMEOUT) {
            Ok(l) => l,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return self.died("timed out"),
            Err(_) => return self.died("no answer"),
        };
        let mut words = line.split(' ');
        match words.next() {
            Some("ready") => Reply::Ok(Vec::new()),
            Some("ok") => match words.map(parse_value).collect::<Option<Vec<_>>>() {
                Some(vs) => Reply::Ok(vs),
                None => Reply::Error(format!("unparsable answer `{line}`")),
            },
            Some("trap") => Reply::Trap(line["trap ".len().min(line.len())..].to_string()),
            Some("exhausted") => Reply::Exhausted,
            _ => Reply::Error(line.clone()),
        }
    }

    fn command(&mut self, cmd: String) -> Reply {
        if self.dead {
            return Reply::Died("instance died earlier".into());
        }
        let ok = self
            .stdin
            .as_mut()
            .is_some_and(|s| s.write_all(cmd.as_bytes()).and_then(|_| s.flush()).is_ok());
        if !ok {
            return self.died("cannot write command");
        }
        self.answer()
    }

    pub fn invoke(&mut self, name: &str, args: &[u64]) -> Reply {
        let mut cmd = format!("invoke {}", hex(name.as_bytes()));
        for a in args {
            cmd += &format!(" {a:x}");
        }
        cmd.push('\n');
        self.command(cmd)
    }

    pub fn get(&mut self, name: &str) -> Reply {
        self.command(format!("get {}\n", hex(name.as_bytes())))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the harness exits by itself
        if !self.dead {
            // Bounded wait, then kill: never leave processes behind.
            for _ in 0..50 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
