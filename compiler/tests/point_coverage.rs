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
