//! `wasmc control SOCKET COMMAND...`: the client side of a running program's control
//! socket (`WASMC_CONTROL`, SPEC.md §5): one line out, one line back.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Sends `line` to the program listening at `socket` and returns its answer. A command
/// that stops the program is answered when its outcome is known (a migration over a
/// slow link can take minutes), so the wait for the answer is not bounded.
pub fn send(socket: &Path, line: &str) -> Result<String> {
    if line.contains('\n') || line.len() >= 512 {
        bail!("a control command is one line of less than 512 bytes");
    }
    let mut s = UnixStream::connect(socket)
        .with_context(|| format!("cannot connect to the control socket {}", socket.display()))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{line}\n").as_bytes())?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .context("reading the program's answer")?;
    if answer.is_empty() {
        bail!("the program closed the control connection without an answer");
    }
    Ok(answer.trim_end().to_string())
}
