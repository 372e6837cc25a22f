"""Scale-out of independent runs (χ points, ensemble chunks) through joblib backends: loky, dask, ray.

Everything parallel in mastcore goes through :func:`joblib.Parallel`, so the backend is chosen from outside with
:func:`backend` (a wrapper of :func:`joblib.parallel_config`):

    with backend("dask", scheduler="tcp://10.0.0.5:8786"):   # an existing dask cluster
        rows = parallel_map(run_point, points)

Without ``scheduler`` the dask backend starts an in-process ``distributed`` client (threads; no extra processes).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import joblib

#: This module cannot change a result: the cache's source hash leaves it out (mastcore.cache, "Keys").
CACHE_NEUTRAL = True

__all__ = ["BACKENDS", "backend", "parallel_map"]

BACKENDS = ("sequential", "threading", "loky", "dask", "ray")


@contextlib.contextmanager
def backend(name: str = "loky", n_jobs: int | None = None, scheduler: str | None = None):
    """Context in which :func:`parallel_map` (and every joblib.Parallel in mastcore) uses backend ``name``.

    Parameters
    ----------
    name : one of BACKENDS. n_jobs : workers (None: joblib's default for the backend; -1 = all cores).
    scheduler : address of an existing dask scheduler ("tcp://host:8786"); only with ``name="dask"``.
    """
    if name not in BACKENDS:
        raise ValueError(f"'backend' must be one of {BACKENDS}; got {name!r}")
    if scheduler is not None and name != "dask":
        raise ValueError(f"'scheduler' is only used with backend 'dask'; got backend {name!r}")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1):
        raise ValueError(f"'n_jobs' must be a positive integer or -1; got {n_jobs!r}")
    if name == "dask":
        try:
            from distributed import Client  # noqa: PLC0415
        except ImportError:  # pragma: no cover
            raise ValueError("backend 'dask' needs dask[distributed]: pip install 'dask[distributed]'") from None
        try:
            client = Client(scheduler, timeout="10s") if scheduler else Client(processes=False, dashboard_address=None)
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"'scheduler' {scheduler!r} is not reachable: {exc}") from None
        try:
            with joblib.parallel_config(backend="dask", n_jobs=n_jobs if n_jobs is not None else -1):
                yield client
        finally:
            client.close()
        return
    if name == "ray":
        try:
            from ray.util.joblib import register_ray  # noqa: PLC0415
        except ImportError:
            raise ValueError("backend 'ray' needs the ray package: pip install 'ray[default]'") from None
        register_ray()
    with joblib.parallel_config(backend=name, n_jobs=n_jobs):
        yield None


def _indexed(func: Callable, i: int, item):
    return i, func(item)


def parallel_map(func: Callable, items: Iterable, *, n_jobs: int | None = None, on_done: Callable | None = None,
                 on_result: Callable | None = None):
    """``[func(item) for item in items]`` through joblib.Parallel (order kept in the returned list).

    ``on_result(i, result)`` is called in the calling process as soon as item ``i`` is done (in the order the
    workers finish), then ``on_done(k, n)`` with the number done so far. :func:`mastcore.sweep` stores each
    result in the caller's cache from ``on_result``, so that the workers only compute and an interrupted run
    keeps every point that came back.
    """
    items = list(items)
    out: list = [None] * len(items)
    par = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    for k, (i, res) in enumerate(par(joblib.delayed(_indexed)(func, i, it) for i, it in enumerate(items))):
        out[i] = res
        if on_result is not None:
            on_result(i, res)
        if on_done is not None:
            on_done(k + 1, len(items))
    return out
