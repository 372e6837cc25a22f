"""Summaries of the discrepancy Δ = y − ⟨f⟩ (THEORY §0)."""
from __future__ import annotations

import numpy as np

from ._validation import as_vector

__all__ = ["discrepancies", "split_rhat"]


def discrepancies(y, f) -> dict:
    """mean(y·Δ), mean(Δ²) and the 0-1 error of sign(f) for Δ = y − f.

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


def split_rhat(chains: np.ndarray) -> float:
    """Split-R̂ (Gelman et al.) of scalar traces ``chains`` (n_chains, n_samples); 1 when equilibrated."""
    chains = np.asarray(chains, dtype=np.float64)
    n = chains.shape[1] // 2
    if n < 2:
        return float("nan")
    halves = np.concatenate([chains[:, :n], chains[:, -n:]], axis=0)
    within = np.mean(np.var(halves, axis=1, ddof=1))
    between = n * np.var(np.mean(halves, axis=1), ddof=1)
    if within <= 0:
        return 1.0 if between <= 0 else float("inf")
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))
