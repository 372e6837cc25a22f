"""What the dashboard computes, all through the library: tasks, theory curves (mc.sweep), reference runs.

No widgets here (dashboard/widgets.py draws them) and no maths (mastcore does it): these functions turn
:class:`~dashboard.state.Settings` into library calls and library results into tables for the figures.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

import mastcore as mc
from mastcore import cache
from mastcore.sweep import data_key
from mastcore.theory.features import feature_summary

from .state import Settings

__all__ = [
    "THEORY_METHODS",
    "TheoryCurves",
    "build_task",
    "estimated_seconds",
    "features_at",
    "reference_run",
    "runs",
    "theory_curves",
    "traces",
    "width_scaling",
]

#: Methods drawn as curves against χ, per activation (the one loop exists for linear networks only).
THEORY_METHODS = {"linear": ("nngp", "tree", "one_loop"), "erf": ("nngp", "tree", "rescaled"),
                  "relu": ("nngp", "tree", "rescaled")}
#: Cost of one χ point of each method at P = 80 on 2 cores (seconds; measured, scaled like P³, P⁴ for the loop).
SECONDS_AT_P80 = {"nngp": 0.001, "tree": 0.03, "one_loop": 0.12, "rescaled": 0.01}
#: Cost of one χ point of the erf/ReLU tree level at P = 30 per ansatz (zero-mean ≈ 0.12 s; with mean ≈ 22 s).
ANSATZ_SECONDS_AT_P30 = {"gaussian": 0.12, "gaussian_mean": 22.0}


def build_task(settings: Settings, data: tuple | None = None) -> mc.Task:
    """The task of ``settings``; ``data`` = (X, y) of an uploaded CSV when ``settings.task == "csv"``.

    Raises ValueError (with the setting to change) for invalid settings or data sets that are too small.
    """
    n_rows = None if data is None else int(np.asarray(data[0]).shape[0])
    problems = settings.problems(n_rows if settings.task == "csv" else None)
    if problems:
        raise ValueError(" ".join(problems))
    if settings.task == "csv":
        if data is None:
            raise ValueError("task 'csv' needs an uploaded CSV; upload one on the Data page or choose another task")
        return mc.task_from_arrays(data[0], data[1], settings.P, seed=settings.seed)
    return mc.make_task(settings.task_spec())


def estimated_seconds(method: str, P: int, n_chi: int, activation: str = "linear", ansatz: str = "gaussian") -> float:
    """Rough cost of ``n_chi`` points of ``method`` (see SECONDS_AT_P80)."""
    if activation != "linear" and method == "tree":
        return float(ANSATZ_SECONDS_AT_P30.get(ansatz, 1.0) * (P / 30.0) ** 3 * n_chi)
    power = 4 if method == "one_loop" else 3
    return float(SECONDS_AT_P80.get(method, 0.05) * (P / 80.0) ** power * n_chi)


@dataclass(frozen=True)
class TheoryCurves:
    """Theory curves against χ: ``table`` (one row per method and χ, the columns of mc.sweep's table plus s,
    outlier and overlap for the tree level), ``sweep`` (the SweepResult) and solver ``messages``."""

    table: pd.DataFrame
    sweep: mc.SweepResult
    messages: tuple
    seconds: float

    def at(self, method: str, chi: float) -> dict | None:
        """Row of ``method`` at the χ nearest to ``chi`` (log scale), or None if the method is absent."""
        t = self.table[self.table["method"] == method]
        if t.empty:
            return None
        i = int(np.argmin(np.abs(np.log(t["chi"].to_numpy()) - np.log(chi))))
        return t.iloc[i].to_dict()

    def tree(self, chi: float):
        """Tree-level result at the χ of the sweep nearest to ``chi``."""
        return self.sweep.at("tree", chi)


def _tree_columns(sweep: mc.SweepResult, direction, g_v: float) -> pd.DataFrame:
    rows = []
    for chi, r in zip(sweep.chis, sweep.results.get("tree", ())):
        if r is None:
            continue
        eig, vec = r.top_direction()
        rows.append({"method": "tree", "chi": float(chi), "s": float(r.s), "outlier": eig / (g_v / vec.shape[0]),
                     "overlap": float(abs(vec @ direction)) if direction is not None else np.nan})
    return pd.DataFrame(rows, columns=["method", "chi", "s", "outlier", "overlap"])


def theory_curves(task: mc.Task, settings: Settings, chis, methods, *, progress: Callable | None = None,
                  cache_mode: bool | str = True) -> TheoryCurves:
    """mc.sweep of ``methods`` over ``chis`` on the task, with solver warnings collected as messages.

    ``cache_mode`` is mc.sweep's ``cache``: True (default), False, or "only" (raise mastcore.cache.CacheMiss
    instead of computing).
    """
    t0 = time.perf_counter()
    options = {"tree": {"ansatz": settings.ansatz}} if settings.activation != "linear" and "tree" in methods else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mc.ConvergenceWarning)
        warnings.simplefilter("always", mc.LoopBreakdownWarning)
        warnings.simplefilter("ignore", mc.ScaleWarning)
        res = mc.sweep(task.X, task.y, settings.network_spec(1.0), chis=chis, methods=tuple(methods),
                       X_test=task.X_test, y_test=task.y_test, options=options, cache=cache_mode,
                       progress=progress)
    table = res.table
    if "tree" in methods:
        table = table.merge(_tree_columns(res, task.direction, settings.g_v), on=["method", "chi"], how="left")
    messages = [f"{w.category.__name__}: {w.message}" for w in caught
                if issubclass(w.category, (mc.ConvergenceWarning, mc.LoopBreakdownWarning))]
    for _, r in table[~table["converged"].astype(bool)].iterrows():
        messages.append(f"{r['method']} not converged at χ = {r['chi']:g} (residual {r['residual']:.1e})")
    for _, r in table[table["flags"].astype(bool)].iterrows():
        messages.append(f"{r['method']} at χ = {r['chi']:g}: {r['flags']}")
    return TheoryCurves(table=table, sweep=res, messages=tuple(dict.fromkeys(messages)),
                        seconds=time.perf_counter() - t0)


def features_at(task: mc.Task, curves: TheoryCurves, chi: float) -> dict:
    """Feature-learning summary (mastcore.theory.features) of the tree level nearest to ``chi``."""
    return feature_summary(curves.tree(chi), task.X, task.y, task.direction)


# --- reference runs (exact posterior, Langevin networks) ------------------------------------------------

def reference_run(task: mc.Task, settings: Settings, chi: float, kind: str, options: dict, *,
                  progress: Callable | None = None):
    """Run the exact posterior (``kind="exact"``) or a Langevin ensemble (``"langevin"``) at χ through mc.sweep
    (cached on disk). Returns (result, row, messages): the result, its table row and any solver warnings."""
    if kind not in ("exact", "langevin"):
        raise ValueError(f"'kind' must be 'exact' or 'langevin'; got {kind!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mc.ConvergenceWarning)
        warnings.simplefilter("ignore", mc.ScaleWarning)
        res = mc.sweep(task.X, task.y, settings.network_spec(1.0), chis=[chi], methods=(kind,), X_test=task.X_test,
                       y_test=task.y_test, options={kind: dict(options)}, cache=True, progress=progress)
    messages = [str(w.message) for w in caught if issubclass(w.category, mc.ConvergenceWarning)]
    return res.results[kind][0], res.table.iloc[0].to_dict(), messages


def runs(task: mc.Task, settings: Settings) -> pd.DataFrame:
    """Reference runs stored in the disk cache for this data set and network (any χ, any options), newest last.

    Columns: method, chi, options, created, and the table row (train_mean_y_delta, ..._se, converged, ...).
    The list is read from the cache itself, so it always agrees with it (empty after ``cache clear``).
    """
    key = data_key(task.X, task.y, task.X_test, task.y_test)
    network = {k: v for k, v in settings.network_spec(1.0).to_dict().items() if k != "chi"}
    rows = []
    for e in cache.entries():
        m = e.get("meta") or {}
        if m.get("data") == key and m.get("network") == network and m.get("method") in ("exact", "langevin"):
            rows.append({**m.get("row", {}), "method": m["method"], "chi": float(m["chi"]),
                         "options": m.get("options", {}), "created": e["created"]})
    df = pd.DataFrame(rows)
    return df.sort_values("created").reset_index(drop=True) if len(df) else df


def traces(result) -> dict[str, np.ndarray]:
    """Equilibration traces of a sampled result, averaged over chains: {name: (T,)} and the record steps."""
    tr = result.trace
    return {name: tr.chain_mean(name) for name in tr.values}


# --- width scaling --------------------------------------------------------------------------------------

def width_scaling(task: mc.Task, settings: Settings, widths, *, methods=("nngp", "tree", "one_loop"),
                  exact_options: dict | None = None, progress: Callable | None = None) -> pd.DataFrame:
    """Error of each theory against the exact posterior as the width N grows, at χ = 1 and χ = N.

    One mc.sweep per width over χ ∈ {1, N} with the theories and the exact sampler (cached). Returns a DataFrame
    with columns width, regime ("χ = 1" / "χ = N"), chi, method, value (train mean(y·Δ)), exact, exact_se, error.
    """
    rows = []
    widths = sorted(int(w) for w in widths)
    for k, N in enumerate(widths):
        spec = settings.replace(width=N).network_spec(1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mc.sweep(task.X, task.y, spec, chis=[1.0, float(N)], methods=(*methods, "exact"),
                           options={"exact": dict(exact_options or {})}, cache=True)
        t = res.table.set_index(["method", "chi"])
        for regime, chi in (("χ = 1", 1.0), ("χ = N", float(N))):
            ex = t.loc[("exact", chi)]
            for m in methods:
                v = float(t.loc[(m, chi), "train_mean_y_delta"])
                rows.append(dict(width=N, regime=regime, chi=chi, method=m, value=v,
                                 exact=float(ex["train_mean_y_delta"]), exact_se=float(ex["train_mean_y_delta_se"]),
                                 error=abs(v - float(ex["train_mean_y_delta"]))))
        if progress is not None:
            progress(k + 1, len(widths), {"width": N})
    return pd.DataFrame(rows)
