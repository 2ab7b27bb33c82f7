//! Migration points: the out-of-line code that saves a frame into the canonical
//! record, and the restore paths that rebuild it and jump straight to the point.
//!
//! Point 0 is the function entry, then points are numbered in code order: each loop
//! header (a poll point, so a running loop stops within one iteration) and each call of
//! a Wasm function (the resume point of every frame below the top). The idle cost of a
//! point is one load of `mig_state` and one branch that is predicted not taken; all
//! else is in cold blocks.
//!
//! A frame record holds, in order: every local, then every operand-stack value below
//! the point (stack variables, by depth), then the loop's params for a loop point.

use super::control::CallTarget;
use super::{vm_flags, FuncTranslator, Slot};
use crate::env::{abi_type, ir_type, Libcall};
use abi_spec::mig_state;
use abi_spec::points::{PointDesc, PointKind};
use cranelift_codegen::ir::{self, condcodes::IntCC, types, BlockArg, InstBuilder, Value};
use cranelift_frontend::Variable;
use wasmparser::{FuncType, ValType};

enum Resume {
    /// Entry point: reload the params, go on with the body.
    Entry { body: ir::Block },
    /// Loop point: reload, jump to the header (whose params are the top `nparams`
    /// values of the record).
    Loop { header: ir::Block, nparams: usize },
    /// Call the callee again (it restores its own frame), then go on at `cont`.
    Call {
        target: CallTarget,
        ty: FuncType,
        cont: ir::Block,
        save: ir::Block,
    },
}

struct Point {
    vars: Vec<(Variable, ValType)>,
    resume: Resume,
}

#[derive(Default)]
pub struct Points {
    points: Vec<Point>,
}

impl Points {
    pub fn max_values(&self) -> usize {
        self.points.iter().map(|p| p.vars.len()).max().unwrap_or(0)
    }

    /// The points in id order, as the function's [`abi_spec::points`] table describes
    /// them.
    pub fn into_table(self, info: &crate::module_info::ModuleInfo) -> Vec<u8> {
        let types: Vec<Vec<abi_spec::ValType>> = self
            .points
            .iter()
            .map(|p| p.vars.iter().map(|v| abi_type(v.1)).collect())
            .collect();
        let descs: Vec<PointDesc> = self
            .points
            .iter()
            .zip(&types)
            .map(|(p, types)| PointDesc {
                kind: match &p.resume {
                    Resume::Entry { .. } => PointKind::Entry,
                    Resume::Loop { .. } => PointKind::Loop,
                    Resume::Call {
                        target: CallTarget::Direct(f),
                        ..
                    } => PointKind::CallDirect { callee: *f },
                    Resume::Call {
                        target: CallTarget::Indirect(t),
                        ..
                    } => PointKind::CallIndirect {
                        type_id: info.canonical_type[*t as usize],
                    },
                },
                types,
            })
            .collect();
        abi_spec::points::encode(&descs)
    }
}

impl<'a, 'b> FuncTranslator<'a, 'b> {
    fn mig_state(&mut self) -> Value {
        self.b.ins().load(
            types::I32,
            vm_flags(),
            self.vmctx,
            abi_spec::VMCTX_MIG_STATE,
        )
    }

    /// The hot half of every point: `mig_state != IDLE` branches to a new cold block,
    /// which becomes current, else to `hot`. Returns the state, loaded again in the cold
    /// block, so that the hot load has a single use and nothing from the hot check stays
    /// live into the cold path.
    ///
    /// `in_loop`: in a function that accesses memory, read the copy of the state below
    /// linear memory (`abi_spec::MIG_STATE_MIRROR`): a hot loop keeps the memory base in
    /// a register anyway, so the poll does not also need the vmctx there.
    fn poll(&mut self, hot: ir::Block, args: &[BlockArg], in_loop: bool) -> Value {
        let state = match self.memory_base {
            Some(base) if in_loop => {
                self.b
                    .ins()
                    .load(types::I32, vm_flags(), base, abi_spec::MIG_STATE_MIRROR)
            }
            _ => self.mig_state(),
        };
        let active = self.b.ins().icmp_imm_s(IntCC::NotEqual, state, 0);
        let cold = self.cold_block();
        self.b.ins().brif(active, cold, &[], hot, args);
        self.b.switch_to_block(cold);
        self.mig_state()
    }

    fn cold_block(&mut self) -> ir::Block {
        let b = self.b.create_block();
        self.b.set_cold_block(b);
        b
    }

    /// The locals live at the point keyed `key` (see `liveness`).
    fn live_locals(&self, key: usize) -> Vec<(Variable, ValType)> {
        (0..self.locals.len())
            .filter(|i| self.liveness.is_live(key, *i as u32))
            .map(|i| self.locals[i])
            .collect()
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

    /// The cold half of a poll (entry or loop point; `mig_state != 0`). Nothing in it
    /// calls the runtime unless the program stops here, so no Wasm value is live across a
    /// call and the hot path keeps its registers. In COUNTING state the countdown is
    /// decremented inline and the point goes on while it is not zero.
    fn poll_cold(&mut self, k: usize, state: Value, go_on: ir::Block, restore: Option<ir::Block>) {
        let counting = self.cold_block();
        let other = self.cold_block();
        let stop = self.cold_block();
        let is_counting = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, state, mig_state::COUNTING as i64);
        self.b.ins().brif(is_counting, counting, &[], other, &[]);
        self.b.switch_to_block(counting);
        let left = self.b.ins().load(
            types::I64,
            vm_flags(),
            self.vmctx,
            abi_spec::VMCTX_COUNTDOWN,
        );
        let left = self.b.ins().iadd_imm_s(left, -1);
        self.b
            .ins()
            .store(vm_flags(), left, self.vmctx, abi_spec::VMCTX_COUNTDOWN);
        let rejoin = self.rejoin_block(go_on, &[]);
        self.b.ins().brif(left, rejoin, &[], stop, &[]);
        self.b.switch_to_block(other);
        match restore {
            Some(dispatch) => {
                let is_restoring =
                    self.b
                        .ins()
                        .icmp_imm_s(IntCC::Equal, state, mig_state::RESTORING as i64);
                self.b.ins().brif(is_restoring, dispatch, &[], stop, &[]);
            }
            None => {
                self.b.ins().jump(stop, &[]);
            }
        }
        self.emit_save(stop, k);
    }

    /// Function entry (point 0): poll; RESTORING dispatches to the frame's point.
    pub(super) fn entry_point(&mut self, body: ir::Block, params: &[ValType]) {
        // Only the params: every other local is zero at entry.
        let mut vars = self.live_locals(super::liveness::ENTRY);
        vars.truncate(
            vars.iter()
                .take_while(|v| self.locals[..params.len()].iter().any(|p| p.0 == v.0))
                .count(),
        );
        let k = self.add_point(vars, Resume::Entry { body });
        let state = self.poll(body, &[], false);
        let dispatch = self.cold_block();
        self.restore_dispatch = Some(dispatch);
        self.poll_cold(k, state, body, Some(dispatch));
    }

    /// Loop header: poll. The loop params are moved into stack variables first, so
    /// the frame record is locals, then the whole operand stack (params on top).
    pub(super) fn loop_point(&mut self, header: ir::Block) {
        self.spill_stack_to_vars(0);
        let nparams = self.control.last().unwrap().params.len();
        let mut vars = self.live_locals(self.cur_offset);
        let height = self.stack.len();
        vars.extend(self.stack_vars_below(height));
        let k = self.add_point(vars, Resume::Loop { header, nparams });
        let body = self.b.create_block();
        let state = self.poll(body, &[], true);
        self.poll_cold(k, state, body, None);
        self.b.switch_to_block(body);
    }

    /// After a call of a Wasm function: if the callee is unwinding, save this frame too.
    /// Returns the call's results as seen after the point.
    pub(super) fn call_point(
        &mut self,
        target: CallTarget,
        ty: &FuncType,
        results: Vec<Value>,
    ) -> Vec<Value> {
        // The args are popped already; everything left is below the call.
        let mut vars = self.live_locals(self.cur_offset);
        let height = self.stack.len();
        vars.extend(self.stack_vars_below(height));
        let cont = self.b.create_block();
        for t in ty.results() {
            self.b.append_block_param(cont, ir_type(*t));
        }
        let save = self.cold_block();
        let k = self.add_point(
            vars,
            Resume::Call {
                target,
                ty: ty.clone(),
                cont,
                save,
            },
        );
        self.check_unwinding(&results, cont, save);
        self.emit_save(save, k);
        self.b.switch_to_block(cont);
        self.b.block_params(cont).to_vec()
    }

    fn check_unwinding(&mut self, results: &[Value], cont: ir::Block, save: ir::Block) {
        let args: Vec<BlockArg> = results.iter().map(|v| BlockArg::Value(*v)).collect();
        let state = self.poll(cont, &args, false);
        let unwinding = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, state, mig_state::UNWINDING as i64);
        let rejoin = self.rejoin_block(cont, &args);
        self.b.ins().brif(unwinding, save, &[], rejoin, &[]);
    }

    /// A cold block that only jumps back to hot `target`. Branching to it instead of
    /// straight to `target` keeps the moves the register allocator puts on that edge
    /// in cold code: a conditional branch from a cold block into a block with two
    /// predecessors is a critical edge, and Cranelift lays out the block that splits
    /// it among the hot blocks, costing the hot path a jump.
    fn rejoin_block(&mut self, target: ir::Block, args: &[BlockArg]) -> ir::Block {
        let here = self.b.current_block().expect("called with a current block");
        let rejoin = self.cold_block();
        self.b.switch_to_block(rejoin);
        self.b.ins().jump(target, args);
        self.b.switch_to_block(here);
        rejoin
    }

    fn add_point(&mut self, vars: Vec<(Variable, ValType)>, resume: Resume) -> usize {
        self.points.points.push(Point { vars, resume });
        self.points.points.len() - 1
    }

    /// Address of the vmctx scratch slots (one 8-byte slot per saved value).
    fn scratch(&mut self) -> Value {
        self.b.ins().load(
            types::I64,
            vm_flags(),
            self.vmctx,
            abi_spec::VMCTX_MIG_SCRATCH,
        )
    }

    /// Stores point `k`'s values in the vmctx scratch slots. Every use of a Wasm value
    /// on a cold path comes before the runtime call, so no value is live across it.
    fn store_scratch(&mut self, k: usize) {
        let vars = self.points.points[k].vars.clone();
        let scratch = self.scratch();
        for (i, (var, _)) in vars.iter().enumerate() {
            let mut v = self.b.use_var(*var);
            if self.holds_arith(*var) {
                // The frame record holds canonical bits, the same on every ISA.
                v = self.canonical_nan_select(v);
            }
            self.b.ins().store(vm_flags(), v, scratch, (i * 8) as i32);
        }
    }

    /// Whether `var` is a local that may hold a non-canonical arithmetic NaN.
    fn holds_arith(&self, var: Variable) -> bool {
        self.locals
            .iter()
            .position(|(v, _)| *v == var)
            .is_some_and(|i| self.is_arith_local(i as u32))
    }

    /// Defines point `k`'s variables from the scratch slots, where the runtime put the
    /// frame's values for its restore path.
    fn reload_scratch(&mut self, k: usize) -> Vec<Value> {
        let vars = self.points.points[k].vars.clone();
        let mut loaded = vec![];
        let scratch = self.scratch();
        for (i, (var, ty)) in vars.iter().enumerate() {
            let v = self
                .b
                .ins()
                .load(ir_type(*ty), vm_flags(), scratch, (i * 8) as i32);
            self.b.def_var(*var, v);
            loaded.push(v);
        }
        loaded
    }

    /// `func, point` arguments of the runtime's save call.
    fn point_args(&mut self, k: usize) -> [Value; 2] {
        let func = self.b.ins().iconst(types::I32, self.func_index as i64);
        let point = self.b.ins().iconst(types::I32, k as i64);
        [func, point]
    }

    /// Fills `save`: store the values, have the runtime record the frame, return.
    fn emit_save(&mut self, save: ir::Block, k: usize) {
        self.b.switch_to_block(save);
        self.store_scratch(k);
        let args = self.point_args(k);
        self.call_libcall(Libcall::MigSaveFrame, &args);
        self.return_dummies();
    }

    /// Leaves the function while unwinding; the results are never looked at.
    fn return_dummies(&mut self) {
        let tys: Vec<ir::Type> = self
            .b
            .func
            .dfg
            .block_params(self.exit)
            .iter()
            .map(|v| self.b.func.dfg.value_type(*v))
            .collect();
        let vals: Vec<BlockArg> = tys
            .into_iter()
            .map(|t| BlockArg::Value(self.zero_of(t)))
            .collect();
        let exit = self.exit;
        self.b.ins().jump(exit, &vals);
    }

    /// Emits the restore dispatch and one restore block per point. Called once the whole
    /// body is translated and every point is known.
    pub(super) fn emit_restore_paths(&mut self) {
        let Some(dispatch) = self.restore_dispatch else {
            return;
        };
        self.b.switch_to_block(dispatch);
        // The runtime copies the frame's values into the scratch slots.
        let func = self.b.ins().iconst(types::I32, self.func_index as i64);
        let point = self
            .call_libcall(Libcall::MigRestoreFrame, &[func])
            .unwrap();
        let n = self.points.points.len();
        let blocks: Vec<ir::Block> = (0..n).map(|_| self.cold_block()).collect();
        // The runtime validated the point id against this function's points.
        let calls_all: Vec<ir::BlockCall> = blocks
            .iter()
            .map(|b| self.b.func.dfg.block_call(*b, &[]))
            .collect();
        let default = calls_all[0];
        let jt = self
            .b
            .create_jump_table(ir::JumpTableData::new(default, &calls_all));
        self.b.ins().br_table(point, jt);
        for (k, block) in blocks.into_iter().enumerate() {
            self.emit_restore(k, block);
        }
    }

    /// The restore path of point `k`: reload its values and go on at the point.
    fn emit_restore(&mut self, k: usize, block: ir::Block) {
        self.b.switch_to_block(block);
        let loaded = self.reload_scratch(k);
        match &self.points.points[k].resume {
            Resume::Entry { body } => {
                let body = *body;
                self.b.ins().jump(body, &[]);
            }
            Resume::Loop { header, nparams } => {
                let (header, n) = (*header, *nparams);
                let params: Vec<BlockArg> = loaded[loaded.len() - n..]
                    .iter()
                    .map(|v| BlockArg::Value(*v))
                    .collect();
                self.b.ins().jump(header, &params);
            }
            Resume::Call {
                target,
                ty,
                cont,
                save,
            } => {
                let (target, ty, cont, save) = (*target, ty.clone(), *cont, *save);
                // Dummy arguments: the callee restores its own frame from its record.
                let mut argv = vec![self.vmctx];
                for p in ty.params() {
                    argv.push(self.zero(*p));
                }
                let inst = match target {
                    CallTarget::Direct(f) => {
                        let callee = self.func_ref(f);
                        self.b.ins().call(callee, &argv)
                    }
                    CallTarget::Indirect(type_index) => {
                        let funcref = self.call_libcall(Libcall::MigRestoreCallee, &[]).unwrap();
                        let code = self.checked_code(funcref, type_index);
                        let sig = self.sig_ref(type_index);
                        self.b.ins().call_indirect(sig, code, &argv)
                    }
                };
                let results = self.b.inst_results(inst).to_vec();
                self.check_unwinding(&results, cont, save);
            }
        }
    }
}
