"""The erf/ReLU tree level (docs/theory.md §9): the row-space problem, the objective J, the zero-mean Gaussian ansatz.

Three ansätze for the per-neuron weight law at the saddle point:

* ``"gaussian"`` (default for erf): a zero-mean Gaussian N(0, Σ), the stationary point of
  J(Σ) = L(g_w k(XΣXᵀ)) − N·KL(N(0, Σ) ‖ N(0, (g_v/D) I)), whose stationarity condition is
  Σ⁻¹ = (D/g_v) I − (2g_w/N) Xᵀ G X with G = ∂/∂M Σ C̃_αβ k_αβ(M), C̃ = (χ/2) a aᵀ − ½ R (docs/theory.md §9).
  Solved by precision damping with backtracking, an adaptive step and annealing in χ from the NNGP.
  For φ = id this is the linear tree level of §4 exactly.
* ``"gaussian_mean"`` (default for ReLU): a Gaussian N(μ, Σ) with a non-zero mean, found by maximising J.
* ``"particles"``: the exact saddle point, the tilted neuron law represented by MCMC particles.

All solvers work in the row space of X (rank r ≤ min(P, D)): orthogonal to it the law is the prior, which the
train kernel does not see; the test kernel adds its prior variance back (exact for the Gaussian ansätze).

This module holds the first (:func:`gaussian_tree`, where :mod:`.gaussian_mean` starts from); the others are
:mod:`.gaussian_mean` and :mod:`.particles`, :func:`.level.nonlinear_tree_level` picks one, and every ansatz returns
the :class:`.result.NonlinearTreeResult` built by :func:`.result.finish` (shared code below, no callbacks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import scipy.linalg as sla

from ..._registry import LiveView
from ..._api import check_spec
from ...activations import ACTIVATIONS
from ..._linalg import RowSpace, row_space
from ..._plumbing.validation import check_data
from ..._plumbing.warn import warn
from ...specs import ConvergenceWarning, NetworkSpec
from .. import _defaults
from .likelihood import likelihood
from .neuron_law import LawProblem, law_problem
from ..kernels.gaussian_law import gram_parts, kernel, kernel_gradient_matrix, pair_kernel
from .result import NonlinearTreeResult, finish

__all__ = [
    "ANSATZE",
    "DEFAULT_ANSATZ",
    "NonlinearTreeResult",
    "gaussian_tree",
    "tree_objective",
]

ANSATZE = ("gaussian", "gaussian_mean", "particles")


#: Default ansatz per activation (docs/theory.md §9: zero-mean is best for erf, the non-zero mean fixes ReLU's saddle),
#: read from each Activation's ``default_ansatz``.
DEFAULT_ANSATZ = LiveView(lambda: {name: act.default_ansatz for name, act in ACTIVATIONS.items()})
#: Tolerance on ‖Λ_new − Λ‖_F / ‖Λ‖_F for the Gaussian solver (docs/theory.md §9).
GAUSSIAN_TOL = 1e-9
#: Intermediate annealing stages are solved to this looser tolerance (only the last stage matters).
STAGE_TOL = 1e-6
#: Number of χ stages when annealing from the NNGP (χ = 1) to χ = N (docs/theory.md §9: ~20; theory/_defaults.py).
ANNEAL_STAGES = _defaults.ANNEAL_STAGES
#: Step-size bounds of the damped precision iteration; below ETA_STALL the damping has stalled on an unstable
#: direction of the map and the stage switches to Newton–Krylov (at most NK_MAX_ITER Newton steps).
ETA_MIN = 1e-10
ETA_STALL = 1e-6
NK_MAX_ITER = 100


# --- the Gaussian (zero-mean) ansatz ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem(LawProblem):
    """The neuron law's row-space form of the inputs (neuron_law.LawProblem: Z = X W = U S, Zs = X* W, qs_perp,
    lam0 = D/g_v) with the labels, the row space and the network."""

    y: np.ndarray
    rs: RowSpace
    spec: NetworkSpec

    @property
    def D(self) -> int:
        return int(self.W.shape[0])


def _problem(X, y, spec, X_test) -> _Problem:
    law = law_problem(X, spec, X_test)
    return _Problem(**{f.name: getattr(law, f.name) for f in fields(law)}, y=y, rs=row_space(X), spec=spec)


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


def _gaussian_map(Lam, pb: _Problem, chi: float, activation: str):
    """One application of the stationarity map Λ ↦ Λ_new (docs/theory.md §9). Returns Λ_new, Σ, C, a, J."""
    spec = pb.spec
    N, gw = spec.width, spec.g_w
    cf = sla.cho_factor(Lam, lower=True)
    Sig = sla.cho_solve(cf, np.eye(Lam.shape[0]))
    Sig = 0.5 * (Sig + Sig.T)
    M = pb.Z @ Sig @ pb.Z.T
    parts = gram_parts(M, activation)
    C = gw * parts.K
    L, R, a = likelihood(C, pb.y, chi, spec.kappa0)
    Ct = 0.5 * chi * np.outer(a, a) - 0.5 * R  # (T1)
    G = kernel_gradient_matrix(Ct, parts)
    # Σ⁻¹ = (D/g_v) I − 2 (g_w/N) Xᵀ G X, restricted to the row space (docs/theory.md §9); C enters through g_w k
    Lam_new = pb.lam0 * np.eye(pb.r) - (2.0 * gw / N) * (pb.Z.T @ G @ pb.Z)
    Lam_new = 0.5 * (Lam_new + Lam_new.T)
    logdet_sig = -2.0 * np.sum(np.log(np.diag(cf[0])))
    kl = 0.5 * (pb.lam0 * np.trace(Sig) - pb.r - pb.r * np.log(pb.lam0) - logdet_sig)
    return Lam_new, Sig, C, a, L - N * kl


def _is_pd(A) -> bool:
    try:
        np.linalg.cholesky(A)
        return True
    except np.linalg.LinAlgError:
        return False


def _solve_gaussian_stage(Lam, pb, chi, activation, tol, max_iter, eta):
    """Damped precision iteration at one χ: Λ ← (1−η)Λ + ηΛ_new, η halved until Λ is positive definite,
    ×1.1 when the residual falls and ÷2 when it rises (docs/theory.md §9). Returns Λ, η, n_iter, residual.

    Past a bifurcation the map can have an unstable direction (Jacobian eigenvalue > 1), which no damping
    stabilises: η then collapses. In that case (η < ETA_STALL or ``max_iter`` reached) the stationarity equation
    Λ_new(Λ) − Λ = 0 is solved by Newton–Krylov from the best iterate, which converges in a few steps.
    """
    prev = np.inf
    res = np.inf
    best = (np.inf, Lam)
    n = 0
    for n in range(1, max_iter + 1):
        Lam_new = _gaussian_map(Lam, pb, chi, activation)[0]
        res = float(np.linalg.norm(Lam_new - Lam) / np.linalg.norm(Lam))
        if res < best[0]:
            best = (res, Lam)
        if res < tol:
            return Lam, eta, n, res
        eta = eta / 2 if res > prev else min(1.0, 1.1 * eta)
        prev = res
        if eta < ETA_STALL:
            break
        while True:
            trial = (1.0 - eta) * Lam + eta * Lam_new
            if _is_pd(trial):
                break
            eta /= 2
            if eta < ETA_MIN:
                raise FloatingPointError("no positive-definite damped step (eta below 1e-10)")
        Lam = trial
    Lam_nk, res_nk, n_nk = _newton_krylov(best[1], pb, chi, activation, tol)
    if res_nk < best[0]:
        return Lam_nk, max(eta, 0.05), n + n_nk, res_nk
    return best[1], max(eta, 0.05), n + n_nk, best[0]


def _newton_krylov(Lam, pb, chi, activation, tol):
    """Solve Λ_new(Λ) = Λ by scipy's Newton–Krylov on the upper triangle of Λ. Returns Λ, residual, iterations."""
    from scipy.optimize import root  # noqa: PLC0415

    r = pb.r
    iu = np.triu_indices(r)

    def unpack(x):
        L = np.zeros((r, r))
        L[iu] = x
        return L + np.triu(L, 1).T

    def fun(x):
        L = unpack(x)
        try:
            return (_gaussian_map(L, pb, chi, activation)[0] - L)[iu] / pb.lam0
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return np.full(x.shape, 1e3)

    try:
        sol = root(fun, Lam[iu], method="krylov", options=dict(fatol=1e-3 * tol, maxiter=NK_MAX_ITER))
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        # scipy's Krylov solver gives up with a ValueError ("Jacobian inversion yielded zero vector", seen on the
        # digits at P = 300, χ = N): the best damped iterate stands, and the result says it did not converge
        return Lam, np.inf, NK_MAX_ITER
    L = unpack(sol.x)
    if not np.all(np.isfinite(L)) or not _is_pd(L):
        return Lam, np.inf, int(getattr(sol, "nit", 0))
    res = float(np.linalg.norm(_gaussian_map(L, pb, chi, activation)[0] - L) / np.linalg.norm(L))
    return L, res, int(getattr(sol, "nit", 0))


def _chi_path(chi0: float, chi: float, N: int, n_stages: int) -> np.ndarray:
    """Geometric χ path from chi0 to chi; ``n_stages`` stages for the full range 1 → N, fewer for shorter ones."""
    if chi <= chi0 * (1 + 1e-12) and chi >= chi0 * (1 - 1e-12):
        return np.array([chi])
    span = abs(math.log(chi / chi0)) / max(math.log(max(N, 2)), 1e-12)
    k = max(2, int(math.ceil(n_stages * min(span, 1.0))) + 1)
    return np.geomspace(chi0, chi, k)[1:]


def _test_kernel_gaussian(pb, Sig_r, activation):
    """g_w k(X*, X) under N(0, Σ) with Σ = W Σ_r Wᵀ + (g_v/D)(I − WWᵀ)."""
    if pb.Zs is None:
        return None
    c = pb.Zs @ Sig_r @ pb.Z.T
    qs = np.einsum("ij,jk,ik->i", pb.Zs, Sig_r, pb.Zs) + pb.qs_perp
    q = np.einsum("ij,jk,ik->i", pb.Z, Sig_r, pb.Z)
    return pb.spec.g_w * pair_kernel(c, qs[:, None], q[None, :], activation)


def _init_precision(pb, init):
    """Starting precision and χ: the NNGP (prior, χ = 1) or a previous result on the same data."""
    if init is None:
        return pb.lam0 * np.eye(pb.r), 1.0
    cov = getattr(init, "_cov_row", None)
    if cov is None or cov.shape != (pb.r, pb.r) or init.spec.width != pb.spec.width:
        raise ValueError("'init' must be a NonlinearTreeResult for the same data and width")
    return np.linalg.inv(cov), float(init.spec.chi)


def gaussian_tree(pb, *, init, tol, max_iter, n_stages, progress, t0):
    """Tree level with the zero-mean Gaussian neuron law (docs/theory.md §9.2): anneal in χ from ``init`` (or the
    NNGP), one damped stage per χ. Returns a NonlinearTreeResult."""
    spec = pb.spec
    act = spec.activation
    Lam, chi0 = _init_precision(pb, init)
    path = _chi_path(chi0, spec.chi, spec.width, n_stages)
    eta, total = 1.0, 0
    res = np.inf
    for i, chi_k in enumerate(path):
        last = i == len(path) - 1
        Lam, eta, n, res = _solve_gaussian_stage(Lam, pb, chi_k, act, tol if last else max(tol, STAGE_TOL),
                                                 max_iter, max(eta, 0.05))
        total += n
        if progress is not None:
            progress(i + 1, len(path), {"chi": float(chi_k), "residual": res})
    _, Sig, C, a, J = _gaussian_map(Lam, pb, spec.chi, act)
    converged = res < tol
    return finish(pb, Sig, None, C, a, _test_kernel_gaussian(pb, Sig, act), "gaussian", converged, total, res,
                  t0, J, len(path))


# --- the convergence report of every ansatz (level.nonlinear_tree_level) -----------------------------------------


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
