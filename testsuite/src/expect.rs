//! Fixtures and their `.expect` files.
//!
//! Every `NAME.wasm` under `testsuite/fixtures/{c,wat,rust}` has a `NAME.expect` beside
//! it: header lines, then `--- stdout`, then the exact expected stdout. Header lines:
//!
//! ```text
//! # comment
//! args: one "two words" ""        arguments after argv[0]; "..." groups, "" is empty
//! env: KEY=VALUE                  one per line, repeatable
//! dir: /sandbox                   preopen a fresh, empty host directory as this guest path
//! exit: 42                        expected exit status (default 0, or 134 with a trap)
//! trap: MESSAGE in FUNCTION       expected trap; FUNCTION's index comes from the name section
//! stderr: LINE                    an exact line stderr must contain (e.g. a full trap line)
//! host-file: NAME=CONTENT         after the run, the preopened dir holds NAME with CONTENT+"\n"
//! wasmtime: nan-canonicalization  the wasmtime cross-check canonicalises NaNs as wasmc
//!                                 does (wasmtime's default lets x86-64 NaN bits through)
//! ```

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct Expect {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: Option<String>,
    pub exit: i32,
    /// A host directory whose copy is the run's directory (`dir`) before every run: a
    /// program's input files. Set by tests that build their fixture, not by `.expect`
    /// files.
    pub seed: Option<PathBuf>,
    /// Where a program's log depends on the wall clock, the files of its directory that
    /// judge a migrated run (with the exit status), in place of everything it leaves.
    /// Set by tests that build their fixture, not by `.expect` files.
    pub judged_files: Option<Vec<String>>,
    /// (message, function name) of the expected trap.
    pub trap: Option<(String, String)>,
    pub stderr_lines: Vec<String>,
    pub host_files: Vec<(String, String)>,
    /// Run the wasmtime cross-check with its NaN canonicalisation on.
    pub wasmtime_canonical_nans: bool,
    pub stdout: String,
}

#[derive(Clone, Debug)]
pub struct Fixture {
    /// `c/floats`, `wat/int_semantics`, `rust/wordfreq`: unique and readable in reports.
    pub name: String,
    pub wasm: PathBuf,
    pub expect: Expect,
}

impl Fixture {
    /// The trap line the fixture must print on stderr, if it traps.
    pub fn expected_trap_line(&self) -> Result<Option<String>> {
        let Some((msg, func)) = &self.expect.trap else {
            return Ok(None);
        };
        let index = func_index(&self.wasm, func)?;
        Ok(Some(format!(
            "wasmc: trap: {msg} in function {func} (#{index})"
        )))
    }

    /// A file-system-friendly form of the name.
    pub fn slug(&self) -> String {
        self.name.replace('/', "-")
    }
}

/// All fixtures, sorted by name. A `.wasm` without `.expect` (or the reverse) is an error:
/// a fixture nobody checks is a fixture that silently rots.
pub fn load_fixtures() -> Result<Vec<Fixture>> {
    let root = crate::fixtures_dir();
    let mut out = Vec::new();
    for kind in ["c", "wat", "rust"] {
        let dir = root.join(kind);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            match ext {
                "wasm" => {
                    let exp = path.with_extension("expect");
                    if !exp.exists() {
                        bail!("{} has no {}", path.display(), exp.display());
                    }
                    let text = std::fs::read_to_string(&exp)?;
                    let expect =
                        parse_expect(&text).with_context(|| format!("in {}", exp.display()))?;
                    out.push(Fixture {
                        name: format!("{kind}/{stem}"),
                        wasm: path,
                        expect,
                    });
                }
                "expect" if !path.with_extension("wasm").exists() => {
                    bail!(
                        "{} has no .wasm: run `cargo xtask fixtures`",
                        path.display()
                    )
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

pub fn parse_expect(text: &str) -> Result<Expect> {
    let mut e = Expect::default();
    let mut exit = None;
    let (head, stdout) = match text.split_once("--- stdout\n") {
        Some((h, s)) => (h, s),
        None if text.ends_with("--- stdout") => (&text[..text.len() - 10], ""),
        None => bail!("missing `--- stdout` line"),
    };
    e.stdout = stdout.to_string();
    for line in head.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .with_context(|| format!("bad line `{line}`"))?;
        let value = value.trim();
        match key {
            "args" => e.args = split_args(value)?,
            "env" => {
                let (k, v) = value
                    .split_once('=')
                    .with_context(|| format!("env needs K=V: `{line}`"))?;
                e.env.push((k.to_string(), v.to_string()));
            }
            "dir" => e.dir = Some(value.to_string()),
            "exit" => {
                exit = Some(
                    value
                        .parse()
                        .with_context(|| format!("bad exit `{value}`"))?,
                )
            }
            "trap" => {
                let (m, f) = value
                    .rsplit_once(" in ")
                    .with_context(|| format!("trap needs `MSG in FUNC`: `{line}`"))?;
                e.trap = Some((m.to_string(), f.to_string()));
            }
            "stderr" => e.stderr_lines.push(value.to_string()),
            "host-file" => {
                let (k, v) = value
                    .split_once('=')
                    .with_context(|| format!("host-file needs NAME=CONTENT: `{line}`"))?;
                e.host_files.push((k.to_string(), v.to_string()));
            }
            "wasmtime" if value == "nan-canonicalization" => e.wasmtime_canonical_nans = true,
            _ => bail!("unknown key `{key}`"),
        }
    }
    let traps = e.trap.is_some() || e.stderr_lines.iter().any(|l| l.starts_with("wasmc: trap:"));
    e.exit = exit.unwrap_or(if traps { abi_trap_exit() } else { 0 });
    Ok(e)
}

/// Exit status of a trapped process (abi-spec's TRAP_EXIT_CODE; not a dependency here
/// so that the expectations do not follow the implementation by construction).
pub fn abi_trap_exit() -> i32 {
    134
}

/// Splits on spaces; `"..."` groups words and may be empty. No escapes: none needed.
fn split_args(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(ch) => word.push(ch),
                    None => bail!("unterminated quote in args"),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch == ' ' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
    Ok(out)
}

/// Index (in the function index space, imports included) of the function the module's
/// name section calls `name`.
pub fn func_index(wasm: &Path, name: &str) -> Result<u32> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::CustomSection(c) = payload? {
            if let wasmparser::KnownCustom::Name(reader) = c.as_known() {
                for sub in reader {
                    if let wasmparser::Name::Function(map) = sub? {
                        for naming in map {
                            let naming = naming?;
                            if naming.name == name {
                                return Ok(naming.index);
                            }
                        }
                    }
                }
            }
        }
    }
    bail!(
        "{} has no function named `{name}` in its name section",
        wasm.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_and_stdout() {
        let e = parse_expect(
            "# c\nargs: a \"b c\" \"\"\nenv: K=v=w\ntrap: integer overflow in f\n--- stdout\nx\n",
        )
        .unwrap();
        assert_eq!(e.args, ["a", "b c", ""]);
        assert_eq!(e.env, [("K".to_string(), "v=w".to_string())]);
        assert_eq!(e.trap, Some(("integer overflow".into(), "f".into())));
        assert_eq!(e.exit, 134);
        assert_eq!(e.stdout, "x\n");
        assert_eq!(parse_expect("exit: 3\n--- stdout").unwrap().stdout, "");
        assert!(parse_expect("bogus: 1\n--- stdout\n").is_err());
    }

    #[test]
    fn every_fixture_loads_and_trap_functions_exist() {
        let all = load_fixtures().unwrap();
        assert!(all.len() >= 25, "only {} fixtures", all.len());
        for f in &all {
            f.expected_trap_line().unwrap();
        }
    }
}

/// `(ISA, FIXTURE)` pairs (ISA may be `*`) expected to fail, from
/// testsuite/known-failures.txt.
pub fn known_failures() -> std::collections::BTreeSet<(String, String)> {
    let path = crate::repo_root().join("testsuite/known-failures.txt");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(a, f)| (a.trim().to_string(), f.trim().to_string()))
        .collect()
}
