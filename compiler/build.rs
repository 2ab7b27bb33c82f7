//! Builds the runtime (`runtime-lib`, a `no_std` staticlib) for every target ISA whose
//! Rust standard library component is installed, so that wasmc carries the archives it
//! links with and needs no configuration. A missing target is not an error here: wasmc
//! then says at link time which `rustup target add` to run.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TRIPLES: [&str; 3] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "riscv64gc-unknown-linux-gnu",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    for p in [
        "runtime-lib/src",
        "runtime-lib/Cargo.toml",
        "abi-spec/src",
        "abi-spec/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string()));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut code = String::new();
    for triple in TRIPLES {
        let installed = sysroot
            .as_ref()
            .map(|s| s.join("lib/rustlib").join(triple).join("lib"));
        if let Some(dir) = &installed {
            // Re-run once the target is installed.
            println!("cargo:rerun-if-changed={}", dir.parent().unwrap().display());
        }
        let archive = out.join(format!("libwasmc_rt-{triple}.a"));
        let ok = installed.as_ref().is_some_and(|d| d.exists())
            && build_runtime(&cargo, root, &out, triple, &archive);
        if ok {
            // Hashed here, not at run time: hashing 5 MB took every compile ~5 ms and
            // paged in the whole archive even when the cached copy was current.
            let hash = fnv(&std::fs::read(&archive).unwrap());
            code += &format!(
                "    if triple == {triple:?} {{ return Some((include_bytes!({:?}), {hash:#018x})); }}\n",
                archive.display().to_string()
            );
        } else {
            println!("cargo:warning=wasmc runtime for {triple} not built (run `rustup target add {triple}` or `cargo xtask setup`)");
        }
    }
    let rust_lld = sysroot
        .map(|s| {
            s.join("lib/rustlib")
                .join(env::var("HOST").unwrap())
                .join("bin/rust-lld")
        })
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let src = format!(
        "/// The runtime archive for `triple`, if it was built with this wasmc, and its FNV-1a hash.\npub fn runtime_archive(triple: &str) -> Option<(&'static [u8], u64)> {{\n{code}    let _ = triple;\n    None\n}}\n\n/// rust-lld of the toolchain wasmc was built with (empty if none).\npub const BUILD_RUST_LLD: &str = {rust_lld:?};\n"
    );
    std::fs::write(out.join("embedded.rs"), src).unwrap();
}

fn build_runtime(cargo: &str, root: &Path, out: &Path, triple: &str, archive: &Path) -> bool {
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--offline",
        "--quiet",
        "--target",
        triple,
    ])
    .arg("--manifest-path")
    .arg(root.join("runtime-lib/Cargo.toml"))
    .arg("--target-dir")
    .arg(out.join("rt"));
    // The outer build's settings are for the host compiler, not for the runtime.
    for (k, _) in env::vars() {
        if k.starts_with("CARGO_") && k != "CARGO_HOME" || k == "RUSTFLAGS" || k == "RUSTC_WRAPPER"
        {
            cmd.env_remove(k);
        }
    }
    match cmd.status() {
        Ok(s) if s.success() => {
            let built = out.join("rt").join(triple).join("release/libwasmc_rt.a");
            std::fs::copy(&built, archive).is_ok()
        }
        // The target is installed, so this is a broken runtime: never ship a wasmc
        // that silently lacks it.
        _ => panic!(
            "building the wasmc runtime (runtime-lib) for {triple} failed; see the errors above"
        ),
    }
}

/// 64-bit FNV-1a: names the cache directory of an archive's contents.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}
