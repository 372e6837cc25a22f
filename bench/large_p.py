"""Large P in the default configuration: tree level and one loop at P = 2000, D = N = 2000 (docs/theory.md §11.2, §17).

Each solver runs cold in a fresh subprocess (no *_NUM_THREADS set: mastcore's thread policy decides), so its peak
resident memory (ru_maxrss) is its own; the import baseline (python + numpy + mastcore) is measured in the same
subprocess before the call. The one loop includes its tree level and the (P, P) kernel variance. Ising task,
χ = 10, κ0 = 1, g = 0.5. Targets on 2 cores: tree level < 20 s, one loop < 60 s. Wall and CPU seconds are both
printed with the run queue, because the machine may be shared.

    python bench/large_p.py [--P 2000]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
TARGETS = {"tree": 20.0, "one_loop": 60.0}


def _worker(method: str, P: int) -> dict:
    import warnings

    import mastcore as mc
    from mastcore._plumbing import threads as _threads

    X, y = mc.ising(P, P, 0.1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = mc.NetworkSpec(width=P, chi=10.0, g_v=0.5, g_w=0.5, kappa0=1.0)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    plan = _threads.plan("tree" if method == "tree" else "one_loop", P=P, D=P, width=P)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = mc.tree_level(X, y, spec) if method == "tree" else mc.one_loop(X, y, spec)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/loadavg") as fh:
        queue = fh.read().split()[3]
    return dict(method=method, P=P, seconds=seconds, cpu=cpu, peak_mib=peak, base_mib=base, threads=plan.threads,
                converged=bool(r.converged), residual=float(r.residual), n_iter=int(r.n_iter), queue=queue,
                timings=getattr(r, "timings", {}))


def _run(method: str, P: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    out = subprocess.run([sys.executable, __file__, "--worker", method, str(P)], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--P", type=int, default=2000)
    args = ap.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; default configuration\n")
    print("| P = D = N | solver | wall s | CPU s | threads chosen | peak MiB (import baseline) | "
          "iterations, residual | "
          "run queue | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok = True
    for method in ("tree", "one_loop"):
        r = _run(method, args.P)
        ok &= r["seconds"] < TARGETS[method]
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in r["timings"].items())
        print(f"| {r['P']} | {method} | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['threads']} | {r['peak_mib']:.0f} "
              f"({r['base_mib']:.0f}) | {r['n_iter']}, {r['residual']:.1e}{'; ' + parts if parts else ''} | "
              f"{r['queue']} | < {TARGETS[method]:g} s |", flush=True)
    print(f"\nACCEPTANCE (tree < 20 s, one loop < 60 s wall): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
