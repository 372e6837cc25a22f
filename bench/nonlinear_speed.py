"""Speed and Monte-Carlo precision of the erf/ReLU one loop in a sweep (docs/theory.md §12.9), printed as markdown.

1. Fig. 2 preset (Ising P = 80, P* = 1000, D = 200; N = 100, κ0 = 1, g_v = g_w = 0.5), erf and ReLU: cold-cache
   ``mc.sweep`` over ``--chis`` χ geometric in [1, N] (default 25) with methods (nngp, tree, rescaled) — the erf
   value is the reference — and with (nngp, tree, rescaled, one_loop); ratio to the erf reference (target ≤ 20).
2. Teaching preset (Ising P = 20, P* = 300, D = 50, N = 50): the same four-method sweep (target ≤ 2 s).
3. Monte-Carlo error of the one loop's train mean(y·Δ) at χ = 1, √N, N on both presets, default settings, for
   ``--variants`` (auto, the renormalised one loop, the NNGP expansion at χ = 1): mc_ratio (s.e. over the loop
   correction; target ≤ 0.01) and whether ``mc_error_large`` is set.
4. Particle-saddle one loop on digits (P = 300, erf and ReLU, χ = N = 300; target ≤ 60 s, ≤ 4 GB): reported as
   "refused" while the dense operators cap P (SADDLE_MAX_P).

Cold cache: the library's in-process memo (mastcore._linalg.MEMO, the band companions and the shared prior
features) is cleared before every timed sweep; no disk cache is used. The machine may be shared: wall seconds and
the load average are printed; compare only numbers from one run. ``--root`` runs another checkout of mastcore (the
baseline) with this script, so that old and new code are measured with the same harness.

Run: python bench/nonlinear_speed.py [--chis 25] [--skip fig2,teaching,mc,digits] [--variants auto,renormalised,nngp]
     [--root PATH]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
import warnings

import numpy as np

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--chis", type=int, default=25)
parser.add_argument("--skip", default="")
parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
parser.add_argument("--activations", default="erf,relu")
parser.add_argument("--variants", default="auto,renormalised,nngp", help="one-loop variants of part 3")
args = parser.parse_args()
sys.path.insert(0, os.path.abspath(args.root))

import mastcore as mc  # noqa: E402
from mastcore import _linalg  # noqa: E402

METHODS_REF = ("nngp", "tree", "rescaled")
METHODS_ALL = ("nngp", "tree", "rescaled", "one_loop")


def cold():
    """Empty every in-process store of work (memo of work on X, band companions, shared prior features)."""
    _linalg.MEMO.clear()
    from mastcore.theory import bands
    bands._COMPANIONS.clear()
    try:
        from mastcore.theory.loops import prior_features
        prior_features.STORE.clear()
    except ImportError:  # the baseline has no shared prior features
        pass


def preset(name, activation):
    if name == "fig2":
        t = mc.make_task(mc.TaskSpec())
        spec = mc.NetworkSpec(width=100, chi=1.0, g_v=0.5, g_w=0.5, kappa0=1.0, activation=activation)
    else:
        t = mc.make_task(mc.TaskSpec(P=20, P_test=300, D=50))
        spec = mc.NetworkSpec(width=50, chi=1.0, g_v=0.5, g_w=0.5, kappa0=1.0, activation=activation)
    return t, spec


def timed_sweep(t, spec, chis, methods):
    cold()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sw = mc.sweep(t.X, t.y, spec, chis=chis, methods=methods, X_test=t.X_test, y_test=t.y_test)
    return sw, time.perf_counter() - t0


def loop_stats(sw):
    res = [r for r in sw.results["one_loop"] if r is not None]
    flagged = sum("mc_error_large" in r.flags for r in res)
    worst = max(float(getattr(r, "mc_ratio", 0.0) or 0.0) for r in res)
    variants = sorted({f"{r.variant}/{getattr(r, 'ansatz', '')}" for r in res})
    return flagged, len(res), worst, variants


def main():
    skip = set(filter(None, args.skip.split(",")))
    acts = args.activations.split(",")
    print(f"mastcore from {os.path.abspath(args.root)}; load average {os.getloadavg()}")
    rows = []
    if "fig2" not in skip:
        ref = None
        for act in acts:
            t, spec = preset("fig2", act)
            chis = np.geomspace(1, spec.width, args.chis)
            _, base = timed_sweep(t, spec, chis, METHODS_REF)
            ref = base if act == "erf" else ref
            print(f"(fig2 {act}: nngp+tree+rescaled {base:.2f} s; load {os.getloadavg()})", flush=True)
            sw, full = timed_sweep(t, spec, chis, METHODS_ALL)
            fl, n, worst, var = loop_stats(sw)
            rows.append(("fig2", act, base, full, full / ref if ref else float("nan"),
                         sw.seconds["one_loop"], f"{fl}/{n}", worst, " ".join(var)))
            print(f"(fig2 {act}: reference {base:.2f} s, with one_loop {full:.1f} s; load {os.getloadavg()})",
                  flush=True)
    if "teaching" not in skip:
        for act in acts:
            t, spec = preset("teaching", act)
            chis = np.geomspace(1, spec.width, args.chis)
            _, base = timed_sweep(t, spec, chis, METHODS_REF)
            sw, full = timed_sweep(t, spec, chis, METHODS_ALL)
            fl, n, worst, var = loop_stats(sw)
            rows.append(("teaching", act, base, full, float("nan"), sw.seconds["one_loop"], f"{fl}/{n}", worst,
                         " ".join(var)))
    print(f"\n{args.chis} χ, cold cache; load average now {os.getloadavg()}\n")
    print("| preset | φ | nngp+tree+rescaled (s) | + one_loop (s) | ÷ erf reference | one_loop (s) | "
          "mc_error_large | max mc_ratio | variants |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]} | {r[7]:.3f} | {r[8]} |")
    if "mc" not in skip:
        print("\n| preset | φ | χ | variant | samples | mc_ratio (target ≤ 0.01) | mc_error_large | seconds |")
        print("|---|---|---|---|---|---|---|---|")
        for name in ("teaching", "fig2"):
            for act in acts:
                t, spec = preset(name, act)
                for chi in (1.0, float(np.sqrt(spec.width)), float(spec.width)):
                    for variant in args.variants.split(","):
                        if variant == "nngp" and chi > 1:  # an expansion in the tilt: valid at χ = 1 only
                            continue
                        cold()
                        t0 = time.perf_counter()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            r = mc.one_loop(t.X, t.y, spec.replace(chi=chi), t.X_test, variant=variant)
                        print(f"| {name} | {act} | {chi:.3g} | {variant} → {r.variant}/{r.ansatz} | {r.n_samples} | "
                              f"{r.mc_ratio:.4f} | {'mc_error_large' in r.flags} | {time.perf_counter() - t0:.1f} |",
                              flush=True)
    if "digits" not in skip:
        print("\n| digits P = 300, χ = N = 300 | φ | seconds | peak MB (tracemalloc) | result |")
        print("|---|---|---|---|---|")
        t = mc.make_task(mc.TaskSpec(name="digits", P=300, P_test=300, D=64,
                                     options=(("binary", "even vs odd"),)))
        for act in acts:
            spec = mc.NetworkSpec(width=300, chi=300.0, g_v=1.0, g_w=1.0, kappa0=0.25, activation=act)
            cold()
            tracemalloc.start()
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = mc.one_loop(t.X, t.y, spec, t.X_test, variant="perturbative", ansatz="particles")
                out = f"ok, mc_ratio {r.mc_ratio:.3f}"
            except (ValueError, MemoryError) as exc:
                out = f"refused: {str(exc)[:90]}"
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            print(f"| | {act} | {time.perf_counter() - t0:.1f} | {peak:.0f} | {out} |")


if __name__ == "__main__":
    main()
