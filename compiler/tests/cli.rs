//! The wasmc command line as a user meets it: errors are one line and a non-zero exit,
//! informational flags work, output is deterministic, and `--emit obj` / `--emit exe`
//! write the kind of ELF file they promise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use targets::Arch;

const WASMC: &str = env!("CARGO_BIN_EXE_wasmc");

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn fixture(name: &str) -> PathBuf {
    testsuite::fixtures_dir().join(name)
}

fn wasmc(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let _slot = testsuite::exec::Slot::acquire();
    Command::new(WASMC)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("running wasmc")
}

/// Asserts a failed run that explains itself in exactly one line on stderr.
fn assert_one_line_error(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{what}: wasmc succeeded; stderr: {stderr}"
    );
    assert_ne!(
        out.status.code(),
        None,
        "{what}: wasmc died from a signal; stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected a one-line error, got:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "{what}: wasmc panicked:\n{stderr}"
    );
    stderr
}

#[test]
fn not_a_wasm_file_is_a_one_line_error() {
    let input = tmp("hello.txt");
    std::fs::write(&input, "hello, this is text\n").unwrap();
    let out_path = tmp("hello.out");
    let _ = std::fs::remove_file(&out_path);
    let out = wasmc(&[&input, &"-o", &out_path]);
    assert_one_line_error(&out, "text input");
    assert!(
        !out_path.exists(),
        "an output file was written for a bad input"
    );

    let missing = tmp("does-not-exist.wasm");
    let out = wasmc(&[&missing, &"-o", &out_path]);
    let err = assert_one_line_error(&out, "missing input");
    assert!(
        err.contains("does-not-exist.wasm"),
        "the error should name the file: {err}"
    );
}

#[test]
fn invalid_module_is_a_one_line_error() {
    let out_path = tmp("invalid.out");
    let cases: &[(&str, &[u8])] = &[
        ("truncated header", b"\0asm\x01\0"),
        ("wrong version", b"\0asm\x02\0\0\0"),
        // A type section claiming 5 entries but holding none.
        ("truncated section", b"\0asm\x01\0\0\0\x01\x01\x05"),
        // Well-formed but invalid: a function returning i32 whose body is empty.
        (
            "type error",
            b"\0asm\x01\0\0\0\x01\x05\x01\x60\0\x01\x7f\x03\x02\x01\0\x0a\x04\x01\x02\0\x0b",
        ),
    ];
    for (what, bytes) in cases {
        let input = tmp(&format!("{}.wasm", what.replace(' ', "-")));
        std::fs::write(&input, bytes).unwrap();
        let _ = std::fs::remove_file(&out_path);
        let out = wasmc(&[&input, &"-o", &out_path]);
        assert_one_line_error(&out, what);
        assert!(!out_path.exists(), "{what}: an output file was written");
    }
}

/// Exception references kept in a global or a table are refused with one line: no
/// checkpoint could hold them (a frame holding one is only never stopped in).
#[test]
fn exception_references_outside_frames_are_refused() {
    let cases = [
        (
            "(module (global (mut exnref) (ref.null exn)))",
            "globals of exception references",
        ),
        (
            "(module (table 1 exnref))",
            "tables of exception references",
        ),
    ];
    for (i, (text, what)) in cases.iter().enumerate() {
        let err = refusal(&format!("exnref-{i}"), text);
        assert!(err.contains(what), "{text}: expected {what}, got: {err}");
    }
}

/// The one-line error wasmc gives for the module `text` (WAT), which must write no
/// output file; `stem` names the test's files.
fn refusal(stem: &str, text: &str) -> String {
    let input = tmp(&format!("{stem}.wasm"));
    let out_path = tmp(&format!("{stem}.out"));
    std::fs::write(&input, wat::parse_str(text).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out_path);
    let err = assert_one_line_error(&wasmc(&[&input, &"-o", &out_path]), text);
    assert!(!out_path.exists(), "{text}: an output file was written");
    err
}

/// A valid module that needs a feature beyond WebAssembly 2.0 and exception handling
/// is refused as unsupported, naming the feature, whatever wasmparser's message for
/// it; an invalid one stays invalid.
#[test]
fn unsupported_features_are_named() {
    let cases = [
        (
            "(module (tag $t) (func try throw $t catch $t end))",
            "legacy exception handling",
        ),
        (
            "(module (func (result v128) v128.const i32x4 1 2 3 4))",
            "SIMD",
        ),
        ("(module (func $f) (func return_call $f))", "tail calls"),
        // Atomics compile (one thread runs them); a shared memory does not.
        ("(module (memory 1 1 shared))", "shared memory"),
        ("(module (memory i64 1))", "memory64"),
        ("(module (memory 1) (memory 1))", "multiple memories"),
        (
            "(module (global i32 (i32.add (i32.const 1) (i32.const 2))))",
            "extended constant expressions",
        ),
        (
            "(module (type $s (struct (field i32))))",
            "garbage collection",
        ),
        ("(module (memory 1 (pagesize 1)))", "custom page sizes"),
    ];
    for (i, (text, feature)) in cases.iter().enumerate() {
        let err = refusal(&format!("unsupported-{i}"), text);
        assert!(
            err.contains(&format!("unsupported feature: {feature} (")),
            "{text}: expected the feature {feature} named, got: {err}"
        );
    }
    // Invalid with every feature: a function that returns nothing where it declares an i32.
    let err = refusal("invalid-whatever-enabled", "(module (func (result i32)))");
    assert!(err.contains("invalid module: "), "{err}");
}

#[test]
fn unwritable_output_is_a_one_line_error() {
    let input = fixture("wat/int_semantics.wasm");
    let out = wasmc(&[&input, &"-o", &"/nonexistent-dir/sub/app"]);
    assert_one_line_error(&out, "output in a missing directory");
    let dir = tmp("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let out = wasmc(&[&input, &"-o", &dir]);
    assert_one_line_error(&out, "output path is a directory");
}

#[test]
fn bad_target_is_a_one_line_error() {
    let input = fixture("wat/int_semantics.wasm");
    for t in ["mips", "x86_64-apple-darwin"] {
        let out = wasmc(&[&"--target", &t, &input, &"-o", &tmp("bad-target")]);
        assert_one_line_error(&out, t);
    }
}

#[test]
fn list_targets_names_all_three() {
    let out = wasmc(&[&"--list-targets"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for a in targets::ALL {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(a.name()) && l.contains(a.triple())),
            "{} / {} missing from:\n{stdout}",
            a.name(),
            a.triple()
        );
    }
    assert_eq!(stdout.lines().count(), 3, "one line per target:\n{stdout}");
}

#[test]
fn version_names_the_tool_and_version() {
    let out = wasmc(&[&"--version"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("wasmc "), "{stdout}");
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

fn compile_bytes(input: &Path, arch: Arch, emit: &str, name: &str) -> Vec<u8> {
    let path = tmp(name);
    let _ = std::fs::remove_file(&path);
    let out = wasmc(&[
        &"--target",
        &arch.name(),
        &"--emit",
        &emit,
        &input,
        &"-o",
        &path,
    ]);
    assert!(
        out.status.success(),
        "wasmc --target {arch} --emit {emit} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&path).unwrap()
}

/// Same input, same flags: byte-identical output (no time stamps, paths, hash-map order
/// or thread scheduling leaking in), for objects and executables, on every ISA.
#[test]
fn output_is_deterministic() {
    let inputs = [
        fixture("wat/int_semantics.wasm"),
        fixture("rust/wordfreq.wasm"),
    ];
    for input in &inputs {
        for arch in targets::ALL {
            for emit in ["obj", "exe"] {
                let stem = input.file_stem().unwrap().to_string_lossy();
                let a = compile_bytes(input, arch, emit, &format!("det-{stem}-{arch}-{emit}-1"));
                let b = compile_bytes(input, arch, emit, &format!("det-{stem}-{arch}-{emit}-2"));
                assert!(
                    a == b,
                    "{stem} for {arch} (--emit {emit}): two compilations differ"
                );
            }
        }
    }
}

fn elf_machine(arch: Arch) -> u16 {
    match arch {
        Arch::X86_64 => 62,
        Arch::Aarch64 => 183,
        Arch::Riscv64 => 243,
    }
}

/// (e_type, e_machine, program header types) of a 64-bit little-endian ELF file.
fn elf_summary(bytes: &[u8], what: &str) -> (u16, u16, Vec<u32>) {
    assert!(
        bytes.len() > 64 && &bytes[..4] == b"\x7fELF",
        "{what}: not an ELF file"
    );
    assert_eq!(bytes[4], 2, "{what}: not ELF64");
    assert_eq!(bytes[5], 1, "{what}: not little-endian");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54) as usize, u16_at(56) as usize);
    let phdrs = (0..phnum).map(|i| u32_at(phoff + i * phentsize)).collect();
    (u16_at(16), u16_at(18), phdrs)
}

#[test]
fn emit_obj_writes_a_relocatable_elf_object() {
    let input = fixture("wat/int_semantics.wasm");
    for arch in targets::ALL {
        let bytes = compile_bytes(&input, arch, "obj", &format!("obj-{arch}.o"));
        let (e_type, machine, _) = elf_summary(&bytes, &format!("{arch} object"));
        assert_eq!(e_type, 1, "{arch}: --emit obj must write ET_REL");
        assert_eq!(machine, elf_machine(arch), "{arch}: wrong e_machine");
    }
}

#[test]
fn emit_exe_writes_a_static_executable() {
    let input = fixture("wat/int_semantics.wasm");
    for arch in targets::ALL {
        let bytes = compile_bytes(&input, arch, "exe", &format!("exe-{arch}"));
        let (e_type, machine, phdrs) = elf_summary(&bytes, &format!("{arch} executable"));
        assert_eq!(e_type, 2, "{arch}: expected a non-PIE ET_EXEC");
        assert_eq!(machine, elf_machine(arch), "{arch}: wrong e_machine");
        const PT_INTERP: u32 = 3;
        const PT_DYNAMIC: u32 = 2;
        assert!(
            !phdrs.contains(&PT_INTERP) && !phdrs.contains(&PT_DYNAMIC),
            "{arch}: executable is not static"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tmp(&format!("exe-{arch}")))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{arch}: executable bit not set");
    }
}

/// The default target is the host, and -O0/-O1 work too (the fixtures use the default).
#[test]
fn default_target_and_opt_levels() {
    let input = fixture("wat/int_semantics.wasm");
    let expected = std::fs::read_to_string(fixture("wat/int_semantics.expect")).unwrap();
    let expected = expected.split_once("--- stdout\n").unwrap().1;
    for opt in ["-O0", "-O1", "-O2"] {
        let exe = tmp(&format!("host{opt}"));
        let out = wasmc(&[&opt, &input, &"-o", &exe]);
        assert!(
            out.status.success(),
            "{opt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = Command::new(&exe).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            expected,
            "{opt}: wrong output"
        );
    }
}

/// A module whose hot path is rotates: with BMI2, Cranelift emits `rorx` for them.
const ROTATES: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $x i32) (local $i i32)
    (local.set $x (i32.const 0x12345678))
    (loop $l
      (local.set $x (i32.xor (i32.rotl (local.get $x) (i32.const 7))
                             (i32.rotr (local.get $x) (i32.const 13))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
    (call $exit (i32.and (local.get $x) (i32.const 63)))))"#;

#[test]
fn cpu_features_native_is_the_host_only() {
    let input = tmp("rotates.wasm");
    std::fs::write(&input, wat::parse_str(ROTATES).unwrap()).unwrap();
    let host = Arch::host().expect("tests run on a supported ISA");
    let out = wasmc(&[
        &input,
        &"--cpu-features",
        &"native",
        &"-o",
        &tmp("rotates.native"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = targets::ALL.into_iter().find(|a| *a != host).unwrap();
    let out = wasmc(&[
        &input,
        &"--target",
        &other.name(),
        &"--cpu-features",
        &"native",
        &"-o",
        &tmp("rotates.other"),
    ]);
    let err = assert_one_line_error(&out, "--cpu-features native for another ISA");
    assert!(err.contains("native"), "{err}");
}

/// An executable built for a CPU feature the processor lacks stops with one line at the
/// first instruction it cannot run, never a crash (qemu-x86_64's baseline model has no
/// BMI2).
#[test]
fn a_missing_cpu_feature_is_a_one_line_error() {
    if Arch::host() != Some(Arch::X86_64) {
        return;
    }
    let input = tmp("rotates-bmi2.wasm");
    std::fs::write(&input, wat::parse_str(ROTATES).unwrap()).unwrap();
    let exe = tmp("rotates.bmi2");
    let out = wasmc(&[&input, &"--cpu-features", &"bmi2", &"-o", &exe]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new("qemu-x86_64")
        .args(["-cpu", "qemu64"])
        .arg(&exe)
        .output()
        .expect("running qemu-x86_64 (cargo xtask setup installs it)");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(abi_spec::RUNTIME_ERROR_EXIT_CODE),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CPU feature"), "{stderr}");
}
