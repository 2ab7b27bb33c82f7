#!/usr/bin/env python3
"""wasmtime (PyPI `wasmtime`) side of `cargo xtask bench`.

usage: wasmtime_bench.py compile [--canonical-nans] WASM OUT.cwasm
           -> stdout: "compile-seconds S"
       wasmtime_bench.py run [--canonical-nans] OUT.cwasm [ARG...]
           -> program output on stdout, "run-seconds S" on stderr (last line)

`--canonical-nans` turns on wasmtime's NaN canonicalisation
(`Config.cranelift_nan_canonicalization`), its mode for the same bits on every ISA,
which is what wasmc guarantees; a module must be run with the flag it was compiled with.

`compile` times only `wasmtime.Module(engine, bytes)` (Cranelift compilation of the
whole module, wasmtime's default parallel compile), then serializes it.
`run` loads the precompiled module (`Module.deserialize_file`, so no compile time is
counted), instantiates it with WASI, and times only the `_start` call: interpreter
start-up, module loading and instantiation are excluded, which favours wasmtime
slightly over wasmc, whose times are whole-process times.
"""
import sys
import time


def engine(canonical_nans):
    import wasmtime
    config = wasmtime.Config()  # defaults on both sides: same engine config
    config.cranelift_nan_canonicalization = canonical_nans
    return wasmtime.Engine(config)


def compile_(wasm, out, canonical_nans):
    import wasmtime
    data = open(wasm, "rb").read()
    e = engine(canonical_nans)
    t0 = time.perf_counter()
    m = wasmtime.Module(e, data)
    t1 = time.perf_counter()
    with open(out, "wb") as f:
        f.write(m.serialize())
    print(f"compile-seconds {t1 - t0:.6f}")


def run(cwasm, args, canonical_nans):
    import wasmtime
    e = engine(canonical_nans)
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
        mode, rest = sys.argv[1], sys.argv[2:]
        canonical_nans = rest[:1] == ["--canonical-nans"]
        if canonical_nans:
            rest = rest[1:]
        if mode == "compile":
            compile_(rest[0], rest[1], canonical_nans)
        elif mode == "run":
            run(rest[0], rest[1:], canonical_nans)
        else:
            raise SystemExit(f"unknown mode {mode}")
    except ImportError as e:
        print(f"wasmtime_bench.py: cannot import wasmtime ({e}): pip install wasmtime", file=sys.stderr)
        sys.exit(3)
