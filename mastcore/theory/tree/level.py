"""The entry points of the tree level (saddle point, docs/theory.md §4, §9): ``mc.tree_level`` for any activation,
and :func:`nonlinear_tree_level`, which picks the erf/ReLU ansatz — the zero-mean Gaussian (:mod:`.nonlinear`), the
Gaussian with a mean (:mod:`.gaussian_mean`) or the particles (:mod:`.particles`). The ansätze share what they need
through the modules below them (:mod:`.nonlinear`, :mod:`.result`), never through arguments."""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from ...activations import get_activation
from ..._api import solver
from ..._linalg import row_space
from ..._plumbing.validation import check_data, positive_float, positive_int
from ..._plumbing.warn import warn
from ...specs import LoopBreakdownWarning, NetworkSpec
from .gaussian_mean import gaussian_mean_tree
from .linear import VARIANTS, TreeResult, linear_tree_level
from .nonlinear import ANNEAL_STAGES, ANSATZE, DEFAULT_ANSATZ, GAUSSIAN_TOL, _problem, _report, gaussian_tree
from .particles import particle_tree
from .._defaults import WEIGHTED_MAX_P
from .result import NonlinearTreeResult

__all__ = ["WIDTH_BELOW_RANK", "nonlinear_tree_level", "tree_level"]

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


# --- erf/ReLU: the ansatz ----------------------------------------------------------------------------------------


def nonlinear_tree_level(
    X,
    y,
    spec: NetworkSpec,
    X_test=None,
    *,
    ansatz: str | None = None,
    init: NonlinearTreeResult | None = None,
    tol: float = GAUSSIAN_TOL,
    max_iter: int = 2000,
    n_stages: int = ANNEAL_STAGES,
    strict: bool = False,
    progress=None,
    **particle_options,
) -> NonlinearTreeResult:
    """Tree-level predictor of an erf/ReLU (or linear) two-layer network (docs/theory.md §9).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None
    spec : NetworkSpec (any registered activation).
    ansatz : "gaussian" (zero-mean Gaussian neuron law), "gaussian_mean" (Gaussian with a mean, maximising J) or
        "particles" (MCMC particles: the exact saddle point; slower). Default: ``DEFAULT_ANSATZ[activation]``.
    init : a previous result on the same data (e.g. at a smaller χ) to warm-start from; otherwise the solver
        anneals from the NNGP law (χ = 1) in up to ``n_stages`` geometric χ stages.
    tol, max_iter : tolerance on ‖Λ_new − Λ‖_F/‖Λ‖_F and iterations per stage (Gaussian ansätze).
    strict : raise RuntimeError instead of a ConvergenceWarning when not converged.
    progress : callable(done, total, info) or None.
    particle_options : for ``ansatz="particles"``: ``n_particles``, ``seed``, ``n_stages``, ``outer_per_stage``,
        ``outer_final``, ``mcmc_steps``, ``damping``, ``particle_stages`` (its χ stages) (defaults:
        particles.particle_tree, theory/_defaults.py).

    Returns
    -------
    NonlinearTreeResult
    """
    t0 = time.perf_counter()
    X, y, X_test = check_data(X, y, X_test)
    ansatz = DEFAULT_ANSATZ[spec.activation] if ansatz is None else ansatz
    if ansatz not in ANSATZE:
        raise ValueError(f"'ansatz' must be one of {ANSATZE}; got {ansatz!r}")
    tol = positive_float("tol", tol)
    max_iter = positive_int("max_iter", max_iter)
    n_stages = positive_int("n_stages", n_stages)
    pb = _problem(X, y, spec, X_test)
    try:
        if ansatz == "gaussian":
            res = gaussian_tree(pb, init=init, tol=tol, max_iter=max_iter, n_stages=n_stages, progress=progress,
                                t0=t0)
        elif ansatz == "gaussian_mean":
            res = gaussian_mean_tree(pb, init=init, tol=tol, max_iter=max_iter, n_stages=n_stages,
                                     progress=progress, t0=t0)
        else:
            if "particle_stages" in particle_options:  # χ stages of the particle anneal (a warm start needs few)
                particle_options["n_stages"] = positive_int("particle_stages", particle_options.pop("particle_stages"))
            proposal = None
            if (particle_options.get("estimator", "weighted") == "weighted" and getattr(init, "_cov_row", None) is None
                    and X.shape[0] <= WEIGHTED_MAX_P):
                # the weighted draws' first proposal: the Gaussian ansatz's law at this χ (docs/theory.md §9.4)
                # (the zero-mean one for every activation: the law with a mean costs minutes at P = 300 for ReLU, and
                # the proposal's refit finds the mean, tree/weighted.py)
                try:
                    proposal = gaussian_tree(pb, init=None, tol=tol, max_iter=max_iter, n_stages=n_stages,
                                             progress=None, t0=t0)
                except (FloatingPointError, np.linalg.LinAlgError, RuntimeError):
                    proposal = None  # no Gaussian law to propose from: the MALA chains, annealed from the NNGP
            res = particle_tree(pb, init=init, progress=progress, t0=t0, proposal=proposal, **particle_options)
    except (FloatingPointError, np.linalg.LinAlgError) as exc:
        raise RuntimeError(
            f"nonlinear tree level ({ansatz}) failed at chi={spec.chi:g}, N={spec.width}: {exc}; try more "
            "'n_stages' or a larger kappa0"
        ) from None
    _report(res, strict)
    return res
