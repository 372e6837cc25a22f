"""mastcore: multi-scale adaptive (MSA) theory of feature learning in two-layer networks.

Public API (see README.md): NetworkSpec, nngp, tree_level, exact_posterior, anneal, discrepancies, tasks.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .anneal import AnnealResult, anneal, register_method
from .kernels import GPResult, gp_predict, nngp, nngp_kernel
from .metrics import discrepancies
from .one_loop import OneLoopResult, one_loop  # eager: the submodule shares the function's name
from .saddle import TreeResult, tree_level
from .specs import ACTIVATIONS, ConvergenceWarning, LoopBreakdownWarning, NetworkSpec, ScaleWarning
from .tasks import (
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

__all__ = [
    "ACTIVATIONS",
    "AnnealResult",
    "ConvergenceWarning",
    "GPResult",
    "LoopBreakdownWarning",
    "NetworkSpec",
    "OneLoopResult",
    "ScaleWarning",
    "Task",
    "TaskSpec",
    "TreeResult",
    "anneal",
    "available_tasks",
    "discrepancies",
    "gp_predict",
    "ising",
    "load_csv",
    "make_task",
    "nngp",
    "nngp_kernel",
    "one_loop",
    "register_method",
    "register_task",
    "task_from_arrays",
    "teacher_student",
    "train_test_split",
    "tree_level",
]

# Optional parts (added by later modules); imported lazily so a missing one never breaks the core.
def __getattr__(name):
    lazy = {
        "exact_posterior": ("gibbs", "exact_posterior"),
        "PosteriorResult": ("gibbs", "PosteriorResult"),
        "posterior_quadrature": ("gibbs", "posterior_quadrature"),
        "QuadratureResult": ("gibbs", "QuadratureResult"),
        "train_langevin": ("langevin", "train_langevin"),
        "LangevinOptions": ("langevin", "LangevinOptions"),
        "LangevinResult": ("langevin", "LangevinResult"),
        "rescaled_kernel": ("nonlinear", "rescaled_kernel"),
        "NonlinearTreeResult": ("nonlinear", "NonlinearTreeResult"),
        "RescaledResult": ("nonlinear", "RescaledResult"),
    }
    if name in lazy:
        import importlib

        mod, attr = lazy[name]
        return getattr(importlib.import_module(f".{mod}", __name__), attr)
    raise AttributeError(f"module 'mastcore' has no attribute {name!r}")
