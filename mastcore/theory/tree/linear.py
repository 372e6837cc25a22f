"""Tree-level (saddle-point) MSA theory for linear networks (docs/theory.md §4, §11).

The saddle point of S(C, C̃) is found with the robust background / scalar-s iteration of §4:

    R   = (C + κ0)⁻¹
    K_B = (C0⁻¹ + R/N)⁻¹                        # background kernel
    s   = largest positive root of h(s) = s(1 − (χ/N) q(s)) − 1
    a   = (s K_B + κ0)⁻¹ y
    C  ← K_B + (χ/N) s (K_B a)(K_B a)ᵀ

When X has rank r < P (e.g. D < P) C0 is singular; the problem is then solved exactly in the r-dimensional row
space of X (docs/theory.md §11): with X = U S Wᵀ, C = U Ĉ Uᵀ and only ŷ = Uᵀy couples to the kernel.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from scipy.optimize import brentq

from ...activations import get_activation
from ..._linalg import RowSpace, row_space
from ..._sigma import SigmaVMixin
from ..._plumbing.validation import check_data, positive_float, positive_int
from ..._plumbing.warn import warn
from ...results import Result
from ...specs import ConvergenceWarning, NetworkSpec
from ..kernels.nngp import train_kernel

__all__ = ["TreeResult", "linear_tree_level", "solve_scalar_s"]

VARIANTS = ("full", "rescaling")
#: Log grid on which the roots of h(s) are bracketed before refinement with brentq (docs/theory.md §4).
S_GRID = np.logspace(-8, 8, 801)


def _q(s, lam, yt2, kappa0):
    # q(s) = Σ_k λ_k ỹ_k² / (s λ_k + κ0)²   (docs/theory.md §4)
    return np.sum(lam * yt2 / (np.multiply.outer(s, lam) + kappa0) ** 2, axis=-1)


def solve_scalar_s(lam, yt, kappa0: float, ratio: float) -> tuple[float, int]:
    """Largest positive root of h(s) = s (1 − ratio·q(s)) − 1, ratio = χ/N (docs/theory.md §4).

    Parameters
    ----------
    lam : (r,) eigenvalues of K_B, yt : (r,) labels in K_B's eigenbasis.

    Returns
    -------
    s : float, n_roots : int (number of sign changes of h found on the grid).
    """
    lam = np.clip(lam, 0.0, None)
    yt2 = yt**2

    def h(s):
        return s * (1.0 - ratio * _q(s, lam, yt2, kappa0)) - 1.0

    hv = h(S_GRID)
    sign_change = np.nonzero(np.sign(hv[:-1]) * np.sign(hv[1:]) <= 0)[0]
    if sign_change.size == 0:
        raise FloatingPointError(f"h(s) has no positive root on [1e-8, 1e8] (h(1e8) = {hv[-1]:.3g})")
    k = sign_change[-1]
    lo, hi = S_GRID[k], S_GRID[k + 1]
    if hv[k] == 0.0:
        return float(lo), int(sign_change.size)
    s = brentq(h, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(s), int(sign_change.size)


@dataclass(frozen=True)
class _Reduced:
    """The problem in an orthonormal basis B (P, r) of the row space: C0r = Bᵀ C0 B, yr = Bᵀ y."""

    B: np.ndarray | None  # None: identity (X has full row rank)
    C0: np.ndarray
    y: np.ndarray
    y_perp: np.ndarray  # part of y outside the row space (zero when B is None)

    def lift_matrix(self, M):
        return M if self.B is None else self.B @ M @ self.B.T

    def reduce_matrix(self, M):
        return M if self.B is None else self.B.T @ M @ self.B

    def lift_a(self, a_r, kappa0):
        # a = R y = B (Ĉ + κ0)⁻¹ ŷ + y_⊥/κ0
        return a_r if self.B is None else self.B @ a_r + self.y_perp / kappa0

    def lift_f(self, f_r):
        return f_r if self.B is None else self.B @ f_r


def reduce_problem(X, y, spec: NetworkSpec, rs: RowSpace | None = None) -> tuple[_Reduced, RowSpace]:
    """Return the row-space reduction of (X, y) for the linear kernel."""
    rs = row_space(X) if rs is None else rs
    if rs.full:
        # C0 = (g_w g_v/D) X Xᵀ, memoised per data set (docs/theory.md §17)
        return _Reduced(B=None, C0=train_kernel(X, spec), y=y, y_perp=np.zeros_like(y)), rs
    c = spec.g_w * spec.g_v / X.shape[1]
    yr = rs.U.T @ y
    return _Reduced(B=rs.U, C0=np.diag(c * rs.S**2), y=yr, y_perp=y - rs.U @ yr), rs


@dataclass(frozen=True, kw_only=True)
class TreeResult(SigmaVMixin, Result):
    """Tree-level saddle point (docs/theory.md §4).

    Attributes
    ----------
    f_train : (P,) mean predictor on the train set, f_test : (P*,) or None.
    C : (P, P) adapted kernel at the saddle. a : (P,) = (C + κ0)⁻¹ y. K_B : (P, P) background kernel.
    s : rescaling factor, f_train = s K_B (s K_B + κ0)⁻¹ y exactly.
    converged, n_iter, residual : solver diagnostics (residual = max of the last fixed-point step and the
        (T2) stationarity residual max|C − C0 − (2/N) C C̃ C0|). n_roots : roots of h(s) found at the end.
    sigma_v : (D, D) per-neuron weight covariance (formed on access); ``sigma_v_eigh`` gives its spectrum cheaply.
    """

    C: np.ndarray
    a: np.ndarray
    K_B: np.ndarray
    s: float
    variant: str
    n_roots: int
    method: str = "tree"
    _precision_row: np.ndarray = field(default=None, repr=False)  # Σ_v⁻¹ restricted to the row space (r, r)
    _W: np.ndarray = field(default=None, repr=False)  # (D, r) row-space basis of the inputs

    def _sigma_row(self) -> np.ndarray:
        return np.linalg.inv(self._precision_row)


def _background(C0, R, N):
    # K_B = (C0⁻¹ + R/N)⁻¹ = (I + C0 R / N)⁻¹ C0, valid for singular C0 too
    r = C0.shape[0]
    K = np.linalg.solve(np.eye(r) + C0 @ R / N, C0)
    return 0.5 * (K + K.T)


def _background_from_C(C0, C, kappa0, N):
    """K_B = (C0⁻¹ + R/N)⁻¹ with R = (C + κ0)⁻¹, by Woodbury: K_B = C0 − C0 (N (C + κ0) + C0)⁻¹ C0.

    One Cholesky of the well-conditioned N(C + κ0) + C0 (>= N κ0) and a triangular solve: ~3x fewer flops than
    forming R and solving (I + C0 R/N) K_B = C0, and valid for singular C0 too.
    """
    G = N * C + C0
    G[np.diag_indices_from(G)] += N * kappa0
    L = sla.cholesky(G, lower=True, check_finite=False)
    F = sla.solve_triangular(L, C0, lower=True, check_finite=False)  # L⁻¹ C0
    K = C0 - F.T @ F
    return 0.5 * (K + K.T)


#: Above this size the eigenvectors of K_B are never formed: Householder tridiagonalisation (LAPACK sytrd) plus
#: the tridiagonal eigenproblem (stemr), with Q applied to vectors only (~2x faster than a full eigh at P = 400).
_TRIDIAG_MIN = 160


def _spectral_y(K, y):
    """Eigenvalues λ of the symmetric K (r, r), ỹ = Qᵀ y in its eigenbasis, and v ↦ Q v (docs/theory.md §4, q(s))."""
    r = K.shape[0]
    if r < _TRIDIAG_MIN:
        lam, Q = sla.eigh(K, check_finite=False)
        return lam, Q.T @ y, lambda v: Q @ v
    lwork = int(sla.lapack.dsytrd_lwork(r, lower=1)[0])
    c, d, e, tau, info = sla.lapack.dsytrd(K, lower=1, lwork=lwork)  # K = H Tri Hᵀ, H = H_1 ⋯ H_{r−1}
    if info != 0:
        raise FloatingPointError(f"tridiagonalisation failed (LAPACK sytrd info={info})")
    lam, V = sla.eigh_tridiagonal(d, e, lapack_driver="stemr", check_finite=False)
    refl = np.tril(c, -1)  # reflector k: v = (0,…,0, 1, c[k+2:, k]), stored below the subdiagonal
    refl[np.arange(1, r), np.arange(r - 1)] = 1.0

    def apply_h(x, transpose):
        x = x.copy()
        ks = range(r - 1) if transpose else range(r - 2, -1, -1)
        for k in ks:  # Hᵀ x applies H_1 first; H x applies H_{r−1} first
            v = refl[k + 1 :, k]
            x[k + 1 :] -= (tau[k] * (v @ x[k + 1 :])) * v
        return x

    return lam, V.T @ apply_h(y, True), lambda v: apply_h(V @ v, False)


def _tree_iteration(C0, y, N, chi, kappa0, variant, C_init, tol, max_iter):
    """Robust iteration of docs/theory.md §4 in the (reduced) basis. Returns (C, a, K_B, s, n_roots, n_iter, step, ok)."""
    r = C0.shape[0]
    ratio = chi / N
    C = C0.copy() if C_init is None else C_init.copy()
    step, prev_step, eta = np.inf, np.inf, 1.0
    n_iter = 0
    s, n_roots, a, K_B = 1.0, 0, None, C0
    for n_iter in range(1, max_iter + 1):
        if variant == "full":
            K_B = _background_from_C(C0, C, kappa0, N)
        lam, yt, to_original = _spectral_y(K_B, y)  # K_B = Q diag(λ) Qᵀ, ỹ = Qᵀ y
        s, n_roots = solve_scalar_s(lam, yt, kappa0, ratio)
        a = to_original(yt / (s * np.clip(lam, 0, None) + kappa0))  # a = (s K_B + κ0)⁻¹ y
        Ka = K_B @ a
        C_new = K_B + ratio * s * np.outer(Ka, Ka)
        step = float(np.max(np.abs(C_new - C))) / max(1.0, float(np.max(np.abs(C_new))))
        if step > prev_step and eta > 1 / 64:
            eta /= 2  # damp when the outer map stops contracting (small N)
        C = C + eta * (C_new - C) if eta < 1 else C_new
        prev_step = step
        if variant == "rescaling" or step < tol:
            break
    return C, a, K_B, s, n_roots, n_iter, step


def linear_tree_level(
    X,
    y,
    spec: NetworkSpec,
    X_test=None,
    *,
    variant: str = "full",
    init: TreeResult | None = None,
    C_init=None,
    tol: float = 1e-13,
    max_iter: int = 500,
    strict: bool = False,
) -> TreeResult:
    """Tree-level (saddle-point) predictor of a linear two-layer network (docs/theory.md §4).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None
    spec : NetworkSpec with activation "linear".
    variant : "full" (with the log-det term) or "rescaling" (log-det dropped: f = GP(s·C0) exactly).
    init : a TreeResult on the same data (e.g. the saddle at the previous χ, Algorithm 1) to warm-start from.
    C_init : (P, P) warm start kernel (used when ``init`` is None).
    tol : relative tolerance on max|C_new − C|. max_iter : outer iterations.
    strict : raise RuntimeError instead of warning when not converged.
    """
    if not get_activation(spec.activation).linear:
        raise ValueError(f"linear_tree_level needs activation 'linear'; got {spec.activation!r} (use mc.tree_level)")
    if variant not in VARIANTS:
        raise ValueError(f"'variant' must be one of {VARIANTS}; got {variant!r}")
    t0 = time.perf_counter()
    X, y, X_test = check_data(X, y, X_test)
    tol = positive_float("tol", tol)
    max_iter = positive_int("max_iter", max_iter)
    P = X.shape[0]
    if init is not None:
        if not isinstance(init, TreeResult):
            raise ValueError(f"'init' must be a TreeResult of a linear network; got {type(init).__name__}")
        C_init = init.C
    red, rs = reduce_problem(X, y, spec)
    if C_init is not None:
        C_init = np.asarray(C_init, dtype=np.float64)
        if C_init.shape != (P, P) or not np.all(np.isfinite(C_init)):
            raise ValueError(f"'C_init' must be a finite ({P}, {P}) matrix; got shape {C_init.shape}")
        C_init = red.reduce_matrix(C_init)
    N, chi, k0 = spec.width, spec.chi, spec.kappa0
    try:
        Cr, ar, KBr, s, n_roots, n_iter, step = _tree_iteration(
            red.C0, red.y, N, chi, k0, variant, C_init, tol, max_iter
        )
    except FloatingPointError as exc:
        raise RuntimeError(f"tree level failed at chi={chi:g}, N={N}: {exc}") from None
    # (T1)/(T2) stationarity residual (docs/theory.md §4), evaluated with a = R y recomputed from C itself
    r = Cr.shape[0]
    Rr = sla.cho_solve(sla.cho_factor(Cr + k0 * np.eye(r), check_finite=False), np.eye(r), check_finite=False)
    Rr = 0.5 * (Rr + Rr.T)
    a_exact = Rr @ red.y
    Ct = 0.5 * chi * np.outer(a_exact, a_exact) - (0.5 * Rr if variant == "full" else 0.0)
    t2 = float(np.max(np.abs(Cr - red.C0 - (2.0 / N) * Cr @ Ct @ red.C0))) / max(1.0, float(np.max(np.abs(Cr))))
    residual = max(step if variant == "full" else 0.0, t2)
    converged = residual < max(1e3 * tol, 1e-10)
    if not converged:
        msg = (
            f"tree level did not converge at chi={chi:g}, N={N}: residual {residual:.2e} after {n_iter} "
            "iterations; increase 'max_iter', warm-start from a nearby chi (mc.anneal), or increase N"
        )
        if strict:
            raise RuntimeError(msg)
        warn(msg, ConvergenceWarning)
    # back to the original P-dimensional basis
    a = red.lift_a(ar, k0)
    f_train = y - k0 * a  # docs/theory.md §4: f_tree(X) = y − κ0 a
    C = red.lift_matrix(Cr)
    K_B = red.lift_matrix(KBr)
    f_test = rs.extend(X_test, f_train)
    # Σ_v⁻¹ in the row-space basis W (docs/theory.md §4): (D/g_v) I − (χ g_w/N) û ûᵀ + (g_w/N) S Uᵀ R U S
    D = X.shape[1]
    Us = rs.U * rs.S  # (P, r): X W = U S
    u = Us.T @ a
    prec = (D / spec.g_v) * np.eye(rs.rank) - (chi * spec.g_w / N) * np.outer(u, u)
    if variant == "full":
        R = red.lift_matrix(Rr) + (0.0 if red.B is None else (np.eye(P) - red.B @ red.B.T) / k0)
        prec = prec + (spec.g_w / N) * Us.T @ R @ Us
    return TreeResult(
        f_train=f_train,
        f_test=f_test,
        C=C,
        a=a,
        K_B=K_B,
        s=s,
        spec=spec,
        variant=variant,
        converged=converged,
        n_iter=n_iter,
        residual=residual,
        n_roots=n_roots,
        seconds=time.perf_counter() - t0,
        _precision_row=0.5 * (prec + prec.T),
        _W=rs.W,
    )
