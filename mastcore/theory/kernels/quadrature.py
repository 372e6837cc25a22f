"""The kernel of any activation by Gauss–Hermite quadrature (docs/theory.md §9.7).

For (h_a, h_b) centred Gaussian with variances q_a, q_b and covariance c, write h_a = √q_a z₁,
h_b = √q_b (ρ z₁ + √(1 − ρ²) z₂) with ρ = c/√(q_a q_b) (the Cholesky factor of [[q_a, c], [c, q_b]]) and z₁, z₂
independent standard normals. Then

  k = E[φ(h_a)φ(h_b)] ≈ Σ_ij w_i w_j φ(h_a(z_i)) φ(h_b(z_i, z_j))

with the n-node probabilists' Gauss–Hermite rule (z_i, w_i), Σ w_i = 1. The derivatives need φ' only:

  ∂k/∂c   = E[φ'(h_a)φ'(h_b)]                                  (Price's theorem)
  ∂k/∂q_a = E[φ'(h_a) h_a φ(h_b)]/(2q_a) − c ∂k/∂c/(2q_a)      (q_a at fixed ρ, then ρ at fixed q_a)
  ∂k/∂q_b = E[φ(h_a) φ'(h_b) h_b]/(2q_b) − c ∂k/∂c/(2q_b)

(no division by √(1 − ρ²), so nearly equal points are safe). The diagonal k(q) = E[φ(√q z)²] and
dk/dq = E[φ(h)φ'(h) h]/q use the one-dimensional rule. For smooth φ the rule converges spectrally; a kink
(ReLU-like φ) converges only algebraically (docs/theory.md §9.7 gives the measured errors).

Pure numpy, float64; arrays of pairs are processed in blocks of at most :data:`BLOCK_NODES` function values.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["BLOCK_NODES", "gh_diag_kernel", "gh_pair_kernel", "gh_rule"]

#: Function values held at once (pairs per block × n²): bounds the temporaries to a few tens of MB.
BLOCK_NODES = 1 << 20
#: Variances below this are treated as 0 (a zero input vector: h = 0 exactly).
_Q_FLOOR = 1e-300


@functools.lru_cache(maxsize=16)
def gh_rule(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z (n,) and weights w (n,) of the probabilists' Gauss–Hermite rule: E[g(z)] ≈ Σ w g(z), z ~ N(0, 1)."""
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 2:
        raise ValueError(f"'degree' must be an integer >= 2; got {degree!r}")
    z, w = np.polynomial.hermite_e.hermegauss(int(degree))
    w = w / w.sum()  # = w/√(2π) up to rounding
    z.flags.writeable = False
    w.flags.writeable = False
    return z, w


def gh_pair_kernel(phi, dphi, c, qa, qb, *, degree: int, derivatives: bool = False):
    """k(c, q_a, q_b) = E[φ(h_a)φ(h_b)] by n×n Gauss–Hermite quadrature, elementwise over broadcastable arrays.

    Parameters
    ----------
    phi, dphi : φ and φ' on numpy float64 arrays (elementwise).
    c, qa, qb : covariance and variances (broadcastable; q ≥ 0, c² ≤ q_a q_b up to rounding).
    degree : nodes per Gaussian coordinate.
    derivatives : also return ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b.

    Returns
    -------
    k, or (k, dc, dqa, dqb), arrays of the broadcast shape.
    """
    c, qa, qb = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (c, qa, qb)))
    shape = c.shape
    c, qa, qb = c.ravel(), qa.ravel(), qb.ravel()
    z, w = gh_rule(degree)
    n = z.size
    out = [np.empty(c.size) for _ in range(4 if derivatives else 1)]
    step = max(1, BLOCK_NODES // (n * n))
    for s in range(0, c.size, step):
        sl = slice(s, s + step)
        for o, v in zip(out, _pair_block(phi, dphi, c[sl], qa[sl], qb[sl], z, w, derivatives)):
            o[sl] = v
    out = [o.reshape(shape) for o in out]
    return tuple(out) if derivatives else out[0]


def _pair_block(phi, dphi, c, qa, qb, z, w, derivatives):
    sa, sb = np.sqrt(np.maximum(qa, 0.0)), np.sqrt(np.maximum(qb, 0.0))
    ok = (qa > _Q_FLOOR) & (qb > _Q_FLOOR)
    rho = np.clip(np.where(ok, c / np.where(ok, sa * sb, 1.0), 0.0), -1.0, 1.0)
    rc = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
    ha = sa[:, None] * z[None, :]  # (m, n): h_a at z_i
    hb = sb[:, None, None] * (rho[:, None, None] * z[None, :, None] + rc[:, None, None] * z[None, None, :])
    Fa, Fb = phi(ha), phi(hb)  # (m, n), (m, n, n)
    inner = Fb @ w  # Σ_j w_j φ(h_b(z_i, z_j))  (m, n)
    k = (Fa * inner) @ w
    if not derivatives:
        return (k,)
    dFa, dFb = dphi(ha), dphi(hb)
    dc = (dFa * (dFb @ w)) @ w  # Price: E[φ'(h_a)φ'(h_b)]
    qa_s, qb_s = np.where(qa > _Q_FLOOR, qa, 1.0), np.where(qb > _Q_FLOOR, qb, 1.0)
    ea = (dFa * ha * inner) @ w  # E[φ'(h_a) h_a φ(h_b)]
    eb = (Fa * ((dFb * hb) @ w)) @ w  # E[φ(h_a) φ'(h_b) h_b]
    dqa = np.where(ok, (ea - c * dc) / (2.0 * qa_s), 0.0)
    dqb = np.where(ok, (eb - c * dc) / (2.0 * qb_s), 0.0)
    return k, dc, dqa, dqb


def gh_diag_kernel(phi, dphi, q, *, degree: int, derivative: bool = False):
    """k(q) = E[φ(h)²], h ~ N(0, q), and dk/dq = E[φ(h)φ'(h)h]/q, elementwise over an array q ≥ 0.

    At q = 0 the quotient is taken at q = 1e-12 (its limit is φ'(0)² + φ(0)φ''(0)).
    """
    q = np.asarray(q, dtype=np.float64)
    z, w = gh_rule(degree)
    h = np.sqrt(np.maximum(q, 0.0))[..., None] * z
    F = phi(h)
    k = (F * F) @ w
    if not derivative:
        return k
    qd = np.maximum(q, 1e-12)
    hd = np.sqrt(qd)[..., None] * z
    Fd = phi(hd)
    return k, ((Fd * dphi(hd) * hd) @ w) / qd
