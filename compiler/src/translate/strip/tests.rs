use super::*;

/// The loops `find` strip-mines in the last function of `wat`, in loop order.
fn strip_loops(wat: &str) -> Vec<Option<StripLoop>> {
    crate::translate::with_ops(wat, |ops| {
        // Function 0 has points, any other none.
        let found = find(ops, &[], |f| f == 0);
        ops.iter()
            .filter(|(op, _)| matches!(op, Operator::Loop { .. }))
            .map(|(_, at)| found.get(at).cloned())
            .collect()
    })
}

/// The counted loops `find` sees in the last function of `wat`, in loop order.
fn counted(wat: &str) -> Vec<Option<Counted>> {
    strip_loops(wat)
        .into_iter()
        .map(|l| l.map(|l| l.counted))
        .collect()
}

fn one(wat: &str) -> Option<Counted> {
    let v = counted(wat);
    assert_eq!(v.len(), 1);
    v[0]
}

#[test]
fn the_latch_forms_clang_emits() {
    // i' = i + 1; i' != n
    let c = one(r#"(module (func (param i32) (local i32 i32)
        (loop (local.set 2 (i32.add (local.get 2) (local.get 1)))
          (br_if 0 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))))"#)
    .expect("counted");
    assert_eq!(
        (c.local, c.step, c.cmp, c.bound, c.wide),
        (1, 1, Cmp::Ne, Bound::Local(0), false)
    );
    // n != i' (the bound first), stepping by 2
    let c = one(r#"(module (func (param i32) (local i32)
        (loop (br_if 0 (i32.ne (local.get 0) (local.tee 1 (i32.add (local.get 1) (i32.const 2))))))))"#)
    .expect("counted");
    assert_eq!((c.step, c.cmp), (2, Cmp::Ne));
    // br_if on the stepped local itself: a countdown to 0
    let c = one(r#"(module (func (local i32)
        (loop (br_if 0 (local.tee 0 (i32.add (local.get 0) (i32.const -1)))))))"#)
    .expect("counted");
    assert_eq!((c.step, c.cmp, c.bound), (-1, Cmp::Ne, Bound::Const(0)));
    // local.set i; local.get i: the same as local.tee i
    let c = one(r#"(module (func (param i32) (local i32)
        (loop (local.set 1 (i32.add (local.get 1) (i32.const 1)))
          (br_if 0 (i32.lt_s (local.get 1) (local.get 0))))))"#)
    .expect("counted");
    assert_eq!((c.local, c.cmp), (1, Cmp::Lt { signed: true }));
    // i64, signed less-than a constant
    let c = one(r#"(module (func (local i64)
        (loop (br_if 0 (i64.lt_s (local.tee 0 (i64.add (local.get 0) (i64.const 3))) (i64.const 9000))))))"#)
    .expect("counted");
    assert_eq!(
        (c.step, c.cmp, c.bound, c.wide),
        (3, Cmp::Lt { signed: true }, Bound::Const(9000), true)
    );
    // n > i' is i' < n; a negative step counts down with >
    let c = one(r#"(module (func (param i32) (local i32)
        (loop (br_if 0 (i32.gt_u (local.get 0) (local.tee 1 (i32.add (local.get 1) (i32.const 1))))))))"#)
    .expect("counted");
    assert_eq!(c.cmp, Cmp::Lt { signed: false });
    let c = one(r#"(module (func (param i32) (local i32)
        (loop (br_if 0 (i32.gt_s (local.tee 1 (i32.add (local.get 1) (i32.const -4))) (local.get 0))))))"#)
    .expect("counted");
    assert_eq!((c.step, c.cmp), (-4, Cmp::Gt { signed: true }));
}

#[test]
fn a_local_stepped_before_the_latch() {
    // i = i + 2 early in the body, the latch compares i as it is: n != i
    let c = one(r#"(module (func (param i32) (local i32 i32)
        (loop (local.set 1 (i32.add (local.get 1) (i32.const 2)))
          (local.set 2 (i32.add (local.get 2) (local.get 1)))
          (br_if 0 (i32.ne (local.get 0) (local.get 1))))))"#)
    .expect("counted");
    assert_eq!(
        (c.local, c.step, c.cmp, c.bound),
        (1, 2, Cmp::Ne, Bound::Local(0))
    );
    // i64, i < a constant, the step teed into a use
    let c = one(r#"(module (func (local i64 i64)
        (loop (local.set 1 (i64.mul (local.tee 0 (i64.add (local.get 0) (i64.const 1))) (i64.const 3)))
          (br_if 0 (i64.lt_u (local.get 0) (i64.const 100))))))"#)
    .expect("counted");
    assert_eq!(
        (c.local, c.step, c.cmp, c.bound, c.wide),
        (0, 1, Cmp::Lt { signed: false }, Bound::Const(100), true)
    );
    // br_if on the local itself, stepped earlier: a countdown to 0
    let c = one(r#"(module (func (param i32) (local i32)
        (loop (local.set 0 (i32.add (local.get 0) (i32.const -1)))
          (local.set 1 (i32.add (local.get 1) (local.get 0)))
          (br_if 0 (local.get 0)))))"#)
    .expect("counted");
    assert_eq!(
        (c.local, c.step, c.cmp, c.bound),
        (0, -1, Cmp::Ne, Bound::Const(0))
    );
    let not = |wat: &str| assert_eq!(counted(wat), vec![None], "{wat}");
    // Stepped only on some iterations (inside an `if`).
    not(r#"(module (func (param i32) (local i32)
        (loop (if (local.get 0) (then (local.set 1 (i32.add (local.get 1) (i32.const 1)))))
          (br_if 0 (i32.ne (local.get 1) (local.get 0))))))"#);
    // Stepped after the latch (on the way out), or not by a constant.
    not(r#"(module (func (param i32) (local i32)
        (loop (br_if 0 (i32.ne (local.get 1) (local.get 0)))
          (local.set 1 (i32.add (local.get 1) (i32.const 1))))))"#);
    not(r#"(module (func (param i32) (local i32)
        (loop (local.set 1 (i32.add (local.get 1) (local.get 0)))
          (br_if 0 (i32.ne (local.get 1) (local.get 0))))))"#);
    // Written again after the step.
    not(r#"(module (func (param i32) (local i32)
        (loop (local.set 1 (i32.add (local.get 1) (i32.const 1)))
          (local.set 1 (i32.shl (local.get 1) (i32.const 1)))
          (br_if 0 (i32.lt_u (local.get 1) (local.get 0))))))"#);
}

#[test]
fn loops_that_are_not_counted() {
    let not = |wat: &str| assert_eq!(counted(wat), vec![None], "{wat}");
    // The bound changes in the loop.
    not(r#"(module (func (param i32) (local i32)
        (loop (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
          (br_if 0 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))))"#);
    // The induction local is written elsewhere too.
    not(r#"(module (func (param i32) (local i32)
        (loop (local.set 1 (i32.mul (local.get 1) (i32.const 3)))
          (br_if 0 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))))"#);
    // Another way back to the header.
    not(r#"(module (func (param i32) (local i32)
        (loop (br_if 0 (local.get 0))
          (br_if 0 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))))"#);
    // Counting up to a `>` never stops by it; a step that is not a power of two can
    // step over an `!=` bound.
    not(r#"(module (func (param i32) (local i32)
        (loop (br_if 0 (i32.gt_s (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))))"#);
    not(r#"(module (func (param i32) (local i32)
        (loop (br_if 0 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 3))) (local.get 0))))))"#);
    // Compared with itself; a latch nested in a block (not the loop's own level).
    not(r#"(module (func (local i32)
        (loop (br_if 0 (i32.ne (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (local.get 0))))))"#);
    not(r#"(module (func (param i32) (local i32)
        (loop (block (br_if 1 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0)))))))"#);
}

#[test]
fn only_innermost_loops_without_call_points() {
    // The outer loop holds another point (the inner loop's): not strip-mined.
    let v = counted(
        r#"(module (func (param i32) (local i32 i32)
        (loop
          (local.set 2 (i32.const 0))
          (loop (br_if 0 (i32.ne (local.tee 2 (i32.add (local.get 2) (i32.const 1))) (local.get 0))))
          (br_if 0 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))))"#,
    );
    assert_eq!(v.len(), 2);
    assert_eq!(v[0], None);
    assert_eq!(v[1].map(|c| c.local), Some(2));
    // A call of a function with points is a point; of one without, not.
    let call = |f: u32| {
        counted(&format!(
            r#"(module (func) (func) (func (param i32) (local i32)
            (loop (call {f})
              (br_if 0 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))))"#
        ))
    };
    assert_eq!(call(0), vec![None]);
    assert!(call(1)[0].is_some());
}

#[test]
fn the_locals_a_strip_loop_writes() {
    // Local 2 is written in the loop (in a nested block too), 3 only after it, 4 never.
    let l = strip_loops(
        r#"(module (func (param i32) (local i32 i32 i32 i32 i32)
        (loop
          (local.set 2 (i32.add (local.get 2) (local.get 4)))
          (block (local.set 5 (local.get 2)))
          (br_if 0 (i32.ne (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))
        (local.set 3 (local.get 2))))"#,
    );
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].as_ref().expect("counted").written, vec![1, 2, 5]);
}
