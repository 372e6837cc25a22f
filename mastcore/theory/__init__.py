"""Theories: NNGP kernels, the tree level (saddle point), the one loop, the renormalised kernel, which theory where."""
from __future__ import annotations

from . import bands  # registers the error band of every solver result (docs/theory.md §19)
from .kernels.nngp import GPResult, linear_kernel, nngp, nngp_kernel
from .tree.features import feature_summary
from .tree.nonlinear import ANSATZE, DEFAULT_ANSATZ, NonlinearTreeResult, tree_objective
from .loops.one_loop import OneLoopResult, one_loop
from .loops.result import NonlinearOneLoopResult
from .renormalised.kernel import RescaledResult, rescaled_kernel
from .tree.linear import TreeResult
from .tree.level import tree_level

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
