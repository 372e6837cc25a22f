"""Nonlinear networks: how much of the networks' feature-learning shift each theory captures (docs/theory.md §9).

Every theory and the networks run through mc.sweep over χ ∈ {1, N/4, N} (one sweep per tree-level ansatz, warm
started along χ; the networks cached per point).

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

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mastcore as mc  # noqa: E402

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
          "particles": "tree, particles", "rescaled": "renormalised kernel u·C0", "networks": "networks (Langevin)"}


def run_sweeps(task, N, activation, chis, quick=False, log=print) -> list[dict]:
    """Rows (one per χ) of train/test mean(y·Δ) for the NNGP, every theory and the networks."""
    X, y, Xs, ys = task.X, task.y, task.X_test, task.y_test
    spec = mc.NetworkSpec(width=N, chi=1.0, g_v=G, g_w=G, kappa0=KAPPA0, activation=activation)
    steps = 2000 if quick else LANGEVIN_STEPS.get(task.spec.name, 8000)
    lang = dict(ensemble=16, steps=steps, burn_in=steps // 4, device="cpu", seed=0)
    plan = {  # theory name -> (methods, options) of one sweep
        "tree_gauss": (("nngp", "tree", "rescaled"), {"tree": {"ansatz": "gaussian"}}),
        "tree_mean": (("tree",), {"tree": {"ansatz": "gaussian_mean"}}),
        "particles": (("tree",), {"tree": {"ansatz": "particles", "n_particles": 1000 if quick else 4000}}),
        "networks": (("langevin",), {"langevin": lang}),
    }
    tables, secs = {}, {}
    for name, (methods, options) in plan.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = mc.sweep(X, y, spec, chis=chis, methods=methods, X_test=Xs, y_test=ys, options=options, cache=True)
        secs[name] = time.perf_counter() - t0
        for w in caught:
            if issubclass(w.category, (mc.ConvergenceWarning, RuntimeWarning)):
                log(f"  [{name}] {w.category.__name__}: {str(w.message)[:160]}")
        t = res.table.set_index(["method", "chi"])
        key = {"tree_gauss": "tree", "tree_mean": "tree", "particles": "tree", "networks": "langevin"}[name]
        tables[name] = t.loc[key]
        if name == "tree_gauss":
            tables["nngp"], tables["rescaled"] = t.loc["nngp"], t.loc["rescaled"]
        if name == "networks":
            r_hats = {chi: r.r_hat for chi, r in zip(res.chis, res.results["langevin"])}
    rows = []
    for chi in chis:
        row = {"chi": chi, "seconds": secs}
        for k, t in tables.items():
            row[k] = (float(t.loc[chi, "train_mean_y_delta"]), float(t.loc[chi, "test_mean_y_delta"]),
                      bool(t.loc[chi, "converged"]))
        net = tables["networks"]
        row["networks_se"] = (float(net.loc[chi, "train_mean_y_delta_se"]), float(net.loc[chi, "test_mean_y_delta_se"]))
        row["r_hat"] = float(r_hats[chi])
        rows.append(row)
    return rows


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
        print(f"# {tname} {act} ...", flush=True)
        rows = run_sweeps(task, N, act, [1.0, N / 4, float(N)], quick=args.quick)
        print("#   seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in rows[0]["seconds"].items()), flush=True)
        name = (f"teacher–student (erf teacher), P = {task.P}, D = {task.D}" if tname == "teacher"
                else f"digits 8×8 even vs odd, P = {task.P}, D = {task.D}")
        out.append(table(rows, name, act, N))
        print(out[-1], flush=True)
    print("\n## Summary\n" + "\n".join(out))
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
