"""Kernels of every registered activation on a general weight covariance (docs/theory.md §9).

For a hidden unit h(x) = v·x with v ~ N(0, Σ), the kernel k(x, x') = E[φ(h(x)) φ(h(x'))] depends only on the
second moments q = xᵀΣx, q' = x'ᵀΣx', c = xᵀΣx'. This module gives k and its partial derivatives
(∂k/∂c, ∂k/∂q, ∂k/∂q'; on the diagonal dk/dq as a function of q alone) and the Gram-matrix helpers used by the
Gaussian-ansatz tree level, plus the non-zero-mean kernel E[φ(h)φ(h')] with h ~ N(m, ·) (torch, differentiable)
used by the ``gaussian_mean`` ansatz. Each activation's record supplies its kernel: the closed forms of linear, erf
(arcsine) and ReLU (arc-cosine) networks (mastcore.theory.kernels.closed_forms), Gauss–Hermite quadrature for any other φ
(mastcore.theory.kernels.quadrature).

Everything here is pure: arrays in, arrays out, float64. The network kernel is C = g_w k (docs/theory.md §9).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...activations import ACTIVATIONS, get_activation
from .closed_forms import erf_diag, erf_pair, linear_diag, linear_pair, relu_diag, relu_pair  # noqa: F401

__all__ = [
    "NONLINEAR",
    "GramParts",
    "MeanGramParts",
    "activation_fn",
    "diag_kernel",
    "fast_activation_fn",
    "gram_parts",
    "kernel",
    "kernel_gradient_matrix",
    "mean_cross",
    "mean_gradients",
    "mean_gram_parts",
    "pair_kernel",
    "smoothed_feature_sums",
    "smoothed_features",
]


class _Nonlinear:
    """The registered activations that are not the identity (a live view of mastcore.ACTIVATIONS)."""

    def __iter__(self):
        return iter(tuple(n for n, a in ACTIVATIONS.items() if not a.linear))

    def __contains__(self, name):
        return name in ACTIVATIONS and not ACTIVATIONS[name].linear

    def __repr__(self) -> str:
        return repr(tuple(self))


#: The registered activations handled here besides the identity (k = M; included so the same solver covers it).
NONLINEAR = _Nonlinear()


def activation_fn(activation):
    """φ and φ' as numpy ufunc-like callables of a registered ``activation`` (name or mastcore.Activation)."""
    act = get_activation(activation)
    return act.phi, act.dphi


def _on_torch(fn):
    """A float64 numpy → numpy callable evaluated by torch function ``fn`` (zero-copy views both ways)."""
    torch = _torch()
    return lambda h: fn(torch.from_numpy(np.ascontiguousarray(h, dtype=np.float64))).numpy()


def fast_activation_fn(activation):
    """φ and φ' on numpy arrays, evaluated by the activation's torch kernels where it registers them (vectorised and
    threaded on the CPU: erf 5×, exp(−h²) 2.5× the scipy/numpy ufuncs on (4000, 80) arrays here), else
    :func:`activation_fn`. The same function to round-off (float64 both ways); used in the particle tree level's MALA
    steps, where φ and φ' are most of the time (docs/theory.md §9.4)."""
    act = get_activation(activation)
    if act.linear or act.phi_torch is None or act.dphi_torch is None:
        return act.phi, act.dphi
    return _on_torch(act.phi_torch), _on_torch(act.dphi_torch)


def pair_kernel(c, qa, qb, activation, *, derivatives: bool = False):
    """k(c, q_a, q_b) for distinct points (elementwise over broadcastable arrays) (docs/theory.md §9.1, §9.7).

    The activation's closed form where it has one (mastcore.theory.kernels.closed_forms: linear, erf, ReLU),
    otherwise Gauss–Hermite quadrature (mastcore.theory.kernels.quadrature).
    Returns k, or (k, ∂k/∂c, ∂k/∂q_a, ∂k/∂q_b) if ``derivatives``.
    """
    return get_activation(activation).kernel(c, qa, qb, derivatives=derivatives)


def diag_kernel(q, activation, *, derivative: bool = False):
    """k(x, x) as a function of q = xᵀΣx alone, and dk/dq (docs/theory.md §9: differentiate the diagonal in q only)."""
    return get_activation(activation).diag(q, derivative=derivative)


def kernel(X, X2, Sigma, activation, *, same: bool | None = None) -> np.ndarray:
    """k(x_α, x'_β) = E[φ(v·x_α) φ(v·x'_β)], v ~ N(0, Σ), for rows of X (n, D) and X2 (m, D) (docs/theory.md §9).

    ``Sigma`` is a (D, D) matrix or a scalar σ² (Σ = σ² I). ``same`` (default: ``X2 is X``) uses the exact
    diagonal formula on the diagonal. Returns (n, m). Multiply by g_w for the network kernel C.
    """
    X = np.asarray(X, dtype=np.float64)
    X2 = np.asarray(X2, dtype=np.float64)
    same = (X2 is X) if same is None else same
    if np.ndim(Sigma) == 0:
        XS = float(Sigma) * X
        qa = np.einsum("ij,ij->i", XS, X)
        qb = float(Sigma) * np.einsum("ij,ij->i", X2, X2)
    else:
        Sigma = np.asarray(Sigma, dtype=np.float64)
        XS = X @ Sigma
        qa = np.einsum("ij,ij->i", XS, X)
        qb = np.einsum("ij,ij->i", X2 @ Sigma, X2)
    c = XS @ X2.T
    act = get_activation(activation)
    if same and not act.closed_form:  # quadrature on the upper triangle only, mirrored
        i, j = np.triu_indices(len(qa), 1)
        k = np.empty_like(c)
        k[i, j] = k[j, i] = act.kernel(c[i, j], qa[i], qa[j])
    else:
        k = act.kernel(c, qa[:, None], qb[None, :])
    if same:
        np.fill_diagonal(k, act.diag(qa))
    return k


@dataclass(frozen=True)
class GramParts:
    """k on the train set and its derivatives, from the second-moment matrix M = XΣXᵀ (P, P).

    K (P, P): k with the exact diagonal. dc (P, P): ∂k_αβ/∂c (off-diagonal; 0 on the diagonal).
    dqa (P, P): ∂k_αβ/∂q_α (off-diagonal; 0 on the diagonal). ddiag (P,): dk_αα/dq.
    """

    K: np.ndarray
    dc: np.ndarray
    dqa: np.ndarray
    ddiag: np.ndarray


def gram_parts(M, activation) -> GramParts:
    """Kernel matrix and partial derivatives on M = XΣXᵀ (P, P) (docs/theory.md §9)."""
    M = np.asarray(M, dtype=np.float64)
    q = np.diag(M).copy()
    act = get_activation(activation)
    if act.closed_form:
        k, dc, dqa, _ = act.kernel(M, q[:, None], q[None, :], derivatives=True)
    else:  # quadrature on the upper triangle only: k, ∂k/∂c symmetric, ∂k_βα/∂q_β = ∂k_αβ/∂q_b
        i, j = np.triu_indices(len(q), 1)
        k, dc, dqa = (np.zeros_like(M) for _ in range(3))
        kp, dcp, dap, dbp = act.kernel(M[i, j], q[i], q[j], derivatives=True)
        k[i, j] = k[j, i] = kp
        dc[i, j] = dc[j, i] = dcp
        dqa[i, j], dqa[j, i] = dap, dbp
    kd, dd = act.diag(q, derivative=True)
    np.fill_diagonal(k, kd)
    np.fill_diagonal(dc, 0.0)
    np.fill_diagonal(dqa, 0.0)
    return GramParts(K=k, dc=dc, dqa=dqa, ddiag=dd)


def kernel_gradient_matrix(Ct, parts: GramParts) -> np.ndarray:
    """G = ∂/∂M Σ_αβ C̃_αβ k_αβ(M) for symmetric C̃ (P, P) (docs/theory.md §9).

    G_αβ = C̃_αβ ∂k_αβ/∂c (α ≠ β);  G_αα = 2 Σ_{β≠α} C̃_αβ ∂k_αβ/∂q_α + C̃_αα dk_αα/dq.
    Then d(Σ C̃_αβ k_αβ) = tr(G dM), and with M = XΣXᵀ the gradient in Σ is XᵀGX.
    """
    G = Ct * parts.dc
    np.fill_diagonal(G, 2.0 * np.sum(Ct * parts.dqa, axis=1) + np.diag(Ct) * parts.ddiag)
    return G


# --- non-zero-mean Gaussian neuron law (torch, differentiable) ------------------------------------------------

#: Gauss–Legendre nodes on each side of the centre/kink of φ(h_a) for the non-zero-mean kernel. At m = 0 the
#: quadrature reproduces the closed forms to ~1e-8 at q = 5 and ~1e-6 at q = 30 (erf; ReLU ~1e-12).
GL_NODES = 40
#: The Gaussian coordinate is truncated at ±T_MAX standard deviations (mass outside < 1e-40).
T_MAX = 13.0


def _torch():
    import torch  # noqa: PLC0415

    return torch


def _split_nodes(torch, lo_shape_ref, t0):
    """Gauss–Legendre nodes/weights (…, 2·GL_NODES) on [−T_MAX, t0] ∪ [t0, T_MAX] (t0 clamped into the range),
    times the standard normal density: ∫ g(t) φ(t) dt ≈ Σ w g(t)."""
    x, w = np.polynomial.legendre.leggauss(GL_NODES)
    x = torch.as_tensor(x, dtype=torch.float64)
    w = torch.as_tensor(w, dtype=torch.float64)
    t0 = torch.clamp(t0, min=-T_MAX, max=T_MAX)[..., None]
    shape = (1,) * (t0.dim() - 1) + (-1,)
    x, w = x.reshape(shape), w.reshape(shape)
    hl, hr = 0.5 * (t0 + T_MAX), 0.5 * (T_MAX - t0)
    t = torch.cat([(t0 - hl) + hl * x, (t0 + hr) + hr * x], dim=-1)
    wt = torch.cat([hl * w, hr * w], dim=-1)
    return t, wt * torch.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)


#: Rows per block of the test features (a few MB: the temporaries stay in the allocator's heap instead of fresh
#: page-faulted memory; measured at (16384, 1000), erf, one thread: 0.19 s blockwise, 0.34 s in one piece).
FEATURE_ROWS = 512


def _feature_fn(act, s2):
    """H-block ↦ E_ξ[φ(H + √s2 ξ)] (a new array; ``None`` where the noise must be sampled)."""
    if act.gauss_mean is None:
        return None
    if act.gauss_mean_torch is not None:  # the same closed form on torch's vectorised kernels (erf: 5× scipy's)
        torch = _torch()
        s2t = torch.from_numpy(np.array(s2, dtype=np.float64))
        return lambda h: act.gauss_mean_torch(torch.from_numpy(h), s2t).numpy()
    return lambda h: act.gauss_mean(h, s2)


def _smooth_block(act, fn, blk, s2, inside, rng):
    """E_ξ[φ(blk + √s2 ξ)] of one block of rows (docs/theory.md §9.4)."""
    if fn is None:
        return act.phi(blk + rng.standard_normal(blk.shape) * np.sqrt(s2))
    with np.errstate(all="ignore"):
        out = fn(np.ascontiguousarray(blk))
    if inside is not None:  # test points inside the row space have no prior noise
        out[:, inside] = act.phi(blk[:, inside])
    return out


def smoothed_features(activation, H, s2, rng):
    """Features of test points whose pre-activation is H (M, P*) plus independent prior noise of variance s2 (P*,)
    (the part of x* outside the row space, docs/theory.md §9.2): E_ξ[φ(H + √s2 ξ)] where φ has its Gaussian mean in
    closed form (``Activation.gauss_mean``: the noise integrated out, a Rao–Blackwellised estimate of every
    expectation linear in φ(h*), docs/theory.md §9.4), else φ at one draw of the noise. Computed in blocks of
    FEATURE_ROWS rows."""
    act = get_activation(activation)
    H = np.asarray(H, dtype=np.float64)
    s2 = np.broadcast_to(np.asarray(s2, dtype=np.float64), H.shape[-1:])
    inside = ~(s2 > 0)
    inside = inside if inside.any() else None
    fn = _feature_fn(act, s2)
    out = np.empty(H.shape)
    for lo in range(0, H.shape[0], FEATURE_ROWS):
        out[lo:lo + FEATURE_ROWS] = _smooth_block(act, fn, H[lo:lo + FEATURE_ROWS], s2, inside, rng)
    return out


def smoothed_feature_sums(activation, V, Zs, s2, coef, rng):
    """Fsᵀ coef (P*, k) for Fs = :func:`smoothed_features` (activation, V Zsᵀ, s2, rng) and coef (M, k), without
    forming the (M, P*) Fs: sums over draws of φ(h*) times per-draw coefficients (the particle tree level's test
    predictions, docs/theory.md §9.4), in blocks of FEATURE_ROWS draws."""
    act = get_activation(activation)
    V = np.asarray(V, dtype=np.float64)
    s2 = np.broadcast_to(np.asarray(s2, dtype=np.float64), Zs.shape[:1])
    inside = ~(s2 > 0)
    inside = inside if inside.any() else None
    fn = _feature_fn(act, s2)
    out = np.zeros((Zs.shape[0], coef.shape[1]))
    for lo in range(0, V.shape[0], FEATURE_ROWS):
        blk = _smooth_block(act, fn, V[lo:lo + FEATURE_ROWS] @ Zs.T, s2, inside, rng)
        out += blk.T @ coef[lo:lo + FEATURE_ROWS]
    return out


#: Gauss–Hermite nodes of the inner integral E[φ(μ + sξ)] for activations without its closed form.
GH_INNER = 32


def _gauss_mean(act, mu, s2):
    """E[φ(μ + √s2 ξ)], ξ ~ N(0, 1), on torch tensors: the activation's closed form, else GH_INNER-node
    Gauss–Hermite quadrature (docs/theory.md §9.3, §9.7)."""
    if act.gauss_mean_torch is not None:
        return act.gauss_mean_torch(mu, s2)
    torch = _torch()
    from .quadrature import gh_rule  # noqa: PLC0415

    z, w = (torch.tensor(a, dtype=mu.dtype, device=mu.device) for a in gh_rule(GH_INNER))
    return torch.sum(w * act.phi_torch(mu[..., None] + torch.sqrt(s2)[..., None] * z), dim=-1)


def mean_pair_kernel_torch(ma, qa, mb, qb, c, activation):
    """E[φ(h_a) φ(h_b)] for (h_a, h_b) Gaussian with means (m_a, m_b), variances (q_a, q_b), covariance c.

    Torch tensors of a common broadcast shape; differentiable. One Gaussian coordinate is integrated given the other
    (docs/theory.md §9.3: in closed form, e.g. E[erf(h)] = erf(m/√(1+2s²)), E[relu(h)] = m Φ(m/s) + s φ(m/s), or by
    Gauss–Hermite quadrature), the other (t, with h_a = m_a + √q_a t) by Gauss–Legendre quadrature split at the
    kink/centre t0 = −m_a/√q_a of φ(h_a), so the near-step shape of erf at large q and the ReLU kink sit at interval
    ends. q_a = 0 is not supported.
    """
    torch = _torch()
    act = get_activation(activation)
    if act.linear:
        return c + ma * mb
    sqa = torch.sqrt(qa)
    cond_var = torch.clamp(qb - c * c / qa, min=1e-14)
    slope = c / sqa  # h_b | t = m_b + slope·t + √cond_var·ξ
    t, w = _split_nodes(torch, ma, -ma / sqa)
    ha = ma[..., None] + sqa[..., None] * t
    mu_b = mb[..., None] + slope[..., None] * t
    inner = _gauss_mean(act, mu_b, cond_var[..., None].expand_as(mu_b))
    return torch.sum(w * act.phi_torch(ha) * inner, dim=-1)


def mean_diag_kernel_torch(m, q, activation):
    """E[φ(h)²] for h ~ N(m, q) (torch, differentiable): Gauss–Legendre quadrature split at h = 0."""
    torch = _torch()
    act = get_activation(activation)
    if act.linear:
        return q + m * m
    sq = torch.sqrt(q)
    t, w = _split_nodes(torch, m, -m / sq)
    h = m[..., None] + sq[..., None] * t
    return torch.sum(w * act.phi_torch(h) ** 2, dim=-1)


def mean_gram_torch(m, M, activation):
    """k_αβ = E[φ(h_α)φ(h_β)] on the train set for h ~ N(m, M): m (P,), M (P, P) torch tensors. Returns (P, P).

    Off-diagonal pairs are computed once (α < β, with α the quadrature coordinate) and mirrored.
    """
    torch = _torch()
    q = torch.diagonal(M)
    P = m.shape[0]
    i, j = torch.triu_indices(P, P, offset=1)
    k = mean_pair_kernel_torch(m[i], q[i], m[j], q[j], M[i, j], activation)
    K = torch.zeros((P, P), dtype=torch.float64)
    K = K.index_put((i, j), k).index_put((j, i), k)
    return K + torch.diag(mean_diag_kernel_torch(m, q, activation))


def mean_cross_torch(ms, qs, m, q, Mc, activation):
    """Cross kernel between test points (ms, qs: (P*,)) and train points (m, q: (P,)), covariances Mc (P*, P)."""
    Ps, P = Mc.shape
    return mean_pair_kernel_torch(ms[:, None].expand(Ps, P), qs[:, None].expand(Ps, P), m[None, :].expand(Ps, P),
                                  q[None, :].expand(Ps, P), Mc, activation)


# --- non-zero-mean Gaussian neuron law (numpy closed forms, analytic gradients) ---------------------------------

@dataclass(frozen=True)
class MeanGramParts:
    """k on the train set for h ~ N(m, M) and its derivatives (docs/theory.md §9.3), from the activation's closed form.

    K (P, P): k with the exact diagonal. dc, dqa, dma (P, P): ∂k_αβ/∂c, ∂k_αβ/∂q_α, ∂k_αβ/∂m_α off the diagonal
    (0 on it). ddiag_q, ddiag_m (P,): ∂k_αα/∂q_α, ∂k_αα/∂m_α.
    """

    K: np.ndarray
    dc: np.ndarray
    dqa: np.ndarray
    dma: np.ndarray
    ddiag_q: np.ndarray
    ddiag_m: np.ndarray


def has_mean_closed_form(activation) -> bool:
    """True when ``activation`` has the closed-form non-zero-mean kernel (mastcore.Activation.mean_pair_kernel)."""
    return get_activation(activation).mean_pair_kernel is not None


def mean_gram_parts(m, M, activation) -> MeanGramParts:
    """Kernel matrix E[φ(h_α)φ(h_β)] for h ~ N(m, M) (m (P,), M (P, P)) and its partial derivatives, numpy."""
    act = get_activation(activation)
    q = np.diag(M).copy()
    i, j = np.triu_indices(len(q), 1)  # each pair once (α < β), mirrored
    kp, dcp, dmap, dmbp, dqap, dqbp = act.mean_pair_kernel(m[i], q[i], m[j], q[j], M[i, j], derivatives=True)
    k, dc, dma, dqa = (np.zeros_like(M) for _ in range(4))
    k[i, j] = k[j, i] = kp
    dc[i, j] = dc[j, i] = dcp
    dma[i, j], dma[j, i] = dmap, dmbp
    dqa[i, j], dqa[j, i] = dqap, dqbp
    kd, dm_d, dq_d = act.mean_diag_kernel(m, q, derivative=True)
    np.fill_diagonal(k, kd)
    return MeanGramParts(K=k, dc=dc, dqa=dqa, dma=dma, ddiag_q=dq_d, ddiag_m=dm_d)


def mean_gradients(Ct, parts: MeanGramParts):
    """G = ∂/∂M Σ C̃_αβ k_αβ and g = ∂/∂m Σ C̃_αβ k_αβ for symmetric C̃ (docs/theory.md §9.3; G as in
    :func:`kernel_gradient_matrix`): g_α = 2 Σ_{β≠α} C̃_αβ ∂k_αβ/∂m_α + C̃_αα ∂k_αα/∂m_α."""
    G = Ct * parts.dc
    np.fill_diagonal(G, 2.0 * np.sum(Ct * parts.dqa, axis=1) + np.diag(Ct) * parts.ddiag_q)
    g = 2.0 * np.sum(Ct * parts.dma, axis=1) + np.diag(Ct) * parts.ddiag_m
    return G, g


def mean_cross(ms, qs, m, q, Mc, activation) -> np.ndarray:
    """Cross kernel E[φ(h*_i)φ(h_α)] between test points (ms, qs: (P*,)) and train points (m, q: (P,)), numpy."""
    act = get_activation(activation)
    return act.mean_pair_kernel(ms[:, None], qs[:, None], m[None, :], q[None, :], Mc)
