"""Nonlinear networks: how much of the networks' feature-learning shift each theory captures (docs/theory.md §9).

For each task and activation, at χ ∈ {1, N/4, N}, prints train/test mean(y·Δ) (Δ = y − ⟨f⟩) for
  NNGP | tree level: zero-mean Gaussian, non-zero-mean Gaussian, particles | scalar rescaling u·C0 | networks
and the share of the networks' feature-learning shift each theory captures,
  share = (theory − NNGP) / (networks − NNGP)   (train and test sets; 100 % = the networks' shift exactly).
"Networks" are ensembles trained with Langevin dynamics (mastcore.posterior.langevin.train_langevin, Rao–Blackwellised
posterior mean, ± its standard error); their stationary law is the posterior of docs/theory.md §1.

Tasks: teacher–student with an erf teacher (P = 60, D = 40, N = 100) and the bundled 8×8 digits, even vs odd
(P = 100, D = 64, N = 100); κ0 = 0.25, g_v = g_w = 1.

Usage:  python bench/nonlinear_vs_networks.py [--only teacher:erf] [--quick]
Expensive runs (Langevin, particles) go through the disk cache (mastcore.cache), so a second run only prints.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

# one BLAS thread: the machines this runs on are shared, and threads only contend at these sizes
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mastcore as mc  # noqa: E402
from mastcore.theory import nonlinear as nl  # noqa: E402

KAPPA0, G = 0.25, 1.0
TASKS = {
    "teacher": dict(spec=mc.TaskSpec(name="teacher_student", P=60, D=40, P_test=500, teacher="erf", seed=0), N=100),
    "digits": dict(spec=mc.TaskSpec(name="digits", P=100, P_test=500, seed=0, options=(("binary", "even vs odd"),)),
                   N=100),
}
ACTIVATIONS = ("erf", "relu")
#: Langevin steps per network (a quarter is burn-in); digits needs longer runs to reach split-R̂ < 1.1 at χ ≥ N/4.
LANGEVIN_STEPS = {"teacher_student": 8000, "digits": 16000}
THEORIES = ("tree_gauss", "tree_mean", "particles", "rescaled")
LABELS = {"nngp": "NNGP", "tree_gauss": "tree, zero-mean Gaussian", "tree_mean": "tree, non-zero-mean Gaussian",
          "particles": "tree, particles", "rescaled": "scalar u·C0", "networks": "networks (Langevin)"}


def m_y_delta(y, f):
    return float(np.mean(y * (y - f)))


def run_one(task, N, activation, chi, quick=False, log=print):
    X, y, Xs, ys = task.X, task.y, task.X_test, task.y_test
    spec = mc.NetworkSpec(width=N, chi=chi, g_v=G, g_w=G, kappa0=KAPPA0, activation=activation)
    out, secs = {}, {}

    def timed(name, fn):
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = fn()
        secs[name] = time.perf_counter() - t0
        out[name] = r
        for w in caught:
            if issubclass(w.category, (mc.ConvergenceWarning, RuntimeWarning)):
                log(f"  [{name}, chi={chi:g}] {w.category.__name__}: {str(w.message)[:160]}")

    timed("nngp", lambda: mc.nngp(X, y, spec, Xs))
    timed("tree_gauss", lambda: mc.tree_level(X, y, spec, Xs, ansatz="gaussian"))
    timed("tree_mean", lambda: mc.tree_level(X, y, spec, Xs, ansatz="gaussian_mean"))
    timed("particles", lambda: mc.tree_level(X, y, spec, Xs, ansatz="particles", cache=True,
                                             n_particles=1000 if quick else 4000))
    timed("rescaled", lambda: mc.rescaled_kernel(X, y, spec, Xs))
    steps = 2000 if quick else LANGEVIN_STEPS.get(task.spec.name, 8000)
    opts = mc.LangevinOptions(ensemble=16, steps=steps, burn_in=steps // 4, device="cpu", seed=0)
    timed("networks", lambda: mc.train_langevin(X, y, spec, Xs, options=opts, cache=True))
    row = {"chi": chi, "seconds": secs}
    for k, r in out.items():
        row[k] = (m_y_delta(y, r.f_train), m_y_delta(ys, r.f_test), bool(getattr(r, "converged", True)))
    net = out["networks"]
    row["networks_se"] = (net.mean_y_delta_se(y, "train"), net.mean_y_delta_se(ys, "test"))
    row["r_hat"] = float(net.r_hat)
    return row


def share(row, k, split=0):
    shift = row["networks"][split] - row["nngp"][split]
    return (row[k][split] - row["nngp"][split]) / shift if shift != 0 else float("nan")


def table(rows, name, activation, N):
    lines = [f"\n### {name}, {activation}, N = {N}: mean(y·Δ) train / test "
             "(share of the networks' shift, train / test)\n",
             "| χ | NNGP | " + " | ".join(LABELS[k] for k in THEORIES) + " | networks ± s.e. |",
             "|---|---|" + "---|" * len(THEORIES) + "---|"]
    for row in rows:
        cells = [f"{row['chi']:g}", f"{row['nngp'][0]:.4f} / {row['nngp'][1]:.4f}"]
        for k in THEORIES:
            flag = "" if row[k][2] else " (not conv.)"
            cells.append(f"{row[k][0]:.4f} / {row[k][1]:.4f} ({100 * share(row, k):.0f} % / {100 * share(row, k, 1):.0f} %)"
                         f"{flag}")
        se = row["networks_se"]
        rh = "" if row["networks"][2] else f" (R̂ {row['r_hat']:.2f})"
        cells.append(f"{row['networks'][0]:.4f} ± {se[0]:.4f} / {row['networks'][1]:.4f} ± {se[1]:.4f}{rh}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="task:activation, e.g. teacher:erf (repeatable)")
    ap.add_argument("--quick", action="store_true", help="fewer particles / Langevin steps (smoke run)")
    args = ap.parse_args(argv)
    combos = [(t, a) for t in TASKS for a in ACTIVATIONS]
    if args.only:
        combos = [tuple(s.split(":")) for s in args.only]
    t_start = time.perf_counter()
    out = []
    for tname, act in combos:
        cfg = TASKS[tname]
        task = mc.make_task(cfg["spec"])
        N = cfg["N"]
        rows = []
        for chi in (1.0, N / 4, float(N)):
            print(f"# {tname} {act} chi={chi:g} ...", flush=True)
            row = run_one(task, N, act, chi, quick=args.quick)
            print("#   seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in row["seconds"].items()), flush=True)
            rows.append(row)
        name = (f"teacher–student (erf teacher), P = {task.P}, D = {task.D}" if tname == "teacher"
                else f"digits 8×8 even vs odd, P = {task.P}, D = {task.D}")
        out.append(table(rows, name, act, N))
        print(out[-1], flush=True)
    print("\n## Summary\n" + "\n".join(out))
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
