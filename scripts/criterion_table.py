#!/usr/bin/env python3
"""Reads criterion's text output on stdin and prints a Markdown table: benchmark,
median time, time per element (if a throughput was set) and throughput."""
import re
import sys

UNIT = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
name = None
rows = []
for line in sys.stdin:
    line = line.rstrip("\n")
    m = re.match(r"^(\S+/\S+)\s*(time:.*)?$", line)
    if m and not line.startswith(" ") and "Benchmarking" not in line and "Warning" not in line:
        name = m.group(1)
        line = m.group(2) or ""
    t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if t and name:
        rows.append([name, float(t.group(1)) * UNIT[t.group(2)], None])
        continue
    th = re.search(r"thrpt:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if th and rows and rows[-1][2] is None:
        scale = {"elem/s": 1, "Kelem/s": 1e3, "Melem/s": 1e6, "Gelem/s": 1e9}[th.group(2)]
        rows[-1][2] = float(th.group(1)) * scale

def fmt_t(s):
    for u, f in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= f:
            return f"{s / f:.3g} {u}"
    return f"{s / 1e-9:.3g} ns"

print("| benchmark | median time | per element | throughput |")
print("|---|---:|---:|---:|")
for n, t, th in rows:
    per = f"{1e9 / th:.2f} ns" if th else ""
    thr = f"{th / 1e6:.2f} M/s" if th else ""
    print(f"| `{n}` | {fmt_t(t)} | {per} | {thr} |")
