"""The one thread policy of mastcore: how many BLAS and torch threads a call uses (docs/theory.md §17).

Every public entry point runs under :func:`policy` (solvers through :func:`mastcore._api.solver`, the trainer again
once torch is imported, :func:`mastcore.sweep` around its parallel points). The policy picks, in this order:

1. the count set by the user with :func:`set_threads` or inside :func:`threads` (BLAS and torch);
2. nothing, when ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set in the environment
   (the user, or a joblib worker, decided: BLAS and torch are left as they are);
3. one thread when the work is small — the matrices of ``method`` below its measured crossover (the
   :class:`ThreadModel` of its record in :data:`mastcore.methods.METHODS`; :data:`CROSSOVER` lists them): there a
   multi-threaded BLAS costs more in start-up and spinning than it saves;
4. otherwise the cores actually free to the process: the CPUs it may run on, capped by its cgroup CPU quota
   (:func:`joblib.cpu_count`), less those kept busy by other processes at that moment (the run queue of
   ``/proc/loadavg`` less this process's own running threads), and never more than the caller's own setting.

The caller's settings are restored afterwards; a nested call that wants the count already in force changes
nothing (so a sweep that fixes the count for its workers is not undone by the solvers it runs).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

import joblib

from .memo import call_scope
from .._registry import METHODS, LiveView
from ..activations import get_activation

#: This module cannot change a result: the cache's source hash leaves it out (mastcore.cache, "Keys").
CACHE_NEUTRAL = True

__all__ = [
    "CROSSOVER",
    "ENV_VARS",
    "NOISE_AHEAD_MIN_DRAWS",
    "Plan",
    "THREAD_MODELS",
    "ThreadModel",
    "available_cores",
    "busy_cores",
    "choose",
    "get_threads",
    "limit_threads",
    "noise_draws",
    "plan",
    "policy",
    "serial",
    "set_threads",
    "threads",
    "work_size",
]

#: Environment variables that express a user's choice of thread count; when one is set the policy leaves BLAS and
#: torch alone.
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: Crossover per method: the size (:func:`work_size`) from which the free cores are used; below it, one thread.
#: Units: the rank r = min(P, D) for the linear theories and samplers (the matrices they factorise are r×r), P for
#: nngp, rescaled and the erf/ReLU theories (P×P kernels), flops of one GEMM of a step (2·E·N·D·P) for the trainer.
#: Measured by ``python bench/threads.py --crossover`` (2-core AMD EPYC VM, OpenBLAS 0.3.31, torch 2.13 CPU, quiet:
#: run queue 1–2): time with two threads over one at P = 80 / 160 / 320 / 640 / 1280 (D = 2P):
#: nngp 0.96 / 4.3 / 1.6 / 0.87 / 0.81, tree 9.8 / 2.6 / 1.5 / 1.2 / 0.90, one_loop 7.0 / 2.2 / 1.7 / 1.0 / 0.71,
#: quadrature 0.93 / 0.95 / 0.88 / 0.43 / 0.80 (re-measured after its second grid pass was removed; before:
#: 1.1 / 1.1 / 0.89 / 0.91 / 0.69), exact 5.8 / 1.5 / 1.5 / 1.0 / 0.73, rescaled 0.97 / 1.0 / 1.1 / 0.86 /
#: 0.73, langevin (N = 100, 8 networks) 0.90 / 1.1 / 0.76 / 0.81 / 0.65. The crossover is the smallest size from
#: which two threads won (ratio < 0.9) at every larger size. With other jobs running (run queue 3–16) two threads
#: never won at any size (ratios 1.3–175), which is why the policy also subtracts busy cores (rule 4).
#: Re-measure on another machine with the same command.
#: The numbers above are the ``crossover`` of the built-in solvers' :data:`THREAD_MODELS` (see below).
_CROSSOVERS = dict(nngp=640, tree=1280, one_loop=1280, quadrature=320, exact=1280, rescaled=640,
                   langevin=3.3e8)  # langevin: 2·E·N·D·P at E = 8, N = 100, D = 2P, P = 320

#: The trainer draws its Gaussian noise ahead, on a spare core, from this many draws per step (about 0.25 ms of
#: torch's generator; below it the hand-over between threads costs more than it hides). Measured by
#: bench/langevin_speed.py.
NOISE_AHEAD_MIN_DRAWS = 100_000

_lock = threading.RLock()
_user: list[int | None] = [None]  # set_threads(n); the innermost threads(n) context is pushed on top
_controller: list = [None, -1]  # a cached threadpoolctl.ThreadpoolController and len(sys.modules) when built
#: Per thread: (BLAS, torch) thread counts of the outermost caller, one entry per policy in force (a worker thread
#: of a parallel sweep starts its own stack; its outermost caller's count is what the parent set for the workers).
_local = threading.local()


def _callers() -> list:
    stack = getattr(_local, "callers", None)
    if stack is None:
        stack = _local.callers = []
    return stack
_cores_cache: list = [None, 0.0]  # available_cores() and when it was read
#: Seconds for which the available cores (affinity, cgroup quota) read from the system are reused.
CORES_TTL = 10.0


# --- what the machine offers ------------------------------------------------------------------------------------


def available_cores(*, affinity: int | None = None, quota: float | None = None) -> int:
    """CPUs this process may use, at least 1: :func:`joblib.cpu_count` — the affinity set, capped by the cgroup CPU
    quota (``cpu.max``, or ``cpu.cfs_quota_us``/``cpu.cfs_period_us``; rounded up) and by ``$LOKY_MAX_CPU_COUNT``.

    joblib reads the quota of the cgroup mounted at /sys/fs/cgroup, which inside a container (its own cgroup
    namespace) is the container's; a quota set on an enclosing group seen without a namespace (a systemd slice) is
    not read — the hand-written reader this replaces walked up to it, at the price of ~60 lines of /proc parsing.

    ``affinity`` and ``quota`` (cores) replace what is read from the system (for tests): then the count is
    ``min(affinity, ceil(quota))``, ``affinity`` defaulting to joblib's count.
    """
    if affinity is None and quota is None:
        return max(1, int(joblib.cpu_count()))
    if affinity is None:
        affinity = joblib.cpu_count()
    cores = affinity if quota is None else min(affinity, max(1, math.ceil(quota - 1e-9)))
    return max(1, int(cores))


def _cores_now() -> int:
    """:func:`available_cores`, read again at most every CORES_TTL seconds (affinity and quota rarely change)."""
    now = time.monotonic()
    if _cores_cache[0] is None or now - _cores_cache[1] > CORES_TTL:
        _cores_cache[:] = [available_cores(), now]
    return _cores_cache[0]


def busy_cores(loadavg_path: str = "/proc/loadavg", tasks_path: str = "/proc/self/task", *, samples: int = 3,
               gap: float = 0.002) -> int:
    """Threads of other processes running right now: the run queue of ``/proc/loadavg`` less this process's own
    running threads (0 where it cannot be read), scaled to this process's share of the machine's CPUs.

    The run queue is an instantaneous count, so a process that runs for a millisecond (a shell, a daemon waking up)
    would take a core away from a call of seconds: the smallest of ``samples`` readings ``gap`` seconds apart counts
    (a process that keeps a core busy is in all of them). Only work above its crossover asks (§17.1), where the
    few milliseconds are negligible.
    """
    others = None
    for k in range(max(1, samples)):
        if k:
            time.sleep(gap)
        now = _others_running(loadavg_path, tasks_path)
        if now is None:
            return 0
        others = now if others is None else min(others, now)
        if others == 0:
            break
    total = os.cpu_count() or 1
    try:
        mine = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = total
    return int(round(others * min(1.0, mine / total)))


def _others_running(loadavg_path: str, tasks_path: str) -> int | None:
    """One reading: running threads of other processes (None where /proc cannot be read).

    Read by hand: psutil gives the load averages (1, 5, 15 minutes) but not the instantaneous run queue (the 4th
    field of /proc/loadavg), nor the run state of a process's threads, and an average would count a job that
    ended a minute ago."""
    try:
        with open(loadavg_path) as fh:
            running = int(fh.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    own = 0
    try:
        for tid in os.listdir(tasks_path):
            try:
                with open(os.path.join(tasks_path, tid, "stat")) as fh:
                    stat = fh.read()
                if stat[stat.rindex(")") + 2] == "R":
                    own += 1
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        own = 1
    return max(0, running - max(own, 1))


def _env_threads() -> str | None:
    """Name of the first *_NUM_THREADS variable set by the user, or None."""
    for name in ENV_VARS:
        if os.environ.get(name, "").strip():
            return name
    return None


# --- the decision -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a call runs with. threads : BLAS and torch threads (None: left as the caller has them);
    noise_ahead : the trainer draws the next step's Gaussian noise on a thread of its own (a spare core)."""

    threads: int | None
    noise_ahead: bool = False


def kernel_size(*, P: int, **_) -> float:
    """Work of a method that factorises the P×P kernel (nngp, rescaled): P."""
    return float(P)


def rank_size(*, P: int, D: int = 0, activation: str = "linear", **_) -> float:
    """Work of a theory or sampler: the rank r = min(P, D) of a linear network (its matrices are r×r), P for a
    nonlinear one (P×P kernels)."""
    D = D or P
    return float(min(P, D)) if get_activation(activation).linear else float(P)


def trainer_size(*, P: int, D: int = 0, width: int = 1, activation: str = "linear", options: dict | None = None,
                 **_) -> float:
    """Work of the Langevin trainer: the flops of one GEMM of a step, 2·E·N·D·P (2·E·N·r on the linear row-space
    path: batched mat-vecs, no GEMM)."""
    D = D or P
    E, fast = _langevin_options(options)
    if get_activation(activation).linear and fast:
        return 2.0 * E * width * min(P, D)
    return 2.0 * E * width * D * P


@dataclass(frozen=True)
class ThreadModel:
    """How the policy treats a method (a field of its record, :class:`mastcore.methods.Method`).

    crossover : the work (``size``) from which the free cores are used; below it one thread (inf: always one
    thread unless the user sets a count). size : ``size(P=, D=, width=, activation=, options=)`` → the work, in
    the units of ``crossover``. trainer : the Langevin trainer (torch's thread count caps it; its noise may be
    drawn ahead on a spare core).
    """

    crossover: float = math.inf
    size: Callable = rank_size
    trainer: bool = False


#: The thread models of the built-in solvers (the records of mastcore.methods refer to them).
THREAD_MODELS = {
    "nngp": ThreadModel(_CROSSOVERS["nngp"], kernel_size),
    "rescaled": ThreadModel(_CROSSOVERS["rescaled"], kernel_size),
    "tree": ThreadModel(_CROSSOVERS["tree"], rank_size),
    "one_loop": ThreadModel(_CROSSOVERS["one_loop"], rank_size),
    "quadrature": ThreadModel(_CROSSOVERS["quadrature"], rank_size),
    "exact": ThreadModel(_CROSSOVERS["exact"], rank_size),
    "langevin": ThreadModel(_CROSSOVERS["langevin"], trainer_size, trainer=True),
}
#: A method without a thread model of its own: one thread unless the user sets a count.
DEFAULT_MODEL = ThreadModel()


def thread_model(method: str) -> ThreadModel:
    """The :class:`ThreadModel` of ``method`` (its record in :data:`mastcore.methods.METHODS`)."""
    record = METHODS.get(method)
    if record is not None:
        return record.threads or DEFAULT_MODEL
    return THREAD_MODELS.get(method, DEFAULT_MODEL)


#: Crossover per method (:class:`ThreadModel`), as the registry's records give it.
CROSSOVER = LiveView(lambda: {m: r.threads.crossover for m, r in METHODS.items() if r.threads is not None})


def work_size(method: str, *, P: int, D: int = 0, width: int = 1, activation: str = "linear",
              options: dict | None = None, **_) -> float:
    """The size compared with :data:`CROSSOVER` [method] (units there; the method's :class:`ThreadModel`): r =
    min(P, D) for the linear theories and samplers, P for nngp, rescaled (they factorise the P×P kernel) and the
    erf/ReLU theories, flops of one GEMM of a Langevin step for the trainer."""
    return thread_model(method).size(P=P, D=D, width=width, activation=activation, options=options)


def _langevin_options(options: dict | None) -> tuple[int, bool]:
    opts = (options or {}).get("options")
    return int(getattr(opts, "ensemble", 16)), bool(getattr(opts, "fast_linear", True))


def noise_draws(*, P: int, D: int = 0, width: int = 1, activation: str = "linear", options: dict | None = None,
                **_) -> int:
    """Gaussian draws per Langevin step: E·N·(K + 1), K = r = min(P, D) on the linear row-space path, else D."""
    D = D or P
    E, fast = _langevin_options(options)
    K = min(P, D) if get_activation(activation).linear and fast else D
    return E * width * (K + 1)


def plan(method: str, *, P: int, D: int = 0, cores: int | None = None, busy: int | None = None,
         caller: int | None = None, **size) -> Plan:
    """The plan for ``method`` on a problem of this size (module docstring).

    ``cores`` (default :func:`available_cores`), ``busy`` (default :func:`busy_cores`) and ``caller`` (the caller's
    thread count; None: no cap) may be given, for tests. For the trainer (``method="langevin"``) with at least
    NOISE_AHEAD_MIN_DRAWS Gaussian draws per step and two cores or more, ``noise_ahead`` allows drawing the noise
    on a thread of its own (the trainer measures whether that pays, docs/theory.md §13.2) while torch runs its
    (small) GEMMs on one thread; above the crossover torch takes the free cores, one fewer from three on.
    """
    user = _user[-1]
    if user is None and _env_threads() is not None:
        return Plan(None)
    model = thread_model(method)
    big = work_size(method, P=P, D=D, **size) >= model.crossover
    if user is None and not big and not model.trainer:
        return Plan(1)  # small work: nothing to read from the system (a call at P = 80 takes ~0.3 ms)
    cores = _cores_now() if cores is None else cores
    if caller is not None:
        cores = max(1, min(cores, caller))
    if user is not None:
        cores = user
    ahead = model.trainer and cores >= 2 and noise_draws(P=P, D=D, **size) >= NOISE_AHEAD_MIN_DRAWS
    if user is not None:
        return Plan(max(1, user - ahead), ahead)
    if not big or cores <= 1:
        return Plan(1, ahead)
    free = max(1, cores - (busy_cores() if busy is None else busy))
    # big GEMMs: two free cores go to torch (halving the GEMMs beats hiding the noise); from three, one draws noise
    ahead = ahead and free >= 3
    return Plan(max(1, free - ahead), ahead)


def choose(method: str, *, P: int, **size) -> int | None:
    """Thread count of :func:`plan` (None: leave the settings alone)."""
    return plan(method, P=P, **size).threads


# --- applying it ----------------------------------------------------------------------------------------------------


def _blas():
    """A threadpoolctl controller of the loaded BLAS libraries (rebuilt when modules were imported since)."""
    with _lock:
        if _controller[0] is None or _controller[1] != len(sys.modules):
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415

            _controller[0] = ThreadpoolController().select(user_api="blas")
            _controller[1] = len(sys.modules)
        return _controller[0]


def _blas_threads() -> int | None:
    """The largest thread count among the loaded BLAS libraries, None when none is loaded."""
    counts = [lib.num_threads for lib in _blas().lib_controllers]
    return max(counts) if counts else None


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None and hasattr(torch, "get_num_threads") else None


@contextlib.contextmanager
def limit_threads(n: int | None):
    """BLAS (threadpoolctl) and, when torch is imported, torch intra-op threads set to ``n`` inside the context and
    restored afterwards; nothing when ``n`` is None or already in force."""
    if n is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        for lib in _blas().lib_controllers:  # threadpoolctl's own limiter costs ~10 µs more per call
            old = lib.num_threads
            if old != n:
                lib.set_num_threads(n)
                stack.callback(lib.set_num_threads, old)
        torch = sys.modules.get("torch")
        old = _torch_threads()
        if old is not None and old != n:
            torch.set_num_threads(n)
            stack.callback(torch.set_num_threads, old)
        yield


def serial():
    """One BLAS and one torch thread inside the context: for loops of many small array operations that mix numpy's
    BLAS and torch's CPU kernels (the particle tree level's MALA steps, docs/theory.md §9.4). There the two thread
    pools spin against each other: measured per MALA step at M = 4000 particles, P = 20 / 80 (2 cores), 2 BLAS + 2
    torch threads 24 / 33 ms, 1 + 1 3.1 / 15 ms, numpy and scipy alone on 2 threads 5.2 / 24 ms."""
    return limit_threads(1)


@contextlib.contextmanager
def policy(method: str, *, P: int, **size):
    """Context in which a call of ``method`` on a problem of this size runs; yields its :class:`Plan`.

    ``size``: D, P_test, width, chi, activation, options — as given by :func:`mastcore._api.problem_size`. Nested
    calls (a solver inside a sweep, the trainer after importing torch) cap their count by the setting of the
    outermost caller, not by what an enclosing policy chose.
    """
    with _lock:
        callers = _callers()
        outer = callers[-1] if callers else None
        blas = _blas_threads() if outer is None else outer[0]
        torch_n = (outer[1] if outer is not None and outer[1] is not None else None)
        if torch_n is None and (outer is None or "torch" in sys.modules):
            torch_n = _torch_threads()
        callers.append((blas, torch_n))
    try:
        caller = torch_n if thread_model(method).trainer and torch_n is not None else blas
        chosen = plan(method, P=P, caller=caller, **size)
        # the call's arrays are hashed once for the memo of work on X (docs/theory.md §17.3)
        with limit_threads(chosen.threads), call_scope():
            yield chosen
    finally:
        with _lock:
            callers.pop()


# --- the user's setting ---------------------------------------------------------------------------------------------


def _check(n) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"'n' must be a positive integer (or None for the automatic policy); got {n!r}")
    return n


def set_threads(n: int | None) -> None:
    """Use ``n`` BLAS and torch threads in every mastcore call from now on (None: back to the automatic policy).

    It overrides the policy and the *_NUM_THREADS environment variables; :func:`threads` overrides it locally.
    """
    n = _check(n)
    with _lock:
        _user[0] = n


def get_threads() -> int | None:
    """The thread count set by :func:`set_threads` / :func:`threads` in force, None when the policy decides."""
    return _user[-1]


@contextlib.contextmanager
def threads(n: int | None):
    """Context in which mastcore calls use ``n`` BLAS and torch threads (None: the automatic policy)::

        with mc.threads(1):
            mc.sweep(...)

    Calls outside mastcore inside the context are not affected; the previous setting is restored on exit.
    """
    n = _check(n)
    with _lock:
        _user.append(n if n is not None else None)
    try:
        yield
    finally:
        with _lock:
            _user.pop()
