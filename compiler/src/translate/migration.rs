//! Migration points: polls, and what makes a frame describable at each point.
//!
//! Point 0 is the function entry, then points are numbered in code order: each loop
//! header (a poll point, so a running loop stops within one iteration, or one strip of
//! iterations for a counted loop: see `strip`) and each call of a Wasm function (the
//! resume point of every frame below the top).
//!
//! Nothing is generated to *save* or *restore* a frame. A poll loads a word from a poll
//! page, which the runtime makes unreadable to stop the program; the fault hands it
//! every register, and the point's description (`describe`: where each value lives at
//! the poll's pc, from Cranelift's value labels) tells it where each Wasm value is.
//! Frames below are read the same way at their call's return address, after unwinding
//! the callee. Restoring writes the values back into the same places (runtime
//! `rebuild`), entered from each function's entry. So a loop poll costs one load, a
//! call point nothing on the hot path, and neither any code beyond that. An entry's
//! poll also tests its word, which is non-zero only while the deterministic countdown
//! runs (it counts entries) or a restore: its cold path is one call, which the
//! runtime takes for a countdown or, while restoring, for the frame's rebuild.
//!
//! Writing a frame back is sound only if what is live at a site is the point's Wasm
//! values plus values computed from the vmctx alone. So every variable of a loop
//! point is an explicit parameter of its header, which the optimiser keeps
//! (`sites::optimize`): nothing computed from an older value can stand in for one
//! across the site. Two kinds of site block take some variables as they are instead,
//! those whose values a point can always name, and the e-graph's elaborator keeps the
//! rule there (`cranelift_codegen::Floors`): a loop's header, for the locals the
//! loop never touches ([`FuncTranslator::loop_vars`]), and the block a call is made in
//! ([`FuncTranslator::call_block`]).
//!
//! A frame record holds, in order: every local, then every operand-stack value below
//! the point (stack variables, by depth), then the loop's params for a loop point.

use super::control::CallTarget;
use super::{FuncTranslator, Slot};
use crate::env::{abi_type, ir_type};
use abi_spec::points::PointKind;
use cranelift_codegen::ir::{self, types, BlockArg, InstBuilder, MemFlagsData, TrapCode, Value};
use cranelift_frontend::Variable;
use wasmparser::ValType;

struct Point {
    vars: Vec<(Variable, ValType)>,
    kind: PointKind,
    /// Where the frame can be read and rebuilt: the poll, or the call.
    sites: Vec<Site>,
}

/// An instruction at which a frame of the point can be read, with the SSA value of each
/// of the point's variables there.
pub struct Site {
    /// The poll load or the call (its srcloc is the point id, which `describe` uses to
    /// find its offset in the code).
    pub inst: ir::Inst,
    pub values: Vec<Value>,
    /// A frame at this site cannot be rebuilt (`sites::analyze`).
    pub unrebuildable: bool,
    /// Still in the optimised code (`sites::analyze`): not removed as unreachable.
    pub reachable: bool,
}

/// A point as `describe` needs it, after translation.
pub struct PointSites {
    pub kind: PointKind,
    pub types: Vec<abi_spec::ValType>,
    /// Per value: a float local that may hold a raw arithmetic NaN (see `arith_locals`).
    pub arith: Vec<bool>,
    pub sites: Vec<Site>,
}

/// A call point's variables and their values in the block the call is made in
/// ([`FuncTranslator::call_block`]).
pub(super) struct CallVars {
    vars: Vec<(Variable, ValType)>,
    values: Vec<Value>,
}

/// The locals a loop's header takes as they are, with their values (`loop_vars`).
pub(super) type PassedThrough = Vec<(Variable, Value)>;

/// A loop's header takes locals as they are on entry (`loop_vars`) only where at
/// least this many would be. The compile time it saves is in functions with many such
/// locals (lz4's), and a few parameters cost little; but in a small hot loop the
/// allocator may do worse with a long-lived value than with the parameter (dp's
/// edit-distance loop moved a passed-through base through a second register and back
/// every iteration, 4.6% more instructions, with four as the threshold; zstd ran 5%
/// more with eight once every loop passed through, stop 48).
pub(super) const MIN_PASSED_THROUGH: usize = 16;

/// The trap code of a poll load: never a Wasm trap (`describe` takes these sites out of
/// the trap table), a fault the runtime answers by reading the frame.
pub const POLL_TRAP: TrapCode = TrapCode::unwrap_user(200);

#[derive(Default)]
pub struct Points {
    points: Vec<Point>,
}

impl Points {
    /// The points in id order, for `describe`.
    pub fn into_sites(self, arith: impl Fn(Variable) -> bool) -> Vec<PointSites> {
        self.points
            .into_iter()
            .map(|p| PointSites {
                kind: p.kind,
                types: p.vars.iter().map(|v| abi_type(v.1)).collect(),
                arith: p.vars.iter().map(|v| arith(v.0)).collect(),
                sites: p.sites,
            })
            .collect()
    }
}

impl<'a, 'b> FuncTranslator<'a, 'b> {
    pub(super) fn cold_block(&mut self) -> ir::Block {
        let b = self.b.create_block();
        self.b.set_cold_block(b);
        b
    }

    /// The locals live at the point keyed `key` (see `liveness`).
    pub(super) fn live_locals(&self, key: usize) -> Vec<(Variable, ValType)> {
        match self.liveness.live_at(key) {
            Some(live) => live.map(|i| self.locals[i]).collect(),
            None => self.locals.clone(),
        }
    }

    /// Variables of the operand-stack entries below `height` (all already spilled).
    fn stack_vars_below(&mut self, height: usize) -> Vec<(Variable, ValType)> {
        (0..height)
            .map(|i| match self.stack[i] {
                Slot::Var(v) => (v, self.stack_types[i]),
                Slot::Val(_) | Slot::Arith(_) => {
                    unreachable!("stack entries are spilled before a migration point")
                }
            })
            .collect()
    }

    /// Records `inst` as a place where point `k`'s frame can be read: tags it with the
    /// point id and takes the current value of each of the point's variables.
    fn add_site(&mut self, k: usize, inst: ir::Inst) {
        let vars = &self.points.points[k].vars;
        let values = vars.iter().map(|(var, _)| self.b.use_var(*var)).collect();
        self.site_with_values(k, inst, values);
    }

    /// [`Self::add_site`] with the variables' values there already known.
    fn site_with_values(&mut self, k: usize, inst: ir::Inst, values: Vec<Value>) {
        let site = self.points.points[k].sites.len();
        self.b
            .func
            .set_srcloc(inst, crate::describe::site_srcloc(k, site));
        // For `held_at_translation`.
        for &v in &values {
            self.site_values.insert(v);
        }
        self.points.points[k].sites.push(Site {
            inst,
            values,
            unrebuildable: false,
            reachable: false,
        });
    }

    /// The poll of point `k`: a load from a poll page (below linear memory in a
    /// function that keeps the memory base in a register, else below the vmctx) that
    /// faults when the runtime has made the page unreadable. Returns the word, which
    /// only an entry tests (see [`Self::entry_point`]).
    fn poll(&mut self, k: usize) -> Value {
        let (base, offset) = match self.memory_base {
            Some(base) => (base, abi_spec::MEMORY_POLL),
            None => (self.vmctx, abi_spec::VMCTX_POLL),
        };
        let offset = offset - 4 * (k as u32 % abi_spec::POLL_WORDS) as i32;
        let flags = MemFlagsData::new().with_trap_code(Some(POLL_TRAP));
        let word = self.b.ins().load(types::I32, flags, base, offset);
        let inst = self.b.func.dfg.value_def(word).unwrap_inst();
        self.add_site(k, inst);
        word
    }

    /// Function entry (point 0): poll, and branch to a cold path when the word is not
    /// zero, which it is only while the deterministic countdown
    /// (`WASMC_CHECKPOINT_AFTER`) runs or a restore. The cold path is a call of the
    /// runtime's `wasmc_countdown` and a jump back. While restoring, the runtime takes
    /// the call for the frame's entry: it rebuilds the frame from the checkpoint and
    /// continues at its point, and the call never returns. Else it counts the entry,
    /// and at zero arms the polls, so the program stops at its next poll. The call is
    /// preserve-all, so it needs no move or spill here, and it is no point: the program
    /// never stops inside it. So restoring costs no code per point, and one call per
    /// frame; one call, not one for each, also keeps the cold path small (a function's
    /// code with points was 0.8% smaller for boolector).
    pub(super) fn entry_point(&mut self, body: ir::Block, params: &[ValType]) {
        // Only the params: every other local is zero at entry.
        let mut vars = self.live_locals(super::liveness::ENTRY);
        vars.truncate(
            vars.iter()
                .take_while(|v| self.locals[..params.len()].iter().any(|p| p.0 == v.0))
                .count(),
        );
        let k = self.add_point(vars, PointKind::Entry);
        let word = self.poll(k);
        let cold = self.cold_block();
        self.b.ins().brif(word, cold, &[], body, &[]);
        self.switch_sealed(cold);
        let f = self.countdown_ref();
        self.b.ins().call(f, &[self.vmctx]);
        self.b.ins().jump(body, &[]);
    }

    /// The variables of a point at the current operator: the live locals, then the
    /// operand stack below `height` (spilled).
    pub(super) fn point_vars(&mut self, height: usize) -> Vec<(Variable, ValType)> {
        let mut vars = self.live_locals(self.cur_offset);
        vars.extend(self.stack_vars_below(height));
        vars
    }

    /// The variables of a loop header's point (`point_vars`), as the header takes them:
    /// the explicit parameters (see [`Self::var_params`]), and the locals it takes as
    /// they are on entry, with that value. A local the loop never accesses
    /// (`loop_locals`) keeps its value all through the loop, since nothing inside
    /// writes or renames it; if that value is one a point can always name
    /// ([`Self::held_at_translation`]), the header's point names it, and a parameter
    /// would only carry it round the loop. Every other variable is a parameter.
    ///
    /// Without the parameters nothing in the IR keeps the e-graph from relating such a
    /// value across the header's poll (a pure value computed from it before the loop
    /// and again after it would be one value, live across the poll, which the point
    /// does not name), so the header is a floor of the elaborator (`Translated::floors`,
    /// `cranelift_codegen::Floors`): it computes such a value again after the poll, as
    /// it did from the parameters.
    pub(super) fn loop_vars(&mut self, height: usize) -> (Vec<(Variable, ValType)>, PassedThrough) {
        let Some(span) = self.loop_locals.span(self.cur_offset) else {
            return (self.point_vars(height), vec![]);
        };
        let live: Vec<usize> = match self.liveness.live_at(self.cur_offset) {
            Some(live) => live.collect(),
            None => (0..self.locals.len()).collect(),
        };
        // A covered loop has no poll: no site at its header names what it takes.
        let polled = !self.covered.contains(&self.cur_offset);
        let (mut params, mut unchanged) = (vec![], vec![]);
        for i in live {
            let (var, ty) = self.locals[i];
            if !self.loop_locals.accessed(span, i as u32) {
                let v = self.b.use_var(var);
                if self.held_at_translation(v, polled) {
                    unchanged.push((var, v));
                    continue;
                }
            }
            params.push((var, ty));
        }
        if unchanged.len() < MIN_PASSED_THROUGH {
            return (self.point_vars(height), vec![]);
        }
        params.extend(self.stack_vars_below(height));
        (params, unchanged)
    }

    /// Whether `v` is a value a point can name wherever it is live, whatever the
    /// optimiser does (`phis::is_held`): a value a site of an earlier point names (each
    /// is, by induction: `describe`), a parameter of the function, a call's result or
    /// a constant; and, if `named_here` (the block being opened has a site, which will
    /// name `v`), any block parameter. Not a load (alias analysis may replace it with
    /// the value stored). A parameter the SSA builder made could become a pure value in
    /// the constant-phi pass before the e-graph, but not once a site names it: the
    /// sites' values are kept through that pass (`sites::optimize`). A loop without a
    /// poll (`covered`) has no site at its header, so nothing there keeps such a
    /// parameter (passed through one, bzip2 kept a loop header's parameter live and
    /// unnamed across a later poll).
    fn held_at_translation(&self, v: Value, named_here: bool) -> bool {
        let dfg = &self.b.func.dfg;
        let v = dfg.resolve_aliases(v);
        if self.site_values.contains(v) {
            return true;
        }
        match dfg.value_def(v) {
            ir::ValueDef::Param(block, _) => {
                named_here || Some(block) == self.b.func.layout.entry_block()
            }
            ir::ValueDef::Result(inst, _) => {
                let op = dfg.insts[inst].opcode();
                op.is_call()
                    || matches!(
                        op,
                        ir::Opcode::Iconst | ir::Opcode::F32const | ir::Opcode::F64const
                    )
            }
            _ => false,
        }
    }

    /// Makes each of `vars` an explicit parameter of `block`, defined there; the
    /// caller passes their current values ([`Self::var_args`]) on every branch to it.
    /// A point's block gets the point's variables as parameters (all but those a
    /// loop's header or a call's block takes as they are: [`Self::loop_vars`],
    /// [`Self::call_block`]) so that, after optimisation, what is live at its site is
    /// exactly the point's values (the parameters, which the optimiser keeps: see
    /// `sites::optimize`), plus values computed from the vmctx alone: the runtime can
    /// then write a frame back into the places it reads it from.
    pub(super) fn var_params(&mut self, block: ir::Block, vars: &[(Variable, ValType)]) {
        for (var, ty) in vars {
            let p = self.b.append_block_param(block, ir_type(*ty));
            self.b.def_var(*var, p);
        }
    }

    /// The current values of `vars`, as branch arguments.
    pub(super) fn var_args(&mut self, vars: &[(Variable, ValType)]) -> Vec<BlockArg> {
        vars.iter()
            .map(|(v, _)| BlockArg::Value(self.b.use_var(*v)))
            .collect()
    }

    /// Loop header: poll, the load alone. Nothing tests its word: a loop point only
    /// has to fault when the runtime wants the program to stop, and the countdown
    /// counts entries, so a loop pays one load an iteration and its header is not
    /// split by a branch (one instruction instead of three on x86_64, and no cold block
    /// or critical edge for the register allocator). The loop params are moved into
    /// stack variables first, so the frame record is locals, then the whole operand
    /// stack (params on top).
    ///
    /// Neither a poll nor a call point ends its block. A rebuilt frame resumes at the
    /// site with each value only in the places its description names, so no move after
    /// the site may count on a copy made before it; wasmc's register allocator forgets
    /// such copies at the site itself (`vendor/regalloc2/WASMC.md`: at a poll it keeps
    /// only copies a restore writes both places of, at a call none), so a block
    /// boundary adds nothing. (Until stop 36 each site ended its block for that,
    /// which only gave every pass more blocks to walk.)
    pub(super) fn loop_point(&mut self) {
        self.spill_stack_to_vars(0);
        let height = self.stack.len();
        let vars = self.point_vars(height);
        let k = self.add_point(vars, PointKind::Loop);
        self.poll(k);
    }

    /// Opens the block a call point's call is made in and returns the point's
    /// variables (live locals, the operand stack below the call's arguments). A
    /// variable whose value a point can always name ([`Self::held_at_translation`])
    /// keeps it; every other one is a parameter of the block. The block is then a
    /// floor of the elaborator (`Translated::floors`), as a header that takes locals as
    /// they are is: no pure value computed from a kept value before the call is reused
    /// after it, so what is live across the call is the point's own values, as the
    /// parameters made it.
    ///
    /// A parameter for every variable (until stop 45) redefined each one at each call,
    /// so every join after a call merged every variable again: wasi-libc's
    /// `printf_core` had 5,845 block parameters before optimisation (307 without points), most
    /// of them links of such chains that the constant-phi pass removed again after the
    /// e-graph had carried them.
    pub(super) fn call_block(&mut self) -> CallVars {
        let height = self.stack.len();
        let vars = self.point_vars(height);
        if vars.is_empty() {
            // Nothing to keep apart from older values: no block is needed.
            return CallVars {
                vars,
                values: vec![],
            };
        }
        let (mut params, mut args) = (vec![], vec![]);
        // Each variable's value in the block: kept, or (`None`) its parameter.
        let mut values = Vec::with_capacity(vars.len());
        for &(var, ty) in &vars {
            let v = self.b.use_var(var);
            if self.held_at_translation(v, true) {
                values.push(Some(v));
            } else {
                params.push((var, ty));
                args.push(BlockArg::Value(v));
                values.push(None);
            }
        }
        let block = self.b.create_block();
        self.b.ins().jump(block, &args);
        self.switch_sealed(block);
        self.var_params(block, &params);
        if params.len() < vars.len() {
            self.floors.push(block);
        }
        let mut defined = self.b.block_params(block).iter();
        let values = values
            .into_iter()
            .map(|v| {
                v.or_else(|| defined.next().copied())
                    .expect("a parameter for each variable not kept")
            })
            .collect();
        CallVars { vars, values }
    }

    /// After `call`, a call of a Wasm function made in a [`Self::call_block`] that
    /// returned `CallVars`: the frame is read at its return address when a callee stops.
    pub(super) fn call_point(
        &mut self,
        target: CallTarget,
        call: ir::Inst,
        CallVars { vars, values }: CallVars,
    ) {
        let kind = match target {
            CallTarget::Direct(f) => PointKind::CallDirect { callee: f },
            CallTarget::Indirect(t) => PointKind::CallIndirect {
                type_id: self.env.info.canonical_type[t as usize],
            },
        };
        let k = self.add_point(vars, kind);
        // The values the call block gave its variables, which nothing has changed since:
        // looking each up again was most of the SSA builder's work for calls.
        self.site_with_values(k, call, values);
    }

    fn add_point(&mut self, vars: Vec<(Variable, ValType)>, kind: PointKind) -> usize {
        self.points.points.push(Point {
            vars,
            kind,
            sites: vec![],
        });
        self.points.points.len() - 1
    }

    /// Whether `var` is a local that may hold a non-canonical arithmetic NaN.
    pub(super) fn holds_arith(&self, var: Variable) -> bool {
        self.locals
            .iter()
            .position(|(v, _)| *v == var)
            .is_some_and(|i| self.is_arith_local(i as u32))
    }
}
