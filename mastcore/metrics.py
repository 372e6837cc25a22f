"""Summaries of the discrepancy Δ = y − ⟨f⟩ (THEORY §0)."""
from __future__ import annotations

import numpy as np

from ._validation import as_vector

__all__ = ["discrepancies"]


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
