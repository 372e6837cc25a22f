"""What every public solver does before its own work: one decorator, :func:`solver`.

``@solver`` checks that ``spec`` is a :class:`~mastcore.specs.NetworkSpec`, routes ``cache=True`` through the disk
cache (:func:`mastcore.cache.cached_call`) and runs the call under the thread policy (:mod:`mastcore._threads`).
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from . import _threads
from .cache import cached_call
from .specs import NetworkSpec

__all__ = ["check_spec", "solver"]


def check_spec(spec) -> NetworkSpec:
    """``spec`` itself, or ValueError naming it when it is not a NetworkSpec."""
    if not isinstance(spec, NetworkSpec):
        raise ValueError(
            f"'spec' must be a mastcore.NetworkSpec (e.g. mc.NetworkSpec(width=100, chi=1.0)); got {type(spec).__name__}"
        )
    return spec


def solver(func):
    """Decorator of a public solver ``func(X, y, spec, X_test=None, *, ..., cache=False)`` (see module doc)."""
    sig = inspect.signature(func)
    has_cache = "cache" in sig.parameters

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{func.__name__}(): {exc}") from None
        check_spec(bound.arguments.get("spec"))
        if has_cache and bound.arguments.get("cache", False):
            return cached_call(wrapper, *args, **kwargs)
        P = np.shape(bound.arguments.get("X"))[0] if np.ndim(bound.arguments.get("X")) >= 1 else 0
        with _threads.policy(P):
            return func(*args, **kwargs)

    return wrapper
