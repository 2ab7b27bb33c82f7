//! Cross-ISA migration differential test: every fixture, stopped at several migration
//! points on one ISA and finished on another (all nine ordered pairs, plus chains that
//! hop across all three), must produce exactly what one uninterrupted run produces:
//! stdout, stderr, exit status and the files it leaves behind.
//!
//! Checkpoints are taken deterministically with `WASMC_CHECKPOINT_AFTER=N`, which
//! counts entries of functions with points and stops at the next poll. The number of
//! entries a run passes is the same on every ISA (points sit in Wasm code order), so it
//! is measured once, natively, and the stops are spread over it.

use crate::exec::{command_for, copy_tree, fresh_dir, parallel_map, run, scrub_env, Outcome};
use crate::Fixture;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use targets::Arch;

/// Exit status of a process that wrote a checkpoint (abi-spec's CHECKPOINT_EXIT_CODE).
pub const CHECKPOINT_EXIT: i32 = 85;

/// One thing to compare: an uninterrupted run or a migrated one.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Observed {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: Option<i32>,
    /// (name, contents) of every file left in the preopened directory.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Observed {
    /// What of a run `e` judges it by: everything, or the exit status and the files
    /// `e.judged_files` names.
    fn judged(mut self, e: &crate::Expect) -> Observed {
        if let Some(names) = &e.judged_files {
            self.stdout.clear();
            self.stderr.clear();
            self.files.retain(|(n, _)| names.contains(n));
        }
        self
    }
}

/// Executables of one fixture, per ISA.
pub struct Program {
    pub fixture: Fixture,
    pub exes: Vec<(Arch, PathBuf)>,
}

impl Program {
    fn exe(&self, a: Arch) -> &Path {
        &self.exes.iter().find(|(x, _)| *x == a).unwrap().1
    }
}

/// A migration plan: checkpoint at the `polls`-th poll after `stops[0]` entries on
/// `isas[0]`, restore on `isas[1]` and checkpoint likewise after `stops[1]` more
/// entries, ..., finish on the last ISA.
#[derive(Clone, Debug)]
pub struct Plan {
    pub isas: Vec<Arch>,
    pub stops: Vec<u64>,
    /// M of `WASMC_CHECKPOINT_AFTER=N:M` at every stop: the polls after the N-th entry,
    /// counted by their faults, which carries a stop into loops that make no calls.
    pub polls: u64,
}

impl Plan {
    /// The `WASMC_CHECKPOINT_AFTER` value of hop `hop`.
    fn after(&self, hop: usize) -> String {
        match self.polls {
            1 => self.stops[hop].to_string(),
            m => format!("{}:{m}", self.stops[hop]),
        }
    }
}

/// How many polls after a stop's entry to go on for: up to 256, but never more than the
/// entries still to come, each of which polls, so the program is sure to stop.
fn polls_after(total: u64, entries: u64) -> u64 {
    total.saturating_sub(entries).clamp(1, 256)
}

pub struct Case {
    pub program: usize,
    pub plan: Plan,
    /// Label of the stop position ("early", "middle", ...).
    pub label: &'static str,
}

pub struct CaseResult {
    pub ok: bool,
    pub detail: String,
}

fn timeout() -> Duration {
    crate::exec::timeout_from_env("WASMC_TEST_TIMEOUT", 120)
}

fn base_command(p: &Program, arch: Arch, dir: &Path, work: &Path) -> Command {
    let e = &p.fixture.expect;
    let mut cmd = command_for(arch, p.exe(arch));
    scrub_env(&mut cmd);
    cmd.current_dir(work);
    cmd.args(&e.args);
    for (k, v) in &e.env {
        cmd.env(k, v);
    }
    if let Some(guest) = &e.dir {
        cmd.env("WASMC_DIRS", format!("{}::{guest}", dir.display()));
    }
    cmd
}

/// Empties the run's directory, or makes it a copy of the fixture's seed.
fn prepare_dir(p: &Program, dir: &Path) -> std::io::Result<()> {
    match &p.fixture.expect.seed {
        Some(seed) => copy_tree(seed, dir),
        None => fresh_dir(dir),
    }
}

fn read_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            // Never follow symlinks: programs make links that point outside (or in
            // circles) to test the sandbox; what counts is the link itself.
            let Ok(ty) = e.file_type() else { continue };
            if ty.is_symlink() {
                let target = std::fs::read_link(&p).unwrap_or_default();
                out.push((
                    name,
                    format!("symlink -> {}", target.display()).into_bytes(),
                ));
            } else if ty.is_dir() {
                out.push((name, b"directory".to_vec()));
                stack.push(p);
            } else {
                out.push((name, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// Runs `p` on `arch` in `scratch/dir`, stopping after `after` counted entries if
/// given.
fn run_in_dir(p: &Program, arch: Arch, scratch: &Path, after: Option<u64>) -> Result<Outcome> {
    let dir = scratch.join("dir");
    prepare_dir(p, &dir)?;
    let mut cmd = base_command(p, arch, &dir, scratch);
    if let Some(n) = after {
        cmd.env("WASMC_CHECKPOINT_AFTER", n.to_string());
        cmd.env("WASMC_CHECKPOINT", scratch.join("probe.ckpt"));
    }
    Ok(run(cmd, timeout())?)
}

/// What `p` leaves when it runs on `arch` without interruption.
fn observe(p: &Program, arch: Arch, scratch: &Path) -> Result<Observed> {
    let o = run_in_dir(p, arch, scratch, None)?;
    Ok(Observed {
        stdout: o.stdout,
        stderr: o.stderr,
        exit: o.code,
        files: read_files(&scratch.join("dir")),
    })
}

/// Runs `p` on `arch` without interruption; also returns how many counted entries the
/// run passed (measured by raising the countdown until no checkpoint happens).
pub fn reference(p: &Program, arch: Arch, scratch: &Path) -> Result<(Observed, u64)> {
    let observed = observe(p, arch, scratch)?;
    // Smallest N at which no checkpoint happens = entries passed + 1 (or the last
    // entry, if no poll follows it).
    let stops = |n: u64| -> Result<bool> {
        Ok(run_in_dir(p, arch, scratch, Some(n))?.code == Some(CHECKPOINT_EXIT))
    };
    let mut hi = 1u64;
    while stops(hi)? {
        hi *= 4;
        if hi > 1 << 40 {
            bail!("{}: checkpointing never stops the program", p.fixture.name);
        }
    }
    let mut lo = hi / 4; // stops(lo) is true (or lo == 0)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if stops(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((observed, lo))
}

/// Stop positions spread over a run of `total` counted entries.
pub fn stop_points(total: u64, quick: bool) -> Vec<(&'static str, u64)> {
    if total == 0 {
        return vec![];
    }
    // "late" stays short of the very end: a program whose loops depend on run-time
    // randomness (Rust's HashMap seeds) passes a slightly different number of points
    // each run.
    let late = (total - total / 20).max(1);
    let mut v = vec![("early", 1), ("middle", total.div_ceil(2)), ("late", late)];
    if !quick {
        v.push(("quarter", total.div_ceil(4).max(1)));
        v.push(("three-quarters", (total * 3).div_ceil(4).max(1)));
    }
    v.sort_by_key(|x| x.1);
    v.dedup_by_key(|x| x.1);
    v
}

/// Runs one migrated case and compares it with `want`, an uninterrupted run as the
/// fixture is judged ([`Observed::judged`]).
pub fn run_case(p: &Program, plan: &Plan, want: &Observed, scratch: &Path) -> Result<CaseResult> {
    let dir = scratch.join("dir");
    prepare_dir(p, &dir)?;
    let ckpt = scratch.join("state.ckpt");
    let _ = std::fs::remove_file(&ckpt);
    let mut stdout = vec![];
    let mut stderr = vec![];
    let mut exit = None;
    for (hop, arch) in plan.isas.iter().enumerate() {
        let mut cmd = base_command(p, *arch, &dir, scratch);
        if hop > 0 {
            cmd.env("WASMC_RESTORE", &ckpt);
        }
        let last = hop + 1 == plan.isas.len();
        if !last {
            cmd.env("WASMC_CHECKPOINT_AFTER", plan.after(hop));
            // A new name per hop: restoring from a file while writing the next.
            cmd.env("WASMC_CHECKPOINT", scratch.join(format!("state{hop}.ckpt")));
        }
        let o = run(cmd, timeout())?;
        stdout.extend_from_slice(&o.stdout);
        stderr.extend_from_slice(&o.stderr);
        if !last {
            if o.code != Some(CHECKPOINT_EXIT) {
                return Ok(CaseResult {
                    ok: false,
                    detail: format!(
                        "hop {hop} on {arch}: expected a checkpoint, got {}: {}",
                        o.status_text(),
                        o.stderr_str().trim()
                    ),
                });
            }
            std::fs::rename(scratch.join(format!("state{hop}.ckpt")), &ckpt)
                .context("checkpoint file missing")?;
        } else {
            exit = o.code;
        }
    }
    let e = &p.fixture.expect;
    let got = Observed {
        stdout,
        stderr,
        exit,
        files: read_files(&dir),
    }
    .judged(e);
    if &got == want {
        return Ok(CaseResult {
            ok: true,
            detail: String::new(),
        });
    }
    let mut detail = String::new();
    if got.stdout != want.stdout {
        detail += &format!(
            "stdout differs:\n{}",
            crate::diff(
                &String::from_utf8_lossy(&want.stdout),
                &String::from_utf8_lossy(&got.stdout)
            )
        );
    }
    if got.stderr != want.stderr {
        detail += &format!(
            "stderr differs: want {:?}, got {:?}\n",
            String::from_utf8_lossy(&want.stderr),
            String::from_utf8_lossy(&got.stderr)
        );
    }
    if got.exit != want.exit {
        detail += &format!("exit differs: want {:?}, got {:?}\n", want.exit, got.exit);
    }
    if got.files != want.files {
        detail += "files left behind differ\n";
    }
    Ok(CaseResult { ok: false, detail })
}

/// Builds the plans: every ordered pair at every stop, plus chains
/// x86_64 → aarch64 → riscv64 → x86_64 (stops spread over the run).
pub fn plans(total: u64, quick: bool) -> Vec<(&'static str, Plan)> {
    let mut out = vec![];
    for (label, n) in stop_points(total, quick) {
        for a in targets::ALL {
            for b in targets::ALL {
                out.push((
                    label,
                    Plan {
                        isas: vec![a, b],
                        stops: vec![n],
                        // Half the positions stop at the first poll after their entry,
                        // half further on, in whatever loop runs there.
                        polls: match label {
                            "middle" | "three-quarters" => polls_after(total, n),
                            _ => 1,
                        },
                    },
                ));
            }
        }
    }
    if total >= 4 {
        let step = (total / 4).max(1);
        out.push((
            "chain",
            Plan {
                isas: vec![Arch::X86_64, Arch::Aarch64, Arch::Riscv64, Arch::X86_64],
                stops: vec![step, step, step],
                polls: 1,
            },
        ));
        if !quick && total >= 8 {
            let s = (total / 8).max(1);
            out.push((
                "long chain",
                Plan {
                    isas: vec![
                        Arch::X86_64,
                        Arch::Aarch64,
                        Arch::Riscv64,
                        Arch::X86_64,
                        Arch::Riscv64,
                        Arch::Aarch64,
                        Arch::X86_64,
                    ],
                    stops: vec![s; 6],
                    // Six hops of an eighth of the entries and M polls each (at most
                    // M entries): the last still finds the entries it needs.
                    polls: polls_after(total / 24, 0),
                },
            ));
        }
    }
    out
}

/// Summary of a whole run: a 3×3 matrix (source ISA × destination ISA) of passed and
/// total pair cases, plus chains.
#[derive(Default)]
pub struct Matrix {
    pub cells: [[(u32, u32); 3]; 3],
    pub chains: (u32, u32),
    pub failures: Vec<String>,
}

fn idx(a: Arch) -> usize {
    targets::ALL.iter().position(|x| *x == a).unwrap()
}

impl Matrix {
    pub fn record(&mut self, plan: &Plan, ok: bool, what: String) {
        let cell = if plan.isas.len() == 2 {
            &mut self.cells[idx(plan.isas[0])][idx(plan.isas[1])]
        } else {
            &mut self.chains
        };
        cell.1 += 1;
        if ok {
            cell.0 += 1;
        } else {
            self.failures.push(what);
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::from("from \\ to   ");
        for b in targets::ALL {
            s += &format!("{:>10}", b.name());
        }
        s += "\n";
        for a in targets::ALL {
            s += &format!("{:<12}", a.name());
            for b in targets::ALL {
                let (p, t) = self.cells[idx(a)][idx(b)];
                s += &format!("{:>10}", format!("{p}/{t}"));
            }
            s += "\n";
        }
        s += &format!("chains      {}/{}\n", self.chains.0, self.chains.1);
        s
    }

    /// For tests: prints the matrix and panics unless there were cases and every one
    /// ended as the uninterrupted run did. `what` names the programs in the message.
    pub fn assert_all_passed(&self, what: &str) {
        println!("{}", self.render());
        assert!(self.total() > 0, "no migrations of {what} were run");
        assert!(
            self.failures.is_empty(),
            "{} of {} migrations of {what} diverged:\n{}",
            self.total() - self.passed(),
            self.total(),
            self.failures.join("\n")
        );
    }

    pub fn passed(&self) -> u32 {
        self.cells.iter().flatten().map(|c| c.0).sum::<u32>() + self.chains.0
    }
    pub fn total(&self) -> u32 {
        self.cells.iter().flatten().map(|c| c.1).sum::<u32>() + self.chains.1
    }
}

/// Runs the whole differential test over `programs`; `scratch` holds per-case dirs.
pub fn run_all(
    programs: &[Program],
    quick: bool,
    scratch: &Path,
    workers: usize,
) -> Result<Matrix> {
    let mut matrix = Matrix::default();
    for p in programs {
        let ref_dir = scratch.join(format!("{}-ref", p.fixture.slug()));
        fresh_dir(&ref_dir)?;
        let (x86_64, total) = reference(p, Arch::X86_64, &ref_dir)?;
        // A migrated run carries the state its first ISA set up (the arguments, and so
        // where the program's heap puts things), so it must end as an uninterrupted run
        // there does: `argv[0]`, the executable's path, is a byte longer on aarch64 and
        // riscv64, and a program that prints an address prints another one there.
        let e = &p.fixture.expect;
        let mut wants = vec![(Arch::X86_64, x86_64.judged(e))];
        for arch in targets::ALL.into_iter().filter(|a| *a != Arch::X86_64) {
            wants.push((arch, observe(p, arch, &ref_dir)?.judged(e)));
        }
        let want = |a: Arch| &wants.iter().find(|w| w.0 == a).expect("every ISA").1;
        let cases = plans(total, quick);
        let numbered: Vec<(usize, &'static str, Plan)> = cases
            .into_iter()
            .enumerate()
            .map(|(i, (l, p))| (i, l, p))
            .collect();
        let results = parallel_map(&numbered, workers, |(i, _, plan)| {
            let d = scratch.join(format!("{}-{i}", p.fixture.slug()));
            fresh_dir(&d)
                .map_err(anyhow::Error::from)
                .and_then(|_| run_case(p, plan, want(plan.isas[0]), &d))
        });
        for ((_, label, plan), r) in numbered.into_iter().zip(results) {
            let names: Vec<&str> = plan.isas.iter().map(|a| a.name()).collect();
            let what = format!(
                "{} [{label}, after {:?} entries and {} polls] {}",
                p.fixture.name,
                plan.stops,
                plan.polls,
                names.join(" -> ")
            );
            match r {
                Ok(r) => matrix.record(&plan, r.ok, format!("{what}: {}", r.detail)),
                Err(e) => matrix.record(&plan, false, format!("{what}: {e:#}")),
            }
        }
    }
    Ok(matrix)
}

/// Compiles `fixtures` with `wasmc` for all three ISAs into `out`.
pub fn build_programs(wasmc: &Path, fixtures: Vec<Fixture>, out: &Path) -> Result<Vec<Program>> {
    std::fs::create_dir_all(out)?;
    let jobs: Vec<(usize, Arch)> = (0..fixtures.len())
        .flat_map(|i| targets::ALL.map(|a| (i, a)))
        .collect();
    let built = parallel_map(&jobs, 2, |(i, a)| {
        let f = &fixtures[*i];
        let exe = out.join(format!("{}-{}", f.slug(), a.name()));
        let o = Command::new(wasmc)
            .arg("--target")
            .arg(a.name())
            .arg(&f.wasm)
            .arg("-o")
            .arg(&exe)
            .output();
        match o {
            Ok(o) if o.status.success() => Ok(exe),
            Ok(o) => Err(anyhow::anyhow!(
                "{} for {a}: {}",
                f.name,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(anyhow::anyhow!("running {}: {e}", wasmc.display())),
        }
    });
    let mut programs: Vec<Program> = fixtures
        .into_iter()
        .map(|fixture| Program {
            fixture,
            exes: vec![],
        })
        .collect();
    for ((i, a), r) in jobs.into_iter().zip(built) {
        programs[i].exes.push((a, r?));
    }
    Ok(programs)
}
