"""The tree level of erf and ReLU networks (docs/theory.md §9): the ansätze, the objective J and the entry point.

Three ansätze for the per-neuron weight law at the saddle point, one module each:

* ``"gaussian"`` (default for erf, :mod:`.gaussian`): a zero-mean Gaussian N(0, Σ), the stationary point of
  J(Σ) = L(g_w k(XΣXᵀ)) − N·KL(N(0, Σ) ‖ N(0, (g_v/D) I)) (§9.2). For φ = id this is the linear tree level of §4.
* ``"gaussian_mean"`` (default for ReLU, :mod:`.gaussian_mean`): a Gaussian N(μ, Σ) with a non-zero mean, found by
  maximising J, starting from the zero-mean solution (§9.3).
* ``"particles"`` (:mod:`.particles`): the exact saddle point, the tilted neuron law represented by MCMC particles
  (§9.4).

Every ansatz returns :class:`.result.NonlinearTreeResult` built by :func:`.result.finish`; this module only picks
the ansatz (:func:`nonlinear_tree_level`), so the ansätze import shared code from below instead of receiving it.

All solvers work in the row space of X (rank r ≤ min(P, D)): orthogonal to it the law is the prior, which the
train kernel does not see; the test kernel adds its prior variance back (exact for the Gaussian ansätze).
"""
from __future__ import annotations

import time

import numpy as np

from ..._registry import LiveView
from ..._api import check_spec
from ...activations import ACTIVATIONS
from ..._validation import check_data, positive_float, positive_int
from ..._warn import warn
from ...specs import ConvergenceWarning, NetworkSpec
from .. import _defaults
from ..kernels.gaussian_law import kernel
from .gaussian import GAUSSIAN_TOL, _problem, gaussian_tree
from .gaussian_mean import gaussian_mean_tree
from .likelihood import likelihood
from .particles import particle_tree
from .result import NonlinearTreeResult

__all__ = [
    "ANSATZE",
    "DEFAULT_ANSATZ",
    "NonlinearTreeResult",
    "nonlinear_tree_level",
    "tree_objective",
]

ANSATZE = ("gaussian", "gaussian_mean", "particles")


#: Default ansatz per activation (docs/theory.md §9: zero-mean is best for erf, the non-zero mean fixes ReLU's saddle),
#: read from each Activation's ``default_ansatz``.
DEFAULT_ANSATZ = LiveView(lambda: {name: act.default_ansatz for name, act in ACTIVATIONS.items()})
#: Number of χ stages when annealing from the NNGP (χ = 1) to χ = N (docs/theory.md §9: ~20; theory/_defaults.py).
ANNEAL_STAGES = _defaults.ANNEAL_STAGES


def _kl_gauss(cov, mean, lam0):
    """KL(N(mean, cov) ‖ N(0, I/λ0)) in r dimensions."""
    r = cov.shape[0]
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return np.inf
    m2 = 0.0 if mean is None else float(mean @ mean)
    return 0.5 * (lam0 * (np.trace(cov) + m2) - r - r * np.log(lam0) - logdet)


def tree_objective(X, y, spec: NetworkSpec, Sigma) -> float:
    """J(Σ) = L(g_w k(XΣXᵀ)) − N·KL(N(0, Σ) ‖ N(0, (g_v/D) I)) for a (D, D) covariance Σ (docs/theory.md §9)."""
    check_spec(spec)
    X, y, _ = check_data(X, y)
    Sigma = np.asarray(Sigma, dtype=np.float64)
    D = X.shape[1]
    C = spec.g_w * kernel(X, X, Sigma, spec.activation)
    L, _, _ = likelihood(C, y, spec.chi, spec.kappa0)
    return L - spec.width * _kl_gauss(Sigma, None, D / spec.g_v)


# --- public entry points ---------------------------------------------------------------------------------------


def _report(result, strict):
    if result.converged:
        return
    spec = result.spec
    msg = (
        f"nonlinear tree level ({result.ansatz}, {spec.activation}) did not converge at chi={spec.chi:g}, "
        f"N={spec.width}: residual {result.residual:.2e} after {result.n_iter} iterations; increase 'max_iter' or "
        "'n_stages', or warm-start with 'init' from a nearby chi"
    )
    if strict:
        raise RuntimeError(msg)
    warn(msg, ConvergenceWarning)


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
            res = particle_tree(pb, init=init, progress=progress, t0=t0, **particle_options)
    except (FloatingPointError, np.linalg.LinAlgError) as exc:
        raise RuntimeError(
            f"nonlinear tree level ({ansatz}) failed at chi={spec.chi:g}, N={spec.width}: {exc}; try more "
            "'n_stages' or a larger kappa0"
        ) from None
    _report(res, strict)
    return res
