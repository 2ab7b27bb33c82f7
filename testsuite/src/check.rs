//! Comparing what a run did with what its fixture expects.

use crate::exec::Outcome;
use crate::expect::Fixture;
use std::fmt::Write;
use std::path::Path;

/// Every way `out` differs from `fix`'s expectations, as one human-readable report
/// (empty vector: it matches). `sandbox` is the host directory preopened for the run.
pub fn check(fix: &Fixture, out: &Outcome, sandbox: Option<&Path>) -> Vec<String> {
    let e = &fix.expect;
    let mut problems = Vec::new();
    let stdout = out.stdout_str();
    let stderr = out.stderr_str();
    if out.timed_out || out.signal.is_some() || out.code != Some(e.exit) {
        problems.push(format!(
            "expected exit {}, got {}",
            e.exit,
            out.status_text()
        ));
    }
    if stdout != e.stdout {
        problems.push(format!(
            "stdout differs (- expected, + actual):\n{}",
            diff(&e.stdout, &stdout)
        ));
    }
    let mut wanted: Vec<String> = e.stderr_lines.clone();
    match fix.expected_trap_line() {
        Ok(Some(l)) => wanted.push(l),
        Ok(None) => {}
        Err(err) => problems.push(format!("bad fixture: {err:#}")),
    }
    for line in &wanted {
        if !stderr.lines().any(|l| l == line) {
            problems.push(format!("stderr lacks the line\n    {line}"));
        }
    }
    let trap_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("wasmc: trap:"))
        .collect();
    let traps_expected = wanted.iter().any(|l| l.starts_with("wasmc: trap:"));
    if trap_lines.len() > 1 || (!traps_expected && !trap_lines.is_empty()) {
        problems.push(format!("unexpected trap line(s): {trap_lines:?}"));
    }
    if let Some(dir) = sandbox {
        for (name, content) in &e.host_files {
            match std::fs::read_to_string(dir.join(name)) {
                Ok(s) if s == format!("{content}\n") => {}
                Ok(s) => problems.push(format!(
                    "host file {name}: expected {content:?}+newline, found {s:?}"
                )),
                Err(err) => problems.push(format!("host file {name}: {err}")),
            }
        }
    }
    if !problems.is_empty() && !stderr.is_empty() {
        problems.push(format!("stderr was:\n{}", indent(&truncate(&stderr, 3000))));
    }
    problems
}

/// A line diff of `expected` and `actual` with a little context, cut to a readable size.
/// (Longest common subsequence; the outputs compared here are at most a few hundred lines.)
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    if a.len() * b.len() > 4_000_000 {
        return format!("(too long to diff: {} vs {} lines)\n", a.len(), b.len());
    }
    // lcs[i][j] = LCS length of a[i..] and b[j..]
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    let mut shown = 0;
    for (k, (c, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            if shown == 60 {
                out.push_str("  (diff cut at 60 lines)\n");
                break;
            }
            let _ = writeln!(out, "{c} {line}");
            shown += 1;
        } else {
            skipped = true;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') && !actual.is_empty() {
        out.push_str("  (the final newline differs)\n");
    }
    out
}

pub fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n... ({} more bytes)", &s[..cut], s.len() - cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changes_with_context() {
        let d = diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nX\ne\nf\ng\n");
        assert!(d.contains("- d\n+ X\n"), "{d}");
        assert!(d.contains("  c\n") && !d.contains("  a\n"), "{d}");
        assert_eq!(diff("same\n", "same\n").trim(), "");
    }
}
