//! Pins the Cranelift IR wasmc emits for a few small functions, with and without
//! migration points, so that any change to the translation is reviewed. `ADD` and
//! `$sq` run for a bounded time, so even with migration points on they get none (and a
//! call of `$sq` is no point); the loop and the indirect call keep theirs.

use wasmc::driver::function_ir;
use wasmc::Options;

fn ir(wat: &str, migration_points: bool) -> String {
    let bytes = wat::parse_str(wat).unwrap();
    let mut opts = Options::new(targets::Arch::X86_64);
    opts.migration_points = migration_points;
    function_ir(&bytes, &opts).unwrap().join("\n")
}

const ADD: &str = r#"(module (func (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

const SUM_LOOP: &str = r#"(module
  (memory 1)
  (func (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.load (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc)))"#;

const CALLS: &str = r#"(module
  (type $t (func (param i64) (result i64)))
  (table 1 funcref)
  (func $sq (type $t) (i64.mul (local.get 0) (local.get 0)))
  (func (param i64) (result i64)
    (i64.add (i64.const 1) (call $sq (local.get 0)))
    (call_indirect (type $t) (i32.const 0))))"#;

#[test]
fn add_without_points() {
    insta::assert_snapshot!(ir(ADD, false));
}

#[test]
fn add_with_points() {
    insta::assert_snapshot!(ir(ADD, true));
}

#[test]
fn loop_with_points() {
    insta::assert_snapshot!(ir(SUM_LOOP, true));
}

#[test]
fn calls_with_points() {
    insta::assert_snapshot!(ir(CALLS, true));
}

/// A value computed before a call point and passed to the call: the block the call is
/// made in is a floor of the elaborator (`cranelift_codegen::Floors`), fenced at the
/// call, so the argument is the value computed before (used there too), not a second
/// computation of it in the call's block. Until stop 47 every use in a call's block,
/// even before the call, computed again what it took from the blocks before.
#[test]
fn a_call_block_takes_its_argument_as_computed_before() {
    const WAT: &str = r#"(module
      (func $f (param i32) (result i32)
        (loop $l (br_if $l (i32.eqz (local.get 0))))
        local.get 0)
      (func (param i32 i32) (result i32) (local $acc i32)
        (local.set $acc (i32.rotl (i32.mul (local.get 0) (i32.const 203)) (i32.const 1)))
        (if (i32.and (local.get $acc) (i32.const 1))
          (then (local.set $acc (call $f (local.get $acc)))))
        (i32.add (local.get $acc) (local.get 1))))"#;
    let bytes = wat::parse_str(WAT).unwrap();
    let opts = Options::new(targets::Arch::X86_64);
    let ir = wasmc::driver::optimized_ir(&bytes, &opts).unwrap();
    let g = &ir[1];
    assert!(g.contains("call fn"), "{g}");
    assert_eq!(g.matches("imul").count(), 1, "{g}");
    assert_eq!(g.matches("rotl").count(), 1, "{g}");
}
