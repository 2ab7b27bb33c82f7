#!/usr/bin/env python3
"""Plots the downtime of each hop of `cargo xtask continuum`, stop-and-copy against
pre-copy, per memory size.
usage: plot_continuum.py DATA.csv OUT.png"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")  # no display on CI
import matplotlib.pyplot as plt

rows = list(csv.DictReader(open(sys.argv[1])))
labels = []
for r in rows:
    key = (r["mib"], r["hop"])
    if key not in labels:
        labels.append(key)
fig, ax = plt.subplots(figsize=(9, 4.5))
width = 0.4
for i, mode in enumerate(("stop-and-copy", "pre-copy")):
    ys = []
    for mib, hop in labels:
        v = [float(r["downtime_ms"]) for r in rows if r["mib"] == mib and r["hop"] == hop and r["mode"] == mode]
        ys.append(v[0] if v else 0.0)
    ax.bar([x + (i - 0.5) * width for x in range(len(labels))], ys, width, label=mode)
ax.set_xticks(range(len(labels)))
ax.set_xticklabels([f"{hop}\n{mib} MiB" for mib, hop in labels], fontsize=7)
ax.set_yscale("log")
ax.set_ylabel("downtime (ms)")
ax.set_title("wasmc live migration: downtime per hop (emulated cloud-edge-device links)")
ax.grid(True, axis="y", which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
