//! `cargo xtask fixtures`: rebuilds every committed .wasm from its source. The .wasm
//! files are committed so that tests need neither clang nor wabt nor a wasm Rust
//! target to *run*; this command is how they are regenerated after a source change.

use crate::{cargo, root, run_checked, step};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use testsuite::registry::{clang, WASM_CFLAGS};

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    v.sort();
    Ok(v)
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().and_then(|e| e.to_str()) == Some(ext)
}

/// The one command that builds a C fixture (also used for examples/demo). A source
/// whose first line is `// cflags: FLAGS` gets those flags added (e.g. -msimd128).
pub fn build_c(src: &Path, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(src)?;
    let extra: Vec<&str> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("// cflags:"))
        .map(|f| f.split_whitespace().collect())
        .unwrap_or_default();
    run_checked(
        Command::new(clang())
            .args(WASM_CFLAGS)
            .arg("-Wall")
            .args(extra)
            .arg(src)
            .arg("-o")
            .arg(out),
    )
}

/// The one command that builds a WAT fixture: `wat2wasm --debug-names`, or the `wat`
/// crate for a source whose first line is `;; wat-crate` (what wabt 1.0.32 does not
/// parse: exception handling's `try_table`). Both keep the names.
fn build_wat(src: &Path) -> Result<()> {
    let out = src.with_extension("wasm");
    let text = std::fs::read_to_string(src)?;
    if text.lines().next() == Some(";; wat-crate") {
        step(format!("wat crate {}", src.strip_prefix(root())?.display()));
        let bytes = wat::parse_str(&text).with_context(|| format!("parsing {}", src.display()))?;
        std::fs::write(&out, bytes)?;
        return Ok(());
    }
    step(format!("wat2wasm {}", src.strip_prefix(root())?.display()));
    run_checked(
        Command::new("wat2wasm")
            .arg("--debug-names")
            .arg(src)
            .arg("-o")
            .arg(out),
    )
}

pub fn run() -> Result<()> {
    let fx = root().join("testsuite/fixtures");
    let mut count = 0;

    for src in sorted_entries(&fx.join("c"))?
        .into_iter()
        .filter(|p| has_ext(p, "c"))
    {
        step(format!("clang  {}", src.strip_prefix(root())?.display()));
        build_c(&src, &src.with_extension("wasm"))?;
        count += 1;
    }
    // --debug-names: the name section is what trap messages print function names from.
    for src in sorted_entries(&fx.join("wat"))?
        .into_iter()
        .filter(|p| has_ext(p, "wat"))
    {
        build_wat(&src)?;
        count += 1;
    }
    // Each Rust fixture is its own cargo project (outside the workspace) in rust/NAME/;
    // its .wasm lands in rust/NAME.wasm.
    let target_dir = root().join("target/fixtures-rust");
    for proj in sorted_entries(&fx.join("rust"))?
        .into_iter()
        .filter(|p| p.join("Cargo.toml").exists())
    {
        let name = proj.file_name().unwrap().to_string_lossy().to_string();
        step(format!(
            "cargo build --target wasm32-wasip1 --release ({name})"
        ));
        run_checked(
            cargo()
                .args([
                    "build",
                    "--quiet",
                    "--release",
                    "--target",
                    "wasm32-wasip1",
                    "--manifest-path",
                ])
                .arg(proj.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(&target_dir),
        )?;
        let built = target_dir
            .join("wasm32-wasip1/release")
            .join(format!("{name}.wasm"));
        std::fs::copy(&built, fx.join("rust").join(format!("{name}.wasm")))
            .with_context(|| format!("copying {}", built.display()))?;
        count += 1;
    }
    let demo = root().join("examples/demo/demo.c");
    step("clang  examples/demo/demo.c");
    build_c(&demo, &demo.with_extension("wasm"))?;
    step(format!(
        "rebuilt {count} fixtures and the demo; `git status` shows which changed"
    ));
    Ok(())
}
