"""mastcore: multi-scale adaptive (MSA) theory of feature learning in two-layer networks.

The public API (README.md): parameters (NetworkSpec, TaskSpec, LangevinOptions), solvers that all return the
result protocol of :mod:`mastcore.results` (nngp, tree_level, one_loop, rescaled_kernel, exact_posterior,
posterior_quadrature, train_langevin), the one sweep engine (sweep, alias anneal) and its method registry (METHODS,
Method, register_method), tasks and metrics, and the
user's override of the thread policy (set_threads, threads).
The maths is in docs/theory.md.
"""
from __future__ import annotations

__version__ = "0.2.0"

from ._plumbing.budget import Cost, ResourceError, estimate, estimate_sweep, estimate_task, format_bytes, format_seconds
from .cache import CacheWarning
from .data import (
    Task,
    TaskSpec,
    available_tasks,
    ising,
    load_csv,
    make_task,
    register_task,
    task_from_arrays,
    teacher_student,
    train_test_split,
)
from .metrics import discrepancies, split_rhat, summarize
from .posterior import (
    LangevinOptions,
    LangevinResult,
    PosteriorResult,
    QuadratureResult,
    exact_posterior,
    posterior_quadrature,
    train_langevin,
)
from .results import Result, SampledResult, Trace
from .activations import Activation, get_activation, register_activation
from .specs import ACTIVATIONS, ConvergenceWarning, LoopBreakdownWarning, NetworkSpec, ScaleWarning
from .methods import Method, register_method, unregister_method
from .engine import METHODS, SweepResult, anneal, sweep
from .theory import (
    GPResult,
    NonlinearOneLoopResult,
    NonlinearTreeResult,
    OneLoopResult,
    RescaledResult,
    TreeResult,
    nngp,
    nngp_kernel,
    one_loop,
    rescaled_kernel,
    tree_level,
)
from .validity import TheoryMap, estimate_map, recommend, theory_map
from ._linalg import gp_predict
from ._plumbing.threads import set_threads, threads

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "CacheWarning",
    "ConvergenceWarning",
    "Cost",
    "GPResult",
    "LangevinOptions",
    "LangevinResult",
    "LoopBreakdownWarning",
    "METHODS",
    "Method",
    "NetworkSpec",
    "NonlinearOneLoopResult",
    "NonlinearTreeResult",
    "OneLoopResult",
    "PosteriorResult",
    "QuadratureResult",
    "RescaledResult",
    "ResourceError",
    "Result",
    "SampledResult",
    "ScaleWarning",
    "SweepResult",
    "Task",
    "TaskSpec",
    "Trace",
    "TheoryMap",
    "TreeResult",
    "anneal",
    "available_tasks",
    "discrepancies",
    "estimate",
    "estimate_map",
    "estimate_sweep",
    "estimate_task",
    "format_bytes",
    "format_seconds",
    "exact_posterior",
    "gp_predict",
    "ising",
    "load_csv",
    "make_task",
    "nngp",
    "nngp_kernel",
    "one_loop",
    "posterior_quadrature",
    "register_activation",
    "register_method",
    "register_task",
    "recommend",
    "rescaled_kernel",
    "split_rhat",
    "set_threads",
    "summarize",
    "sweep",
    "task_from_arrays",
    "teacher_student",
    "threads",
    "train_langevin",
    "train_test_split",
    "theory_map",
    "tree_level",
    "unregister_method",
]
