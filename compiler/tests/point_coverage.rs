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
    for arch in targets::ALL {
        let c = point_coverage(&wasm, &Options::new(arch)).unwrap();
        assert_eq!(c.unknown, 0, "{arch}: {c:?}");
        assert!(c.located > 0, "{arch}: {c:?}");
    }
}
