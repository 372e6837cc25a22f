"""Accuracy of NNGP / tree level / one loop against the exact posterior on small problems (docs/theory.md §8.4,
§10). Every theory runs through mc.sweep (one sweep over χ ∈ {1, N} per width).

Problems: P = 4, 5, 6 (D = 6, 8, 10), κ0 = 0.3, g_v = g_w = 1, N = 8 … 256, χ = 1 and χ = N.
Exact reference: the posterior mean by 1-D quadrature (tests/reference/brute_one_loop.exact_mean_delta: for the linear net
the posterior of the readout norm is one-dimensional). Its numerical error (600 vs 1200 Gauss–Legendre nodes) is
printed and is ~1e-16, far below the smallest one-loop error resolved (~1e-6 at N = 256): no statistical error.
With --gibbs the quadrature is also checked against mc.exact_posterior at a few points (in units of its s.e.).
Error = ‖⟨Δ⟩_method − ⟨Δ⟩_exact‖₂/√P. Slopes are log-log least-squares fits over N ∈ {64, 128, 256} and
{32, …, 256}.

Run: python bench/one_loop_accuracy.py [--gibbs]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import numpy as np  # noqa: E402

import mastcore as mc  # noqa: E402
from mastcore.theory.kernels.nngp import linear_kernel  # noqa: E402
from reference.brute_one_loop import exact_mean_delta, small_problem  # noqa: E402

NS = (8, 16, 32, 64, 128, 256)
PROBLEMS = ((4, 6, 0), (5, 8, 1), (6, 10, 2))
KAPPA0 = 0.3
METHODS = ("nngp", "tree", "one loop", "one loop (s.c.)")


def _slope(Ns, err, k):
    return float(np.polyfit(np.log(Ns[-k:]), np.log(err[-k:]), 1)[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gibbs", action="store_true", help="cross-check the quadrature with mc.exact_posterior")
    args = ap.parse_args()
    t0 = time.perf_counter()
    Ns = np.array(NS, dtype=float)
    summary, quad_err = [], 0.0
    ok = True
    for P, D, seed in PROBLEMS:
        X, y = small_problem(P, D, seed)
        errs = {"chi=1": np.zeros((len(NS), len(METHODS))), "chi=N": np.zeros((len(NS), len(METHODS)))}
        for i, N in enumerate(NS):
            spec = mc.NetworkSpec(width=N, chi=1.0, kappa0=KAPPA0, g_v=1.0, g_w=1.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", mc.LoopBreakdownWarning)
                pert = mc.sweep(X, y, spec, chis=[1.0, float(N)], methods=("nngp", "tree", "one_loop"),
                                options={"one_loop": {"kernel_variance": False}})
                sc = mc.sweep(X, y, spec, chis=[1.0, float(N)], methods=("one_loop",),
                              options={"one_loop": {"variant": "self_consistent", "kernel_variance": False}})
            for regime, chi in (("chi=1", 1.0), ("chi=N", float(N))):
                C0 = linear_kernel(X, X, spec)
                ex = exact_mean_delta(C0, y, N, chi, KAPPA0)
                quad_err = max(quad_err, float(np.max(np.abs(ex - exact_mean_delta(C0, y, N, chi, KAPPA0, 1200)))))
                deltas = [y - pert.at(m, chi).f_train for m in ("nngp", "tree", "one_loop")]
                deltas.append(y - sc.at("one_loop", chi).f_train)
                errs[regime][i] = [np.linalg.norm(d - ex) / np.sqrt(P) for d in deltas]
        for regime in ("chi=1", "chi=N"):
            e = errs[regime]
            print(f"\nP = {P}, D = {D}, {regime}: error ‖Δ − Δ_exact‖/√P")
            print("| N | " + " | ".join(METHODS) + " |")
            print("|---" * (len(METHODS) + 1) + "|")
            for i, N in enumerate(NS):
                print(f"| {N} | " + " | ".join(f"{v:.2e}" for v in e[i]) + " |")
            s3 = [_slope(Ns, e[:, k], 3) for k in range(len(METHODS))]
            s4 = [_slope(Ns, e[:, k], 4) for k in range(len(METHODS))]
            print("| slope N∈{64,128,256} | " + " | ".join(f"{v:+.2f}" for v in s3) + " |")
            print("| slope N∈{32..256} | " + " | ".join(f"{v:+.2f}" for v in s4) + " |")
            beats = bool(np.all(e[:, 2] < e[:, 1]))
            summary.append((P, regime, s3[1], s3[2], beats))
            if regime == "chi=1":
                ok &= s3[2] <= -1.8 and -1.2 < s3[1] < -0.8
            else:
                ok &= beats
    print(f"\nquadrature reference: max |600 nodes − 1200 nodes| = {quad_err:.1e}")
    if args.gibbs:
        X, y = small_problem(5, 8, 1)
        for N, chi in ((16, 1.0), (32, 32.0)):
            spec = mc.NetworkSpec(width=N, chi=chi, kappa0=KAPPA0, g_v=1.0, g_w=1.0)
            g = mc.sweep(X, y, spec, chis=[chi], methods=("exact",),
                         options={"exact": dict(n_chains=64, n_sweeps=3000, burn_in=200, seed=2)}).at("exact", chi)
            ex = exact_mean_delta(linear_kernel(X, X, spec), y, N, chi, KAPPA0)
            z = ((y - g.f_train) - ex) / g.se_train
            print(f"Gibbs vs quadrature, P=5, N={N}, chi={chi:g}: (Gibbs − quad)/s.e. = {np.round(z, 2)}")
    print("\nsummary (slopes over N ∈ {64, 128, 256}):")
    for P, regime, st, sl, beats in summary:
        print(f"  P={P} {regime}: tree slope {st:+.2f}, one-loop slope {sl:+.2f}, one loop < tree at every N: {beats}")
    print(f"TARGETS (χ=1: one-loop slope ≤ −1.8 and tree ≈ −1; χ=N: one loop < tree at every N): "
          f"{'PASS' if ok else 'FAIL'}   [{time.perf_counter() - t0:.0f} s]")


if __name__ == "__main__":
    main()
