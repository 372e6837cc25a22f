"""The thread policy measured: default configuration against one thread and against all threads (docs/theory.md §17).

For nngp, tree_level, one_loop, posterior_quadrature, exact_posterior, rescaled_kernel and train_langevin at
P = 80 (D = 200, N = 100), P = 400 (D = 800, N = 400) and P = 1600 (D = 3200, N = 1600), each configuration runs
in subprocesses of its own — the honest way to set a thread count:

* default: no *_NUM_THREADS set; mastcore's thread policy decides (what a user gets);
* one thread: OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = 1 (the policy leaves them alone);
* all threads: the same variables set to the number of cores available to the process.

Every call starts cold (the memo of work on X is cleared before it); a process repeats it (up to 9 times at P = 80,
3 at 400, 1 at 1600, for at most REPEAT_SECONDS) and reports the fastest. Five rounds at P = 80, three at 400 and one
at 1600 run the configurations in alternating order and the fastest round of each counts: on a shared machine the
minimum is the least disturbed measurement. Then the same again with another process busy on one core (a
single-threaded numpy loop started by this script). Target: default ≤ 1.2 × the best of one thread and all
threads, in every cell.

``--crossover`` measures instead, per method, one thread against all threads on a grid of sizes (the crossover
sizes of mastcore._plumbing.threads.CROSSOVER come from this).

    python bench/threads.py [--sizes 80,400,1600] [--no-busy] [--crossover]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

METHODS = ("nngp", "tree", "one_loop", "quadrature", "exact", "rescaled", "langevin")
SHAPES = {80: (200, 100), 400: (800, 400), 1600: (3200, 1600)}  # P: (D, N)
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Repeats of a call within one process stop after this many seconds (at least one call).
REPEAT_SECONDS = 3.0
#: Rounds (each configuration once, in alternating order) by size; the fastest round of each configuration counts.
ROUNDS = {80: 5, 400: 3, 1600: 1}
#: A process that keeps one core busy.
BUSY = "import numpy as np\na = np.random.default_rng(0).standard_normal((300, 300))\nwhile True:\n    a = a @ a / 300.0"


def _shape(P: int) -> tuple[int, int]:
    """(D, N) of the size-P problem: the table above, else D = 2P, N = max(100, P)."""
    return SHAPES.get(P, (2 * P, max(100, P)))


def _call(method: str, P: int):
    """A zero-argument function that runs ``method`` once on the size-P problem, and the problem size."""
    import warnings

    import mastcore as mc

    D, N = _shape(P)
    X, y = mc.ising(P, D, 0.1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = mc.NetworkSpec(width=N, chi=10.0, g_v=0.5, g_w=0.5, kappa0=1.0)
    if method == "nngp":
        return (lambda: mc.nngp(X, y, spec)), dict(P=P, D=D, width=N)
    if method == "tree":
        return (lambda: mc.tree_level(X, y, spec)), dict(P=P, D=D, width=N)
    if method == "one_loop":
        return (lambda: mc.one_loop(X, y, spec)), dict(P=P, D=D, width=N)
    if method == "quadrature":
        return (lambda: mc.posterior_quadrature(X, y, spec)), dict(P=P, D=D, width=N)
    if method == "rescaled":
        return (lambda: mc.rescaled_kernel(X, y, spec)), dict(P=P, D=D, width=N)
    if method == "exact":
        chains, sweeps = (8, 400) if P <= 100 else (8, 40) if P <= 400 else (4, 4)
        return (lambda: mc.exact_posterior(X, y, spec, n_chains=chains, n_sweeps=sweeps, burn_in=sweeps // 4,
                                           seed=0)), dict(P=P, D=D, width=N, options={"n_chains": chains})
    if method == "langevin":  # erf networks (the GEMM path), N = 100, 8 networks, float32
        steps = 400 if P <= 100 else 60 if P <= 400 else 16
        lspec = spec.replace(width=100, activation="erf")
        # four records: the steps (two GEMMs each), not the records' P×P factorisations, are what is timed here
        opts = mc.LangevinOptions(ensemble=8, steps=steps, burn_in=steps // 4, thin=steps // 4, dtype="float32",
                                  device="cpu", seed=0)
        return (lambda: mc.train_langevin(X, y, lspec, options=opts)), dict(
            P=P, D=D, width=100, activation="erf", options={"options": opts})
    raise ValueError(method)


def _worker(methods: list[str], P: int, reps: int) -> list[dict]:
    """Run in a subprocess: time each method (cold calls, median of ``reps``); one JSON line per method."""
    import warnings

    from mastcore import _linalg
    from mastcore._plumbing import threads as _threads

    out = []
    for method in methods:
        fn, size = _call(method, P)
        plan = _threads.plan(method, **size)
        times = []
        start = time.perf_counter()
        while len(times) < reps and (not times or time.perf_counter() - start < REPEAT_SECONDS):
            _linalg.MEMO.clear()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        with open("/proc/loadavg") as fh:
            queue = fh.read().split()[3]
        out.append(dict(method=method, P=P, seconds=min(times), median=statistics.median(times), reps=len(times),
                        threads=plan.threads, queue=queue))
        print(json.dumps(out[-1]), flush=True)
    return out


def _env(config: str, cores: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    if config != "default":
        n = "1" if config == "one" else str(cores)
        env.update({k: n for k in ENV_VARS})
    return env


def _run(config: str, methods, P: int, reps: int, cores: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", ",".join(methods), str(P), str(reps)],
                          env=_env(config, cores), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {config} P={P} failed:\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["method"]: r for r in rows}


def _reps(P: int) -> int:
    return 9 if P <= 100 else 3 if P <= 400 else 1


def measure(sizes, methods, cores: int) -> dict:
    """{(method, P): {config: best-round row}}: ROUNDS[P] rounds (one at P > 400, where a round takes minutes)."""
    best: dict = {}
    configs = ["default", "one", "all"]
    for P in sizes:
        for rnd in range(ROUNDS.get(P, 1)):
            order = configs if rnd % 2 == 0 else configs[::-1]
            for config in order:
                rows = _run(config, methods, P, _reps(P), cores)
                for m, row in rows.items():
                    cell = best.setdefault((m, P), {})
                    if config not in cell or row["seconds"] < cell[config]["seconds"]:
                        cell[config] = row
                print(f"  P={P} round {rnd + 1} {config:7s}: " + ", ".join(f"{m} {r['seconds']:.3g}s"
                                                                         for m, r in rows.items()), flush=True)
    return best


def table(best: dict, sizes, methods) -> float:
    print("| method | P | default (s) | one thread (s) | all threads (s) | default / best | threads chosen | "
          "run queue |")
    print("|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for m in methods:
        for P in sizes:
            c = best[(m, P)]
            d, o, a = c["default"]["seconds"], c["one"]["seconds"], c["all"]["seconds"]
            ratio = d / min(o, a)
            worst = max(worst, ratio)
            print(f"| {m} | {P} | {d:.3g} | {o:.3g} | {a:.3g} | {ratio:.2f}{' **' if ratio > 1.2 else ''} | "
                  f"{c['default']['threads']} | {c['default']['queue']} |")
    return worst


def crossover(methods, cores: int):
    grid = (80, 160, 320, 640, 1280)
    print("| method | " + " | ".join(f"P={P}: all / one" for P in grid) + " | crossover |")
    print("|---|" + "---|" * (len(grid) + 1))
    for m in methods:
        ratios = []
        for P in grid:
            one = _run("one", [m], P, _reps(P), cores)[m]["seconds"]
            al = _run("all", [m], P, _reps(P), cores)[m]["seconds"]
            one = min(one, _run("one", [m], P, _reps(P), cores)[m]["seconds"])
            al = min(al, _run("all", [m], P, _reps(P), cores)[m]["seconds"])
            ratios.append(al / one)
        win = [P for P, r in zip(grid, ratios) if r < 0.9]
        cross = next((P for i, P in enumerate(grid) if all(r < 0.9 for r in ratios[i:])), None)
        print(f"| {m} | " + " | ".join(f"{r:.2f}" for r in ratios) +
              f" | {cross if cross else 'none ≤ ' + str(grid[-1])} (faster at {win}) |", flush=True)


def main(argv=None):
    from mastcore._plumbing import threads as _threads

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="80,400,1600")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--no-busy", action="store_true", help="skip the pass with another process busy")
    ap.add_argument("--crossover", action="store_true")
    args = ap.parse_args(argv)
    set_vars = [k for k in ENV_VARS if os.environ.get(k)]
    if set_vars:
        print(f"note: {set_vars} are set here; the default configuration runs without them")
    cores = _threads.available_cores()
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    print(f"{cores} cores available to the process; load average {os.getloadavg()[0]:.1f}\n", flush=True)
    if args.crossover:
        crossover(methods, cores)
        return
    t0 = time.time()
    quiet = measure(sizes, methods, cores)
    print(f"\n### The machine as it is ({time.time() - t0:.0f} s)\n")
    worst = table(quiet, sizes, methods)
    busy_worst = None
    if not args.no_busy:
        proc = subprocess.Popen([sys.executable, "-c", BUSY], env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        try:
            time.sleep(1.0)
            t0 = time.time()
            loaded = measure(sizes, methods, cores)
        finally:
            proc.terminate()
            proc.wait()
        print(f"\n### Another process busy on one core ({time.time() - t0:.0f} s)\n")
        busy_worst = table(loaded, sizes, methods)
    print(f"\nACCEPTANCE default ≤ 1.2 × best: worst {worst:.2f} as is"
          + ("" if busy_worst is None else f", {busy_worst:.2f} busy")
          + (": PASS" if max(worst, busy_worst or 0) <= 1.2 else ": FAIL (cells marked **)"))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _worker(sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
