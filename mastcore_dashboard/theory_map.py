"""Library calls of the Theory map page (no streamlit): the map, its cost and the recommendation at the current
setting (docs/theory.md §18)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from mastcore import validity

from . import compute
from .state import Settings

__all__ = ["CHI_CHOICES", "cached_map", "estimate_seconds", "map_widths", "recommendation", "theory_map"]

#: χ/N columns offered on the page (0 = χ = 1).
CHI_CHOICES = (0.0, 0.01, 0.05, 0.25, 1.0)
#: A map's ★ marks the best theory of a cell only where its relative error is at most this share of the
#: finite-width shift: the accuracy validity.recommend calls trustworthy (docs/theory.md §18).
ACCURACY = validity.TRUST_SHARE


def map_widths(settings: Settings) -> tuple:
    """Default widths of the map around the sidebar's N."""
    return validity.default_grid(settings.P, settings.width)[0]


def theory_map(settings: Settings, widths, chi_fractions, *, data=None, cache: bool | str = True,
               progress: Callable | None = None) -> validity.TheoryMap:
    """validity.theory_map on the sidebar's task (linear: exact quadrature; erf/ReLU: Langevin networks)."""
    task = compute.build_task(settings, data)
    return validity.theory_map(task.X, task.y, settings.network_spec(1.0), widths=tuple(widths),
                               chi_fractions=tuple(chi_fractions), cache=cache, progress=progress)


def cached_map(settings: Settings, widths, chi_fractions, *, data=None):
    """The map from the disk cache alone (cache="only"), or None when some reference cell is missing."""
    tmap = theory_map(settings, widths, chi_fractions, data=data, cache="only")
    return tmap if not np.isnan(tmap.reference).any() else None


def estimate_seconds(settings: Settings, widths, chi_fractions) -> float:
    """Expected seconds of the map: each sweep it makes (validity.map_jobs, as mc.estimate_map counts them) priced
    by compute.estimate_seconds — mc.estimate_sweep, calibrated on this machine."""
    jobs = validity.map_jobs(settings.P, settings.network_spec(1.0), widths=tuple(widths),
                             chi_fractions=tuple(chi_fractions))
    return float(sum(compute.estimate_seconds(settings.replace(width=int(N)), [method], chis, options=options)
                     for N, method, chis, options in jobs))


def recommendation(settings: Settings, chi: float, *, data=None, saddle_seconds: float | None = None) -> dict:
    """validity.recommend at the sidebar's setting and this χ (``saddle_seconds``: validity.recommend's limit on the
    particle saddle's one loop; the Regimes page passes its run-at-once limit, so the page never waits minutes)."""
    task = compute.build_task(settings, data)
    return validity.recommend(task.X, task.y, settings.network_spec(float(chi)), saddle_seconds=saddle_seconds)


def best_counts(tmap: validity.TheoryMap) -> dict:
    """How many cells each theory wins (for the page's summary line)."""
    best = tmap.best
    return {t: int(np.sum(best == t)) for t in tmap.theories if np.sum(best == t)}


def labels() -> dict:
    return dict(validity.THEORY_LABELS)

