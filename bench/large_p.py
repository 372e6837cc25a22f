"""Large P in the default configuration: tree level and one loop at P = 2000, D = N = 2000 (docs/theory.md §11.2, §17).

Each solver runs cold in a fresh subprocess (no *_NUM_THREADS set: mastcore's thread policy decides), so its peak
resident memory (ru_maxrss) is its own; the import baseline (python + numpy + mastcore) is measured in the same
subprocess before the call. The one loop includes its tree level and the (P, P) kernel variance. Ising task,
χ = 10, κ0 = 1, g = 0.5. Targets on 2 cores: tree level < 20 s, one loop < 60 s. Wall and CPU seconds are both
printed with the run queue, because the machine may be shared.

    python bench/large_p.py [--P 2000]

``--saddle`` measures the one loop around the particle saddle of erf/ReLU networks instead (docs/theory.md §12.10):
digits ("0 vs 1", P = 300, P* = 20, κ0 = 0.25, g = 1, χ = N = 300; erf and ReLU) in the representation that
``saddle_one_loop`` picks, and the Fig.-2 preset with erf at χ = N = 100 (P = 80, P* = 1000) in the dense and the
sample representation on the same samples. The particle tree level is solved first and timed apart; the loop's
seconds and the subprocess's peak resident memory (ru_maxrss, which includes the tree level's) are printed with the
run queue. Targets: the P = 300 loop ≤ 60 s and ≤ 4 GB.

    python bench/large_p.py --saddle [--only digits-erf,digits-relu,fig2-dense,fig2-samples]
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


SADDLE_CASES = {
    "digits-erf": ("digits", "erf", "auto"),
    "digits-relu": ("digits", "relu", "auto"),
    "fig2-dense": ("fig2", "erf", "dense"),
    "fig2-samples": ("fig2", "erf", "samples"),
}


def _saddle_worker(case: str) -> dict:
    import warnings

    import numpy as np

    import mastcore as mc
    from mastcore.cli import FIG2_NET, FIG2_TASK
    from mastcore.theory.tree.level import nonlinear_tree_level
    from mastcore.theory.loops.nonlinear import choose_representation, saddle_one_loop

    data, act, method = SADDLE_CASES[case]
    if data == "digits":
        task = mc.make_task(mc.TaskSpec(name="digits", P=300, P_test=20, seed=0))
        spec = mc.NetworkSpec(width=300, chi=300.0, kappa0=0.25, g_v=1.0, g_w=1.0, activation=act)
    else:
        task = mc.make_task(mc.TaskSpec(**FIG2_TASK))
        net = {**FIG2_NET, "activation": act}
        spec = mc.NetworkSpec(**net, chi=float(net["width"]))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = nonlinear_tree_level(task.X, task.y, spec, task.X_test, ansatz="particles")
        t1, c1 = time.perf_counter(), time.process_time()
        r = saddle_one_loop(task.X, task.y, spec, task.X_test, tree=tree, representation=method)
    seconds, cpu = time.perf_counter() - t1, time.process_time() - c1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/loadavg") as fh:
        queue = fh.read().split()[3]
    P = task.X.shape[0]
    return dict(case=case, P=P, tree_s=t1 - t0, seconds=seconds, cpu=cpu, peak_mib=peak, base_mib=base,
                n_samples=r.n_samples, mc_ratio=r.mc_ratio, flags=list(r.flags), queue=queue,
                how=choose_representation(P, r.n_samples) if method == "auto" else method,
                mean_y_delta=float(np.mean(task.y * r.delta)), mc_se=r.mc_se,
                f_train_head=[float(v) for v in r.f_train[:3]])


def _run_saddle(case: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--saddle-worker", case], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def saddle_main(only) -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| case | P | representation | samples | tree s | loop wall s | loop CPU s | peak MiB (import) | "
          "mean(y·Δ) ± s.e. | mc_ratio | flags | run queue |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in only:
        r = _run_saddle(case)
        print(f"| {case} | {r['P']} | {r['how']} | {r['n_samples']} | {r['tree_s']:.1f} | {r['seconds']:.1f} | "
              f"{r['cpu']:.1f} | {r['peak_mib']:.0f} ({r['base_mib']:.0f}) | {r['mean_y_delta']:.5f} ± "
              f"{r['mc_se']:.1e} | {r['mc_ratio']:.3f} | {', '.join(r['flags']) or '—'} | {r['queue']} |",
              flush=True)


def _run(method: str, P: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    out = subprocess.run([sys.executable, __file__, "--worker", method, str(P)], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--P", type=int, default=2000)
    ap.add_argument("--saddle", action="store_true", help="the one loop around the particle saddle (erf/ReLU)")
    ap.add_argument("--only", default=",".join(SADDLE_CASES), help="--saddle cases, comma-separated")
    args = ap.parse_args(argv)
    if args.saddle:
        saddle_main([c for c in args.only.split(",") if c])
        return
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
    if len(sys.argv) == 3 and sys.argv[1] == "--saddle-worker":
        print(json.dumps(_saddle_worker(sys.argv[2])))
    elif len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
