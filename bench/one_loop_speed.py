"""Speed and memory of the one loop: structured (mastcore.one_loop) vs dense Schur form (docs/theory.md §6.4).

Each measurement runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its own; the import
baseline (python + numpy + mastcore, measured in the same subprocess before the solve) is reported separately.
Data: Ising task with P train points, D = 2P (full rank), N = 2P, χ = 10, κ0 = 1, g = 0.5. The tree level is
solved first and not timed. "structured" = the public mc.one_loop(..., tree=tree) including the (P, P) kernel
variance; "dense" = reference.one_loop_dense.dense_perturbative (O(P⁶) time, O(P⁴) memory), which also returns
the kernel variance. Targets: ≥ 10× faster at P = 80; P = 200 < 10 s, P = 400 < 2 min, < 4 GB.
The machine is shared (2 cores): compare the ratios measured in the same run. Default configuration: no
*_NUM_THREADS is set in the subprocesses, mastcore's thread policy decides (the dense reference, which is not a
mastcore solver, runs under the policy's choice for the one loop of the same size).

Run: python bench/one_loop_speed.py
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # tests/reference: the dense O(P⁶) reference


def _worker(method: str, P: int) -> dict:
    import warnings

    import numpy as np

    import mastcore as mc
    from reference import one_loop_dense as dense
    from mastcore.theory.tree.linear import reduce_problem

    task = mc.make_task(mc.TaskSpec(P=P, D=2 * P, P_test=10, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = mc.NetworkSpec(width=2 * P, chi=10.0, kappa0=1.0, g_v=0.5, g_w=0.5)
    tree = mc.tree_level(task.X, task.y, spec)
    red, _ = reduce_problem(task.X, task.y, spec)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    t0, c0 = time.perf_counter(), time.process_time()
    if method == "structured":
        r = mc.one_loop(task.X, task.y, spec, tree=tree)
        delta, parts = r.delta, r.timings
    else:
        from mastcore._plumbing import threads as _threads

        with _threads.policy("one_loop", P=P, D=2 * P, width=2 * P):
            d = dense.dense_perturbative(red.C0, red.y, tree.C, spec.width, spec.chi, spec.kappa0)
        delta, parts = d["delta_tree"] + d["delta_shift"] + d["delta_fluct"], {}
    sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(method=method, P=P, seconds=sec, cpu=cpu, peak_mib=peak, base_mib=base, parts=parts,
                mean_y_delta=float(np.mean(task.y * delta)))


def _run(method: str, P: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                            "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, __file__, "--worker", method, str(P)], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    rows = []
    for P in (40, 80):
        s, d = _run("structured", P), _run("dense", P)
        rows.append((P, s, d))
    big = [_run("structured", P) for P in (200, 400)]
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores); wall-clock (CPU) seconds\n")
    print("| P | structured | dense | dense / structured (wall) | peak MiB structured | peak MiB dense | "
          "|Δ mean(y·Δ)| |")
    print("|---|---|---|---|---|---|---|")
    for P, s, d in rows:
        print(f"| {P} | {s['seconds']:.3f} ({s['cpu']:.3f}) | {d['seconds']:.2f} ({d['cpu']:.2f}) | "
              f"{d['seconds'] / s['seconds']:.0f}× | {s['peak_mib']:.0f} | {d['peak_mib']:.0f} | "
              f"{abs(s['mean_y_delta'] - d['mean_y_delta']):.1e} |")
    print("\n| P | structured, wall (CPU) s | of which kernel variance (s) | peak MiB (import baseline) | target |")
    print("|---|---|---|---|---|")
    for b, target in zip(big, ("< 10 s", "< 120 s")):
        print(f"| {b['P']} | {b['seconds']:.2f} ({b['cpu']:.2f}) | {b['parts'].get('variance', float('nan')):.2f} | "
              f"{b['peak_mib']:.0f} ({b['base_mib']:.0f}) | {target}, < 4096 MiB |")
    r80 = rows[1][2]["seconds"] / rows[1][1]["seconds"]
    ok = r80 >= 10 and big[0]["seconds"] < 10 and big[1]["seconds"] < 120 and max(b["peak_mib"] for b in big) < 4096
    print(f"\nACCEPTANCE (≥ 10× at P = 80: {r80:.0f}×; P = 200 < 10 s; P = 400 < 2 min; < 4 GB): "
          f"{'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
