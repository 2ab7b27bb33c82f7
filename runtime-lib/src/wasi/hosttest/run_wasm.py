#!/usr/bin/env python3
"""Run a wasm32-wasi program with wasmtime executing the code but every WASI call
served by wasmc's WASI layer (this crate built as a cdylib), so the layer can be
checked end to end with real wasi-libc / Rust std programs before (or independently
of) the compiler.

usage: run_wasm.py WASM [--dir HOST::GUEST]... [--env K=V]... [-- ARG...]
       (cargo build first: target/debug/libwasmc_wasi_hosttest.so)
"""
import ctypes
import os
import sys

import wasmtime

here = os.path.dirname(os.path.abspath(__file__))


class VmCtx(ctypes.Structure):
    _fields_ = [("mig_state", ctypes.c_uint32), ("pad0", ctypes.c_uint32),
                ("depth_left", ctypes.c_uint64), ("memory_base", ctypes.c_uint64),
                ("memory_size", ctypes.c_uint64), ("module", ctypes.c_uint64),
                ("runtime", ctypes.c_uint64)]


def main(argv):
    wasm, dirs, env, args = None, [], [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--":
            args = argv[i + 1:]
            break
        if argv[i] in ("--dir", "--env"):
            (dirs if argv[i] == "--dir" else env).append(argv[i + 1])
            i += 2
            continue
        wasm = argv[i]
        i += 1
    name = os.path.basename(wasm).removesuffix(".wasm")
    os.environ["HOSTTEST_ARGS"] = "\x1f".join([name] + args)
    os.environ["HOSTTEST_ENV"] = "\x1f".join(env)
    lib = ctypes.CDLL(os.environ.get("HOSTTEST_LIB", os.path.join(here, "target/debug/libwasmc_wasi_hosttest.so")))
    spec = ",".join(dirs).encode()
    if lib.hosttest_init(spec if dirs else None, len(spec)) != 0:
        return 125

    cfg = wasmtime.Config()
    cfg.max_wasm_stack = 2 << 20  # as testsuite/wasmtime_run.py: deep-recursion fixtures
    engine = wasmtime.Engine(cfg)
    store = wasmtime.Store(engine)
    module = wasmtime.Module.from_file(engine, wasm)
    linker = wasmtime.Linker(engine)
    vm = VmCtx()
    for imp in module.imports:
        if imp.module not in ("wasi_snapshot_preview1", "wasi_unstable"):
            continue
        ty = imp.type
        f = getattr(lib, "wasmc_wasi_" + imp.name)
        f.argtypes = [ctypes.POINTER(VmCtx)] + [
            ctypes.c_int32 if str(p) == "i32" else ctypes.c_int64 for p in ty.params]
        f.restype = ctypes.c_int32 if ty.results else None

        def wrapper(caller, *a, f=f):
            mem = caller["memory"]
            vm.memory_base = ctypes.cast(mem.data_ptr(caller), ctypes.c_void_p).value
            vm.memory_size = mem.data_len(caller)
            return f(ctypes.byref(vm), *a)

        linker.define_func(imp.module, imp.name, ty, wrapper, access_caller=True)
    inst = linker.instantiate(store, module)
    inst.exports(store)["_start"](store)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
