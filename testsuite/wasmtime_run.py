#!/usr/bin/env python3
"""Run a WASI preview 1 module under wasmtime (PyPI `wasmtime`) the way a wasmc
executable runs it, as an independent reference for the fixture expectations.

usage: wasmtime_run.py WASM [--dir HOST::GUEST]... [--env K=V]... [--canonical-nans]
                        [-- ARG...]

The module's stdout and stderr are passed through; a trap is reported as the same
one line a wasmc executable prints (`wasmc: trap: <message> in function <name> (#<i>)`)
and exit status 134, so callers can compare both runners with one set of rules.
Exit status 3 with a line on stderr means the helper itself failed (no wasmtime...).
"""
import sys
import tempfile
import threading

# wasmtime's trap codes -> the spec test suite's wording that wasmc prints.
MESSAGES = {
    "STACK_OVERFLOW": "call stack exhausted",
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


def parse(argv):
    wasm, dirs, env, args, canonical_nans = None, [], [], [], False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args = argv[i + 1:]
            break
        if a == "--canonical-nans":
            canonical_nans = True
            i += 1
            continue
        if a in ("--dir", "--env"):
            (dirs if a == "--dir" else env).append(argv[i + 1])
            i += 2
            continue
        wasm = a
        i += 1
    return wasm, dirs, env, args, canonical_nans


def run(wasm, dirs, env, args, canonical_nans, result):
    import wasmtime

    cfg = wasmtime.Config()
    cfg.cranelift_nan_canonicalization = canonical_nans
    # wasmc compiles the exception-handling proposal.
    cfg.wasm_exceptions = True
    # The fixtures recurse 50_000 deep; give wasmtime the most stack its C API allows
    # (it may not exceed the default async stack size, 2 MiB).
    cfg.max_wasm_stack = 2 << 20
    engine = wasmtime.Engine(cfg)
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [wasm.rsplit("/", 1)[-1].removesuffix(".wasm")] + args
    wasi.env = [tuple(kv.split("=", 1)) for kv in env]
    for d in dirs:
        host, _, guest = d.partition("::")
        wasi.preopen_dir(host, guest or host)
    out = tempfile.NamedTemporaryFile(delete=False)
    err = tempfile.NamedTemporaryFile(delete=False)
    wasi.stdout_file = out.name
    wasi.stderr_file = err.name
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, wasm)
    trap_line, code = None, 0
    try:
        inst = linker.instantiate(store, module)
        inst.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        code = e.code
    except wasmtime.Trap as e:
        code = 134
        name = e.trap_code.name if e.trap_code is not None else "?"
        if e.trap_code is None and "thrown Wasm exception" in str(e):
            msg = "uncaught exception"
        else:
            msg = MESSAGES.get(name, "unknown trap " + name)
        frames = e.frames
        f = frames[0] if frames else None
        where = f"{f.func_name} (#{f.func_index})" if f else "? (#?)"
        trap_line = f"wasmc: trap: {msg} in function {where}"
    with open(out.name, "rb") as fh:
        result["stdout"] = fh.read()
    with open(err.name, "rb") as fh:
        result["stderr"] = fh.read()
    result["trap"] = trap_line
    result["code"] = code


def main():
    wasm, dirs, env, args, canonical_nans = parse(sys.argv[1:])
    if wasm is None:
        print(__doc__, file=sys.stderr)
        return 3
    result = {}
    threading.stack_size(512 << 20)
    t = threading.Thread(target=lambda: guarded(run, wasm, dirs, env, args, canonical_nans, result))
    t.start()
    t.join()
    if "error" in result:
        print("wasmtime_run: " + result["error"], file=sys.stderr)
        return 3
    sys.stdout.buffer.write(result["stdout"])
    sys.stdout.flush()
    sys.stderr.buffer.write(result["stderr"])
    if result["trap"]:
        print(result["trap"], file=sys.stderr)
    return result["code"]


def guarded(f, *a):
    try:
        f(*a)
    except Exception as e:  # the helper's own failure, not the program's
        a[-1]["error"] = f"{type(e).__name__}: {e}"


if __name__ == "__main__":
    sys.exit(main())
