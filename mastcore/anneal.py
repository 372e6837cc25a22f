"""Algorithm 1 of the paper: annealing across scales χ with warm starts (THEORY §0).

For χ in an increasing list: NNGP once (χ-independent), then the tree level warm-started from the saddle at the
previous χ, then any further registered method (e.g. the one loop) from the tree level at the same χ.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._validation import check_data, positive_float
from .kernels import nngp
from .metrics import discrepancies
from .saddle import tree_level
from .specs import NetworkSpec

__all__ = ["AnnealResult", "anneal", "register_method"]

# A step computes one method at one χ: step(X, y, spec, X_test, current, previous) -> result, where ``current``
# holds the results already computed at this χ and ``previous`` those at the previous χ (warm starts).
Step = Callable[..., object]
_STEPS: dict[str, Step] = {}


def register_method(name: str, step: Step) -> None:
    """Make ``name`` available to :func:`anneal` (see ``Step`` above)."""
    _STEPS[name] = step


def _nngp_step(X, y, spec, X_test, current, previous, **kw):
    return previous.get("nngp") or nngp(X, y, spec, X_test=X_test)


def _tree_step(X, y, spec, X_test, current, previous, **kw):
    prev = previous.get("tree")
    if spec.activation != "linear":  # a kernel does not fix the neuron law: warm-start from the previous result
        return tree_level(X, y, spec, X_test=X_test, strict=kw.get("strict", False), init=prev)
    return tree_level(
        X, y, spec, X_test=X_test, C_init=None if prev is None else prev.C, strict=kw.get("strict", False),
        rowspace=getattr(prev, "_rs", None),  # the same X at every χ: reuse its SVD
    )


register_method("nngp", _nngp_step)
register_method("tree", _tree_step)


def _load_optional():
    for name in ("one_loop", "gibbs"):  # they register "one_loop" and "exact"
        try:
            __import__(f"{__package__}.{name}")
        except ImportError:
            pass


@dataclass(frozen=True)
class AnnealResult:
    """Results of an annealed sweep. ``results[method]`` is a tuple with one result per χ in ``chis``."""

    chis: np.ndarray
    methods: tuple
    results: dict
    spec: NetworkSpec
    seconds: dict = field(default_factory=dict)

    def table(self, y, y_test=None) -> list[dict]:
        """One row per (χ, method) with discrepancy summaries on train (and test) and solver diagnostics."""
        rows = []
        for m in self.methods:
            for chi, r in zip(self.chis, self.results[m]):
                row = {"chi": float(chi), "method": m}
                row.update({f"train_{k}": v for k, v in discrepancies(y, r.f_train).items()})
                if y_test is not None and getattr(r, "f_test", None) is not None:
                    row.update({f"test_{k}": v for k, v in discrepancies(y_test, r.f_test).items()})
                row["converged"] = bool(getattr(r, "converged", True))
                row["residual"] = float(getattr(r, "residual", 0.0))
                rows.append(row)
        return rows

    def at(self, method: str, chi: float):
        """Result of ``method`` at the χ in the sweep nearest to ``chi`` (in log scale)."""
        i = int(np.argmin(np.abs(np.log(self.chis) - np.log(chi))))
        return self.results[method][i]


def anneal(
    X,
    y,
    spec: NetworkSpec,
    chis,
    methods=("nngp", "tree"),
    X_test=None,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    strict: bool = False,
    cache: bool = False,
    **method_options,
) -> AnnealResult:
    """Run Algorithm 1 over ``chis`` (sorted increasingly; each χ warm-starts from the previous one).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None, spec : NetworkSpec (its χ is replaced by each value in chis)
    chis : sequence of χ ≥ 1. methods : names among the registered ones ("nngp", "tree", "one_loop" if available).
    progress : optional callback(i, n, chi) after each χ.
    cache : go through the joblib cache (mastcore.cache), keyed on the data, spec and options.
    """
    if cache:
        from .cache import cached_call  # noqa: PLC0415

        return cached_call(
            anneal, X, y, spec, chis, methods=methods, X_test=X_test, progress=progress, strict=strict, **method_options
        )
    X, y, X_test = check_data(X, y, X_test)
    chis = np.array(sorted(positive_float("chis", float(c)) for c in np.atleast_1d(chis)), dtype=np.float64)
    if chis.size == 0:
        raise ValueError("'chis' must contain at least one value; got an empty list")
    methods = tuple(methods)
    if any(m not in _STEPS for m in methods):
        _load_optional()
    for m in methods:
        if m not in _STEPS:
            raise ValueError(f"'methods' entries must be among {tuple(_STEPS)}; got {m!r}")
    results = {m: [] for m in methods}
    seconds = {m: 0.0 for m in methods}
    previous: dict = {}
    import warnings  # noqa: PLC0415

    from .specs import ScaleWarning  # noqa: PLC0415

    for i, chi in enumerate(chis):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScaleWarning)
            spec_chi = spec.replace(chi=float(chi))
        current: dict = {}
        for m in methods:
            t0 = time.perf_counter()
            current[m] = _STEPS[m](X, y, spec_chi, X_test, current, previous, strict=strict, **method_options)
            seconds[m] += time.perf_counter() - t0
            results[m].append(current[m])
        previous = current
        if progress is not None:
            progress(i + 1, len(chis), float(chi))
    return AnnealResult(chis, methods, {m: tuple(v) for m, v in results.items()}, spec, seconds)
