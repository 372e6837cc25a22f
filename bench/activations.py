"""tanh, GELU and softplus networks: tree level and one loop against Langevin networks (docs/theory.md §9.7).

The app's Teaching problem (Ising P = 20, P* = 300, D = 50, p = 0.1; N = 50, κ0 = 1, g_v = g_w = 0.5) at χ = 1 and
χ = N. For each activation prints train mean(y·Δ) of
  NNGP | tree level (the activation's default ansatz) | one loop (variant "auto") | networks (Langevin, ± s.e.)
the share of the networks' finite-width shift each theory captures, share = (theory − NNGP)/(networks − NNGP), and
the miss |theory − networks| in standard errors of the networks. A theory "holds" when its miss is ≤ 3 s.e. or its
share is within 80–120 %; every other cell is a miss, printed as such.

The kernels of these activations are numerical (Gauss–Hermite, 64 nodes); the solvers are called directly (the
sweep's method table lists activations by name until it reads the registry).

Usage:
  python bench/activations.py                     # everything (~10 min of CPU on the shared machine)
  python bench/activations.py --only tanh --steps 8000
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mastcore as mc  # noqa: E402

TASK = mc.TaskSpec(name="ising", P=20, P_test=300, D=50, p=0.1, seed=0)
NET = dict(width=50, kappa0=1.0, g_v=0.5, g_w=0.5)
ACTIVATIONS = ("tanh", "gelu", "softplus")
#: Langevin networks per ensemble and steps per network (a fifth burn-in).
ENSEMBLE, STEPS = 16, 20000
#: A theory holds when within HOLD_SE standard errors of the networks or within HOLD_SHARE of their shift.
HOLD_SE, HOLD_SHARE = 3.0, (0.8, 1.2)


def mean_y_delta(y, f):
    return float(np.mean(y * (y - f)))


def run(act: str, chi: float, X, y, steps: int) -> dict:
    spec = mc.NetworkSpec(chi=chi, activation=act, **NET)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        out["nngp"] = mean_y_delta(y, mc.nngp(X, y, spec).f_train)
        tree = mc.tree_level(X, y, spec)
        out["tree"], out["tree_s"] = mean_y_delta(y, tree.f_train), time.perf_counter() - t0
        t0 = time.perf_counter()
        loop = mc.one_loop(X, y, spec, tree=tree)
        out["loop"], out["loop_s"] = mean_y_delta(y, loop.f_train), time.perf_counter() - t0
        out["loop_variant"] = getattr(loop, "variant", "")
        t0 = time.perf_counter()
        net = mc.train_langevin(X, y, spec, options=mc.LangevinOptions(ensemble=ENSEMBLE, steps=steps,
                                                                       burn_in=steps // 5, seed=1))
        out["net"], out["net_s"] = mean_y_delta(y, net.f_train), time.perf_counter() - t0
        out["net_se"] = float(net.se_of(y / len(y)))
        out["rhat"] = float(net.r_hat)
    return out


def verdict(theory, r) -> str:
    shift = r["net"] - r["nngp"]
    share = (theory - r["nngp"]) / shift if shift else float("nan")
    miss = abs(theory - r["net"]) / r["net_se"]
    holds = miss <= HOLD_SE or HOLD_SHARE[0] <= share <= HOLD_SHARE[1]
    return f"{100 * share:6.0f} % {miss:6.1f} s.e. {'holds' if holds else 'MISS '}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=ACTIVATIONS, choices=ACTIVATIONS)
    ap.add_argument("--steps", type=int, default=STEPS)
    args = ap.parse_args(argv)
    task = mc.make_task(TASK)
    X, y = task.X, task.y
    N = NET["width"]
    print(f"Ising P={TASK.P}, D={TASK.D}; N={N}, κ0={NET['kappa0']}, g_v=g_w={NET['g_v']}; "
          f"{ENSEMBLE} networks × {args.steps} steps; train mean(y·Δ)")
    print("| φ | χ | NNGP | tree | one loop | networks ± s.e. (R̂) | tree: share, miss | one loop: share, miss |")
    print("|---|---|---|---|---|---|---|---|")
    for act in args.only:
        for chi in (1.0, float(N)):
            r = run(act, chi, X, y, args.steps)
            print(f"| {mc.ACTIVATIONS[act].label} | {chi:g} | {r['nngp']:.5f} | {r['tree']:.5f} | {r['loop']:.5f} "
                  f"| {r['net']:.5f} ± {r['net_se']:.5f} ({r['rhat']:.2f}) | {verdict(r['tree'], r)} "
                  f"| {verdict(r['loop'], r)} |", flush=True)
            print(f"  (tree {r['tree_s']:.1f} s, one loop {r['loop_s']:.1f} s, networks {r['net_s']:.1f} s)",
                  file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
