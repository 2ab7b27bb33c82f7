#!/usr/bin/env python3
"""Runs testsuite fixtures through run_wasm.py (wasmtime code + wasmc's WASI layer)
and compares stdout and exit status with their .expect files. Trap fixtures are
skipped (traps are the compiler's business). usage: check_fixtures.py [NAME...]"""
import os
import shlex
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, "../../../../testsuite/fixtures"))
fails = 0
for kind in ("c", "rust", "wat"):
    d = os.path.join(root, kind)
    if not os.path.isdir(d):
        continue
    for f in sorted(os.listdir(d)):
        if not f.endswith(".wasm"):
            continue
        name = f[:-5]
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        exp = open(os.path.join(d, name + ".expect")).read()
        head, _, stdout = exp.partition("--- stdout\n")
        args, env, gdir, code, trap = [], [], None, 0, False
        for line in head.splitlines():
            k, _, v = line.partition(":")
            v = v.strip()
            if k == "args": args = shlex.split(v)
            elif k == "env": env.append(v)
            elif k == "dir": gdir = v
            elif k == "exit": code = int(v)
            elif k == "trap": trap = True
            elif k == "stderr" and "trap" in v: trap = True
        if trap:
            continue
        cmd = [sys.executable, os.path.join(here, "run_wasm.py"), os.path.join(d, f)]
        with tempfile.TemporaryDirectory() as tmp:
            if gdir:
                cmd += ["--dir", tmp + "::" + gdir]
            for e in env:
                cmd += ["--env", e]
            cmd += ["--"] + args
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        ok = p.stdout == stdout and p.returncode == code
        print(("ok   " if ok else "FAIL ") + kind + "/" + name + ("" if ok else f" (exit {p.returncode}, want {code})"))
        if not ok:
            fails += 1
            sys.stdout.writelines(l + "\n" for l in __import__("difflib").unified_diff(
                stdout.splitlines(), p.stdout.splitlines(), "expected", "got", lineterm=""))
            sys.stdout.write(p.stderr[-2000:])
sys.exit(1 if fails else 0)
