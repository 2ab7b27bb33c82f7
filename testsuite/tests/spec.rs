//! The CI part of the WebAssembly spec test suite (see testsuite/src/spec/): every
//! `wasm-v2` script and the exception-handling proposal's on x86_64, the quick subset
//! on aarch64 and riscv64 (qemu-user is what makes a full emulated run too slow for
//! CI's budget). `cargo xtask spec --target
//! all` runs everything. Directives in testsuite/spec-skips.toml count as skipped; any
//! failure fails the test, with script, line, directive, expected and actual printed.

use targets::Arch;
use testsuite::spec;

fn run(isa: Arch, quick: bool) {
    let mut opts = spec::Options::new(isa);
    opts.quick = quick;
    assert!(
        opts.wasmc.exists(),
        "{} is missing: build it with `cargo build --release -p wasmc` (cargo test --workspace --release does)",
        opts.wasmc.display()
    );
    let summary = spec::run(&opts).expect("spec runner");
    println!("{}", summary.line());
    let (passed, failed, _) = summary.totals();
    assert!(passed > 0, "no directive ran");
    assert_eq!(failed, 0, "{}", summary.line());
}

#[test]
fn spec_x86_64_full() {
    run(Arch::X86_64, false);
}

#[test]
fn spec_aarch64_quick() {
    run(Arch::Aarch64, true);
}

#[test]
fn spec_riscv64_quick() {
    run(Arch::Riscv64, true);
}
