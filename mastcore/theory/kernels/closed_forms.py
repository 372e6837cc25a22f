"""Closed-form kernels of linear, erf (arcsine) and ReLU (arc-cosine) networks and their derivatives
(docs/theory.md §9.1); mastcore.activations registers them as those activations' kernels.

k(c, q_a, q_b) = E[φ(h_a)φ(h_b)] for (h_a, h_b) centred Gaussian with variances q_a, q_b and covariance c;
``*_pair`` return k or (k, ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b) elementwise over broadcastable arrays, ``*_diag`` the diagonal
k(q) (and dk/dq) as a function of q alone. Pure numpy, float64.
"""
from __future__ import annotations

import numpy as np

__all__ = ["erf_diag", "erf_pair", "linear_diag", "linear_pair", "relu_diag", "relu_pair"]

#: Second moments below this are treated as 0 (a zero input vector): k = 0 for ReLU, no division by q.
_Q_FLOOR = 1e-300


def linear_pair(c, qa, qb, *, derivatives: bool = False):
    """φ = id: k = c."""
    c, qa, qb = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (c, qa, qb)))
    k = c.copy()
    if not derivatives:
        return k
    return k, np.ones_like(c), np.zeros_like(c), np.zeros_like(c)


def erf_pair(c, qa, qb, *, derivatives: bool = False):
    """erf (arcsine kernel): k = (2/π) arcsin(2c / √((1+2q_a)(1+2q_b)))."""
    c, qa, qb = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (c, qa, qb)))
    A, B = 1.0 + 2.0 * qa, 1.0 + 2.0 * qb
    AB = A * B
    delta = np.maximum(AB - 4.0 * c * c, 1e-300)  # > 0 always: AB − 4c² ≥ 1 + 2q_a + 2q_b by Cauchy–Schwarz
    k = (2.0 / np.pi) * np.arcsin(np.clip(2.0 * c / np.sqrt(AB), -1.0, 1.0))
    if not derivatives:
        return k
    sd = np.sqrt(delta)
    dc = (4.0 / np.pi) / sd
    return k, dc, -(4.0 / np.pi) * c / (A * sd), -(4.0 / np.pi) * c / (B * sd)


def relu_pair(c, qa, qb, *, derivatives: bool = False):
    """ReLU (arc-cosine kernel): k = (1/2π) [√(q_a q_b − c²) + (π − θ) c],  cos θ = c / √(q_a q_b)."""
    c, qa, qb = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (c, qa, qb)))
    qq = qa * qb
    ok = qq > _Q_FLOOR
    sq = np.sqrt(np.where(ok, qq, 1.0))
    cos = np.clip(np.where(ok, c / sq, 0.0), -1.0, 1.0)
    theta = np.arccos(cos)
    sin = np.sqrt(np.maximum(1.0 - cos * cos, 0.0))
    k = np.where(ok, (sq * sin + (np.pi - theta) * c) / (2.0 * np.pi), 0.0)
    if not derivatives:
        return k
    dc = np.where(ok, (np.pi - theta) / (2.0 * np.pi), 0.0)
    qa_s = np.where(qa > _Q_FLOOR, qa, 1.0)
    qb_s = np.where(qb > _Q_FLOOR, qb, 1.0)
    dqa = np.where(ok, sin * np.sqrt(qb / qa_s) / (4.0 * np.pi), 0.0)
    dqb = np.where(ok, sin * np.sqrt(qa / qb_s) / (4.0 * np.pi), 0.0)
    return k, dc, dqa, dqb


def linear_diag(q, *, derivative: bool = False):
    """φ = id: k = q, dk/dq = 1."""
    q = np.asarray(q, dtype=np.float64)
    return (q.copy(), np.ones_like(q)) if derivative else q.copy()


def erf_diag(q, *, derivative: bool = False):
    """erf: (2/π) arcsin(2q/(1+2q)), dk/dq = (4/π)/((1+2q)√(1+4q))."""
    q = np.asarray(q, dtype=np.float64)
    k = (2.0 / np.pi) * np.arcsin(2.0 * q / (1.0 + 2.0 * q))
    if not derivative:
        return k
    return k, (4.0 / np.pi) / ((1.0 + 2.0 * q) * np.sqrt(1.0 + 4.0 * q))


def relu_diag(q, *, derivative: bool = False):
    """ReLU: q/2, dk/dq = ½."""
    q = np.asarray(q, dtype=np.float64)
    return (0.5 * q, np.full_like(q, 0.5)) if derivative else 0.5 * q
