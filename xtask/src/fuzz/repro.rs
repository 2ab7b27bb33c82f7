//! Findings and their reproducers: `target/fuzz/<kind>-<seed>-<n>/` with the input
//! (module or checkpoint), what happened, what was expected, and how to repeat it.

use std::path::{Path, PathBuf};

/// Reproducers kept per distinct finding: a long run can hit one bug thousands of
/// times, and a few examples say as much as all of them.
pub const KEEP_PER_SIGNATURE: u64 = 3;

pub struct Finding {
    /// `mismatch`, `crash`, `restore-hang`, ...: the reproducer directory's prefix.
    pub kind: String,
    /// What wasmc (the compiler, the executable, the restore) did.
    pub wasmc: String,
    /// What wasmtime did, or what the rules expected.
    pub reference: String,
    /// Commands sent to the harness, so `WASMC_HARNESS=1 ./app < harness-input.txt`
    /// replays a differential case.
    pub harness_input: String,
    /// Extra files of the reproducer (name, contents).
    pub files: Vec<(String, Vec<u8>)>,
    /// A shell line that repeats the failing run inside the reproducer directory.
    pub rerun: Option<String>,
    /// Findings with the same signature are one bug for the summary.
    pub signature: String,
}

impl Finding {
    pub fn new(kind: impl Into<String>, wasmc: String, reference: String) -> Finding {
        let kind = kind.into();
        Finding {
            signature: kind.clone(),
            kind,
            wasmc,
            reference,
            harness_input: String::new(),
            files: Vec::new(),
            rerun: None,
        }
    }
}

/// Writes the reproducer of case `n` of a run seeded `seed`; returns its directory.
/// `regen` says how the fuzzer itself regenerates the case.
pub fn save(root: &Path, f: &Finding, seed: u64, n: u64, regen: &str) -> std::io::Result<PathBuf> {
    let dir = root.join(format!("{}-{seed}-{n}", f.kind));
    testsuite::exec::fresh_dir(&dir)?;
    for (name, bytes) in &f.files {
        std::fs::write(dir.join(name), bytes)?;
        if name == "module.wasm" && !f.kind.starts_with("restore-") {
            // The text form of a generated module (the fixtures have their sources).
            if let Ok(wat) = wasmprinter::print_bytes(bytes) {
                std::fs::write(dir.join("module.wat"), wat)?;
            }
        }
    }
    let mut readme = format!("cargo xtask fuzz finding: {}\n\n", f.kind);
    readme += &format!("Regenerate: {regen}\n");
    if let Some(r) = &f.rerun {
        readme += &format!("Repeat here: {r}\n");
    }
    if !f.harness_input.is_empty() {
        std::fs::write(dir.join("harness-input.txt"), &f.harness_input)?;
        readme +=
            "Repeat here: wasmc module.wasm -o app && WASMC_HARNESS=1 ./app < harness-input.txt\n";
        readme += "Reference:   python3 xtask/src/fuzz/wasmtime_invoke.py module.wasm\n";
    }
    readme += &format!(
        "\n== wasmc\n{}\n\n== expected / wasmtime\n{}\n",
        f.wasmc.trim_end(),
        f.reference.trim_end()
    );
    std::fs::write(dir.join("README.txt"), readme)?;
    Ok(dir)
}
