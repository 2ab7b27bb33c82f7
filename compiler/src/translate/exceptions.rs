//! Exception handling: `try_table`, `throw`, `throw_ref` (abi-spec `eh` has the
//! runtime's side).
//!
//! Inside a `try_table` every call that may throw (of a Wasm function, or indirect) is
//! a `try_call` whose exception table lists the catch clauses of every enclosing
//! `try_table`, innermost first, each in order, up to the first that catches all: the
//! order the runtime tries them in. A clause's handler is a landing block, made at the
//! first call that needs it, which receives the exception, loads the tag's payload from
//! it, and branches to the clause's label with the payload (and the exception, for the
//! `_ref` clauses). The landing blocks are filled at the `try_table`'s `end`, when all
//! their calls are known and the control stack is the one the labels count from.
//!
//! `throw` builds an exception in the runtime (`wasmc_exn_new`), stores the payload
//! into it and calls `wasmc_throw`, which never returns; inside a `try_table` that call
//! is a `try_call` too, so a handler in the same function catches it.

use super::{trap_code, FuncTranslator};
use crate::env::ir_type;
use crate::env::Libcall;
use abi_spec::{eh, Trap};
use cranelift_codegen::ir::{
    self, BlockArg, BlockCall, ExceptionTableData, ExceptionTableItem, ExceptionTag, InstBuilder,
    Value,
};
use cranelift_frontend::FunctionBuilder;
use wasmparser::{Catch, RefType, ValType};

/// The catch clauses of a `try_table` whose body is being translated.
pub struct Handlers {
    clauses: Vec<Clause>,
}

struct Clause {
    /// `None`: catches every tag.
    tag: Option<u32>,
    /// The exception is passed on too (`catch_ref`, `catch_all_ref`).
    with_ref: bool,
    /// Relative to the control frames around the `try_table`.
    label: u32,
    /// Where a caught exception enters, once a call needs it.
    landing: Option<ir::Block>,
}

pub const EXNREF: ValType = ValType::Ref(RefType::EXNREF);

impl<'a, 'b> FuncTranslator<'a, 'b> {
    /// A `try_table` with `catches` begins (its frame is pushed by the caller).
    pub(super) fn enter_try_table(&mut self, catches: &[Catch]) {
        let clauses = catches
            .iter()
            .map(|c| {
                let (tag, with_ref, label) = match *c {
                    Catch::One { tag, label } => (Some(tag), false, label),
                    Catch::OneRef { tag, label } => (Some(tag), true, label),
                    Catch::All { label } => (None, false, label),
                    Catch::AllRef { label } => (None, true, label),
                };
                Clause {
                    tag,
                    with_ref,
                    label,
                    landing: None,
                }
            })
            .collect();
        self.handlers.push(Handlers { clauses });
    }

    /// A `try_table`'s `end`, after its frame was popped (so the control stack is the
    /// one its labels count from) and the operand stack cut back to below it: fills the
    /// landing blocks its calls made. Leaves the builder in none of them.
    pub(super) fn leave_try_table(&mut self) {
        let Some(h) = self.handlers.pop() else {
            return;
        };
        for c in h.clauses {
            let Some(block) = c.landing else { continue };
            self.b.switch_to_block(block);
            self.b.seal_block(block);
            let exn = self.b.block_params(block)[0];
            let height = self.stack.len();
            if let Some(tag) = c.tag {
                let params = self.tag_params(tag);
                for (i, t) in params.into_iter().enumerate() {
                    let v = self.b.ins().load(
                        ir_type(t),
                        super::vm_flags(),
                        exn,
                        eh::payload_offset(i as u32),
                    );
                    self.push(v, t);
                }
            }
            if c.with_ref {
                self.push(exn, EXNREF);
            }
            let (target, vals) = self.target(c.label);
            self.b.ins().jump(target, &vals);
            self.truncate_stack(height);
        }
    }

    fn tag_params(&self, tag: u32) -> Vec<ValType> {
        let ty = self.env.info.tags[tag as usize];
        self.env.info.types[ty as usize].params().to_vec()
    }

    /// Whether a call made here may be caught in this function.
    pub(super) fn in_try(&self) -> bool {
        !self.handlers.is_empty()
    }

    /// A `try_call` of signature `sig`, made by `make` with its exception table: the
    /// clauses of every open `try_table`. The builder goes on in its normal-return
    /// block; returns the call and its results (that block's parameters).
    pub(super) fn try_call(
        &mut self,
        sig: ir::SigRef,
        make: impl FnOnce(&mut FunctionBuilder<'b>, ir::ExceptionTable) -> ir::Inst,
    ) -> (ir::Inst, Vec<Value>) {
        let (table, cont) = self.exception_table(sig);
        let inst = make(&mut self.b, table);
        self.switch_sealed(cont);
        (inst, self.b.block_params(cont).to_vec())
    }

    /// The exception table of a `try_call` here of signature `sig`, and its
    /// normal-return block, whose parameters are the call's results.
    fn exception_table(&mut self, sig: ir::SigRef) -> (ir::ExceptionTable, ir::Block) {
        let cont = self.b.create_block();
        let results: Vec<ir::Type> = self.b.func.dfg.signatures[sig]
            .returns
            .iter()
            .map(|r| r.value_type)
            .collect();
        for t in &results {
            self.b.append_block_param(cont, *t);
        }
        let rets: Vec<BlockArg> = (0..results.len() as u32)
            .map(BlockArg::TryCallRet)
            .collect();
        let normal = BlockCall::new(cont, rets, &mut self.b.func.dfg.value_lists);
        let mut items = vec![];
        'scopes: for h in (0..self.handlers.len()).rev() {
            for c in 0..self.handlers[h].clauses.len() {
                let landing = match self.handlers[h].clauses[c].landing {
                    Some(b) => b,
                    None => {
                        let b = self.b.create_block();
                        self.b.append_block_param(b, ir::types::I64);
                        self.handlers[h].clauses[c].landing = Some(b);
                        b
                    }
                };
                let call = BlockCall::new(
                    landing,
                    [BlockArg::TryCallExn(0)],
                    &mut self.b.func.dfg.value_lists,
                );
                match self.handlers[h].clauses[c].tag {
                    Some(tag) => {
                        items.push(ExceptionTableItem::Tag(ExceptionTag::from_u32(tag), call))
                    }
                    None => {
                        items.push(ExceptionTableItem::Default(call));
                        break 'scopes;
                    }
                }
            }
        }
        let data = ExceptionTableData::new(sig, normal, items);
        (self.b.func.dfg.exception_tables.push(data), cont)
    }

    /// `throw tag`: the payload is on the operand stack.
    pub(super) fn throw(&mut self, tag: u32) {
        let params = self.tag_params(tag);
        let vals = self.popn(params.len());
        let t = self.i32c(tag);
        let n = self.i32c(vals.len() as u32);
        let exn = self
            .call_libcall(Libcall::ExnNew, &[t, n])
            .expect("wasmc_exn_new returns the exception");
        for (i, v) in vals.into_iter().enumerate() {
            self.b
                .ins()
                .store(super::vm_flags(), v, exn, eh::payload_offset(i as u32));
        }
        self.raise(exn);
    }

    /// `throw_ref`: the exception is on the operand stack.
    pub(super) fn throw_ref(&mut self) {
        let exn = self.pop();
        self.b
            .ins()
            .trapz(exn, trap_code(Trap::NullExceptionReference));
        self.raise(exn);
    }

    /// Calls `wasmc_throw` with `exn`; nothing follows.
    fn raise(&mut self, exn: Value) {
        let f = self.libcall(Libcall::Throw);
        let args = [self.vmctx, exn];
        if self.in_try() {
            let sig = self.b.func.dfg.ext_funcs[f].signature;
            self.try_call(sig, |b, table| b.ins().try_call(f, &args, table));
        } else {
            self.b.ins().call(f, &args);
        }
        self.b.ins().trap(trap_code(Trap::Unreachable));
        self.reachable = false;
    }
}
