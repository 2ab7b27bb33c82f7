//! Migration points: polls, the description of each point's frame, and the restore
//! paths that rebuild a frame and jump straight to its point.
//!
//! Point 0 is the function entry, then points are numbered in code order: each loop
//! header (a poll point, so a running loop stops within one iteration) and each call of
//! a Wasm function (the resume point of every frame below the top).
//!
//! Nothing is generated to *save* a frame. A poll loads a word from a poll page, which
//! the runtime makes unreadable to stop the program; the fault hands it every register,
//! and the point's description (`describe`: where each value lives at the poll's pc,
//! from Cranelift's value labels) tells it where each Wasm value is. Frames below are
//! read the same way at their call's return address, after unwinding the callee. So a
//! loop poll costs a load and a predicted branch, and a call point nothing on the hot
//! path. The word is non-zero only while the deterministic countdown runs (or a restore:
//! entries then take their restore path), and the cold path counts down inline.
//!
//! A frame record holds, in order: every local, then every operand-stack value below
//! the point (stack variables, by depth), then the loop's params for a loop point.

use super::control::CallTarget;
use super::{vm_flags, FuncTranslator, Slot};
use crate::env::{abi_type, ir_type, Libcall};
use abi_spec::points::PointKind;
use cranelift_codegen::ir::{
    self, types, BlockArg, InstBuilder, MemFlagsData, TrapCode, Value, ValueLabel,
    ValueLabelAssignments, ValueLabelStart,
};
use cranelift_frontend::Variable;
use wasmparser::{FuncType, ValType};

enum Resume {
    /// Entry point: reload the params, go on with the body.
    Entry { body: ir::Block },
    /// Loop point: reload, jump to the header (whose params are the top `nparams`
    /// values of the record).
    Loop { header: ir::Block, nparams: usize },
    /// Call the callee again (it restores its own frame): jump to the block the call
    /// is made in, whose params are the call's arguments (the callee's code address
    /// first, for `call_indirect`).
    Call {
        target: CallTarget,
        ty: FuncType,
        block: ir::Block,
    },
}

struct Point {
    vars: Vec<(Variable, ValType)>,
    resume: Resume,
    /// Where the frame can be read: the poll, or the call.
    sites: Vec<Site>,
}

/// An instruction at which a frame of the point can be read, with the SSA value of each
/// of the point's variables there.
pub struct Site {
    /// The poll load or the call (its srcloc is the point id, which `describe` uses to
    /// find its offset in the code).
    pub inst: ir::Inst,
    pub values: Vec<Value>,
}

/// A point as `describe` needs it, after translation.
pub struct PointSites {
    pub kind: PointKind,
    pub types: Vec<abi_spec::ValType>,
    /// Per value: a float local that may hold a raw arithmetic NaN (see `arith_locals`).
    pub arith: Vec<bool>,
    pub sites: Vec<Site>,
}

/// The trap code of a poll load: never a Wasm trap (`describe` takes these sites out of
/// the trap table), a fault the runtime answers by reading the frame.
pub const POLL_TRAP: TrapCode = TrapCode::unwrap_user(200);

/// The trap code of the countdown's load from address 0, which faults when the
/// countdown reaches zero: the runtime then arms the polls and steps over it.
pub const COUNT_TRAP: TrapCode = TrapCode::unwrap_user(201);

#[derive(Default)]
pub struct Points {
    points: Vec<Point>,
}

impl Points {
    pub fn max_values(&self) -> usize {
        self.points.iter().map(|p| p.vars.len()).max().unwrap_or(0)
    }

    /// The points in id order, for `describe`.
    pub fn into_sites(
        self,
        info: &crate::module_info::ModuleInfo,
        arith: impl Fn(Variable) -> bool,
    ) -> Vec<PointSites> {
        self.points
            .into_iter()
            .map(|p| PointSites {
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
                types: p.vars.iter().map(|v| abi_type(v.1)).collect(),
                arith: p.vars.iter().map(|v| arith(v.0)).collect(),
                sites: p.sites,
            })
            .collect()
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

    /// Records `inst` as a place where point `k`'s frame can be read: tags it with the
    /// point id and takes the current value of each of the point's variables.
    fn add_site(&mut self, k: usize, inst: ir::Inst) {
        let site = self.points.points[k].sites.len();
        self.b
            .func
            .set_srcloc(inst, crate::describe::site_srcloc(k, site));
        let vars = self.points.points[k].vars.clone();
        let values = vars.iter().map(|(v, _)| self.b.use_var(*v)).collect();
        self.points.points[k].sites.push(Site { inst, values });
    }

    /// The poll of point `k`: a load from a poll page (below linear memory in a
    /// function that keeps the memory base in a register, else below the vmctx) that
    /// faults when the runtime has made the page unreadable, and a branch to a new cold
    /// block, left current, when the word is not zero; else on to `cont`.
    fn poll(&mut self, k: usize, cont: ir::Block) {
        let (base, offset) = match self.memory_base {
            Some(base) => (base, abi_spec::MEMORY_POLL),
            None => (self.vmctx, abi_spec::VMCTX_POLL),
        };
        let offset = offset - 4 * (k as u32 % abi_spec::POLL_WORDS) as i32;
        let flags = MemFlagsData::new().with_trap_code(Some(POLL_TRAP));
        let word = self.b.ins().load(types::I32, flags, base, offset);
        let inst = self.b.func.dfg.value_def(word).unwrap_inst();
        self.add_site(k, inst);
        let cold = self.cold_block();
        self.b.ins().brif(word, cold, &[], cont, &[]);
        self.b.switch_to_block(cold);
    }

    /// The deterministic countdown (`WASMC_CHECKPOINT_AFTER`), cold: decrement
    /// `VmCtx::countdown`; when it reaches zero, load from address 0. The runtime takes
    /// that fault, arms the polls and steps over the load, so the program stops at its
    /// next poll. Nothing here calls out, so no value is live across a call, and the
    /// load disturbs no register that holds one.
    fn countdown(&mut self, k: usize, cont: ir::Block) {
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
        let rejoin = self.rejoin_block(cont);
        let zero = self.cold_block();
        self.b.ins().brif(left, rejoin, &[], zero, &[]);
        self.b.switch_to_block(zero);
        let null = self.b.ins().iconst(types::I64, 0);
        let flags = MemFlagsData::new().with_trap_code(Some(COUNT_TRAP));
        let v = self.b.ins().load(types::I32, flags, null, 0);
        let inst = self.b.func.dfg.value_def(v).unwrap_inst();
        self.b
            .func
            .set_srcloc(inst, crate::describe::site_srcloc(k, 1));
        self.b.ins().jump(rejoin, &[]);
    }

    /// A cold block that only jumps back to hot `target`. Branching to it instead of
    /// straight to `target` keeps the moves the register allocator puts on that edge
    /// in cold code: a conditional branch from a cold block into a block with two
    /// predecessors is a critical edge, and Cranelift lays out the block that splits
    /// it among the hot blocks, costing the hot path a jump.
    fn rejoin_block(&mut self, target: ir::Block) -> ir::Block {
        let here = self.b.current_block().expect("called with a current block");
        let rejoin = self.cold_block();
        self.b.switch_to_block(rejoin);
        self.b.ins().jump(target, &[]);
        self.b.switch_to_block(here);
        rejoin
    }

    /// Function entry (point 0): poll, then RESTORING dispatches to the frame's point.
    pub(super) fn entry_point(&mut self, body: ir::Block, params: &[ValType]) {
        // Only the params: every other local is zero at entry.
        let mut vars = self.live_locals(super::liveness::ENTRY);
        vars.truncate(
            vars.iter()
                .take_while(|v| self.locals[..params.len()].iter().any(|p| p.0 == v.0))
                .count(),
        );
        let k = self.add_point(vars, Resume::Entry { body });
        self.poll(k, body);
        let state = self.mig_state();
        let dispatch = self.cold_block();
        let counting = self.cold_block();
        self.restore_dispatch = Some(dispatch);
        self.b.ins().brif(state, dispatch, &[], counting, &[]);
        self.b.switch_to_block(counting);
        self.countdown(k, body);
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
        self.poll(k, body);
        self.countdown(k, body);
        self.b.switch_to_block(body);
    }

    /// Opens the block a call point's call is made in, with `args` (the call's
    /// arguments, and for `call_indirect` the callee's code address first) as its
    /// params, and returns it with them. The restore path jumps here too, so a frame is
    /// always read at the one return address this call has, rebuilt or not.
    pub(super) fn call_block(&mut self, args: &[Value]) -> (ir::Block, Vec<Value>) {
        let block = self.b.create_block();
        for a in args {
            let ty = self.b.func.dfg.value_type(*a);
            self.b.append_block_param(block, ty);
        }
        let bargs: Vec<BlockArg> = args.iter().map(|v| BlockArg::Value(*v)).collect();
        self.b.ins().jump(block, &bargs);
        self.b.switch_to_block(block);
        (block, self.b.block_params(block).to_vec())
    }

    /// After `call`, a call of a Wasm function made in `block` (`call_block`): the
    /// frame is read at its return address when a callee stops.
    pub(super) fn call_point(
        &mut self,
        target: CallTarget,
        ty: &FuncType,
        call: ir::Inst,
        block: ir::Block,
    ) {
        // The args are popped already; everything left is below the call.
        let mut vars = self.live_locals(self.cur_offset);
        let height = self.stack.len();
        vars.extend(self.stack_vars_below(height));
        let k = self.add_point(
            vars,
            Resume::Call {
                target,
                ty: ty.clone(),
                block,
            },
        );
        self.add_site(k, call);
    }

    fn add_point(&mut self, vars: Vec<(Variable, ValType)>, resume: Resume) -> usize {
        self.points.points.push(Point {
            vars,
            resume,
            sites: vec![],
        });
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

    /// Whether `var` is a local that may hold a non-canonical arithmetic NaN.
    pub(super) fn holds_arith(&self, var: Variable) -> bool {
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
            Resume::Call { target, ty, block } => {
                let (target, ty, block) = (*target, ty.clone(), *block);
                // Dummy arguments: the callee restores its own frame from its record.
                let mut args: Vec<BlockArg> = ty
                    .params()
                    .iter()
                    .map(|p| BlockArg::Value(self.zero(*p)))
                    .collect();
                if let CallTarget::Indirect(type_index) = target {
                    let funcref = self.call_libcall(Libcall::MigRestoreCallee, &[]).unwrap();
                    let code = self.checked_code(funcref, type_index);
                    args.insert(0, BlockArg::Value(code));
                }
                self.b.ins().jump(block, &args);
            }
        }
    }
}

/// Gives every value a frame is read from a value label (its own number), so that
/// Cranelift reports where the register allocator keeps it (`describe`). Done on the
/// finished SSA: the frontend turns redundant block parameters into aliases, and a
/// label on an alias would be lost.
pub fn label_values(func: &mut ir::Function, points: &mut [PointSites]) {
    if points.is_empty() {
        return;
    }
    func.dfg.collect_debug_info();
    for site in points.iter_mut().flat_map(|p| p.sites.iter_mut()) {
        for v in site.values.iter_mut() {
            *v = func.dfg.resolve_aliases(*v);
            let start = ValueLabelStart {
                from: ir::RelSourceLoc::default(),
                label: ValueLabel::from_u32(v.as_u32()),
            };
            if let Some(labels) = func.dfg.values_labels.as_mut() {
                labels.insert(*v, ValueLabelAssignments::Starts(vec![start]));
            }
        }
    }
}
