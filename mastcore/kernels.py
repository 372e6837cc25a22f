"""NNGP kernels and the GP predictor (THEORY.md §2–§3).

Only the linear kernel lives here; the erf/ReLU kernels of §9 are added by the nonlinear module and
dispatched through :func:`nngp_kernel`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from ._validation import check_data
from .specs import NetworkSpec

__all__ = ["GPResult", "RowSpace", "gp_predict", "linear_kernel", "nngp", "nngp_kernel", "row_space"]

#: Singular values below RANK_RTOL * max singular value are treated as zero (X rank-deficient).
RANK_RTOL = 1e-10


def linear_kernel(X, X2, spec: NetworkSpec) -> np.ndarray:
    """NNGP kernel of the linear network, C0(x, x') = (g_w g_v / D) x·x' (THEORY §2). Shape (len(X), len(X2))."""
    D = X.shape[1]
    return (spec.g_w * spec.g_v / D) * (X @ X2.T)


def nngp_kernel(X, X2, spec: NetworkSpec) -> np.ndarray:
    """NNGP kernel for ``spec.activation`` between the rows of X (n, D) and X2 (m, D)."""
    if spec.activation == "linear":
        return linear_kernel(X, X2, spec)
    from . import nonlinear  # noqa: PLC0415  (optional module, added for erf/ReLU)

    return nonlinear.nngp_kernel(X, X2, spec)


@dataclass(frozen=True)
class RowSpace:
    """Thin SVD of X = U diag(S) Wᵀ restricted to its rank r (THEORY §7, §11).

    U : (P, r), S : (r,), W : (D, r). ``full`` is True when r = P (C0 invertible); the solvers then work
    in the original basis, otherwise in the r-dimensional row space.
    """

    U: np.ndarray
    S: np.ndarray
    W: np.ndarray

    @property
    def rank(self) -> int:
        return int(self.S.shape[0])

    @property
    def full(self) -> bool:
        return self.rank == self.U.shape[0]

    def pinv_apply(self, f: np.ndarray) -> np.ndarray:
        """β = X⁺ f (D,) for a train-set vector f (P,)."""
        return self.W @ ((self.U.T @ f) / self.S)

    def extend(self, X_test, f_train: np.ndarray):
        """Test predictions of a linear network, X* X⁺ f(X) (THEORY §2)."""
        if X_test is None:
            return None
        return X_test @ self.pinv_apply(f_train)


def row_space(X: np.ndarray) -> RowSpace:
    """Rank-revealing thin SVD of X (P, D)."""
    U, S, Wt = np.linalg.svd(X, full_matrices=False)
    keep = S > RANK_RTOL * S[0] if S.size and S[0] > 0 else np.zeros_like(S, dtype=bool)
    if not np.any(keep):
        raise ValueError("'X' must not be all zeros (its rank is 0, the network output is identically 0)")
    return RowSpace(U=U[:, keep], S=S[keep], W=Wt[keep].T)


@dataclass(frozen=True)
class GPResult:
    """GP / NNGP prediction. Arrays: f_train (P,), f_test (P*,) or None, C (P, P) the kernel used."""

    f_train: np.ndarray
    f_test: np.ndarray | None
    C: np.ndarray
    spec: NetworkSpec
    method: str = "nngp"
    converged: bool = True
    n_iter: int = 0
    residual: float = 0.0
    seconds: float = 0.0


def gp_predict(K, y, kappa0: float, K_test=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior mean of a GP with kernel K (P, P) and noise κ0: K (K + κ0)⁻¹ y (THEORY §3).

    ``K_test`` (P*, P) is the test–train kernel. Raises ValueError with a remedy if K + κ0 is not positive definite.
    """
    A = K + kappa0 * np.eye(K.shape[0])
    try:
        cf = sla.cho_factor(A, lower=True)
    except np.linalg.LinAlgError:
        raise ValueError(
            "kernel + kappa0·I is not positive definite; increase 'kappa0' or check the inputs for duplicated "
            "rows with different scales"
        ) from None
    alpha = sla.cho_solve(cf, y)
    f_test = None if K_test is None else K_test @ alpha
    return K @ alpha, f_test


def nngp(X, y, spec: NetworkSpec, X_test=None) -> GPResult:
    """NNGP predictor f = C0 (C0 + κ0)⁻¹ y on the train set and C0(X*, X)(C0 + κ0)⁻¹ y on X* (THEORY §3).

    Parameters
    ----------
    X : (P, D) array, y : (P,) array, X_test : (P*, D) array or None
    spec : NetworkSpec (χ does not enter: the NNGP predictor is χ-independent)
    """
    import time

    t0 = time.perf_counter()
    X, y, X_test = check_data(X, y, X_test)
    C0 = nngp_kernel(X, X, spec)
    K_test = None if X_test is None else nngp_kernel(X_test, X, spec)
    f, f_test = gp_predict(C0, y, spec.kappa0, K_test)
    return GPResult(f_train=f, f_test=f_test, C=C0, spec=spec, seconds=time.perf_counter() - t0)
