//! Linking an object with the runtime into a static executable: where the runtime
//! archive is, which linker to use, and how to call it.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use targets::Arch;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Writes the runtime archive for `arch` into wasmc's cache (once per wasmc build) and
/// returns its path.
pub fn runtime_archive(arch: Arch) -> anyhow::Result<PathBuf> {
    let Some((bytes, hash)) = embedded::runtime_archive(arch.triple()) else {
        bail!(
            "this wasmc was built without the {arch} runtime: run `rustup target add {}` (or `cargo xtask setup`) and rebuild wasmc",
            arch.triple()
        );
    };
    let dir = cache_dir()
        .join(format!("{}-{hash:016x}", env!("CARGO_PKG_VERSION")))
        .join(arch.triple());
    let path = dir.join("libwasmc_rt.a");
    if std::fs::metadata(&path)
        .map(|m| m.len() == bytes.len() as u64)
        .unwrap_or(false)
    {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Atomic: concurrent wasmc runs never see a partial archive.
    let tmp = dir.join(format!(".libwasmc_rt.a.{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("wasmc");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".cache/wasmc");
    }
    std::env::temp_dir().join("wasmc-cache")
}

#[derive(Debug, Clone)]
enum Linker {
    /// `rust-lld -flavor gnu` or `ld.lld`: one binary links every ISA.
    Lld { path: PathBuf, flavor_arg: bool },
    /// `<triple>-gcc` as a driver, without its C library.
    Gcc(PathBuf),
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn find_linker(arch: Arch) -> anyhow::Result<Linker> {
    if let Some(p) = std::env::var_os("WASMC_LINKER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        return Ok(if name.contains("gcc") || name.contains("clang") {
            Linker::Gcc(p)
        } else {
            Linker::Lld {
                flavor_arg: name.contains("rust-lld"),
                path: p,
            }
        });
    }
    if !embedded::BUILD_RUST_LLD.is_empty() && Path::new(embedded::BUILD_RUST_LLD).is_file() {
        return Ok(Linker::Lld {
            path: embedded::BUILD_RUST_LLD.into(),
            flavor_arg: true,
        });
    }
    if let Ok(out) = Command::new("rustc").args(["--print", "sysroot"]).output() {
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Ok(entries) = std::fs::read_dir(sysroot.join("lib/rustlib")) {
            for e in entries.flatten() {
                let p = e.path().join("bin/rust-lld");
                if p.is_file() {
                    return Ok(Linker::Lld {
                        path: p,
                        flavor_arg: true,
                    });
                }
            }
        }
    }
    for name in ["ld.lld", "ld.lld-16", "ld.lld-14"] {
        if let Some(p) = find_in_path(name) {
            return Ok(Linker::Lld {
                path: p,
                flavor_arg: false,
            });
        }
    }
    if let Some(p) = find_in_path(arch.cross_gcc()) {
        return Ok(Linker::Gcc(p));
    }
    bail!(
        "no linker found for {arch}: install lld (`apt-get install lld`), the Rust toolchain's rust-lld, or {} (or set WASMC_LINKER)",
        arch.cross_gcc()
    )
}

/// Links `object` with the runtime into a static executable at `output`.
pub fn link(arch: Arch, object: &Path, output: &Path) -> anyhow::Result<()> {
    let archive = runtime_archive(arch)?;
    let linker = find_linker(arch)?;
    let mut cmd = match &linker {
        Linker::Lld { path, flavor_arg } => {
            let mut c = Command::new(path);
            if *flavor_arg {
                c.args(["-flavor", "gnu"]);
            }
            c.args([
                "-m",
                arch.lld_emulation(),
                "-static",
                "--gc-sections",
                "--no-pie",
                "-e",
                "_start",
                "--build-id=none",
            ]);
            c
        }
        Linker::Gcc(path) => {
            let mut c = Command::new(path);
            c.args([
                "-nostdlib",
                "-static",
                "-no-pie",
                "-Wl,--gc-sections",
                "-Wl,--build-id=none",
                "-Wl,-e,_start",
            ]);
            c
        }
    };
    cmd.arg("-o").arg(output).arg(object).arg(&archive);
    let out = cmd
        .output()
        .with_context(|| format!("running the linker {linker:?}"))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let first = msg
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(no message)");
        bail!("linking failed: {first}");
    }
    Ok(())
}
