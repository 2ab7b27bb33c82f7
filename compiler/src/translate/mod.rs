//! Translation of one Wasm function body to Cranelift IR.
//!
//! Designed for migration: every Wasm local is a Cranelift `Variable`, and so is every
//! operand-stack value that lives across a control-flow boundary or a call (one variable
//! per stack depth and type). At any migration point the complete Wasm-level state is
//! therefore a list of variables, which the out-of-line save path reads and the restore
//! path defines before jumping straight to the point; Cranelift's SSA construction
//! turns the variables back into registers, so the hot path pays nothing for it.

mod arith_locals;
mod atomics;
mod control;
mod covered;
mod exceptions;
mod liveness;
mod loop_locals;
mod migration;
mod ops;
mod store_checks;
mod strip;

use crate::env::{import_func, ir_type, wasm_signature, Libcall, ModuleEnv};
use crate::error::CompileError;
pub(crate) use atomics::is_atomic_access;
use cranelift_codegen::entity::{packed_option::PackedOption, EntitySet, SecondaryMap};
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData, TrapCode, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use migration::Points;
pub use migration::{PointSites, POLL_TRAP};
use rustc_hash::FxHashMap as HashMap;
use wasmparser::{FunctionBody, Operator, ValType};

/// One entry of the Wasm operand stack.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// A value defined in the current straight-line region.
    Val(Value),
    /// A value held in the stack variable of its depth (see module docs).
    Var(Variable),
    /// The result of float arithmetic whose NaN, if it is one, is not canonical yet
    /// (only where the hardware does not canonicalise: `ModuleEnv::canonicalize_nans`).
    /// Arithmetic and comparisons that consume it cannot tell one NaN from another, so
    /// it is canonicalised only when something else takes it: a store, a local, a
    /// branch, a call, a reinterpretation, a sign operation, a migration point.
    /// Canonicalising the *result* of arithmetic is always allowed (any NaN may come out
    /// of it); canonicalising a value loaded or passed through would not be.
    Arith(Value),
}

/// Result of translating one function.
pub struct Translated {
    pub func: ir::Function,
    /// The function's migration points with the instructions their frames are read at
    /// (none without points); `describe` turns them into the points table once the
    /// code is compiled.
    pub points: Vec<migration::PointSites>,
    /// Block parameters the optimiser must keep although they receive one value
    /// (`phis`): those that carry a float result to its NaN check, and a strip-mined
    /// loop's stepped local into its fallback (`strip_latch`).
    pub keep_params: Vec<Value>,
    /// The headers of loops that took locals as their values on entry, without
    /// parameters (`FuncTranslator::loop_vars`), and the blocks of calls that took
    /// some variables so (`FuncTranslator::call_block`): the e-graph's elaborator keeps
    /// what it computes from those values before such a poll or call out of the code
    /// after it (`sites::optimize`, `cranelift_codegen::Floors`).
    pub floors: Vec<ir::Block>,
}

pub struct FuncTranslator<'a, 'b> {
    env: &'a ModuleEnv<'a>,
    b: FunctionBuilder<'b>,
    func_index: u32,
    vmctx: Value,
    /// The linear memory's base, loaded only in a function that accesses memory (which
    /// is also where loop polls read the `mig_state` mirror beside it).
    memory_base: Option<Value>,
    locals: Vec<(Variable, ValType)>,
    /// Locals that only ever hold float-arithmetic results (see `arith_locals`), by
    /// local index; empty where the hardware canonicalises NaNs itself.
    arith_locals: Vec<bool>,
    /// The locals that are not arithmetic but are given arithmetic results
    /// (`ArithLocals::reused`), in ascending order.
    reused: Vec<u32>,
    /// Per reused local that was given an arithmetic result in the current
    /// straight-line region: that raw result, which its `local.get`s take as an
    /// arithmetic result (`Slot::Arith`) and which goes into the local's variable,
    /// canonicalised, only where the region ends with the local live
    /// (`settle_locals`).
    raw: Vec<Option<Value>>,
    /// The positions (in `reused`) with an entry in `raw`.
    raw_set: Vec<usize>,
    /// Arithmetic results canonicalised in the current straight-line region, with
    /// their canonical values (which dominate the rest of the region): a result stored
    /// and kept in a local is checked once, and its one use leaves the loads it is
    /// computed from foldable into its arithmetic (see `canonical_nan`).
    canonical: Checked,
    stack: Vec<Slot>,
    /// Variables for stack slots, by (depth, Cranelift type), with their Wasm type.
    stack_vars: HashMap<(usize, ir::Type), Variable>,
    stack_types: Vec<ValType>,
    control: Vec<control::Frame>,
    /// Nesting depth of blocks skipped while the current code is unreachable.
    unreachable_depth: u32,
    reachable: bool,
    exit: ir::Block,
    func_refs: HashMap<u32, ir::FuncRef>,
    libcall_refs: HashMap<Libcall, ir::FuncRef>,
    countdown_ref: Option<ir::FuncRef>,
    sig_refs: HashMap<u32, ir::SigRef>,
    points: Points,
    /// Live locals at each migration point.
    liveness: liveness::Liveness,
    /// Byte offset of the operator being translated (the key of its migration point).
    cur_offset: usize,
    /// Index of the operator being translated in the decoded body.
    cur_index: usize,
    /// Stores of raw arithmetic results whose NaN check is still to come
    /// (`store_checks`).
    pending: Vec<store_checks::Pending>,
    /// Per operator: a float load that may run while stores are pending
    /// (`store_checks::blind_loads`); empty without NaN checks.
    blind_loads: Vec<bool>,
    /// The counted loops to strip-mine, by the offset of their `loop` (see `strip`).
    strips: HashMap<usize, strip::StripLoop>,
    /// See [`Translated::keep_params`].
    keep_params: Vec<Value>,
    /// The call-depth argument the function's callees get (`env::wasm_signature`).
    depth: Value,
    /// Loops that need no poll, by the offset of their `loop` (see `covered`).
    covered: rustc_hash::FxHashSet<usize>,
    /// The locals each loop accesses (see `loop_locals`).
    loop_locals: loop_locals::LoopLocals,
    /// Every value a site of a point translated so far names: each is held wherever it
    /// is live, after optimisation too (`phis::is_held`).
    site_values: EntitySet<Value>,
    /// The blocks that took a variable without a parameter (`Translated::floors`).
    floors: Vec<ir::Block>,
    /// The catch clauses of the `try_table`s around the current code, outermost first.
    handlers: Vec<exceptions::Handlers>,
}

pub fn translate_function(
    env: &ModuleEnv<'_>,
    func_index: u32,
    body: &FunctionBody<'_>,
    fctx: &mut FunctionBuilderContext,
) -> Result<Translated, CompileError> {
    let info = env.info;
    let ft = info.func_type(func_index);
    let sig = wasm_signature(ft, env.call_conv);
    let name = ir::UserFuncName::user(
        crate::env::NS_FUNC,
        env.symbols.funcs[func_index as usize].as_u32(),
    );
    let mut func = ir::Function::with_name_signature(name, sig);
    let mut b = FunctionBuilder::new(&mut func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    // The vmctx, the call-depth argument, then the Wasm params (`env::wasm_signature`).
    let vmctx = b.block_params(entry)[0];
    let depth = b.block_params(entry)[1];
    let exit = b.create_block();
    let codegen_err = |message: String| CompileError::Codegen {
        func: func_index,
        func_name: None,
        message,
    };

    // The body's operators, decoded once for the analyses below and the translation:
    // decoding is most of what each pass over the body costs.
    let ops = decode(body).map_err(|e| codegen_err(e.to_string()))?;
    // Without points the live locals at loop headers still tell a latch what to carry
    // (`branch_carrying`). (With points, a function with loops has points.)
    let arith = if env.canonicalize_nans {
        let locals = arith_locals::local_types(ft.params(), body);
        arith_locals::analyze(&ops, ft.params().len(), &locals)
    } else {
        arith_locals::ArithLocals {
            arith: vec![],
            reused: vec![],
        }
    };
    let reused = !arith.reused.is_empty();
    let mut num_locals = ft.params().len();
    if let Ok(mut r) = body.get_locals_reader() {
        for _ in 0..r.get_count() {
            num_locals += r.read().map(|(n, _)| n as usize).unwrap_or(0);
        }
    }
    let liveness = if env.has_points(func_index) || env.has_loops(func_index) || reused {
        // Where a region ends, `settle_locals` asks which locals are live.
        liveness::analyze(
            &ops,
            num_locals,
            |f| env.has_points(f),
            |f| f >= info.num_imported_funcs(),
            |op| reused && ends_region(op),
            &arith.reused,
        )
    } else {
        liveness::Liveness::all_live()
    };
    let (strips, covered, loop_locals) = if env.has_points(func_index) {
        (
            strip::find(&ops, &info.types, |f| env.has_points(f)),
            // A call of a function with its results in memory is no site a frame can
            // be rebuilt at (`sites`): the program could not stop at its entry.
            covered::find(&ops, |f| {
                env.has_points(f)
                    && info.func_type(f).results().len() <= crate::sites::MAX_REGISTER_RESULTS
            }),
            // No loop of a function with fewer locals can take enough as they are.
            if num_locals >= migration::MIN_PASSED_THROUGH {
                loop_locals::LoopLocals::find(&ops)
            } else {
                Default::default()
            },
        )
    } else {
        Default::default()
    };
    let mut t = FuncTranslator {
        env,
        b,
        func_index,
        vmctx,
        memory_base: None,
        locals: vec![],
        raw: vec![None; arith.reused.len()],
        reused: arith.reused,
        raw_set: vec![],
        canonical: Checked::default(),
        arith_locals: arith.arith,
        stack: vec![],
        stack_vars: HashMap::default(),
        stack_types: vec![],
        control: vec![],
        unreachable_depth: 0,
        reachable: true,
        exit,
        func_refs: HashMap::default(),
        libcall_refs: HashMap::default(),
        countdown_ref: None,
        sig_refs: HashMap::default(),
        points: Points::default(),
        liveness,
        cur_offset: 0,
        cur_index: 0,
        pending: vec![],
        blind_loads: if env.canonicalize_nans {
            store_checks::blind_loads(&ops)
        } else {
            vec![]
        },
        strips,
        keep_params: vec![],
        depth,
        covered,
        loop_locals,
        site_values: EntitySet::new(),
        floors: vec![],
        handlers: vec![],
    };
    t.prologue(ft.params(), ft.results(), body)
        .map_err(|e| codegen_err(e.to_string()))?;
    for (index, (op, offset)) in ops.iter().enumerate() {
        t.cur_offset = *offset;
        t.cur_index = index;
        t.operator(op).map_err(|e| match e {
            OpError::Unsupported(feature) => CompileError::Unsupported {
                feature,
                func: Some(func_index),
                func_name: None,
            },
        })?;
    }
    let (points, keep_params, floors) = t.finish();
    func.name = ir::UserFuncName::user(
        crate::env::NS_FUNC,
        env.symbols.funcs[func_index as usize].as_u32(),
    );
    Ok(Translated {
        func,
        points,
        keep_params,
        floors,
    })
}

/// Checked values of one region (`FuncTranslator::canonical`), by value number: a
/// lookup per float operand and a reset per region, each as cheap in a function of
/// 100 000 stores in one block as in a small one.
#[derive(Default)]
struct Checked {
    by_value: SecondaryMap<Value, PackedOption<Value>>,
    keys: Vec<Value>,
}

impl Checked {
    fn get(&self, v: Value) -> Option<Value> {
        self.by_value[v].expand()
    }

    fn insert(&mut self, v: Value, checked: Value) {
        self.by_value[v] = checked.into();
        self.keys.push(v);
    }

    fn clear(&mut self) {
        for v in self.keys.drain(..) {
            self.by_value[v] = None.into();
        }
    }
}

/// Whether `op` ends a straight-line region of the translation, where a local's raw
/// arithmetic result must be settled (`settle_locals`): it transfers control (branches,
/// block and loop boundaries, returns) or may be a migration point (calls), where
/// variables are read by name.
fn ends_region(op: &Operator<'_>) -> bool {
    use Operator as O;
    // `control_operator`'s operators, and those that would be control were they
    // supported (tail calls, typed calls, exceptions).
    matches!(
        op,
        O::Block { .. }
            | O::Loop { .. }
            | O::If { .. }
            | O::Else
            | O::End
            | O::Br { .. }
            | O::BrIf { .. }
            | O::BrTable { .. }
            | O::Return
            | O::Unreachable
            | O::Call { .. }
            | O::CallIndirect { .. }
            | O::ReturnCall { .. }
            | O::ReturnCallIndirect { .. }
            | O::CallRef { .. }
            | O::ReturnCallRef { .. }
            | O::TryTable { .. }
            | O::Throw { .. }
            | O::ThrowRef
    )
}

/// A function body's operators with their byte offsets (the key of a migration point).
pub type Ops<'a> = [(Operator<'a>, usize)];

/// Decodes the operators of `body`.
pub fn decode<'a>(
    body: &FunctionBody<'a>,
) -> Result<Vec<(Operator<'a>, usize)>, wasmparser::BinaryReaderError> {
    let mut reader = body.get_operators_reader()?;
    // Operators take about two bytes each in the bodies compilers emit: sized from the
    // body, the vector is rarely reallocated (growing from empty was 0.4% of
    // compiling zstd).
    let bytes = body.range();
    let mut ops = Vec::with_capacity(((bytes.end - bytes.start) / 2) as usize);
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        ops.push((op, offset as usize));
    }
    Ok(ops)
}

/// Tests: `f` of the operators of the last function of module `wat`.
#[cfg(test)]
pub(crate) fn with_ops<R>(wat: &str, f: impl FnOnce(&Ops<'_>) -> R) -> R {
    let bytes = wat::parse_str(wat).unwrap();
    let mut body = None;
    for p in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::CodeSectionEntry(b) = p.unwrap() {
            body = Some(b);
        }
    }
    f(&decode(&body.unwrap()).unwrap())
}

#[derive(Debug)]
pub enum OpError {
    Unsupported(String),
}

type OpResult = Result<(), OpError>;

/// Memory flags of a linear-memory access: may trap (the guard region), and that trap
/// is an out-of-bounds access.
fn heap_flags() -> MemFlagsData {
    MemFlagsData::new().with_trap_code(Some(TrapCode::HEAP_OUT_OF_BOUNDS))
}

/// Memory flags of an access to runtime-owned memory that cannot fault.
pub(crate) fn vm_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// The Cranelift trap code that stands for a wasmc trap.
pub fn trap_code(t: abi_spec::Trap) -> TrapCode {
    use abi_spec::Trap;
    match t {
        Trap::MemoryOutOfBounds => TrapCode::HEAP_OUT_OF_BOUNDS,
        Trap::IntegerDivideByZero => TrapCode::INTEGER_DIVISION_BY_ZERO,
        Trap::IntegerOverflow => TrapCode::INTEGER_OVERFLOW,
        Trap::BadConversionToInteger => TrapCode::BAD_CONVERSION_TO_INTEGER,
        Trap::StackExhausted => TrapCode::STACK_OVERFLOW,
        other => TrapCode::unwrap_user(other as u8),
    }
}

/// The wasmc trap a Cranelift trap code stands for (inverse of [`trap_code`]).
pub fn trap_from_code(code: TrapCode) -> abi_spec::Trap {
    abi_spec::Trap::ALL
        .into_iter()
        .find(|t| trap_code(*t) == code)
        .unwrap_or(abi_spec::Trap::Unreachable)
}

impl<'a, 'b> FuncTranslator<'a, 'b> {
    fn prologue(
        &mut self,
        params: &[ValType],
        results: &[ValType],
        body: &FunctionBody<'_>,
    ) -> Result<(), wasmparser::BinaryReaderError> {
        let entry = self.b.current_block().unwrap();
        let args: Vec<Value> = self.b.block_params(entry)[2..].to_vec();
        for (i, ty) in params.iter().enumerate() {
            let var = self.b.declare_var(ir_type(*ty));
            self.b.def_var(var, args[i]);
            self.locals.push((var, *ty));
        }
        let mut locals_reader = body.get_locals_reader()?;
        for _ in 0..locals_reader.get_count() {
            let (count, ty) = locals_reader.read()?;
            for _ in 0..count {
                let var = self.b.declare_var(ir_type(ty));
                let zero = self.zero(ty);
                self.b.def_var(var, zero);
                self.locals.push((var, ty));
            }
        }
        if self.env.accesses_memory(self.func_index) {
            // The reservation never moves, so one load serves the whole function; being in
            // the entry block it also dominates every migration point.
            let base = self.b.ins().load(
                types::I64,
                // Not `can_move`: Cranelift would then re-load it (and the vmctx) at every
                // use inside hot loops instead of keeping one value.
                vm_flags().with_readonly(),
                self.vmctx,
                abi_spec::VMCTX_MEMORY_BASE,
            );
            self.memory_base = Some(base);
        }
        // ISA-neutral stack limit: a Wasm call depth, taken in a register from the caller
        // and charged only by functions in call cycles, for themselves and the
        // uncounted chain below them (see `bounded::depth_charges`); the callees get
        // what is left. Restore re-enters through this same code.
        let charge = self.env.depth_charge(self.func_index);
        if charge > 0 {
            let depth = self.depth;
            if charge == 1 {
                self.b
                    .ins()
                    .trapz(depth, trap_code(abi_spec::Trap::StackExhausted));
            } else {
                let short = self.b.ins().icmp_imm_u(
                    ir::condcodes::IntCC::UnsignedLessThan,
                    depth,
                    charge as i64,
                );
                self.b
                    .ins()
                    .trapnz(short, trap_code(abi_spec::Trap::StackExhausted));
            }
            // An `iadd` of a constant, which a rebuilt frame recomputes from the depth it
            // was entered with (`sites::Source::AddConst`).
            let less = self.b.ins().iconst(types::I64, -(charge as i64));
            self.depth = self.b.ins().iadd(depth, less);
        }

        for ty in results {
            self.b.append_block_param(self.exit, ir_type(*ty));
        }
        let body_block = self.b.create_block();
        if self.env.has_points(self.func_index) {
            self.entry_point(body_block, params);
        } else {
            self.b.ins().jump(body_block, &[]);
        }
        self.switch_sealed(body_block);
        // The function body is the outermost block; its end returns.
        let exit = self.exit;
        self.control.push(control::Frame::function(exit, results));
        Ok(())
    }

    fn finish(mut self) -> (Vec<migration::PointSites>, Vec<Value>, Vec<ir::Block>) {
        // Epilogue shared by every return.
        self.b.switch_to_block(self.exit);
        let rets = self.b.block_params(self.exit).to_vec();
        self.b.ins().return_(&rets);
        self.b.seal_all_blocks();
        let points = std::mem::take(&mut self.points);
        let sites = points.into_sites(|var| self.holds_arith(var));
        self.b.finalize(self.env.frontend_config);
        (sites, self.keep_params, self.floors)
    }

    fn zero(&mut self, ty: ValType) -> Value {
        let it = ir_type(ty);
        self.zero_of(it)
    }

    fn zero_of(&mut self, it: ir::Type) -> Value {
        match it {
            types::F32 => self.b.ins().f32const(0.0),
            types::F64 => self.b.ins().f64const(0.0),
            t => self.b.ins().iconst(t, 0),
        }
    }

    // ---- operand stack -------------------------------------------------------------

    fn push(&mut self, v: Value, ty: ValType) {
        self.push_slot(Slot::Val(v), ty);
    }

    fn push_slot(&mut self, slot: Slot, ty: ValType) {
        self.stack.push(slot);
        self.stack_types.push(ty);
    }

    /// The Wasm type of a scalar value.
    fn val_type(&self, v: Value) -> ValType {
        match self.b.func.dfg.value_type(v) {
            types::I32 => ValType::I32,
            types::I64 => ValType::I64,
            types::F32 => ValType::F32,
            types::F64 => ValType::F64,
            _ => unreachable!("only scalar values are pushed untyped"),
        }
    }

    fn push_typed(&mut self, v: Value) {
        let ty = self.val_type(v);
        self.push(v, ty);
    }

    fn pop(&mut self) -> Value {
        let slot = self.pop_slot();
        self.settle(slot)
    }

    fn pop_slot(&mut self) -> Slot {
        self.stack_types.pop();
        self.stack
            .pop()
            .expect("validated: stack underflow impossible")
    }

    /// The value of a stack entry, its NaN made canonical if it may not be yet.
    fn settle(&mut self, slot: Slot) -> Value {
        match slot {
            Slot::Val(v) => v,
            Slot::Var(var) => self.b.use_var(var),
            Slot::Arith(v) => self.canonical_nan(v),
        }
    }

    /// Pops an operand of float arithmetic or a comparison, which cannot observe which
    /// NaN it is given: no canonicalisation needed.
    fn pop_float_operand(&mut self) -> Value {
        match self.pop_slot() {
            Slot::Arith(v) => self.checked(v),
            slot => self.settle(slot),
        }
    }

    /// Pushes the result of float arithmetic (see [`Slot::Arith`]).
    fn push_float_result(&mut self, v: Value) {
        let ty = self.val_type(v);
        if self.env.canonicalize_nans {
            self.push_slot(Slot::Arith(v), ty);
        } else {
            self.push(v, ty);
        }
    }

    /// Whether local `index` only ever holds float-arithmetic results, which may stay
    /// non-canonical NaNs until they escape (see `arith_locals`).
    fn is_arith_local(&self, index: u32) -> bool {
        self.arith_locals
            .get(index as usize)
            .copied()
            .unwrap_or(false)
    }

    /// Ends the region for the locals holding a raw arithmetic result (`raw`):
    /// one live after this operator gets its canonical value into its variable, since
    /// what leaves the region must be canonical (a branch, a call, a migration point
    /// read variables). A dead one is left alone: its variable keeps the value it had,
    /// which nothing reads again. So a local that a compiler reuses, holding a loaded
    /// value in one place and a product read in the same loop body in another, pays no
    /// check at all.
    fn settle_locals(&mut self) {
        for i in std::mem::take(&mut self.raw_set) {
            let Some(v) = self.raw[i].take() else {
                continue;
            };
            if self.liveness.is_live_before(self.cur_offset, i) {
                let c = self.canonical_nan(v);
                self.b.def_var(self.locals[self.reused[i] as usize].0, c);
            }
        }
    }

    /// The position of local `index` among the reused locals (`reused`), if it is one.
    fn reused_position(&self, index: u32) -> Option<usize> {
        self.reused.binary_search(&index).ok()
    }

    /// The raw arithmetic result reused local `index` holds in this region, if any.
    fn raw_local(&self, index: u32) -> Option<Value> {
        self.reused_position(index).and_then(|i| self.raw[i])
    }

    /// Gives local `index` the value on top of the stack (popped for a `local.set`):
    /// an arithmetic local takes an arithmetic result as it is; a reused local takes it
    /// raw for the rest of its region (`raw`), any other canonicalised; every other
    /// value goes in exactly.
    fn set_local(&mut self, index: u32, pop: bool) {
        let top = self.stack[self.stack.len() - 1];
        if let Slot::Arith(v) = top {
            let v = self.checked(v);
            if self.is_arith_local(index) {
                self.b.def_var(self.locals[index as usize].0, v);
                if pop {
                    self.pop_slot();
                }
                return;
            }
            if let Some(i) = self.reused_position(index) {
                if self.raw[i].replace(v).is_none() {
                    self.raw_set.push(i);
                }
                if pop {
                    self.pop_slot();
                }
                return;
            }
        }
        if let Some(i) = self.reused_position(index) {
            self.raw[i] = None;
        }
        let v = if pop { self.pop() } else { self.peek(0) };
        self.b.def_var(self.locals[index as usize].0, v);
    }

    /// Switches to `block`, whose predecessors are all known, and seals it. Sealing as
    /// early as that lets the SSA builder resolve a variable read in a block of one
    /// predecessor by looking there, where an unsealed block would get a parameter for
    /// it (to be removed again by the constant-phi pass): with migration points every
    /// call is made in a block of its own, so late sealing doubled the builder's work.
    fn switch_sealed(&mut self, block: ir::Block) {
        self.b.switch_to_block(block);
        self.b.seal_block(block);
    }

    fn canonical_nan_const(&mut self, ty: ir::Type) -> Value {
        if ty == types::F32 {
            self.b
                .ins()
                .f32const(ir::immediates::Ieee32::with_bits(0x7fc0_0000))
        } else {
            self.b
                .ins()
                .f64const(ir::immediates::Ieee64::with_bits(0x7ff8_0000_0000_0000))
        }
    }

    /// `v`, or the canonical NaN if `v` is a NaN: a compare and a branch to a cold
    /// block that is not taken, off the data path. (A `select` would make x86-64 jump
    /// over a move in the common case; a taken branch per float result costs more.)
    ///
    /// The check reads `v` through a kept block parameter ([`Self::checked_param`]).
    fn canonical_nan(&mut self, v: Value) -> Value {
        if let Some(c) = self.canonical.get(v) {
            return c;
        }
        let ty = self.b.func.dfg.value_type(v);
        let p = self.checked_param(v);
        let is_nan = self.b.ins().fcmp(ir::condcodes::FloatCC::Unordered, p, p);
        let cold = self.cold_block();
        let cont = self.b.create_block();
        let result = self.b.append_block_param(cont, ty);
        self.b
            .ins()
            .brif(is_nan, cold, &[], cont, &[ir::BlockArg::Value(p)]);
        self.switch_sealed(cold);
        let nan = self.canonical_nan_const(ty);
        self.b.ins().jump(cont, &[ir::BlockArg::Value(nan)]);
        self.switch_sealed(cont);
        // The canonical value is an arithmetic result that needs no second check.
        self.canonical.insert(v, result);
        self.canonical.insert(result, result);
        result
    }

    /// Float result `v` passed to a new block as a parameter the optimiser keeps
    /// (`keep_params`), for a NaN check to read along with whatever else takes it.
    /// Instruction selection merges a load into the arithmetic that uses it only if
    /// every value computed from the load is used once, and a parameter is where it
    /// stops looking: so `c[j] + a * b[j]`, checked and stored, still reads both
    /// operands from memory in its `mulsd` and `addsd` (matmul ran 15% fewer
    /// instructions). The jump to the parameter's block falls through.
    fn checked_param(&mut self, v: Value) -> Value {
        let ty = self.b.func.dfg.value_type(v);
        let block = self.b.create_block();
        let p = self.b.append_block_param(block, ty);
        self.b.ins().jump(block, &[ir::BlockArg::Value(v)]);
        self.switch_sealed(block);
        self.keep_params.push(p);
        p
    }

    /// Arithmetic result `v`, or its canonical value if it was checked earlier in this
    /// region: arithmetic may take either, and taking the checked one leaves the raw
    /// result with one use (the check), so the loads it is computed from stay foldable.
    fn checked(&self, v: Value) -> Value {
        self.canonical.get(v).unwrap_or(v)
    }

    fn pop2(&mut self) -> (Value, Value) {
        let y = self.pop();
        let x = self.pop();
        (x, y)
    }

    fn pop3(&mut self) -> (Value, Value, Value) {
        let z = self.pop();
        let (x, y) = self.pop2();
        (x, y, z)
    }

    fn popn(&mut self, n: usize) -> Vec<Value> {
        let mut vals: Vec<Value> = (0..n).map(|_| self.pop()).collect();
        vals.reverse();
        vals
    }

    fn peek(&mut self, depth_from_top: usize) -> Value {
        let i = self.stack.len() - 1 - depth_from_top;
        let v = self.settle(self.stack[i]);
        if let Slot::Arith(_) = self.stack[i] {
            self.stack[i] = Slot::Val(v);
        }
        v
    }

    /// The values of the top `n` entries, leaving them on the stack.
    fn peekn(&mut self, n: usize) -> Vec<Value> {
        (0..n).rev().map(|d| self.peek(d)).collect()
    }

    fn stack_var(&mut self, depth: usize, ty: ValType) -> Variable {
        let it = ir_type(ty);
        if let Some(v) = self.stack_vars.get(&(depth, it)) {
            return *v;
        }
        let v = self.b.declare_var(it);
        self.stack_vars.insert((depth, it), v);
        v
    }

    /// Moves the stack entries below `keep_top` into their stack variables, so they
    /// survive a control-flow boundary or a migration point by name.
    fn spill_stack_to_vars(&mut self, keep_top: usize) {
        let n = self.stack.len() - keep_top;
        for i in 0..n {
            if let Slot::Val(_) | Slot::Arith(_) = self.stack[i] {
                let v = self.settle(self.stack[i]);
                let var = self.stack_var(i, self.stack_types[i]);
                self.b.def_var(var, v);
                self.stack[i] = Slot::Var(var);
            }
        }
    }

    // ---- references to other code ------------------------------------------------

    /// What a direct call of function `index` calls: a host import itself (which takes
    /// no call-depth argument), or the Wasm function.
    fn func_ref(&mut self, index: u32) -> ir::FuncRef {
        if let Some(r) = self.func_refs.get(&index) {
            return *r;
        }
        let ft = self.env.info.func_type(index);
        let r = match self.env.symbols.hosts[index as usize] {
            Some(host) => import_func(
                self.b.func,
                host,
                crate::env::host_signature(ft, self.env.call_conv),
            ),
            None => import_func(
                self.b.func,
                self.env.symbols.funcs[index as usize],
                wasm_signature(ft, self.env.call_conv),
            ),
        };
        self.func_refs.insert(index, r);
        r
    }

    fn libcall(&mut self, l: Libcall) -> ir::FuncRef {
        if let Some(r) = self.libcall_refs.get(&l) {
            return *r;
        }
        let r = import_func(
            self.b.func,
            self.env.symbols.libcall(l),
            crate::env::libcall_signature(l, self.env.call_conv),
        );
        self.libcall_refs.insert(l, r);
        r
    }

    /// The module's `wasmc_countdown` (only in a module compiled with points).
    fn countdown_ref(&mut self) -> ir::FuncRef {
        if let Some(r) = self.countdown_ref {
            return r;
        }
        let id = self
            .env
            .symbols
            .countdown
            .expect("declared in a module with migration points");
        let r = import_func(self.b.func, id, crate::env::countdown_signature());
        self.countdown_ref = Some(r);
        r
    }

    fn call_libcall(&mut self, l: Libcall, args: &[Value]) -> Option<Value> {
        let f = self.libcall(l);
        let mut all = vec![self.vmctx];
        all.extend_from_slice(args);
        let call = self.b.ins().call(f, &all);
        self.b.inst_results(call).first().copied()
    }

    fn sig_ref(&mut self, type_index: u32) -> ir::SigRef {
        if let Some(r) = self.sig_refs.get(&type_index) {
            return *r;
        }
        let sig = wasm_signature(
            &self.env.info.types[type_index as usize],
            self.env.call_conv,
        );
        let r = self.b.import_signature(sig);
        self.sig_refs.insert(type_index, r);
        r
    }

    fn operator(&mut self, op: &Operator<'_>) -> OpResult {
        if !self.reachable {
            return self.unreachable_operator(op);
        }
        if !self.pending.is_empty() && !self.keeps_pending(op) {
            self.check_pending();
        }
        if self.env.canonicalize_nans && ends_region(op) {
            self.settle_locals();
            // The branches ahead may leave the blocks the checks so far dominate.
            self.canonical.clear();
        }
        if self.control_operator(op)? {
            return Ok(());
        }
        self.plain_operator(op)
    }
}
