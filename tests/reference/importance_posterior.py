"""Exact posterior mean of a small erf/ReLU/linear two-layer network by importance sampling of the hidden weights.

Integrating out the readout (docs/theory.md §2.1), p(V | y) ∝ prior(V) e^{L(C(V))} with C(V) = (g_w/N) φ(XVᵀ)φ(XVᵀ)ᵀ and
⟨Δ⟩ = E[κ0 (C + κ0)⁻¹ y | y]. Drawing V from the prior and weighting by e^{L(C)} is exact and unbiased as the number
of draws grows (self-normalised); the weights' log-variance is O(P/N) at χ = 1, so it is efficient there (not at
χ ~ N). Error bars from independent batches. Shares no code with mastcore. Used by the slow checks of §12.
"""
from __future__ import annotations

import numpy as np
from scipy.special import erf


def _phi(activation):
    return {"erf": erf, "relu": lambda h: np.maximum(h, 0.0), "linear": lambda h: h}[activation]


def importance_mean_delta(X, y, *, width, chi=1.0, kappa0, g_v=1.0, g_w=1.0, activation="erf", n_samples=1_000_000,
                          batch=20000, n_groups=10, seed=0):
    """(⟨Δ⟩ (P,), its standard error (P,), variance of the log weights) for the network of the module docstring."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    P, D = X.shape
    phi = _phi(activation)
    rng = np.random.default_rng(seed)
    nums, dens, logs = [], [], []
    shift = None
    for _ in range(max(1, n_samples // batch)):
        V = rng.standard_normal((batch, width, D)) * np.sqrt(g_v / D)
        F = phi(V @ X.T)  # (B, N, P)
        A = (g_w / width) * np.einsum("bnp,bnq->bpq", F, F) + kappa0 * np.eye(P)
        Lc = np.linalg.cholesky(A)
        a = np.linalg.solve(A, np.broadcast_to(y, (batch, P))[..., None])[..., 0]
        logw = -0.5 * chi * (a @ y) - np.log(np.diagonal(Lc, axis1=1, axis2=2)).sum(1)
        if shift is None:
            shift = float(logw.max())
        w = np.exp(logw - shift)
        nums.append((w[:, None] * kappa0 * a).sum(0))
        dens.append(w.sum())
        logs.append(logw)
    nums, dens = np.array(nums), np.array(dens)
    mean = nums.sum(0) / dens.sum()
    groups = np.array_split(np.arange(len(dens)), n_groups)
    reps = np.array([nums[g].sum(0) / dens[g].sum() for g in groups])
    se = reps.std(0, ddof=1) / np.sqrt(len(groups))
    return mean, se, float(np.concatenate(logs).var())
