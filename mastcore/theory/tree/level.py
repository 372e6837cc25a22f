"""The tree level (saddle point) of any activation: one public entry point (docs/theory.md §4, §9)."""
from __future__ import annotations

import dataclasses

from ...activations import get_activation
from ..._api import solver
from ..._linalg import row_space
from ..._validation import positive_float, positive_int
from ..._warn import warn
from ...specs import LoopBreakdownWarning, NetworkSpec
from .gaussian import GAUSSIAN_TOL
from .nonlinear import ANNEAL_STAGES, NonlinearTreeResult, nonlinear_tree_level
from .linear import VARIANTS, TreeResult, linear_tree_level

__all__ = ["WIDTH_BELOW_RANK", "tree_level"]

#: Flag of a tree level at width N below rank X (docs/theory.md §4.8).
WIDTH_BELOW_RANK = "width_below_rank"


@solver("tree")
def tree_level(
    X,
    y,
    spec: NetworkSpec,
    X_test=None,
    *,
    ansatz: str | None = None,
    variant: str = "full",
    init=None,
    C_init=None,
    tol: float | None = None,
    max_iter: int | None = None,
    n_stages: int = ANNEAL_STAGES,
    strict: bool = False,
    progress=None,
    cache: bool = False,
    **particle_options,
) -> TreeResult | NonlinearTreeResult:
    """Tree-level (saddle-point) predictor of a two-layer network (docs/theory.md §4 linear, §9 erf/ReLU).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None; spec : NetworkSpec.
    ansatz : erf/ReLU neuron law, "gaussian" | "gaussian_mean" | "particles" (default per activation,
        docs/theory.md §9). Linear networks: every ansatz gives the same exact saddle, so it is not used.
    variant : linear networks only: "full" (with the log-det term) or "rescaling" (log-det dropped: f = GP(s·C0)).
    init : a result of this function on the same data (e.g. at the previous χ of a sweep) to warm-start from.
    C_init : (P, P) warm-start kernel, linear networks only.
    tol, max_iter : solver tolerance and iterations (defaults: 1e-13 / 500 linear, 1e-9 / 2000 erf/ReLU).
    n_stages : erf/ReLU: χ stages when annealing from the NNGP law.
    strict : raise RuntimeError instead of a ConvergenceWarning when not converged.
    progress : callable(done, total, info) or None (erf/ReLU). cache : store the result on disk (mastcore.cache).
    particle_options : ``n_particles``, ``seed``, ... for ``ansatz="particles"``.

    Returns
    -------
    TreeResult (linear) or NonlinearTreeResult (erf/ReLU).
    """
    # validated up front for every activation and ansatz (the particle ansatz does not iterate on them)
    tol = None if tol is None else positive_float("tol", tol)
    max_iter = None if max_iter is None else positive_int("max_iter", max_iter)
    n_stages = positive_int("n_stages", n_stages)
    if get_activation(spec.activation).linear:
        if particle_options:
            raise ValueError(f"options {sorted(particle_options)} apply to erf/ReLU networks only; got 'linear'")
        result = linear_tree_level(
            X, y, spec, X_test, variant=variant, init=init, C_init=C_init,
            tol=1e-13 if tol is None else tol, max_iter=500 if max_iter is None else max_iter, strict=strict,
        )
        return _flag_width(result, X)
    if variant != "full":
        raise ValueError(f"'variant' {variant!r} exists for linear networks only (one of {VARIANTS}); got "
                         f"activation {spec.activation!r}")
    if C_init is not None:
        raise ValueError("'C_init' applies to linear networks only: a kernel does not fix an erf/ReLU neuron law; "
                         "pass the previous result as 'init'")
    result = nonlinear_tree_level(
        X, y, spec, X_test, ansatz=ansatz, init=init, tol=GAUSSIAN_TOL if tol is None else tol,
        max_iter=2000 if max_iter is None else max_iter, n_stages=n_stages, strict=strict, progress=progress,
        **particle_options,
    )
    return _flag_width(result, X)


def _flag_width(result, X):
    """Flag ``width_below_rank`` and warn (LoopBreakdownWarning) when N < rank X (docs/theory.md §4.8).

    The saddle point is the leading order of an expansion in rank(X)/N; below N = rank X the prior kernel is a
    singular Wishart matrix and the tree level can be far from the posterior (13–53 % at N = 1–10, P = 40) even
    though its own equations converged.
    """
    r = row_space(X).rank
    N = result.spec.width
    if N >= r:
        return result
    warn(
        f"tree level at N = {N} < rank X = {r}: the saddle point is an expansion in rank(X)/N and may be far from "
        "the posterior here (docs/theory.md §4.8); compare with mc.posterior_quadrature (linear) or networks",
        LoopBreakdownWarning,
    )
    return dataclasses.replace(result, flags=(*result.flags, WIDTH_BELOW_RANK))
