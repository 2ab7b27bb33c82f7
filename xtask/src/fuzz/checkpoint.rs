//! Checkpoint-mutation part: real checkpoints of running fixtures, mutated (bytes,
//! fields, structured edits), restored. Whatever the bytes, a restore must end in a
//! clean refusal (exit 125 and one `wasmc:` line) or a normal run (the program's own
//! status, or 134 with its trap line): never a signal, a hang, a panic message, or a
//! checkpoint nobody asked for.

use super::process::{run_probed, Probed};
use super::rng::Rng;
use super::{mutate_model, mutate_raw, Finding};
use abi_spec::checkpoint::owned::Ckpt;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use targets::Arch;
use testsuite::crossmigrate::{reference, Program, CHECKPOINT_EXIT};
use testsuite::exec::{command_for, copy_tree, fresh_dir, scrub_env};

/// Largest memory the model expands (the fixtures use a few MiB); bigger ones are
/// mutated at the byte level only.
const MAX_MODEL_MEMORY: u64 = 256 << 20;

/// Fixtures to checkpoint: deep recursion (tens of thousands of frames, loops, calls
/// of every kind of point) and file I/O (fd records with paths, offsets and flags).
const FIXTURES: &[&str] = &["c/recursion", "c/files"];
/// Base checkpoints per fixture, taken at points spread by the seed.
const BASES_PER_FIXTURE: usize = 3;
/// A restore that runs longer is probed with SIGUSR1 (see process.rs).
const RESTORE_LIMIT: Duration = Duration::from_secs(5);

/// One base checkpoint: the bytes, the model, and the preopened directory as it was
/// when the checkpoint was written (a restore re-opens its files).
struct Base {
    program: usize,
    label: String,
    bytes: Vec<u8>,
    model: Option<Ckpt>,
    dir_snapshot: PathBuf,
}

pub struct CheckpointFuzz {
    isa: Arch,
    programs: Vec<Program>,
    bases: Vec<Base>,
    scratch: PathBuf,
}

/// How a restore ended, when it was acceptable.
pub enum Ended {
    Refused,
    Ran,
    Trapped,
    /// Still running at the limit and checkpointed on SIGUSR1: a long but live run.
    Slow,
}

impl CheckpointFuzz {
    /// Compiles the fixtures, counts their migration points and writes the base
    /// checkpoints (at seed-chosen points).
    pub fn setup(wasmc: &Path, scratch: &Path, seed: u64) -> Result<CheckpointFuzz> {
        let isa = Arch::host().context("this host is not an ISA wasmc targets")?;
        fresh_dir(scratch)?;
        let mut programs = Vec::new();
        for f in testsuite::load_fixtures()? {
            if !FIXTURES.contains(&f.name.as_str()) {
                continue;
            }
            let exe = scratch.join(f.slug());
            let o = Command::new(wasmc)
                .arg(&f.wasm)
                .arg("-o")
                .arg(&exe)
                .output()?;
            if !o.status.success() {
                bail!(
                    "wasmc {}: {}",
                    f.wasm.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
            programs.push(Program {
                fixture: f,
                exes: vec![(isa, exe)],
            });
        }
        if programs.len() != FIXTURES.len() {
            bail!("fixtures {FIXTURES:?} not all found in testsuite/fixtures");
        }
        let mut fuzz = CheckpointFuzz {
            isa,
            programs,
            bases: Vec::new(),
            scratch: scratch.to_path_buf(),
        };
        let mut rng = Rng::new(super::rng::case_seed(seed, "checkpoint-bases", 0));
        for p in 0..fuzz.programs.len() {
            let probe = scratch.join(format!("probe-{p}"));
            fresh_dir(&probe)?;
            let (_, total) = reference(&fuzz.programs[p], isa, &probe)?;
            for k in 0..BASES_PER_FIXTURE {
                // The first base early in the run (for c/recursion: inside the 50,000
                // deep descent, so tens of thousands of frames), the others anywhere.
                let span = if k == 0 { total / 5 } else { total };
                let after = 1 + rng.below(span.max(1));
                fuzz.add_base(p, k, after)?;
            }
        }
        Ok(fuzz)
    }

    fn command(&self, program: usize, dir: &Path, work: &Path) -> Command {
        let p = &self.programs[program];
        let e = &p.fixture.expect;
        let mut cmd = command_for(self.isa, &p.exes[0].1);
        scrub_env(&mut cmd);
        cmd.current_dir(work).args(&e.args);
        cmd.envs(e.env.iter().map(|(k, v)| (k, v)));
        if let Some(guest) = &e.dir {
            cmd.env("WASMC_DIRS", format!("{}::{guest}", dir.display()));
        }
        cmd
    }

    fn add_base(&mut self, program: usize, k: usize, after: u64) -> Result<()> {
        let name = format!("base-{program}-{k}");
        let (dir, work) = (
            self.scratch.join(format!("{name}-dir")),
            self.scratch.join(&name),
        );
        fresh_dir(&dir)?;
        fresh_dir(&work)?;
        let ckpt = work.join("base.ckpt");
        let mut cmd = self.command(program, &dir, &work);
        cmd.env("WASMC_CHECKPOINT_AFTER", after.to_string())
            .env("WASMC_CHECKPOINT", &ckpt);
        let o = testsuite::exec::run(cmd, Duration::from_secs(60))?;
        let fixture = &self.programs[program].fixture.name;
        if o.code != Some(CHECKPOINT_EXIT) {
            bail!(
                "{fixture} with WASMC_CHECKPOINT_AFTER={after}: {}: {}",
                o.status_text(),
                o.stderr_str().trim()
            );
        }
        let bytes = std::fs::read(&ckpt)?;
        self.bases.push(Base {
            program,
            label: format!("{fixture} after {after} entries"),
            model: Ckpt::parse(&bytes, MAX_MODEL_MEMORY).ok(),
            bytes,
            dir_snapshot: dir,
        });
        Ok(())
    }

    pub fn describe_bases(&self) -> String {
        let v: Vec<String> = self
            .bases
            .iter()
            .map(|b| {
                let frames = b.model.as_ref().map_or(0, |m| m.frames.len());
                format!("{} ({} bytes, {frames} frames)", b.label, b.bytes.len())
            })
            .collect();
        v.join("; ")
    }

    /// Restores every base checkpoint unmodified: each must finish as the fixture
    /// expects, or the mutants would be judged against a broken restore.
    pub fn check_bases(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for base in &self.bases {
            let work = self.scratch.join("restore");
            let dir = self.scratch.join("restore-dir");
            if fresh_dir(&work)
                .and_then(|_| copy_tree(&base.dir_snapshot, &dir))
                .is_err()
            {
                continue;
            }
            let p = &self.programs[base.program];
            std::fs::write(work.join("mutant.ckpt"), &base.bytes).ok();
            let mut cmd = self.command(base.program, &dir, &work);
            cmd.env("WASMC_RESTORE", work.join("mutant.ckpt"));
            let Ok(o) = run_probed(cmd, Duration::from_secs(60)) else {
                continue;
            };
            if o.code != Some(p.fixture.expect.exit) || judge(&o).is_err() {
                let what = format!(
                    "unmodified checkpoint of {}: {}\nstderr:\n{}",
                    base.label,
                    o.status_text(),
                    o.stderr_str()
                );
                let mut f = Finding::new(
                    "restore-baseline",
                    what,
                    format!("exit {}", p.fixture.expect.exit),
                );
                f.files.push(("mutant.ckpt".into(), base.bytes.clone()));
                f.files.push((
                    "module.wasm".into(),
                    std::fs::read(&p.fixture.wasm).unwrap_or_default(),
                ));
                f.rerun = Some(rerun_line(p));
                out.push(f);
            }
        }
        out
    }

    /// The mutant of case `n`: which base, the bytes, and what was done.
    /// The mutant of one case: which base, the bytes, what was done, and its category
    /// (for the statistics). Structured edits get the most weight: the byte-level ones
    /// mostly meet the checksum or the reader, which are simple.
    fn mutant(&self, rng: &mut Rng) -> (usize, Vec<u8>, String, &'static str) {
        let b = rng.index(self.bases.len());
        let base = &self.bases[b];
        loop {
            let ((bytes, what), category) = match rng.below(20) {
                0..=1 => (mutate_raw::flips(&base.bytes, rng, false), "byte flips"),
                2..=3 => (mutate_raw::truncate(&base.bytes, rng), "truncation"),
                4..=7 => (
                    mutate_raw::flips(&base.bytes, rng, true),
                    "byte flips, checksum fixed",
                ),
                8 => (mutate_raw::header(&base.bytes, rng), "header fields"),
                9..=10 => (mutate_raw::fields(&base.bytes, rng), "lengths and counts"),
                11 => (mutate_raw::append(&base.bytes, rng), "trailing bytes"),
                _ => {
                    let Some(model) = &base.model else { continue };
                    let mut m = model.clone();
                    // Now and then several edits at once: checks that each pass alone
                    // may still miss a combination.
                    let edits = if rng.chance(1, 4) {
                        2 + rng.index(2)
                    } else {
                        1
                    };
                    let mut done = Vec::new();
                    let mut category = "combined edits";
                    for _ in 0..edits {
                        let (name, edit) =
                            mutate_model::EDITS[rng.index(mutate_model::EDITS.len())];
                        if let Some(what) = edit(&mut m, rng) {
                            done.push(format!("{name}: {what}"));
                            category = if edits == 1 { name } else { category };
                        }
                    }
                    // An edit the writer cannot express is simply not a mutant.
                    let (false, Ok(bytes)) = (done.is_empty(), m.write()) else {
                        continue;
                    };
                    ((bytes, done.join("; ")), category)
                }
            };
            return (b, bytes, what, category);
        }
    }

    /// Restores case `n`'s mutant: its category, and how it ended (`Err`: a finding).
    pub fn check(&self, seed: u64, n: u64) -> (&'static str, Result<Ended, Box<Finding>>) {
        let mut rng = Rng::new(super::rng::case_seed(seed, "mutant", n));
        let (b, bytes, what, category) = self.mutant(&mut rng);
        (category, self.restore(b, bytes, what))
    }

    fn restore(&self, b: usize, bytes: Vec<u8>, what: String) -> Result<Ended, Box<Finding>> {
        let base = &self.bases[b];
        let work = self.scratch.join("restore");
        let dir = self.scratch.join("restore-dir");
        let prepared = fresh_dir(&work)
            .and_then(|_| copy_tree(&base.dir_snapshot, &dir))
            .and_then(|_| std::fs::write(work.join("mutant.ckpt"), &bytes));
        if let Err(e) = prepared {
            // The scratch area is ours; failing to use it is not the runtime's fault.
            eprintln!(
                "fuzz: warning: cannot prepare a restore in {}: {e}",
                work.display()
            );
            return Ok(Ended::Refused);
        }
        let mut cmd = self.command(base.program, &dir, &work);
        cmd.env("WASMC_RESTORE", work.join("mutant.ckpt"))
            .env("WASMC_CHECKPOINT", work.join("unrequested.ckpt"));
        let o = match run_probed(cmd, RESTORE_LIMIT) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("fuzz: warning: cannot run a restore: {e}");
                return Ok(Ended::Refused);
            }
        };
        judge(&o).map_err(|kind| {
            let p = &self.programs[base.program];
            let wasmc = format!(
                "mutation: {what}\nof: {}\nrestore: {}\nstderr:\n{}\nstdout (first 2 KiB):\n{}",
                base.label,
                o.status_text(),
                o.stderr_str().trim_end(),
                String::from_utf8_lossy(&o.stdout[..o.stdout.len().min(2048)])
            );
            let mut f = Finding::new(format!("restore-{kind}"), wasmc, EXPECTED.into());
            f.files.push(("mutant.ckpt".into(), bytes));
            f.files.push(("base.ckpt".into(), base.bytes.clone()));
            f.files.push((
                "module.wasm".into(),
                std::fs::read(&p.fixture.wasm).unwrap_or_default(),
            ));
            f.rerun = Some(rerun_line(p));
            f.signature = format!("restore-{kind}: {}", signature(&o));
            Box::new(f)
        })
    }
}

const EXPECTED: &str = "exit 125 with one `wasmc:` line (refusal), or a normal end (the program's \
    status, or 134 with one `wasmc: trap:` line); no signal, hang, panic message or unrequested checkpoint";

/// The command that repeats the restore from the reproducer directory.
fn rerun_line(p: &Program) -> String {
    let e = &p.fixture.expect;
    let mut s = String::from("wasmc module.wasm -o app && ");
    if let Some(g) = &e.dir {
        s += &format!("mkdir -p dir && WASMC_DIRS=$PWD/dir::{g} ");
    }
    for (k, v) in &e.env {
        s += &format!("{k}={v:?} ");
    }
    s += "WASMC_RESTORE=mutant.ckpt ./app";
    for a in &e.args {
        s += &format!(" {a:?}");
    }
    s
}

/// What distinguishes one finding from another: the first stderr line, numbers
/// stripped (so the same bug at two addresses counts once).
fn signature(o: &Probed) -> String {
    let err = o.stderr_str();
    let line = err
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no stderr)");
    let t: String = line
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    format!(
        "{} / {}",
        o.status_text()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect::<String>(),
        t
    )
}

/// The rules of the module comment; `Err` names the kind of finding.
pub fn judge(o: &Probed) -> Result<Ended, &'static str> {
    let err = o.stderr_str();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let ours: Vec<&&str> = lines.iter().filter(|l| l.starts_with("wasmc:")).collect();
    if err.contains("panicked") || err.contains("internal error") {
        return Err("panic");
    }
    if o.hung {
        return Err("hang");
    }
    if o.signal.is_some() {
        return Err("signal");
    }
    match o.code {
        Some(85) if o.slow => Ok(Ended::Slow),
        Some(85) => Err("unrequested-checkpoint"),
        Some(125) if lines.len() == 1 && ours.len() == 1 => Ok(Ended::Refused),
        Some(125) => Err("bad-refusal"),
        Some(134)
            if ours.len() == 1 && lines.last().is_some_and(|l| l.starts_with("wasmc: trap:")) =>
        {
            Ok(Ended::Trapped)
        }
        Some(134) => Err("bad-trap"),
        _ => Ok(Ended::Ran),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(code: Option<i32>, signal: Option<i32>, stderr: &str) -> Probed {
        Probed {
            code,
            signal,
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
            slow: false,
            hung: false,
        }
    }

    #[test]
    fn the_rules() {
        let ok = |o: Probed| judge(&o).is_ok();
        assert!(ok(probed(
            Some(125),
            None,
            "wasmc: checkpoint is truncated\n"
        )));
        assert!(!ok(probed(Some(125), None, "")));
        assert!(!ok(probed(Some(125), None, "wasmc: a\nwasmc: b\n")));
        assert!(ok(probed(
            Some(134),
            None,
            "wasmc: trap: unreachable in function f (#1)\n"
        )));
        assert!(!ok(probed(Some(134), None, "")));
        assert!(ok(probed(Some(0), None, "")));
        assert!(ok(probed(Some(7), None, "the program's own message\n")));
        assert!(!ok(probed(Some(85), None, "")));
        assert!(!ok(probed(None, Some(11), "")));
        assert!(!ok(probed(Some(125), None, "wasmc: internal error: x\n")));
        assert!(!ok(probed(Some(101), None, "panicked at src/x.rs\n")));
        let mut slow = probed(Some(85), None, "");
        slow.slow = true;
        assert!(ok(slow));
    }
}
