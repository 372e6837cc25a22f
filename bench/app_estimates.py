"""The app's time estimates against the time the work then takes, on both presets and all three activations.

Run: ``python bench/app_estimates.py [--skip-slow]``. Target: estimate / measured within 0.5–2× (the app shows
"about N s", decides between running at once, a button and a refusal, and shows the time left from it).

What is compared: ``mastcore_dashboard.compute.estimate_seconds`` (mc.estimate_sweep, calibrated once per process on this
machine exactly as in the app) and the wall time of the same ``mc.sweep`` with the app's options (``cache=False``),
in this order, in one process: so the first Langevin run includes torch's import (about 0.6 s), as the app's first
one does. χ values: the app's grids (25 points for linear networks, 9 for erf/ReLU) for the tree level and the
linear one loop; χ ∈ {1, N} for the erf/ReLU one loop (its "auto" variant: the renormalised one loop, or the one
loop around the particle saddle where the neuron law is far from the prior); the grid's middle χ for the samplers.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MASTCORE_CACHE_DIR", tempfile.mkdtemp(prefix="mastcore-bench-"))

import mastcore as mc  # noqa: E402
from mastcore_dashboard import compute  # noqa: E402
from mastcore_dashboard.state import N_CHI, N_CHI_SLOW, PRESETS, Settings, chi_grid  # noqa: E402

#: (method, options) per row; the samplers shortened as the app's Networks page would run them.
RUNS = [("tree", None), ("one_loop", None), ("quadrature", None),
        ("exact", {"exact": dict(n_chains=16, n_sweeps=400, burn_in=50)}),
        ("langevin", {"langevin": dict(ensemble=8, steps=1000, burn_in=100)})]


def _chis(method: str, act: str, width: int) -> list[float]:
    grid = [float(c) for c in chi_grid(width, N_CHI if act == "linear" else N_CHI_SLOW)]
    if method == "one_loop" and act != "linear":
        return [1.0, float(width)]
    return grid if method in ("tree", "one_loop") else [grid[len(grid) // 2]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-slow", action="store_true", help="leave out the erf/ReLU one loop at the Fig.-2 preset "
                                                              "(about two minutes)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print("| preset | activation | method | χ points | estimated | measured | ratio |")
    print("|---|---|---|---|---|---|---|")
    inside = total = 0
    for preset in PRESETS:
        for act in ("linear", "erf", "relu"):
            s = Settings.from_preset(preset).replace(activation=act)
            task = compute.build_task(s)
            for method, opts in RUNS:
                if act != "linear" and method in ("quadrature", "exact"):
                    continue
                if args.skip_slow and method == "one_loop" and act != "linear" and preset != list(PRESETS)[0]:
                    continue
                if method == "tree" and act != "linear":
                    opts = {"tree": {"ansatz": s.ansatz}}
                chis = _chis(method, act, s.width)
                est = compute.estimate_seconds(s, (method,), chis, options=opts, task=task)
                t0 = time.perf_counter()
                mc.sweep(task.X, task.y, s.network_spec(1.0), chis=chis, methods=(method,), X_test=task.X_test,
                         options=opts, cache=False)
                took = time.perf_counter() - t0
                ratio = est / took
                total += 1
                inside += 0.5 <= ratio <= 2.0
                print(f"| {preset} | {act} | {method} | {len(chis)} | {est:.3g} s | {took:.3g} s | {ratio:.2f} |",
                      flush=True)
    print(f"\nWithin 0.5–2×: {inside} of {total}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
