//! Migration between nodes over TCP (SPEC.md §4), on loopback: a running program moved
//! x86_64 → aarch64 → riscv64 → x86_64 while it runs must print exactly what one
//! uninterrupted run prints; and every fault case ends with the computation running
//! somewhere, or safe in a file, with one `wasmc:` line and a documented status:
//! a wrong key, no destination, a destination of another module, a stream that is
//! tampered with, cut short or stalls, and a destination that vanishes before its
//! verdict. The hostile peers are played by this test with abi-spec's own encoders.

use abi_spec::stream::{self as st, Hello, Refusal, Verdict};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use targets::Arch;

const WASMC: &str = env!("CARGO_BIN_EXE_wasmc");
const REFUSED: i32 = abi_spec::RUNTIME_ERROR_EXIT_CODE;
const STOPPED: i32 = abi_spec::CHECKPOINT_EXIT_CODE;
const KEY: &[u8] = b"wasmc test key: 0123456789abcdef";
const OTHER_KEY: &[u8] = b"another test key: fedcba9876543210";
/// memgrow passes about 570 000 polls: 4 096 in its first loop, then 16 384 in the
/// loop that fills 64 MiB (a counted loop: a poll per strip of 1 024 iterations), then
/// the checksum's. These stops (`0:M`: the M-th poll from the start, counted by
/// faults) fall inside the fill, and a chain of them (each counted from the restore)
/// inside the checksum.
const STOPS: [&str; 3] = ["0:8000", "0:12000", "0:16000"];

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("migrate_net")
        .join(name);
    testsuite::exec::fresh_dir(&d).unwrap();
    std::fs::write(d.join("key"), KEY).unwrap();
    std::fs::write(d.join("other.key"), OTHER_KEY).unwrap();
    d
}

fn wasm(name: &str) -> PathBuf {
    testsuite::fixtures_dir().join(format!("c/{name}.wasm"))
}

/// Fixture `name` compiled for `arch`, once per test binary.
fn exe(name: &'static str, arch: Arch) -> PathBuf {
    build(name, wasm(name), arch)
}

/// `benches/continuum/live.wasm` compiled for `arch`.
fn live(arch: Arch) -> PathBuf {
    build(
        "live",
        testsuite::repo_root().join("benches/continuum/live.wasm"),
        arch,
    )
}

/// `wasm` compiled for `arch` as `label`, once per test binary.
fn build(label: &'static str, wasm: PathBuf, arch: Arch) -> PathBuf {
    type Built = Vec<((&'static str, Arch), PathBuf)>;
    static BUILT: OnceLock<std::sync::Mutex<Built>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut b = built.lock().unwrap();
    if let Some((_, p)) = b.iter().find(|(k, _)| *k == (label, arch)) {
        return p.clone();
    }
    testsuite::require_runner(arch).unwrap();
    let out = dir(&format!("exe-{label}-{}", arch.name())).join(label);
    let _slot = testsuite::exec::Slot::acquire();
    let r = Command::new(WASMC)
        .args(["--target", arch.name()])
        .arg(wasm)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    b.push(((label, arch), out.clone()));
    out
}

fn command(name: &'static str, arch: Arch, work: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = testsuite::exec::command_for(arch, &exe(name, arch));
    testsuite::exec::scrub_env(&mut cmd);
    cmd.current_dir(work).envs(env.iter().copied());
    cmd
}

fn finish(cmd: Command) -> testsuite::Outcome {
    testsuite::run(cmd, Duration::from_secs(300)).unwrap()
}

/// A destination waiting for a migration, and the port it said it listens on.
struct Listener {
    child: Child,
    port: u16,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Listener {
    fn start(name: &'static str, arch: Arch, work: &Path, env: &[(&str, &str)]) -> Listener {
        let mut cmd = command(name, arch, work, env);
        cmd.env("WASMC_RESTORE", "listen:127.0.0.1:0");
        cmd.stdout(Stdio::piped()).stdin(Stdio::null());
        Listener::spawn(&mut cmd)
    }

    /// Spawns `cmd`, a destination (a program listening for a migration, or `wasmc
    /// receive`), and reads the port it listens on from its first line on stderr.
    fn spawn(cmd: &mut Command) -> Listener {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("wasmc: waiting for a migration on port ")
            .unwrap_or_else(|| panic!("no listening line: {line:?}"))
            .parse()
            .unwrap();
        Listener {
            child,
            port,
            stderr,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits for the exit: (status, stdout, the rest of stderr).
    fn wait(mut self) -> (Option<i32>, String, String) {
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        self.stderr.read_to_string(&mut err).unwrap();
        let status = self.child.wait().unwrap();
        (status.code(), out, err)
    }
}

fn reference(name: &'static str) -> String {
    let work = dir(&format!("ref-{name}"));
    let r = finish(command(name, Arch::X86_64, &work, &[]));
    assert_eq!(r.code, Some(0), "{}", r.stderr_str());
    r.stdout_str()
}

fn one_line(err: &str, want: &str) {
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("wasmc: ") && lines[0].contains(want),
        "expected one line with {want:?}, got {err:?}"
    );
}

#[test]
fn a_running_program_moves_across_all_three_isas() {
    let work = dir("chain");
    let key = work.join("key");
    let key = key.to_str().unwrap();
    // Listeners first, last hop first: each hop's destination is waiting when it starts.
    let last = Listener::start(
        "memgrow",
        Arch::X86_64,
        &work,
        &[("WASMC_MIGRATE_KEY_FILE", key)],
    );
    let to_last = last.addr();
    let riscv = Listener::start(
        "memgrow",
        Arch::Riscv64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", key),
            ("WASMC_MIGRATE_TO", &to_last),
            ("WASMC_CHECKPOINT_AFTER", STOPS[2]),
        ],
    );
    let to_riscv = riscv.addr();
    let arm = Listener::start(
        "memgrow",
        Arch::Aarch64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", key),
            ("WASMC_MIGRATE_TO", &to_riscv),
            ("WASMC_CHECKPOINT_AFTER", STOPS[1]),
            ("WASMC_MIGRATE_COMPRESS", "0"),
        ],
    );
    let to_arm = arm.addr();
    let first = finish(command(
        "memgrow",
        Arch::X86_64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", key),
            ("WASMC_MIGRATE_TO", &to_arm),
            ("WASMC_CHECKPOINT_AFTER", STOPS[0]),
        ],
    ));
    assert_eq!(first.code, Some(STOPPED), "{}", first.stderr_str());
    assert_eq!(first.stderr_str(), format!("wasmc: migrated to {to_arm}\n"));
    let mut printed = first.stdout_str();
    for (hop, want_exit, want_err) in [
        (
            arm,
            Some(STOPPED),
            format!("wasmc: migrated to {to_riscv}\n"),
        ),
        (
            riscv,
            Some(STOPPED),
            format!("wasmc: migrated to {to_last}\n"),
        ),
        (last, Some(0), String::new()),
    ] {
        let (code, out, err) = hop.wait();
        assert_eq!((code, err), (want_exit, want_err));
        printed += &out;
    }
    assert_eq!(
        printed,
        reference("memgrow"),
        "the migrated run printed something else"
    );
}

#[test]
fn a_wrong_key_is_refused_and_the_program_runs_on() {
    let work = dir("wrong-key");
    let dest = Listener::start(
        "memgrow",
        Arch::Aarch64,
        &work,
        &[(
            "WASMC_MIGRATE_KEY_FILE",
            work.join("other.key").to_str().unwrap(),
        )],
    );
    let src = finish(command(
        "memgrow",
        Arch::X86_64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", work.join("key").to_str().unwrap()),
            ("WASMC_MIGRATE_TO", &dest.addr()),
            ("WASMC_CHECKPOINT_AFTER", STOPS[0]),
        ],
    ));
    assert_eq!(src.code, Some(0));
    one_line(&src.stderr_str(), "does not hold the same key");
    assert_eq!(src.stdout_str(), reference("memgrow"));
    let (code, out, err) = dest.wait();
    assert_eq!((code, out.as_str()), (Some(REFUSED), ""));
    one_line(&err, "migration refused: the source hung up");
}

#[test]
fn no_destination_or_one_of_another_module_leaves_the_program_running() {
    let work = dir("elsewhere");
    let key = work.join("key");
    let key = key.to_str().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let src = finish(command(
        "memgrow",
        Arch::X86_64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", key),
            ("WASMC_MIGRATE_TO", &closed),
            ("WASMC_CHECKPOINT_AFTER", STOPS[0]),
        ],
    ));
    assert_eq!(src.code, Some(0));
    one_line(&src.stderr_str(), "cannot connect");
    assert_eq!(src.stdout_str(), reference("memgrow"));

    let dest = Listener::start(
        "recursion",
        Arch::X86_64,
        &work,
        &[("WASMC_MIGRATE_KEY_FILE", key)],
    );
    let src = finish(command(
        "memgrow",
        Arch::X86_64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", key),
            (
                "WASMC_MIGRATE_TO",
                &format!("[::ffff:127.0.0.1]:{}", dest.port),
            ),
            ("WASMC_CHECKPOINT_AFTER", STOPS[0]),
        ],
    ));
    assert_eq!(src.code, Some(0));
    one_line(&src.stderr_str(), "runs another module");
    assert_eq!(src.stdout_str(), reference("memgrow"));
    let (code, _, err) = dest.wait();
    assert_eq!(code, Some(REFUSED));
    one_line(&err, "the source hung up");
}

/// Plays a source against a listening `memgrow`: reads and checks its HELLO, sends an
/// OFFER, then whatever `body` writes. Returns the destination's verdict, if any.
fn hostile_source(
    port: u16,
    body: impl FnOnce(&mut TcpStream, &mut st::StreamMac),
) -> Option<Verdict> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut hello = [0u8; st::HELLO_LEN];
    s.read_exact(&mut hello).unwrap();
    let h = Hello::decode(KEY, &hello).unwrap();
    assert_eq!(
        h.module_hash[..],
        Sha256::digest(std::fs::read(wasm("memgrow")).unwrap())[..]
    );
    let offer = st::offer(st::FLAG_LZ4, [1; 16]);
    s.write_all(&offer).unwrap();
    let segment = st::Segment {
        kind: st::SEG_CHECKPOINT,
        seq: 0,
        stopped_ns: 0,
    }
    .encode();
    s.write_all(&segment).unwrap();
    let mut mac = st::StreamMac::new(KEY, &hello, &offer, &segment);
    body(&mut s, &mut mac);
    let mut v = [0u8; st::VERDICT_LEN];
    s.read_exact(&mut v).ok()?;
    Some(st::read_verdict(KEY, &hello, &offer, &v))
}

fn block(s: &mut TcpStream, mac: &mut st::StreamMac, raw: &[u8]) {
    let (mut scratch, mut wire) = (vec![], vec![]);
    st::encode_block(raw, true, &mut scratch, &mut wire);
    mac.update(&wire);
    s.write_all(&wire).unwrap();
}

#[test]
fn tampered_cut_and_stalled_streams_are_refused() {
    let work = dir("hostile");
    let key = work.join("key");
    let env = [
        ("WASMC_MIGRATE_KEY_FILE", key.to_str().unwrap()),
        ("WASMC_MIGRATE_TIMEOUT", "2"),
    ];
    // Altered after the MAC was computed.
    let dest = Listener::start("memgrow", Arch::X86_64, &work, &env);
    let verdict = hostile_source(dest.port, |s, mac| {
        block(s, mac, &[7u8; 5000]);
        s.write_all(&[0; 4]).unwrap();
        mac.update(&[0; 4]);
        let mut tag = std::mem::replace(
            mac,
            st::StreamMac::new(
                b"-",
                &[0; st::HELLO_LEN],
                &[0; st::OFFER_LEN],
                &[0; st::SEGMENT_LEN],
            ),
        )
        .finish();
        tag[0] ^= 1;
        s.write_all(&tag).unwrap();
    });
    assert_eq!(verdict, Some(Verdict::Refused(Refusal::BadMac)));
    let (code, out, err) = dest.wait();
    assert_eq!((code, out.as_str()), (Some(REFUSED), ""));
    one_line(&err, "authentication failed");

    // Authentic, but not a checkpoint.
    let dest = Listener::start("memgrow", Arch::X86_64, &work, &env);
    let verdict = hostile_source(dest.port, |s, mac| {
        block(s, mac, b"not a checkpoint");
        s.write_all(&[0; 4]).unwrap();
        mac.update(&[0; 4]);
        let tag = std::mem::replace(
            mac,
            st::StreamMac::new(
                b"-",
                &[0; st::HELLO_LEN],
                &[0; st::OFFER_LEN],
                &[0; st::SEGMENT_LEN],
            ),
        )
        .finish();
        s.write_all(&tag).unwrap();
    });
    assert_eq!(verdict, Some(Verdict::Refused(Refusal::BadCheckpoint)));
    let (code, _, err) = dest.wait();
    assert_eq!(code, Some(REFUSED));
    one_line(&err, "migration refused: cannot restore");

    // Cut short in the middle of a block.
    let dest = Listener::start("memgrow", Arch::X86_64, &work, &env);
    let verdict = hostile_source(dest.port, |s, _| {
        s.write_all(&(100u32).to_le_bytes()).unwrap();
        s.write_all(&[1; 10]).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
    });
    assert_eq!(verdict, Some(Verdict::Refused(Refusal::BadStream)));
    let (code, _, err) = dest.wait();
    assert_eq!(code, Some(REFUSED));
    one_line(&err, "cut short");

    // Stalled: connects and sends nothing more.
    let dest = Listener::start("memgrow", Arch::X86_64, &work, &env);
    let t = std::time::Instant::now();
    let verdict = hostile_source(dest.port, |_, _| {});
    let (code, _, err) = dest.wait();
    assert_eq!(code, Some(REFUSED));
    one_line(&err, "stopped sending");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the stall took {:?} to notice",
        t.elapsed()
    );
    assert_eq!(verdict, Some(Verdict::Refused(Refusal::Stalled)));
}

/// Plays a destination that takes the whole stream and vanishes before its verdict:
/// the source cannot know whether it runs, so it stops with the state in a file, which
/// then resumes elsewhere.
#[test]
fn a_destination_that_vanishes_before_its_verdict_leaves_a_checkpoint_file() {
    let work = dir("vanish");
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hash: [u8; 32] = Sha256::digest(std::fs::read(wasm("memgrow")).unwrap()).into();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let hello = Hello {
            abi_version: abi_spec::ABI_VERSION,
            nonce: [9; 16],
            module_hash: hash,
        }
        .encode(KEY);
        s.write_all(&hello).unwrap();
        let mut offer = [0u8; st::OFFER_LEN];
        s.read_exact(&mut offer).unwrap();
        let mut segment = [0u8; st::SEGMENT_LEN];
        s.read_exact(&mut segment).unwrap();
        assert_eq!(
            st::Segment::decode(&segment, 0).unwrap().kind,
            st::SEG_CHECKPOINT
        );
        loop {
            let mut h = [0u8; 4];
            s.read_exact(&mut h).unwrap();
            let Some((len, _)) = st::decode_header(u32::from_le_bytes(h)).unwrap() else {
                break;
            };
            let mut b = vec![0; len];
            s.read_exact(&mut b).unwrap();
        }
        let mut tag = [0u8; st::MAC_LEN];
        s.read_exact(&mut tag).unwrap();
        // Gone without a verdict.
    });
    let ckpt = work.join("kept.ckpt");
    let src = finish(command(
        "memgrow",
        Arch::X86_64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", work.join("key").to_str().unwrap()),
            ("WASMC_MIGRATE_TO", &format!("[::1]:{port}")),
            ("WASMC_CHECKPOINT_AFTER", STOPS[0]),
            ("WASMC_CHECKPOINT", ckpt.to_str().unwrap()),
        ],
    ));
    fake.join().unwrap();
    assert_eq!(src.code, Some(STOPPED), "{}", src.stderr_str());
    let err = src.stderr_str();
    assert!(
        err.contains("not confirmed")
            && err.contains(&format!("checkpoint written to {}", ckpt.display())),
        "{err}"
    );
    let rest = finish(command(
        "memgrow",
        Arch::Aarch64,
        &work,
        &[("WASMC_RESTORE", ckpt.to_str().unwrap())],
    ));
    assert_eq!(rest.code, Some(0), "{}", rest.stderr_str());
    assert_eq!(src.stdout_str() + &rest.stdout_str(), reference("memgrow"));
}

#[test]
fn network_controls_are_checked_at_start_up() {
    let work = dir("controls");
    let key = work.join("key");
    let key = key.to_str().unwrap();
    std::fs::write(work.join("short.key"), b"too short").unwrap();
    let short = work.join("short.key");
    for (env, want) in [
        (
            vec![("WASMC_MIGRATE_TO", "127.0.0.1:9")],
            "needs WASMC_MIGRATE_KEY_FILE",
        ),
        (
            vec![("WASMC_RESTORE", "listen:[::1]:9")],
            "needs WASMC_MIGRATE_KEY_FILE",
        ),
        (
            vec![
                ("WASMC_MIGRATE_KEY_FILE", key),
                ("WASMC_MIGRATE_TO", "localhost:9"),
            ],
            "numeric",
        ),
        (
            vec![
                ("WASMC_MIGRATE_KEY_FILE", key),
                ("WASMC_RESTORE", "listen:1.2.3:9"),
            ],
            "numeric",
        ),
        (
            vec![("WASMC_MIGRATE_KEY_FILE", short.to_str().unwrap())],
            "16 to 4096 bytes",
        ),
        (
            vec![("WASMC_MIGRATE_KEY_FILE", "/nonexistent/key")],
            "cannot open WASMC_MIGRATE_KEY_FILE",
        ),
        (
            vec![("WASMC_MIGRATE_TIMEOUT", "0")],
            "WASMC_MIGRATE_TIMEOUT",
        ),
        (
            vec![("WASMC_MIGRATE_COMPRESS", "yes")],
            "WASMC_MIGRATE_COMPRESS",
        ),
    ] {
        let r = finish(command("memgrow", Arch::X86_64, &work, &env));
        assert_eq!(r.code, Some(REFUSED), "{env:?}");
        assert_eq!(r.stdout_str(), "", "{env:?}");
        one_line(&r.stderr_str(), want);
    }
}

/// 16 MiB, rewritten 16 KiB a step for 4000 steps of at least 1 ms: seconds of steady
/// writing after the fill, during which the migration is asked for.
const LIVE_ARGS: [&str; 4] = ["16", "4000", "16", "1000"];
/// A point after the fill (2 million words in a counted loop: about 1 100 polls) and
/// early in the steps (about 9 polls a step): the 3 000th poll from the start.
const LIVE_STOP: &str = "0:3000";

fn live_command(exe: &Path, arch: Arch, work: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = testsuite::exec::command_for(arch, exe);
    testsuite::exec::scrub_env(&mut cmd);
    cmd.current_dir(work)
        .args(LIVE_ARGS)
        .envs(env.iter().copied());
    cmd
}

#[test]
fn pre_copy_moves_a_program_that_keeps_writing() {
    let work = dir("precopy");
    let key = work.join("key");
    let key = key.to_str().unwrap();
    let (x86, arm) = (live(Arch::X86_64), live(Arch::Aarch64));
    let reference = finish(live_command(&x86, Arch::X86_64, &work, &[]));
    assert_eq!(reference.code, Some(0));
    let mut cmd = live_command(
        &arm,
        Arch::Aarch64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", key),
            ("WASMC_MIGRATE_STATS", "1"),
        ],
    );
    cmd.env("WASMC_RESTORE", "listen:[::1]:0")
        .stdout(Stdio::piped());
    let dest = Listener::spawn(&mut cmd);
    let port = dest.port;
    let src = finish(live_command(
        &x86,
        Arch::X86_64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", key),
            ("WASMC_MIGRATE_TO", &format!("[::1]:{port}")),
            ("WASMC_MIGRATE_PRECOPY", "1"),
            ("WASMC_MIGRATE_STATS", "1"),
            ("WASMC_CHECKPOINT_AFTER", LIVE_STOP),
        ],
    ));
    let err = src.stderr_str();
    assert_eq!(src.code, Some(STOPPED), "{err}");
    assert!(
        err.contains("wasmc: migration sent: ")
            && err.contains(" pre-copy rounds")
            && err.ends_with(&format!("wasmc: migrated to [::1]:{port}\n")),
        "{err}"
    );
    let (code, out, rest) = dest.wait();
    assert_eq!(code, Some(0), "{rest}");
    assert!(
        rest.starts_with("wasmc: migration received: ") && rest.contains("downtime"),
        "{rest}"
    );
    assert_eq!(src.stdout_str() + &out, reference.stdout_str());
}

/// A destination that takes the greeting and part of the first round, then vanishes:
/// the round's child fails, and the program runs on to its end where it is.
#[test]
fn pre_copy_to_a_destination_that_vanishes_keeps_the_program_running() {
    let work = dir("precopy-vanish");
    let x86 = live(Arch::X86_64);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hash: [u8; 32] = Sha256::digest(
        std::fs::read(testsuite::repo_root().join("benches/continuum/live.wasm")).unwrap(),
    )
    .into();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let hello = Hello {
            abi_version: abi_spec::ABI_VERSION,
            nonce: [4; 16],
            module_hash: hash,
        }
        .encode(KEY);
        s.write_all(&hello).unwrap();
        let mut some = vec![0u8; 64 * 1024];
        s.read_exact(&mut some).unwrap();
    });
    let src = finish(live_command(
        &x86,
        Arch::X86_64,
        &work,
        &[
            ("WASMC_MIGRATE_KEY_FILE", work.join("key").to_str().unwrap()),
            ("WASMC_MIGRATE_TO", &format!("127.0.0.1:{port}")),
            ("WASMC_MIGRATE_PRECOPY", "1"),
            ("WASMC_CHECKPOINT_AFTER", LIVE_STOP),
        ],
    ));
    fake.join().unwrap();
    assert_eq!(src.code, Some(0), "{}", src.stderr_str());
    one_line(&src.stderr_str(), "sending memory failed");
    let reference = finish(live_command(&x86, Arch::X86_64, &work, &[]));
    assert_eq!(src.stdout_str(), reference.stdout_str());
}

fn control(socket: &Path, command: &[&str]) -> (bool, String) {
    let out = Command::new(WASMC)
        .arg("control")
        .arg(socket)
        .args(command)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
    )
}

/// An orchestrator's view: status, a snapshot, a bad command, then a live migration to
/// another ISA, all through the control socket (`wasmc control`).
#[test]
fn the_control_socket_drives_snapshots_and_migrations() {
    let work = dir("control");
    let key = work.join("key");
    let key = key.to_str().unwrap();
    let (x86, arm) = (live(Arch::X86_64), live(Arch::Aarch64));
    let reference = finish(live_command(&x86, Arch::X86_64, &work, &[]));
    let dest = {
        let mut cmd = live_command(
            &arm,
            Arch::Aarch64,
            &work,
            &[("WASMC_MIGRATE_KEY_FILE", key)],
        );
        cmd.env("WASMC_RESTORE", "listen:127.0.0.1:0")
            .stdout(Stdio::piped());
        Listener::spawn(&mut cmd)
    };
    let socket = work.join("control.sock");
    let mut src = live_command(
        &x86,
        Arch::X86_64,
        &work,
        &[("WASMC_MIGRATE_KEY_FILE", key)],
    );
    src.env("WASMC_CONTROL", &socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut src = src.spawn().unwrap();
    let t = std::time::Instant::now();
    while !socket.exists() {
        assert!(t.elapsed() < Duration::from_secs(10), "no control socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ok, status) = control(&socket, &["status"]);
    assert!(
        ok && status.starts_with("ok state=running memory="),
        "{status}"
    );
    let (ok, bad) = control(&socket, &["frobnicate"]);
    assert!(!ok && bad.starts_with("error unknown command"), "{bad}");
    let snap = work.join("snap.ckpt");
    // The program keeps running after a snapshot, so one taken before it has filled
    // its 16 MiB (the socket answers from the start; a loaded machine is slow to get
    // there) leaves out the untouched pages: take another until one holds them all.
    let t = std::time::Instant::now();
    loop {
        let (ok, answer) = control(&socket, &["snapshot", snap.to_str().unwrap()]);
        assert!(ok, "{answer}");
        assert_eq!(
            answer,
            format!("ok checkpoint written to {}", snap.display())
        );
        let len = std::fs::metadata(&snap).unwrap().len();
        if len > 16 << 20 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "snapshots stay at {len} bytes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let to = dest.addr();
    let (ok, answer) = control(&socket, &["migrate", &to, "precopy"]);
    assert!(ok, "{answer}");
    assert_eq!(answer, format!("ok migrated to {to}"));
    let mut out = String::new();
    src.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert_eq!(src.wait().unwrap().code(), Some(STOPPED));
    let (code, rest, _) = dest.wait();
    assert_eq!(code, Some(0));
    assert_eq!(out + &rest, reference.stdout_str());
    // A control socket never replaces anything.
    let r = finish(live_command(
        &x86,
        Arch::X86_64,
        &work,
        &[("WASMC_CONTROL", snap.to_str().unwrap())],
    ));
    assert_eq!(r.code, Some(REFUSED));
    one_line(&r.stderr_str(), "WASMC_CONTROL");
}

/// `wasmc receive` keeps a stream as a checkpoint file (the source stops as after any
/// migration), stop-and-copy or pre-copy (then re-encoded whole); the file reads with
/// `wasmc inspect` and resumes on another ISA.
#[test]
fn a_received_stream_is_kept_as_a_file_and_resumes() {
    let (x86, rv) = (live(Arch::X86_64), live(Arch::Riscv64));
    let module = testsuite::repo_root().join("benches/continuum/live.wasm");
    for precopy in ["0", "1"] {
        let work = dir(&format!("receive-{precopy}"));
        let kept = work.join("kept.ckpt");
        let mut rx = Command::new(WASMC);
        rx.args(["receive", "--listen", "[::1]:0", "--key-file"])
            .arg(work.join("key"))
            .arg("--module")
            .arg(&module)
            .arg("-o")
            .arg(&kept);
        let mut rx = Listener::spawn(&mut rx);
        let port = rx.port;
        let src = finish(live_command(
            &x86,
            Arch::X86_64,
            &work,
            &[
                ("WASMC_MIGRATE_KEY_FILE", work.join("key").to_str().unwrap()),
                ("WASMC_MIGRATE_TO", &format!("[::1]:{port}")),
                ("WASMC_MIGRATE_PRECOPY", precopy),
                ("WASMC_CHECKPOINT_AFTER", LIVE_STOP),
            ],
        ));
        assert_eq!(src.code, Some(STOPPED), "{}", src.stderr_str());
        assert!(rx.child.wait().unwrap().success());
        let inspect = Command::new(WASMC)
            .arg("inspect")
            .arg(&kept)
            .arg("--module")
            .arg(&module)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&inspect.stdout).contains("(hash matches)"));
        let rest = finish(live_command(
            &rv,
            Arch::Riscv64,
            &work,
            &[("WASMC_RESTORE", kept.to_str().unwrap())],
        ));
        assert_eq!(rest.code, Some(0), "{}", rest.stderr_str());
        let reference = finish(live_command(&x86, Arch::X86_64, &work, &[]));
        assert_eq!(
            src.stdout_str() + &rest.stdout_str(),
            reference.stdout_str(),
            "pre-copy {precopy}"
        );
    }
}
