"""Closed-form kernels of linear, erf (arcsine) and ReLU (arc-cosine) networks and their derivatives
(docs/theory.md §9.1); mastcore.activations registers them as those activations' kernels.

k(c, q_a, q_b) = E[φ(h_a)φ(h_b)] for (h_a, h_b) centred Gaussian with variances q_a, q_b and covariance c;
``*_pair`` return k or (k, ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b) elementwise over broadcastable arrays, ``*_diag`` the diagonal
k(q) (and dk/dq) as a function of q alone. Pure numpy, float64.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bvn_upper", "erf_diag", "erf_pair", "linear_diag", "linear_pair", "relu_diag", "relu_mean_diag",
           "relu_mean_pair", "relu_pair"]

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


# --- ReLU with a non-zero mean (the ``gaussian_mean`` ansatz, docs/theory.md §9.3) -----------------------------

_SQRT2PI = np.sqrt(2.0 * np.pi)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_GL_X = 1.0 + _GL_X  # Genz's nodes on (0, 2)


def _ndtr(x):
    from scipy.special import ndtr  # noqa: PLC0415

    return ndtr(x)


def bvn_upper(h, k, r):
    """P(Z1 > h, Z2 > k) for standard normals with correlation r, elementwise (Genz's BVNU, as in Genz 2004,
    "Numerical computation of rectangular bivariate and trivariate normal and t probabilities"): Gauss–Legendre
    (20 nodes) on the arcsine form for |r| < 0.925, Drezner–Wesolowsky's expansion near |r| = 1. Accuracy ~1e-15."""
    h, k, r = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (h, k, r)))
    out = np.empty(h.shape)
    hk = h * k
    low = np.abs(r) < 0.925
    if np.any(low):
        hl, kl, rl = h[low], k[low], r[low]
        hs = 0.5 * (hl * hl + kl * kl)
        asr = 0.5 * np.arcsin(rl)
        sn = np.sin(asr[:, None] * _GL_X)
        s = np.exp((sn * (hl * kl)[:, None] - hs[:, None]) / (1.0 - sn * sn)) @ _GL_W
        out[low] = s * asr / (2.0 * np.pi) + _ndtr(-hl) * _ndtr(-kl)
    high = ~low
    if np.any(high):
        hh, rh = h[high], r[high]
        kh = np.where(rh < 0, -k[high], k[high])
        hkh = np.where(rh < 0, -hk[high], hk[high])
        bvn = np.zeros(hh.shape)
        inner = np.abs(rh) < 1.0
        if np.any(inner):
            hi, ki, hki, ri = hh[inner], kh[inner], hkh[inner], rh[inner]
            as_ = 1.0 - ri * ri
            a = np.sqrt(as_)
            bs = (hi - ki) ** 2
            c = (4.0 - hki) / 8.0
            d = (12.0 - hki) / 80.0
            asr = -0.5 * (bs / as_ + hki)
            v = np.where(asr > -100, a * np.exp(np.maximum(asr, -100)) * (1 - c * (bs - as_) * (1 - d * bs) / 3
                                                                           + c * d * as_ * as_), 0.0)
            b = np.sqrt(bs)
            sp = _SQRT2PI * _ndtr(-b / a)
            v = v - np.where(hki > -100, np.exp(-0.5 * np.maximum(hki, -200)) * sp * b * (1 - c * bs * (1 - d * bs) / 3),
                             0.0)
            a2 = 0.5 * a
            xs = (a2[:, None] * _GL_X) ** 2
            asx = -0.5 * (bs[:, None] / xs + hki[:, None])
            spx = 1 + c[:, None] * xs * (1 + 5 * d[:, None] * xs)
            rs = np.sqrt(1 - xs)
            ep = np.exp(-(hki[:, None] / 2) * xs / (1 + rs) ** 2) / rs
            terms = np.where(asx > -100, np.exp(np.maximum(asx, -100)) * (spx - ep), 0.0)
            bvn[inner] = (a2 * (terms @ _GL_W) - v) / (2.0 * np.pi)
        pos = rh > 0
        L = np.where(hh < 0, _ndtr(kh) - _ndtr(hh), _ndtr(-hh) - _ndtr(-kh))
        bvn = np.where(pos, bvn + _ndtr(-np.maximum(hh, kh)), np.where(hh >= kh, -bvn, L - bvn))
        out[high] = bvn
    return np.clip(out, 0.0, 1.0)


def relu_mean_pair(ma, qa, mb, qb, c, *, derivatives: bool = False):
    """E[relu(h_a) relu(h_b)] for (h_a, h_b) Gaussian with means m, variances q and covariance c (docs/theory.md §9.3).

    With α = m_a/√q_a, β = m_b/√q_b, ρ = c/√(q_a q_b), s = √(1 − ρ²), Φ2 = P(Z1 > −α, Z2 > −β),
    A = Φ((α − ρβ)/s), B = Φ((β − ρα)/s), E0 = φ(α) φ((β − ρα)/s):
        k = √(q_a q_b) [(αβ + ρ) Φ2 + α φ(β) A + β φ(α) B + s E0],
    and by Price's theorem ∂k/∂c = Φ2, ∂k/∂m_a = E[1{h_a > 0} relu(h_b)] = √q_b [β Φ2 + φ(β) A + ρ φ(α) B],
    ∂k/∂q_a = ½ E[δ(h_a) relu(h_b)] = ½ √(q_b/q_a) [φ(α)(β − ρα) B + s E0] (and a ↔ b).
    Returns k, or (k, ∂k/∂c, ∂k/∂m_a, ∂k/∂m_b, ∂k/∂q_a, ∂k/∂q_b) if ``derivatives``. q > 0 required.
    """
    ma, qa, mb, qb, c = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (ma, qa, mb, qb, c)))
    sa, sb = np.sqrt(qa), np.sqrt(qb)
    al, be = ma / sa, mb / sb
    rho = np.clip(c / (sa * sb), -1.0, 1.0)
    s = np.sqrt(np.maximum(1.0 - rho * rho, 1e-30))
    p2 = bvn_upper(-al, -be, rho)
    pa, pb = np.exp(-0.5 * al * al) / _SQRT2PI, np.exp(-0.5 * be * be) / _SQRT2PI
    ua, ub = (al - rho * be) / s, (be - rho * al) / s
    A, B = _ndtr(ua), _ndtr(ub)
    E0 = pa * np.exp(-0.5 * ub * ub) / _SQRT2PI
    k = sa * sb * ((al * be + rho) * p2 + al * pb * A + be * pa * B + s * E0)
    if not derivatives:
        return k
    dma = sb * (be * p2 + pb * A + rho * pa * B)
    dmb = sa * (al * p2 + pa * B + rho * pb * A)
    dqa = 0.5 * (sb / sa) * (pa * (be - rho * al) * B + s * E0)
    dqb = 0.5 * (sa / sb) * (pb * (al - rho * be) * A + s * E0)
    return k, p2, dma, dmb, dqa, dqb


def relu_mean_diag(m, q, *, derivative: bool = False):
    """E[relu(h)²] for h ~ N(m, q): (m² + q) Φ(m/√q) + m √q φ(m/√q); d/dm = 2 E[relu(h)], d/dq = Φ(m/√q)."""
    m, q = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (m, q)))
    s = np.sqrt(q)
    z = m / s
    Phi, phi = _ndtr(z), np.exp(-0.5 * z * z) / _SQRT2PI
    k = (m * m + q) * Phi + m * s * phi
    if not derivative:
        return k
    return k, 2.0 * (m * Phi + s * phi), Phi
