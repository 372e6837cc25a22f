"""What the tree level says about feature learning, summarised (docs/theory.md §4.2, §4.6).

:func:`feature_summary` gathers, at one χ: the NNGP and adapted kernels, the spectrum of the per-neuron weight
covariance Σ_v with its outlier and the overlap of its top eigenvector with the task direction, the rescaling
factor s, and how much of the feature-learning shift of the mean predictor a single rescaled NNGP kernel s·C0
misses (the paper's "kernel adaptation is a rescaling" claim, checked on the data at hand).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from ..._linalg import _gp_predict
from ..kernels.nngp import nngp_kernel

__all__ = ["feature_summary"]

#: Bounds of the scalar searched for the best rescaled NNGP kernel s_fit·C0.
S_FIT_BOUNDS = (1e-3, 1e3)


def feature_summary(tree, X, y, direction=None) -> dict:
    """Feature-learning quantities of a tree-level result ``tree`` on the train set (X, y).

    Returns a dict with C0 (P, P) NNGP kernel, C (P, P) adapted kernel, order (P,) points sorted by label,
    eig (D,) spectrum of Σ_v in units of g_v/D (descending), s, overlap (|top eigenvector · direction|, NaN without
    a direction), s_fit, shift = max|f_tree − f_NNGP| and rescaling_gap = max|f_tree − GP(s_fit·C0)| / shift.
    """
    spec = tree.spec
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    C0 = nngp_kernel(X, X, spec)
    f_nngp, _ = _gp_predict(C0, y, spec.kappa0)
    prior = spec.g_v / X.shape[1]
    eig, vec = tree.sigma_v_eigh()
    out = dict(C0=C0, C=np.asarray(tree.C), order=np.argsort(y, kind="stable"), s=float(tree.s), eig=eig / prior)
    out["overlap"] = float(abs(vec[:, 0] @ direction)) if direction is not None else float("nan")
    shift = float(np.max(np.abs(tree.f_train - f_nngp)))

    def miss(log_s):
        f, _ = _gp_predict(np.exp(log_s) * C0, y, spec.kappa0)
        return float(np.max(np.abs(tree.f_train - f)))

    lo, hi = np.log(S_FIT_BOUNDS)
    fit = minimize_scalar(miss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    out.update(s_fit=float(np.exp(fit.x)), shift=shift, rescaling_gap=float(fit.fun) / shift if shift > 0 else 0.0)
    return out
