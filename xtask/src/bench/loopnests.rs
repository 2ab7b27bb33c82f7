//! (a), on loop nests beyond the bench's kernels: `benches/loopnests/` holds fourteen
//! dense linear-algebra, stencil and dynamic-programming nests in the style of
//! PolyBench/C (our own code), each in a function of its own. What points cost there
//! is counted, not timed: callgrind's instructions with and without points, one run of
//! each kernel, both variants side by side. The two must also print the same checksum.

use super::instructions::{count_both, InsnRow};
use super::{measure, Config};
use anyhow::{bail, Result};

/// Kernel, size: some 10–40 million instructions each, so the count is the nest's,
/// not start-up's. A quick run halves the sizes.
const NESTS: &[(&str, u32)] = &[
    ("gemm", 120),
    ("gemm_dot", 120),
    ("syrk", 120),
    ("atax", 400),
    ("mvt", 400),
    ("cholesky", 200),
    ("trisolv", 500),
    ("jacobi2d", 200),
    ("seidel2d", 200),
    ("fdtd2d", 200),
    ("heat3d", 40),
    ("floyd", 120),
    ("nussinov", 200),
    ("covariance", 120),
];

pub fn run(cfg: &Config) -> Result<Vec<InsnRow>> {
    crate::step("bench: loop nests, executed instructions (callgrind)");
    let wasm = crate::root().join("benches/loopnests/loopnests.wasm");
    let dir = cfg.work.join("exe");
    std::fs::create_dir_all(&dir)?;
    let (mig, nomig) = (dir.join("loopnests.mig"), dir.join("loopnests.nomig"));
    measure::wasmc(&cfg.wasmc, &wasm, &mig, &[])?;
    measure::wasmc(&cfg.wasmc, &wasm, &nomig, &["--no-migration-points"])?;
    let mut rows = vec![];
    for &(name, size) in NESTS {
        let size = if cfg.quick { size / 2 } else { size };
        let args = vec![name.to_string(), size.to_string()];
        let ((m, out_m), (n, out_n)) = count_both(&mig, &nomig, &args)?;
        if out_m != out_n {
            bail!(
                "loopnests {name} {size}: with points printed {:?}, without {:?}",
                String::from_utf8_lossy(&out_m),
                String::from_utf8_lossy(&out_n)
            );
        }
        let row = InsnRow {
            name: name.to_string(),
            args: vec![size.to_string()],
            mig: m,
            nomig: n,
        };
        println!(
            "    {name} {size}: {m} / {n} instructions ({:.3}x)",
            row.ratio()
        );
        rows.push(row);
    }
    Ok(rows)
}
