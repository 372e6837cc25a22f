"""The resource budget: what a call will cost, checked before anything is allocated (docs/theory.md §16).

:func:`estimate` gives the peak memory (bytes) and the wall time (seconds) of one call of a method from the sizes
of the problem alone — P, D, P*, N, the activation and the method's options — without touching any data.
:func:`check` compares the bytes with the limit :func:`max_bytes` (``$MASTCORE_MAX_BYTES``; default half the
available memory) and raises :class:`ResourceError` when the call would not fit. Every public solver runs
:func:`check` before its own work (through :func:`mastcore._api.solver`), :func:`mastcore.sweep` checks the whole
sweep up front, and the command line checks the task too (:func:`estimate_task`).

Bytes are counted from the arrays each method allocates (docs/theory.md §16: the live arrays at the peak of the
call, in float64 units of their shapes); seconds come from the flop and element counts of the same formulas divided
by rates measured on this machine (:data:`RATES`, re-measured by ``python bench/resources.py --calibrate``). The
per-method formulas and the measured constants are :mod:`mastcore._plumbing.costs`; this module holds the limit,
the check, the options and the public estimates, including the error band a theory call is followed by.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Callable

from .costs import (_COMMON, _OPTIONS, F8, RATES, _exact, _langevin, _nngp, _one_loop, _quadrature, _rescaled,
                    _seconds, _solver_defaults, _tree)
from .env import env_bytes
from .validation import chi_values, method_names, positive_int
from .._registry import METHODS as registry
from ..activations import get_activation

#: This module cannot change a result: the cache's source hash leaves it out (mastcore.cache, "Keys").
CACHE_NEUTRAL = True

__all__ = [
    "COST_MODELS",
    "METHODS",
    "Cost",
    "CostModel",
    "ResourceError",
    "check",
    "estimate",
    "estimate_sweep",
    "estimate_task",
    "format_bytes",
    "max_bytes",
]

#: Environment variable with the memory limit in bytes (suffixes K, M, G, T accepted: "8G").
ENV_MAX_BYTES = "MASTCORE_MAX_BYTES"
#: Without ``$MASTCORE_MAX_BYTES`` the limit is this fraction of the available memory.
DEFAULT_FRACTION = 0.5


class ResourceError(ValueError):
    """A call would need more memory than the budget allows (``$MASTCORE_MAX_BYTES``); raised before allocating.

    Attributes: ``cost`` (the :class:`Cost` of the refused call) and ``limit`` (bytes).
    """

    def __init__(self, message: str, cost: "Cost | None" = None, limit: int | None = None):
        super().__init__(message)
        self.cost = cost
        self.limit = limit


@dataclass(frozen=True)
class Cost:
    """Estimated cost of one call (:func:`estimate`).

    bytes : peak memory the call allocates (its result included), in bytes.
    seconds : expected wall time on this machine (default thread settings), in seconds.
    result_bytes : the part of ``bytes`` the result keeps alive after the call (what a sweep accumulates).
    flops : floating-point operations of its dense algebra. what : a short description ("tree level (linear),
    P=80, D=200, N=100"). parts : the terms the estimate is made of ({name: bytes}), for the curious.
    """

    bytes: int
    seconds: float
    result_bytes: int = 0
    flops: float = 0.0
    what: str = ""
    parts: dict = field(default_factory=dict, repr=False, compare=False)

    def __add__(self, other: "Cost") -> "Cost":
        """Two calls one after the other: the peaks do not add, but the first result is still held."""
        peak = max(self.bytes + other.result_bytes, self.result_bytes + other.bytes)
        return Cost(bytes=int(peak), seconds=self.seconds + other.seconds,
                    result_bytes=self.result_bytes + other.result_bytes, flops=self.flops + other.flops,
                    what=f"{self.what}; {other.what}" if self.what else other.what)

    def describe(self) -> str:
        """One line: what, bytes and seconds."""
        return f"{self.what}: about {format_bytes(self.bytes)} and {format_seconds(self.seconds)}"


# --- formatting ------------------------------------------------------------------------------------------------


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB' (binary units)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def format_seconds(s: float) -> str:
    """'400 ms', '12 s', '3.5 min', '2.1 h' (three significant digits); 'an unknown time' when not finite."""
    if not math.isfinite(s):
        return "an unknown time"
    if s < 1:
        return f"{s * 1000:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    return f"{s / 3600:.3g} h"


# --- the limit -------------------------------------------------------------------------------------------------


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_free(root: str = "/sys/fs/cgroup", proc: str = "/proc/self/cgroup") -> list[int]:
    """Limit minus usage of every memory cgroup this process is in, from its own group up to the root: cgroup v2
    (memory.max / memory.current) and v1 (memory/…/memory.limit_in_bytes / memory.usage_in_bytes). A limit may be
    set on any ancestor (a container's group, a systemd slice), so each level counts.

    Read by hand: psutil reports the machine's memory, not a cgroup's limit (a container sees the host's
    MemAvailable), and neither joblib nor the standard library reads memory cgroups."""
    paths = []  # (limit file, usage file)
    try:
        with open(proc, encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    groups = {"v2": "/", "v1": "/"}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[0] == "0" and parts[1] == "":
            groups["v2"] = parts[2] or "/"
        elif len(parts) == 3 and "memory" in parts[1].split(","):
            groups["v1"] = parts[2] or "/"
    for kind, base, limit_name, usage_name in (("v2", root, "memory.max", "memory.current"),
                                               ("v1", os.path.join(root, "memory"), "memory.limit_in_bytes",
                                                "memory.usage_in_bytes")):
        parts = [p for p in groups[kind].split("/") if p]
        for i in range(len(parts), -1, -1):  # own group first, then each ancestor, the root last
            d = os.path.join(base, *parts[:i])
            paths.append((os.path.join(d, limit_name), os.path.join(d, usage_name)))
    free = []
    for limit_path, usage_path in paths:
        limit = _read_int(limit_path)
        if limit is not None and limit < 1 << 60:  # "max" or the v1 "unlimited" sentinel are not limits
            free.append(max(0, limit - (_read_int(usage_path) or 0)))
    return free


def available_memory() -> int:
    """Bytes available to this process: the smaller of the system's available memory (:mod:`psutil`; on Linux
    /proc/meminfo's MemAvailable) and, for every memory cgroup from the process's own up to the root, its limit
    minus its usage (:func:`_cgroup_free`)."""
    import psutil  # noqa: PLC0415  (only when a limit is needed: not at import)

    return int(min([psutil.virtual_memory().available, *_cgroup_free()]))


def max_bytes() -> int:
    """The memory limit of one call, in bytes: ``$MASTCORE_MAX_BYTES`` if set, else half the available memory."""
    if os.environ.get(ENV_MAX_BYTES, "").strip():
        return env_bytes(ENV_MAX_BYTES, 0)
    return int(DEFAULT_FRACTION * available_memory())


def check(cost: Cost, *, remedy: str = "") -> Cost:
    """Raise :class:`ResourceError` when ``cost.bytes`` exceeds :func:`max_bytes`; else return ``cost``."""
    limit = max_bytes()
    if cost.bytes > limit:
        source = (f"${ENV_MAX_BYTES}" if os.environ.get(ENV_MAX_BYTES, "").strip()
                  else f"half the available memory; set ${ENV_MAX_BYTES} to change it")
        hint = f"; {remedy}" if remedy else "; use smaller sizes"
        raise ResourceError(
            f"{cost.what} would need about {format_bytes(cost.bytes)} of memory, more than the limit of "
            f"{format_bytes(limit)} ({source}){hint}",
            cost=cost,
            limit=limit,
        )
    return cost


# --- options ------------------------------------------------------------------------------------------------

def _options(model: "CostModel", options: dict, strict: bool, method: str = "") -> dict:
    known = model.options()
    if "options" in options and hasattr(options["options"], "to_dict"):  # a LangevinOptions object: its fields
        fields = {k: v for k, v in options["options"].to_dict().items() if k in known}
        options = {**fields, **{k: v for k, v in options.items() if k != "options"}}
    elif "options" in options and options["options"] is None:
        options = {k: v for k, v in options.items() if k != "options"}
    unknown = sorted(set(options) - set(known))
    if unknown and strict:
        raise ValueError(f"unknown option(s) {unknown} for method {method or model.name!r}; known: {sorted(known)}")
    out = dict(known)
    out.update({k: v for k, v in options.items() if k in known and v is not None})
    return out


def _size(name, v, minimum=0):
    return positive_int(name, v, minimum=minimum)


#: Bytes every call adds whatever its size: small arrays, page rounding, interpreter objects.
BASE_BYTES = 2**20


@dataclass(frozen=True)
class CostModel:
    """How :func:`estimate` prices one call of a solver (docs/theory.md §16); a method's record
    (:class:`mastcore.methods.Method`) holds one.

    name : key of its option table (:data:`_OPTIONS`) and of its time rates (:data:`RATES`; ``<name>_nonlinear``
    for a nonlinear activation where measured). model : ``model(P, D, P*, N, activation record, options)`` →
    (peak floats, result floats, flops, elements, small calls, parts). label : what it is called in messages.
    base_bytes : bytes every call adds whatever its size. detail : ``detail(options, activation record)`` → text
    added to the description (e.g. "64 chains × 2000 sweeps"), or None. band : ``band(options, activation record)``
    → True when the result's error band is measured against the band companion, the renormalised one loop that
    :func:`mastcore.theory.bands.attach` runs after the call (docs/theory.md §19.1); None: never.
    """

    name: str
    model: Callable
    label: str
    base_bytes: int = BASE_BYTES
    detail: Callable | None = None
    band: Callable | None = None

    def options(self) -> dict:
        """The options the model reads, with their defaults."""
        return {**_COMMON, **_OPTIONS.get(self.name, {})}


def _always(options, act) -> bool:
    return True


def _needs_band(method, options: dict, act) -> bool:
    """Whether a call of ``method`` with these options gets its error band from the band companion."""
    cm, preset, _, _ = _resolve(method)
    return cm.band is not None and cm.band(_options(cm, {**preset, **options}, False, method), act)


def _companion(P: int, D: int, Ps: int, N: int, act, chi) -> "Cost":
    """Cost of the band companion (mastcore.theory.bands.companion): the renormalised one loop with
    COMPANION_SAMPLES prior samples for erf/ReLU (a closed form for linear networks), memoised per data set and χ."""
    samples = _solver_defaults()["companion_samples"]
    return estimate("one_loop", P=P, D=D, width=N, P_test=Ps, activation=act.name, strict=False, band=False,
                    variant="renormalised", n_samples=samples, max_samples=samples, chi=chi)


def _with_band(cost: "Cost", companion: "Cost", P: int, Ps: int) -> "Cost":
    """``cost`` of a call followed by its band: the companion runs while the call's result is held; the result
    gains the band arrays (P + P* floats). The companion's own result stays in the companions' memo, bounded by
    that memo (mastcore.theory.bands), not in the caller's result."""
    return Cost(bytes=max(cost.bytes, cost.result_bytes + companion.bytes), seconds=cost.seconds + companion.seconds,
                result_bytes=cost.result_bytes + F8 * (P + Ps), flops=cost.flops + companion.flops,
                what=cost.what, parts={**cost.parts, "band_companion": companion.bytes})


#: The cost models of the built-in solvers (the records of mastcore.methods refer to them).
COST_MODELS: dict[str, CostModel] = {
    "nngp": CostModel("nngp", _nngp, "NNGP", band=_always),
    "tree": CostModel("tree", _tree, "tree level",
                      detail=lambda o, a: None if a.linear else f"ansatz {o['ansatz'] or a.default_ansatz}",
                      band=_always),
    "rescaled": CostModel("rescaled", _rescaled, "renormalised kernel", band=_always),
    # the renormalised one loop has a band of its own, and "auto" runs it and lends it (theory/loops/variants.py)
    "one_loop": CostModel("one_loop", _one_loop, "one loop",
                          band=lambda o, a: o["variant"] not in ("auto", "renormalised")),
    "quadrature": CostModel("quadrature", _quadrature, "posterior quadrature"),
    "exact": CostModel("exact", _exact, "exact posterior (Gibbs)",
                       detail=lambda o, a: f"{o['n_chains']} chains × {o['n_sweeps']} sweeps"),
    # torch's per-call buffers and its noise thread (measured as the rise of the resident set of calls at P = 24)
    "langevin": CostModel("langevin", _langevin, "Langevin training", base_bytes=6 * 2**20,
                          detail=lambda o, a: f"{o['ensemble']} networks × {o['steps']} steps"),
}
#: The solvers :func:`estimate` has a model of (the keys of :data:`COST_MODELS`).
METHODS = tuple(COST_MODELS)
#: The model of a registered method without one of its own (a user's method): a kernel, its test block and one GP
#: prediction — the NNGP's formulas, an order of magnitude for any kernel method.
GENERIC = CostModel("nngp", _nngp, "")


def _resolve(method) -> tuple:
    """(cost model, preset options, label, registry record or None) of ``method``: a name of
    :data:`mastcore.methods.METHODS` (whose record gives the model and the preset options of a variant) or of
    :data:`COST_MODELS`."""
    record = registry.get(method) if isinstance(method, str) else None
    if record is not None:
        model = record.cost or GENERIC
        return model, dict(record.preset), model.label or record.label, record
    if isinstance(method, str) and method in COST_MODELS:
        return COST_MODELS[method], {}, COST_MODELS[method].label, None
    raise ValueError(f"'method' must be one of {tuple(registry)}; got {method!r}")


def estimate(method: str, *, P, D, width, P_test=0, activation: str = "linear", strict: bool = True,
             band: bool = True, **options) -> Cost:
    """Peak memory and wall time of one call of ``method`` on a problem of this size, before any data exists.

    Parameters
    ----------
    method : a name of :data:`mastcore.METHODS` (the sweep's names: "nngp", "tree", "rescaled", "one_loop",
        "renormalised_loop", "quadrature", "exact", "langevin", and any registered with
        :func:`mastcore.register_method`; one without a cost model of its own is priced as a kernel method).
    P, D, width : train points, input dimension, width N. P_test : test points (0: none).
    activation : a name of :data:`mastcore.ACTIVATIONS` ("linear", "erf", "relu", ...).
    options : the method's own keyword options, e.g. ``n_chains``/``n_sweeps`` (exact), ``ensemble``/``steps``/
        ``burn_in``/``dtype``/``thin`` or ``options=LangevinOptions(...)`` (langevin; ``lambda_max``, the largest
        eigenvalue of the NNGP kernel over κ0, sets how often it records — unknown: every step, the dearest case),
        ``ansatz``/``n_particles`` (tree with erf/ReLU), ``warm=True`` (tree warm-started inside a sweep),
        ``variant``/``kernel_variance`` (one_loop), ``n_nodes`` (quadrature).
    strict : raise ValueError for an unknown option (False: ignore it; what the solvers' own check uses).
    band : include the error band the solver attaches to a theory result (docs/theory.md §19.1): for the NNGP, the
        tree level, the renormalised kernel and the one loops around a saddle, the band companion (a renormalised
        one loop) runs after the call. False: the call's own work only (a solver called inside another).

    Returns
    -------
    Cost with ``.bytes`` (peak, result included), ``.seconds``, ``.result_bytes``, ``.flops`` and ``.what``.
    The formulas are in docs/theory.md §16; ``bench/resources.py`` compares them with measured runs.

    Examples
    --------
    >>> c = estimate("exact", P=80, D=200, width=100, P_test=1000, n_chains=64, n_sweeps=2000)
    >>> c.bytes < 2**30
    True
    """
    cm, preset, label, record = _resolve(method)
    P = _size("P", P, 1)
    D = _size("D", D, 1)
    N = _size("width", width, 1)
    Ps = _size("P_test", P_test, 0)
    act = get_activation(activation)
    # a method priced by the generic model has options the model does not know: they cannot change its estimate
    o = _options(cm, {**preset, **options}, strict and (record is None or record.cost is not None), method)
    peak, result, flops, elems, units, parts = cm.model(P, D, Ps, N, act, o)
    peak += cm.base_bytes / F8
    what = f"{label} ({act.name}, P={P}, D={D}, N={N}" + (f", P*={Ps}" if Ps else "")
    detail = cm.detail(o, act) if cm.detail is not None else None
    what += (f", {detail}" if detail else "") + ")"
    cost = Cost(bytes=int(F8 * peak), seconds=float(_seconds(cm.name, act, flops, elems, units)),
                result_bytes=int(F8 * result), flops=float(flops), what=what, parts=parts)
    if band and cm.band is not None and cm.band(o, act):
        cost = _with_band(cost, _companion(P, D, Ps, N, act, o["chi"]), P, Ps)
    return cost


def estimate_task(spec) -> Cost:
    """Peak memory and time of building a task (:func:`mastcore.make_task`) from its TaskSpec, before building it.

    Synthetic tasks draw P + P* rows of D numbers (the Ising generator holds the uniform draws, the flips and the
    inputs at once); digits are a fixed 1797×64 set; MNIST loads its files (≤ 70000×784 bytes) as float64.
    """
    from ..data.tasks import TaskSpec  # noqa: PLC0415 (the data package imports this module)

    if not isinstance(spec, TaskSpec):
        raise ValueError(f"'spec' must be a mastcore.TaskSpec (e.g. mc.TaskSpec(name={spec!r}, P=100, D=50) for a "
                         f"task name); got {type(spec).__name__}" if isinstance(spec, str) else
                         f"'spec' must be a mastcore.TaskSpec; got {type(spec).__name__}")
    P, Ps, D = int(spec.P), int(spec.P_test), int(spec.D)
    n = P + Ps
    if spec.name == "ising":
        peak = 3 * n * D + n * D / 8
        elems = 4.0 * n * D
    elif spec.name in ("digits", "mnist"):
        rows, pix = (1797, 64) if spec.name == "digits" else (70000, 784)
        peak = 4 * rows * pix + 3 * n * pix
        elems = 4.0 * rows * pix
        D = pix
    else:  # teacher–student and user tasks: X_all, its products
        peak = 2 * n * D + 3 * n
        elems = 3.0 * n * D
    k = RATES["task"]
    return Cost(bytes=int(F8 * peak), seconds=k["s0"] + elems * k["elem"], result_bytes=int(F8 * (n * D + n)),
                what=f"task {spec.name!r} (P={P}, P*={Ps}, D={D})")


def estimate_sweep(*, P, D, width, P_test=0, activation: str = "linear", chis, methods, options=None,
                   strict: bool = True) -> Cost:
    """Cost of :func:`mastcore.sweep` with these sizes: every (method, χ) point in turn, each result kept.

    ``chis`` : the χ values (or their number); ``methods`` : method names; ``options`` : {method: {option: value}}
    as for the sweep (the reserved key ``"chis"`` runs a method at a subset). A χ-independent method (the NNGP) is
    computed once; a warm-started one (the tree level) is priced with its record's ``warm_cost`` options after the
    first χ. The band companion of the theory results (docs/theory.md §19.1) is priced once per χ, as the sweep
    runs it (memoised per data set and χ, shared by the methods; the NNGP's band is estimated at every χ).
    ``.bytes`` is the peak (all kept results plus the largest single call), ``.seconds`` the sum (sequential
    backend).
    """
    # each point's χ, when known; the same check (and the same ValueError for an empty list) as sweep()
    if isinstance(chis, numbers.Integral) and not isinstance(chis, bool):
        values = None
        chis = positive_int("chis", chis)
    else:
        values = list(chi_values(chis))
    n_all = chis if values is None else len(values)
    options = options or {}
    methods = method_names(methods, tuple(dict.fromkeys((*registry, *COST_MODELS))))
    act = get_activation(activation)
    total = None
    companions: dict = {}  # χ of each band companion: keyed by its value (by its index when only a count is known)
    for m in methods:
        opts = dict(options.get(m) or {})
        sub = opts.pop("chis", None)
        n = n_all if sub is None else len(chi_values(sub))
        record = _resolve(m)[3]
        if sub is None:
            at = values
        else:  # the reserved option: this method at a subset of χ (a number or a list)
            at = list(chi_values(sub))
        if _needs_band(m, opts, act):
            for k in range(n):
                chi = opts.get("chi", None if at is None else at[k])
                companions.setdefault(k if at is None else chi, chi)
        if record is not None and record.chi_independent:  # computed once by the sweep
            n = min(n, 1)
        for k in range(n):
            if record is not None and k > 0:  # warm-started from the previous χ (the record says how it is priced)
                opts = {**opts, **dict(record.warm_cost)}
            point = opts if at is None or "chi" in opts else {**opts, "chi": at[k]}
            c = estimate(m, P=P, D=D, width=width, P_test=P_test, activation=activation, strict=strict, band=False,
                         **point)
            if companions:  # the result carries its band arrays
                c = dataclasses.replace(c, result_bytes=c.result_bytes + F8 * (int(P) + int(P_test)))
            total = c if total is None else total + c
    for chi in companions.values():
        total = total + _companion(int(P), int(D), int(P_test), int(width), act, chi)
    if total is None:
        return Cost(bytes=0, seconds=0.0, what="empty sweep")
    return Cost(bytes=total.bytes, seconds=total.seconds, result_bytes=total.result_bytes, flops=total.flops,
                what=f"sweep of {', '.join(methods)} over {n_all} chi values (P={P}, D={D}, N={width}"
                     + (f", P*={P_test}" if P_test else "") + ")")
