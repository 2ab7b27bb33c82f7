//! The benchmark workloads: our compute kernels (C sources and `.wasm` committed in
//! `benches/kernels/`, rebuilt by `benches/build.sh`) and real programs nobody here
//! wrote (C libraries bundled in crates.io `-sys` crates, fetched at bench time with
//! `testsuite::registry::fetch_crate` and built with a small driver of ours from
//! `benches/programs/`). Every workload is also built natively with `gcc -O2`, as an
//! engine-independent reference.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Workload {
    pub name: String,
    /// "kernel" (ours) or "program" (third-party library + our driver).
    pub kind: &'static str,
    pub wasm: PathBuf,
    pub native: PathBuf,
    /// The size argument (full runs take 0.5–5 s natively; `--quick` shrinks it).
    pub args: Vec<String>,
    /// The quick size argument, whatever the run.
    pub small_args: Vec<String>,
}

/// name, full size, quick size. Full sizes were picked for 0.5–1.5 s natively (gcc -O2)
/// on the 2-core dev machine; quick sizes for ~0.05 s.
const KERNELS: &[(&str, &str, &str)] = &[
    ("matmul", "600", "200"),
    ("lu", "1000", "300"),
    ("stencil", "1024", "256"),
    ("dp", "12000", "3000"),
    ("sort", "1500000", "200000"),
    ("hash", "16", "2"),
    ("compress", "16", "2"),
    ("interp", "32", "26"),
    ("calls", "38", "30"),
];

/// A library from crates.io plus our driver `benches/programs/<driver>`.
pub struct Program {
    pub name: &'static str,
    pub krate: (&'static str, &'static str),
    /// Directory of the C sources inside the unpacked crate.
    pub src_dir: &'static str,
    /// Sources relative to `src_dir`; a trailing `/*.c` takes a whole directory.
    pub sources: &'static [&'static str],
    pub defines: &'static [&'static str],
    pub driver: &'static str,
    pub full: &'static str,
    pub quick: &'static str,
}

pub const PROGRAMS: &[Program] = &[
    Program {
        name: "bzip2",
        krate: testsuite::registry::BZIP2_CRATE,
        src_dir: "bzip2-1.0.8",
        sources: testsuite::registry::BZIP2_SOURCES,
        defines: &["-DBZ_NO_STDIO"],
        driver: "bzip2_bench.c",
        full: "8",
        quick: "1",
    },
    Program {
        name: "lz4",
        krate: ("lz4-sys", "1.11.1+lz4-1.10.0"),
        src_dir: "liblz4/lib",
        sources: &["lz4.c", "lz4hc.c"],
        defines: &[],
        driver: "lz4_bench.c",
        full: "4",
        quick: "1",
    },
    Program {
        name: "zstd",
        krate: ("zstd-sys", "2.1.2+zstd.1.5.7"),
        src_dir: "zstd/lib",
        sources: &["common/*.c", "compress/*.c", "decompress/*.c"],
        // The x86-64 assembly Huffman decoder cannot go to Wasm; keep both builds alike.
        defines: &["-DZSTD_DISABLE_ASM"],
        driver: "zstd_bench.c",
        full: "16",
        quick: "1",
    },
];

fn benches() -> PathBuf {
    crate::root().join("benches")
}

/// All workloads, built (natively, and to Wasm for the programs) into `build`.
pub fn all(build: &Path, quick: bool) -> Result<Vec<Workload>> {
    std::fs::create_dir_all(build)?;
    let mut out = vec![];
    for &(name, full, small) in KERNELS {
        let src = benches().join(format!("kernels/{name}.c"));
        let native = build.join(format!("{name}.native"));
        gcc(&[src], &[], &[], &native)?;
        out.push(Workload {
            name: name.into(),
            kind: "kernel",
            wasm: benches().join(format!("kernels/{name}.wasm")),
            native,
            args: vec![if quick { small } else { full }.into()],
            small_args: vec![small.into()],
        });
    }
    for p in PROGRAMS {
        crate::step(format!(
            "bench: fetching {} {} from crates.io and building {}",
            p.krate.0, p.krate.1, p.name
        ));
        let krate = testsuite::registry::fetch_crate(p.krate.0, p.krate.1)?;
        let dir = krate.join(p.src_dir);
        let mut srcs = expand_sources(&dir, p.sources)?;
        srcs.push(benches().join("programs").join(p.driver));
        let incs = vec![dir.clone(), dir.join("common"), benches().join("programs")];
        let wasm = build.join(format!("{}.wasm", p.name));
        let native = build.join(format!("{}.native", p.name));
        clang_wasm(&srcs, &incs, p.defines, &wasm)?;
        gcc(&srcs, &incs, p.defines, &native)?;
        out.push(Workload {
            name: p.name.into(),
            kind: "program",
            wasm,
            native,
            args: vec![if quick { p.quick } else { p.full }.into()],
            small_args: vec![p.quick.into()],
        });
    }
    Ok(out)
}

fn expand_sources(dir: &Path, pats: &[&str]) -> Result<Vec<PathBuf>> {
    let mut v = vec![];
    for pat in pats {
        if let Some(sub) = pat.strip_suffix("/*.c") {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
                .with_context(|| format!("listing {}", dir.join(sub).display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "c"))
                .collect();
            files.sort(); // stable order: same module bytes every run
            v.extend(files);
        } else {
            v.push(dir.join(pat));
        }
    }
    Ok(v)
}

/// Skips the build when `out` is newer than every input (zstd takes ~40 s per build).
fn up_to_date(inputs: &[PathBuf], out: &Path) -> bool {
    let Ok(t) = std::fs::metadata(out).and_then(|m| m.modified()) else {
        return false;
    };
    inputs.iter().all(|i| {
        std::fs::metadata(i)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m <= t)
    })
}

fn compile(
    mut cmd: Command,
    srcs: &[PathBuf],
    incs: &[PathBuf],
    defs: &[&str],
    out: &Path,
) -> Result<()> {
    if up_to_date(srcs, out) {
        return Ok(());
    }
    cmd.args(defs).arg("-w");
    for i in incs {
        cmd.arg("-I").arg(i);
    }
    cmd.args(srcs).arg("-o").arg(out);
    let shown = format!("{cmd:?}");
    let o = cmd
        .output()
        .with_context(|| format!("cannot start {shown}"))?;
    if !o.status.success() {
        bail!("{shown} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(())
}

pub fn gcc(srcs: &[PathBuf], incs: &[PathBuf], defs: &[&str], out: &Path) -> Result<()> {
    let mut c = Command::new("gcc");
    c.arg("-O2");
    compile(c, srcs, incs, defs, out)
}

/// The same flags as the committed kernels (benches/build.sh) and the test fixtures.
pub fn clang_wasm(srcs: &[PathBuf], incs: &[PathBuf], defs: &[&str], out: &Path) -> Result<()> {
    let mut c = Command::new(testsuite::registry::clang());
    c.args(testsuite::registry::WASM_CFLAGS);
    compile(c, srcs, incs, defs, out)
}
