"""Summaries of the discrepancy Δ = y − ⟨f⟩ and their standard errors (docs/theory.md §0, §14)."""
from __future__ import annotations

import numpy as np

from ._plumbing.validation import as_vector, is_pm1

__all__ = ["AGREE_RTOL", "BAND_COLUMNS", "SUMMARIES", "chain_se", "chains_agree", "discrepancies", "propagate_band",
           "split_rhat", "summarize"]

#: The discrepancy summaries of :func:`discrepancies`, in table order.
SUMMARIES = ("mean_y_delta", "mean_sq_delta", "error01")


def discrepancies(y, f) -> dict:
    """mean(y·Δ), mean(Δ²) and the 0-1 error of sign(f) for Δ = y − f (docs/theory.md §0).

    The 0–1 error (fraction of points where sign(f) ≠ y) is defined for ±1 labels only; for any other labels
    ({0, 1}, several classes, real-valued regression targets) it is NaN.

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
        error01=float(np.mean(np.sign(f) != y)) if is_pm1(y) else float("nan"),
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
    if not hasattr(result, "f_train"):
        raise ValueError(f"'result' must be a result of a mastcore solver (with f_train, f_test); got "
                         f"{type(result).__name__}")
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
    if chains.ndim != 2:
        raise ValueError(f"'chains' must be a 2-D array (n_chains, n_samples): one trace per row; got shape "
                         f"{chains.shape} (a single chain is chains[None, :])")
    if chains.size == 0 or not np.all(np.isfinite(chains)):
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


#: Chains agree when every post-burn-in record of every chain lies within this fraction of the quantity's scale
#: (e.g. mean(y²) for mean(y·Δ)) of every other: whatever the chains' equilibrium, their estimate is then pinned to
#: this fraction, below the smallest standard error the library reports (exact posterior at its defaults in the
#: Fig.-2 setting: 2.7e-5 at χ = 1, 7.8e-6 at χ = 100, measured). R̂ is a ratio of between- to within-chain variance,
#: blind to their size: at κ0 → 0 the networks interpolate, the traces barely move, and chains agreeing to 8e-8 of
#: the scale gave R̂ ≈ 10-27 (docs/theory.md §14.2).
AGREE_RTOL = 1e-6


def chains_agree(chains: np.ndarray, scale: float, rtol: float = AGREE_RTOL) -> bool:
    """True when the traces ``chains`` (n_chains, n_samples) all lie within ``rtol`` × max(scale, max|trace|)
    of each other: their disagreement is negligible against the quantity's scale whatever R̂ says
    (docs/theory.md §14.2). False for non-finite or empty traces."""
    chains = np.asarray(chains, dtype=np.float64)
    if chains.ndim != 2:
        raise ValueError(f"'chains' must be a 2-D array (n_chains, n_samples); got shape {chains.shape}")
    if chains.size == 0 or not np.all(np.isfinite(chains)):
        return False
    ref = max(float(np.max(np.abs(chains))), abs(float(scale)))
    return bool(float(np.ptp(chains)) <= rtol * ref)
