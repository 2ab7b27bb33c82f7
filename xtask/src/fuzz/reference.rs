//! The wasmtime side of the differential test: `wasmtime_invoke.py` (beside this file)
//! runs a module under the PyPI `wasmtime` package and says what each call gave.

use anyhow::{bail, Result};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The driver limits every call to 10 s itself; this only catches a stuck driver.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(300);

/// One step of the driver, in order; the wasmc side repeats each.
pub enum Event {
    /// A (new) instance: `ok`, `trap <message>`, `exhausted`, `timeout` or `error <text>`.
    Instantiate(String),
    /// An exported function called with `params` zero arguments. The answer:
    /// `ok 0:1 2:7fc00000`, `trap <message>`, `exhausted`, `timeout` or `error <text>`.
    Call {
        name: String,
        params: usize,
        answer: String,
    },
    /// An exported global's value (after the calls, or the fuel when it ran out).
    Global { name: String, value: String },
}

/// Everything wasmtime said about one module.
pub struct Reference {
    pub events: Vec<Event>,
    /// The driver got to the end (no exhaustion, timeout or error stopped it).
    pub done: bool,
}

impl Reference {
    /// The whole transcript, for reproducers.
    pub fn transcript(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            s += &match e {
                Event::Instantiate(a) => format!("instantiate: {a}\n"),
                Event::Call {
                    name,
                    params,
                    answer,
                } => {
                    format!("invoke {name:?} ({params} zero args): {answer}\n")
                }
                Event::Global { name, value } => format!("global {name:?}: {value}\n"),
            };
        }
        s
    }
}

fn unhex(s: &str) -> Option<String> {
    if s == "-" {
        return Some(String::new());
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn parse(stdout: &str) -> Option<Reference> {
    let mut r = Reference {
        events: Vec::new(),
        done: false,
    };
    for line in stdout.lines() {
        let mut w = line.splitn(4, ' ');
        r.events.push(match w.next()? {
            "instantiate" => Event::Instantiate(line.get("instantiate ".len()..)?.to_string()),
            "invoke" => Event::Call {
                name: unhex(w.next()?)?,
                params: w.next()?.parse().ok()?,
                answer: w.next()?.to_string(),
            },
            "global" => Event::Global {
                name: unhex(w.next()?)?,
                value: w.next()?.to_string(),
            },
            "done" => {
                r.done = true;
                continue;
            }
            _ => return None,
        });
    }
    matches!(r.events.first(), Some(Event::Instantiate(_))).then_some(r)
}

/// Runs `wasm` (a file) under wasmtime. `Err` means the driver itself failed (no
/// wasmtime, a Python exception, unparsable output): not the module's fault.
pub fn run(wasm: &Path) -> Result<Reference> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/fuzz/wasmtime_invoke.py");
    let mut cmd = Command::new(testsuite::reference::python());
    cmd.arg(script).arg(wasm);
    let o = testsuite::exec::run(cmd, DRIVER_TIMEOUT)?;
    let stdout = o.stdout_str();
    match (o.code, parse(&stdout)) {
        (Some(0), Some(r)) => Ok(r),
        _ => bail!(
            "wasmtime driver {}: {}{}",
            o.status_text(),
            o.stderr_str().trim(),
            stdout.lines().last().unwrap_or("")
        ),
    }
}
