"""The proportional regime and mean-field scaling on linear networks: every theory against the exact posterior
(docs/theory.md §12.5, §18).

Problems (linear networks, κ0 = 0.25, g_v = g_w = 1): teacher–student with a linear teacher (D = 2P) and the
Ising task of Fig. 2 (D = 2P, p = 0.1), P = N/2 for N = 40, 80, 160, 320, 800, at χ = 1 (proportional regime) and
χ = N (mean field); and at fixed P = 20 for N = 40 … 800. Exact reference: the 1-D quadrature
(mc.posterior_quadrature, accurate to ~1e-13). For each theory it prints the share of the exact finite-width
shift of train mean(y·Δ), share = (theory − NNGP)/(exact − NNGP), and the error |theory − exact| of mean(y·Δ).
Theories: tree level, renormalised kernel u·C0, one loop around the saddle, 1/N expansion around the NNGP (χ = 1),
and the renormalised one loop (the one loop around u*·C0). Every theory runs through mc.sweep (one sweep over
χ ∈ {1, N} per width and one-loop variant).

Run: python bench/proportional_regime.py   (about a minute)
"""
from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mastcore as mc  # noqa: E402

KAPPA0 = 0.25
WIDTHS = (40, 80, 160, 320, 800)
THEORIES = ("tree", "rescaled", "saddle", "nngp", "renormalised")
LABELS = {"tree": "tree", "rescaled": "renorm. kernel", "saddle": "one loop (saddle)", "nngp": "1/N around NNGP",
          "renormalised": "renormalised one loop"}


def problems(P: int):
    return {
        "teacher": mc.make_task(mc.TaskSpec(name="teacher_student", P=P, D=2 * P, P_test=1, teacher="linear",
                                            seed=1)),
        "ising": mc.make_task(mc.TaskSpec(name="ising", P=P, D=2 * P, P_test=1, p=0.1, seed=2)),
    }


def run(task, N: int) -> dict:
    """{χ: {theory: train mean(y·Δ), "exact": …, "nngp": …}} at χ ∈ {1, N}."""
    X, y = task.X, task.y
    spec = mc.NetworkSpec(width=N, chi=1.0, kappa0=KAPPA0, g_v=1.0, g_w=1.0)
    chis = [1.0, float(N)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = mc.sweep(X, y, spec, chis=chis, methods=("nngp", "tree", "rescaled", "quadrature"))
        loops = {v: mc.sweep(X, y, spec, chis=chis, methods=("one_loop",),
                             options={"one_loop": {"variant": v, **({"kernel_variance": False}
                                                                     if v == "perturbative" else {})}})
                 for v in ("perturbative", "nngp", "renormalised")}
    m = lambda r: float(np.mean(y * (y - r.f_train)))  # noqa: E731
    out = {}
    for chi in chis:
        row = {"nngp0": m(base.at("nngp", chi)), "exact": m(base.at("quadrature", chi)),
               "tree": m(base.at("tree", chi)), "rescaled": m(base.at("rescaled", chi)),
               "saddle": m(loops["perturbative"].at("one_loop", chi)),
               "nngp": m(loops["nngp"].at("one_loop", chi)) if chi == 1.0 else float("nan"),
               "renormalised": m(loops["renormalised"].at("one_loop", chi))}
        out[chi] = row
    return out


def share(row, k):
    return (row[k] - row["nngp0"]) / (row["exact"] - row["nngp0"])


def table(title, rows):
    print(f"\n### {title}\n")
    print("| problem | N | P | exact shift | " + " | ".join(f"{LABELS[k]}: share (error)" for k in THEORIES)
          + " | best |")
    print("|---|---|---|---|" + "---|" * len(THEORIES) + "---|")
    wins = 0
    for name, N, P, row in rows:
        err = {k: abs(row[k] - row["exact"]) for k in THEORIES if np.isfinite(row[k])}
        best = min(err, key=err.get)
        rival = min(err["saddle"], err["rescaled"])
        wins += err["renormalised"] <= rival
        cells = [f"{100 * share(row, k):.1f} % ({err[k]:.1e})" if k in err else "–" for k in THEORIES]
        print(f"| {name} | {N} | {P} | {row['exact'] - row['nngp0']:+.2e} | " + " | ".join(cells)
              + f" | {LABELS[best]} |")
    print(f"\nrenormalised one loop at least as accurate as the better of (one loop, renormalised kernel): "
          f"{wins}/{len(rows)}")
    return wins, len(rows)


def main():
    t0 = time.perf_counter()
    prop = {1: [], "N": []}
    fixed = []
    for N in WIDTHS:
        for name, task in problems(N // 2).items():
            res = run(task, N)
            prop[1].append((name, N, N // 2, res[1.0]))
            prop["N"].append((name, N, N // 2, res[float(N)]))
        for name, task in problems(20).items():
            fixed.append((name, N, 20, run(task, N)[1.0]))
    score = [table("Proportional regime: χ = 1, P = N/2 (linear networks, exact quadrature)", prop[1]),
             table("Mean field: χ = N, P = N/2", prop["N"]),
             table("Fixed P = 20, χ = 1", fixed)]
    w = sum(s[0] for s in score)
    n = sum(s[1] for s in score)
    print(f"\nmoonshot criterion met in {w}/{n} cases; total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
