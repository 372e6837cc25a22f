"""Independent references for the one loop, used only by tests and benches.

1. ``brute_one_loop``: torch autograd (float64) on the action S(C, C̃) = −tr(C̃C) + W(C̃) + L(C) of docs/theory.md §2 over
   the raw independent entries (upper triangles) of C and C̃: full Hessian S2 and third derivative S3, propagator
   G = (−S2)⁻¹, tadpole ⟨δz⟩ = ½ G S3[G], and ⟨Δ⟩ = Δ(z*) + Δ'·⟨δz⟩ + ½ Δ''[G] with Δ(C) = κ0 (C + κ0)⁻¹ y.
   It shares no code and no formula with mastcore beyond the definition of S (P ≤ 8: O(P⁶) memory).

2. ``exact_mean_delta``: the exact posterior mean of Δ for the linear network by one-dimensional quadrature.
   Given the readout w, β = Vᵀw ~ N(0, |w|² g_v/D I), so f(X) | w ~ N(0, u C0/χ) with u = χ N |w|²/g_w ~ χ²_N/N.
   The likelihood depends on w only through u, hence exactly
       ⟨Δ⟩ = κ0 E[(u C0 + κ0)⁻¹ y],  p(u | y) ∝ u^{N/2 − 1} e^{−N u/2} e^{L(u C0)},
   a 1-D integral, done here by Gauss–Legendre in log u (converged to ~1e-13 relative).
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.special
import torch


def brute_one_loop(C0, y, C, N, chi, kappa0, full_s3=True):
    """Brute-force perturbative one loop at the tree saddle C (all arrays (P, P)/(P,)).

    full_s3 : form the full third-derivative tensor S3 (2m)³ (slow beyond P = 6: ~50 s at P = 8); otherwise
    contract it on the fly, ½ S3[G]_a = ∂_a ½ Σ_bc G_bc S2_bc(z) with G held fixed (the same derivative).

    Returns dict(delta_tree, delta_shift, delta_fluct, dC (P, P), var (P, P), Gcc_eigmin (min eigenvalue of
    the C block of G, i.e. of Cov(δC) in raw coordinates)).
    """
    P = C.shape[0]
    m = P * (P + 1) // 2
    iu = torch.triu_indices(P, P)
    dt = torch.float64
    C0t = torch.as_tensor(C0, dtype=dt)
    yt = torch.as_tensor(y, dtype=dt)
    I = torch.eye(P, dtype=dt)

    def unpack(x):
        M = torch.zeros(P, P, dtype=dt)
        M = M.index_put((iu[0], iu[1]), x)
        return M + M.T - torch.diag(torch.diag(M))

    def action(z):
        Cm, Ct = unpack(z[:m]), unpack(z[m:])
        A = Cm + kappa0 * I
        L = -0.5 * chi * yt @ torch.linalg.solve(A, yt) - 0.5 * torch.linalg.slogdet(A)[1]
        W = -0.5 * N * torch.linalg.slogdet(I - (2.0 / N) * Ct @ C0t)[1]
        return -(Ct * Cm).sum() + W + L

    def delta_of(z):
        Cm = unpack(z[:m])
        return kappa0 * torch.linalg.solve(Cm + kappa0 * I, yt)

    Cn = np.asarray(C, dtype=np.float64)
    R = np.linalg.inv(Cn + kappa0 * np.eye(P))
    a = R @ y
    Ct_np = 0.5 * chi * np.outer(a, a) - 0.5 * R  # (T1)
    iun = np.triu_indices(P)
    z0 = torch.as_tensor(np.concatenate([Cn[iun], Ct_np[iun]]), dtype=dt)

    # reverse-over-reverse only: in torch 2.13, jacfwd over jacrev (torch.func.hessian) returns wrong third
    # derivatives of slogdet / linalg.solve (checked against finite differences), so it is not used here.
    jr = torch.func.jacrev
    S2 = jr(jr(action))(z0)
    G = torch.linalg.inv(-S2)
    G = 0.5 * (G + G.T)
    if full_s3:
        S3 = jr(jr(jr(action)))(z0)
        dz = 0.5 * G @ torch.einsum("abc,bc->a", S3, G)  # tadpole ½ G S3[G]
    else:
        dz = 0.5 * G @ jr(lambda z: (G * jr(jr(action))(z)).sum())(z0)
    J = jr(delta_of)(z0)  # (P, 2m)
    Hd = jr(jr(delta_of))(z0)  # (P, 2m, 2m)
    shift = J @ dz
    fluct = 0.5 * torch.einsum("iab,ab->i", Hd, G)
    dC = unpack(dz[:m]).numpy()
    var = unpack(torch.diagonal(G)[:m]).numpy()
    return dict(
        delta_tree=kappa0 * a,
        delta_shift=shift.numpy(),
        delta_fluct=fluct.numpy(),
        dC=dC,
        var=var,
        Gcc_eigmin=float(torch.linalg.eigvalsh(G[:m, :m]).min()),
    )


@functools.lru_cache(maxsize=8)
def _legendre(n):
    return scipy.special.roots_legendre(n)


def exact_mean_delta(C0, y, N, chi, kappa0, n_nodes: int = 600):
    """Exact posterior mean ⟨Δ⟩ (P,) of the linear network by 1-D quadrature (module docstring).

    Works for singular C0 (D < P). Relative accuracy ~1e-13 (checked against n_nodes doubled in the tests).
    """
    lam, Q = np.linalg.eigh(0.5 * (C0 + C0.T))
    lam = np.clip(lam, 0.0, None)
    yt = Q.T @ y

    def logp(v):  # density in v = log u, including the Jacobian u
        u = np.exp(np.atleast_1d(v))[:, None]
        den = u * lam[None, :] + kappa0
        L = -0.5 * chi * np.sum(yt**2 / den, axis=1) - 0.5 * np.sum(np.log(den), axis=1)
        return 0.5 * N * np.log(u[:, 0]) - 0.5 * N * u[:, 0] + L

    # locate the mode on a coarse grid, then bracket where the log density has fallen by 90
    grid = np.linspace(-12.0, 6.0, 20001)
    lp = logp(grid)
    top = lp.max()
    keep = grid[lp > top - 90.0]
    lo, hi = keep[0] - 0.01, keep[-1] + 0.01
    x, w = _legendre(n_nodes)
    v = 0.5 * (hi - lo) * x + 0.5 * (hi + lo)
    wt = w * np.exp(logp(v) - top)
    u = np.exp(v)
    inv = 1.0 / (u[:, None] * lam[None, :] + kappa0)  # (nodes, P)
    mean_inv = (wt[:, None] * inv).sum(0) / wt.sum()
    return kappa0 * Q @ (mean_inv * yt)


def small_problem(P: int, D: int, seed: int):
    """A small Ising-like problem: X (P, D) ±1 with 20 % flips, labels ±1 (docs/theory.md §1 generator)."""
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], P)
    X = np.where(rng.random((P, D)) < 0.2, -y[:, None], y[:, None]) + 0.3 * rng.standard_normal((P, D))
    return X, y
