"""The resource budget: what a call will cost, checked before anything is allocated (docs/theory.md §16).

:func:`estimate` gives the peak memory (bytes) and the wall time (seconds) of one call of a method from the sizes
of the problem alone — P, D, P*, N, the activation and the method's options — without touching any data.
:func:`check` compares the bytes with the limit :func:`max_bytes` (``$MASTCORE_MAX_BYTES``; default half the
available memory) and raises :class:`ResourceError` when the call would not fit. Every public solver runs
:func:`check` before its own work (through :func:`mastcore._api.solver`), :func:`mastcore.sweep` checks the whole
sweep up front, and the command line checks the task too (:func:`estimate_task`).

Bytes are counted from the arrays each method allocates (docs/theory.md §16: the live arrays at the peak of the
call, in float64 units of their shapes); seconds come from the flop and element counts of the same formulas divided
by rates measured on this machine (:data:`RATES`, re-measured by ``python bench/resources.py --calibrate``).
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Callable

from ._validation import chi_values, env_bytes, method_names, positive_float, positive_int
from ._validation import parse_bytes as _parse_bytes
from ._registry import METHODS as registry
from .activations import get_activation

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
F8 = 8  # bytes per float64

#: Measured constants of the time model (docs/theory.md §16.3), fitted by ``python bench/resources.py --calibrate``
#: to the CPU time of calls at P ∈ {24, 120, 240, 800}, D = 300, P* = 500, N = 60 (2 shared cores, default threads):
#: per method ``s0`` the seconds of a tiny call, ``flops`` the rate of its dense algebra (flop/s), ``elem`` seconds
#: per element of elementwise work, ``unit`` seconds of one small numpy/torch call. ``<method>_nonlinear``: erf and
#: ReLU networks. The comments give estimate/measured at the calibration points.
RATES: dict[str, dict[str, float]] = {
    "nngp": dict(s0=0.00069, flops=2.52e+10, elem=2.02e-09, unit=9.39e-07),  # 0.39, 0.85, 1.21, 0.96
    "tree": dict(s0=0.00253, flops=1.67e+10, elem=0.0, unit=9.39e-07),  # 1.14, 1.07, 0.95, 0.95
    "rescaled": dict(s0=0.000936, flops=7.89e+10, elem=1.88e-09, unit=9.39e-07),  # 0.72, 0.99, 1.13, 0.97
    "one_loop": dict(s0=0.0031, flops=3.76e+10, elem=5e-10, unit=9.39e-07),  # 1.09, 1.00, 0.94, 1.04
    "quadrature": dict(s0=0.00446, flops=1.08e+10, elem=1.03e-09, unit=9.39e-07),  # 1.07, 0.98, 0.78, 1.12
    "exact": dict(s0=0.00185, flops=5.18e+10, elem=1.83e-09, unit=9.39e-07),  # 0.99, 1.02, 1.00, 1.00
    "langevin": dict(s0=0.0053, flops=1.19e+11, elem=8.18e-10, unit=9.39e-07),  # 1.00, 1.00, 1.00, 1.00
    "nngp_nonlinear": dict(s0=0.000674, flops=1.14e+10, elem=0.0, unit=9.39e-07),  # 0.43, 0.88, 1.28, 0.85
    "tree_nonlinear": dict(s0=0.00325, flops=1.08e+11, elem=1.31e-09, unit=9.39e-07),  # 1.23, 0.25, 1.08, 1.00
    "langevin_nonlinear": dict(s0=0.00562, flops=4.7e+10, elem=3.16e-10, unit=9.39e-07),  # 1.09, 0.94, 0.94, 1.01
    # building a task (estimate_task): not calibrated, an order of magnitude (elementwise draws)
    "task": dict(s0=1e-3, flops=1.0e10, elem=8e-9, unit=0.0),
}


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
    set on any ancestor (a container's group, a systemd slice), so each level counts."""
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
    """Bytes available to this process: the smaller of /proc/meminfo's MemAvailable and, for every memory cgroup
    from the process's own up to the root, its limit minus its usage (:func:`_cgroup_free`)."""
    candidates = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    candidates += _cgroup_free()
    if not candidates:  # not Linux: the physical memory, if the OS tells
        try:
            candidates.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            candidates.append(8 * 1024**3)
    return int(min(candidates))


def parse_bytes(text: str, name: str = ENV_MAX_BYTES) -> int:
    """'8G', '512 MiB', '1e9' -> bytes; ValueError naming ``name`` otherwise (the one parser, mastcore._validation)."""
    return _parse_bytes(text, name)


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


# --- option parsing --------------------------------------------------------------------------------------------

#: χ: the annealed erf/ReLU tree level's cost and whether the erf/ReLU one loop ("auto") goes to the particle saddle
#: depend on it; unknown (None) counts as χ = width, the upper bound
_COMMON = dict(chi=None)
_OPTIONS = {
    "nngp": {},
    # None: the solver's own default (mastcore/theory/_defaults.py, see _solver_defaults)
    "tree": dict(ansatz=None, variant="full", n_particles=None, n_stages=None, outer_per_stage=None, outer_final=None,
                 mcmc_steps=None, warm=False, max_iter=None, tol=None, seed=0, strict=False, init=None,
                 C_init=None),
    "rescaled": {},
    "one_loop": dict(variant="auto", kernel_variance=True, tol=None, max_iter=None, strict=False,
                     tree=None, ansatz=None, n_samples=None, max_samples=None, mc_rtol=None, seed=0),
    "quadrature": dict(n_nodes=2001, tol=None),
    "exact": dict(n_chains=64, n_sweeps=2000, burn_in=200, seed=0),
    "langevin": dict(ensemble=16, steps=20000, burn_in=2000, thin=None, dtype="float64", fast_linear=True,
                     chunks=1, lambda_max=None, dt=None, device="auto", seed=0, integrator="lm", threads=None),
}


def _int_opt(opts, name, minimum=1):
    return positive_int(name, opts[name], minimum=minimum)


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


# --- the models ------------------------------------------------------------------------------------------------
# Each returns (peak floats, result floats, flops, elements, units, parts). "floats" are float64 slots (8 bytes).


def _row_space(P, D):
    """Thin SVD of X (P, D) (mastcore._linalg.row_space): a copy of X for LAPACK, U, Vᵀ and gesdd's workspace,
    then the kept U (P, k) and W (D, k), which stay in the row-space memo."""
    k = min(P, D)
    peak = P * D + 2 * (P * k + k * D) + 5 * k * k
    kept = P * k + k * D
    flops = 4.0 * max(P, D) * k * k + 8.0 * k**3
    return peak, kept, flops


def _kernel_temps(act):
    """Live (n, m) arrays while a closed-form kernel of the activation ``act`` is formed (nonlinear_kernels.
    pair_kernel): the activation record's relative cost (linear 2, erf 8, ReLU 11)."""
    return act.cost


def _nngp(P, D, Ps, N, act, o):
    t = _kernel_temps(act)
    x_copy = 0 if act.linear else P * D  # σ²·X
    # train kernel (t live P×P arrays), then the test kernel beside C0, then gp_predict: C0, κ0·I, A, its factor
    peak = max(x_copy + t * P * P, P * P + (0 if act.linear else Ps * D) + t * Ps * P,
               3 * P * P + Ps * P)
    result = P * P + P + Ps
    flops = 2.0 * P * P * D + 2.0 * Ps * P * D + P**3 / 3.0
    elems = (t * 3) * (P * P + Ps * P)
    return peak, result, flops, elems, 20, {}


def _tree_linear(P, D, Ps, N, o):
    r = min(P, D)
    sv_peak, sv_kept, sv_flops = _row_space(P, D)
    warm = o.get("warm") or o.get("init") is not None or o.get("C_init") is not None
    iters = 1 if o["variant"] == "rescaling" else (TREE_ITERS_WARM if warm else TREE_ITERS)
    # iteration (saddle._tree_iteration): C, C0, K_B, C_new and the temporaries of the Woodbury background kernel
    it_peak = 12 * r * r
    # residual and lift (saddle.linear_tree_level): R, C̃, products (r×r); C, K_B, R lifted to P×P when r < P
    lift = 0 if r == P else 6 * P * P
    result = 2 * P * P + r * r + 3 * P + Ps
    peak = sv_kept + max(sv_peak - sv_kept, it_peak, 10 * r * r + lift) + (P * P if r == P else 0)
    # per iteration: Cholesky r³/3, triangular solve r³, FᵀF 2r³, and the spectrum of K_B (a full eigh below
    # r = 160, ~9r³; above it Householder tridiagonalisation 4r³/3 and Q applied to vectors only, O(r²) each in
    # a Python loop over the r reflectors); then h(s) on the 801-point grid
    spectral = 9.0 * r**3 if r < 160 else 4.0 * r**3 / 3.0
    flops = (sv_flops + iters * (10.0 * r**3 / 3.0 + spectral) + 10.0 * r**3 + (6.0 * P * P * r if r < P else 0.0)
             + 2.0 * Ps * D * r)
    elems = iters * (801 * r * 8 + 100 * r * r)
    units = iters * ((6 * r if r >= 160 else 0) + 300)  # numpy calls: reflectors, h(s) and Brent's evaluations
    return peak, result + sv_kept, flops, elems, units, {"row_space": sv_kept * F8}


#: Outer iterations of the linear tree level from a cold start (docs/theory.md §4.4: 6–8 measured at P = 80…1600;
#: more at small N where the damping acts); warm starts inside a sweep need about 4.
TREE_ITERS = 7
TREE_ITERS_WARM = 4
#: Damped precision iterations of the Gaussian erf/ReLU tree level per χ stage (docs/theory.md §9.2): ~10 for the
#: single stage at χ = 1, 20–40 per stage when annealing (measured at P = 120…400; up to ~100 at small P).
GAUSS_ITERS_FIRST = 10
GAUSS_ITERS_STAGE = 25
#: ... and at a warm-started χ point of a sweep (docs/theory.md §16.3; the previous χ's law as start): 8–389,
#: median about 50–60, on the Teaching and Fig.-2 presets (erf and ReLU, 9-point χ grids; 0.08–0.30 s per sweep).
GAUSS_ITERS_WARM = 60
#: L-BFGS function evaluations per start of the non-zero-mean Gaussian ansatz (docs/theory.md §9.3), 2 (erf) or 3
#: (ReLU) starts. The cap is 400 iterations, but the runs stop far earlier: 500 overestimated ReLU at χ = N by
#: 6–12× (P = 20…80, D = 30, N = 50: 1.7 s estimated 20.5 s at P = 80); 45 gives 0.55–1.1× there.
LBFGS_EVALS = 45


def _solver_defaults() -> dict:
    """Defaults the estimates need, from mastcore/theory/_defaults.py, where the solvers take them from too
    (imported here at call time: the package imports this module before the theory)."""
    from .theory import _defaults as d

    return {"gaussian_stages": d.ANNEAL_STAGES, "loop_block": max(d.PRIOR_BLOCK, d.CUMULANT_BLOCK),
            "tilted_samples": d.TILTED_SAMPLES, "psi_vec_bytes": d.PSI_VEC_BYTES,
            "renormalised_doublings": d.RENORMALISED_MAX_SAMPLES / d.RENORMALISED_SAMPLES,
            "particles": dict(n_particles=d.N_PARTICLES, n_stages=d.PARTICLE_STAGES,
                              outer_per_stage=d.OUTER_PER_STAGE, outer_final=d.OUTER_FINAL, mcmc_steps=d.MCMC_STEPS)}


def _stages(chi: float, N: int, n_stages: int) -> int:
    """χ stages of the annealed nonlinear tree level from the NNGP (nonlinear._chi_path)."""
    if chi <= 1.0 + 1e-12:
        return 1
    span = math.log(chi) / max(math.log(max(N, 2)), 1e-12)
    return max(2, int(math.ceil(n_stages * min(span, 1.0))) + 1) - 1


def _tree_nonlinear(P, D, Ps, N, act, o):
    r = min(P, D)
    ansatz = o["ansatz"] or act.default_ansatz
    sv_peak, sv_kept, sv_flops = _row_space(P, D)
    warm = o["warm"] or o["init"] is not None
    solver = _solver_defaults()
    stages = 1 if warm else _stages(float(o["chi"] or N), N, int(o["n_stages"] or solver["gaussian_stages"]))
    iters = GAUSS_ITERS_WARM if warm else GAUSS_ITERS_FIRST + GAUSS_ITERS_STAGE * (stages - 1)
    # Gaussian map (nonlinear._gaussian_map): M = ZΣZᵀ and the kernel with its derivatives (pair_kernel: A, B, AB,
    # δ, √δ, k, ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b and two temporaries, ~12 live P×P); per application M and ZᵀGZ
    # (4P²r + 4Pr²), a Cholesky and inverse of C + κ0 (P³) and of Λ (2r³), and ~40 elementwise passes over P×P
    g_peak = 12 * P * P + 6 * r * r + P * r
    flops = sv_flops + iters * (4.0 * P * P * r + 4.0 * P * r * r + P**3 + 2.0 * r**3)
    elems = iters * 40.0 * P * P
    units = iters * 80
    # the test kernel at the end (pair_kernel without derivatives, ~8 live P*×P) beside the train-set arrays
    peak = sv_kept + max(sv_peak - sv_kept, g_peak, 4 * P * P + 8 * Ps * P)
    if ansatz == "gaussian_mean":
        # torch autograd through the Gauss–Legendre kernel: each of the P(P−1)/2 pairs carries 80 nodes, and
        # backward keeps about 12 such tensors (nonlinear_kernels.mean_pair_kernel_torch)
        pairs = P * (P - 1) / 2
        q = 80
        peak = max(peak, sv_kept + int(12 * pairs * q) + 8 * P * P)
        evals = LBFGS_EVALS * (2 if act.odd else 3)  # an odd φ needs one sign of each shift
        flops += evals * (P**3 / 3.0 + 4.0 * P * P * r)
        elems += evals * 40.0 * pairs * q
        units += evals * 300  # torch operations of one forward and backward pass
    elif ansatz == "particles":
        # particle options as the solver fills them (tree_level's n_stages is for the Gaussian ansätze only)
        po = {**solver["particles"], **{k: o[k] for k in ("n_particles", "outer_per_stage", "outer_final",
                                                          "mcmc_steps") if o[k] is not None}}
        M = positive_int("n_particles", po["n_particles"])
        n_outer = po["n_stages"] * po["outer_per_stage"] + po["outer_final"]
        steps = n_outer * (po["mcmc_steps"] + 1)
        # MALA (theory/_nonlinear_particles.py): V, proposal, gradients (M×r) and H, F, FC, φ'(H) (M×P) twice;
        # the history of C over the averaging window (outer_final × P×P)
        peak = sv_kept + max(sv_peak - sv_kept, 10 * M * P + 8 * M * r + po["outer_final"] * P * P + 6 * P * P
                             + (3 * M * Ps + Ps * P if Ps else 0))
        flops = sv_flops + steps * (4.0 * M * P * r + 2.0 * M * P * P) + n_outer * (2.0 * M * P * P + P**3)
        elems = steps * 20.0 * M * P
        units = steps * 40
    result = P * P + 4 * P + Ps + 2 * r * r + D
    return peak, result + sv_kept, flops, elems, units, {"row_space": sv_kept * F8}


def _tree(P, D, Ps, N, act, o):
    if act.linear:
        return _tree_linear(P, D, Ps, N, o)
    return _tree_nonlinear(P, D, Ps, N, act, o)


def _rescaled(P, D, Ps, N, act, o):
    t = _kernel_temps(act)
    # C0 (kernel temporaries as in nngp), eigh (a copy, Q, workspace), the 1601-point grid of Φ' (3 live
    # (1601, P) arrays), then C = u·C0, A and its factor, the test kernel
    grid = 1601
    peak = max((0 if act.linear else P * D) + t * P * P,
               P * P + 4 * P * P,
               2 * P * P + 3 * grid * P,
               5 * P * P + (t * Ps * P + (Ps * D if not act.linear else 0) if Ps else 0))
    result = P * P + P + Ps
    flops = 2.0 * P * P * D + 2.0 * Ps * P * D + 10.0 * P**3 + P**3 / 3.0
    elems = 3 * t * (P * P + Ps * P) + grid * P * 12 + 60 * P * 6
    return peak, result, flops, elems, 500, {}


#: Sampled one loops (docs/theory.md §12): samples of the neuron law processed in blocks. Typical sample counts
#: (the Monte-Carlo error target stops the doubling; measured at P = 20…60, D = 30…64, N = 60: 1e5–8e5) and the
#: cost of one sample per train point (erf 1.2e-7 s, ReLU 0.9e-7 s at P = 60) are the activation record's ``sample_seconds``.
LOOP_SAMPLES = 400_000
#: The one loop around the particle saddle (docs/theory.md §16.3) in its dense representation (where
#: one_loop_nonlinear.choose_representation picks it: small P) builds operators on Sym(P)
#: (m = P(P+1)/2): about 24 m×m arrays at the peak. Its nine jackknife evaluations (S tilted samples) take
#: DENSE_M3·m³ + DENSE_SP2·S·P² seconds, plus DENSE_TEST·S·P·P* with a test set: fitted at P = 30, 40, 50, 60, 70,
#: 80 (S = 8000, χ = N: 1.5, 2.7, 6.1, 10.9, 22.4, 44.0 s; the fit is within 0.94–1.07 of each), P* = 1000 at
#: P = 80 (+4.5 s). The m³ part (LU solves and m×m products) takes over from P ≈ 50.
DENSE_ARRAYS = 24
DENSE_M3 = 9.9e-10
DENSE_SP2 = 1.84e-7
DENSE_TEST = 7e-9
#: Where the S×S sample representation is the cheaper one that fits (docs/theory.md §12.10,
#: one_loop_nonlinear.choose_representation: large P), its jackknife takes SAMPLE_S3·S³ + SAMPLE_S2P·S²·(P + P*)
#: seconds (≈ 2.8 S³ + 20 S²P flops at the one loop's dense rate) plus SAMPLE_SP2·S·P² (the tilted samples and the
#: O(S P²) contractions; the rest of the measured 16.0 s at P = 300, S = 4000; at P = 80 the model gives 13.9 s for
#: a measured 11.8–12.7 s, one thread), and about cumulant_loop.SAMPLE_ARRAYS S×S arrays.
SAMPLE_S3 = 7.4e-11
SAMPLE_S2P = 5.3e-10
SAMPLE_SP2 = 2.4e-8


def _one_loop_sampled(P, D, Ps, N, act, o):
    """erf/ReLU one loops (and the "nngp"/"renormalised" variants of linear nets, which are closed forms)."""
    variant, chi = o["variant"], float(o["chi"] or N)
    if act.linear:  # closed forms in C0's eigenbasis: a few P×P arrays, O(P³)
        return 8 * P * P, 2 * P * P + 4 * P + 2 * Ps, 10.0 * P**3 + 2.0 * P * P * D, 20.0 * P * P, 200, {}
    blocks = 10 * _solver_defaults()["loop_block"] * P + 6 * P * P + 2 * Ps * P
    result = 2 * P * P + 6 * P + 4 * Ps
    samples = _int_opt(o, "n_samples") if o["n_samples"] else LOOP_SAMPLES
    # the renormalised loop doubles its samples to the cap at χ ≥ N/4: measured for ReLU, not for the odd erf (its
    # non-Gaussian term has no mean part); an activation is priced by its symmetry like the one of the two it shares
    doubles = not act.odd
    if not o["n_samples"] and doubles and chi >= 0.25 * N and variant in ("auto", "renormalised"):
        # measured: ReLU's renormalised loop doubles its samples to the cap at χ ≥ N/4 (4.3 s at P = 20, 21 s at
        # P = 80 with 800000 samples), erf's stays at the first 100000
        samples *= _solver_defaults()["renormalised_doublings"]
    # prior samples: the NNGP expansion, the renormalised one loop, and "auto" (which tries the latter first)
    seconds = 0.0 if variant == "perturbative" else samples * P * act.sample_seconds
    peak = blocks
    # "auto" goes to the particle saddle where the neuron law is far from the prior (docs/theory.md §12.4), which
    # the data decide: counted from χ ≥ N/4 (measured there for ReLU, and for erf on the Fig.-2 data at χ = N), an
    # upper bound; "perturbative" always does
    from .theory.cumulant_loop import SAMPLE_ARRAYS
    from .theory.one_loop_nonlinear import N_SAMPLES, SADDLE_MAX_P, choose_representation

    dense = variant == "perturbative" or (variant == "auto" and chi >= 0.25 * N and P <= SADDLE_MAX_P)
    if dense:
        m = P * (P + 1) / 2
        n_tilted = _int_opt(o, "n_samples") if o["n_samples"] else N_SAMPLES
        if choose_representation(P, n_tilted) == "dense":
            # plus the samples' vec(φφᵀ), kept for the jackknife when small enough (cumulant_loop.jackknife_core)
            psi_vec = n_tilted * m if n_tilted * m * 8 <= _solver_defaults()["psi_vec_bytes"] else 0
            peak = max(peak, DENSE_ARRAYS * m * m + blocks + psi_vec)
            seconds += DENSE_M3 * m**3 + n_tilted * (DENSE_SP2 * P * P + DENSE_TEST * P * Ps)
        else:  # the sample representation (or nothing fits: saddle_one_loop refuses n_samples that large)
            S = float(n_tilted)
            peak = max(peak, SAMPLE_ARRAYS * S * S + 4 * S * (P + Ps) + blocks)
            seconds += SAMPLE_S3 * S**3 + SAMPLE_S2P * S * S * (P + Ps) + SAMPLE_SP2 * S * P * P
        if o["tree"] is None:  # the saddle it starts from (a sweep with "tree" shares it: then this is less)
            ansatz = o["ansatz"] or ("particles" if variant == "auto" else None)  # auto leaves for the particle saddle
            t_opts = {**_COMMON, **_OPTIONS["tree"], "ansatz": ansatz, "chi": o["chi"]}
            t_peak, _, t_flops, t_elems, t_units, _ = _tree_nonlinear(P, D, Ps, N, act, t_opts)
            seconds += _seconds("tree", act, t_flops, t_elems, t_units)
            peak = max(peak, t_peak)
    # express the seconds as elementwise work at the calibrated rate (elem) of the one loop
    return peak, result, 0.0, seconds / RATES["one_loop"]["elem"], 0, {}


def _one_loop(P, D, Ps, N, act, o):
    if not act.linear or o["variant"] in ("nngp", "renormalised"):
        return _one_loop_sampled(P, D, Ps, N, act, o)
    r = min(P, D)
    t_peak, t_res, t_flops, t_elems, t_units, parts = _tree_linear(P, D, Ps, N, dict(o, warm=False,
                                                                                      variant="full"))
    # structured fluctuations (one_loop.Fluctuations, _gradients, perturbative_core): ~25 live r×r arrays;
    # kernel variance (Fluctuations._variance_series) on the lifted P×P grid: out, T, T∘T and a product (~6 P×P);
    # then δC and C + δC lifted to P×P
    core = 25 * r * r
    var = 6 * P * P if o["kernel_variance"] else 0
    result = t_res + 3 * P * P + 6 * P + 4 * Ps + r * r
    peak = t_res + max(t_peak - t_res, core, var + 2 * r * r) + 2 * P * P
    # kernel variance (one_loop.Fluctuations._variance_series): ~25 products of (P, r) by (r, P) over its series
    flops = t_flops + 60.0 * r**3 + (50.0 * P * P * r if o["kernel_variance"] else 0.0)
    iters = 1
    if o["variant"] == "self_consistent":
        iters = 10
        flops += iters * 70.0 * r**3
    elems = t_elems + iters * 60 * r * r + (60 * P * P if o["kernel_variance"] else 0)
    return peak, result, flops, elems, t_units + iters * 400, parts


def _quadrature(P, D, Ps, N, act, o):
    r = min(P, D)
    sv_peak, sv_kept, sv_flops = _row_space(P, D)
    n = 2 * _int_opt(o, "n_nodes", 101) - 1
    grid = 16001
    # log density on the locating grid (one pass; its maximum normalises the integrand): λ (grid, r), ŷ²/λ and
    # log λ (posterior/quadrature.py); integrate(n): t⊗c, λ, g, p·g, the per-neuron precision and mean (n, r) each
    peak = sv_kept + max(sv_peak - sv_kept, 3 * grid * r, 8 * n * r + n * r)
    result = sv_kept + P + Ps + 2 * r * r
    flops = sv_flops + 2.0 * Ps * D * r + 2.0 * n * r * r
    elems = 4.0 * grid * r + 3 * 14.0 * n * r
    return peak, result, flops, elems, 80, {"row_space": sv_kept * F8}


def _exact(P, D, Ps, N, act, o):
    r = min(P, D)
    B = _int_opt(o, "n_chains", 2)
    sweeps = _int_opt(o, "n_sweeps")
    m1 = min(N - 1, r) + 1
    sv_peak, sv_kept, sv_flops = _row_space(P, D)
    # one sweep (posterior/gibbs._Sampler.sweep): T and its normals, the concatenation and Z·S (B, m+1, r), while
    # the previous sweep's Z·S is still held; the Gram matrices A (B, r, r) for small r; the trace (B, n_sweeps)
    batch = B * r * r if r <= 24 else r * r
    sweep_peak = 5 * B * m1 * r + 2 * batch + 6 * B * r
    keep = B * sweeps + B * r + r * r
    out = 2 * B * P + (2 * B * Ps + Ps * r if Ps else 0)
    result = sv_kept + B * sweeps + B * P + B * Ps + P + Ps + r * r
    peak = sv_kept + max(sv_peak - sv_kept, keep + sweep_peak, keep + out)
    per_sweep = B * (2.0 * m1 * r * r + r**3 / 3.0 + 4.0 * m1 * r) + 2.0 * B * m1 * r * r / 4
    flops = sv_flops + sweeps * per_sweep + 2.0 * B * r * (P + Ps) + 2.0 * Ps * D * r
    elems = sweeps * B * (m1 * r * 6 + r * 12)
    units = sweeps * (30 + (0 if r <= 24 else 3 * B))  # numpy calls per sweep; LAPACK calls per chain above r = 24
    return peak, result, flops, elems, units, {"row_space": sv_kept * F8}


def _langevin(P, D, Ps, N, act, o):
    E = _int_opt(o, "ensemble", 2)
    steps = _int_opt(o, "steps")
    burn = min(_int_opt(o, "burn_in", 0), steps - 1) if steps > 1 else 0
    size = 8 if o["dtype"] == "float64" else 4
    s = size / F8  # state and measurements in the chosen dtype; noise always fp32
    linear = act.linear and bool(o["fast_linear"])
    r = min(P, D)
    width = r if linear else D
    state = E * N * width
    # records every thin = round(RECORD_TIME/dt) steps, dt = DT_SAFETY/λ̂, λ̂ ≈ 1 + 2 λ_max(C0)/κ0 at the start
    # (the kernel term and the hidden-weight term of the curvature bound, docs/theory.md §13.3); λ_max(C0)/κ0 is
    # the option lambda_max — unknown: one record per step, the dearest case
    lam = o["lambda_max"]
    cap = max(1, (steps - burn) // 20)  # at least 20 records after burn-in (posterior/langevin.MIN_RECORDS)
    thin = o["thin"] or (max(1, min(int(round(0.25 * (1.0 + 2.0 * float(lam)) / 0.5)), cap)) if lam else 1)
    records = steps // thin + 1
    rec_burn = burn // thin + 1
    if linear:
        sv_peak, sv_kept, sv_flops = _row_space(P, D)
        # V, w (dtype) and ξ, ξ' (fp32 noise) of shape (E, N, r); force temporaries (E, N, r) twice;
        # measurement: K̂, K̂∘SSᵀ, M, L (E, r, r), not all alive at once (~3.5)
        live = state * (2 * s + 2 * 0.5 + 2 * s) + 3.5 * s * E * r * r
        peak = sv_kept + max(sv_peak - sv_kept, int(live))
        step_flops = 8.0 * N * r * E
        meas_flops = E * (2.0 * N * r * r + r**3 / 3.0 + 2.0 * r * r)
        eig_flops = E * 9.0 * r**3
        elems = steps * 6.0 * E * N * r
        flops = sv_flops + steps * step_flops + records * meas_flops + rec_burn * eig_flops
    else:
        sv_kept = 0
        # V, ξ, ξ' (E, N, D); H, φ(H), φ'(H), G (E, N, P); K_V, M, L (E, P, P); test pre-activations (E, N, P*)
        live = state * (2 * s + 1.0) + E * N * P * 5 * s + 4 * s * E * P * P + (3 * s * E * N * Ps if Ps else 0)
        peak = int(live) + P * D + Ps * D
        step_flops = 4.0 * P * D * N * E
        meas_flops = E * (2.0 * N * P * D + 2.0 * N * P * P + P**3 / 3.0) + (2.0 * E * N * Ps * (D + P) if Ps else 0)
        eig_flops = E * 9.0 * P**3
        elems = steps * E * N * (P * 6 + 3 * D)
        flops = steps * step_flops + records * meas_flops + rec_burn * eig_flops
    traces = 2 * records * E
    result = sv_kept + traces + 2 * E * (P + Ps) + 2 * (P + Ps)
    peak = peak + traces + 4 * E * (P + Ps)
    units = steps * 25 + records * 150  # torch calls per step and per record (measurements, host transfers)
    return peak, result, flops, elems, units, {"state": int(state * s * F8)}


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
    added to the description (e.g. "64 chains × 2000 sweeps"), or None.
    """

    name: str
    model: Callable
    label: str
    base_bytes: int = BASE_BYTES
    detail: Callable | None = None

    def options(self) -> dict:
        """The options the model reads, with their defaults."""
        return {**_COMMON, **_OPTIONS.get(self.name, {})}


#: The cost models of the built-in solvers (the records of mastcore.methods refer to them).
COST_MODELS: dict[str, CostModel] = {
    "nngp": CostModel("nngp", _nngp, "NNGP"),
    "tree": CostModel("tree", _tree, "tree level",
                      detail=lambda o, a: None if a.linear else f"ansatz {o['ansatz'] or a.default_ansatz}"),
    "rescaled": CostModel("rescaled", _rescaled, "renormalised kernel"),
    "one_loop": CostModel("one_loop", _one_loop, "one loop"),
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


def _seconds(rates: str, act, flops, elems, units) -> float:
    k = RATES[rates] if act.linear else RATES.get(f"{rates}_nonlinear", RATES[rates])
    return k["s0"] + flops / k["flops"] + elems * k["elem"] + units * k["unit"]


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
             **options) -> Cost:
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
    return Cost(bytes=int(F8 * peak), seconds=float(_seconds(cm.name, act, flops, elems, units)),
                result_bytes=int(F8 * result), flops=float(flops), what=what, parts=parts)


def estimate_task(spec) -> Cost:
    """Peak memory and time of building a task (:func:`mastcore.make_task`) from its TaskSpec, before building it.

    Synthetic tasks draw P + P* rows of D numbers (the Ising generator holds the uniform draws, the flips and the
    inputs at once); digits are a fixed 1797×64 set; MNIST loads its files (≤ 70000×784 bytes) as float64.
    """
    from .data.tasks import TaskSpec  # noqa: PLC0415 (the data package imports this module)

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
    first χ. ``.bytes`` is the peak (all kept results plus the largest single
    call), ``.seconds`` the sum (sequential backend).
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
    total = None
    for m in methods:
        opts = dict(options.get(m) or {})
        sub = opts.pop("chis", None)
        n = n_all if sub is None else len(chi_values(sub))
        record = _resolve(m)[3]
        if record is not None and record.chi_independent:  # computed once by the sweep
            n = min(n, 1)
        if sub is None:
            at = values
        else:  # the reserved option: this method at a subset of χ (a number or a list)
            at = list(chi_values(sub))
        for k in range(n):
            if record is not None and k > 0:  # warm-started from the previous χ (the record says how it is priced)
                opts = {**opts, **dict(record.warm_cost)}
            point = opts if at is None or "chi" in opts else {**opts, "chi": at[k]}
            c = estimate(m, P=P, D=D, width=width, P_test=P_test, activation=activation, strict=strict, **point)
            total = c if total is None else total + c
    if total is None:
        return Cost(bytes=0, seconds=0.0, what="empty sweep")
    return Cost(bytes=total.bytes, seconds=total.seconds, result_bytes=total.result_bytes, flops=total.flops,
                what=f"sweep of {', '.join(methods)} over {n_all} chi values (P={P}, D={D}, N={width}"
                     + (f", P*={P_test}" if P_test else "") + ")")
