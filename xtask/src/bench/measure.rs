//! Timing: whole processes started with std::process and timed with `Instant` from
//! spawn to exit (or, for wasmtime, the seconds its Python helper reports around the
//! measured call). Variants of one workload are interleaved A B C A B C … so slow
//! drift on this shared, noisy 2-core machine hits all of them alike; we keep medians
//! (robust to the odd descheduled run) and show min and max so the spread is visible.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Stats {
        let mut v = samples.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stats {
            median,
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// How a variant's time is obtained.
#[derive(Clone, Copy, PartialEq)]
pub enum Clock {
    /// Spawn to exit, measured here.
    WholeProcess,
    /// The last `<key> S` line the process prints on stderr (or stdout), in seconds.
    Reported(&'static str),
}

pub struct Variant {
    pub label: &'static str,
    pub cmd: Command,
    pub clock: Clock,
    /// Whether its output must equal the first variant's. Not for native builds: a
    /// program may legitimately differ between wasm32 and x86_64 (lz4's fast mode
    /// picks its hash by pointer size, so its compressed size differs).
    pub compare: bool,
}

impl Variant {
    pub fn new(label: &'static str, cmd: Command, clock: Clock) -> Variant {
        Variant {
            label,
            cmd,
            clock,
            compare: true,
        }
    }
}

/// Runs `cmd` to completion; returns (seconds, stdout, stderr, exit code).
pub fn time_once(cmd: &mut Command) -> Result<(f64, Vec<u8>, Vec<u8>, Option<i32>)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let secs = t0.elapsed().as_secs_f64();
    Ok((secs, out.stdout, out.stderr, out.status.code()))
}

pub fn reported(key: &str, stdout: &[u8], stderr: &[u8]) -> Option<f64> {
    let find = |b: &[u8]| {
        String::from_utf8_lossy(b).lines().rev().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.trim().parse::<f64>().ok())
        })
    };
    find(stderr).or_else(|| find(stdout))
}

fn sample(v: &mut Variant) -> Result<(f64, Vec<u8>)> {
    let (secs, out, err, code) = time_once(&mut v.cmd)?;
    if code != Some(0) {
        bail!(
            "{} ({:?}) exited with {code:?}:\n{}",
            v.label,
            v.cmd,
            String::from_utf8_lossy(&err)
        );
    }
    let t = match v.clock {
        Clock::WholeProcess => secs,
        Clock::Reported(key) => reported(key, &out, &err)
            .with_context(|| format!("{}: no `{key}` line in its output", v.label))?,
    };
    Ok((t, out))
}

/// One untimed warm-up run of each variant (page cache, and a check that every variant
/// prints exactly what the first one prints), then `rounds` interleaved rounds.
pub fn interleave(name: &str, variants: &mut [Variant], rounds: usize) -> Result<Vec<Stats>> {
    let mut reference: Option<Vec<u8>> = None;
    for v in variants.iter_mut() {
        let (_, out) = sample(v)?;
        match &reference {
            _ if !v.compare => {}
            None => reference = Some(out),
            Some(r) if *r != out => bail!(
                "{name}: {} printed {:?} but {} printed {:?}",
                v.label,
                String::from_utf8_lossy(&out),
                "the first variant",
                String::from_utf8_lossy(r)
            ),
            Some(_) => {}
        }
    }
    let mut samples = vec![vec![]; variants.len()];
    for _ in 0..rounds {
        for (i, v) in variants.iter_mut().enumerate() {
            samples[i].push(sample(v)?.0);
        }
    }
    Ok(samples.iter().map(|s| Stats::of(s)).collect())
}

/// A command for a compiled executable, with no inherited WASMC_* controls.
pub fn exe_command(exe: &Path, args: &[String]) -> Command {
    let mut c = Command::new(exe);
    c.args(args);
    testsuite::exec::scrub_env(&mut c);
    c
}

/// `wasmc [extra] wasm -o out`, failing loudly.
pub fn wasmc(wasmc: &Path, wasm: &Path, out: &Path, extra: &[&str]) -> Result<()> {
    let mut c = Command::new(wasmc);
    c.args(extra).arg(wasm).arg("-o").arg(out);
    let (_, _, err, code) = time_once(&mut c)?;
    if code != Some(0) {
        bail!("{c:?} failed:\n{}", String::from_utf8_lossy(&err));
    }
    Ok(())
}

pub fn python() -> String {
    std::env::var("WASMC_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

pub fn wasmtime_script() -> PathBuf {
    crate::root().join("benches/wasmtime_bench.py")
}

/// Whether the wasmtime Python module can be imported (it is optional in setup).
pub fn have_wasmtime() -> bool {
    Command::new(python())
        .args(["-c", "import wasmtime"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// wasmtime's engine configuration: its defaults, or with its NaN canonicalisation on
/// (`--canonical-nans`, the same bits on every ISA, as wasmc gives).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum WasmtimeNans {
    Default,
    Canonical,
}

impl WasmtimeNans {
    fn args(self) -> &'static [&'static str] {
        match self {
            WasmtimeNans::Default => &[],
            WasmtimeNans::Canonical => &["--canonical-nans"],
        }
    }
}

/// AOT-compiles `wasm` with wasmtime into `out`; returns the compile seconds it reports.
pub fn wasmtime_compile(wasm: &Path, out: &Path, nans: WasmtimeNans) -> Result<f64> {
    let mut c = Command::new(python());
    c.arg(wasmtime_script())
        .arg("compile")
        .args(nans.args())
        .arg(wasm)
        .arg(out);
    let (_, so, se, code) = time_once(&mut c)?;
    if code != Some(0) {
        bail!(
            "wasmtime compile of {} failed:\n{}",
            wasm.display(),
            String::from_utf8_lossy(&se)
        );
    }
    reported("compile-seconds", &so, &se).context("wasmtime_bench.py printed no compile-seconds")
}

/// Runs `cwasm`, compiled with the same `nans`.
pub fn wasmtime_run_command(cwasm: &Path, args: &[String], nans: WasmtimeNans) -> Command {
    let mut c = Command::new(python());
    c.arg(wasmtime_script())
        .arg("run")
        .args(nans.args())
        .arg(cwasm)
        .args(args);
    c
}

/// Size of the `.text` section and of all executable sections of an ELF file.
pub fn text_sizes(path: &Path) -> Result<(u64, u64)> {
    section_sizes(path).map(|s| (s.text, s.exec))
}

/// Bytes of an ELF file's sections by kind.
pub struct SectionSizes {
    /// `.text`.
    pub text: u64,
    /// Every executable section.
    pub exec: u64,
    /// Every section the program's image holds (SHF_ALLOC): code, read-only data
    /// (wasmc's points tables among it), data.
    pub loaded: u64,
}

pub fn section_sizes(path: &Path) -> Result<SectionSizes> {
    use object::{Object, ObjectSection, SectionFlags};
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file =
        object::File::parse(&*data).with_context(|| format!("parsing {}", path.display()))?;
    let (mut text, mut exec, mut loaded) = (0, 0, 0);
    for s in file.sections() {
        if s.name() == Ok(".text") {
            text += s.size();
        }
        if let SectionFlags::Elf { sh_flags } = s.flags() {
            // SHF_EXECINSTR
            if sh_flags & 4 != 0 {
                exec += s.size();
            }
            // SHF_ALLOC, without .bss (SHT_NOBITS = 8), which takes no bytes
            if sh_flags & 2 != 0 && s.kind() != object::SectionKind::UninitializedData {
                loaded += s.size();
            }
        }
    }
    Ok(SectionSizes { text, exec, loaded })
}

pub fn geomean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0);
    for x in xs {
        s += x.ln();
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        (s / n as f64).exp()
    }
}
