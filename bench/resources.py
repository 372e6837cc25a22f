"""The resource budget against measurement: mc.estimate vs the wall time and peak memory of real calls.

For every method of the sweep (nngp, tree, rescaled, one_loop, quadrature, exact, langevin; linear network, plus
erf rows for the NNGP, the tree level and Langevin) at P ∈ {80, 400, 1600} on the Ising task (D = 200, P* = 1000,
N = 100, κ0 = 1, g = 0.5, p = 0.1 — the app's Fig.-2 setting grown in P; χ = 1, the erf tree level at χ = N where it
anneals), each point runs in a fresh subprocess:

* time: default environment (no thread variables; the library's own thread policy applies), one warm-up call at a
  tiny size first (imports, torch start-up), a second tiny call timed (the fixed cost of a call), then the timed
  call; the 1-minute load average before the call is recorded (the machine is shared: a busy machine slows it);
* memory: the same call with glibc's mmap threshold pinned (MALLOC_MMAP_THRESHOLD_=65536, so freed arrays go back
  to the OS and the resident set follows the live arrays), the high-water mark of the resident set reset after the
  warm-up (/proc/self/clear_refs) and read after the call: peak RSS − RSS before the call. This sees numpy, LAPACK
  workspaces and torch alike (tracemalloc does not see torch or numpy.linalg's buffers).

The samplers run shortened (fewer sweeps/steps at P ≥ 400) so that a point takes about a minute at most; the
estimate is asked for exactly the options that run. Langevin's estimate gets ``lambda_max`` = λ_max(C0)/κ0 from
the data (how often it records). Ratios measured/estimated within 0.5–2 are the target.

``--calibrate`` measures the time at other sizes (P ∈ {24, 120, 240, 800}, D = 300, P* = 500, N = 60) and prints
the constants of mastcore._plumbing.costs.RATES fitted to them (per method: seconds per call, the flop rate, and the cost of
elementwise work and Python-level iterations, by non-negative least squares on relative errors); the report never
uses the points it was fitted on. Results are cached in cache/bench_resources.json (--fresh to re-measure).

Run: python bench/resources.py [--calibrate] [--fresh] [--only METHOD]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, "cache", "bench_resources.json")
REPORT_P = (80, 400, 1600)
REPORT = dict(D=200, P_test=1000, N=100)
CALIB_P = (24, 120, 240, 800)
CALIB = dict(D=300, P_test=500, N=60)
TIMEOUT = 600


def options_for(method: str, P: int) -> dict:
    """The options a point runs with (samplers shortened at P ≥ 400 to stay near a minute)."""
    if method == "exact":
        return dict(n_chains=64, n_sweeps=2000, burn_in=200) if P <= 100 else dict(n_chains=32, n_sweeps=200,
                                                                                    burn_in=20)
    if method == "langevin":
        return dict(ensemble=16, steps=20000, burn_in=2000) if P <= 100 else dict(ensemble=16, steps=2000,
                                                                                  burn_in=200)
    if method == "langevin_erf":
        return dict(ensemble=16, steps=2000, burn_in=200) if P <= 100 else dict(ensemble=8, steps=200, burn_in=20)
    return {}


#: Points left out of the report because they take several minutes: the erf tree level annealed to χ = N at
#: P = 1600 (about 485 applications of an O(P³) map; ~1 min already at P = 800).
SKIP = {("tree_erf", 1600)}


def chi_for(row: str, N: int) -> float:
    """χ of a point: 1 (standard scaling), except the erf tree level at χ = N, where it anneals over 20 stages."""
    return float(N) if row == "tree_erf" else 1.0


ROWS = ("nngp", "tree", "rescaled", "one_loop", "quadrature", "exact", "langevin", "nngp_erf", "tree_erf",
        "langevin_erf")


def split(row: str) -> tuple[str, str]:
    return (row[:-4], "erf") if row.endswith("_erf") else (row, "linear")


# --- one point, in a subprocess ----------------------------------------------------------------------------------


def _rss_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(field)


def _call(mc, method, X, y, Xs, spec, options):
    if method == "langevin":
        return mc.train_langevin(X, y, spec, X_test=Xs, options=mc.LangevinOptions(device="cpu", **options))
    func = {"nngp": mc.nngp, "tree": mc.tree_level, "rescaled": mc.rescaled_kernel, "one_loop": mc.one_loop,
            "quadrature": mc.posterior_quadrature, "exact": mc.exact_posterior}[method]
    return func(X, y, spec, X_test=Xs, **options)


def point(row: str, P: int, D: int, P_test: int, N: int, mode: str) -> dict:
    """Run one call (this process) and return seconds or peak bytes."""
    import warnings

    import numpy as np

    import mastcore as mc
    from mastcore import _linalg

    warnings.simplefilter("ignore")
    method, act = split(row)
    spec = mc.NetworkSpec(width=N, chi=chi_for(row, N), g_v=0.5, g_w=0.5, kappa0=1.0, activation=act)
    options = options_for(row, P)
    small = {k: (min(v, 20) if isinstance(v, int) and k != "ensemble" else v) for k, v in options.items()}
    if "burn_in" in small:
        small["burn_in"] = 2
    Xw, yw = mc.ising(12, 10, 0.1, seed=1)
    tiny = spec.replace(width=4, chi=1.0)
    _call(mc, method, Xw[:8], yw[:8], Xw[8:], tiny, small)  # warm-up: imports, torch
    t0, c0 = time.perf_counter(), time.process_time()
    _call(mc, method, Xw[:8], yw[:8], Xw[8:], tiny, small)  # a tiny call: the fixed cost of one call
    tiny_seconds, tiny_cpu = time.perf_counter() - t0, time.process_time() - c0
    X, y = mc.ising(P + P_test, D, 0.1, seed=0)
    X, y, Xs = np.ascontiguousarray(X[:P]), np.ascontiguousarray(y[:P]), np.ascontiguousarray(X[P:])
    memo = getattr(_linalg, "MEMO", None)  # the data memo (row space, NNGP kernel): every point starts empty
    if memo is not None:
        memo.clear()
    gc.collect()
    if mode == "mem":
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")  # reset the high-water mark of the resident set to the current one
        rss0 = _rss_kib("VmRSS:")
        result = _call(mc, method, X, y, Xs, spec, options)
        peak = _rss_kib("VmHWM:")
        del result
        return {"bytes": (peak - rss0) * 1024}
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    _call(mc, method, X, y, Xs, spec, options)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "tiny_seconds": tiny_seconds, "tiny_cpu_seconds": tiny_cpu, "load": load}


def measure(row: str, P: int, size: dict, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = ROOT
    if mode == "mem":
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    cmd = [sys.executable, os.path.abspath(__file__), "--point", row, str(P), str(size["D"]), str(size["P_test"]),
           str(size["N"]), mode]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"{row} P={P} {mode}: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# --- estimates and the table ---------------------------------------------------------------------------------------


def estimate(row: str, P: int, size: dict):
    import numpy as np

    import mastcore as mc

    method, act = split(row)
    opts = dict(options_for(row, P))
    if method == "langevin":
        X, _ = mc.ising(P + size["P_test"], size["D"], 0.1, seed=0)
        X = X[:P]
        spec = mc.NetworkSpec(width=size["N"], g_v=0.5, g_w=0.5, kappa0=1.0, activation=act)
        opts["lambda_max"] = float(np.linalg.eigvalsh(mc.nngp_kernel(X, X, spec))[-1]) / spec.kappa0
    return mc.estimate(method, P=P, D=size["D"], width=size["N"], P_test=size["P_test"], activation=act,
                       chi=chi_for(row, size["N"]), **opts)


def load() -> dict:
    if os.path.exists(RESULTS):
        with open(RESULTS, encoding="utf-8") as fh:
            return json.load(fh)
    return {}


def save(data: dict) -> None:
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)


def collect(rows, Ps, size, tag, fresh, modes=("time", "mem")) -> dict:
    data = load()
    for row in rows:
        for P in Ps:
            if (row, P) in SKIP:
                continue
            for mode in modes:
                key = f"{tag}/{row}/{P}/{mode}"
                if key in data and not fresh:
                    continue
                t0 = time.perf_counter()
                data[key] = measure(row, P, size, mode)
                print(f"  {key}: {data[key]} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
                save(data)
    return data


def fmt_b(n):
    from mastcore._plumbing.budget import format_bytes

    return format_bytes(n)


def table(data: dict, rows, Ps, size) -> str:
    lines = ["| method | P | options | estimated time | measured wall / CPU | ratio wall / CPU | estimated peak | "
             "measured peak | ratio | load |", "|---|---|---|---|---|---|---|---|---|---|"]
    worst = []
    for row in rows:
        for P in Ps:
            t = data.get(f"report/{row}/{P}/time")
            m = data.get(f"report/{row}/{P}/mem")
            if t is None or m is None:
                continue
            c = estimate(row, P, size)
            rt, rc, rm = t["seconds"] / c.seconds, t["cpu_seconds"] / c.seconds, m["bytes"] / c.bytes
            worst.append((row, P, rt, rc, rm))
            opts = ", ".join(f"{k}={v}" for k, v in options_for(row, P).items()) or "defaults"
            method, act = split(row)
            name = method if act == "linear" else f"{method} ({act})"
            lines.append(f"| {name} | {P} | {opts} | {c.seconds:.3g} s | "
                         f"{t['seconds']:.3g} s / {t['cpu_seconds']:.3g} s | "
                         f"{rt:.2f} / {rc:.2f} | {fmt_b(c.bytes)} | {fmt_b(m['bytes'])} | {rm:.2f} | "
                         f"{t['load']:.1f} |")
    out = "\n".join(lines)
    ok = lambda v: 0.5 <= v <= 2  # noqa: E731
    n = len(worst)
    out += (f"\n\nWithin 0.5–2×: memory {sum(ok(w[4]) for w in worst)} of {n} points; time "
            f"{sum(ok(w[2]) for w in worst)} of {n} (wall), {sum(ok(w[3]) for w in worst)} of {n} (CPU).")
    bad = [w for w in worst if not (ok(w[3]) and ok(w[4]))]
    if bad:
        out += " Outside (CPU time or memory): " + "; ".join(
            f"{r} P={P} (CPU {c:.2f}, memory {m:.2f})" for r, P, _, c, m in bad) + "."
    return out


def call_seconds() -> float:
    """Seconds of one small numpy or torch call (the Python-level overhead per operation), median of a mix."""
    import numpy as np
    import torch

    a, m, t = np.ones(10), np.ones((10, 10)), torch.ones(10, dtype=torch.float64)
    times = []
    for op in (lambda: a + a, lambda: m @ m, lambda: t + t, lambda: np.sum(a)):
        t0 = time.process_time()
        for _ in range(20000):
            op()
        times.append((time.process_time() - t0) / 20000)
    return float(np.median(times))


def parts_of(row: str, P: int, size: dict) -> tuple[float, float, float]:
    """(flops, elements, calls) of the estimate: the terms of its seconds."""
    from mastcore._plumbing import budget as _budget

    method, act = split(row)
    key = f"{method}_nonlinear" if act != "linear" else method
    saved = _budget.RATES.get(key)
    out = []
    try:
        for rates in (dict(s0=0.0, flops=1.0, elem=0.0, unit=0.0), dict(s0=0.0, flops=float("inf"), elem=1.0,
                                                                           unit=0.0),
                      dict(s0=0.0, flops=float("inf"), elem=0.0, unit=1.0)):
            _budget.RATES[key] = rates
            out.append(estimate(row, P, size).seconds)
    finally:
        if saved is None:
            del _budget.RATES[key]
        else:
            _budget.RATES[key] = saved
    return tuple(out)


def calibrate(data: dict, rows) -> str:
    """Per-method constants fitted to the calibration points: seconds = s0 + flops/rate + elements·elem +
    calls·unit, with ``unit`` the measured seconds of one small call and (s0, rate, elem) by non-negative least
    squares on relative errors. Printed as the RATES dict of mastcore/_plumbing/costs.py (erf/ReLU: ``<method>_nonlinear``)."""
    import numpy as np
    from scipy.optimize import nnls

    unit = call_seconds()
    groups: dict = {}
    tiny: dict = {}
    for row in rows:
        method, act = split(row)
        key = f"{method}_nonlinear" if act != "linear" else method
        for P in CALIB_P:
            t = data.get(f"calib/{row}/{P}/time")
            if t is not None:  # CPU seconds: what the machine spent, stable when other jobs share it
                groups.setdefault(key, []).append((P, t["cpu_seconds"], *parts_of(row, P, CALIB)))
                tiny.setdefault(key, []).append(t["tiny_cpu_seconds"])
    lines = [f"# one small numpy/torch call: {unit:.3g} s", "RATES = {"]
    for key, pts in groups.items():
        t = np.array([p[1] for p in pts])
        s0 = float(np.median(tiny[key])) if tiny.get(key) else 0.0
        A = np.array([[f, e] for _, _, f, e, _ in pts])
        rest = np.array([s0 + c * unit for *_, c in pts])
        coef, _ = nnls(A / t[:, None], 1.0 - rest / t)
        inv_rate, elem = coef
        coef = np.array([s0, inv_rate, elem])
        A = np.column_stack([np.ones(len(pts)), A])
        rest = rest - s0
        rate = 1.0 / inv_rate if inv_rate > 0 else float("inf")
        fit = (A @ coef + rest) / t
        lines.append(f'    "{key}": dict(s0={s0:.3g}, flops={rate:.3g}, elem={elem:.3g}, unit={unit:.3g}),  '
                     f'# estimate/measured at P = {", ".join(f"{p[0]}: {v:.2f}" for p, v in zip(pts, fit))}')
    lines.append("}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--point", nargs=6, metavar=("ROW", "P", "D", "P_TEST", "N", "MODE"))
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--mode", choices=("time", "mem", "both"), default="both", help="what to (re)measure")
    ap.add_argument("--only", default=None, help="comma-separated rows")
    ap.add_argument("--P", default=None, help="comma-separated P values")
    args = ap.parse_args(argv)
    if args.point:
        row, P, D, Ps, N, mode = args.point
        print(json.dumps(point(row, int(P), int(D), int(Ps), int(N), mode)))
        return 0
    rows = ROWS if args.only is None else tuple(args.only.split(","))
    modes = ("time", "mem") if args.mode == "both" else (args.mode,)
    if args.calibrate:
        Ps = CALIB_P if args.P is None else tuple(int(p) for p in args.P.split(","))
        data = collect(rows, Ps, CALIB, "calib", args.fresh, modes=modes)
        print(calibrate(data, rows))
        return 0
    Ps = REPORT_P if args.P is None else tuple(int(p) for p in args.P.split(","))
    data = collect(rows, Ps, REPORT, "report", args.fresh, modes=modes)
    print(table(data, rows, Ps, REPORT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
