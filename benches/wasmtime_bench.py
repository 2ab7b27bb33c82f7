#!/usr/bin/env python3
"""wasmtime (PyPI `wasmtime`) side of `cargo xtask bench`.

usage: wasmtime_bench.py compile WASM OUT.cwasm   -> stdout: "compile-seconds S"
       wasmtime_bench.py run OUT.cwasm [ARG...]   -> program output on stdout,
                                                     "run-seconds S" on stderr (last line)

`compile` times only `wasmtime.Module(engine, bytes)` (Cranelift compilation of the
whole module, wasmtime's default parallel compile), then serializes it.
`run` loads the precompiled module (`Module.deserialize_file`, so no compile time is
counted), instantiates it with WASI, and times only the `_start` call: interpreter
start-up, module loading and instantiation are excluded, which favours wasmtime
slightly over wasmc, whose times are whole-process times.
"""
import sys
import time


def engine():
    import wasmtime
    return wasmtime.Engine(wasmtime.Config())  # defaults on both sides: same engine config


def compile_(wasm, out):
    import wasmtime
    data = open(wasm, "rb").read()
    e = engine()
    t0 = time.perf_counter()
    m = wasmtime.Module(e, data)
    t1 = time.perf_counter()
    with open(out, "wb") as f:
        f.write(m.serialize())
    print(f"compile-seconds {t1 - t0:.6f}")


def run(cwasm, args):
    import wasmtime
    e = engine()
    store = wasmtime.Store(e)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [cwasm.rsplit("/", 1)[-1]] + args
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    store.set_wasi(wasi)
    linker = wasmtime.Linker(e)
    linker.define_wasi()
    module = wasmtime.Module.deserialize_file(e, cwasm)
    inst = linker.instantiate(store, module)
    start = inst.exports(store)["_start"]
    code = 0
    t0 = time.perf_counter()
    try:
        start(store)
    except wasmtime.ExitTrap as t:
        code = t.code
    t1 = time.perf_counter()
    sys.stdout.flush()
    print(f"run-seconds {t1 - t0:.6f}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    try:
        if sys.argv[1] == "compile":
            compile_(sys.argv[2], sys.argv[3])
        elif sys.argv[1] == "run":
            run(sys.argv[2], sys.argv[3:])
        else:
            raise SystemExit(f"unknown mode {sys.argv[1]}")
    except ImportError as e:
        print(f"wasmtime_bench.py: cannot import wasmtime ({e}): pip install wasmtime", file=sys.stderr)
        sys.exit(3)
