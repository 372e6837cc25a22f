"""Linear algebra shared by the solvers: the row space of X and the GP predictor (docs/theory.md §2, §3, §11)."""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

__all__ = ["RANK_RTOL", "RowSpace", "gp_predict", "row_space"]

#: Singular values below RANK_RTOL * max singular value are treated as zero (X rank-deficient).
RANK_RTOL = 1e-10


@dataclass(frozen=True)
class RowSpace:
    """Thin SVD of X = U diag(S) Wᵀ restricted to its rank r (docs/theory.md §7, §11).

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
        """Test predictions of a linear network, X* X⁺ f(X) (docs/theory.md §2)."""
        if X_test is None:
            return None
        return X_test @ self.pinv_apply(f_train)


#: Row spaces of the most recent inputs, keyed on the array's content: a sweep, or a user calling a solver once per
#: χ in a loop, computes the SVD of X once (docs/theory.md §11).
_ROW_SPACES: OrderedDict = OrderedDict()
ROW_SPACE_MEMO = 8


def _content_key(X: np.ndarray) -> tuple:
    return X.shape, hashlib.blake2b(np.ascontiguousarray(X).view(np.uint8), digest_size=16).digest()


def row_space(X: np.ndarray) -> RowSpace:
    """Rank-revealing thin SVD of X (P, D), memoised on the content of X (the arrays are read-only)."""
    X = np.asarray(X, dtype=np.float64)
    key = _content_key(X)
    hit = _ROW_SPACES.get(key)
    if hit is not None:
        _ROW_SPACES.move_to_end(key)
        return hit
    U, S, Wt = np.linalg.svd(X, full_matrices=False)
    keep = S > RANK_RTOL * S[0] if S.size and S[0] > 0 else np.zeros_like(S, dtype=bool)
    if not np.any(keep):
        raise ValueError("'X' must not be all zeros (its rank is 0, the network output is identically 0)")
    rs = RowSpace(U=U[:, keep], S=S[keep], W=Wt[keep].T)
    for arr in (rs.U, rs.S, rs.W):
        arr.flags.writeable = False
    _ROW_SPACES[key] = rs
    while len(_ROW_SPACES) > ROW_SPACE_MEMO:
        _ROW_SPACES.popitem(last=False)
    return rs


def gp_predict(K, y, kappa0: float, K_test=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior mean of a GP with kernel K (P, P) and noise κ0: K (K + κ0)⁻¹ y (docs/theory.md §3).

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
