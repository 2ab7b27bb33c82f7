#!/usr/bin/env python3
"""The reference side of `cargo xtask fuzz`: instantiate a module under wasmtime (PyPI
`wasmtime`) and invoke every exported function once, in export order, with zero
arguments; then print every exported global. wasmc's harness is driven with the same
calls, and the answers are compared line by line.

usage: wasmtime_invoke.py WASM

Output, one line each (names as UTF-8 hex, `-` for the empty name; values as
`<abi_spec ValType code>:<hex bits>`, references as 0 = null, 1 = non-null, because
wasmtime's API does not say which function a funcref is):

    instantiate ok | trap <message> | exhausted | timeout | error <text>
    invoke <name-hex> <param-count> ok <value>... | trap <message> | exhausted
                                    | timeout | error <text>
    global <name-hex> <value>
    done

When a call leaves the exported fuel global (`__fuel`, see gen.rs) at zero, the driver
prints it as a `global` line and starts a fresh instance (a new `instantiate` line), so
the remaining calls do not all trap for want of fuel.

After `exhausted`, `timeout` or `error` nothing more is invoked: the two engines'
states may differ from there on (wasmtime's stack limit is in bytes, wasmc's in frames),
so nothing after it would be comparable. Exit status 3 with a line on stderr means the
driver itself failed.

Floats are read as raw bits from the C API's value union: going through a Python float
would quiet a signalling NaN. NaN canonicalisation is on, as wasmc canonicalises every
NaN its float arithmetic produces.
"""
import ctypes
import sys
import threading
import time

# wasmtime's trap codes -> the wording wasmc's runtime prints (as in
# testsuite/wasmtime_run.py, which the fixture cross-check uses).
MESSAGES = {
    "MEMORY_OUT_OF_BOUNDS": "out of bounds memory access",
    "TABLE_OUT_OF_BOUNDS": "out of bounds table access",
    "INDIRECT_CALL_TO_NULL": "uninitialized element",
    "BAD_SIGNATURE": "indirect call type mismatch",
    "INTEGER_OVERFLOW": "integer overflow",
    "INTEGER_DIVISION_BY_ZERO": "integer divide by zero",
    "BAD_CONVERSION_TO_INTEGER": "invalid conversion to integer",
    "UNREACHABLE": "unreachable",
    # `throw_ref` of a null `exnref` (with typed function references off, wasmc's
    # case, nothing else traps so).
    "NULL_REFERENCE": "null exception reference",
    # Atomics on unshared memory (the threads proposal; wasmc has no shared memory).
    "HEAP_MISALIGNED": "unaligned atomic",
    "ATOMIC_WAIT_NON_SHARED_MEMORY": "expected shared memory",
}

# The exported fuel global of wasm-smith's termination pass (xtask/src/fuzz/gen.rs).
FUEL = "__fuel"

# Per call (and for instantiation), in epoch ticks of TICK seconds.
TICK = 0.1
DEADLINE_TICKS = 100


def hexname(name):
    return name.encode("utf-8").hex() or "-"


def outcome_of_trap(e):
    """`trap <msg>`, `exhausted` or `timeout` for a wasmtime.Trap."""
    if e.trap_code is None and "thrown Wasm exception" in str(e):
        return "trap uncaught exception"
    code = e.trap_code.name if e.trap_code is not None else "?"
    if code == "STACK_OVERFLOW":
        return "exhausted"
    if code == "INTERRUPT":
        return "timeout"
    return "trap " + MESSAGES.get(code, "unknown trap " + code)


def one_line(s):
    return " ".join(str(s).split())[:300]


class Driver:
    def __init__(self, path):
        import wasmtime
        from wasmtime import _ffi as ffi

        self.w, self.ffi = wasmtime, ffi
        cfg = wasmtime.Config()
        cfg.cranelift_nan_canonicalization = True
        # wasmc compiles the exception-handling proposal (gen.rs enables it; it also
        # leaves out exports that take or return an `exnref`, whose type this binding
        # cannot even describe).
        cfg.wasm_exceptions = True
        # The most stack the C API allows (it may not exceed the async stack size).
        cfg.max_wasm_stack = 2 << 20
        cfg.epoch_interruption = True
        self.engine = wasmtime.Engine(cfg)
        self.store = wasmtime.Store(self.engine)
        self.module = wasmtime.Module.from_file(self.engine, path)
        # Epoch ticker: a call that runs past its deadline traps with INTERRUPT.
        t = threading.Thread(target=self.tick, daemon=True)
        t.start()

    def tick(self):
        while True:
            time.sleep(TICK)
            self.engine.increment_epoch()

    def value(self, raw):
        """`<code>:<hex>` of a returned or global raw value (and unroots references)."""
        ffi, k = self.ffi, raw.kind
        if k in (ffi.WASMTIME_I32.value, ffi.WASMTIME_F32.value):
            return "%d:%x" % (k, raw.of.i32 & 0xFFFFFFFF)
        if k in (ffi.WASMTIME_I64.value, ffi.WASMTIME_F64.value):
            return "%d:%x" % (k, raw.of.i64 & 0xFFFFFFFFFFFFFFFF)
        v = self.w.Val._from_raw(self.store, raw)  # owned: unroots it
        return "%d:%x" % (k, 0 if v.value is None else 1)

    def zero(self, ty):
        w = self.w
        if ty == w.ValType.i32():
            v = w.Val.i32(0)
        elif ty == w.ValType.i64():
            v = w.Val.i64(0)
        elif ty == w.ValType.f32():
            v = w.Val.f32(0.0)
        elif ty == w.ValType.f64():
            v = w.Val.f64(0.0)
        else:
            v = w.Val.ref_null(ty)
        return w.Val._convert_to_raw(self.store, ty, v)

    def call(self, func):
        """Calls `func` with zero arguments: `ok <values>` or a trap outcome."""
        from wasmtime._func import enter_wasm

        ffi = self.ffi
        ty = func.type(self.store)
        params = (ffi.wasmtime_val_t * len(ty.params))()
        for i, p in enumerate(ty.params):
            params[i] = self.zero(p)
        results = (ffi.wasmtime_val_t * len(ty.results))()
        self.store.set_epoch_deadline(DEADLINE_TICKS)
        with enter_wasm(self.store) as trap:
            error = ffi.wasmtime_func_call(
                self.store._context(), ctypes.byref(func._func), params, len(params),
                results, len(results), trap)
            if error:
                raise self.w.WasmtimeError._from_ptr(error)
        return " ".join(["ok"] + [self.value(results[i]) for i in range(len(results))])

    def instantiate(self, out):
        """A new instance (printing how instantiation went): its exports, or None."""
        w = self.w
        self.store.set_epoch_deadline(DEADLINE_TICKS)
        try:
            inst = w.Instance(self.store, self.module, [])
        except w.Trap as e:
            res = outcome_of_trap(e)
            out("instantiate " + res)
            if res.startswith("trap"):
                out("done")  # a failed instantiation is a complete answer too
            return None
        except w.WasmtimeError as e:
            # An exception the start function does not catch comes as an error.
            if "thrown Wasm exception" in str(e):
                out("instantiate trap uncaught exception")
                out("done")
                return None
            out("instantiate error " + one_line(e))
            return None
        out("instantiate ok")
        return inst.exports(self.store)

    def global_value(self, g):
        raw = self.ffi.wasmtime_val_t()
        self.ffi.wasmtime_global_get(self.store._context(), ctypes.byref(g._global), ctypes.byref(raw))
        return self.value(raw)

    def run(self, out):
        w = self.w
        exports = self.instantiate(out)
        if exports is None:
            return
        names = set(exports)
        for ex in self.module.exports:
            if not isinstance(ex.type, w.FuncType):
                continue
            head = "invoke %s %d " % (hexname(ex.name), len(ex.type.params))
            try:
                res = self.call(exports[ex.name])
            except w.Trap as e:
                res = outcome_of_trap(e)
            except w.WasmtimeError as e:
                uncaught = "thrown Wasm exception" in str(e)
                res = "trap uncaught exception" if uncaught else "error " + one_line(e)
            out(head + res)
            if res.split(" ")[0] in ("exhausted", "timeout", "error"):
                return
            # Out of fuel: every later call would trap at once. Say so (the runner
            # compares wasmc's fuel) and go on with a fresh instance.
            if FUEL in names and self.global_value(exports[FUEL]) == "0:0":
                out("global %s 0:0" % hexname(FUEL))
                exports = self.instantiate(out)
                if exports is None:
                    return
        for ex in self.module.exports:
            if isinstance(ex.type, w.GlobalType):
                out("global %s %s" % (hexname(ex.name), self.global_value(exports[ex.name])))
        out("done")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 3
    failure = []

    def out(line):
        # Line by line: if the runner kills a hung driver, what it said so far counts.
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def work():
        try:
            Driver(sys.argv[1]).run(out)
        except Exception as e:  # the driver's own failure, not the module's
            failure.append("%s: %s" % (type(e).__name__, one_line(e)))

    # Deep recursion needs a big native stack under the 2 MiB Wasm stack.
    threading.stack_size(512 << 20)
    t = threading.Thread(target=work)
    t.start()
    t.join()
    if failure:
        print("wasmtime_invoke: " + failure[0], file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
