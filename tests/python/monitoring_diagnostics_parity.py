#!/usr/bin/env python3
"""monitoring_diagnostics_parity.py - monitoring/embedding_diagnostics.cpp vs torch.

For a few random float32 embedding matrices (including an almost rank-deficient one, as a
collapsed encoder produces), computes the effective rank (Roy & Vetterli) with torch in float64
from torch.linalg.svdvals of the matrix and compares with `monitoring_metrics_driver
diagnostics` given the same singular values. Tolerance: relative 1e-9. (Alignment and
uniformity are torch code in evaluation/embedding_geometry.cpp, tested in test_trainer.)
"""
import json
import os
import subprocess
import sys
import tempfile

import torch

SOURCE = os.environ.get("SIMCSEPP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("SIMCSEPP_BUILD_DIR", os.path.join(SOURCE, "build"))
DRIVER = os.path.join(BUILD, "bin", "monitoring_metrics_driver")
RTOL = 1e-9


def reference(x):
    s = torch.linalg.svdvals(x.double())
    p = s / s.sum()
    p = p[p > 0]
    erank = torch.exp(-(p * p.log()).sum()).item()
    return s, {"effective_rank": erank}


def main():
    gen = torch.Generator().manual_seed(7)
    cases = []
    for rows, dim in ((2, 3), (64, 32), (128, 768)):
        cases.append((f"random {rows}x{dim}", torch.randn(rows, dim, generator=gen)))
    # Nearly collapsed: every row close to one direction (low effective rank).
    base = torch.randn(1, 64, generator=gen)
    cases.append(("collapsed 32x64", base + 1e-3 * torch.randn(32, 64, generator=gen)))

    worst = 0.0
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, x in cases:
            s, ref = reference(x.float())
            path = os.path.join(tmp, "input.txt")
            with open(path, "w") as f:
                f.write(f"{len(s)}\n" + " ".join(repr(v) for v in s.tolist()) + "\n")
            out = subprocess.run([DRIVER, "diagnostics", path], capture_output=True, text=True, check=True, timeout=60)
            got = json.loads(out.stdout)
            for key, want in ref.items():
                err = abs(got[key] - want) / max(abs(want), 1e-12)
                worst = max(worst, err)
                print(f"{name:18s} {key:15s} simcsepp {got[key]:.12g}  torch {want:.12g}  rel err {err:.2e}")
                if err > RTOL:
                    failures.append(f"{name} {key}: {got[key]} vs {want}")
    print(f"worst relative error {worst:.2e} (tolerance {RTOL})")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
