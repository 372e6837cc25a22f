"""Speed of the theory core (docs/theory.md §11.2), printed as a markdown table.

1. Annealed tree level (Algorithm 1, warm starts) over 30 log-spaced χ ∈ [1, N], N = 100, on the Ising task at
   P = 80, D = 200 (target < 0.5 s) and P = 400, D = 800 (target < 10 s).
2. Exact posterior sampler (mastcore.exact_posterior, 64 chains) on the paper's Fig.-2 setting (Ising P = 80,
   D = 200, N = 100, κ0 = 1, g_v = g_w = 0.5, p = 0.1) at χ = 1 and χ = 100: a 200-sweep pilot sizes the run,
   then the run that reaches s.e. ≤ 1e-4 on every training point is timed (target ≤ 60 s). Its agreement with
   the exact quadrature (mastcore.posterior.quadrature.posterior_quadrature) is reported as the largest |Δ|/s.e. over the 80 points.
3. The exact posterior mean by quadrature on the same setting.

The machine may be shared: wall and CPU (process) seconds are both printed, with the load average, and each
timing also in units of a baseline measured in the same run (a dense 400×400 symmetric eigendecomposition).

BLAS threads: the run uses --blas-threads (default 1) through threadpoolctl. On a shared, oversubscribed machine a
multi-threaded BLAS spins and inflates every timing several-fold (eigh(400×400): 20 ms → ~800 ms at load 11 on
2 cores); exact_posterior itself always runs its small per-chain algebra single-threaded.

Run: python bench/theory_speed.py [--blas-threads N]
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mastcore as mc  # noqa: E402
from mastcore.posterior.gibbs import exact_posterior, posterior_quadrature  # noqa: E402

SE_TARGET = 1e-4


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def baseline() -> float:
    A = np.random.default_rng(0).standard_normal((400, 400))
    A = A @ A.T
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.linalg.eigh(A)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def tree_sweep(P: int, D: int, N: int = 100):
    X, y = mc.ising(P, D, 0.1, seed=0)
    spec = mc.NetworkSpec(width=N, chi=1.0, g_v=0.5, g_w=0.5, kappa0=1.0)
    chis = np.logspace(0, np.log10(N), 30)
    sweep, wall, cpu = timed(lambda: mc.anneal(X, y, spec, chis, methods=("tree",)))
    res = sweep.results["tree"]
    return wall, cpu, max(r.residual for r in res), sum(r.n_iter for r in res)


def sampler(chi: float):
    task = mc.make_task(mc.TaskSpec(name="ising", P=80, P_test=1000, D=200, p=0.1, seed=0))
    spec = mc.NetworkSpec(width=100, chi=chi, g_v=0.5, g_w=0.5, kappa0=1.0)
    burn = 100
    pilot = exact_posterior(task.X, task.y, spec, n_chains=64, n_sweeps=burn + 100, burn_in=burn, seed=1)
    kept = math.ceil(100 * 1.5 * (pilot.se_train.max() / SE_TARGET) ** 2)  # 50 % margin
    kept = max(kept, 100)
    run, wall, cpu = timed(lambda: exact_posterior(task.X, task.y, spec, n_chains=64, n_sweeps=burn + kept,
                                                   burn_in=burn, seed=2))
    quad, qwall, _ = timed(lambda: posterior_quadrature(task.X, task.y, spec))
    z = float(np.max(np.abs(run.f_train - quad.f_train) / run.se_train))
    return dict(chi=chi, sweeps=burn + kept, wall=wall, cpu=cpu, se=float(run.se_train.max()),
                se_yd=run.se_of(-task.y / task.y.size), z=z, r_hat=run.r_hat, quad_wall=qwall,
                quad_err=quad.error_estimate, yd=float(np.mean(task.y * (task.y - quad.f_train))))


def main():
    import argparse

    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blas-threads", type=int, default=1)
    args = parser.parse_args()
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        _main(args.blas_threads)


def _main(threads: int):
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    base = baseline()
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs; BLAS threads {threads}; "
          f"baseline eigh(400×400) = {base * 1e3:.1f} ms\n", flush=True)
    print("| measurement | target | wall s | CPU s | wall / baseline | detail |")
    print("|---|---|---|---|---|---|")
    for P, D, target in ((80, 200, 0.5), (400, 800, 10.0)):
        wall, cpu, resid, iters = tree_sweep(P, D)
        print(f"| tree level, anneal 30 χ, P={P}, D={D}, N=100 | < {target:g} s | {wall:.2f} | {cpu:.2f} | "
              f"{wall / base:.0f} | max residual {resid:.1e}, {iters} outer iterations |", flush=True)
    for chi in (1.0, 100.0):
        s = sampler(chi)
        print(f"| exact_posterior to s.e. ≤ 1e-4, Fig. 2, χ={chi:g} | ≤ 60 s | {s['wall']:.1f} | {s['cpu']:.1f} | "
              f"{s['wall'] / base:.0f} | 64 chains × {s['sweeps']} sweeps: max s.e. {s['se']:.1e}, s.e. of "
              f"mean(y·Δ) {s['se_yd']:.1e}, max \\|Δ\\|/s.e. vs quadrature {s['z']:.1f}, R̂ {s['r_hat']:.3f} |", flush=True)
        print(f"| posterior_quadrature (exact mean), Fig. 2, χ={chi:g} | — | {s['quad_wall']:.2f} | — | "
              f"{s['quad_wall'] / base:.0f} | mean(y·Δ) = {s['yd']:.5f}, doubling error {s['quad_err']:.0e} |", flush=True)


if __name__ == "__main__":
    main()
