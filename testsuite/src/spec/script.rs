//! Running the directives of one `.wast` script against wasmc-compiled instances.

use super::instance::{Compiled, Compiler, Instance, Reply};
use super::values::{describe_expected, encode_arg, matches, trap_matches};
use super::Skips;
use std::collections::HashMap;
use wast::core::Module;
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

/// Counts and failure reports of one script.
#[derive(Default, Debug)]
pub struct ScriptResult {
    pub name: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// `script:line: directive: expected …, got …`
    pub failures: Vec<String>,
}

enum Verdict {
    Pass,
    Fail(String),
    Skip,
}

struct Runner<'a> {
    compiler: &'a Compiler,
    /// The most recently defined module (`None` when it failed or was skipped; the
    /// string says why, for the directives that need it).
    current: Result<Instance, String>,
    named: HashMap<String, Result<Instance, String>>,
    /// Which of `named` is also the current module (so `current` is not a copy).
    current_name: Option<String>,
}

fn module_id(q: &QuoteWat<'_>) -> Option<String> {
    match q {
        QuoteWat::Wat(Wat::Module(Module { id: Some(id), .. })) => Some(id.name().to_string()),
        _ => None,
    }
}

impl<'a> Runner<'a> {
    fn instance(&mut self, id: Option<&str>) -> Result<&mut Instance, String> {
        let slot = match id.or(self.current_name.as_deref()) {
            Some(n) => self
                .named
                .get_mut(n)
                .ok_or_else(|| format!("no module named ${n}"))?,
            None => &mut self.current,
        };
        slot.as_mut().map_err(|e| e.clone())
    }

    /// Compiles and instantiates a module; the result becomes the current module.
    fn define(&mut self, mut q: QuoteWat<'_>, skip: Option<&str>) -> Verdict {
        let id = module_id(&q);
        let (verdict, inst) = match skip {
            Some(reason) => (Verdict::Skip, Err(format!("module skipped: {reason}"))),
            None => match q.encode() {
                Err(e) => (
                    Verdict::Fail(format!("module does not encode: {e}")),
                    Err("module did not encode".into()),
                ),
                Ok(wasm) => match self.compiler.compile(&wasm) {
                    Compiled::Rejected(m) => (
                        Verdict::Fail(format!("expected a valid module, wasmc rejected it: {m}")),
                        Err("module rejected".into()),
                    ),
                    Compiled::Crashed(m) => (
                        Verdict::Fail(format!("wasmc crashed: {m}")),
                        Err("wasmc crashed".into()),
                    ),
                    Compiled::Exe(exe) => match Instance::start(self.compiler.isa, &exe) {
                        Ok(i) => (Verdict::Pass, Ok(i)),
                        Err(r) => (
                            Verdict::Fail(format!("instantiation failed: {r}")),
                            Err("instantiation failed".into()),
                        ),
                    },
                },
            },
        };
        match id {
            Some(n) => {
                self.named.insert(n.clone(), inst);
                self.current_name = Some(n);
                self.current = Err("current module is named".into());
            }
            None => {
                self.current = inst;
                self.current_name = None;
            }
        }
        verdict
    }

    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Result<Reply, String> {
        let args = inv
            .args
            .iter()
            .map(encode_arg)
            .collect::<Result<Vec<_>, _>>()?;
        let inst = self.instance(inv.module.map(|m| m.name()))?;
        Ok(inst.invoke(inv.name, &args))
    }

    /// Runs an action (`invoke` / `get`), or instantiates a module for `assert_trap`.
    fn execute(&mut self, exec: &mut WastExecute<'_>) -> Result<Reply, String> {
        match exec {
            WastExecute::Invoke(inv) => self.invoke(inv),
            WastExecute::Get { module, global, .. } => {
                Ok(self.instance(module.map(|m| m.name()))?.get(global))
            }
            WastExecute::Wat(w) => {
                let wasm = w
                    .encode()
                    .map_err(|e| format!("module does not encode: {e}"))?;
                match self.compiler.compile(&wasm) {
                    Compiled::Exe(exe) => Ok(match Instance::start(self.compiler.isa, &exe) {
                        Ok(_) => Reply::Ok(Vec::new()),
                        Err(r) => r,
                    }),
                    Compiled::Rejected(m) => Err(format!("wasmc rejected the module: {m}")),
                    Compiled::Crashed(m) => Err(format!("wasmc crashed: {m}")),
                }
            }
        }
    }

    /// `assert_invalid` / `assert_malformed` / `assert_unlinkable`: wasmc must refuse
    /// the module cleanly. Quoted text the wast parser already rejects counts as
    /// rejected (malformed text never reaches a binary).
    fn rejects(&mut self, q: &mut QuoteWat<'_>, message: &str) -> Verdict {
        let wasm = match q.encode() {
            Ok(w) => w,
            Err(_) => return Verdict::Pass,
        };
        match self.compiler.compile(&wasm) {
            Compiled::Rejected(_) => Verdict::Pass,
            Compiled::Exe(_) => Verdict::Fail(format!(
                "expected rejection (\"{message}\"), wasmc accepted the module"
            )),
            Compiled::Crashed(m) => Verdict::Fail(format!(
                "expected rejection (\"{message}\"), wasmc crashed: {m}"
            )),
        }
    }

    fn directive(&mut self, d: WastDirective<'_>, skip: Option<&str>) -> Verdict {
        if let WastDirective::Module(q) = d {
            return self.define(q, skip);
        }
        if let Some(reason) = skip {
            let _ = reason;
            return Verdict::Skip;
        }
        match d {
            WastDirective::Module(_) => unreachable!(),
            WastDirective::Register { module, .. } => match self.instance(module.map(|m| m.name()))
            {
                // Registration only names the instance for importers; modules that
                // import from it are in the skip list (one module per executable).
                Ok(_) => Verdict::Pass,
                Err(e) => Verdict::Fail(e),
            },
            WastDirective::Invoke(inv) => match self.invoke(&inv) {
                Ok(Reply::Ok(_)) => Verdict::Pass,
                Ok(r) => Verdict::Fail(format!("expected success, got {r}")),
                Err(e) => Verdict::Fail(e),
            },
            WastDirective::AssertReturn {
                mut exec, results, ..
            } => match self.execute(&mut exec) {
                Ok(Reply::Ok(vs))
                    if vs.len() == results.len()
                        && results.iter().zip(&vs).all(|(r, v)| matches(r, *v)) =>
                {
                    Verdict::Pass
                }
                Ok(r) => {
                    Verdict::Fail(format!("expected {}, got {r}", describe_expected(&results)))
                }
                Err(e) => Verdict::Fail(e),
            },
            WastDirective::AssertTrap {
                mut exec, message, ..
            } => match self.execute(&mut exec) {
                Ok(Reply::Trap(m)) if trap_matches(message, &m) => Verdict::Pass,
                Ok(Reply::Exhausted) if trap_matches(message, "call stack exhausted") => {
                    Verdict::Pass
                }
                Ok(r) => Verdict::Fail(format!("expected trap \"{message}\", got {r}")),
                Err(e) => Verdict::Fail(e),
            },
            WastDirective::AssertException { mut exec, .. } => match self.execute(&mut exec) {
                // The runtime's message for `Trap::UncaughtException`.
                Ok(Reply::Trap(m)) if m == "uncaught exception" => Verdict::Pass,
                Ok(r) => Verdict::Fail(format!("expected an uncaught exception, got {r}")),
                Err(e) => Verdict::Fail(e),
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(Reply::Exhausted) => Verdict::Pass,
                Ok(r) => Verdict::Fail(format!("expected exhaustion \"{message}\", got {r}")),
                Err(e) => Verdict::Fail(e),
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            }
            | WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => self.rejects(&mut module, message),
            WastDirective::AssertUnlinkable {
                module, message, ..
            } => self.rejects(&mut QuoteWat::Wat(module), message),
            other => Verdict::Fail(format!(
                "unsupported directive {:?}",
                std::mem::discriminant(&other)
            )),
        }
    }
}

/// A short name for a directive, for reports.
fn kind(d: &WastDirective<'_>) -> &'static str {
    match d {
        WastDirective::Module(_) => "module",
        WastDirective::ModuleDefinition(_) => "module definition",
        WastDirective::ModuleInstance { .. } => "module instance",
        WastDirective::AssertMalformed { .. } => "assert_malformed",
        WastDirective::AssertInvalid { .. } => "assert_invalid",
        WastDirective::Register { .. } => "register",
        WastDirective::Invoke(_) => "invoke",
        WastDirective::AssertTrap { .. } => "assert_trap",
        WastDirective::AssertReturn { .. } => "assert_return",
        WastDirective::AssertExhaustion { .. } => "assert_exhaustion",
        WastDirective::AssertUnlinkable { .. } => "assert_unlinkable",
        _ => "directive",
    }
}

/// The action's export name, for reports.
fn target(d: &WastDirective<'_>) -> String {
    let inv = match d {
        WastDirective::Invoke(i) | WastDirective::AssertExhaustion { call: i, .. } => Some(i),
        WastDirective::AssertReturn {
            exec: WastExecute::Invoke(i),
            ..
        }
        | WastDirective::AssertTrap {
            exec: WastExecute::Invoke(i),
            ..
        } => Some(i),
        _ => None,
    };
    match (inv, d) {
        (Some(i), _) => format!(" \"{}\"", i.name.escape_debug()),
        (
            None,
            WastDirective::AssertReturn {
                exec: WastExecute::Get { global, .. },
                ..
            },
        ) => format!(" get \"{global}\""),
        _ => String::new(),
    }
}

/// Runs every directive of `text` (the script `name`) in order.
pub fn run_script(name: &str, text: &str, compiler: &Compiler, skips: &Skips) -> ScriptResult {
    let mut res = ScriptResult {
        name: name.to_string(),
        ..Default::default()
    };
    let buf = {
        let mut lexer = wast::lexer::Lexer::new(text);
        lexer.allow_confusing_unicode(true);
        wast::parser::ParseBuffer::new_with_lexer(lexer)
    };
    let wast = match buf
        .as_ref()
        .map_err(|e| e.to_string())
        .and_then(|b| wast::parser::parse::<Wast>(b).map_err(|e| e.to_string()))
    {
        Ok(w) => w,
        Err(e) => {
            res.failed += 1;
            res.failures
                .push(format!("{name}: cannot parse the script: {e}"));
            return res;
        }
    };
    let mut runner = Runner {
        compiler,
        current: Err("no module defined yet".into()),
        named: HashMap::new(),
        current_name: None,
    };
    for d in wast.directives {
        let line = d.span().linecol_in(text).0 + 1;
        let (k, t) = (kind(&d), target(&d));
        let skip = skips.reason(compiler.isa.name(), name, line);
        match runner.directive(d, skip) {
            Verdict::Pass => res.passed += 1,
            Verdict::Skip => res.skipped += 1,
            // Actions on a module the skip list left out are skipped with it.
            Verdict::Fail(why) if why.starts_with("module skipped") => res.skipped += 1,
            Verdict::Fail(why) => {
                res.failed += 1;
                res.failures.push(format!("{name}:{line}: {k}{t}: {why}"));
            }
        }
    }
    res
}
