#!/usr/bin/env python3
"""Plots checkpoint cost, restore time and the write floor vs linear-memory size.
usage: plot_checkpoint.py DATA.csv OUT.png   (written by `cargo xtask bench`)"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")  # no display on CI
import matplotlib.pyplot as plt

rows = list(csv.DictReader(open(sys.argv[1])))
fig, ax = plt.subplots(figsize=(7, 4.5))
for kind, marker in (("dense", "o"), ("sparse", "s")):
    pts = [r for r in rows if r["kind"] == kind]
    x = [float(r["mib"]) for r in pts]
    ax.plot(x, [max(float(r["cost_ms"]), 0.01) for r in pts], marker=marker, label=f"checkpoint, {kind}")
    ax.plot(x, [float(r["restore_ms"]) for r in pts], marker=marker, linestyle=":", label=f"restore (whole process), {kind}")
    if kind == "dense":
        ax.plot(x, [float(r["floor_ms"]) for r in pts], linestyle="--", color="gray", label="write floor (dense size)")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("linear memory grown (MiB)")
ax.set_ylabel("milliseconds")
ax.set_title("wasmc checkpoint cost vs memory size (10 frames, x86_64)")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
