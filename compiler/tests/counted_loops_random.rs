//! Strip mining (`translate/strip.rs`) against no strip mining, on random counted
//! loops: every latch form the compiler recognises (the step right before the compare
//! or earlier in the body, either operand order, `!=`, `<`, `>`, signed or not, i32 and
//! i64), steps of ±1 to ±1024, starts and bounds near where stepping wraps, and some
//! forms it must leave alone (`<=`, `==`, steps an `!=` can step over). Each loop
//! hashes every value its induction local takes; a module built with migration points
//! (strip-mined) must print what the same module without points prints (no strip
//! mining), on every ISA. A guard ends any loop after 20,000 iterations, so a bound a
//! step never meets is a short run, not a hang.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use targets::Arch;

const WASMC: &str = env!("CARGO_BIN_EXE_wasmc");
const LOOPS: usize = 60;

/// xorshift64*: deterministic, so a failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const EDGES: &[i64] = &[
    0,
    1,
    2,
    -1,
    -2,
    1000,
    -1000,
    0x7fff_ffff,
    -0x8000_0000,
    0x7fff_fff0,
    -0x7fff_fff0,
    0x7fff_ff00,
    0x400,
    0x3ff,
    0x401,
];

/// A signed value of the loop's width.
fn wrap(v: i64, wide: bool) -> i64 {
    if wide {
        v
    } else {
        v as i32 as i64
    }
}

fn one_loop(rng: &mut Rng, k: usize) -> (String, String) {
    let wide = rng.chance(30);
    let t = if wide { "i64" } else { "i32" };
    let step: i64 = rng.pick(&[1, 2, 4, 8, 16, -1, -2, -4, 3, 5, -3, 7, 1024, -1024]);
    let late = rng.chance(60);
    let bound_first = rng.chance(50);
    let mut cmp = rng.pick(&["ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "ge_u", "eq"]);
    if rng.chance(80) {
        // A form the compiler takes: `<` counting up, `>` down, `!=` by a power of two.
        let pow2 = step.unsigned_abs().is_power_of_two();
        cmp = match (step > 0, pow2) {
            (true, true) => rng.pick(&["lt_s", "lt_u", "ne"]),
            (true, false) => rng.pick(&["lt_s", "lt_u"]),
            (false, true) => rng.pick(&["gt_s", "gt_u", "ne"]),
            (false, false) => rng.pick(&["gt_s", "gt_u"]),
        };
        if bound_first {
            cmp = match cmp {
                "lt_s" => "gt_s",
                "lt_u" => "gt_u",
                "gt_s" => "lt_s",
                "gt_u" => "lt_u",
                c => c,
            };
        }
    }
    let start = rng.pick(EDGES) + rng.below(81) as i64 - 40;
    let mut bound = start + step * rng.below(5001) as i64 + rng.pick(&[0, 0, 0, 1, -1, 2]);
    if rng.chance(20) {
        bound = rng.pick(EDGES);
    }
    let (start, bound) = (wrap(start, wide), wrap(bound, wide));
    let stepped = format!("({t}.add (local.get $i) ({t}.const {step}))");
    let mix_i = if wide {
        "(local.get $i)".to_string()
    } else {
        "(i64.extend_i32_u (local.get $i))".to_string()
    };
    let guard = "(local.set $g (i32.add (local.get $g) (i32.const 1))) \
                 (br_if $out (i32.gt_u (local.get $g) (i32.const 20000)))";
    let compare = |i: &str| {
        if bound_first {
            format!("({t}.{cmp} (local.get $n) {i})")
        } else {
            format!("({t}.{cmp} {i} (local.get $n))")
        }
    };
    let body = if late {
        format!(
            "(local.set $i {stepped}) (local.set $s (call $mix (local.get $s) {mix_i})) {guard} \
             (br_if $l {})",
            compare("(local.get $i)")
        )
    } else {
        format!(
            "(local.set $s (call $mix (local.get $s) {mix_i})) {guard} (br_if $l {})",
            compare(&format!("(local.tee $i {stepped})"))
        )
    };
    let func = format!(
        "(func $f{k} (param $i {t}) (param $n {t}) (result i64) (local $s i64) (local $g i32)\n  \
         (block $out (loop $l {body}))\n  \
         (call $mix (call $mix (local.get $s) {mix_i}) (i64.extend_i32_u (local.get $g))))"
    );
    let z = if wide { "$z64" } else { "$z" };
    let call = format!(
        "(call $p64 (call $f{k} ({t}.add ({t}.const {start}) (local.get {z})) ({t}.const {bound})))"
    );
    (func, call)
}

fn module(seed: u64) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (funcs, calls): (Vec<String>, Vec<String>) =
        (0..LOOPS).map(|k| one_loop(&mut rng, k)).unzip();
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "0123456789abcdef")
  ;; Inputs come from a mutable global so nothing is folded at compile time.
  (global $g0 (mut i32) (i32.const 0))
  (func $p64 (param $v i64) (local $i i32)
    (local.set $i (i32.const 16))
    (loop $next
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 offset=32 (local.get $i)
        (i32.load8_u offset=64 (i32.wrap_i64 (i64.and (local.get $v) (i64.const 15)))))
      (local.set $v (i64.shr_u (local.get $v) (i64.const 4)))
      (br_if $next (local.get $i)))
    (i32.store8 offset=48 (i32.const 0) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 17))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))
  (func $mix (param $s i64) (param $v i64) (result i64)
    (i64.add (i64.mul (local.get $s) (i64.const 31)) (local.get $v)))
  {}
  (func (export "_start") (local $z i32) (local $z64 i64)
    (local.set $z (global.get $g0))
    (local.set $z64 (i64.extend_i32_u (global.get $g0)))
    {}))"#,
        funcs.join("\n  "),
        calls.join("\n    ")
    )
}

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("counted_loops_random");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What the module prints, compiled for `arch` with `flags`.
fn output(wasm: &std::path::Path, arch: Arch, flags: &[&str]) -> String {
    let exe = wasm.with_extension(format!("{}{}", arch.name(), flags.concat()));
    let _slot = testsuite::exec::Slot::acquire();
    let out = Command::new(WASMC)
        .args(flags)
        .args(["--target", arch.name()])
        .arg(wasm)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("running wasmc");
    assert!(
        out.status.success(),
        "wasmc {flags:?} --target {}: {}",
        arch.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = testsuite::exec::run(
        testsuite::exec::command_for(arch, &exe),
        Duration::from_secs(120),
    )
    .expect("running the program");
    assert_eq!(
        run.status_text(),
        "exit 0",
        "{}: {}",
        exe.display(),
        run.stderr_str()
    );
    run.stdout_str()
}

#[test]
fn strip_mined_loops_count_as_the_loops_do() {
    let arches: Vec<Arch> = targets::ALL
        .into_iter()
        .filter(|a| testsuite::require_runner(*a).is_ok())
        .collect();
    let host = Arch::host().expect("a supported host");
    for seed in 1..=4u64 {
        let wasm = dir().join(format!("seed{seed}.wasm"));
        std::fs::write(&wasm, wat::parse_str(module(seed)).expect("valid module")).unwrap();
        let reference = output(&wasm, host, &["--no-migration-points"]);
        assert_eq!(
            reference.lines().count(),
            LOOPS,
            "seed {seed}: one line a loop"
        );
        for &arch in &arches {
            let got = output(&wasm, arch, &[]);
            assert_eq!(
                got,
                reference,
                "seed {seed}, {}: strip-mined loops counted otherwise than without points ({})",
                arch.name(),
                wasm.display()
            );
        }
    }
}
