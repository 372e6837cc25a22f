"""Randomised quasi-Monte Carlo standard normals: independently scrambled Sobol' sequences (scipy.stats.qmc) mapped
by Φ⁻¹ — the shared prior draws of the renormalised one loop (docs/theory.md §12.9) and the weighted particle saddle
(docs/theory.md §9.4, §12.11) take their points here."""
from __future__ import annotations

import numpy as np

from . import _defaults

__all__ = ["SOBOL_MAX_DIM", "normals", "sobol_engine"]

#: Largest dimension of scipy's Sobol' direction numbers; beyond it the callers draw pseudo-random normals.
SOBOL_MAX_DIM = _defaults.SOBOL_MAX_DIM


def sobol_engine(r: int, seed):
    """A scrambled Sobol' engine in ``r`` dimensions, its scrambling drawn from ``seed`` (an int or a sequence of ints
    for numpy's default_rng)."""
    from scipy.stats import qmc  # noqa: PLC0415

    return qmc.Sobol(r, scramble=True, seed=np.random.default_rng(seed))


def normals(engine, count: int) -> np.ndarray:
    """The engine's next ``count`` points as standard normals, Φ⁻¹(u) with u clipped to [1e-16, 1 − 1e-16]."""
    from scipy.special import ndtri  # noqa: PLC0415

    return ndtri(np.clip(engine.random(count), 1e-16, 1 - 1e-16))
