"""The theories, one subpackage per family (docs/library.md, "Code layout"):

* :mod:`.kernels` — the NNGP and the kernel of any activation (docs/theory.md §3, §9.1, §9.7);
* :mod:`.tree` — the tree level, the saddle point (§4, §9);
* :mod:`.loops` — the one loop around a saddle and the dispatch of ``mc.one_loop`` (§5–§6, §12);
* :mod:`.renormalised` — the renormalised kernel u*·C0 and the one loop around it (§9.5, §12.5);

with :mod:`.bands` (error bands and the one rule of "auto", §19) and ``_defaults`` (solver defaults) on top. A family
imports only the families before it in this list (the dispatch of ``mc.one_loop`` excepted); the public names
below are re-exported here and in :mod:`mastcore`.
"""
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
