"""Brute-force one loop of the kernel action with the cumulant generating function estimated on a fixed sample.

For samples φ_s (S, P) of a neuron law and C* = g_w mean_s φ_sφ_sᵀ, C̃* = (χ/2) a aᵀ − ½ R at C*, the action
    S(C, C̃) = −tr(C̃C) + N log mean_s exp[(g_w/N) φ_sᵀ(C̃ − C̃*)φ_s] + L(C),
    L(C) = −(χ/2) yᵀ(C + κ0)⁻¹y − ½ log det(C + κ0),
is stationary at (C*, C̃*). Torch autograd (float64) over the raw independent entries (upper triangles) of C and
C̃ gives the full Hessian S2 and third derivative S3, the propagator G = (−S2)⁻¹, the tadpole ⟨δz⟩ = ½ G S3[G]
and ⟨Δ⟩ = Δ(z*) + Δ'·⟨δz⟩ + ½ Δ''[G] with Δ(C) = κ0 (C + κ0)⁻¹y (docs/theory.md §6, §12). It shares no code and
no formula with mastcore beyond the definition of the action; the fast path (mastcore.theory.loops.cumulants) must
agree with it on the same sample. Reverse mode three times (docs/theory.md §15 (item 7)). P ≤ 6.
"""
from __future__ import annotations

import numpy as np
import torch


def brute_cgf_one_loop(phi, y, g_w, N, chi, kappa0):
    """Perturbative one loop of the sample-CGF action (module docstring).

    phi : (S, P) samples of φ(Xv); y : (P,). Returns dict(C (P, P) = C*, delta_tree, delta_shift, delta_fluct
    (each (P,)), dC (P, P)).
    """
    phi = np.asarray(phi, dtype=np.float64)
    S, P = phi.shape
    m = P * (P + 1) // 2
    dt = torch.float64
    iu = torch.triu_indices(P, P)
    Ft = torch.as_tensor(phi, dtype=dt)
    yt = torch.as_tensor(y, dtype=dt)
    I = torch.eye(P, dtype=dt)
    C_star = g_w * phi.T @ phi / S
    R = np.linalg.inv(C_star + kappa0 * np.eye(P))
    a = R @ y
    Ct_star = torch.as_tensor(0.5 * chi * np.outer(a, a) - 0.5 * R, dtype=dt)

    def unpack(x):
        M = torch.zeros(P, P, dtype=dt).index_put((iu[0], iu[1]), x)
        return M + M.T - torch.diag(torch.diag(M))

    def action(z):
        Cm, Ct = unpack(z[:m]), unpack(z[m:])
        A = Cm + kappa0 * I
        L = -0.5 * chi * yt @ torch.linalg.solve(A, yt) - 0.5 * torch.linalg.slogdet(A)[1]
        quad = torch.einsum("sp,pq,sq->s", Ft, Ct - Ct_star, Ft)  # φ_sᵀ(C̃ − C̃*)φ_s
        W = N * (torch.logsumexp((g_w / N) * quad, 0) - np.log(S))
        return -(Ct * Cm).sum() + W + L

    def delta_of(z):
        return kappa0 * torch.linalg.solve(unpack(z[:m]) + kappa0 * I, yt)

    iun = np.triu_indices(P)
    z0 = torch.as_tensor(np.concatenate([C_star[iun], Ct_star.numpy()[iun]]), dtype=dt)
    jr = torch.func.jacrev
    S2 = jr(jr(action))(z0)
    G = torch.linalg.inv(-S2)
    G = 0.5 * (G + G.T)
    S3 = jr(jr(jr(action)))(z0)
    dz = 0.5 * G @ torch.einsum("abc,bc->a", S3, G)
    J = jr(delta_of)(z0)
    Hd = jr(jr(delta_of))(z0)
    return dict(
        C=C_star,
        delta_tree=kappa0 * a,
        delta_shift=(J @ dz).numpy(),
        delta_fluct=(0.5 * torch.einsum("iab,ab->i", Hd, G)).numpy(),
        dC=unpack(dz[:m]).numpy(),
    )
