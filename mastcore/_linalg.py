"""Linear algebra shared by the solvers: the row space of X and the GP predictor (docs/theory.md §2, §3, §11)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from ._plumbing.memo import ArrayMemo, call_scope, content_key
from ._plumbing.validation import as_matrix, as_vector, positive_float

__all__ = ["MEMO", "RANK_RTOL", "RowSpace", "call_scope", "content_key", "gp_predict", "no_memo", "row_space"]

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


#: Work that depends on the data only — the row space of X, the NNGP kernel of X and its eigendecomposition — is
#: memoised on the content of X (and the kernel's parameters): a sweep, or a user calling a solver once per χ in a
#: loop, computes it once (docs/theory.md §11, §17). Bounded in entries and bytes, least recently used first out:
#: the library's one byte-bounded LRU (mastcore._plumbing.memo).
MEMO_ITEMS = 16
MEMO_MAX_BYTES = 256 * 2**20

#: The solvers' memo class (``_Memo(max_items, max_bytes)``, ``get(kind, key, compute)``); other stores of the
#: theory (band companions, shared prior samples) are made from it too.
_Memo = ArrayMemo

MEMO = ArrayMemo(MEMO_ITEMS, MEMO_MAX_BYTES)


@contextlib.contextmanager
def no_memo():
    """Context in which nothing is memoised or reused (to check that the memo changes no result)."""
    old, MEMO.enabled = MEMO.enabled, False
    try:
        yield
    finally:
        MEMO.enabled = old


def row_space(X: np.ndarray) -> RowSpace:
    """Rank-revealing thin SVD of X (P, D), memoised on the content of X (the arrays are read-only)."""
    X = np.asarray(X, dtype=np.float64)
    return MEMO.get("row_space", content_key(X), lambda: _row_space(X))


def _row_space(X: np.ndarray) -> RowSpace:
    U, S, Wt = np.linalg.svd(X, full_matrices=False)
    keep = S > RANK_RTOL * S[0] if S.size and S[0] > 0 else np.zeros_like(S, dtype=bool)
    if not np.any(keep):
        raise ValueError("'X' must not be all zeros (its rank is 0, the network output is identically 0)")
    return RowSpace(U=U[:, keep], S=S[keep], W=Wt[keep].T)


#: Relative asymmetry max|K − Kᵀ| / max|K| that a kernel passed to :func:`gp_predict` may have (rounding of a
#: kernel formed as a product, far above float64 rounding, far below any real asymmetry).
SYMMETRY_RTOL = 1e-8


def gp_predict(K, y, kappa0: float, K_test=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior mean of a GP with kernel K (P, P) and noise κ0: K (K + κ0)⁻¹ y (docs/theory.md §3).

    ``K_test`` (P*, P) is the test–train kernel. Validates its arguments (ValueError naming them: K square and
    symmetric, y of length P, κ0 > 0, K_test with P columns). Raises ValueError with a remedy if K + κ0 is not
    positive definite.
    """
    K = as_matrix("K", K)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"'K' must be a square (P, P) kernel matrix; got shape {K.shape}")
    top = float(np.max(np.abs(K)))
    for i in range(0, K.shape[0], 1024):  # blocks: no second (P, P) temporary
        gap = float(np.max(np.abs(K[i:i + 1024] - K[:, i:i + 1024].T)))
        if gap > SYMMETRY_RTOL * top:
            raise ValueError(f"'K' must be symmetric (a kernel matrix); got max|K − Kᵀ| = {gap:.3g} "
                             f"(max|K| = {top:.3g}); symmetrise it with (K + K.T) / 2 if the asymmetry is rounding")
    y = as_vector("y", y, length=K.shape[0], rows_of="K")
    kappa0 = positive_float("kappa0", kappa0)
    if K_test is not None:
        K_test = as_matrix("K_test", K_test, allow_empty=True)
        if K_test.shape[1] != K.shape[0]:
            raise ValueError(f"'K_test' must have P = {K.shape[0]} columns (test–train kernel); got shape "
                             f"{K_test.shape}")
    return _gp_predict(K, y, kappa0, K_test)


def _gp_predict(K, y, kappa0: float, K_test=None) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`gp_predict` without the validation (the solvers' inputs are validated once, at their entry)."""
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
