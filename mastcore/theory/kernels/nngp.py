"""NNGP kernels of every activation and the NNGP predictor (docs/theory.md §2, §3, §9.1)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...activations import get_activation
from ..._api import check_spec, solver
from ..._linalg import MEMO, _gp_predict, content_key
from ..._plumbing.validation import check_data
from ...results import Result
from ...specs import NetworkSpec
from .gaussian_law import kernel

__all__ = ["GPResult", "cross_kernel", "linear_kernel", "nngp", "nngp_kernel", "train_kernel", "train_kernel_eigh"]


def linear_kernel(X, X2, spec: NetworkSpec) -> np.ndarray:
    """NNGP kernel of the linear network, C0(x, x') = (g_w g_v / D) x·x' (docs/theory.md §2). Shape (len(X), len(X2))."""
    D = X.shape[1]
    return (spec.g_w * spec.g_v / D) * (X @ X2.T)


def nngp_kernel(X, X2, spec: NetworkSpec) -> np.ndarray:
    """NNGP kernel C0 = g_w k(X Σ X2ᵀ) at Σ = (g_v/D) I for ``spec.activation`` (docs/theory.md §3, §9.1).

    X : (n, D), X2 : (m, D). Returns (n, m).
    """
    check_spec(spec)
    if get_activation(spec.activation).linear:
        return linear_kernel(X, X2, spec)
    X = np.asarray(X, dtype=np.float64)
    return spec.g_w * kernel(X, X2, spec.g_v / X.shape[1], spec.activation, same=X2 is X)


def _kernel_key(X, spec: NetworkSpec) -> tuple:
    # C0 of the train set depends on X, the activation, g_v and g_w only (not on χ, N or κ0)
    return content_key(X), spec.activation, float(spec.g_v), float(spec.g_w)


def train_kernel(X, spec: NetworkSpec) -> np.ndarray:
    """C0 = nngp_kernel(X, X, spec) (P, P), memoised on the content of X and (activation, g_v, g_w): computed once
    per data set and reused across χ and methods (docs/theory.md §17). Read-only."""
    X = np.asarray(X, dtype=np.float64)
    return MEMO.get("nngp_kernel", _kernel_key(X, spec), lambda: nngp_kernel(X, X, spec))


def train_kernel_eigh(X, spec: NetworkSpec) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition (λ (P,) ascending, Q (P, P)) of :func:`train_kernel`, memoised like it. Read-only."""
    X = np.asarray(X, dtype=np.float64)

    def compute():
        C0 = train_kernel(X, spec)
        return tuple(np.linalg.eigh(0.5 * (C0 + C0.T)))

    return MEMO.get("nngp_kernel_eigh", _kernel_key(X, spec), compute)


def cross_kernel(X_test, X, spec: NetworkSpec) -> np.ndarray:
    """C0(X*, X) = nngp_kernel(X_test, X, spec) (P*, P), memoised like :func:`train_kernel`. Read-only."""
    X_test, X = np.asarray(X_test, dtype=np.float64), np.asarray(X, dtype=np.float64)
    key = (content_key(X_test), *_kernel_key(X, spec))
    return MEMO.get("nngp_cross_kernel", key, lambda: nngp_kernel(X_test, X, spec))


@dataclass(frozen=True, kw_only=True)
class GPResult(Result):
    """GP / NNGP prediction (docs/theory.md §3). C : (P, P) the kernel used. The residual is 0 (closed form)."""

    C: np.ndarray
    method: str = "nngp"
    converged: bool = True
    n_iter: int = 0
    residual: float = 0.0


@solver("nngp")
def nngp(X, y, spec: NetworkSpec, X_test=None) -> GPResult:
    """NNGP predictor f = C0 (C0 + κ0)⁻¹ y on the train set and C0(X*, X)(C0 + κ0)⁻¹ y on X* (docs/theory.md §3).

    Parameters
    ----------
    X : (P, D) array, y : (P,) array, X_test : (P*, D) array or None
    spec : NetworkSpec (χ does not enter: the NNGP predictor is χ-independent)
    """
    t0 = time.perf_counter()
    X, y, X_test = check_data(X, y, X_test)
    C0 = train_kernel(X, spec)
    K_test = None if X_test is None else cross_kernel(X_test, X, spec)
    f, f_test = _gp_predict(C0, y, spec.kappa0, K_test)
    return GPResult(f_train=f, f_test=f_test, C=C0, spec=spec, seconds=time.perf_counter() - t0)
