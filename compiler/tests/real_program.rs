//! Real programs nobody here wrote. libbzip2 1.0.8, taken at test time from the
//! crates.io crate bzip2-sys (cached under target/registry-src; see
//! testsuite/src/registry.rs), built with clang-16 together with our driver
//! (testsuite/programs/bzip2_driver.c). The driver runs bzip2's own release test
//! (sample files decompressed and recompressed bit-exactly) and streaming round trips.
//!
//! Reference: the same sources built natively; the Wasm build must print exactly that
//! under wasmtime (when installed) and as a wasmc executable on every ISA.

use std::path::{Path, PathBuf};
use std::process::Command;
use targets::Arch;
use testsuite::exec::{self, command_for, fresh_dir, scrub_env, timeout_from_env};
use testsuite::{diff, reference, registry, Outcome};

const WASMC: &str = env!("CARGO_BIN_EXE_wasmc");

/// Each test's own directory: the tests run in parallel, and each empties its own first.
fn work_dir(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("real-program")
        .join(test)
}

/// What differs between `out` and the reference stdout (exit 0 expected).
fn compare(label: &str, out: &Outcome, expected: &str) -> Option<String> {
    let stdout = out.stdout_str();
    if out.code == Some(0) && stdout == expected {
        return None;
    }
    Some(format!(
        "=== {label}: {}\n{}stderr:\n{}",
        out.status_text(),
        diff(expected, &stdout),
        testsuite::check::indent(&testsuite::check::truncate(&out.stderr_str(), 2000))
    ))
}

#[test]
fn bzip2_from_crates_io_on_every_isa() {
    let dir = work_dir("bzip2");
    fresh_dir(&dir).unwrap();
    let wasm = dir.join("bzip2_driver.wasm");
    let native = dir.join("bzip2_driver.native");
    let krate = registry::build_bzip2_driver(&wasm, true).unwrap_or_else(|e| panic!("{e:#}"));
    registry::build_bzip2_driver(&native, false).unwrap_or_else(|e| panic!("{e:#}"));
    // Every value at every site has a place on every ISA, and so does every other value
    // live there that a rebuilt frame needs: a frame of this code can be read and
    // rebuilt wherever it stops. (Until stop 47 one site on aarch64 and riscv64 held a
    // sum of two constants no frame could be rebuilt with.)
    let bytes = std::fs::read(&wasm).unwrap();
    for arch in targets::ALL {
        let c = wasmc::driver::point_coverage(&bytes, &wasmc::driver::Options::new(arch))
            .unwrap_or_else(|e| panic!("{arch}: {e:#}"));
        assert!(c.located > 10_000, "bzip2 on {arch}: {c:?}");
        assert_eq!(
            (c.unknown, c.unknown_extras),
            (0, 0),
            "bzip2 on {arch}: {c:?}"
        );
    }

    let mut cmd = Command::new(&native);
    cmd.arg(&krate);
    let reference_out = exec::run(cmd, timeout_from_env("WASMC_TEST_RUN_TIMEOUT", 180)).unwrap();
    assert_eq!(
        reference_out.code,
        Some(0),
        "native reference failed: {}",
        reference_out.stderr_str()
    );
    let expected = reference_out.stdout_str();
    // The driver checks bzip2's own test vectors itself; a native failure there means the
    // fetched sources are not what we think they are.
    assert!(
        !expected.contains("NO") && !expected.contains("FAILED"),
        "native reference:\n{expected}"
    );
    println!("reference (native build):\n{expected}");

    let mut failures = Vec::new();
    if reference::wasmtime_available() {
        let out = reference::run_wasmtime(
            &wasm,
            &["/data".into()],
            &[],
            Some((&krate, "/data")),
            false,
            timeout_from_env("WASMC_TEST_RUN_TIMEOUT", 180),
        )
        .unwrap();
        failures.extend(compare("wasmtime", &out, &expected));
    } else {
        eprintln!("NOTE: Python module `wasmtime` not importable; no wasmtime cross-check (run `cargo xtask setup`)");
    }

    let results = exec::parallel_map(&targets::ALL, 3, |&arch: &Arch| -> Option<String> {
        if let Err(msg) = testsuite::require_runner(arch) {
            return Some(format!("=== {arch}: {msg}"));
        }
        let exe = dir.join(format!("bzip2_driver.{arch}"));
        let mut cmd = Command::new(WASMC);
        cmd.arg("--target")
            .arg(arch.name())
            .arg(&wasm)
            .arg("-o")
            .arg(&exe);
        let out = exec::run(cmd, timeout_from_env("WASMC_TEST_COMPILE_TIMEOUT", 300)).unwrap();
        if out.code != Some(0) {
            return Some(format!(
                "=== {arch}: wasmc failed ({}):\n{}",
                out.status_text(),
                out.stderr_str()
            ));
        }
        let mut cmd = command_for(arch, &exe);
        scrub_env(&mut cmd);
        cmd.arg("/data")
            .env("WASMC_DIRS", format!("{}::/data", krate.display()));
        let out = exec::run(cmd, timeout_from_env("WASMC_TEST_RUN_TIMEOUT", 180)).unwrap();
        println!("{arch}: {} in {:.1?}", out.status_text(), out.elapsed);
        compare(arch.name(), &out, &expected)
    });
    failures.extend(results.into_iter().flatten());
    assert!(
        failures.is_empty(),
        "bzip2 driver output differs from the native build:\n\n{}",
        failures.join("\n\n")
    );
}

/// SQLite, taken at test time from the crates.io crate libsqlite3-sys and built with
/// clang-16 together with our driver (testsuite/programs/sqlite_driver.c): its output
/// under wasmtime is the reference (a native build would format floats through the
/// host's `long double`), and every ISA's uninterrupted run must print it. Then the run
/// is stopped early, midway and late on each ISA and finished on each, plus a chain
/// across all three (the crossmigrate machinery, as for the fixtures): each migrated
/// run must end exactly as an uninterrupted one.
#[test]
fn sqlite_from_crates_io_migrates_between_isas() {
    for a in targets::ALL {
        testsuite::require_runner(a).unwrap();
    }
    let dir = work_dir("sqlite");
    fresh_dir(&dir).unwrap();
    let wasm = dir.join("sqlite_driver.wasm");
    registry::build_sqlite_driver(&wasm).unwrap_or_else(|e| panic!("{e:#}"));
    // Rows inserted: small enough for a few seconds under qemu per migrated run.
    let args = vec!["6000".to_string()];
    let fixture = testsuite::Fixture {
        name: "crates.io/libsqlite3-sys".into(),
        wasm: wasm.clone(),
        expect: testsuite::Expect {
            args: args.clone(),
            ..Default::default()
        },
    };
    let programs =
        testsuite::crossmigrate::build_programs(WASMC.as_ref(), vec![fixture], &dir.join("bin"))
            .unwrap();
    let program = &programs[0];

    let timeout = timeout_from_env("WASMC_TEST_RUN_TIMEOUT", 180);
    let mut failures = Vec::new();
    let mut outputs = Vec::new();
    for (arch, exe) in &program.exes {
        let mut cmd = command_for(*arch, exe);
        scrub_env(&mut cmd);
        cmd.args(&args);
        let out = exec::run(cmd, timeout).unwrap();
        println!("{arch}: {} in {:.1?}", out.status_text(), out.elapsed);
        outputs.push((arch.name(), out));
    }
    let expected = if reference::wasmtime_available() {
        let out = reference::run_wasmtime(&wasm, &args, &[], None, false, timeout).unwrap();
        assert_eq!(out.code, Some(0), "wasmtime: {}", out.stderr_str());
        out.stdout_str()
    } else {
        eprintln!("NOTE: Python module `wasmtime` not importable; x86_64's run is the reference (run `cargo xtask setup`)");
        outputs[0].1.stdout_str()
    };
    assert!(
        expected.contains("count(*)=") && !expected.contains("error:"),
        "reference output:\n{expected}"
    );
    for (label, out) in &outputs {
        failures.extend(compare(label, out, &expected));
    }
    assert!(
        failures.is_empty(),
        "sqlite output differs from the reference:\n\n{}",
        failures.join("\n\n")
    );

    let m = testsuite::crossmigrate::run_all(&programs, true, &dir.join("migrations"), 2).unwrap();
    m.assert_all_passed("sqlite");
}

/// A tool run on a file of its seed directory (`fixture.expect.seed`, preopened as
/// `fixture.expect.dir`) that writes `output` there: the `output` it writes under
/// wasmtime is the reference (x86_64's when wasmtime is not installed), which
/// `plausible` checks is what the tool should make, and every ISA's uninterrupted run
/// must write it too; then the crossmigrate machinery stops the tool early, midway and
/// late on each ISA and finishes it on each, plus a chain across all three, each of
/// which must leave what an uninterrupted run leaves and exit as it does.
fn writes_the_reference_on_every_isa_and_migrates(
    dir: &Path,
    fixture: testsuite::Fixture,
    output: &str,
    plausible: impl Fn(&[u8]) -> bool,
) {
    let label = fixture.name.clone();
    let (wasm, args) = (fixture.wasm.clone(), fixture.expect.args.clone());
    let seed = fixture.expect.seed.clone().expect("a seeded directory");
    let guest = fixture.expect.dir.clone().expect("a preopened directory");
    let programs =
        testsuite::crossmigrate::build_programs(WASMC.as_ref(), vec![fixture], &dir.join("bin"))
            .unwrap();
    let program = &programs[0];

    let timeout = timeout_from_env("WASMC_TEST_RUN_TIMEOUT", 180);
    // `output` as a run in a fresh copy of the seed writes it, and the run.
    let written = |name: &str, run: &dyn Fn(&Path) -> Outcome| {
        let work = dir.join(format!("run-{name}"));
        exec::copy_tree(&seed, &work).unwrap();
        let out = run(&work);
        println!(
            "{label} on {name}: {} in {:.1?}",
            out.status_text(),
            out.elapsed
        );
        (out, std::fs::read(work.join(output)).unwrap_or_default())
    };
    let mut outputs = vec![];
    for (arch, exe) in &program.exes {
        outputs.push(written(arch.name(), &|work| {
            let mut cmd = command_for(*arch, exe);
            scrub_env(&mut cmd);
            cmd.args(&args)
                .env("WASMC_DIRS", format!("{}::{guest}", work.display()));
            exec::run(cmd, timeout).unwrap()
        }));
    }
    let expected = if reference::wasmtime_available() {
        let (out, v) = written("wasmtime", &|work| {
            reference::run_wasmtime(&wasm, &args, &[], Some((work, &guest)), false, timeout)
                .unwrap()
        });
        assert_eq!(out.code, Some(0), "wasmtime: {}", out.stderr_str());
        v
    } else {
        eprintln!("NOTE: Python module `wasmtime` not importable; x86_64's run is the reference (run `cargo xtask setup`)");
        outputs[0].1.clone()
    };
    assert!(
        plausible(&expected),
        "{label}'s reference {output} is not what it should write:\n{}",
        String::from_utf8_lossy(&expected[..expected.len().min(2000)])
    );
    let failures: Vec<String> = program
        .exes
        .iter()
        .zip(&outputs)
        .filter(|(_, (out, v))| out.code != Some(0) || *v != expected)
        .map(|((arch, _), (out, v))| {
            let differs = match (std::str::from_utf8(&expected), std::str::from_utf8(v)) {
                (Ok(e), Ok(v)) => diff(e, v),
                _ => format!(
                    "{} bytes against {}, first difference at byte {}\n",
                    v.len(),
                    expected.len(),
                    expected.iter().zip(v).take_while(|(a, b)| a == b).count()
                ),
            };
            format!(
                "=== {arch}: {}\n{differs}stderr:\n{}",
                out.status_text(),
                testsuite::check::truncate(&out.stderr_str(), 2000)
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{label}'s {output} differs from the reference:\n\n{}",
        failures.join("\n\n")
    );

    let m = testsuite::crossmigrate::run_all(&programs, true, &dir.join("migrations"), 2).unwrap();
    m.assert_all_passed(&label);
}

/// Silice, an HDL compiler written in C++, as YoWASP ships it on PyPI (2.4 MB of Wasm),
/// taken at test time (`registry::fetch_wheel`) and compiling our
/// `testsuite/programs/silice_blinky.si` with the board frameworks from its wheel into
/// the Verilog it writes under wasmtime, on every ISA and migrated between them.
#[test]
fn silice_from_pypi_migrates_between_isas() {
    for a in targets::ALL {
        testsuite::require_runner(a).unwrap();
    }
    let dir = work_dir("silice");
    fresh_dir(&dir).unwrap();
    let (name, version) = registry::SILICE_WHEEL;
    let wheel = registry::fetch_wheel(name, version).unwrap_or_else(|e| panic!("{e:#}"));
    // What the program finds in its directory, `/work`: the frameworks and the design.
    let seed = dir.join("seed");
    exec::copy_tree(
        &wheel.join("yowasp_silice/share/silice/frameworks"),
        &seed.join("frameworks"),
    )
    .unwrap();
    std::fs::copy(
        testsuite::repo_root().join("testsuite/programs/silice_blinky.si"),
        seed.join("blinky.si"),
    )
    .unwrap();
    let args: Vec<String> = [
        "--framework",
        "/work/frameworks/boards/icestick/icestick.v",
        "--frameworks_dir",
        "/work/frameworks/",
        "/work/blinky.si",
        "-o",
        "/work/out.v",
    ]
    .map(String::from)
    .into();
    let fixture = testsuite::Fixture {
        name: "pypi/yowasp-silice".into(),
        wasm: wheel.join("yowasp_silice/silice.wasm"),
        expect: testsuite::Expect {
            args,
            dir: Some("/work".into()),
            seed: Some(seed),
            // Its log (stderr, and the `.log` files beside the output) prints a heap
            // address that moves with the wall clock from run to run (six runs 0.7 s
            // apart printed three), so the Verilog and the exit status judge a run.
            judged_files: Some(vec!["out.v".into()]),
            ..Default::default()
        },
    };
    writes_the_reference_on_every_isa_and_migrates(&dir, fixture, "out.v", |v| {
        String::from_utf8_lossy(v).contains("module M_main")
    });
}

/// LLVM's clang as YoWASP ships it on npm (75 MB of Wasm: clang, lld and LLVM's tools
/// in one C++ module), taken at test time (`registry::fetch_npm`), compiling our
/// `testsuite/programs/clang_input.c` to a WebAssembly object with optimisation: the
/// object it writes under wasmtime, byte for byte, on every ISA and migrated between
/// them (stopped in the middle of LLVM's optimiser or code generator).
#[test]
fn clang_from_npm_migrates_between_isas() {
    for a in targets::ALL {
        testsuite::require_runner(a).unwrap();
    }
    let dir = work_dir("clang");
    fresh_dir(&dir).unwrap();
    let (name, version, sha512) = registry::YOWASP_CLANG_NPM;
    let package = registry::fetch_npm(name, version, sha512).unwrap_or_else(|e| panic!("{e:#}"));
    // Named `clang` so that the multi-tool takes itself for clang by its `argv[0]`.
    let wasm = dir.join("clang.wasm");
    std::fs::copy(package.join("package/gen/llvm.core.wasm"), &wasm).unwrap();
    let seed = dir.join("seed");
    fresh_dir(&seed).unwrap();
    std::fs::copy(
        testsuite::repo_root().join("testsuite/programs/clang_input.c"),
        seed.join("input.c"),
    )
    .unwrap();
    let args: Vec<String> = [
        "-cc1",
        "-triple",
        "wasm32-unknown-wasip1",
        "-O2",
        "-emit-obj",
        "/work/input.c",
        "-o",
        "/work/out.o",
    ]
    .map(String::from)
    .into();
    let fixture = testsuite::Fixture {
        name: "npm/@yowasp/clang".into(),
        wasm,
        expect: testsuite::Expect {
            args,
            dir: Some("/work".into()),
            seed: Some(seed),
            ..Default::default()
        },
    };
    writes_the_reference_on_every_isa_and_migrates(&dir, fixture, "out.o", |o| {
        o.starts_with(b"\0asm")
    });
}
