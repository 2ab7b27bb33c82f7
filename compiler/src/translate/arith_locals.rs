//! Which float locals only ever hold results of float arithmetic (or NaN-free
//! constants), so that a NaN in them may stay non-canonical until it becomes
//! observable (see `Slot::Arith`).
//!
//! On x86-64 a NaN produced by arithmetic has to be canonicalised before its bits can
//! be seen, because they differ between ISAs. Canonicalising a result of arithmetic is
//! always allowed (Wasm lets arithmetic return any NaN), but canonicalising a value
//! that came from a load, a parameter, a reinterpretation, a global, a call or a sign
//! operation is not: those keep their bits exactly. A local that only ever receives
//! arithmetic results can therefore hold the raw result, and a `local.get` of it is an
//! arithmetic result again, canonicalised where it escapes: a store, a call, a return,
//! a branch, a reinterpretation, a sign operation, a migration point's save path.
//! This keeps the compare and branch out of loops that carry an accumulator.
//!
//! The test is syntactic and conservative: every `local.set`/`local.tee` of the local
//! must directly follow an operator that pushes exactly one value that is such a
//! result: float arithmetic, an integer-to-float conversion, a float constant that is
//! not a NaN, a `local.get`/`local.tee` of another such local. Parameters never
//! qualify (their bits come from the caller); declared locals start as +0.0. Anything
//! else (a block result, a `select`, a call result, ...) disqualifies the local. The
//! greatest fixpoint over local-to-local copies is sound: by induction over a run,
//! every value such a local holds was produced by arithmetic or is NaN-free.
//!
//! A float local that fails the test but is sometimes given such a result (compilers
//! reuse locals) is listed as reused: the translator keeps the raw result in it only
//! up to the end of the straight-line region it was set in, and canonicalises it there
//! if it is still live (`FuncTranslator::settle_locals`).

use super::Ops;
use wasmparser::{FunctionBody, Operator, ValType};

/// Where the value a `local.set`/`local.tee` stores came from.
#[derive(Clone, Copy)]
enum Source {
    /// An arithmetic result or a NaN-free constant.
    Arith,
    /// The value of this local.
    Local(u32),
    /// Anything else: its bits must be kept.
    Exact,
}

/// The result of [`analyze`].
pub struct ArithLocals {
    /// For each local (parameters first), whether it only ever holds arithmetic results.
    pub arith: Vec<bool>,
    /// The float locals that are not arithmetic but are set from an arithmetic result
    /// (or a copy of an arithmetic local), in ascending order: locals the compiler
    /// reuses for a loaded value and for a product, say. The translator keeps a result
    /// raw in these alone, until its straight-line region ends
    /// (`FuncTranslator::settle_locals`).
    pub reused: Vec<u32>,
}

/// Which locals only ever hold arithmetic results, and whether any other float local
/// is ever given one. `locals` are the types of all locals, parameters included.
pub fn analyze(ops: &Ops<'_>, num_params: usize, locals: &[ValType]) -> ArithLocals {
    let mut arith: Vec<bool> = locals
        .iter()
        .enumerate()
        .map(|(i, t)| i >= num_params && matches!(t, ValType::F32 | ValType::F64))
        .collect();
    let sets = local_sets(ops);
    loop {
        let mut changed = false;
        for &(local, src) in &sets {
            let Some(true) = arith.get(local as usize) else {
                continue;
            };
            let ok = match src {
                Source::Arith => true,
                Source::Local(j) => arith.get(j as usize).copied().unwrap_or(false),
                Source::Exact => false,
            };
            if !ok {
                arith[local as usize] = false;
                changed = true;
            }
        }
        if !changed {
            // A copy of another such local counts; a copy of a local that is not one
            // can be raw only if that local is given an arithmetic result itself.
            let mut reused: Vec<u32> = sets
                .iter()
                .filter(|&&(local, src)| {
                    let raw = match src {
                        Source::Arith => true,
                        Source::Local(j) => arith.get(j as usize).copied().unwrap_or(false),
                        Source::Exact => false,
                    };
                    raw && !arith.get(local as usize).copied().unwrap_or(true)
                        && matches!(
                            locals.get(local as usize),
                            Some(ValType::F32 | ValType::F64)
                        )
                })
                .map(|&(local, _)| local)
                .collect();
            reused.sort_unstable();
            reused.dedup();
            return ArithLocals { arith, reused };
        }
    }
}

/// Every `local.set`/`local.tee` of the body with the source of its value.
fn local_sets(ops: &Ops<'_>) -> Vec<(u32, Source)> {
    let mut sets = vec![];
    let mut prev = Source::Exact;
    for (op, _) in ops {
        prev = match *op {
            Operator::LocalSet { local_index } => {
                sets.push((local_index, prev));
                Source::Exact
            }
            Operator::LocalTee { local_index } => {
                sets.push((local_index, prev));
                // The value left on the stack is the local's value.
                Source::Local(local_index)
            }
            Operator::LocalGet { local_index } => Source::Local(local_index),
            Operator::F32Const { value } if !f32::from_bits(value.bits()).is_nan() => Source::Arith,
            Operator::F64Const { value } if !f64::from_bits(value.bits()).is_nan() => Source::Arith,
            ref op if pushes_arith_result(op) => Source::Arith,
            _ => Source::Exact,
        };
    }
    sets
}

/// Operators that push one float that is an arithmetic result (any NaN allowed) or
/// cannot be a NaN. Sign operations (neg, abs, copysign) are not among them: they
/// move bits and must keep them.
fn pushes_arith_result(op: &Operator<'_>) -> bool {
    use Operator as O;
    is_float_arithmetic(op)
        || matches!(
            op,
            O::F32ConvertI32S
                | O::F32ConvertI32U
                | O::F32ConvertI64S
                | O::F32ConvertI64U
                | O::F64ConvertI32S
                | O::F64ConvertI32U
                | O::F64ConvertI64S
                | O::F64ConvertI64U
        )
}

/// Float arithmetic: operators that take floats and give an arithmetic result, which
/// may be any NaN if an operand is one (the translator's `float_unop`, `float_binop`).
pub(super) fn is_float_arithmetic(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::F32Add
            | O::F32Sub
            | O::F32Mul
            | O::F32Div
            | O::F32Min
            | O::F32Max
            | O::F32Sqrt
            | O::F32Ceil
            | O::F32Floor
            | O::F32Trunc
            | O::F32Nearest
            | O::F64Add
            | O::F64Sub
            | O::F64Mul
            | O::F64Div
            | O::F64Min
            | O::F64Max
            | O::F64Sqrt
            | O::F64Ceil
            | O::F64Floor
            | O::F64Trunc
            | O::F64Nearest
            | O::F32DemoteF64
            | O::F64PromoteF32
    )
}

/// The types of all locals of a function, parameters first.
pub fn local_types(params: &[ValType], body: &FunctionBody<'_>) -> Vec<ValType> {
    let mut locals = params.to_vec();
    if let Ok(mut r) = body.get_locals_reader() {
        for _ in 0..r.get_count() {
            if let Ok((n, t)) = r.read() {
                locals.extend(std::iter::repeat_n(t, n as usize));
            }
        }
    }
    locals
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arith flags of the only function of module `wat`.
    fn flags(wat: &str) -> ArithLocals {
        let bytes = wat::parse_str(wat).unwrap();
        let info = crate::module_info::read_module(&bytes, false).unwrap();
        let params = info.func_type(0).params();
        let locals = local_types(params, &info.bodies[0]);
        analyze(
            &crate::translate::decode(&info.bodies[0]).unwrap(),
            params.len(),
            &locals,
        )
    }

    #[test]
    fn accumulators_qualify_loaded_and_param_values_do_not() {
        let f = flags(
            r#"(module (memory 1)
              (func (param $p f64) (local $acc f64) (local $copy f64) (local $ld f64)
                    (local $viaparam f64) (local $neg f64) (local $nan f64) (local $i i32)
                (local.set $acc (f64.add (local.get $acc) (f64.mul (local.get $p) (local.get $p))))
                (local.set $copy (local.get $acc))
                (local.set $ld (f64.load (i32.const 0)))
                (local.set $viaparam (local.get $p))
                (local.set $neg (f64.neg (local.get $acc)))
                (local.set $nan (f64.const nan:0x1234))))"#,
        );
        assert_eq!(
            f.arith,
            vec![false, true, true, false, false, false, false, false]
        );
        // $ld, $viaparam, $neg and $nan are never given an arithmetic result.
        assert!(f.reused.is_empty());
    }

    #[test]
    fn a_copy_cycle_with_one_exact_source_is_exact() {
        let f = flags(
            r#"(module
              (func (param $p f32) (local $a f32) (local $b f32) (local $c f32)
                (local.set $a (local.tee $b (local.get $c)))
                (local.set $c (local.get $a))
                (local.set $b (local.get $p))
                (local.set $c (f32.const 1.5))))"#,
        );
        assert_eq!(f.arith, vec![false, false, false, false]);
        // $c is given 1.5, which is arithmetic, though $c is not.
        assert_eq!(f.reused, vec![3]);
    }
}
