"""Error bands: an estimate of the systematic error of every theory value, and the one rule that picks a theory by
it (docs/theory.md §19).

A band is a per-point half-width b ≥ 0 with |f_theory − f_exact| ≲ b, on the train set (``theory_error_train``,
shape (P,)) and the test set (``theory_error_test``, (P*,)). The estimate is, by theory (docs/theory.md §19.1):

* renormalised one loop (§12.5): the next order of its Laplace expansion in t = ln u, the loop correction times its
  expansion parameter σ² = −1/Φ''(t*): b = K·σ²·|δ_loop|; erf/ReLU add the next order of the Edgeworth term,
  K·ρ_E·|Δ_E| (ρ_E = ‖Δ_E‖/‖Δ(u*)‖, its own expansion parameter);
* one loop around the saddle (§6, §12.2): the loop correction times r/N (r = rank X; P for erf/ReLU, §12.2),
  b = K·(r/N)·|δ_loop|, or the disagreement bound below where that is tighter (both bound the error when the
  renormalised one loop's band does); an erf/ReLU saddle of a Gaussian ansatz (not the exact saddle, §9.6): the
  sum of the two;
* every other theory (NNGP, tree level, renormalised kernel, the 1/N expansion around the NNGP, the
  self-consistent one loop): its disagreement with the renormalised one loop plus that one's band,
  b = |f − f_ren| + b_ren — a bound whenever b_ren bounds the renormalised one loop's error (triangle inequality);
  for the NNGP this is the estimated finite-width shift itself;
* the exact quadrature: 0; samplers: None (their error is statistical: ``se_train``/``se_test``).

K = :data:`SAFETY` = 2, calibrated on linear networks against the exact quadrature (bench/bands.py): the largest
ratio error/(σ²|δ_loop|) of the renormalised one loop and error/((r/N)|δ_loop|) of the saddle one loop on the
generated grid were 0.77 and 0.97 (summed over points as mean(|y|·|δ|)). erf/ReLU: the same rule, checked (not
refitted) against trained networks on Gaussian inputs with erf and ReLU teachers (bench/nonlinear_one_loop.py
--calibrate; coverage in docs/theory.md §19.4).

:func:`pick` is the rule of ``variant="auto"`` and :func:`mastcore.validity.recommend`: among the results that
ran, the one whose band of train mean(y·Δ), mean(|y|·b), is smallest.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ..activations import get_activation
from .._api import outermost_call, set_result_hook
from .._linalg import _Memo, content_key, row_space
from ..results import SampledResult
from . import _defaults

__all__ = ["SAFETY", "at_spec", "attach", "band_of_mean_y_delta", "companion", "lender", "pick"]

#: Safety factor K of every next-order estimate (docs/theory.md §19.1; calibration in bench/bands.py).
SAFETY = 2.0
#: Prior samples of the companion renormalised one loop of erf/ReLU theories (its non-Gaussian term): few, for speed
#: (~0.1 s at P = 40); its Monte-Carlo error (2 s.e. per point) is added to the band it lends (docs/theory.md §19.1).
#: Defined in theory/_defaults.py, which the budget reads too.
COMPANION_SAMPLES = _defaults.COMPANION_SAMPLES

#: Companions kept (a few data sets × the χ of a sweep; its own store, so that it never evicts the work on X of
#: docs/theory.md §17.3 from mastcore._linalg.MEMO).
_COMPANIONS = _Memo(32, 64 * 2**20)

#: The context of a solver's own work (solvers called inside it estimate no band of their own).
inner = outermost_call


def _sigma2(result) -> float:
    """σ² = −1/Φ''(t*) of a renormalised one loop, read back from its kernel variance σ²·(u*C0)∘(u*C0)."""
    C = np.asarray(result.tree.C)
    i = int(np.argmax(np.abs(np.diag(C))))
    return float(result.kernel_variance[i, i] / C[i, i] ** 2)


def _own(result, X):
    """(train, test) band of a loop expansion from its own next order, or None for other theories."""
    if result.method != "one_loop":
        return None
    variant = result.variant
    corr = result.delta_shift + result.delta_fluct
    corr_t = (None if result.delta_shift_test is None or result.delta_fluct_test is None
              else result.delta_shift_test + result.delta_fluct_test)
    if variant == "renormalised":
        # next order of the Laplace expansion in t: σ² × the loop correction (docs/theory.md §19.1)
        eps = _sigma2(result)
        ng = float(getattr(result, "nongaussian_ratio", 0.0) or 0.0)
        d_e = getattr(result, "delta_nongaussian", None)
        train = SAFETY * eps * np.abs(corr)
        if d_e is not None and ng > 0:
            train = train + SAFETY * ng * np.abs(d_e)
        test = None if corr_t is None else SAFETY * (eps + ng) * np.abs(corr_t)
        return train, test
    if variant == "perturbative":
        N = result.spec.width
        r = row_space(X).rank if get_activation(result.spec.activation).linear else X.shape[0]
        eps = r / N  # the loop counting of docs/theory.md §6.7
        return SAFETY * eps * np.abs(corr), None if corr_t is None else SAFETY * eps * np.abs(corr_t)
    return None


def companion(X, y, spec, X_test):
    """The renormalised one loop with its band: the reference of the disagreement bands (docs/theory.md §19.1).
    Memoised on the data's content and the spec (docs/theory.md §17.3): a sweep asks for it once per χ and theory."""
    from .renormalised.one_loop import renormalised_one_loop

    def compute():
        with warnings.catch_warnings(), inner():
            warnings.simplefilter("ignore")
            ren = renormalised_one_loop(X, y, spec, X_test, n_samples=COMPANION_SAMPLES,
                                        max_samples=COMPANION_SAMPLES)
        return lender(attach(ren, X, y, X_test))

    key = (content_key(X), content_key(y), None if X_test is None else content_key(X_test), spec)
    return _COMPANIONS.get("band_companion", key, compute)


def lender(ren):
    """The renormalised one loop ``ren`` (with its band) as the reference of disagreement bands: its Monte-Carlo
    error, 2 s.e. per point, joins the band it lends (docs/theory.md §19.1); unchanged without Monte Carlo."""
    if ren.se_train is None:
        return ren
    test = None if ren.se_test is None or ren.theory_error_test is None else ren.theory_error_test + 2 * ren.se_test
    return dataclasses.replace(ren, theory_error_train=ren.theory_error_train + 2 * ren.se_train,
                               theory_error_test=test)


def _disagreement(result, ref):
    train = np.abs(result.f_train - ref.f_train) + ref.theory_error_train
    test = None
    if result.f_test is not None and ref.f_test is not None and ref.theory_error_test is not None:
        test = np.abs(result.f_test - ref.f_test) + ref.theory_error_test
    return train, test


def attach(result, X, y, X_test=None, *, ref=None):
    """``result`` with ``theory_error_train``/``theory_error_test`` filled by the rule of the module docstring.

    Parameters
    ----------
    result : a theory result (mc.nngp, mc.tree_level, mc.rescaled_kernel, mc.one_loop) or the quadrature (zero
        band); samplers and results that already carry a band are returned unchanged.
    X (P, D), y (P,), X_test (P*, D) or None : the data the result was computed on.
    ref : the companion renormalised one loop with its band, when the caller already has it (else computed).
    """
    if result.theory_error_train is not None or isinstance(result, SampledResult):
        return result  # samplers: None (their error is statistical)
    if result.method == "quadrature":  # exact (docs/theory.md §7.4): zero width
        zero_t = None if result.f_test is None else np.zeros_like(result.f_test)
        return dataclasses.replace(result, theory_error_train=np.zeros_like(result.f_train),
                                   theory_error_test=zero_t)
    if result.method not in ("nngp", "tree", "rescaled", "one_loop"):
        return result  # samplers: None (their error is statistical)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    X_test = None if X_test is None else np.asarray(X_test, dtype=np.float64)
    own = _own(result, X)
    if own is not None and getattr(result, "variant", "") == "renormalised":
        train, test = own
    else:
        if ref is None:
            try:
                ref = companion(X, y, result.spec, X_test)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                # no reference to measure the disagreement against (e.g. labels beyond the saddle solver's range):
                # the value stands, its band is unknown — said by a flag, never a silent zero
                return dataclasses.replace(result, flags=(*result.flags, "band_unavailable"))
        train, test = _disagreement(result, ref)
        if own is not None and getattr(result, "ansatz", "particles") not in ("particles", ""):
            # the saddle of a Gaussian ansatz is not the exact saddle (§9.6): its next order plus the disagreement
            train = train + own[0]
            test = None if test is None or own[1] is None else test + own[1]
        elif own is not None and np.mean(np.abs(y) * own[0]) < np.mean(np.abs(y) * train):
            # the exact saddle: the tighter of two bounds, its next order or the disagreement — chosen as a whole
            # (by the band of mean(y·Δ)): each bounds the error of the summaries, not of every point
            train, test = own
    if result.f_test is None:
        test = None
    return dataclasses.replace(result, theory_error_train=train, theory_error_test=test)


def at_spec(result, spec, X, y, X_test=None):
    """A χ-independent result (the NNGP) at another ``spec``, its band estimated anew: the NNGP's value does not
    depend on χ but its distance to the finite-width answer does (docs/theory.md §19.1)."""
    moved = dataclasses.replace(result, spec=spec, theory_error_train=None, theory_error_test=None)
    return attach(moved, X, y, X_test)


def band_of_mean_y_delta(result, y) -> float:
    """Band of train mean(y·Δ): mean(|y|·b) (docs/theory.md §19.2); inf without a band."""
    if result.theory_error_train is None:
        return float("inf")
    return float(np.mean(np.abs(np.asarray(y, dtype=np.float64)) * result.theory_error_train))


def pick(results, y):
    """The result with the smallest band of train mean(y·Δ) among ``results`` (None entries skipped): the one rule
    of ``variant="auto"`` and ``mc.recommend`` (docs/theory.md §19.3). Ties go to the earlier entry."""
    ran = [r for r in results if r is not None]
    if not ran:
        raise ValueError("'results' must contain at least one result")
    return min(ran, key=lambda r: band_of_mean_y_delta(r, y))


set_result_hook(attach)  # every public solver's outermost call attaches its band (mastcore._api, step 5)
