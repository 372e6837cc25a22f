"""The paper's Fig. 2 reproduced: mean(y·Δ) on train and test vs χ for NNGP, tree level, one loop and the exact
posterior (docs/theory.md §10), all through one mc.sweep.

Setting: Ising task mc.make_task(mc.TaskSpec()) (P = 80, D = 200, p = 0.1, P* = 1000, seed 0); N = 100, κ0 = 1,
g_v = g_w = 0.5; χ ∈ {1, 2, 5, 10, 20, 50, 100}.

"exact" columns:
* Gibbs: method "exact" (blocked Gibbs, docs/theory.md §7) ± its standard error (target ≤ 3e-5);
* quad: method "quadrature" (the exact posterior mean by 1-D quadrature, §7.4), cross-checked against the
  independent quadrature of tests/reference/brute_one_loop.exact_mean_delta (an integral over C for the kernel).
Check: |one loop − Gibbs| ≤ 3 s.e. + 1e-4 on train and test.

Run: python bench/fig2_table.py [--sweeps 2000] [--chains 64] [--no-gibbs]   (minutes: the sampler dominates)
Default environment (no thread variables): the library's thread policy decides.
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
from reference.brute_one_loop import exact_mean_delta  # noqa: E402

CHIS = (1, 2, 5, 10, 20, 50, 100)
#: Target: one loop within 3 standard errors + ABS_TOL of the Gibbs value; Gibbs s.e. at most SE_TARGET.
N_SE, ABS_TOL, SE_TARGET = 3.0, 1e-4, 3e-5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweeps", type=int, default=2000, help="sweeps per χ, burn-in included (s.e. ≈ 2–3e-5)")
    ap.add_argument("--burn-in", type=int, default=100)
    ap.add_argument("--chains", type=int, default=64)
    ap.add_argument("--no-gibbs", action="store_true", help="skip the sampler (quadrature only)")
    args = ap.parse_args()

    task = mc.make_task(mc.TaskSpec())
    X, y, Xs, ys = task.X, task.y, task.X_test, task.y_test
    spec = mc.NetworkSpec(width=100, chi=1.0, kappa0=1.0, g_v=0.5, g_w=0.5)
    methods = ("nngp", "tree", "one_loop", "quadrature") + (() if args.no_gibbs else ("exact",))
    options = {} if args.no_gibbs else {"exact": dict(n_chains=args.chains, n_sweeps=args.sweeps,
                                                       burn_in=args.burn_in, seed=0)}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.ScaleWarning)
        res = mc.sweep(X, y, spec, chis=CHIS, methods=methods, X_test=Xs, y_test=ys, options=options,
                       progress=lambda d, t, i: print(f"{d}/{t} {i['method']} χ={i['chi']:g} "
                                                      f"{time.strftime('%H:%M:%S')}", file=sys.stderr, flush=True))
    wall = time.perf_counter() - t0
    t = res.table.set_index(["method", "chi"])
    C0 = linear_kernel(X, X, spec)
    # independent exact reference: the posterior mean as an integral over the kernel (tests/reference)
    ref_gap = max(abs(float(np.mean(y * exact_mean_delta(C0, y, spec.width, float(chi), spec.kappa0)))
                      - t.loc[("quadrature", float(chi)), "train_mean_y_delta"]) for chi in CHIS)

    print(f"Fig.-2 setting: Ising P={X.shape[0]}, D={X.shape[1]}, P*={Xs.shape[0]}, N={spec.width}, "
          f"kappa0={spec.kappa0}, g_v=g_w={spec.g_v}; one mc.sweep over {len(CHIS)} χ: {wall:.1f} s "
          f"(theory: {sum(res.seconds[m] for m in ('nngp', 'tree', 'one_loop')):.2f} s)")
    ok_all, se_max = True, 0.0
    for split in ("train", "test"):
        col = f"{split}_mean_y_delta"
        print(f"\n**{split} mean(y·Δ)**\n")
        head = "| χ | NNGP | tree | one loop | exact (Gibbs ± s.e.) | exact (quadrature) | 1L − Gibbs | ok |"
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for chi in map(float, CHIS):
            v = {m: t.loc[(m, chi), col] for m in methods}
            if "exact" in methods:
                se = t.loc[("exact", chi), f"{col}_se"]
                se_max = max(se_max, se)
                ok = abs(v["one_loop"] - v["exact"]) <= N_SE * se + ABS_TOL
                ok_all &= ok
                gib, diff, oks = f"{v['exact']:.5f} ± {se:.5f}", f"{v['one_loop'] - v['exact']:+.1e}", \
                    "yes" if ok else "NO"
            else:
                gib = diff = oks = "–"
            print(f"| {chi:g} | {v['nngp']:.5f} | {v['tree']:.5f} | {v['one_loop']:.5f} | {gib} | "
                  f"{v['quadrature']:.5f} | {diff} | {oks} |")
    print("\none loop − quadrature (train): " + ", ".join(
        f"χ={c:g}: {t.loc[('one_loop', float(c)), 'train_mean_y_delta'] - t.loc[('quadrature', float(c)), 'train_mean_y_delta']:+.1e}"
        for c in CHIS))
    print(f"library quadrature vs the independent reference (train mean(y·Δ)): max gap {ref_gap:.1e}")
    print("one-loop flags: " + ", ".join(f"χ={c:g}: {t.loc[('one_loop', float(c)), 'flags'] or '-'}" for c in CHIS))
    if "exact" in methods:
        ex = res.results["exact"]
        print(f"Gibbs: {args.chains} chains × {args.sweeps} sweeps (burn-in {args.burn_in}); max s.e. {se_max:.1e} "
              f"(target ≤ {SE_TARGET:.0e}); R̂ max {max(r.r_hat for r in ex):.4f}; sampler time "
              f"{res.seconds['exact']:.0f} s")
        print(f"TARGETS (one loop within {N_SE:g} s.e. + {ABS_TOL:g} of Gibbs, train and test, all χ): "
              f"{'PASS' if ok_all else 'FAIL'}; s.e. target {'met' if se_max <= SE_TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
