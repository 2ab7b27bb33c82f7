//! Structured control flow, branches and calls.

use super::{trap_code, FuncTranslator, OpResult};
use crate::env::ir_type;
use abi_spec::Trap;
use cranelift_codegen::ir::{self, condcodes::IntCC, types, BlockArg, InstBuilder, Value};
use cranelift_frontend::Variable;
use wasmparser::{BlockType, Operator, ValType};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Function,
    Block,
    Loop,
    If,
    TryTable,
}

pub struct Frame {
    pub kind: FrameKind,
    /// Where `end` (and a branch to a non-loop label) continues; params = results.
    pub cont: ir::Block,
    /// Loop header (branch target of a loop label); params = loop params, then (in a
    /// function with points) `header_vars`.
    pub header: Option<ir::Block>,
    /// The variables a branch to the loop header passes after the loop params: the
    /// loop point's variables (see `FuncTranslator::var_params`).
    pub header_vars: Vec<(Variable, ValType)>,
    /// The else arm of an `if`, until `else` is seen.
    pub else_block: Option<ir::Block>,
    /// The values an `if` received, for an else arm (explicit or implicit).
    pub if_params: Vec<Value>,
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
    /// Operand stack height below the frame's params.
    pub base: usize,
    /// Whether anything reaches `cont`.
    pub cont_reachable: bool,
    /// A strip-mined loop's state (see `strip`).
    pub strip: Option<super::strip::Strip>,
    /// Without points, the locals live at a loop's header: what its latches carry
    /// (with points, `header_vars`; see `FuncTranslator::latch_vars`).
    pub latch_carry: Vec<(Variable, ValType)>,
}

impl Frame {
    pub fn function(exit: ir::Block, results: &[ValType]) -> Frame {
        Frame {
            kind: FrameKind::Function,
            cont: exit,
            header: None,
            header_vars: vec![],
            else_block: None,
            if_params: vec![],
            params: vec![],
            results: results.to_vec(),
            base: 0,
            cont_reachable: false,
            strip: None,
            latch_carry: vec![],
        }
    }

    /// Target block and arity of a branch to this frame's label.
    fn branch_target(&self) -> (ir::Block, usize) {
        match self.header {
            Some(h) => (h, self.params.len()),
            None => (self.cont, self.results.len()),
        }
    }
}

fn args(vals: &[Value]) -> Vec<BlockArg> {
    vals.iter().map(|v| BlockArg::Value(*v)).collect()
}

impl<'a, 'b> FuncTranslator<'a, 'b> {
    fn block_type(&self, bt: BlockType) -> (Vec<ValType>, Vec<ValType>) {
        match bt {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![t]),
            BlockType::FuncType(i) => {
                let ft = &self.env.info.types[i as usize];
                (ft.params().to_vec(), ft.results().to_vec())
            }
        }
    }

    fn block_with_params(&mut self, tys: &[ValType]) -> ir::Block {
        let b = self.b.create_block();
        for t in tys {
            self.b.append_block_param(b, ir_type(*t));
        }
        b
    }

    fn push_frame(&mut self, kind: FrameKind, bt: BlockType) -> Frame {
        let (params, results) = self.block_type(bt);
        // Everything below the frame's params must be nameable inside it.
        self.spill_stack_to_vars(params.len());
        let cont = self.block_with_params(&results);
        Frame {
            kind,
            cont,
            header: None,
            header_vars: vec![],
            else_block: None,
            if_params: vec![],
            base: self.stack.len() - params.len(),
            params,
            results,
            cont_reachable: false,
            strip: None,
            latch_carry: vec![],
        }
    }

    /// Handles control operators; returns false for anything else.
    pub(super) fn control_operator(&mut self, op: &Operator<'_>) -> Result<bool, super::OpError> {
        match op {
            Operator::Block { blockty } => {
                let f = self.push_frame(FrameKind::Block, *blockty);
                self.control.push(f);
            }
            Operator::TryTable { try_table } => {
                let f = self.push_frame(FrameKind::TryTable, try_table.ty);
                self.enter_try_table(&try_table.catches);
                self.control.push(f);
            }
            Operator::Throw { tag_index } => self.throw(*tag_index),
            Operator::ThrowRef => self.throw_ref(),
            Operator::Loop { blockty } => {
                let mut f = self.push_frame(FrameKind::Loop, *blockty);
                let points = self.env.has_points(self.func_index);
                let mut unchanged = vec![];
                if points {
                    // Besides the loop's own params: the live locals and the operand
                    // stack below the loop, but for those the loop takes as they are.
                    (f.header_vars, unchanged) = self.loop_vars(f.base);
                } else {
                    f.latch_carry = self.live_locals(self.cur_offset);
                }
                let header = self.block_with_params(&f.params);
                let mut vals = args(&self.popn(f.params.len()));
                vals.extend(self.var_args(&f.header_vars.clone()));
                self.b.ins().jump(header, &vals);
                self.b.switch_to_block(header);
                let hp = self.b.block_params(header).to_vec();
                for (v, t) in hp.iter().zip(f.params.clone()) {
                    self.push(*v, t);
                }
                self.var_params(header, &f.header_vars.clone());
                if !unchanged.is_empty() {
                    self.floors.push(header);
                }
                for (var, v) in unchanged {
                    self.b.def_var(var, v);
                }
                f.header = Some(header);
                self.control.push(f);
                if points && !self.covered.contains(&self.cur_offset) {
                    let at = self.cur_offset;
                    self.loop_point();
                    // Each loop is translated once: its entry is not needed again.
                    if let Some(l) = self.strips.remove(&at) {
                        let vars = self.control.last().map(|f| f.header_vars.clone());
                        let s = self.strip_begin(&l, &vars.unwrap_or_default());
                        if let Some(f) = self.control.last_mut() {
                            f.strip = Some(s);
                        }
                    }
                }
            }
            Operator::If { blockty } => {
                let cond = self.pop();
                let mut f = self.push_frame(FrameKind::If, *blockty);
                let then_block = self.b.create_block();
                let else_block = self.b.create_block();
                f.if_params = self.peekn(f.params.len());
                self.b.ins().brif(cond, then_block, &[], else_block, &[]);
                self.b.seal_block(else_block);
                self.switch_sealed(then_block);
                f.else_block = Some(else_block);
                self.control.push(f);
            }
            Operator::Else => {
                self.end_arm();
                let f = self.control.last_mut().unwrap();
                let else_block = f.else_block.take().expect("validated: else follows if");
                let params = f.if_params.clone();
                let tys = f.params.clone();
                let base = f.base;
                self.truncate_stack(base);
                self.b.switch_to_block(else_block);
                for (v, t) in params.into_iter().zip(tys) {
                    self.push(v, t);
                }
                // The else arm is reachable whenever its `if` was.
                self.reachable = true;
            }
            Operator::End => {
                self.end_arm();
                let mut f = self.control.pop().unwrap();
                // Every branch back to a loop's headers is inside the loop.
                if let Some(h) = f.header {
                    self.b.seal_block(h);
                }
                if let Some(s) = &f.strip {
                    self.b.seal_block(s.inner);
                }
                if let Some(else_block) = f.else_block.take() {
                    // An `if` without `else`: its params pass straight through.
                    self.b.switch_to_block(else_block);
                    self.b.ins().jump(f.cont, &args(&f.if_params));
                    f.cont_reachable = true;
                }
                self.truncate_stack(f.base);
                if f.kind == FrameKind::TryTable {
                    self.leave_try_table();
                }
                self.enter_cont(&f);
            }
            Operator::Br { relative_depth } => {
                self.branch(*relative_depth);
                self.reachable = false;
            }
            Operator::BrIf { relative_depth } => {
                let cond = self.pop();
                let latch = match self.control.last() {
                    Some(f) if *relative_depth == 0 => {
                        f.strip.filter(|s| s.counted.latch == self.cur_offset)
                    }
                    _ => None,
                };
                let (target, vals) = self.target(*relative_depth);
                if let Some(s) = latch {
                    // `cond` is the loop's own condition, which the latch evaluates
                    // again where it falls back (see `strip_latch`).
                    let vars = self.latch_vars(0).unwrap_or_default();
                    self.strip_latch(s, target, &vars);
                } else if let Some(vars) = self.latch_vars(*relative_depth) {
                    let next = self.b.create_block();
                    self.branch_carrying(cond, target, &vals, next, None, &vars);
                } else {
                    let next = self.b.create_block();
                    self.b.ins().brif(cond, target, &vals, next, &[]);
                    self.switch_sealed(next);
                }
            }
            Operator::BrTable { targets } => {
                let index = self.pop();
                let mut calls = vec![];
                let depths: Vec<u32> = targets
                    .targets()
                    .collect::<Result<_, _>>()
                    .map_err(|e| super::OpError::Unsupported(e.to_string()))?;
                let mut all = depths.clone();
                all.push(targets.default());
                for d in all {
                    let (target, vals) = self.target(d);
                    calls.push(self.b.func.dfg.block_call(target, &vals));
                }
                let default = calls.pop().unwrap();
                let jt = self
                    .b
                    .create_jump_table(ir::JumpTableData::new(default, &calls));
                self.b.ins().br_table(index, jt);
                self.reachable = false;
            }
            Operator::Return => {
                // A return of its own, not a jump to the shared one at the end: an early
                // exit (a recursion's base case) then costs no taken jump, as in
                // wasmtime's code.
                let vals = self.peekn(self.control[0].results.len());
                self.b.ins().return_(&vals);
                self.reachable = false;
            }
            Operator::Unreachable => {
                self.b.ins().trap(trap_code(Trap::Unreachable));
                self.reachable = false;
            }
            Operator::Call { function_index } => self.call(*function_index)?,
            Operator::CallIndirect {
                type_index,
                table_index,
            } => self.call_indirect(*type_index, *table_index)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Skips code after an unconditional branch until the matching `else` or `end`.
    pub(super) fn unreachable_operator(&mut self, op: &Operator<'_>) -> OpResult {
        match op {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. } => {
                self.unreachable_depth += 1;
            }
            Operator::End if self.unreachable_depth > 0 => self.unreachable_depth -= 1,
            // The `else` or `end` of the frame the dead code is in: the same as in live
            // code (falling through from dead code adds no edge).
            Operator::Else | Operator::End if self.unreachable_depth == 0 => {
                self.control_operator(op)?;
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn truncate_stack(&mut self, height: usize) {
        self.stack.truncate(height);
        self.stack_types.truncate(height);
    }

    /// Falls through the end of the current arm into the frame's continuation.
    fn end_arm(&mut self) {
        if !self.reachable {
            return;
        }
        let f = self.control.last().unwrap();
        let (cont, n) = (f.cont, f.results.len());
        let vals = self.popn(n);
        self.b.ins().jump(cont, &args(&vals));
        self.control.last_mut().unwrap().cont_reachable = true;
    }

    fn enter_cont(&mut self, f: &Frame) {
        let reached = f.cont_reachable;
        if f.kind == FrameKind::Function {
            // Nothing follows the function's end; `finish` emits the exit block.
            self.reachable = false;
            return;
        }
        // Every branch to a block's label is inside the block.
        self.switch_sealed(f.cont);
        let params = self.b.block_params(f.cont).to_vec();
        for (v, t) in params.into_iter().zip(f.results.clone()) {
            self.push(v, t);
        }
        self.reachable = reached;
        if !reached {
            // Nothing jumps here; keep the block well-formed and skip what follows.
            self.b.ins().trap(trap_code(Trap::Unreachable));
        }
    }

    /// The block a branch to label `relative_depth` goes to, and its arguments.
    pub(super) fn target(&mut self, relative_depth: u32) -> (ir::Block, Vec<BlockArg>) {
        let i = self.control.len() - 1 - relative_depth as usize;
        let f = &mut self.control[i];
        if f.header.is_none() {
            f.cont_reachable = true;
        }
        let (target, arity) = f.branch_target();
        let vars = if f.header.is_some() {
            f.header_vars.clone()
        } else {
            vec![]
        };
        let mut vals = args(&self.peekn(arity));
        vals.extend(self.var_args(&vars));
        (target, vals)
    }

    /// The variables a latch carries (`branch_carrying`) when it branches back to the
    /// loop header of `relative_depth`: with points the header's explicit params,
    /// without them the locals live at the header. Only those live at the header
    /// count: carrying a value the loop no longer needs would keep it live to the latch
    /// (tried with every local a loop writes: lz4 ran 22% more instructions).
    pub(super) fn latch_vars(&self, relative_depth: u32) -> Option<Vec<(Variable, ValType)>> {
        let i = self
            .control
            .len()
            .checked_sub(1 + relative_depth as usize)?;
        let f = &self.control[i];
        f.header?;
        let vars = if f.header_vars.is_empty() {
            &f.latch_carry
        } else {
            &f.header_vars
        };
        (!vars.is_empty()).then(|| vars.clone())
    }

    fn branch(&mut self, relative_depth: u32) {
        let (target, vals) = self.target(relative_depth);
        self.b.ins().jump(target, &vals);
    }

    // ---- calls -----------------------------------------------------------------------

    fn call(&mut self, function_index: u32) -> OpResult {
        let ft = self.env.info.func_type(function_index).clone();
        let n = ft.params().len();
        // A call is a point if the callee can unwind: if it has points itself.
        let point = self.env.has_points(function_index);
        if point {
            self.spill_stack_to_vars(n);
        }
        let callee = self.func_ref(function_index);
        let args = self.popn(n);
        let vars = point.then(|| self.call_block());
        let mut argv = vec![self.vmctx];
        if self.env.symbols.hosts[function_index as usize].is_none() {
            argv.push(self.depth);
        }
        argv.extend(args);
        // Host functions never throw; a Wasm function may.
        let (inst, results) =
            if self.in_try() && function_index >= self.env.info.num_imported_funcs() {
                let sig = self.b.func.dfg.ext_funcs[callee].signature;
                self.try_call(sig, |b, table| b.ins().try_call(callee, &argv, table))
            } else {
                let inst = self.b.ins().call(callee, &argv);
                (inst, self.b.inst_results(inst).to_vec())
            };
        if let Some(vars) = vars {
            self.call_point(CallTarget::Direct(function_index), inst, vars);
        }
        self.push_results(&results, ft.results());
        Ok(())
    }

    fn push_results(&mut self, vals: &[Value], tys: &[ValType]) {
        for (v, t) in vals.iter().zip(tys) {
            self.push(*v, *t);
        }
    }

    /// Loads the funcref at `index` of `table` with a bounds check.
    pub(super) fn table_elem_addr(&mut self, table: u32, index: Value) -> Value {
        let off = abi_spec::table_offset(self.env.info.globals.len() as u32, table) as i32;
        let len = self.b.ins().load(
            types::I64,
            super::vm_flags(),
            self.vmctx,
            off + abi_spec::TABLE_LEN,
        );
        let idx = self.b.ins().uextend(types::I64, index);
        let oob = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, idx, len);
        self.b.ins().trapnz(oob, trap_code(Trap::TableOutOfBounds));
        let base = self.b.ins().load(
            types::I64,
            super::vm_flags(),
            self.vmctx,
            off + abi_spec::TABLE_BASE,
        );
        let scaled = self.b.ins().ishl_imm_u(idx, 3);
        self.b.ins().iadd(base, scaled)
    }

    /// Checks a funcref for null and for `type_index`, and returns its code address.
    pub(super) fn checked_code(&mut self, funcref: Value, type_index: u32) -> Value {
        self.b
            .ins()
            .trapz(funcref, trap_code(Trap::IndirectCallToNull));
        let ty = self.b.ins().load(
            types::I32,
            super::vm_flags().with_readonly(),
            funcref,
            abi_spec::FUNC_RECORD_TYPE_ID,
        );
        let want = self.env.info.canonical_type[type_index as usize] as i64;
        let bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, ty, want);
        self.b
            .ins()
            .trapnz(bad, trap_code(Trap::IndirectCallTypeMismatch));
        self.b.ins().load(
            types::I64,
            super::vm_flags().with_readonly(),
            funcref,
            abi_spec::FUNC_RECORD_CODE,
        )
    }

    fn call_indirect(&mut self, type_index: u32, table_index: u32) -> OpResult {
        let ft = self.env.info.types[type_index as usize].clone();
        let n = ft.params().len();
        if self.env.has_points(self.func_index) {
            self.spill_stack_to_vars(n + 1);
        }
        let index = self.pop();
        let args = self.popn(n);
        let addr = self.table_elem_addr(table_index, index);
        let funcref = self.b.ins().load(types::I64, super::vm_flags(), addr, 0);
        let code = self.checked_code(funcref, type_index);
        let point = self.env.has_points(self.func_index);
        let vars = point.then(|| self.call_block());
        let sig = self.sig_ref(type_index);
        let mut argv = vec![self.vmctx, self.depth];
        argv.extend(args);
        let (inst, results) = if self.in_try() {
            self.try_call(sig, |b, table| {
                b.ins().try_call_indirect(code, &argv, table)
            })
        } else {
            let inst = self.b.ins().call_indirect(sig, code, &argv);
            (inst, self.b.inst_results(inst).to_vec())
        };
        if let Some(vars) = vars {
            self.call_point(CallTarget::Indirect(type_index), inst, vars);
        }
        self.push_results(&results, ft.results());
        Ok(())
    }
}

/// What a call point calls, which says what frame a checkpoint may have above it.
#[derive(Clone, Copy)]
pub enum CallTarget {
    Direct(u32),
    Indirect(u32),
}
