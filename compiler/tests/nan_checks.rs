//! Where x86-64 code checks a float result for a NaN to canonicalise (ARCHITECTURE.md,
//! *NaN canonicalisation*): counted in the IR wasmc emits, since the checks cost run
//! time and the rules say where they may go. `nan_flow` checks the bits they produce.

use wasmc::driver::function_ir;
use wasmc::Options;

/// The NaN checks (`fcmp uno`, of one value or of two at once) on the paths the IR of
/// the last function of `wat` runs when no NaN turns up: outside cold blocks, where
/// the stores checked together are canonicalised one by one.
fn checks(wat: &str) -> usize {
    let bytes = wat::parse_str(wat).unwrap();
    let mut opts = Options::new(targets::Arch::X86_64);
    opts.migration_points = false;
    let ir = function_ir(&bytes, &opts).unwrap();
    let mut cold = false;
    let mut n = 0;
    for line in ir.last().unwrap().lines() {
        if line.starts_with("block") {
            cold = line.contains(" cold:");
        } else if !cold && line.contains("= fcmp") && line.contains(" uno ") {
            n += 1;
        }
    }
    n
}

/// A local that holds a loaded value (whose bits are kept) and, later in the loop
/// body, a product read twice; `$after` says what follows the loop.
fn reused(after: &str) -> String {
    format!(
        r#"(module (memory 1)
          (func (param $p i32) (param $n i32) (result i64) (local $r f64) (local $i i32)
            (loop $l
              (local.set $r (f64.load (local.get $p)))
              (f64.store offset=8 (local.get $p) (local.get $r))
              (local.set $r (f64.mul (local.get $r) (f64.const -2)))
              (f64.store offset=16 (local.get $p) (f64.add (local.get $r) (local.get $r)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
            {after}))"#
    )
}

#[test]
fn a_reused_local_dead_at_the_back_edge_is_not_checked() {
    // The sum is stored: one check. The product never leaves the loop body: the
    // loop's next trip loads the local afresh and nothing reads it after the loop.
    assert_eq!(checks(&reused("(i64.const 0)")), 1);
}

#[test]
fn a_reused_local_live_after_its_region_is_checked_once() {
    // Read after the loop, the product leaves the body through the back edge and the
    // exit: one more check, where the region ends, not one per read.
    assert_eq!(checks(&reused("(i64.reinterpret_f64 (local.get $r))")), 2);
}

#[test]
fn a_result_stored_and_kept_is_checked_once() {
    // The product is stored twice from its local in the same region: the two stores
    // share one check, and the region ends with the local dead.
    let wat = r#"(module (memory 1)
      (func (param $p i32) (local $r f64)
        (local.set $r (f64.load (local.get $p)))
        (f64.store offset=8 (local.get $p) (local.get $r))
        (local.set $r (f64.mul (local.get $r) (f64.const 3)))
        (f64.store offset=16 (local.get $p) (local.get $r))
        (f64.store offset=24 (local.get $p) (local.get $r))))"#;
    assert_eq!(checks(wat), 1);
}

/// `c[j] += a * b[j]` unrolled by two, as clang emits matmul's inner loop.
const AXPY2: &str = r#"(module (memory 1)
  (func (param $c i32) (param $b i32) (param $a f64)
    (f64.store (local.get $c)
      (f64.add (f64.load (local.get $c)) (f64.mul (local.get $a) (f64.load (local.get $b)))))
    (f64.store offset=8 (local.get $c)
      (f64.add (f64.load offset=8 (local.get $c))
        (f64.mul (local.get $a) (f64.load offset=8 (local.get $b)))))))"#;

#[test]
fn two_stores_share_one_check() {
    // The second value's loads may read the first store's raw bits, but they go
    // straight into arithmetic, whose result is checked with the first.
    assert_eq!(checks(AXPY2), 1);
}

#[test]
fn a_load_whose_bits_are_kept_checks_the_stores_before_it() {
    // The copied value keeps its bits, so the first store is checked before it is
    // read; the last store is checked alone where the function ends.
    let wat = r#"(module (memory 1)
      (func (param $p i32) (param $a f64)
        (f64.store (local.get $p) (f64.mul (local.get $a) (local.get $a)))
        (f64.store offset=8 (local.get $p) (f64.load offset=16 (local.get $p)))
        (f64.store offset=24 (local.get $p) (f64.add (local.get $a) (local.get $a)))))"#;
    assert_eq!(checks(wat), 2);
}

#[test]
fn stores_of_two_types_are_checked_apart() {
    let wat = r#"(module (memory 1)
      (func (param $p i32) (param $a f64) (param $b f32)
        (f32.store (local.get $p) (f32.mul (local.get $b) (local.get $b)))
        (f64.store offset=8 (local.get $p) (f64.mul (local.get $a) (local.get $a)))))"#;
    assert_eq!(checks(wat), 2);
}
