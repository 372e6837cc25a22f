"""Theory curves for the pages: from the process memo, the disk cache, or computed within the app's budget."""
from __future__ import annotations

from . import compute
from .runs import CHART_AUTO_SECONDS, app_max_seconds, memo_get, memo_run
from .state import N_CHI, N_CHI_SLOW, Settings, chi_grid
from .task_data import data_digest, uploaded_data
from .worker import Call

__all__ = ["cached_curves", "curves", "curves_key", "theory_grid", "tree_curves"]


def curves_key(settings: Settings, chis, methods) -> tuple:
    """The memo key of theory curves (settings, uploaded data, χ values, methods)."""
    return ("curves", settings, data_digest(uploaded_data() if settings.task == "csv" else None),
            tuple(float(c) for c in chis), tuple(methods))


def cached_curves(settings: Settings, chis, methods):
    """Theory curves already in the memo (computed in this process), or None."""
    return memo_get(curves_key(settings, chis, methods))


def curves(task, settings: Settings, chis, methods, *, label: str, estimate: float | None = None,
           auto_seconds: float | None = None):
    """Theory curves (compute.theory_curves) from the memo or the disk cache, or computed through
    :func:`run_cancellable` (``auto_seconds``: its threshold for a button); None while they wait for a button, are
    refused or failed."""
    chis = tuple(float(c) for c in chis)
    methods = tuple(methods)

    def lookup():  # computed before (this or another session): the disk cache gives it back instantly
        return compute.theory_curves(task, settings, chis, methods, cache_mode="only")

    return memo_run(curves_key(settings, chis, methods), label,
                    Call(compute.theory_curves, task, settings, chis, methods),
                    estimate_seconds=(lambda: compute.estimate_seconds(settings, methods, chis, task=task))
                    if estimate is None else estimate,
                    prefix="curves", cli=compute.cli_command(settings, chis, methods), lookup=lookup,
                    remedy=lambda: compute.remedy(settings, methods, chis, app_max_seconds()),
                    auto_seconds=auto_seconds)


def theory_grid(settings: Settings):
    """χ values of the theory curves: 25 for linear nets, 9 for erf/ReLU (their tree level is slower)."""
    return chi_grid(settings.width, N_CHI if settings.linear else N_CHI_SLOW)


def tree_curves(task, settings: Settings):
    """(grid, NNGP + tree-level curves) shared by the pages; the curves are None while they wait for a button."""
    grid = theory_grid(settings)
    return grid, curves(task, settings, grid, ("nngp", "tree"), label="tree level", auto_seconds=CHART_AUTO_SECONDS)
