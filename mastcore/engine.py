"""The one sweep engine: the paper's Algorithm 1 for every method and activation (docs/theory.md §0).

:func:`sweep` runs each requested method at every χ of an increasing list. Deterministic methods (the theories and
the quadrature) walk up the list with warm starts — the tree level at χ starts from the saddle at the previous χ,
the one loop from the tree level at the same χ — and go through the disk cache as one entry per sweep. Sampled
methods (exact posterior, Langevin networks) are independent at each χ: they are cached per point (a killed
sweep resumes where it stopped) and can run in parallel through a joblib backend (:mod:`mastcore.parallel`).

The methods are the records of the registry :data:`mastcore.methods.METHODS` (re-exported here); the loop has no
branch per method: each record says whether it is sampled, computed once (χ-independent) or warm-started, and how.
Their keyword options come from the solver's own signature, and an unknown option raises a ValueError naming it.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import joblib
import numpy as np
import pandas as pd

from . import _linalg, parallel
from ._plumbing import budget as _budget, threads as _threads
from ._api import check_spec
from ._plumbing.validation import (check_callable, check_chi_scale, check_data, check_labels, check_method_options,
                          check_scales, check_test_labels, chi_values, method_names)
from ._plumbing.warn import warn
from .activations import get_activation
from .cache import CacheMiss, cached_call, store_result
from .methods import METHODS, Method, SweepPoint, register_method
from .metrics import BAND_COLUMNS, SUMMARIES, summarize
from .specs import NetworkSpec, ScaleWarning
from .theory import bands

__all__ = ["METHODS", "Method", "SweepResult", "anneal", "data_key", "register_method", "sweep"]


@dataclass(frozen=True)
class SweepResult:
    """Results of :func:`sweep`.

    chis : (n,) the χ values, increasing. methods : the methods run. results[method] : list aligned with ``chis``
    (None where the method was not run at that χ). table : pandas DataFrame, one row per (method, χ) with columns
    method, chi, train/test mean_y_delta, mean_sq_delta, error01, their ``_se`` (NaN for theories), converged,
    n_iter, residual, seconds, flags (comma-separated). seconds : wall time per method. spec : the spec (its χ
    replaced by each value).
    """

    chis: np.ndarray
    methods: tuple
    results: dict
    table: pd.DataFrame = field(repr=False)
    spec: NetworkSpec
    seconds: dict = field(default_factory=dict)

    def at(self, method: str, chi: float):
        """Result of ``method`` at the χ of the sweep nearest to ``chi`` (in log scale) where it was run."""
        idx = [i for i, r in enumerate(self.results[method]) if r is not None]
        if not idx:
            raise ValueError(f"method {method!r} has no results in this sweep")
        i = min(idx, key=lambda k: abs(math.log(self.chis[k]) - math.log(chi)))
        return self.results[method][i]


TABLE_COLUMNS = (
    "method", "chi",
    *(f"{s}_{k}" for s in ("train", "test") for k in SUMMARIES),
    *(f"{s}_{k}_se" for s in ("train", "test") for k in ("mean_y_delta", "mean_sq_delta")),
    *BAND_COLUMNS,
    "converged", "n_iter", "residual", "seconds", "flags",
)


def _row(result, method: str, chi: float, y, y_test) -> dict:
    row = {"method": method, "chi": float(chi)}
    row.update(summarize(result, y, y_test))
    row.update(converged=bool(result.converged), n_iter=int(result.n_iter), residual=float(result.residual),
               seconds=float(result.seconds), flags=",".join(result.flags))
    return row


def _check_options(methods, options, activation: str) -> dict:
    """{method: validated options} from the shape-checked ``options`` of check_method_options; ValueError naming
    unknown keys."""
    out = {}
    for m in methods:
        opts = dict(options.get(m) or {})
        allowed = set(METHODS[m].option_names()) | {"chis"}
        bad = sorted(set(opts) - allowed)
        if bad and not METHODS[m].accepts_extra():
            raise ValueError(f"unknown option(s) {bad} for method {m!r}; allowed: {sorted(allowed)}")
        if bad and get_activation(activation).linear:  # extra options (particle ansatz) exist for erf/ReLU only
            raise ValueError(f"unknown option(s) {bad} for method {m!r} with a linear network; allowed: "
                             f"{sorted(allowed)}")
        out[m] = opts
    return out


def _chis_of(m: str, opts: dict, chis: np.ndarray) -> np.ndarray:
    """The χ values at which ``m`` runs: all of ``chis``, or the subset given as option ``chis``."""
    if "chis" not in opts:
        return chis
    sub = chi_values(opts["chis"])
    missing = [c for c in sub if not np.any(np.isclose(chis, c, rtol=1e-12))]
    if missing:
        raise ValueError(f"option 'chis' of method {m!r} must be a subset of the sweep's chis; {missing} are not")
    return sub


def _spec_at(spec: NetworkSpec, chi: float) -> NetworkSpec:
    """``spec`` at ``chi``; call inside :func:`_sweep_scope` (χ > N is allowed in a sweep, warned once by it)."""
    return spec.replace(chi=float(chi))


@contextlib.contextmanager
def _sweep_scope():
    """Context of a sweep's loop over χ: ScaleWarning (χ > N) silenced once for the whole loop — a catch_warnings
    per point would reset the registry and repeat every solver warning at each χ — and one hashing scope for the
    memo of work on X (docs/theory.md §17.3), so that X is hashed once, not once per solver call."""
    with warnings.catch_warnings(), _linalg.call_scope():
        warnings.simplefilter("ignore", ScaleWarning)
        yield


def _deterministic(X, y, spec, chis, methods, options, X_test, progress=None, sources=()):
    """The deterministic methods over ``chis`` with warm starts (Algorithm 1). Returns (results, seconds).

    Each method's record says how: computed once (``chi_independent``), or at every χ with the keyword arguments
    of its ``warm_start`` (from the previous χ's results and the other methods' at this χ). ``sources``: digests
    of solvers from outside the package (registered by a user), so that the disk cache's key follows their code.
    """
    results = {m: [None] * len(chis) for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    at = {m: _chis_of(m, options[m], chis) for m in methods}
    total = sum(len(v) for v in at.values())
    done = 0
    previous: dict = {}
    once: dict = {}  # χ-independent results, computed at the first χ
    with _sweep_scope():
        for i, chi in enumerate(chis):
            s = _spec_at(spec, chi)
            current: dict = {}
            for m in methods:
                if not np.any(np.isclose(at[m], chi, rtol=1e-12)):
                    continue
                record = METHODS[m]
                opts = {**dict(record.preset), **{k: v for k, v in options[m].items() if k != "chis"}}
                t0 = time.perf_counter()
                if m in once:
                    # a χ-independent value (the NNGP) is reused; its band (distance to the finite-width answer)
                    # depends on χ and is estimated anew (docs/theory.md §19.1)
                    r = once[m] if once[m].spec == s else bands.at_spec(once[m], s, X, y, X_test)
                else:
                    warm = {}
                    if record.warm_start is not None:
                        warm = record.warm_start(SweepPoint(m, X, y, s, X_test, opts, previous, current))
                    r = record.func(X, y, s, X_test, **record.solver_kwargs(opts), **warm)
                    if record.chi_independent:
                        once[m] = r
                seconds[m] += time.perf_counter() - t0
                current[m] = results[m][i] = r
                done += 1
                if progress is not None:
                    progress(done, total, {"method": m, "chi": float(chi)})
            previous = {**previous, **current}
    # what only the next χ's warm start needed (the particle saddle's particles) is not kept or cached
    slim = lambda r: r.without_warm_state() if hasattr(r, "without_warm_state") else r  # noqa: E731
    return {m: [slim(r) for r in rs] for m, rs in results.items()}, seconds


def _source_digest(record: Method) -> tuple:
    """(name, digest of the solver's source) for a solver from outside mastcore (the package's own source is in
    the cache's key already); () for the package's solvers."""
    func = inspect.unwrap(record.func)
    if (getattr(func, "__module__", "") or "").split(".")[0] == "mastcore":
        return ()
    try:
        text = inspect.getsource(func)
    except (OSError, TypeError):
        text = repr(func)
    return (record.name, hashlib.sha256(text.encode()).hexdigest()[:16])


def data_key(X, y, X_test=None, y_test=None) -> str:
    """A short content hash of a data set (what cache entries of sweep points are labelled with)."""
    return joblib.hash((X, y, X_test, y_test))[:16]


def _point_call(job):
    """(solver, args, kwargs, meta) of one sampled point ``job`` (see :func:`_sampled_point`)."""
    m, X, y, s, X_test, y_test, opts, _ = job
    record = METHODS[m]
    func = record.func
    kwargs = record.solver_kwargs({**dict(record.preset), **opts})
    network = {k: v for k, v in s.to_dict().items() if k != "chi"}
    meta = lambda r: {"method": m, "chi": s.chi, "data": data_key(X, y, X_test, y_test), "network": network,  # noqa: E731
                      "options": opts, "row": _row(r, m, s.chi, y, y_test)}
    return func, (X, y, s, X_test), kwargs, meta


def _sampled_point(job, progress=None):
    """One sampled method at one χ (module level: picklable for loky / dask / ray workers).

    Cached points carry metadata (method, χ, data key, network, options and the table row) so that a consumer —
    the dashboard's list of runs — finds them with :func:`mastcore.cache.entries` without loading them.
    ``progress`` goes to the solver (its own reports within the point) when its signature takes one; it is never
    part of the cache key.
    """
    func, args, kwargs, meta = _point_call(job)
    if progress is not None and "progress" in inspect.signature(func).parameters:
        kwargs = {**kwargs, "progress": progress}
    cache = job[-1]
    if not cache:
        return func(*args, **kwargs)
    return cached_call(func, *args, meta=meta, only_cached=cache == "only", **kwargs)


def _sampled_points_remote(payload, on_done):
    """The sampled points through the active joblib backend, the cache kept by the caller: stored points are read
    here, only the others go to the workers (with ``cache=False``: a worker computes, it never reads or writes a
    cache, whose directory may not even be the caller's), and each result is stored here as soon as it comes back
    — an interrupted cluster sweep resumes, and the dashboard sees its runs (docs/cluster.md)."""
    out = [None] * len(payload)
    todo = []
    for i, job in enumerate(payload):
        if job[-1]:
            with contextlib.suppress(CacheMiss):
                out[i] = _sampled_point((*job[:-1], "only"))
                continue
        todo.append(i)
    hits = len(payload) - len(todo)
    for k in range(1, hits + 1):
        on_done(k, len(payload))

    def store(j, result):
        job = payload[todo[j]]
        if job[-1]:
            func, args, kwargs, meta = _point_call(job)
            store_result(func, result, *args, meta=meta, **kwargs)

    done = parallel.parallel_map(_sampled_point, [(*payload[i][:-1], False) for i in todo], on_result=store,
                                 on_done=lambda k, n: on_done(hits + k, len(payload)))
    for i, r in zip(todo, done):
        out[i] = r
    return out


def sweep(
    X,
    y,
    spec: NetworkSpec,
    *,
    chis,
    methods=("nngp", "tree"),
    X_test=None,
    y_test=None,
    options: dict | None = None,
    cache: bool | str = False,
    progress: Callable[[int, int, dict], None] | None = None,
    backend=None,
    point_progress: Callable[[int, int, dict], None] | None = None,
) -> SweepResult:
    """Run ``methods`` at every χ in ``chis`` (Algorithm 1; docs/theory.md §0).

    Parameters
    ----------
    X : (P, D), y : (P,); X_test : (P*, D) or None, y_test : (P*,) or None (test columns of the table).
    spec : NetworkSpec; its χ is replaced by each value of ``chis``.
    chis : χ values ≥ 1 (sorted increasingly and de-duplicated; each warm-starts from the previous one).
    methods : names from :data:`METHODS`: "nngp", "tree", "rescaled", "one_loop", "renormalised_loop",
        "quadrature", "exact", "langevin" (quadrature and exact need a linear network), and any added with
        :func:`mastcore.register_method`.
    options : {method: {keyword: value}} passed to the method's solver (e.g. ``{"tree": {"ansatz": "particles"},
        "exact": {"n_chains": 32}, "langevin": {"steps": 8000}}``); the reserved key ``"chis"`` runs a method at
        a subset of ``chis`` only. Unknown methods or keys raise ValueError naming them.
    cache : go through the disk cache (mastcore.cache): one entry for the deterministic methods, one per sampled
        point (an interrupted sweep resumes). ``cache="only"`` reads the cache and raises
        :class:`mastcore.cache.CacheMiss` instead of computing anything that is not stored.
    progress : callable(done, total, info) with info {"method", "chi"} after each (method, χ) point.
    point_progress : callable(done, total, info) given to the sampled methods' solvers when their points run in
        this process (``backend=None``): their own reports within one point, e.g. train_langevin's steps or its
        finished chunks with the running estimate.
    backend : None (in process) or a joblib backend for the sampled points: a name from
        ``mastcore.parallel.BACKENDS`` or a dict ``{"name": ..., "n_jobs": ..., "scheduler": ...}``.

    Returns
    -------
    SweepResult (``.chis``, ``.results[method]``, ``.table``).
    """
    check_spec(spec)
    if cache not in (True, False, "only"):
        raise ValueError(f"'cache' must be True, False or 'only'; got {cache!r}")
    only = cache == "only"
    check_callable("progress", progress)
    check_callable("point_progress", point_progress)
    X, y, X_test = check_data(X, y, X_test)
    check_scales(X, y, spec, X_test)
    y_test = check_test_labels(X_test, y_test)
    chis = chi_values(chis)
    check_chi_scale(float(chis[-1]), y, spec.kappa0)
    methods = method_names(methods, METHODS)
    for m in methods:
        if not METHODS[m].applies_to(spec.activation):
            raise ValueError(f"method {m!r} needs activation in {METHODS[m].activations}; got {spec.activation!r}")
    options = check_method_options(options, methods)
    labels = check_labels(y) or (check_labels(y_test, name="y_test") if y_test is not None else None)
    if labels:
        warn(labels, UserWarning)
    options = _check_options(methods, options, spec.activation)
    # the whole sweep against the memory budget before anything is allocated (docs/theory.md §16); a sweep that
    # only reads the cache computes nothing (what it returns was computed within the budget)
    if not only:
        cost = _budget.estimate_sweep(P=X.shape[0], D=X.shape[1], width=spec.width,
                                      P_test=0 if X_test is None else X_test.shape[0], activation=spec.activation,
                                      chis=chis, methods=methods, options=options, strict=False)
        _budget.check(cost, remedy="reduce P, P*, D, the number of chi values or the samplers' options, or raise "
                                   "the limit")
    if chis[-1] > spec.width:
        warn(f"'chis' go up to {chis[-1]:g} > width = {spec.width}; the meaningful range is 1 <= chi <= width",
             ScaleWarning)
    deterministic = tuple(m for m in methods if not METHODS[m].sampled)
    sampled = tuple(m for m in methods if METHODS[m].sampled)
    jobs = [(m, chi) for m in sampled for chi in _chis_of(m, options[m], chis)]
    n_det = sum(len(_chis_of(m, options[m], chis)) for m in deterministic)
    total = n_det + len(jobs)

    results: dict = {m: [None] * len(chis) for m in methods}
    seconds: dict = dict.fromkeys(methods, 0.0)
    if deterministic:
        args = (X, y, spec, chis, deterministic, {m: options[m] for m in deterministic}, X_test)
        if cache:
            sources = tuple(d for d in (_source_digest(METHODS[m]) for m in deterministic) if d)
            det, sec = cached_call(_deterministic, *args, progress=progress, only_cached=only, sources=sources)
        else:
            det, sec = _deterministic(*args, progress=progress)
        results.update(det)
        seconds.update(sec)
        if progress is not None and cache:
            progress(n_det, total, {"method": deterministic[-1], "chi": float(chis[-1])})
    if jobs:
        with _sweep_scope():
            payload = [(m, X, y, _spec_at(spec, chi), X_test, y_test,
                        {k: v for k, v in options[m].items() if k != "chis"}, cache) for m, chi in jobs]
        if only:
            backend = None

        def on_done(k, n):
            if progress is not None:
                progress(n_det + k, total, {"method": jobs[k - 1][0], "chi": float(jobs[k - 1][1])})

        if backend is None:
            out = []
            for k, job in enumerate(payload, start=1):
                out.append(_sampled_point(job, progress=point_progress))
                on_done(k, len(payload))
        else:
            conf = {"name": backend} if isinstance(backend, str) else dict(backend)
            # the points are the parallelism: one thread each where workers share this process (threading,
            # dask) — set here, in the parent, so that no worker restores the process-wide count while another
            # runs; process workers (loky) get joblib's *_NUM_THREADS, which the policy respects (docs/theory.md §17)
            with parallel.backend(**conf), _threads.threads(1), _threads.limit_threads(1):
                out = _sampled_points_remote(payload, on_done)
        for (m, chi), r in zip(jobs, out):
            results[m][int(np.flatnonzero(np.isclose(chis, chi, rtol=1e-12))[0])] = r
            seconds[m] += r.seconds
    rows = [_row(r, m, chi, y, y_test) for m in methods for chi, r in zip(chis, results[m]) if r is not None]
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return SweepResult(chis=chis, methods=methods, results=results, table=table, spec=spec, seconds=seconds)


def anneal(X, y, spec: NetworkSpec, chis, methods=("nngp", "tree"), X_test=None, **kwargs) -> SweepResult:
    """Another name for :func:`sweep` (the paper calls it Algorithm 1, annealing across scales)."""
    return sweep(X, y, spec, chis=chis, methods=methods, X_test=X_test, **kwargs)
