"""Dense Schur-complement form of the one loop (docs/theory.md §5–§6): the O(P⁶)-time, O(P⁴)-memory reference.

𝓜 is built as an m×m matrix (m = P(P+1)/2) in the orthonormal basis of Sym(P)
    B_ii = e_i e_iᵀ,  B_ij = (e_i e_jᵀ + e_j e_iᵀ)/√2 (i < j),
inverted, and scattered into the 4-tensor Cov_ijkl = E[δC_ij δC_kl]; E_B = E[δC B δC] is then a plain einsum.
Used by the tests (against the structured form of :mod:`mastcore.one_loop` and a torch brute force) and by
bench/one_loop_speed.py. Do not use it beyond P ≈ 80.
"""
from __future__ import annotations

import numpy as np

__all__ = ["DenseFluctuations", "dense_perturbative", "op_matrix", "sym_basis"]


def sym_basis(P: int):
    """Index pairs (I, J), i ≤ j, of the basis of Sym(P), and the scale c_p = 2 w_p such that the coordinate of a
    symmetric A is ⟨B_p, A⟩ = c_p A_ij (c = 1 on the diagonal, √2 off it)."""
    I, J = np.triu_indices(P)
    c = np.where(I == J, 1.0, np.sqrt(2.0))
    return I, J, c


def op_matrix(X, Y, I, J, c):
    """Matrix (m, m) of A ↦ (X A Y + Y A X)/2 in the orthonormal basis (docs/theory.md §5).

    ⟨B_p, X B_q Y⟩ = w_p w_q (X_jk Y_li + X_jl Y_ki + X_ik Y_lj + X_il Y_kj), w = c/2, p = (i, j), q = (k, l).
    """
    w = 0.5 * c
    out = np.zeros((I.size, I.size))
    for A, Bm in ((X, Y), (Y, X)):
        out += A[np.ix_(J, I)] * Bm[np.ix_(J, I)].T  # X_jk Y_li
        out += A[np.ix_(J, J)] * Bm[np.ix_(I, I)].T  # X_jl Y_ki
        out += A[np.ix_(I, I)] * Bm[np.ix_(J, J)].T  # X_ik Y_lj
        out += A[np.ix_(I, J)] * Bm[np.ix_(I, J)].T  # X_il Y_kj
    return 0.5 * w[:, None] * w[None, :] * out


class DenseFluctuations:
    """Dense Gaussian fluctuations δC ~ N(0, 𝓜⁻¹) at (K, R, a) (same interface as one_loop.Fluctuations)."""

    def __init__(self, K, R, a, chi: float, N: int):
        P = K.shape[0]
        self.P = P
        self.I, self.J, self.c = sym_basis(P)
        Kinv = np.linalg.inv(K)
        self.Kinv = 0.5 * (Kinv + Kinv.T)
        # 𝓜 = (N/2) K⁻¹⊗K⁻¹ + χ sym(R⊗aaᵀ) − ½ R⊗R   (docs/theory.md §5)
        M = 0.5 * N * op_matrix(self.Kinv, self.Kinv, self.I, self.J, self.c)
        M += chi * op_matrix(R, np.outer(a, a), self.I, self.J, self.c)
        M -= 0.5 * op_matrix(R, R, self.I, self.J, self.c)
        self.M = 0.5 * (M + M.T)
        ev = np.linalg.eigvalsh(self.M)
        self.min_eig = float(ev[0])
        self.positive_definite = bool(ev[0] > 0)
        self.Minv = np.linalg.inv(self.M)
        # Cov_ijkl = Minv_pq / (c_p c_q), symmetric in i↔j and k↔l
        V = self.Minv / np.outer(self.c, self.c)
        cov = np.zeros((P, P, P, P))
        I, J = self.I, self.J
        for a1, b1 in ((I, J), (J, I)):
            for a2, b2 in ((I, J), (J, I)):
                cov[a1[:, None], b1[:, None], a2[None, :], b2[None, :]] = V
        self.cov = cov

    def expect(self, B):
        """E_B = E[δC B δC]: (E_B)_il = Σ_jk Cov_ijkl B_jk (docs/theory.md §5)."""
        out = np.einsum("ijkl,jk->il", self.cov, B)
        return 0.5 * (out + out.T)

    def expect_kinv(self):
        return self.expect(self.Kinv)

    def apply_cov(self, G):
        """𝓜⁻¹[G] for a symmetric G."""
        g = self.c * G[self.I, self.J]
        d = self.Minv @ g
        out = np.zeros((self.P, self.P))
        out[self.I, self.J] = d / self.c
        out[self.J, self.I] = d / self.c
        return out

    def variance(self, B=None):
        P = self.P
        var = self.cov.reshape(P * P, P * P)[np.arange(P * P), np.arange(P * P)].reshape(P, P)
        if B is None:
            return var
        # lifted: Var((B δC Bᵀ)_ij) = Σ B_ia B_jb B_ic B_jd Cov_abcd
        return np.einsum("ia,jb,ic,jd,abcd->ij", B, B, B, B, self.cov, optimize=True)


def dense_perturbative(C0, y, C, N, chi, kappa0):
    """Perturbative one loop (docs/theory.md §6) with the dense Schur form; all arrays (P, P)/(P,) in one basis.

    Returns dict(delta_tree, delta_shift, delta_fluct, dC, var, positive_definite).
    """
    P = C.shape[0]
    R = np.linalg.inv(C + kappa0 * np.eye(P))
    R = 0.5 * (R + R.T)
    a = R @ y
    fl = DenseFluctuations(C, R, a, chi, N)
    aa = np.outer(a, a)
    E_R = fl.expect(R)
    E_aa = fl.expect(aa)
    E_Kinv = fl.expect_kinv()
    # g_C, g_C̃ (docs/theory.md §6)
    g_C = 0.5 * chi * (R @ E_R @ aa + aa @ E_R @ R + R @ E_aa @ R) - 0.5 * R @ E_R @ R
    g_Ct = -((P + 1) / N) * C + E_Kinv
    G = g_C + 0.5 * N * fl.Kinv @ g_Ct @ fl.Kinv
    dC = fl.apply_cov(0.5 * (G + G.T))
    return dict(
        delta_tree=kappa0 * a,
        delta_shift=-kappa0 * R @ dC @ a,
        delta_fluct=kappa0 * R @ E_R @ a,
        dC=dC,
        var=fl.variance(),
        positive_definite=fl.positive_definite,
        g_C=g_C,
        g_Ct=g_Ct,
    )
