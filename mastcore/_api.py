"""What every public solver does before its own work: one decorator, :func:`solver`.

``@solver("tree")``, in this order:

1. checks that ``spec`` is a :class:`~mastcore.specs.NetworkSpec`;
2. checks the call against the resource budget before anything is allocated (:func:`check_budget`:
   :func:`mastcore._plumbing.budget.estimate` of the problem's size against ``$MASTCORE_MAX_BYTES``, docs/theory.md §16);
3. validates the data and their scale together with the network: entries, kernel scale and label scale that would
   overflow float64 (:func:`mastcore._plumbing.validation.check_scales`);
4. routes ``cache=True`` through the disk cache (:func:`mastcore.cache.cached_call`) and runs the call under the
   thread policy (:mod:`mastcore._plumbing.threads`), which receives the size of the problem (:func:`problem_size`);
5. at the outermost solver call only, applies the registered result hook: the error band of a theory result
   (:func:`mastcore.theory.bands.attach`, docs/theory.md §19).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect

import numpy as np

from ._plumbing import budget as _budget, threads as _threads
from ._plumbing.validation import check_callable, check_data, check_label_size, check_scales
from .cache import cached_call
from .specs import NetworkSpec

#: This module cannot change a cached result: the cache's source hash leaves it out (mastcore.cache, "Keys"). The
#: error band it attaches (step 5) is added after the cache lookup, and the cache stores results without it.
CACHE_NEUTRAL = True

#: The function step 5 applies to the outermost solver's result: ``hook(result, X, y, X_test) → result``, registered
#: by mastcore.theory.bands (:func:`set_result_hook`; the dependency points from the theory to this module).
_RESULT_HOOK: list = [None]
_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("mastcore_solver_active", default=False)


def set_result_hook(hook) -> None:
    """Register the function applied to the result of every outermost solver call (step 5 of the module docstring)."""
    _RESULT_HOOK[0] = hook


@contextlib.contextmanager
def outermost_call():
    """Context of a solver's work; yields True when no other solver call encloses it (solvers called inside another,
    e.g. the renormalised kernel inside the renormalised one loop, or a cache miss re-entering, yield False)."""
    token = _ACTIVE.set(True)
    try:
        yield token.old_value is not True
    finally:
        _ACTIVE.reset(token)

__all__ = ["check_budget", "check_spec", "outermost_call", "problem_size", "set_result_hook", "solver"]

#: The built-in solvers' names (the keys of the budget's cost models); any registered method's name
#: (mastcore.methods.METHODS) is accepted too: the budget and the thread policy read its record at call time.
METHOD_NAMES = _budget.METHODS
#: The methods that solve the tree-level saddle, whose scalar s grows with the labels (check_label_size).
SADDLE_METHODS = ("tree", "rescaled", "one_loop")


def check_spec(spec) -> NetworkSpec:
    """``spec`` itself, or ValueError naming it when it is not a NetworkSpec."""
    if not isinstance(spec, NetworkSpec):
        raise ValueError(
            f"'spec' must be a mastcore.NetworkSpec (e.g. mc.NetworkSpec(width=100, chi=1.0)); got {type(spec).__name__}"
        )
    return spec


def problem_size(arguments: dict) -> dict:
    """Size of a solver call from its bound arguments: P, D, P_test, width, chi, activation and the remaining
    keyword options (e.g. n_chains, options=LangevinOptions) — what the thread policy and cost estimates need."""
    X, X_test, spec = arguments.get("X"), arguments.get("X_test"), arguments.get("spec")
    shape = np.shape(X) if X is not None else ()
    P, D = (int(shape[0]), int(shape[1])) if len(shape) == 2 else (0, 0)
    P_test = int(np.shape(X_test)[0]) if X_test is not None and np.ndim(X_test) == 2 else 0
    skip = {"X", "y", "spec", "X_test", "progress", "cache"}
    options = {k: v for k, v in arguments.items() if k not in skip}
    extra = options.pop("particle_options", None) or options.pop("kwargs", None)
    if isinstance(extra, dict):
        options.update(extra)
    return dict(P=P, D=D, P_test=P_test, width=spec.width, chi=spec.chi, activation=spec.activation, options=options)


def check_budget(method: str, size: dict, *, band: bool = True) -> "_budget.Cost | None":
    """Raise :class:`mastcore.ResourceError` before allocating when the call of ``method`` on a problem of ``size``
    (:func:`problem_size`) would exceed the memory limit; returns the estimate, or None when the size is not
    readable (malformed input: the solver's own validation then names the argument). ``band``: the call is
    outermost, so its result gets an error band (step 5), whose companion the estimate includes."""
    if size["P"] < 1 or size["D"] < 1:
        return None
    try:
        cost = _budget.estimate(method, P=size["P"], D=size["D"], width=size["width"], P_test=size["P_test"],
                                activation=size["activation"], strict=False, band=band, **size["options"])
    except (ValueError, TypeError, KeyError):  # a malformed option: the solver's own check names it
        return None
    return _budget.check(cost, remedy="reduce the sizes or options named above, or raise the limit")


def solver(method: str):
    """Decorator of the public solver of ``method`` — the name of its record in :data:`mastcore.METHODS` (a user's
    solver registered with :func:`mastcore.register_method` may use it too; its record gives the cost model and the
    thread model, read when the solver is called): ``func(X, y, spec, X_test=None, *, ..., cache=False)`` (see the
    module docstring)."""
    if not isinstance(method, str) or not method.isidentifier():
        raise ValueError(f"'method' must be a method's name (an identifier such as 'tree'); got {method!r}")

    def decorate(func):
        sig = inspect.signature(func)
        has_cache = "cache" in sig.parameters

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{func.__name__}(): {exc}") from None
            spec = check_spec(bound.arguments.get("spec"))
            for hook in ("progress", "cancel"):  # before any work (a Langevin run would fail only at its 1st record)
                check_callable(hook, bound.arguments.get(hook))
            with outermost_call() as outermost:
                if has_cache and bound.arguments.get("cache", False):  # a hit computes nothing; a miss comes back
                    result = cached_call(wrapper, *args, **kwargs)
                else:
                    size = problem_size(bound.arguments)
                    check_budget(method, size, band=outermost and _RESULT_HOOK[0] is not None)
                    X, y, X_test = check_data(bound.arguments.get("X"), bound.arguments.get("y"),
                                              bound.arguments.get("X_test"))
                    check_scales(X, y, spec, X_test)
                    if method in SADDLE_METHODS:
                        check_label_size(X, y, spec)
                    with _threads.policy(method, **size):
                        result = func(*args, **kwargs)
                if not outermost or _RESULT_HOOK[0] is None:
                    return result
                # the band of a theory value (docs/theory.md §19), estimated by the outermost solver call only, after
                # the disk cache (which stores results without it, so a cached result never carries a stale band)
                X, y, X_test = check_data(bound.arguments.get("X"), bound.arguments.get("y"),
                                          bound.arguments.get("X_test"))
                return _RESULT_HOOK[0](result, X, y, X_test)

        wrapper.method = method
        return wrapper

    return decorate
