"""Which theory where: the theory map and the recommendation rule (docs/theory.md §18).

:func:`theory_map` measures every theory's error over a grid of widths N (i.e. P/N) and χ/N against a reference —
the exact posterior of a linear network (1-D quadrature, seconds for the whole map) or trained networks for erf/ReLU
(Langevin ensembles, cached on disk, computed on demand with progress) — and marks the most accurate theory in each
cell. Every computation goes through :func:`mastcore.sweep` (one sweep over the χ column per width and method).

:func:`recommend` names the theory with the smallest error band at one setting — the rule of
``mc.one_loop(variant="auto")`` (docs/theory.md §19.3) — and says whether it can be trusted: only when that band is
at most 10 % of its shift from the NNGP inside the calibrated region (docs/theory.md §19.4); otherwise how uncertain
it is. It needs no reference; it costs one ``variant="auto"`` one loop (~0.1 s for linear networks and for erf/ReLU
near the prior; seconds where the particle saddle is tried).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .activations import get_activation
from ._plumbing.budget import Cost, estimate, estimate_sweep, format_seconds
from ._plumbing.validation import check_callable, check_data, positive_float, positive_int
from .cache import CacheMiss
from ._registry import LiveView
from .methods import METHODS
from .specs import NetworkSpec
from .engine import sweep as _sweep
from .theory.bands import band_of_mean_y_delta
from .theory.kernels.nngp import train_kernel_eigh
from .theory.loops.one_loop import one_loop as _one_loop
from .theory.loops.nonlinear import SADDLE_MAX_P
from .theory.renormalised.one_loop import LEAVE_FLAGS

__all__ = ["THEORIES", "THEORY_LABELS", "TheoryMap", "calibrated", "default_grid", "estimate_map", "map_jobs",
           "recommend", "theory_map"]

#: The theories of a map: key → (label, sweep method, sweep options), from the method registry.
THEORIES = LiveView(lambda: {key: (label, name, dict(opts)) for name, record in METHODS.items()
                             for key, label, opts in record.map_theories})
THEORY_LABELS = LiveView(lambda: {key: value[0] for key, value in THEORIES.items()})
#: χ/N columns of the default map; 0 stands for χ = 1 (standard scaling).
CHI_FRACTIONS = (0.0, 0.05, 0.25, 1.0)
#: Langevin ensembles of an erf/ReLU map (the reference), unless the caller passes its own.
NETWORK_OPTIONS = dict(ensemble=16, steps=8000, burn_in=2000, device="cpu", seed=0)
#: recommend(): the chosen theory is "trustworthy" when its error band of train mean(y·Δ) is at most this share of
#: its finite-width shift from the NNGP, inside the calibrated region (docs/theory.md §19.4).
TRUST_SHARE = 0.10
#: recommend(): the calibrated region, where the bands' coverage was measured (docs/theory.md §19.4) — linear
#: networks: N ≥ P / CALIBRATED_MAX_P_OVER_N, 1 ≤ χ ≤ N, κ0 and g_v = g_w inside the grid of bench/bands.py
#: (P ≤ 60 there; the linear bands depend on P only through P/N and rank X / N, docs/theory.md §19.1).
CALIBRATED_MAX_P_OVER_N = 2.0
CALIBRATED_KAPPA0 = (0.1, 1.0)
CALIBRATED_G = (0.5, 2.0)
#: erf/ReLU: the trained-network grid of bench/nonlinear_one_loop.py --calibrate — P ≤ 60 (one case at P = 120 only),
#: N ≥ P, 1 ≤ χ ≤ N,
#: κ0 = 0.25 and g = 1 (± CALIBRATED_NONLINEAR_TOL, relative), Gaussian inputs with an erf or ReLU teacher.
CALIBRATED_NONLINEAR_MAX_P = 60
CALIBRATED_NONLINEAR_MAX_P_OVER_N = 1.0
CALIBRATED_NONLINEAR_KAPPA0 = 0.25
CALIBRATED_NONLINEAR_G = 1.0
CALIBRATED_NONLINEAR_TOL = 0.25


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
    if not linear and P > SADDLE_MAX_P:
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

    check_callable("progress", progress)
    check_callable("cancel", cancel)
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


def calibrated(P: int, spec: NetworkSpec) -> bool:
    """Whether (P, N, χ, κ0, g) lies in the region where the error bands' coverage was measured (docs/theory.md
    §19.4). Linear networks (bench/bands.py, against the exact quadrature): N ≥ P/2, 1 ≤ χ ≤ N, 0.1 ≤ κ0 ≤ 1,
    0.5 ≤ g_v, g_w ≤ 2 (wider nets are closer to every expansion's limit, their errors fall like 1/N or 1/N², §10.2).
    erf/ReLU (bench/nonlinear_one_loop.py --calibrate, against trained networks): P ≤ 60, N ≥ P, 1 ≤ χ ≤ N and
    κ0, g within 25 % of the measured 0.25 and 1."""
    if not 1.0 <= spec.chi <= spec.width:
        return False
    if get_activation(spec.activation).linear:
        lo_k, hi_k = CALIBRATED_KAPPA0
        lo_g, hi_g = CALIBRATED_G
        return (P / spec.width <= CALIBRATED_MAX_P_OVER_N and lo_k <= spec.kappa0 <= hi_k
                and all(lo_g <= g <= hi_g for g in (spec.g_v, spec.g_w)))
    tol = CALIBRATED_NONLINEAR_TOL
    return (P <= CALIBRATED_NONLINEAR_MAX_P and P / spec.width <= CALIBRATED_NONLINEAR_MAX_P_OVER_N
            and abs(spec.kappa0 / CALIBRATED_NONLINEAR_KAPPA0 - 1) <= tol
            and all(abs(g / CALIBRATED_NONLINEAR_G - 1) <= tol for g in (spec.g_v, spec.g_w)))


def _uncertainty(band: float, shift: float) -> str:
    """The band in plain words, relative to the finite-width shift it is part of (docs/theory.md §19.4)."""
    if not np.isfinite(band):
        return "its error could not be estimated"
    if shift <= 0 or band >= shift:
        return (f"its estimated error (±{band:.2g} in mean(y·Δ)) is as large as the whole finite-width shift "
                f"({shift:.2g}): the sign of the feature-learning effect is not certain")
    pct = 100 * band / shift
    return f"its estimated error is ±{band:.2g} in mean(y·Δ), {pct:.0f} % of the finite-width shift ({shift:.2g})"


def recommend(X, y, spec: NetworkSpec, X_test=None, *, n_samples: int = 20000,
              saddle_seconds: float | None = None) -> dict:
    """The theory with the smallest error band at this setting and whether it can be trusted (docs/theory.md §19).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None; spec : NetworkSpec (width, χ, activation, ...).
    n_samples : prior samples of the erf/ReLU Monte Carlo (kept small: this runs on every setting).
    saddle_seconds : the most seconds the one loop around the particle saddle (erf/ReLU) may take by the budget's
        estimate (None: no limit). Above it that candidate is not run, the choice is among what ran, and the reason
        says so (the app passes its run-at-once limit: a page never waits minutes for its recommendation).

    Returns
    -------
    dict with ``method`` (a mc.sweep method name), ``options`` (its sweep options), ``label`` (for people),
    ``theory`` (a key of THEORIES), ``trustworthy`` (bool), ``reason`` (plain text), ``band`` (the band of train
    mean(y·Δ)), ``shift`` (|theory − NNGP| of train mean(y·Δ)) and ``diagnostics`` (numbers behind the choice).

    Notes
    -----
    The rule is the one of ``mc.one_loop(variant="auto")`` (:func:`mastcore.theory.bands.pick`): the variant with
    the smallest band. "Trustworthy" only when that band is at most TRUST_SHARE (10 %) of the shift from the NNGP
    and (P, N, χ) lies in the calibrated region (:func:`calibrated`); otherwise the reason says how uncertain.
    """

    X, y, X_test = check_data(X, y, X_test)
    P = X.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        linear = get_activation(spec.activation).linear
        variant, skipped = "auto", None
        if not linear and saddle_seconds is not None:
            cost = estimate("one_loop", P=P, D=X.shape[1], width=spec.width, activation=spec.activation,
                            variant="perturbative", ansatz="particles", chi=spec.chi)
            if cost.seconds > positive_float("saddle_seconds", saddle_seconds):
                variant, skipped = "renormalised", cost.seconds
        res = _one_loop(X, y, spec, None, variant=variant, kernel_variance=False,
                        n_samples=None if linear else n_samples, max_samples=None if linear else n_samples)
    band = band_of_mean_y_delta(res, y)
    base = _nngp_mean_y_delta(X, y, spec)
    shift = abs(float(np.mean(y * (y - res.f_train))) - base)
    diag = dict(band=band, shift=shift, variant=res.variant, nongaussian_ratio=getattr(res, "nongaussian_ratio", 0.0),
                loop_ratio=res.loop_ratio, flags=res.flags, P_over_N=P / spec.width, chi_over_N=spec.chi / spec.width)
    if res.variant == "renormalised":
        choice = dict(method="one_loop", options={"variant": "renormalised"}, label="renormalised one loop",
                      theory="renormalised_loop")
    else:
        extra = {} if linear else {"ansatz": "particles"}
        label = "one loop around the saddle" if linear else "one loop around the particle saddle"
        choice = dict(method="one_loop", options={"variant": "perturbative", **extra}, label=label, theory="one_loop")
    inside = calibrated(P, spec)
    small = np.isfinite(band) and band <= TRUST_SHARE * shift
    reason = f"the {choice['label']} has the smallest error band here: {_uncertainty(band, shift)}"
    if skipped is not None and any(f in LEAVE_FLAGS for f in res.flags):
        small = False  # the renormalised one loop left its expansion and the exact saddle was not computed
        reason += (f"; the neuron law is far from the prior here and the one loop around the particle saddle, which "
                   f"may be more accurate, was not run (about {format_seconds(skipped)}; mc.recommend without "
                   "saddle_seconds runs it)")
    if not inside:
        reason += (f"; P = {P}, P/N = {P / spec.width:.2g}, χ/N = {spec.chi / spec.width:.2g}, κ0 = {spec.kappa0:g}, "
                   f"g = {spec.g_v:g}/{spec.g_w:g} lie outside the region where the bands were checked "
                   "(docs/theory.md §19.4)")
    elif not linear:
        reason += ("; for erf/ReLU the band was checked against trained networks on Gaussian inputs with erf and "
                   "ReLU teachers (docs/theory.md §19.4), not on this data")
    return dict(**choice, trustworthy=bool(inside and small), reason=reason, band=band, shift=shift,
                diagnostics=diag)


def _nngp_mean_y_delta(X, y, spec: NetworkSpec) -> float:
    """Train mean(y·Δ) of the NNGP = κ0 yᵀ(C0 + κ0)⁻¹y / P (docs/theory.md §0.2)."""
    lam, Q = train_kernel_eigh(X, spec)
    yt = Q.T @ y
    return float(spec.kappa0 * np.sum(yt**2 / (np.clip(lam, 0.0, None) + spec.kappa0)) / X.shape[0])
