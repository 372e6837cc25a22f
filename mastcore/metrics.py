"""Summaries of the discrepancy Δ = y − ⟨f⟩ and their standard errors (docs/theory.md §0, §14)."""
from __future__ import annotations

import numpy as np

from ._validation import as_vector

__all__ = ["BAND_COLUMNS", "SUMMARIES", "chain_se", "discrepancies", "propagate_band", "split_rhat", "summarize"]

#: The discrepancy summaries of :func:`discrepancies`, in table order.
SUMMARIES = ("mean_y_delta", "mean_sq_delta", "error01")


def discrepancies(y, f) -> dict:
    """mean(y·Δ), mean(Δ²) and the 0-1 error of sign(f) for Δ = y − f (docs/theory.md §0).

    Parameters
    ----------
    y : (n,) targets, f : (n,) mean predictor.
    """
    y = as_vector("y", y)
    f = as_vector("f", f, length=y.shape[0])
    delta = y - f
    return dict(
        mean_y_delta=float(np.mean(y * delta)),
        mean_sq_delta=float(np.mean(delta**2)),
        error01=float(np.mean(np.sign(f) != np.sign(y))),
    )


#: The band columns of :func:`summarize` (half-widths of the theory's systematic error, docs/theory.md §19.2).
BAND_COLUMNS = tuple(f"{s}_{k}_band" for s in ("train", "test") for k in ("mean_y_delta", "mean_sq_delta"))


def propagate_band(y, f, band) -> dict:
    """Bands of mean(y·Δ) and mean(Δ²) from a per-point band b of f (docs/theory.md §19.2).

    With f_exact = f + e, |e| ≤ b: |mean(y·e)| ≤ mean(|y|·b), and Δ_exact² − Δ² = −2Δe + e², so
    |mean(Δ_exact²) − mean(Δ²)| ≤ 2·mean(|Δ|·b) + mean(b²). NaN without a band.
    """
    if band is None:
        return dict(mean_y_delta=float("nan"), mean_sq_delta=float("nan"))
    y = as_vector("y", y)
    f = as_vector("f", f, length=y.shape[0])
    b = as_vector("band", band, length=y.shape[0])
    delta = y - f
    return dict(mean_y_delta=float(np.mean(np.abs(y) * b)),
                mean_sq_delta=float(2.0 * np.mean(np.abs(delta) * b) + np.mean(b**2)))


def chain_se(per_chain) -> float:
    """Standard error of a mean over independent chains: std(per_chain, ddof=1)/√n (docs/theory.md §14)."""
    per_chain = np.asarray(per_chain, dtype=np.float64)
    if per_chain.size < 2:
        return float("nan")
    return float(np.std(per_chain, ddof=1) / np.sqrt(per_chain.size))


def summarize(result, y, y_test=None) -> dict:
    """Discrepancy summaries of a result on train (and test) with standard errors where it has error bars.

    Keys: ``train_<s>`` and ``test_<s>`` for s in :data:`SUMMARIES`, and ``train_<s>_se``/``test_<s>_se`` for
    mean(y·Δ) and mean(Δ²) when the result carries per-chain means (``chain_f_train``; the s.e. is the spread of
    the summary over chains, :func:`chain_se`), NaN otherwise; ``train_<s>_band``/``test_<s>_band`` for the same
    two: the band (half-width) of a theory's systematic error propagated from ``theory_error_train``/``_test`` by
    :func:`propagate_band` (0 for the exact quadrature; NaN for samplers and without a band). Test keys are NaN
    without ``y_test`` or ``f_test``.
    """
    out = {}
    for split, target, f in (("train", y, result.f_train), ("test", y_test, result.f_test)):
        chains = getattr(result, f"chain_f_{split}", None)
        band = getattr(result, f"theory_error_{split}", None)
        have = target is not None and f is not None
        values = discrepancies(target, f) if have else dict.fromkeys(SUMMARIES, float("nan"))
        out.update({f"{split}_{k}": v for k, v in values.items()})
        for k in ("mean_y_delta", "mean_sq_delta"):
            se = float("nan")
            if have and chains is not None and np.ndim(chains) == 2 and len(chains) >= 2:
                t = np.asarray(target, dtype=np.float64)
                delta = t[None, :] - np.asarray(chains, dtype=np.float64)
                per = np.mean(t * delta, axis=1) if k == "mean_y_delta" else np.mean(delta**2, axis=1)
                se = chain_se(per)
            out[f"{split}_{k}_se"] = se
        bands = propagate_band(target, f, band) if have else propagate_band(None, None, None)
        out.update({f"{split}_{k}_band": v for k, v in bands.items()})
    return out


#: Traces whose whole spread (max − min over chains and records) is at most this fraction of their scale are
#: constant to rounding: every chain reports the same value, so they count as converged (R̂ = 1, docs/theory.md §14.2).
CONSTANT_RTOL = 1e-10


def split_rhat(chains: np.ndarray, scale: float | None = None, rtol: float = CONSTANT_RTOL) -> float:
    """Split-R̂ (Gelman et al.) of scalar traces ``chains`` (n_chains, n_samples); 1 when equilibrated.

    ``scale`` : the magnitude of the traced quantity's ingredients (e.g. mean(y²) for mean(y·Δ), which is a
    difference of such terms); traces whose spread is at most ``rtol`` × max(scale, max|trace|) are constant
    to rounding and give exactly 1 (``rtol`` larger than CONSTANT_RTOL for traces computed in float32). NaN for fewer than 2 records per half or non-finite traces (docs/theory.md §14.2).
    """
    chains = np.asarray(chains, dtype=np.float64)
    if chains.ndim != 2 or chains.size == 0 or not np.all(np.isfinite(chains)):
        return float("nan")
    n = chains.shape[1] // 2
    if n < 2:
        return float("nan")
    ref = max(float(np.max(np.abs(chains))), 0.0 if scale is None else abs(float(scale)))
    if float(np.ptp(chains)) <= rtol * ref:  # constant up to rounding: no disagreement left to measure
        return 1.0
    halves = np.concatenate([chains[:, :n], chains[:, -n:]], axis=0)
    within = np.mean(np.var(halves, axis=1, ddof=1))
    between = n * np.var(np.mean(halves, axis=1), ddof=1)
    if within <= 0:
        return 1.0 if between <= 0 else float("inf")
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))
