"""The method registry: everything the library knows about a method of :func:`mastcore.sweep`, in one record.

A :class:`Method` holds the solver, its label, which activations it applies to, whether it is sampled, how the
sweep warm-starts it from the previous χ (and from the other methods at the same χ), how the budget prices it
(:class:`mastcore._plumbing.budget.CostModel`), how the thread policy treats it (:class:`mastcore._plumbing.threads.ThreadModel`),
its plot style, whether the dashboard draws it as a theory curve against χ, and the theories of the theory map it
provides. :data:`METHODS` is the live registry, in the order of fidelity used by tables and plots (docs/theory.md
§0); the sweep, the budget, the thread policy, the plots, the dashboard and the theory map read it.
:func:`register_method` adds a user's own::

    def half_nngp(X, y, spec, X_test=None):
        ...  # returns a mastcore Result (e.g. mastcore.GPResult)

    mc.register_method(mc.Method("half_nngp", "half NNGP", half_nngp, chi_independent=True))
    mc.sweep(X, y, spec, chis=[1, 10], methods=("nngp", "half_nngp"))
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import Callable

from ._plumbing.budget import COST_MODELS, CostModel
from ._registry import METHODS  # the live registry, name → Method (stored there for the budget and thread policy)
from ._plumbing.threads import THREAD_MODELS, ThreadModel
from .activations import ACTIVATIONS, get_activation
from .posterior.gibbs import exact_posterior
from .posterior.langevin import LangevinOptions, train_langevin
from .posterior.quadrature import posterior_quadrature
from .theory.kernels.nngp import nngp
from .theory.tree.result import NonlinearTreeResult
from .theory.loops.one_loop import one_loop
from .theory.renormalised.kernel import rescaled_kernel
from .theory.tree.linear import TreeResult
from .theory.tree.level import tree_level

__all__ = ["METHODS", "Method", "SweepPoint", "register_method", "unregister_method"]

#: Keyword arguments every solver takes that are not options of a method.
_NOT_OPTIONS = ("X", "y", "spec", "X_test", "progress", "cache")
#: Monte-Carlo target of the erf/ReLU one loop when the dashboard draws it as a curve: 5 % of the loop correction (its
#: error band shows it; invisible at the chart's scale), where the library's default is 1 % (docs/theory.md §12.11:
#: in Chromium the Fig. 2 erf curve appears after ~12 s at 5 %; the 25-χ sweep at 1 % takes 40–47 s).
CURVE_MC_RTOL = 0.05


@dataclass(frozen=True)
class SweepPoint:
    """What a method's warm start sees at one χ of a sweep (:attr:`Method.warm_start`).

    method : the method's name. X, y, X_test : the data. spec : the network at this χ. options : the solver's
    keyword options at this point (the record's preset and the user's). previous : {method: result} at the last χ
    where each method ran. current : {method: result} of the methods already run at this χ (in the order the
    sweep was given them).
    """

    method: str
    X: object
    y: object
    spec: object
    X_test: object
    options: dict
    previous: dict
    current: dict


@dataclass(frozen=True, eq=False)
class Method:
    """A method of :func:`mastcore.sweep` and everything the library derives from it.

    Parameters
    ----------
    name : str
        Key in :data:`METHODS` (and in ``sweep(methods=...)``, the table's ``method`` column, ``options``).
    label : str
        Name for people (plots, the app). Default: ``name``.
    func : callable
        The solver, ``func(X, y, spec, X_test=None, **options)`` returning a :class:`mastcore.Result`.
    linear_only : bool
        Applies to linear networks only (``get_activation(spec.activation).linear``; the exact posteriors).
    sampled : bool
        Independent per χ with error bars: cached per point, run in parallel by a sweep's backend.
    reference : bool
        What the theories are compared with — an exact posterior or trained networks — rather than a theory.
    fixed : tuple of str
        Keyword arguments the sweep sets itself (warm starts, presets), which are therefore not user options.
    preset : tuple of (keyword, value)
        Options the method always passes to its solver (a variant of a solver as a method of its own).
    options_type : type, optional
        A dataclass whose fields are the method's options, passed to the solver as ``options=options_type(...)``
        (the trainer's :class:`mastcore.LangevinOptions`). Default: the solver's own keyword arguments.
    warm_start : callable, optional
        ``warm_start(point: SweepPoint) -> dict``: keyword arguments the sweep adds to the solver call at one χ,
        built from the previous χ's results and the other methods' results at this χ (Algorithm 1,
        docs/theory.md §0). Default: none (each χ from scratch).
    chi_independent : bool
        The result does not depend on χ (the NNGP, docs/theory.md §3): the sweep computes it once.
    cost : mastcore._plumbing.budget.CostModel, optional
        How :func:`mastcore.estimate` prices a call. Default: a kernel method's model (the NNGP's formulas).
    warm_cost : tuple of (keyword, value)
        Options the cost model gets at the warm-started points of a sweep (after the first χ).
    threads : mastcore._plumbing.threads.ThreadModel, optional
        Crossover and work size of the thread policy. Default: one thread unless the user sets a count.
    style : (colour, dash, marker) or (colour, dash, marker, width), optional
        Plot style (plotly colour, line dash or None for points, marker symbol, line width). Default: the plots'
        default.
    curve : bool or callable, optional
        The dashboard draws the method as a theory curve against χ: True, False, or a predicate on the
        activation record (``lambda act: act.linear``). Default: True for a theory (neither sampled nor a
        reference).
    curve_options : callable, optional
        ``curve_options(act) → dict``: the sweep options the dashboard passes when it draws the method as a curve
        for the activation record ``act`` (default: none).
    map_theories : tuple of (key, label, options)
        The theories of the theory map (:mod:`mastcore.validity`) this method provides: one sweep of this method
        with ``options`` each. Default: none.
    """

    name: str
    label: str
    func: Callable
    linear_only: bool = False
    sampled: bool = False
    reference: bool = False
    fixed: tuple = ()
    preset: tuple = ()
    options_type: type | None = None
    warm_start: Callable | None = None
    chi_independent: bool = False
    cost: CostModel | None = None
    warm_cost: tuple = ()
    threads: ThreadModel | None = None
    style: tuple | None = None
    curve: bool | Callable | None = None
    curve_options: Callable | None = None
    map_theories: tuple = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"'name' must be a short identifier string; got {self.name!r}")
        if not callable(self.func):
            raise TypeError(f"'func' must be callable; got {type(self.func).__name__}")
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if self.warm_start is not None and not callable(self.warm_start):
            raise TypeError(f"'warm_start' must be callable or None; got {type(self.warm_start).__name__}")
        if self.cost is not None and not isinstance(self.cost, CostModel):
            raise TypeError(f"'cost' must be a mastcore._plumbing.budget.CostModel or None; got {type(self.cost).__name__}")
        if self.threads is not None and not isinstance(self.threads, ThreadModel):
            raise TypeError(f"'threads' must be a mastcore._plumbing.threads.ThreadModel or None; got "
                            f"{type(self.threads).__name__}")
        if self.style is not None and (not isinstance(self.style, tuple) or len(self.style) not in (3, 4)):
            raise ValueError(f"'style' must be a (colour, dash, marker[, width]) tuple or None; got {self.style!r}")
        for arg in ("fixed", "preset", "warm_cost", "map_theories"):
            object.__setattr__(self, arg, tuple(getattr(self, arg)))
        for entry in self.map_theories:
            if not (isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[2], dict)):
                raise ValueError(f"'map_theories' entries must be (key, label, options dict); got {entry!r}")
        if self.curve is None:
            object.__setattr__(self, "curve", not (self.sampled or self.reference))

    def __repr__(self) -> str:
        return f"Method({self.name!r})"

    # --- what the sweep and the app ask of a method ---------------------------------------------------------

    def applies_to(self, activation) -> bool:
        """True when the method runs on networks with this activation (a name or an Activation)."""
        return not self.linear_only or get_activation(activation).linear

    @property
    def activations(self) -> tuple:
        """The registered activations it applies to (live: a newly registered activation appears)."""
        return tuple(a for a in ACTIVATIONS if self.applies_to(a))

    def options_for_curve(self, activation) -> dict:
        """The sweep options of the dashboard's curve of this method for ``activation`` (see ``curve_options``)."""
        return dict(self.curve_options(get_activation(activation))) if self.curve_options is not None else {}

    def draws_curve(self, activation) -> bool:
        """True when the dashboard draws it as a theory curve against χ for this activation."""
        if not self.applies_to(activation):
            return False
        return bool(self.curve(get_activation(activation)) if callable(self.curve) else self.curve)

    def option_names(self) -> tuple:
        """The keyword options a user may pass for this method in ``sweep(options={name: {...}})``."""
        if self.options_type is not None:
            return tuple(f.name for f in fields(self.options_type))
        skip = {*_NOT_OPTIONS, *self.fixed}
        params = inspect.signature(self.func).parameters.values()
        return tuple(p.name for p in params if p.name not in skip and p.kind is not p.VAR_KEYWORD)

    def accepts_extra(self) -> bool:
        """True when the solver takes further keyword options (**kwargs, e.g. the particle ansatz's)."""
        if self.options_type is not None:
            return False
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(self.func).parameters.values())

    def solver_kwargs(self, options: dict) -> dict:
        """The solver's keyword arguments for these options (preset included by the caller)."""
        if self.options_type is not None:
            return {"options": self.options_type(**options)}
        return dict(options)


# --- warm starts of the built-in methods (Algorithm 1, docs/theory.md §0) ----------------------------------------

def _tree_warm(point: SweepPoint) -> dict:
    """The tree level at χ starts from the saddle at the previous χ (docs/theory.md §4.4)."""
    return {"init": point.previous.get(point.method)}


def _loop_warm(point: SweepPoint) -> dict:
    """The one loop around the sweep's saddle at this χ (docs/theory.md §5, §12): erf/ReLU take the tree level as
    it is; a linear network needs the full-variant saddle, solved here (from the previous χ's) when the sweep has
    none; the "nngp" and "renormalised" variants need no saddle."""
    tree = point.current.get("tree")
    if not get_activation(point.spec.activation).linear:
        # the particle saddle of "auto" starts from the previous χ's saddle, when it had one (docs/theory.md §12.9)
        last = point.previous.get(point.method)
        prev = getattr(last, "saddle", None) or getattr(last, "tree", None)
        return {"tree": tree, "saddle_init": prev if isinstance(prev, NonlinearTreeResult) else None}
    if point.options.get("variant") in ("nngp", "renormalised"):
        return {"tree": None}
    if not (isinstance(tree, TreeResult) and tree.variant == "full"):
        prev = getattr(point.previous.get(point.method), "tree", None)
        tree = tree_level(point.X, point.y, point.spec, point.X_test,
                          init=prev if isinstance(prev, TreeResult) else None,
                          strict=point.options.get("strict", False))
    return {"tree": tree}




def register_method(method: Method, *, replace: bool = False, before: str | None = None) -> Method:
    """Add ``method`` to :data:`METHODS` (``replace=True`` to overwrite a name; ``before``: the name of a
    registered method it is listed before, e.g. ``before="quadrature"`` among the theories). Returns it."""
    if not isinstance(method, Method):
        raise TypeError(f"'method' must be a mastcore.Method; got {type(method).__name__}")
    if method.name in METHODS and not replace:
        raise ValueError(f"method {method.name!r} is already registered; pass replace=True to overwrite it")
    if before is not None and (before not in METHODS or before == method.name):
        raise ValueError(f"'before' must name another registered method {tuple(METHODS)}; got {before!r}")
    if before is None or method.name in METHODS:
        METHODS[method.name] = method
        return method
    items = list(METHODS.items())
    METHODS.clear()
    for name, record in items:
        if name == before:
            METHODS[method.name] = method
        METHODS[name] = record
    return method


def unregister_method(name: str) -> Method:
    """Remove the method called ``name`` from :data:`METHODS`; returns its record."""
    if name not in METHODS:
        raise ValueError(f"'name' must be a registered method {tuple(METHODS)}; got {name!r}")
    return METHODS.pop(name)


def _builtin():
    register_method(Method(
        "nngp", "NNGP", nngp, chi_independent=True, cost=COST_MODELS["nngp"], threads=THREAD_MODELS["nngp"],
        style=("#999999", "dash", "square"), map_theories=(("nngp", "NNGP", {}),)))
    register_method(Method(
        "tree", "tree level", tree_level, fixed=("init", "C_init"), warm_start=_tree_warm,
        cost=COST_MODELS["tree"], warm_cost=(("warm", True),), threads=THREAD_MODELS["tree"],
        style=("#0072B2", "solid", "circle"), map_theories=(("tree", "tree level", {}),)))
    register_method(Method(
        "rescaled", "renormalised kernel", rescaled_kernel, cost=COST_MODELS["rescaled"],
        threads=THREAD_MODELS["rescaled"], style=("#009E73", "dot", "triangle-up"),
        map_theories=(("rescaled", "renormalised kernel", {}),)))
    register_method(Method(
        "one_loop", "one loop", one_loop, fixed=("tree", "saddle_init"), warm_start=_loop_warm, cost=COST_MODELS["one_loop"],
        warm_cost=(("warm", True),),
        threads=THREAD_MODELS["one_loop"], style=("#D55E00", "longdash", "diamond"),
        # the app draws the renormalised one loop as a curve of its own for linear networks, so its "one loop" curve
        # there is the one loop around the saddle (variant "auto" would mostly repeat the renormalised one, §19.3);
        # for erf/ReLU the chart's curve takes CURVE_MC_RTOL (its band carries the Monte-Carlo error; §12.11)
        curve_options=lambda act: {"variant": "perturbative"} if act.linear else {"mc_rtol": CURVE_MC_RTOL},
        map_theories=(("one_loop", "one loop (saddle)", {"variant": "perturbative"}),
                      ("nngp_loop", "1/N around the NNGP", {"variant": "nngp"}),
                      ("renormalised_loop", "renormalised one loop", {"variant": "renormalised"}))))
    # the one loop around the renormalised saddle u*·C0 (docs/theory.md §12.5): the most accurate theory both in the
    # proportional regime and at χ = N (§18); a method of its own so that tables and the app can show it. For
    # erf/ReLU the one loop's default variant ("auto", §12.4) already is this loop wherever it is the better
    # theory, so the app draws it as a curve of its own for linear networks only.
    register_method(Method(
        "renormalised_loop", "renormalised one loop", one_loop, fixed=("tree", "variant"),
        preset=(("variant", "renormalised"),), warm_start=_loop_warm, cost=COST_MODELS["one_loop"],
        threads=THREAD_MODELS["one_loop"], style=("#56B4E9", "solid", "x-thin-open"), curve=lambda act: act.linear))
    register_method(Method(
        "quadrature", "exact posterior (quadrature)", posterior_quadrature, linear_only=True, reference=True,
        cost=COST_MODELS["quadrature"], threads=THREAD_MODELS["quadrature"], style=("#000000", "dashdot", "circle-open", 1.6)))
    register_method(Method(
        "exact", "exact posterior", exact_posterior, linear_only=True, sampled=True, reference=True,
        cost=COST_MODELS["exact"], threads=THREAD_MODELS["exact"], style=("#000000", None, "diamond")))
    register_method(Method(
        "langevin", "Langevin networks", train_langevin, sampled=True, reference=True, options_type=LangevinOptions,
        cost=COST_MODELS["langevin"], threads=THREAD_MODELS["langevin"], style=("#CC79A7", None, "diamond")))


_builtin()
