"""Calibration of the error bands (docs/theory.md §19) on linear networks against the exact quadrature.

A generated grid of problems (seeded): the Ising task and teacher–student with a linear teacher, P ∈ {10, 20, 40,
60}, D drawn from a few multiples of P, N ∈ {P/2, P, 2P, 4P}, χ ∈ {1, √N, N/4, N} (at least 1), κ0 ∈ {0.1, 0.25, 1}
and g_v = g_w ∈ {0.5, 1, 2} drawn per case. For every theory (NNGP, tree level, renormalised kernel, one loop around
the saddle, 1/N expansion around the NNGP, renormalised one loop, one loop "auto") it measures, on train and test mean(y·Δ):
coverage — the share of cases with |theory − exact| ≤ band (the band of mc.summarize, mean(|y|·b)) — and the
band's median width relative to the finite-width shift |exact − NNGP|. It prints a markdown table.

Run: python bench/bands.py   (about 10 s; --quick: the subset tests/test_bands.py uses)
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mastcore as mc  # noqa: E402

THEORIES = {
    "nngp": ("NNGP", lambda X, y, s, Xt: mc.nngp(X, y, s, Xt)),
    "tree": ("tree level", lambda X, y, s, Xt: mc.tree_level(X, y, s, Xt)),
    "rescaled": ("renormalised kernel", lambda X, y, s, Xt: mc.rescaled_kernel(X, y, s, Xt)),
    "saddle": ("one loop (saddle)", lambda X, y, s, Xt: mc.one_loop(X, y, s, Xt, variant="perturbative",
                                                                   kernel_variance=False)),
    "nngp_loop": ("1/N around the NNGP", lambda X, y, s, Xt: mc.one_loop(X, y, s, Xt, variant="nngp")),
    "renormalised": ("renormalised one loop", lambda X, y, s, Xt: mc.one_loop(X, y, s, Xt, variant="renormalised")),
    "auto": ("one loop (auto)", lambda X, y, s, Xt: mc.one_loop(X, y, s, Xt)),
}
PS = (10, 20, 40, 60)
KAPPAS = (0.1, 0.25, 1.0)
GS = (0.5, 1.0, 2.0)


def cases(Ps=PS, seed: int = 0, P_test: int = 20):
    """Yield (name, X, y, X_test, y_test, spec) over the grid of the module docstring (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    for P in Ps:
        for task in ("ising", "teacher"):
            if task == "ising":
                D = int(rng.choice([P, 2 * P, 3 * P]))
                t = mc.make_task(mc.TaskSpec(name="ising", P=P, D=D, P_test=P_test, p=0.1,
                                             seed=int(rng.integers(1000))))
            else:
                D = int(rng.choice([max(2, P // 2), P, 2 * P, 4 * P]))
                t = mc.make_task(mc.TaskSpec(name="teacher_student", P=P, D=D, P_test=P_test, teacher="linear",
                                             seed=int(rng.integers(1000))))
            for N in sorted({max(2, P // 2), P, 2 * P, 4 * P}):
                for chi in sorted({max(1.0, c) for c in (1.0, np.sqrt(N), N / 4, float(N))}):
                    k0, g = float(rng.choice(KAPPAS)), float(rng.choice(GS))
                    spec = mc.NetworkSpec(width=N, chi=float(chi), kappa0=k0, g_v=g, g_w=g)
                    yield f"{task} P={P} D={D} N={N} χ={chi:.3g}", t.X, t.y, t.X_test, t.y_test, spec


def measure(case, theories=tuple(THEORIES)) -> list[dict]:
    """One row per theory: error and band of train/test mean(y·Δ) against the quadrature, and the shift."""
    name, X, y, Xt, yt, spec = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = mc.summarize(mc.posterior_quadrature(X, y, spec, Xt), y, yt)
        base = mc.summarize(mc.nngp(X, y, spec, Xt), y, yt)
        rows = []
        for key in theories:
            r = THEORIES[key][1](X, y, spec, Xt)
            s = mc.summarize(r, y, yt)
            row = dict(case=name, theory=key, P=X.shape[0], N=spec.width, chi=spec.chi, flags=",".join(r.flags))
            for split in ("train", "test"):
                col = f"{split}_mean_y_delta"
                row[f"{split}_error"] = abs(s[col] - exact[col])
                row[f"{split}_band"] = s[f"{col}_band"]
                row[f"{split}_shift"] = abs(exact[col] - base[col])
                sq = f"{split}_mean_sq_delta"
                row[f"{split}_sq_covered"] = abs(s[sq] - exact[sq]) <= s[f"{sq}_band"]
            rows.append(row)
    return rows


def table(rows) -> str:
    lines = ["| theory | cases | coverage train | coverage test | median band / shift (train) | "
             "median error / shift (train) | coverage mean(Δ²) train / test | zero-width bands |",
             "|---|---|---|---|---|---|---|---|"]
    for key, (label, _) in THEORIES.items():
        sel = [r for r in rows if r["theory"] == key]
        if not sel:
            continue
        cov = {sp: np.mean([r[f"{sp}_error"] <= r[f"{sp}_band"] for r in sel]) for sp in ("train", "test")}
        width = np.median([r["train_band"] / r["train_shift"] for r in sel])
        err = np.median([r["train_error"] / r["train_shift"] for r in sel])
        zero = sum(r["train_band"] == 0 for r in sel)
        sq = [100 * np.mean([r[f"{sp}_sq_covered"] for r in sel]) for sp in ("train", "test")]
        lines.append(f"| {label} | {len(sel)} | {100 * cov['train']:.1f} % | {100 * cov['test']:.1f} % | "
                     f"{width:.3g} | {err:.3g} | {sq[0]:.1f} / {sq[1]:.1f} % | {zero} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="P ∈ {10, 20} only (the subset of tests/test_bands.py)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = []
    for case in cases(PS[:2] if args.quick else PS, seed=args.seed):
        rows += measure(case)
    print(table(rows))
    misses = [r for r in rows if r["theory"] in ("saddle", "renormalised") and r["train_error"] > r["train_band"]]
    for r in misses:
        print(f"miss: {r['theory']} {r['case']}: error {r['train_error']:.2e} > band {r['train_band']:.2e}")


if __name__ == "__main__":
    main()
