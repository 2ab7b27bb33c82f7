//! A fixed, reduced cross-ISA migration run for CI (`cargo xtask crossmigrate-test` runs
//! every fixture at more stops): each program is stopped early, midway and at its last
//! migration point on each ISA and finished on each ISA, plus one chain across all
//! three; the outcome must equal an uninterrupted run.

use testsuite::crossmigrate::{build_programs, run_all};

const WASMC: &str = env!("CARGO_BIN_EXE_wasmc");

/// Programs that between them cover files, args/env, deep recursion, function
/// pointers, floats, memory growth and a trap.
const CI_SET: &[&str] = &[
    "c/files",
    "c/recursion",
    "c/indirect",
    "c/floats",
    "c/memgrow",
    "c/args_env",
    "c/trap_div_zero",
];

#[test]
fn crossmigrate_ci_set() {
    for a in targets::ALL {
        testsuite::require_runner(a).unwrap();
    }
    let fixtures: Vec<_> = testsuite::load_fixtures()
        .unwrap()
        .into_iter()
        .filter(|f| CI_SET.contains(&f.name.as_str()))
        .collect();
    assert_eq!(fixtures.len(), CI_SET.len(), "a CI fixture is missing");
    let scratch = testsuite::target_dir().join("crossmigrate-ci");
    let programs = build_programs(WASMC.as_ref(), fixtures, &scratch.join("bin")).unwrap();
    let m = run_all(&programs, true, &scratch, 2).unwrap();
    m.assert_all_passed("the CI set");
}
