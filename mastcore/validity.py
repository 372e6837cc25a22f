"""Which theory where: the theory map and the recommendation rule (docs/theory.md §18).

:func:`theory_map` measures every theory's error over a grid of widths N (i.e. P/N) and χ/N against a reference —
the exact posterior of a linear network (1-D quadrature, seconds for the whole map) or trained networks for erf/ReLU
(Langevin ensembles, cached on disk, computed on demand with progress) — and marks the most accurate theory in each
cell. Every computation goes through :func:`mastcore.sweep` (one sweep over the χ column per width and method).

:func:`recommend` names the most accurate theory at one setting and says whether it can be trusted, by the rule
measured with those maps (docs/theory.md §18): it needs no reference and costs about one renormalised one loop.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .activations import get_activation
from ._budget import Cost, estimate_sweep
from ._validation import check_data, positive_float, positive_int
from .cache import CacheMiss
from .specs import NetworkSpec
from .sweep import sweep as _sweep
from .theory.one_loop_nonlinear import DENSE_MAX_P
from .theory.renormalised import LEAVE_FLAGS, NONGAUSSIAN_MAX, renormalised_one_loop

__all__ = ["THEORIES", "THEORY_LABELS", "TheoryMap", "default_grid", "estimate_map", "map_jobs", "recommend",
           "theory_map"]

#: The theories of a map: key → (label, sweep method, sweep options).
THEORIES = {
    "nngp": ("NNGP", "nngp", {}),
    "tree": ("tree level", "tree", {}),
    "rescaled": ("renormalised kernel", "rescaled", {}),
    "one_loop": ("one loop (saddle)", "one_loop", {"variant": "perturbative"}),
    "nngp_loop": ("1/N around the NNGP", "one_loop", {"variant": "nngp"}),
    "renormalised_loop": ("renormalised one loop", "one_loop", {"variant": "renormalised"}),
}
THEORY_LABELS = {k: v[0] for k, v in THEORIES.items()}
#: χ/N columns of the default map; 0 stands for χ = 1 (standard scaling).
CHI_FRACTIONS = (0.0, 0.05, 0.25, 1.0)
#: Langevin ensembles of an erf/ReLU map (the reference), unless the caller passes its own.
NETWORK_OPTIONS = dict(ensemble=16, steps=8000, burn_in=2000, device="cpu", seed=0)
#: recommend(): a theory is trustworthy when its measured error on the maps of docs/theory.md §18 stayed below
#: this share of the finite-width shift (and its own breakdown flags are clear).
TRUST_SHARE = 0.15


def default_grid(P: int, width: int) -> tuple[tuple, tuple]:
    """Default widths (around the current one, P/N from about 2 to 1/8) and χ/N fractions of a map."""
    Ns = sorted({max(2, int(round(width * f))) for f in (0.25, 0.5, 1.0, 2.0, 4.0)})
    return tuple(Ns), CHI_FRACTIONS


def _chi(N: int, fraction: float) -> float:
    return 1.0 if fraction <= 0 else max(1.0, fraction * N)


@dataclass(frozen=True)
class TheoryMap:
    """Errors of every theory over widths × χ/N (docs/theory.md §18).

    widths (nN,), chi_fractions (nχ,) with 0 = "χ = 1"; chis (nN, nχ) the χ of each cell; theories: keys of
    THEORIES; value[theory] (nN, nχ): train mean(y·Δ) (NaN where not computed); reference (nN, nχ) and
    reference_se (0 for the quadrature); nngp (nN, nχ); reference_kind "quadrature" or "networks"; complete:
    False when the computation was cancelled part-way. ``error(t)`` = |value − reference|; ``relative_error(t)`` =
    error / |reference − NNGP| (the share of the finite-width shift it misses); ``best`` the most accurate theory
    per cell ("" where nothing was computed); ``table`` one row per (N, χ, theory) (column ``chi_fraction`` is the
    grid's χ/N, 0 for χ = 1; ``chi_over_N`` the cell's actual χ/N).
    """

    widths: np.ndarray
    chi_fractions: np.ndarray
    chis: np.ndarray
    theories: tuple
    value: dict
    reference: np.ndarray
    reference_se: np.ndarray
    nngp: np.ndarray
    reference_kind: str
    activation: str
    P: int
    complete: bool = True
    flags: dict = field(default_factory=dict)

    def error(self, theory: str) -> np.ndarray:
        return np.abs(self.value[theory] - self.reference)

    def relative_error(self, theory: str) -> np.ndarray:
        shift = np.abs(self.reference - self.nngp)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.error(theory) / shift

    @property
    def best(self) -> np.ndarray:
        errs = np.stack([np.where(np.isfinite(self.error(t)), self.error(t), np.inf) for t in self.theories])
        idx = np.argmin(errs, axis=0)
        out = np.array(self.theories, dtype=object)[idx]
        out[~np.isfinite(np.min(errs, axis=0))] = ""
        return out

    @property
    def table(self) -> pd.DataFrame:
        rows = []
        for i, N in enumerate(self.widths):
            for j, f in enumerate(self.chi_fractions):
                for t in self.theories:
                    rows.append(dict(width=int(N), P_over_N=self.P / N, chi_fraction=float(f),
                                     chi=float(self.chis[i, j]),
                                     chi_over_N=float(self.chis[i, j] / N), theory=t, label=THEORY_LABELS[t],
                                     mean_y_delta=float(self.value[t][i, j]), reference=float(self.reference[i, j]),
                                     reference_se=float(self.reference_se[i, j]), error=float(self.error(t)[i, j]),
                                     relative_error=float(self.relative_error(t)[i, j]),
                                     best=bool(self.best[i, j] == t)))
        return pd.DataFrame(rows)


def _myd(y, f) -> float:
    return float(np.mean(y * (y - f)))


@dataclass(frozen=True)
class _Plan:
    """What a map computes: its grid, its theories grouped by sweep call, and the jobs (one mc.sweep each)."""

    widths: np.ndarray
    fracs: np.ndarray
    chis: np.ndarray  # (widths, fracs) χ of each cell
    theories: tuple
    groups: dict  # (method, options) → theory keys
    reference: str  # "quadrature" (linear) or "langevin"
    jobs: list  # (N, method, options key, row, χ values, sweep options)


def _plan(P: int, spec: NetworkSpec, widths, chi_fractions, theories, network_options) -> _Plan:
    d_widths, d_fracs = default_grid(P, spec.width)
    widths = np.array(sorted(positive_int("widths", n) for n in (d_widths if widths is None else widths)), dtype=int)
    fracs = np.array(sorted(positive_float("chi_fractions", f, allow_zero=True)
                            for f in (d_fracs if chi_fractions is None else chi_fractions)), dtype=float)
    if widths.size == 0 or fracs.size == 0:
        raise ValueError(f"'widths' must be positive integers and 'chi_fractions' ≥ 0; got {widths}, {fracs}")
    theories = tuple(THEORIES) if theories is None else tuple(theories)
    bad = [t for t in theories if t not in THEORIES]
    if bad:
        raise ValueError(f"'theories' must be among {tuple(THEORIES)}; got {bad}")
    linear = get_activation(spec.activation).linear
    if not linear and P > DENSE_MAX_P:
        theories = tuple(t for t in theories if t != "one_loop")
    chis = np.array([[_chi(int(N), f) for f in fracs] for N in widths])
    groups: dict = {}
    for t in theories:
        _, method, opts = THEORIES[t]
        groups.setdefault((method, tuple(sorted(opts.items()))), []).append(t)
    reference = "quadrature" if linear else "langevin"
    net_opts = dict(NETWORK_OPTIONS if network_options is None else network_options)
    jobs = []
    for i, N in enumerate(widths):
        for method, opts in [("nngp", ()), (reference, ())] + list(groups):
            options = {method: dict(opts)} if opts else None
            if method == "langevin":
                options = {"langevin": net_opts}
            elif method == "one_loop" and dict(opts).get("variant") == "perturbative":
                # linear: the structured one loop (no kernel variance needed); erf/ReLU: around the particle saddle,
                # the exact saddle, as variant="auto" and recommend() use it (docs/theory.md §12.4, §18.1)
                extra = {"kernel_variance": False} if linear else {"ansatz": "particles"}
                options = {"one_loop": {**dict(opts), **extra}}
            jobs.append((int(N), method, opts, i, [float(c) for c in sorted(set(chis[i]))], options))
    return _Plan(widths, fracs, chis, theories, groups, reference, jobs)


def map_jobs(P: int, spec: NetworkSpec, *, widths=None, chi_fractions=None, theories=None,
             network_options: dict | None = None) -> list[tuple[int, str, list[float], dict | None]]:
    """The mc.sweep calls :func:`theory_map` makes, in order: (width, method, χ values, sweep options) — for
    estimating its cost with mc.estimate_sweep (see :func:`estimate_map`)."""
    plan = _plan(int(P), spec, widths, chi_fractions, theories, network_options)
    return [(N, method, chis, options) for N, method, _, _, chis, options in plan.jobs]


def estimate_map(*, P: int, D: int, spec: NetworkSpec, P_test: int = 0, widths=None, chi_fractions=None,
                 theories=None, network_options: dict | None = None) -> Cost:
    """Cost of :func:`theory_map` (mc.estimate_sweep of each of its sweeps; seconds add up, bytes are the
    largest single sweep's: results of one sweep are reduced to numbers before the next)."""
    seconds, peak, what = 0.0, 0, None
    for N, method, chis, options in map_jobs(P, spec, widths=widths, chi_fractions=chi_fractions,
                                             theories=theories, network_options=network_options):
        c = estimate_sweep(P=P, D=D, width=N, P_test=P_test, activation=spec.activation, chis=chis,
                           methods=(method,), options=options, strict=False)
        seconds += c.seconds
        peak = max(peak, c.bytes)
    return Cost(bytes=peak, seconds=seconds, what=f"theory map (P={P}, D={D}, {spec.activation})")


def theory_map(X, y, spec: NetworkSpec, *, widths=None, chi_fractions=None, theories=None, X_test=None,
               network_options: dict | None = None, cache: bool | str = True, progress: Callable | None = None,
               cancel: Callable[[], bool] | None = None) -> TheoryMap:
    """Each theory's error against the exact posterior (linear) or trained networks (erf/ReLU) over N × χ/N.

    Parameters
    ----------
    X : (P, D), y : (P,); spec : NetworkSpec (its width and χ are replaced by the grid's).
    widths : widths N (default :func:`default_grid`); chi_fractions : χ/N values, 0 meaning χ = 1 (default
        CHI_FRACTIONS); a cell's χ is max(1, fraction·N).
    theories : keys of THEORIES (default all; erf/ReLU maps skip "one_loop" above P = 80, the dense limit).
    network_options : trainer options of the erf/ReLU reference (mc.LangevinOptions fields; NETWORK_OPTIONS).
    cache : passed to mc.sweep (True: compute and store; "only": read the disk cache, leave missing cells NaN).
    progress : callable(done, total, info) with info {"width", "method"}; cancel : callable() → True to stop
        (the map returned so far has ``complete=False``).

    Returns
    -------
    TheoryMap.
    """

    X, y, X_test = check_data(X, y, X_test)
    P = X.shape[0]
    plan = _plan(P, spec, widths, chi_fractions, theories, network_options)
    widths, fracs, chis, theories, groups = plan.widths, plan.fracs, plan.chis, plan.theories, plan.groups
    linear = get_activation(spec.activation).linear
    shape = (widths.size, fracs.size)
    value = {t: np.full(shape, np.nan) for t in theories}
    ref, ref_se, nngp0 = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    flags: dict = {}
    ref_method = plan.reference
    total, done, complete = len(plan.jobs), 0, True
    for job in plan.jobs:
        N, method, opts, i, cell_chis, options = job
        if cancel is not None and cancel():
            complete = False
            break
        s = spec.replace(width=int(N), chi=1.0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sw = _sweep(X, y, s, chis=cell_chis, methods=(method,), X_test=X_test, options=options,
                                      cache=cache)
        except CacheMiss:
            sw = None
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            flags[(int(N), method, opts)] = str(exc)[:200]
            sw = None
        if sw is not None:
            for j, c in enumerate(chis[i]):
                r = sw.at(method, c)
                v = _myd(y, r.f_train)
                if method == "nngp":
                    nngp0[i, j] = v
                elif method == ref_method:
                    ref[i, j] = v
                    ref_se[i, j] = r.se_of(-y / P) if hasattr(r, "se_of") else 0.0
                else:
                    for t in groups[(method, opts)]:
                        value[t][i, j] = v
                    if r.flags:
                        flags[(int(N), float(c), method, opts)] = ",".join(r.flags)
        done += 1
        if progress is not None:
            progress(done, total, {"width": int(N), "method": method})
    if "nngp" in value:
        value["nngp"] = nngp0.copy()
    return TheoryMap(widths=widths, chi_fractions=fracs, chis=chis, theories=theories, value=value, reference=ref,
                     reference_se=ref_se, nngp=nngp0, reference_kind="quadrature" if linear else "networks",
                     activation=spec.activation, P=P, complete=complete, flags=flags)


def recommend(X, y, spec: NetworkSpec, X_test=None, *, n_samples: int = 20000) -> dict:
    """The most accurate theory at this setting and whether it can be trusted (docs/theory.md §18).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None; spec : NetworkSpec (width, χ, activation, ...).
    n_samples : prior samples for the erf/ReLU non-Gaussian check (kept small: this runs on every setting).

    Returns
    -------
    dict with ``method`` (a mc.sweep method name), ``options`` (its sweep options), ``label`` (for people),
    ``theory`` (a key of THEORIES, or "particle_tree"), ``trustworthy`` (bool), ``reason`` (one sentence, plain
    text) and ``diagnostics`` (numbers behind the choice).

    The rule (measured on the maps of docs/theory.md §18):
    * linear networks: the renormalised one loop (its error against the exact posterior is O(1/N²) with a small
      coefficient at every χ and P/N measured); not trustworthy when its own flags fire (loop correction larger
      than half the discrepancy, several maxima of the scale posterior) — the exact quadrature is cheap there;
    * erf/ReLU: the renormalised one loop while its non-Gaussian term is small (‖Δ_E‖ ≤ 0.25‖Δ(u*)‖: the neuron
      law is close to the prior, χ ≪ N); otherwise the one loop around the particle saddle (P ≤ 80) or the particle
      tree level (larger P), trustworthy when N ≥ P/2.
    """

    X, y, X_test = check_data(X, y, X_test)
    P = X.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ren = renormalised_one_loop(X, y, spec, None, n_samples=n_samples, max_samples=n_samples)
    diag = dict(nongaussian_ratio=ren.nongaussian_ratio, loop_ratio=ren.loop_ratio, flags=ren.flags,
                P_over_N=P / spec.width, chi_over_N=spec.chi / spec.width)
    ren_choice = dict(method="one_loop", options={"variant": "renormalised"}, label="renormalised one loop",
                      theory="renormalised_loop")
    severe = [f for f in ren.flags if f in LEAVE_FLAGS and f != "nongaussian_large"]
    if get_activation(spec.activation).linear:
        ok = not severe
        reason = ("the one loop around the renormalised saddle u*·C0 is the Laplace expansion of the exact "
                  "one-dimensional posterior of the kernel scale: error O(1/N²) at every χ and P/N measured"
                  if ok else f"the renormalised one loop flags {', '.join(severe)}: use the exact quadrature")
        return dict(**ren_choice, trustworthy=ok, reason=reason, diagnostics=diag)
    if ren.nongaussian_ratio <= NONGAUSSIAN_MAX and not severe:  # i.e. no LEAVE_FLAGS: what variant="auto" keeps
        reason = (f"the neuron law is close to the prior (non-Gaussian term {ren.nongaussian_ratio:.2f} of the "
                  "discrepancy): the renormalised one loop captured 87–111 % of trained networks' shift at χ = 1 "
                  "(docs/theory.md §18)")
        return dict(**ren_choice, trustworthy=True, reason=reason, diagnostics=diag)
    wide = spec.width >= P / 2
    if P <= DENSE_MAX_P:
        choice = dict(method="one_loop", options={"variant": "perturbative", "ansatz": "particles"},
                      label="one loop around the particle saddle", theory="one_loop")
    else:
        choice = dict(method="tree", options={"ansatz": "particles"}, label="tree level (particles)",
                      theory="particle_tree")
    reason = (f"the neuron law is far from the prior (non-Gaussian term {ren.nongaussian_ratio:.2f} > "
              f"{NONGAUSSIAN_MAX}: feature learning), where only the particle saddle is exact"
              + ("" if wide else f"; N = {spec.width} < P/2 = {P / 2:g}: no theory measured reliable here"))
    return dict(**choice, trustworthy=bool(wide and not math.isnan(ren.nongaussian_ratio)), reason=reason,
                diagnostics=diag)
