"""Theories: NNGP kernels, the tree level (saddle point), the one loop, the renormalised kernel, which theory where."""
from __future__ import annotations

from . import bands  # registers the error band of every solver result (docs/theory.md §19)
from .kernels import GPResult, linear_kernel, nngp, nngp_kernel
from .features import feature_summary
from .nonlinear import ANSATZE, DEFAULT_ANSATZ, NonlinearTreeResult, tree_objective
from .one_loop import OneLoopResult, one_loop
from .loop_result import NonlinearOneLoopResult
from .rescaled import RescaledResult, rescaled_kernel
from .saddle import TreeResult
from .tree import tree_level

__all__ = [
    "ANSATZE",
    "DEFAULT_ANSATZ",
    "GPResult",
    "NonlinearOneLoopResult",
    "NonlinearTreeResult",
    "OneLoopResult",
    "RescaledResult",
    "TreeResult",
    "feature_summary",
    "linear_kernel",
    "nngp",
    "nngp_kernel",
    "one_loop",
    "rescaled_kernel",
    "tree_level",
    "tree_objective",
]
