"""The renormalised kernel C = u·C0: a scalar kernel renormalisation for any activation (docs/theory.md §9.5)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.optimize import brentq

from ..._api import solver
from ..._plumbing.validation import check_data
from ..._plumbing.warn import warn
from ...results import Result
from ...specs import ConvergenceWarning, NetworkSpec
from ..kernels.nngp import cross_kernel, train_kernel, train_kernel_eigh

__all__ = ["RescaledResult", "rescaled_kernel"]


@dataclass(frozen=True, kw_only=True)
class RescaledResult(Result):
    """Scalar kernel renormalisation C = u·C0 (docs/theory.md §9.5).

    C (P, P) = u·C0, u the scale, objective the maximised value of (N/2)(ln u − u) + L(u C0); residual
    = |dΦ/d ln u| / N at u; n_roots: stationary points found.
    """

    C: np.ndarray
    u: float
    objective: float
    n_roots: int
    method: str = "rescaled"

    @property
    def s(self) -> float:
        """Alias of ``u`` (the scalar the kernel is multiplied by)."""
        return self.u


#: Log grid on which the stationary points of Φ(u) are bracketed.
U_GRID = np.logspace(-8, 8, 1601)


@solver("rescaled")
def rescaled_kernel(X, y, spec: NetworkSpec, X_test=None) -> RescaledResult:
    """Scalar kernel renormalisation C = u·C0, u maximising Φ(u) = (N/2)(ln u − u) + L(u C0) (docs/theory.md §9).

    Any activation (linear included). With C0 = Q diag(λ) Qᵀ and ỹ = Qᵀ y,
    Φ(u) = (N/2)(ln u − u) − (χ/2) Σ ỹ_k²/(uλ_k + κ0) − ½ Σ ln(uλ_k + κ0).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None; spec : NetworkSpec.

    Returns
    -------
    RescaledResult with f_train = u C0 (u C0 + κ0)⁻¹ y and f_test = u C0(X*, X)(u C0 + κ0)⁻¹ y.
    """
    t0 = time.perf_counter()
    X, y, X_test = check_data(X, y, X_test)
    N, chi, k0 = spec.width, spec.chi, spec.kappa0
    C0 = train_kernel(X, spec)  # C0 and its eigendecomposition: once per data set (memoised, docs/theory.md §17)
    lam, Q = train_kernel_eigh(X, spec)
    lam = np.clip(lam, 0.0, None)
    if not lam[-1] > 0:  # Φ(u) would not depend on u: no scale to renormalise (docs/theory.md §9.5)
        raise ValueError("'X' must not be all zeros: its NNGP kernel is identically 0, so the kernel scale u is "
                         "undefined")
    yt2 = (Q.T @ y) ** 2

    def phi(u):
        d = u * lam + k0
        return 0.5 * N * (np.log(u) - u) - 0.5 * chi * np.sum(yt2 / d) - 0.5 * np.sum(np.log(d))

    def dphi_dlogu(u):  # u·Φ'(u)
        d = np.multiply.outer(u, lam) + k0
        return u * (0.5 * N * (1.0 / u - 1.0) + 0.5 * chi * np.sum(lam * yt2 / d**2, -1) - 0.5 * np.sum(lam / d, -1))

    g = dphi_dlogu(U_GRID)
    idx = np.nonzero(np.sign(g[:-1]) * np.sign(g[1:]) <= 0)[0]
    roots = []
    n_iter = 0
    for k in idx:
        if g[k] > 0 >= g[k + 1] or g[k] >= 0 > g[k + 1]:  # maxima only: g goes from + to −
            u, info = brentq(dphi_dlogu, U_GRID[k], U_GRID[k + 1], xtol=1e-300, rtol=4 * np.finfo(float).eps,
                             full_output=True)
            n_iter += info.iterations
            roots.append(u)
    if not roots:
        raise RuntimeError(f"renormalised kernel: no maximum of Phi(u) on [1e-8, 1e8] (chi={chi:g}, N={N})")
    u = max(roots, key=phi)
    residual = float(abs(dphi_dlogu(u))) / N
    converged = residual < 1e-8
    if not converged:
        warn(f"renormalised kernel: residual {residual:.2e} at u={u:.6g}", ConvergenceWarning)
    C = u * C0
    A = C + k0 * np.eye(X.shape[0])
    alpha = sla.cho_solve(sla.cho_factor(A, lower=True), y)
    f_test = None if X_test is None else u * (cross_kernel(X_test, X, spec) @ alpha)
    return RescaledResult(
        f_train=C @ alpha,
        f_test=f_test,
        C=C,
        u=float(u),
        objective=float(phi(u)),
        spec=spec,
        converged=converged,
        n_iter=n_iter,
        residual=residual,
        n_roots=len(idx),
        seconds=time.perf_counter() - t0,
    )
