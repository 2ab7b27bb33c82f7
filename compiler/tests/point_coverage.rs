//! Every value of every migration point of the fixtures and bench kernels has a place
//! `describe` can name at its site (a register, a frame slot, a constant, or dead), on
//! each ISA: the frames of this code can be read wherever the program stops. An
//! unknown value would not be wrong (the runtime goes on to the next poll), but a
//! point that can never be read would make a program impossible to stop there. The same
//! holds for the other values live at a site (the vmctx, the memory base), which a
//! rebuilt frame needs too.

use std::path::PathBuf;
use wasmc::driver::{point_coverage, Options};

fn modules() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = testsuite::load_fixtures()
        .unwrap()
        .into_iter()
        .map(|f| f.wasm)
        .collect();
    let kernels = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/kernels");
    for e in std::fs::read_dir(&kernels).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "wasm") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn every_point_value_has_a_location_on_every_isa() {
    let modules = modules();
    assert!(modules.len() > 20, "fixtures and kernels found");
    for arch in targets::ALL {
        let opts = Options::new(arch);
        let mut located = 0;
        for m in &modules {
            let bytes = std::fs::read(m).unwrap();
            let c = match point_coverage(&bytes, &opts) {
                Ok(c) => c,
                // Modules wasmc refuses (SIMD) are the fixtures suite's business.
                Err(e) if e.to_string().contains("unsupported feature") => continue,
                Err(e) => panic!("{}: {e:#}", m.display()),
            };
            assert_eq!(c.unknown, 0, "{} on {arch}: {c:?}", m.display());
            // A live value a rebuilt frame could not recompute would make its site
            // impossible to stop at.
            assert_eq!(c.unknown_extras, 0, "{} on {arch}: {c:?}", m.display());
            located += c.located;
        }
        assert!(located > 10_000, "{arch}: only {located} values located");
    }
}

/// A site in a block that then traps (`call $f` and `unreachable` after it, with a local
/// live across the call): Cranelift emits a block that ends in a trap as cold code,
/// after the hot code. Each value is located there too (until stop 41 value labels had
/// no locations in cold code, and such blocks were split after their last site).
#[test]
fn a_call_before_unreachable_has_its_values_located() {
    let wasm = wat::parse_str(
        r#"(module
            (memory 1)
            (func $f (param i32) (result i32)
                ;; a loop, so that $f has points and calling it is one
                (loop $l (br_if $l (i32.eqz (local.get 0))))
                local.get 0
                i32.const 1
                i32.add)
            (func $g (export "g") (param i32) (result i32) (local i32)
                local.get 0
                i32.const 7
                i32.mul
                local.set 1
                local.get 0
                call $f
                drop
                local.get 1
                i32.load
                local.get 1
                i32.store offset=4
                unreachable)
            (func (export "_start")
                i32.const 3
                call $g
                drop))"#,
    )
    .unwrap();
    for (arch, c) in coverage_on_every_isa(&wasm) {
        assert!(c.located > 0, "{arch}: {c:?}");
    }
}

/// `point_coverage` of `wasm` on each ISA, every value of every site located.
fn coverage_on_every_isa(wasm: &[u8]) -> Vec<(targets::Arch, wasmc::describe::Coverage)> {
    targets::ALL
        .into_iter()
        .map(|arch| {
            let c = point_coverage(wasm, &Options::new(arch)).unwrap();
            assert_eq!(c.unknown, 0, "{arch}: {c:?}");
            (arch, c)
        })
        .collect()
}

/// On x86_64 an entry's poll is one instruction, `cmp dword [base - 8], 0`, and its
/// branch (`jne`) follows it: instruction selection folds the poll's load into the
/// branch's test, and `describe` reads that compare as the poll (with a `mov` and a
/// `test` every call of a function with points paid one instruction more).
#[test]
fn x86_64_entry_polls_compare_in_memory() {
    let wasm = wat::parse_str(
        r#"(module
            (memory 1)
            (func $f (param i32) (result i32)
                (loop $l (br_if $l (i32.eqz (local.get 0))))
                (i32.load (local.get 0)))
            (func $g (param i32) (result i32)
                (loop $l (br_if $l (i32.eqz (local.get 0))))
                (local.get 0))
            (func (export "_start")
                (drop (call $f (i32.const 3)))
                (drop (call $g (i32.const 5)))))"#,
    )
    .unwrap();
    let obj = wasmc::driver::compile_object(&wasm, &Options::new(targets::Arch::X86_64)).unwrap();
    // 83 /7 (after a REX.B prefix for r8 to r15) with a disp8 of -8 (ModRM mod 01,
    // reg 111, no SIB), imm8 0, then `jne` (0F 85 rel32 or 75 rel8).
    let compares = obj
        .windows(6)
        .filter(|w| {
            w[0] == 0x83
                && w[1] & 0xf8 == 0x78
                && w[1] & 7 != 4
                && w[2] == 0xf8
                && w[3] == 0
                && (w[4] == 0x75 || w[4..6] == [0x0f, 0x85])
        })
        .count();
    // $f (the memory base), $g (the vmctx) and _start, which calls functions with points.
    assert_eq!(compares, 3);
}

/// A function with points whose body traps at once (spec `unreachable.wast`): the
/// optimiser makes its entry poll's branch a conditional trap, so on x86_64 the compare
/// the poll's load is folded into is followed by that trap, which carries the poll's tag
/// too. The compare, the run's first instruction, is still the site (the rule that took
/// the run's last non-branch instruction took the trap, and the poll had no report).
#[test]
fn an_entry_poll_before_a_trap_is_a_site() {
    let wasm = wat::parse_str(
        r#"(module
            (type $sig (func (param i32 i32 i32)))
            (table funcref (elem $d))
            (func $d (param i32 i32 i32))
            (func (export "f")
                (call_indirect (type $sig)
                    (unreachable) (i32.const 1) (i32.const 2) (i32.const 3))))"#,
    )
    .unwrap();
    // Compiles, its poll a site with its values located, on every ISA.
    coverage_on_every_isa(&wasm);
}
