//! The runtime and the compiler under hostile or careless input, each case a compiled
//! program run as an operator would run it: checkpoint destinations that try to
//! redirect the write, restore sources that try to hang or exhaust the process,
//! checkpoints that are intact but describe impossible frames or fds, names that try to
//! break the one-line message, and controls with values that must be refused at start.
//! Every refusal is exit 125 with exactly one `wasmc:` line, within seconds.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;
use testsuite::Outcome;

const WASMC: &str = env!("CARGO_BIN_EXE_wasmc");
const REFUSED: i32 = abi_spec::RUNTIME_ERROR_EXIT_CODE;
const STOPPED: i32 = abi_spec::CHECKPOINT_EXIT_CODE;
/// A point deep inside `down(50000)` of c/recursion: thousands of frames on the stack.
const DEEP_STOP: &str = "30000";

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("hardening")
        .join(name);
    testsuite::exec::fresh_dir(&dir).unwrap();
    dir
}

fn compile(wasm: &Path, out: &Path) -> std::process::Output {
    let _slot = testsuite::exec::Slot::acquire();
    Command::new(WASMC)
        .arg(wasm)
        .arg("-o")
        .arg(out)
        .output()
        .expect("running wasmc")
}

/// c/recursion compiled for the host, once.
fn program() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let out = scratch("program").join("recursion");
        let wasm = testsuite::fixtures_dir().join("c/recursion.wasm");
        let r = compile(&wasm, &out);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        out
    })
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

fn run_in(dir: &Path, exe: &Path, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(exe);
    testsuite::exec::scrub_env(&mut cmd);
    cmd.current_dir(dir).envs(env.iter().copied());
    testsuite::run(cmd, Duration::from_secs(30)).expect("running the program")
}

/// Asserts a clean refusal: exit 125, one `wasmc:` line naming `what`, in good time.
fn assert_refused(o: &Outcome, what: &str) {
    let err = o.stderr_str();
    assert_eq!(
        o.code,
        Some(REFUSED),
        "{what}: want a refusal (125), got {o:?}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: want one line, got {err:?}");
    assert!(lines[0].starts_with("wasmc: "), "{what}: {err:?}");
    assert!(
        !err.contains("internal error") && !err.contains("panic"),
        "{what}: an internal error shown as a refusal: {err:?}"
    );
    assert!(
        o.elapsed < Duration::from_secs(5),
        "{what}: refused only after {:?}",
        o.elapsed
    );
    assert!(o.stdout.is_empty(), "{what}: the program ran: {o:?}");
}

/// A checkpoint of c/recursion stopped deep in its recursion, written in `dir`.
fn checkpoint_in(dir: &Path) -> PathBuf {
    let ck = dir.join("deep.ckpt");
    let o = run_in(
        dir,
        program(),
        &[
            ("WASMC_CHECKPOINT", ck.to_str().unwrap()),
            ("WASMC_CHECKPOINT_AFTER", DEEP_STOP),
        ],
    );
    assert_eq!(o.code, Some(STOPPED), "{o:?}");
    ck
}

#[test]
fn a_symlink_at_the_temporary_name_is_never_written_through() {
    let dir = scratch("symlink_tmp");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    // Every name a temporary next to the checkpoint could have had, old and new.
    for tmp in ["c.ckpt.tmp", ".c.ckpt.wasmc-tmp"] {
        std::os::unix::fs::symlink(&victim, dir.join(tmp)).unwrap();
    }
    let o = run_in(
        &dir,
        program(),
        &[
            ("WASMC_CHECKPOINT", "c.ckpt"),
            ("WASMC_CHECKPOINT_AFTER", DEEP_STOP),
        ],
    );
    assert_eq!(o.code, Some(STOPPED), "{o:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        !dir.join(".c.ckpt.wasmc-tmp").exists(),
        "temporary left behind"
    );
    let o = run_in(&dir, program(), &[("WASMC_RESTORE", "c.ckpt")]);
    assert_eq!(
        o.code,
        Some(0),
        "the checkpoint written beside the trap restores: {o:?}"
    );
}

#[test]
fn only_a_regular_file_is_ever_replaced() {
    let dir = scratch("non_regular");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let target = dir.join("target.txt");
    std::fs::write(&target, "keep\n").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("link")).unwrap();
    std::fs::create_dir(dir.join("subdir")).unwrap();
    for name in ["fifo", "link", "subdir", "/dev/null"] {
        let o = run_in(
            &dir,
            program(),
            &[
                ("WASMC_CHECKPOINT", name),
                ("WASMC_CHECKPOINT_AFTER", DEEP_STOP),
            ],
        );
        assert_refused(&o, name);
    }
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::symlink_metadata(dir.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn an_unwritable_destination_is_refused_at_start_up() {
    let dir = scratch("unwritable");
    for dest in ["/nonexistent-dir/c.ckpt", "/proc/c.ckpt", ""] {
        let o = run_in(&dir, program(), &[("WASMC_CHECKPOINT", dest)]);
        assert_refused(&o, dest);
    }
}

#[test]
fn a_stale_temporary_is_cleaned_up() {
    let dir = scratch("stale_tmp");
    std::fs::write(dir.join(".c.ckpt.wasmc-tmp"), vec![7u8; 1 << 20]).unwrap();
    // The start-up check alone removes it, even when no checkpoint is then taken.
    let o = run_in(&dir, program(), &[("WASMC_CHECKPOINT", "c.ckpt")]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert!(!dir.join(".c.ckpt.wasmc-tmp").exists());
    assert!(!dir.join("c.ckpt").exists(), "no checkpoint was asked for");
}

#[test]
fn restore_refuses_what_is_not_a_checkpoint_file_within_a_second() {
    let dir = scratch("restore_kinds");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    std::fs::create_dir(dir.join("a-directory")).unwrap();
    for src in ["/dev/zero", "fifo", "a-directory", "missing.ckpt", ""] {
        let o = run_in(&dir, program(), &[("WASMC_RESTORE", src)]);
        assert_refused(&o, src);
        assert!(o.elapsed < Duration::from_secs(1), "{src}: {:?}", o.elapsed);
    }
}

/// The sections of a checkpoint: (tag, payload start, payload length).
fn sections(b: &[u8]) -> Vec<(u32, usize, usize)> {
    let mut at = 56;
    let mut out = vec![];
    while at + 12 <= b.len() - abi_spec::checkpoint::TRAILER_SIZE {
        let tag = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let len = u64::from_le_bytes(b[at + 4..at + 12].try_into().unwrap()) as usize;
        out.push((tag, at + 12, len));
        at += 12 + len;
    }
    out
}

/// Replaces section `tag`'s payload and recomputes the checksum: the change reaches the
/// structural checks.
fn with_payload(b: &[u8], tag: u32, edit: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let (_, start, len) = *sections(b).iter().find(|s| s.0 == tag).unwrap();
    let payload = edit(&b[start..start + len]);
    let mut out = b[..start - 8].to_vec();
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&b[start + len..]);
    let n = out.len() - abi_spec::checkpoint::TRAILER_SIZE;
    let h = abi_spec::checkpoint::checksum(&out[..n]);
    out[n..].copy_from_slice(&h.to_le_bytes());
    out
}

fn frame_bytes(p: &[u8], at: usize) -> usize {
    let n = u32::from_le_bytes(p[at + 8..at + 12].try_into().unwrap()) as usize;
    let types = &p[at + 12..at + 12 + n];
    let values: usize = types
        .iter()
        .map(|t| {
            if *t == abi_spec::ValType::V128 as u8 {
                16
            } else {
                8
            }
        })
        .sum();
    12 + n + values
}

fn restore_edited(dir: &Path, name: &str, bytes: Vec<u8>) -> Outcome {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    run_in(dir, program(), &[("WASMC_RESTORE", path.to_str().unwrap())])
}

#[test]
fn frames_that_are_no_call_chain_are_refused_before_anything_runs() {
    let dir = scratch("frames");
    let good = std::fs::read(checkpoint_in(&dir)).unwrap();
    const FRAMES: u32 = 5;
    // The innermost frame twice: a loop or entry point with a frame above it.
    let dup = with_payload(&good, FRAMES, |p| {
        let count = u32::from_le_bytes(p[..4].try_into().unwrap()) as usize;
        let mut at = 4;
        for _ in 0..count - 1 {
            at += frame_bytes(p, at);
        }
        let last = p[at..at + frame_bytes(p, at)].to_vec();
        let mut out = ((count + 1) as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&p[4..]);
        out.extend_from_slice(&last);
        out
    });
    let o = restore_edited(&dir, "dup.ckpt", dup);
    assert_refused(&o, "last frame duplicated");
    assert!(o.stderr_str().contains("call chain"), "{o:?}");
    assert!(
        !dir.join("wasmc.ckpt").exists(),
        "wrote a checkpoint nobody asked for"
    );
    // Only the outermost frame: it stopped at a call, so nothing could resume there.
    let cut = with_payload(&good, FRAMES, |p| {
        let mut out = 1u32.to_le_bytes().to_vec();
        out.extend_from_slice(&p[4..4 + frame_bytes(p, 4)]);
        out
    });
    let o = restore_edited(&dir, "cut.ckpt", cut);
    assert_refused(&o, "inner frames cut off");
    // The checkpoint itself restores and finishes as an uninterrupted run would.
    let o = restore_edited(&dir, "good.ckpt", good);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert!(o.stdout_str().contains("down(50000) = 1701728969"), "{o:?}");
}

#[test]
fn a_file_record_with_an_impossible_fd_is_refused() {
    let dir = scratch("fds");
    let good = std::fs::read(checkpoint_in(&dir)).unwrap();
    const WASI: u32 = 6;
    let bad = with_payload(&good, WASI, |p| {
        // Skip args, env and preopens (u32 count, then u32 length + bytes each).
        let mut at = 0;
        for _ in 0..3 {
            let n = u32::from_le_bytes(p[at..at + 4].try_into().unwrap());
            at += 4;
            for _ in 0..n {
                at += 4 + u32::from_le_bytes(p[at..at + 4].try_into().unwrap()) as usize;
            }
        }
        let nfd = u32::from_le_bytes(p[at..at + 4].try_into().unwrap()) as usize;
        assert!(nfd >= 3, "stdio records are there");
        at += 4;
        let record = |at: usize| {
            let path = u32::from_le_bytes(p[at + 9..at + 13].try_into().unwrap()) as usize;
            13 + path + 2 + 2 + 8 + 8 + 8
        };
        for _ in 0..nfd - 1 {
            at += record(at);
        }
        // The last record (fds are strictly increasing, so the largest may be raised).
        let mut out = p.to_vec();
        out[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        out
    });
    let o = restore_edited(&dir, "fd.ckpt", bad);
    assert_refused(&o, "guest fd 0xffffffff");
}

#[test]
fn controls_are_checked_at_start_up() {
    let dir = scratch("controls");
    std::fs::create_dir(dir.join("d")).unwrap();
    let cases: &[(&str, &str)] = &[
        ("WASMC_CHECKPOINT_CONTINUE", "yes"),
        ("WASMC_CHECKPOINT_CONTINUE", ""),
        ("WASMC_CHECKPOINT_AFTER", "0"),
        ("WASMC_CHECKPOINT_AFTER", "ten"),
        ("WASMC_DIRS", "d::"),
        ("WASMC_DIRS", "d::../up"),
        ("WASMC_DIRS", "d::/a/../b"),
        ("WASMC_DIRS", "d::/a//b"),
        ("WASMC_DIRS", "d::/bad\nname"),
        ("WASMC_DIRS", "d::/x,d::/x"),
        ("WASMC_DIRS", "missing::/m"),
    ];
    for (k, v) in cases {
        let o = run_in(&dir, program(), &[(k, v)]);
        assert_refused(&o, &format!("{k}={v:?}"));
        assert!(
            !o.stderr_str().trim_end().contains('\n'),
            "{k}={v:?}: the value reached the message unescaped"
        );
    }
    for (k, v) in [
        ("WASMC_CHECKPOINT_CONTINUE", "1"),
        ("WASMC_CHECKPOINT_CONTINUE", "0"),
        ("WASMC_DIRS", "d::/sandbox"),
        ("WASMC_DIRS", "d::."),
        ("WASMC_DIRS", "d::data/in"),
        ("WASMC_DIRS", "d"),
    ] {
        let o = run_in(&dir, program(), &[(k, v)]);
        assert_eq!(o.code, Some(0), "{k}={v:?} is fine: {o:?}");
    }
}

#[test]
fn module_supplied_names_are_escaped_in_messages() {
    let dir = scratch("names");
    // The compiler: an import it does not know, with a newline and an escape sequence.
    let wasm =
        wat::parse_str(r#"(module (import "env\n" "x\1b[31m" (func)) (func (export "_start")))"#)
            .unwrap();
    let input = dir.join("import.wasm");
    std::fs::write(&input, wasm).unwrap();
    let r = compile(&input, &dir.join("import"));
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(
        err.contains(r"env\x0a") && err.contains(r"x\x1b[31m"),
        "{err:?}"
    );
    // The runtime: a trap in a function whose name-section name holds the same.
    let mut wasm = wat::parse_str(r#"(module (func (export "_start") unreachable))"#).unwrap();
    wasm.extend(name_section(0, b"f\n\x1b[2Jx"));
    let input = dir.join("trap.wasm");
    std::fs::write(&input, wasm).unwrap();
    let exe = dir.join("trap");
    let r = compile(&input, &exe);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let o = run_in(&dir, &exe, &[]);
    assert_eq!(o.code, Some(abi_spec::TRAP_EXIT_CODE), "{o:?}");
    assert_eq!(
        o.stderr_str(),
        "wasmc: trap: unreachable in function f\\x0a\\x1b[2Jx (#0)\n"
    );
}

/// A custom `name` section naming function `index` (all lengths fit one LEB128 byte).
fn name_section(index: u8, name: &[u8]) -> Vec<u8> {
    let mut names = vec![1u8, index, name.len() as u8];
    names.extend_from_slice(name);
    let mut sub = vec![1u8, names.len() as u8];
    sub.extend(names);
    let mut payload = vec![4u8];
    payload.extend_from_slice(b"name");
    payload.extend(sub);
    let mut section = vec![0u8, payload.len() as u8];
    section.extend(payload);
    section
}

#[test]
fn readlink_never_shows_an_absolute_host_path() {
    let dir = scratch("readlink");
    let boxed = dir.join("box");
    std::fs::create_dir(&boxed).unwrap();
    std::os::unix::fs::symlink("/etc", boxed.join("abs")).unwrap();
    std::os::unix::fs::symlink("../outside", boxed.join("rel")).unwrap();
    // Exits with the errno path_readlink gives for the name in its data segment.
    let program = |name: &str| {
        format!(
            r#"(module
              (import "wasi_snapshot_preview1" "path_readlink"
                (func $readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
              (memory 1)
              (data (i32.const 0) "{name}")
              (func (export "_start")
                (call $exit (call $readlink (i32.const 3) (i32.const 0) (i32.const {len})
                                            (i32.const 100) (i32.const 64) (i32.const 200)))))"#,
            len = name.len()
        )
    };
    for (name, errno) in [("abs", 63), ("rel", 0)] {
        let input = dir.join(format!("{name}.wasm"));
        std::fs::write(&input, wat::parse_str(program(name)).unwrap()).unwrap();
        let exe = dir.join(name);
        let r = compile(&input, &exe);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let spec = format!("{}::/box", boxed.display());
        let o = run_in(&dir, &exe, &[("WASMC_DIRS", &spec)]);
        assert_eq!(o.code, Some(errno), "readlink of {name}: {o:?}");
    }
}
