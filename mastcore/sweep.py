"""The one sweep engine: the paper's Algorithm 1 for every method and activation (docs/theory.md §0).

:func:`sweep` runs each requested method at every χ of an increasing list. Deterministic methods (the theories and
the quadrature) walk up the list with warm starts — the tree level at χ starts from the saddle at the previous χ,
the one loop from the tree level at the same χ — and go through the disk cache as one entry per sweep. Sampled
methods (exact posterior, Langevin networks) are independent at each χ: they are cached per point (a killed
sweep resumes where it stopped) and can run in parallel through a joblib backend (:mod:`mastcore.parallel`).

The methods are listed in :data:`METHODS`; their keyword options come from the solver's own signature, and an
unknown option raises a ValueError naming it.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import time
import warnings
from dataclasses import dataclass, field, fields
from typing import Callable

import joblib
import numpy as np
import pandas as pd

from . import _budget, _linalg, _threads, parallel
from ._api import check_spec
from ._validation import check_data, check_scales, positive_float
from ._warn import warn
from .cache import CacheMiss, cached_call, store_result
from .metrics import SUMMARIES, summarize
from .posterior.gibbs import exact_posterior
from .posterior.langevin import LangevinOptions, train_langevin
from .posterior.quadrature import posterior_quadrature
from .specs import NetworkSpec, ScaleWarning
from .theory.kernels import nngp
from .theory.one_loop import one_loop
from .theory.rescaled import rescaled_kernel
from .theory.saddle import TreeResult
from .theory.tree import tree_level

__all__ = ["METHODS", "Method", "SweepResult", "anneal", "data_key", "sweep"]


@dataclass(frozen=True)
class Method:
    """A method of :func:`sweep`.

    name : key in ``methods``; label : name for people; func : the solver; activations : where it applies;
    sampled : independent per χ with error bars (cached per point, parallel); fixed : keyword arguments the sweep
    sets itself (warm starts), which are therefore not user options; preset : (keyword, value) pairs the method
    passes to its solver (a variant of a solver as a method of its own).
    """

    name: str
    label: str
    func: Callable
    activations: tuple = ("linear", "erf", "relu")
    sampled: bool = False
    fixed: tuple = ()
    preset: tuple = ()

    def option_names(self) -> tuple:
        """The keyword options a user may pass for this method in ``sweep(options={name: {...}})``."""
        if self.func is train_langevin:
            return tuple(f.name for f in fields(LangevinOptions))
        skip = {"X", "y", "spec", "X_test", "progress", "cache", *self.fixed}
        params = inspect.signature(self.func).parameters.values()
        return tuple(p.name for p in params if p.name not in skip and p.kind is not p.VAR_KEYWORD)

    def accepts_extra(self) -> bool:
        """True when the solver takes further keyword options (**kwargs, e.g. the particle ansatz's)."""
        if self.func is train_langevin:
            return False
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(self.func).parameters.values())


#: Every method of the sweep, in the order of fidelity used by tables and plots (docs/theory.md §0).
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("nngp", "NNGP", nngp),
        Method("tree", "tree level", tree_level, fixed=("init", "C_init")),
        Method("rescaled", "renormalised kernel", rescaled_kernel),
        Method("one_loop", "one loop", one_loop, fixed=("tree",)),
        # the one loop around the renormalised saddle u*·C0 (docs/theory.md §12.5): the most accurate theory both in
        # the proportional regime and at χ = N (§18); a method of its own so that tables and the app can show it
        Method("renormalised_loop", "renormalised one loop", one_loop, fixed=("tree", "variant"),
               preset=(("variant", "renormalised"),)),
        Method("quadrature", "exact (quadrature)", posterior_quadrature, activations=("linear",)),
        Method("exact", "exact posterior", exact_posterior, activations=("linear",), sampled=True),
        Method("langevin", "Langevin networks", train_langevin, sampled=True),
    )
}


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
    "converged", "n_iter", "residual", "seconds", "flags",
)


def _row(result, method: str, chi: float, y, y_test) -> dict:
    row = {"method": method, "chi": float(chi)}
    row.update(summarize(result, y, y_test))
    row.update(converged=bool(result.converged), n_iter=int(result.n_iter), residual=float(result.residual),
               seconds=float(result.seconds), flags=",".join(result.flags))
    return row


def _check_options(methods, options, activation: str) -> dict:
    """{method: validated options}; ValueError naming unknown methods or keys."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise ValueError(f"'options' must be a dict mapping a method to its keyword options; got {options!r}")
    unknown = sorted(set(options) - set(methods))
    if unknown:
        raise ValueError(f"'options' names methods that are not run: {unknown} (methods: {list(methods)})")
    out = {}
    for m in methods:
        opts = dict(options.get(m) or {})
        allowed = set(METHODS[m].option_names()) | {"chis"}
        bad = sorted(set(opts) - allowed)
        if bad and not METHODS[m].accepts_extra():
            raise ValueError(f"unknown option(s) {bad} for method {m!r}; allowed: {sorted(allowed)}")
        if bad and activation == "linear":  # extra options (particle ansatz) exist for erf/ReLU only
            raise ValueError(f"unknown option(s) {bad} for method {m!r} with a linear network; allowed: "
                             f"{sorted(allowed)}")
        out[m] = opts
    return out


def _chis_of(m: str, opts: dict, chis: np.ndarray) -> np.ndarray:
    """The χ values at which ``m`` runs: all of ``chis``, or the subset given as option ``chis``."""
    if "chis" not in opts:
        return chis
    sub = np.unique(np.asarray([positive_float("chis", float(c)) for c in np.atleast_1d(opts["chis"])]))
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


def _deterministic(X, y, spec, chis, methods, options, X_test, progress=None):
    """The deterministic methods over ``chis`` with warm starts (Algorithm 1). Returns (results, seconds)."""
    results = {m: [None] * len(chis) for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    at = {m: _chis_of(m, options[m], chis) for m in methods}
    total = sum(len(v) for v in at.values())
    done = 0
    previous: dict = {}
    nngp_result = None
    with _sweep_scope():
        for i, chi in enumerate(chis):
            s = _spec_at(spec, chi)
            current: dict = {}
            for m in methods:
                if not np.any(np.isclose(at[m], chi, rtol=1e-12)):
                    continue
                opts = {**dict(METHODS[m].preset), **{k: v for k, v in options[m].items() if k != "chis"}}
                t0 = time.perf_counter()
                if m == "nngp":  # χ-independent (docs/theory.md §3): computed once
                    nngp_result = nngp_result or nngp(X, y, s, X_test)
                    r = nngp_result
                elif m == "tree":
                    r = tree_level(X, y, s, X_test, init=previous.get("tree"), **opts)
                elif METHODS[m].func is one_loop and s.activation != "linear":  # erf/ReLU (§12): the sweep's saddle
                    r = one_loop(X, y, s, X_test, tree=current.get("tree"), **opts)
                elif METHODS[m].func is one_loop:
                    tree = current.get("tree")
                    if opts.get("variant") in ("nngp", "renormalised"):  # no saddle needed (docs/theory.md §12)
                        tree = None
                    elif not (isinstance(tree, TreeResult) and tree.variant == "full"):
                        prev = getattr(previous.get("one_loop"), "tree", None)
                        tree = tree_level(X, y, s, X_test, init=prev if isinstance(prev, TreeResult) else None,
                                          strict=opts.get("strict", False))
                    r = one_loop(X, y, s, X_test, tree=tree, **opts)
                else:
                    r = METHODS[m].func(X, y, s, X_test, **opts)
                seconds[m] += time.perf_counter() - t0
                current[m] = results[m][i] = r
                done += 1
                if progress is not None:
                    progress(done, total, {"method": m, "chi": float(chi)})
            previous = {**previous, **current}
    return results, seconds


def data_key(X, y, X_test=None, y_test=None) -> str:
    """A short content hash of a data set (what cache entries of sweep points are labelled with)."""
    return joblib.hash((X, y, X_test, y_test))[:16]


def _point_call(job):
    """(solver, args, kwargs, meta) of one sampled point ``job`` (see :func:`_sampled_point`)."""
    m, X, y, s, X_test, y_test, opts, _ = job
    func = METHODS[m].func
    kwargs = {"options": LangevinOptions(**opts)} if m == "langevin" else dict(opts)
    network = {k: v for k, v in s.to_dict().items() if k != "chi"}
    meta = lambda r: {"method": m, "chi": s.chi, "data": data_key(X, y, X_test, y_test), "network": network,  # noqa: E731
                      "options": opts, "row": _row(r, m, s.chi, y, y_test)}
    return func, (X, y, s, X_test), kwargs, meta


def _sampled_point(job):
    """One sampled method at one χ (module level: picklable for loky / dask / ray workers).

    Cached points carry metadata (method, χ, data key, network, options and the table row) so that a consumer —
    the dashboard's list of runs — finds them with :func:`mastcore.cache.entries` without loading them.
    """
    func, args, kwargs, meta = _point_call(job)
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
) -> SweepResult:
    """Run ``methods`` at every χ in ``chis`` (Algorithm 1; docs/theory.md §0).

    Parameters
    ----------
    X : (P, D), y : (P,); X_test : (P*, D) or None, y_test : (P*,) or None (test columns of the table).
    spec : NetworkSpec; its χ is replaced by each value of ``chis``.
    chis : χ values ≥ 1 (sorted increasingly and de-duplicated; each warm-starts from the previous one).
    methods : names from :data:`METHODS`: "nngp", "tree", "rescaled", "one_loop", "quadrature", "exact",
        "langevin" (quadrature and exact need a linear network).
    options : {method: {keyword: value}} passed to the method's solver (e.g. ``{"tree": {"ansatz": "particles"},
        "exact": {"n_chains": 32}, "langevin": {"steps": 8000}}``); the reserved key ``"chis"`` runs a method at
        a subset of ``chis`` only. Unknown methods or keys raise ValueError naming them.
    cache : go through the disk cache (mastcore.cache): one entry for the deterministic methods, one per sampled
        point (an interrupted sweep resumes). ``cache="only"`` reads the cache and raises
        :class:`mastcore.cache.CacheMiss` instead of computing anything that is not stored.
    progress : callable(done, total, info) with info {"method", "chi"} after each (method, χ) point.
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
    X, y, X_test = check_data(X, y, X_test)
    check_scales(X, y, spec, X_test)
    if y_test is not None:
        if X_test is None:
            raise ValueError("'y_test' needs 'X_test'")
        y_test = check_data(X_test, y_test)[1]
    chis = np.unique(np.asarray([positive_float("chis", float(c)) for c in np.atleast_1d(chis)], dtype=np.float64))
    if chis.size == 0:
        raise ValueError("'chis' must contain at least one value; got an empty list")
    if chis[0] < 1.0:
        raise ValueError(f"'chis' must be >= 1 (1 = standard scaling, width = mean-field); got {chis[0]!r}")
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(dict.fromkeys(methods))
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"'methods' entries must be among {tuple(METHODS)}; got {m!r}")
        if spec.activation not in METHODS[m].activations:
            raise ValueError(f"method {m!r} needs activation in {METHODS[m].activations}; got {spec.activation!r}")
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
            det, sec = cached_call(_deterministic, *args, progress=progress, only_cached=only)
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
                out.append(_sampled_point(job))
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
