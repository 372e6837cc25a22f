"""The data term of the kernel action, L(C), and its first derivative (docs/theory.md §2, §4)."""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

__all__ = ["dual", "likelihood"]


def likelihood(C, y, chi, kappa0):
    """L(C) = −(χ/2) yᵀ(C+κ0)⁻¹y − ½ log det(C+κ0), with R and a = R y (docs/theory.md §2)."""
    P = C.shape[0]
    cf = sla.cho_factor(C + kappa0 * np.eye(P), lower=True)
    R = sla.cho_solve(cf, np.eye(P))
    R = 0.5 * (R + R.T)
    a = R @ y
    logdet = 2.0 * np.sum(np.log(np.diag(cf[0])))
    return -0.5 * chi * float(y @ a) - 0.5 * logdet, R, a


def dual(C, y, chi, kappa0):
    """C̃ = ∂L/∂C = (χ/2) a aᵀ − ½ R at kernel C (docs/theory.md §4, (T1)), and a = (C + κ0)⁻¹ y."""
    _, R, a = likelihood(C, y, chi, kappa0)
    return 0.5 * chi * np.outer(a, a) - 0.5 * R, a
