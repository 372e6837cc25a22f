"""The one loop around a saddle for any activation, from cumulants of ψ = φφᵀ (docs/theory.md §12.1–§12.2).

Work on Sym(P) in the orthonormal basis B_ii = e_i e_iᵀ, B_ij = (e_i e_jᵀ + e_j e_iᵀ)/√2 (i < j), m = P(P+1)/2:
a symmetric A has coordinates vec(A)_p = ⟨B_p, A⟩ = c_p A_ij (c = 1 on the diagonal, √2 off it), operators are
m×m matrices and ⟨A, B⟩ = vec(A)·vec(B). With W'' the second cumulant of the kernel (m×m, possibly singular) and
L'' the likelihood's Hessian (docs/theory.md §5), the propagator G = (−S2)⁻¹ of the action S(C, C̃) needs no
inverse of W'' (docs/theory.md §12.2):

    G_CC = (I − W''L'')⁻¹ W'',   G_CC̃ = (I − W''L'')⁻¹,   G_C̃C̃ = (I − L''W'')⁻¹ L''.

The gradients of Γ1 = −½ log det(−S2) are g_C = ½ L'''[G_CC] (the closed form of docs/theory.md §6.1) and
g_C̃ = ½ W'''[G_C̃C̃], the third cumulant contracted with G_C̃C̃, so the perturbative one loop is

    δC = G_CC g_C + G_CC̃ g_C̃,   ⟨Δ⟩ = κ0 [a − R δC a + R E_R a],   E_B = E[δC B δC] under G_CC.

For φ = id and Gaussian h these are the operators of docs/theory.md §5 and the result is the linear one loop of §6
(:class:`GaussianCumulants`; checked to round-off). For erf/ReLU the cumulants are those of the empirical measure
of samples of the neuron law (:class:`SampleCumulants`), and the Monte-Carlo error is estimated by a delete-one-
group jackknife over independent groups of samples. Test predictions carry the joint fluctuations of the
test–train kernel block C* (docs/theory.md §12.2). Cost: O(S m²) per pass over S samples and O(m³) per solve.

The same estimator without any m×m operator (:class:`SampleLoop`, :func:`sample_jackknife_core`; docs/theory.md
§12.10): W'' has rank < S, so every propagator block is an S×S matrix between sample contractions — O(S³ + S²P)
time, O(S²) memory, and the jackknife replicates are Schur-complement downdates of one factorisation. It is the
cheaper one for P ≳ 50 at the default sample sizes (one_loop_nonlinear.choose_representation picks).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from .. import _defaults

__all__ = ["GaussianCumulants", "SampleCumulants", "SampleLoop", "SymBasis", "core_setup", "cumulant_core",
           "jackknife_core", "psi_vectors", "sample_jackknife_core"]

#: Samples per block when streaming over samples (bounds the (block, m) temporaries; theory/_defaults.py).
BLOCK = _defaults.CUMULANT_BLOCK
#: Per-group m×m Gram matrices are kept for the jackknife when they take at most this many bytes in all.
GROUP_GRAM_BYTES = 600 * 2**20


class SymBasis:
    """Orthonormal coordinates of Sym(P) (module docstring)."""

    def __init__(self, P: int):
        self.P = int(P)
        self.I, self.J = np.triu_indices(self.P)
        self.c = np.where(self.I == self.J, 1.0, np.sqrt(2.0))
        self.m = self.I.size
        self.off = self.I != self.J

    def vec(self, A):
        """(…, P, P) symmetric → (…, m)."""
        return self.c * A[..., self.I, self.J]

    def mat(self, x):
        """(…, m) → (…, P, P): the symmetric matrix with coordinates x (entries x_p / c_p)."""
        x = np.asarray(x)
        out = np.zeros(x.shape[:-1] + (self.P, self.P))
        v = x / self.c
        out[..., self.I, self.J] = v
        out[..., self.J, self.I] = v
        return out

    def outer_vec(self, F):
        """vec(φφᵀ) for the rows φ of F (S, P) → (S, m)."""
        return self.c * F[:, self.I] * F[:, self.J]

    def op(self, X, Y):
        """m×m matrix of A ↦ (X A Y + Y A X)/2 for symmetric X, Y (P, P) (docs/theory.md §5):
        ⟨B_p, X B_q Y⟩ = w_p w_q (X_ik Y_lj + X_il Y_kj + X_jk Y_li + X_jl Y_ki), w = 1/c off the diagonal, ½ on it."""
        I, J = self.I, self.J
        w = np.where(self.off, 1.0 / np.sqrt(2.0), 0.5)
        out = np.zeros((self.m, self.m))
        for A, B in ((X, Y), (Y, X)):
            out += A[np.ix_(I, I)] * B[np.ix_(J, J)]  # X_ik Y_jl → with q = (k, l): X_ik Y_lj (Y symmetric)
            out += A[np.ix_(I, J)] * B[np.ix_(J, I)]  # X_il Y_kj
            out += A[np.ix_(J, I)] * B[np.ix_(I, J)]  # X_jk Y_li
            out += A[np.ix_(J, J)] * B[np.ix_(I, I)]  # X_jl Y_ki
        return 0.5 * w[:, None] * w[None, :] * out

    def expect(self, G, B, chunk: int = 256):
        """E_B = E[δC B δC] (P, P) for δC with covariance G (m×m, orthonormal coordinates) and symmetric B.

        E_B = Σ_q M_q B B_q with M_q = mat(G[:, q]) = E[δC x_q]; B_q B's basis matrix, so only two columns of
        M_q B are needed per q. O(m P³) time, O(chunk P²) memory.
        """
        P, I, J, c = self.P, self.I, self.J, self.c
        outT = np.zeros((P, P))  # rows: column index l of E_B
        for lo in range(0, self.m, chunk):
            q = np.arange(lo, min(self.m, lo + chunk))
            MB = self.mat(G[:, q].T) @ B  # (nq, P, P)
            k, l = I[q], J[q]
            colk = MB[np.arange(q.size), :, k]  # (nq, P): (M_q B)[:, k]
            coll = MB[np.arange(q.size), :, l]
            off = k != l
            np.add.at(outT, l[off], colk[off] / c[q][off, None])
            np.add.at(outT, k[off], coll[off] / c[q][off, None])
            np.add.at(outT, k[~off], colk[~off])
        out = outT.T
        return 0.5 * (out + out.T)

    def variance(self, G):
        """Var(δC_ij) (P, P) for covariance G: G_pp / c_p²."""
        v = np.diag(G) / self.c**2
        out = np.zeros((self.P, self.P))
        out[self.I, self.J] = v
        out[self.J, self.I] = v
        return out


# --------------------------------------------------------------------------------------------------------------
# Cumulant providers
# --------------------------------------------------------------------------------------------------------------


class GaussianCumulants:
    """Exact cumulants for φ = id and h = Xv Gaussian with g_w E[hhᵀ] = K (docs/theory.md §5, §12.1):
    W''[A, A] = (2/N) tr(AKAK), W'''[A, A, A] = (8/N²) tr((AK)³). Train set only (the linear test set follows from
    docs/theory.md §2.3)."""

    def __init__(self, basis: SymBasis, K, N: int):
        self.basis, self.K, self.N = basis, np.asarray(K, dtype=np.float64), N
        self.W2 = (2.0 / N) * basis.op(self.K, self.K)

    def w3(self, B):
        """vec of W'''[B] = Σ_bc W'''_abc B_bc (m,): with B = Σ_k β_k u_k u_kᵀ, Σ_k β_k (8/N²) K U_k K U_k K."""
        beta, U = np.linalg.eigh(0.5 * (B + B.T))
        K = self.K
        out = np.zeros((self.basis.P, self.basis.P))
        for bk, u in zip(beta, U.T):
            Uk = self.basis.mat(u)
            KU = K @ Uk
            out += bk * (KU @ KU @ K)
        out = (8.0 / self.N**2) * 0.5 * (out + out.T)
        return self.basis.vec(out)


def raw_gram(basis: SymBasis, phi, weights=None) -> np.ndarray:
    """Σ_s c_s vec(φ_sφ_sᵀ) vec(φ_sφ_sᵀ)ᵀ (m, m) over the rows of ``phi`` (c_s = ``weights`` or 1), streamed in
    blocks."""
    out = np.zeros((basis.m, basis.m))
    for lo in range(0, phi.shape[0], BLOCK):
        Ps = basis.outer_vec(phi[lo:lo + BLOCK])
        out += (Ps.T if weights is None else Ps.T * weights[lo:lo + BLOCK]) @ Ps
    return out


def psi_vectors(basis: SymBasis, phi):
    """vec(φ_sφ_sᵀ) of every row of ``phi`` (S, m), formed in blocks, when it fits in PSI_VEC_BYTES; else None (the
    cumulants then form it block by block as they go)."""
    if phi.shape[0] * basis.m * 8 > _defaults.PSI_VEC_BYTES:
        return None
    out = np.empty((phi.shape[0], basis.m))
    for lo in range(0, phi.shape[0], BLOCK):
        out[lo:lo + BLOCK] = basis.outer_vec(phi[lo:lo + BLOCK])
    return out


class SampleCumulants:
    """Cumulants of ψ = φφᵀ under the empirical measure of samples φ_s with weights w_s (docs/theory.md §12.1,
    §12.11): W'' = (g_w²/N) Σ_s w_s δψ_s δψ_sᵀ, W'''[B] = (g_w³/N²) Σ_s w_s δψ_s (δψ_sᵀ B δψ_s), δψ = ψ − Σ_s w_s ψ_s
    (w_s = 1/S: plain samples; else importance weights of draws of a proposal, self-normalised).

    These are exactly the derivatives at C̃* of N log Σ_s w_s exp[(g_w/N)⟨C̃ − C̃*, ψ_s⟩], the cumulant generating
    function estimated on the sample (tests/reference/brute_cgf_one_loop.py differentiates it). ``keep`` selects a
    subset of samples (the jackknife); test features give the joint moments with the test–train block ψ* = φ*φᵀ.
    """

    def __init__(self, basis: SymBasis, phi, g_w: float, N: int, *, phi_test=None, keep=None, gram=None,
                 psi_vec=None, weights=None):
        """``gram`` : Σ_s vec(ψ_s) vec(ψ_s)ᵀ of the kept samples, if known; ``psi_vec`` : (S, m) vec(ψ_s) of all
        samples (before ``keep``), if known — both save recomputing them for each jackknife replicate (unweighted
        samples only). ``weights`` : (S,) non-negative weights of all samples (normalised over the kept ones)."""
        self.basis, self.g_w, self.N = basis, float(g_w), N
        self._psi_vec = None if psi_vec is None else (psi_vec if keep is None else psi_vec[keep])
        self._quad = None  # (B, δψᵀBδψ per sample) of the last w3
        self.phi = phi if keep is None else phi[keep]
        self.phi_test = None if phi_test is None else (phi_test if keep is None else phi_test[keep])
        S = self.phi.shape[0]
        self.S = S
        if weights is None:
            self.w = np.full(S, 1.0 / S)
        else:
            if gram is not None:
                raise ValueError("'gram' is the unweighted sum; it cannot be combined with 'weights'")
            w = np.asarray(weights, dtype=np.float64)
            w = w if keep is None else w[keep]
            self.w = w / w.sum()
        Fw = self.phi * self.w[:, None]
        self.mean_psi = Fw.T @ self.phi  # (P, P)
        self.mu = basis.vec(self.mean_psi)
        self.mean_psi_test = None if self.phi_test is None else (self.phi_test * self.w[:, None]).T @ self.phi
        if gram is not None:
            second = gram / S
        elif weights is None:
            second = (raw_gram(basis, self.phi) if self._psi_vec is None else self._psi_vec.T @ self._psi_vec) / S
        else:
            second = (raw_gram(basis, self.phi, self.w) if self._psi_vec is None
                      else (self._psi_vec.T * self.w) @ self._psi_vec)
        # centred second moment from the raw one: Σ w ψψᵀ − μμᵀ
        self.W2 = (self.g_w**2 / N) * (second - np.outer(self.mu, self.mu))
        self.W2 = 0.5 * (self.W2 + self.W2.T)

    def _blocks(self):
        for lo in range(0, self.S, BLOCK):
            F = self.phi[lo:lo + BLOCK]
            raw = self.basis.outer_vec(F) if self._psi_vec is None else self._psi_vec[lo:lo + BLOCK]
            Ps = raw - self.mu  # centred vec(δψ)
            Fs = None if self.phi_test is None else self.phi_test[lo:lo + BLOCK]
            yield F, Fs, Ps, self.w[lo:lo + BLOCK]

    def w3(self, B):
        """vec of W'''[B] (m,). The per-sample quadratic forms δψᵀBδψ are kept for :meth:`test_terms` with the
        same B (they are the costly part, O(S m²), of both)."""
        out = np.zeros(self.basis.m)
        qs = []
        for _, _, Ps, w in self._blocks():
            q = np.einsum("sm,sm->s", Ps @ B, Ps)
            out += (w * q) @ Ps
            qs.append(q)
        self._quad = (B, np.concatenate(qs) if qs else np.zeros(0))
        return (self.g_w**3 / self.N**2) * out

    def _quadratic_forms(self, B, Ps, lo):
        """δψᵀBδψ of the block of samples starting at ``lo``: from :meth:`w3` when it had this B, else computed."""
        if self._quad is not None and self._quad[0] is B:
            return self._quad[1][lo:lo + Ps.shape[0]]
        return np.einsum("sm,sm->s", Ps @ B, Ps)

    def test_terms(self, a, u, U, B):
        """The test-set contractions of docs/theory.md §12.2, each (P*,):
        t1 = (g_w²/N) E[(δψ* a) ⟨δψ, u⟩],  t2 = (g_w²/N) E[Σ_j (δψ*)_{·j} ⟨δψ, U_j⟩],
        t3 = (g_w³/N²) E[(δψ* a) (δψᵀ B δψ)]   (u (m,), U (m, P), B (m, m))."""
        Pt = self.phi_test.shape[1]
        t1, t2, t3 = np.zeros(Pt), np.zeros(Pt), np.zeros(Pt)
        psa = self.mean_psi_test @ a  # ψ̄* a
        for lo, (F, Fs, Ps, w) in zip(range(0, self.S, BLOCK), self._blocks()):
            da = Fs * (F @ a)[:, None] - psa  # δψ* a per sample (k, P*)
            t1 += (w * (Ps @ u)) @ da
            T = Ps @ U  # (k, P): ⟨δψ, U_j⟩
            # Σ_j (φ*_α φ_j − ψ̄*_αj) T_sj
            t2 += np.einsum("sa,s->a", Fs, w * np.einsum("sj,sj->s", F, T)) - self.mean_psi_test @ (w @ T)
            t3 += (w * self._quadratic_forms(B, Ps, lo)) @ da
        c2, c3 = self.g_w**2 / self.N, self.g_w**3 / self.N**2
        return c2 * t1, c2 * t2, c3 * t3


# --------------------------------------------------------------------------------------------------------------
# The perturbative one loop
# --------------------------------------------------------------------------------------------------------------


def core_setup(basis: SymBasis, C, y, chi: float, kappa0: float) -> tuple:
    """What :func:`cumulant_core` needs of the saddle alone (not of the cumulants): R = (C + κ0)⁻¹, a = R y, a aᵀ
    and L'' in orthonormal coordinates — computed once for all jackknife replicates."""
    P = C.shape[0]
    R = np.linalg.inv(C + kappa0 * np.eye(P))
    R = 0.5 * (R + R.T)
    a = R @ y
    aa = np.outer(a, a)
    # L''[A] = −(χ/2)(R A aaᵀ + aaᵀ A R) + ½ R A R   (docs/theory.md §5)
    Lpp = -chi * basis.op(R, aa) + 0.5 * basis.op(R, R)
    return R, a, aa, Lpp


def cumulant_core(basis: SymBasis, C, y, chi: float, kappa0: float, cum, *, C_test=None, check: bool = False,
                  setup: tuple | None = None) -> dict:
    """Perturbative one loop at the saddle C (P, P) from the cumulants ``cum`` (docs/theory.md §12.2).

    C_test : (P*, P) tree-level test–train kernel (needs ``cum.test_terms``) or None. setup : :func:`core_setup` of
    the same saddle, if already computed. check : also return
    ``min_eig`` = λ_min/λ_max of G_CC (negative: the Gaussian integral over δC does not exist, docs/theory.md §6.6).
    Returns dict(a, delta_tree, delta_shift, delta_fluct, dC (P, P), var (P, P) = Var(δC_ij), f_test or None,
    delta_shift_test, delta_fluct_test).
    """
    P = C.shape[0]
    R, a, aa, Lpp = setup or core_setup(basis, C, y, chi, kappa0)
    W2 = cum.W2
    Am = np.eye(basis.m) - W2 @ Lpp  # I − W''L''
    lu = sla.lu_factor(Am)
    G_CC = sla.lu_solve(lu, W2)
    G_CC = 0.5 * (G_CC + G_CC.T)
    G_TT = sla.lu_solve(lu, Lpp, trans=1)  # (I − L''W'')⁻¹ L'' (Aᵀ = I − L''W'')
    G_TT = 0.5 * (G_TT + G_TT.T)
    E_R = basis.expect(G_CC, R)
    E_aa = basis.expect(G_CC, aa)
    RER = R @ E_R
    # g_C = ½ L'''[G_CC]  (docs/theory.md §6.1, closed form)
    g_C = 0.5 * chi * (RER @ aa + aa @ RER.T + R @ E_aa @ R) - 0.5 * RER @ R
    g_C = 0.5 * (g_C + g_C.T)
    v_C = basis.vec(g_C)
    g_T = 0.5 * cum.w3(G_TT)  # g_C̃ = ½ W'''[G_C̃C̃]
    dC_vec = G_CC @ v_C + sla.lu_solve(lu, g_T)
    dC = basis.mat(dC_vec)
    ev = np.linalg.eigvalsh(G_CC) if check else None
    out = dict(
        min_eig=float(ev[0] / max(ev[-1], np.finfo(float).tiny)) if check else float("nan"),
        a=a,
        delta_tree=kappa0 * a,
        delta_shift=-kappa0 * R @ dC @ a,
        delta_fluct=kappa0 * R @ E_R @ a,
        dC=dC,
        var=basis.variance(G_CC),
        f_test=None,
        delta_shift_test=None,
        delta_fluct_test=None,
    )
    if C_test is not None:
        # ⟨δC*⟩a = W''_{*C}[(I − L''W'')⁻¹ v_C + L''(I − W''L'')⁻¹ g_C̃] a + ½ W'''_*[G_C̃C̃] a,
        # E[δC* R δC]a = Σ_j [W''_{*C}(I − L''W'')⁻¹ vec(F_j)]_{·j},  F_j = sym(R[:, j] aᵀ)
        u = sla.lu_solve(lu, v_C, trans=1) + Lpp @ sla.lu_solve(lu, g_T)
        Fj = np.empty((basis.m, P))
        for j in range(P):
            Mj = np.outer(R[:, j], a)
            Fj[:, j] = basis.vec(0.5 * (Mj + Mj.T))
        U = sla.lu_solve(lu, Fj, trans=1)
        t1, t2, t3 = cum.test_terms(a, u, U, G_TT)
        mean_dCs_a = t1 + 0.5 * t3
        cross = t2  # E[δC* R δC] a
        shift_t = mean_dCs_a - C_test @ R @ dC @ a
        fluct_t = -cross + C_test @ R @ E_R @ a
        out["f_test"] = C_test @ a + shift_t + fluct_t
        out["delta_shift_test"] = -shift_t  # as parts of Δ* = y* − f*: sign flipped
        out["delta_fluct_test"] = -fluct_t
    return out


def jackknife_core(basis: SymBasis, C, y, chi, kappa0, samples, g_w, N, *, C_test=None, n_groups: int = 8):
    """cumulant_core on the whole sample and on every delete-one-group sample (docs/theory.md §12.2).

    samples : neuron_law.FeatureSamples; its group labels are merged into ``n_groups`` independent groups.
    Returns (full result dict, list of replicate dicts, group count G). The jackknife standard error of any output
    θ is √((G − 1)/G Σ_g (θ_g − θ̄)²).
    """
    phi, phis = samples.phi, samples.phi_test
    groups = np.asarray(samples.group) % n_groups if n_groups else np.asarray(samples.group)
    labels = np.unique(groups)
    m = basis.m
    keep_grams = labels.size * m * m * 8 <= GROUP_GRAM_BYTES
    # vec(ψ_s) of every sample, formed once (not once per replicate) when it fits beside the grams
    psi_vec = psi_vectors(basis, phi)
    # Σ vec(ψ)vec(ψ)ᵀ of every group, so that a replicate's gram is the total minus its group's: kept when they fit;
    # else, with the samples' vec(ψ) at hand, each group's is formed when its replicate needs it (S/G rows instead
    # of the S − S/G of a fresh gram); else every replicate forms its own
    grams = {}

    def group_gram(g):
        if g in grams:
            return grams[g]
        rows = psi_vec[groups == g]
        return rows.T @ rows

    if keep_grams:
        for g in labels:
            rows = None if psi_vec is None else psi_vec[groups == g]
            grams[g] = raw_gram(basis, phi[groups == g]) if rows is None else rows.T @ rows
        total = sum(grams.values())
    elif psi_vec is not None:
        total = psi_vec.T @ psi_vec
    else:
        total = None
    setup = core_setup(basis, C, y, chi, kappa0)  # the same saddle for every replicate
    full = cumulant_core(basis, C, y, chi, kappa0,
                         SampleCumulants(basis, phi, g_w, N, phi_test=phis, gram=total, psi_vec=psi_vec),
                         C_test=C_test, check=True, setup=setup)
    reps = []
    for g in labels:
        keep = groups != g
        gram = None if total is None else total - group_gram(g)
        cum = SampleCumulants(basis, phi, g_w, N, phi_test=phis, keep=keep, gram=gram, psi_vec=psi_vec)
        reps.append(cumulant_core(basis, C, y, chi, kappa0, cum, C_test=C_test, setup=setup))
    return full, reps, int(labels.size)


# --------------------------------------------------------------------------------------------------------------
# The sample representation (docs/theory.md §12.10): no m×m operator
# --------------------------------------------------------------------------------------------------------------

#: Rows per block when forming the S×S matrices of the sample representation (bounds the temporaries).
ROW_BLOCK = 1024
#: The exact (P, P) kernel variance of the sample representation costs 2 S² P² flops: it is formed only up to this.
VAR_MAX_FLOPS = 2e11


def _from_lower(B):
    """Copy the lower triangle of the square B onto its upper one, in place, in row blocks (small temporaries)."""
    n = B.shape[0]
    for lo in range(0, n, ROW_BLOCK):
        hi = min(n, lo + ROW_BLOCK)
        blk = B[lo:hi, lo:hi]
        blk[...] = np.tril(blk) + np.tril(blk, -1).T
        B[lo:hi, hi:] = B[hi:, lo:hi].T
    return B


def _inverse(A):
    """(A⁻¹, whether A is positive definite) for the symmetric A: Cholesky (LAPACK potrf/potri), else LU."""
    c, info = sla.lapack.dpotrf(A, lower=1, overwrite_a=0, clean=1)
    if info == 0:
        M, info = sla.lapack.dpotri(c, lower=1, overwrite_c=1)
        if info == 0:
            return _from_lower(M), True  # dpotri fills the lower triangle
    del c
    M = np.linalg.inv(A)
    return 0.5 * (M + M.T), False


class SampleLoop:
    """The perturbative one loop of docs/theory.md §12.2 in the sample representation of docs/theory.md §12.10.

    With κ = g_w²/N and n kept samples, W'' = Z Zᵀ, Z = √(κ/n) Ψ J (Ψ the m×n matrix of vec(ψ_s), J the centring),
    so every propagator block of (12.3)–(12.4) is Z (·) Zᵀ around the n×n matrix M = (I − T)⁻¹, T = Zᵀ L'' Z. All
    contractions are sample sums of φ_s (O(n P²) or O(n² P)); nothing of size m is formed. What does not depend on
    the kept samples (R, a, K_R = F R Fᵀ, α = F a) is formed once for every jackknife replicate.
    """

    def __init__(self, phi, C, y, chi: float, kappa0: float, g_w: float, N: int, *, phi_test=None, weights=None):
        """``weights`` : (S,) non-negative weights of the samples (self-normalised over the kept ones; None: equal),
        e.g. importance weights of draws of a proposal (docs/theory.md §12.11, eq. (12.18)). The delete-one-group
        replicates (:meth:`replicates`) are for equal weights only."""
        self.phi = np.asarray(phi, dtype=np.float64)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.phi_test = None if phi_test is None else np.asarray(phi_test, dtype=np.float64)
        self.chi, self.kappa0, self.g_w, self.N = float(chi), float(kappa0), float(g_w), N
        P = C.shape[0]
        R = np.linalg.inv(C + kappa0 * np.eye(P))
        self.R = 0.5 * (R + R.T)
        self.a = self.R @ y
        self.alpha = self.phi @ self.a  # φ_sᵀa
        FR = self.phi @ self.R
        self.KR = FR @ self.phi.T  # (S, S): φ_sᵀ R φ_t
        self.KR = 0.5 * (self.KR + self.KR.T)

    def _lpp(self, A):
        """L''[A] (P, P) of docs/theory.md §5 for symmetric A."""
        R, a = self.R, self.a
        RAa = R @ (A @ a)
        return -0.5 * self.chi * (np.outer(RAa, a) + np.outer(a, RAa)) + 0.5 * R @ A @ R

    def _system(self, KR, al, lam: float = 1.0, w=None):
        """I − λT (n, n), T = (κ/n) J Ĥ J with Ĥ_st = ⟨ψ_s, L''ψ_t⟩ = ½ (K_R)_st² − χ (K_R)_st α_s α_t for the
        samples whose K_R block and α are given (docs/theory.md §12.10); with it the centred means h = Ĥ1/n.
        With weights w (summing to 1): T = κ D^½ J_wᵀ Ĥ J_w D^½, D = diag(w), J_w = I − w1ᵀ, and h = Ĥw."""
        n = KR.shape[0]
        A = np.empty((n, n))
        for lo in range(0, n, ROW_BLOCK):
            hi = min(n, lo + ROW_BLOCK)
            blk = KR[lo:hi]
            np.multiply(blk, 0.5 * blk - self.chi * al[lo:hi, None] * al[None, :], out=A[lo:hi])
        h = A.mean(axis=1) if w is None else A @ w
        hb = h.mean() if w is None else w @ h
        A -= h[:, None]
        A -= h[None, :]
        A += hb
        if w is None:
            A *= -lam * self.g_w**2 / self.N / n
        else:
            sw = np.sqrt(w)
            A *= (-lam * self.g_w**2 / self.N) * sw[:, None]
            A *= sw[None, :]
        A[np.diag_indices(n)] += 1.0
        return A, h

    def core(self, keep=None, *, C_test=None, check: bool = False, variance: bool = False, M=None) -> dict:
        """:func:`cumulant_core` of the samples ``keep`` (index array, or None for all); same dict. ``variance``:
        also the exact (P, P) Var(δC_ij), O(n² P²) (else ``var`` is None). ``M``: (I − T)⁻¹ of these samples if
        known (:meth:`replicates`); it is overwritten."""
        chi, k0 = self.chi, self.kappa0
        R, a = self.R, self.a
        if keep is None:
            F, Fs, al = self.phi, self.phi_test, self.alpha
        else:
            F, al = self.phi[keep], self.alpha[keep]
            Fs = None if self.phi_test is None else self.phi_test[keep]
        n = F.shape[0]
        w = None
        if self.weights is not None:
            w = self.weights if keep is None else self.weights[keep]
            w = w / w.sum()
        kap = self.g_w**2 / self.N
        positive = True
        KR = self.KR if keep is None else self.KR[np.ix_(keep, keep)]
        if M is None:
            A, _ = self._system(KR, al, w=w)
            M, positive = _inverse(A)  # M = (I − T)⁻¹
            del A
        # ψ-space quadratic forms of G_C̃C̃: δψ_sᵀ G_C̃C̃ δψ_s = (M_ss − 1)/(κ w_s)   (Zᵀ G_C̃C̃ Z = M − I), and
        # M̃ = D^½ M D^½ − w wᵀ (M√w = √w), so that G_CC = Z M Zᵀ = κ Ψ M̃ Ψᵀ (Ψ uncentred); w_s = 1/n unweighted
        if w is None:
            w = np.full(n, 1.0 / n)
            M *= 1.0 / n
        else:
            sw = np.sqrt(w)
            M *= sw[:, None]
            M *= sw[None, :]
        q = (np.diag(M) / w - 1.0) / (kap * w)
        M -= np.outer(w, w)
        mean_psi = (F * w[:, None]).T @ F
        # E_B = κ Fᵀ (M̃ ∘ (F B Fᵀ)) F for B = R and B = aaᵀ
        MK = KR * M
        MKa = MK @ al
        E_R = kap * (F.T @ (MK @ F))
        del MK
        E_R = 0.5 * (E_R + E_R.T)
        Fa = F * al[:, None]
        E_aa = kap * (Fa.T @ (M @ Fa))
        E_aa = 0.5 * (E_aa + E_aa.T)
        aa = np.outer(a, a)
        RER = R @ E_R
        # g_C = ½ L'''[G_CC] (docs/theory.md §6.1), g_C̃ = ½ W'''[G_C̃C̃] (§12.2)
        g_C = 0.5 * chi * (RER @ aa + aa @ RER.T + R @ E_aa @ R) - 0.5 * RER @ R
        g_C = 0.5 * (g_C + g_C.T)
        c3 = self.g_w**3 / self.N**2
        wq = w * q
        g_T = 0.5 * c3 * ((F * wq[:, None]).T @ F - wq.sum() * mean_psi)
        g_T = 0.5 * (g_T + g_T.T)
        # δC = G_CC g_C + G_CC̃ g_C̃ = g_C̃ + Z M Zᵀ (g_C + L''[g_C̃])
        X = g_C + self._lpp(g_T)
        wx = np.einsum("sp,sp->s", F @ X, F)  # ⟨ψ_s, X⟩
        u = M @ wx
        dC = g_T + kap * ((F * u[:, None]).T @ F)
        dC = 0.5 * (dC + dC.T)
        var = None
        if variance:
            var = np.empty_like(mean_psi)
            for i in range(F.shape[1]):
                Xi = F * F[:, i:i + 1]
                var[i] = np.einsum("sp,sp->p", M @ Xi, Xi)
            var = kap * 0.5 * (var + var.T)
        out = dict(
            min_eig=self._min_eig(M, F, w, kap, positive) if check else float("nan"),
            positive=positive,
            a=a,
            delta_tree=k0 * a,
            delta_shift=-k0 * R @ dC @ a,
            delta_fluct=k0 * R @ E_R @ a,
            dC=dC,
            var=var,
            f_test=None,
            delta_shift_test=None,
            delta_fluct_test=None,
        )
        if C_test is not None:
            # (12.6)–(12.7) with G_{C*C} = κ Ψ* M̃ Ψᵀ, ψ*_s = φ*_s φ_sᵀ
            t1 = kap * (Fs.T @ (u * al))
            t2 = kap * (Fs.T @ MKa)  # E[δC* R δC] a
            dpa = Fs * al[:, None] - (((Fs * w[:, None]).T @ F) @ a)[None, :]  # δψ*_s a
            t3 = c3 * (wq @ dpa)
            shift_t = t1 + 0.5 * t3 - C_test @ R @ dC @ a
            fluct_t = -t2 + C_test @ R @ E_R @ a
            out["f_test"] = C_test @ a + shift_t + fluct_t
            out["delta_shift_test"] = -shift_t
            out["delta_fluct_test"] = -fluct_t
        return out

    @staticmethod
    def _min_eig(Mt, F, w, kap, positive):
        """λ_min/λ_max of G_CC = κ Ψ M̃ Ψᵀ: 0 when I − T is positive definite (G_CC ⪰ 0 of rank < m), else its
        nonzero spectrum, that of Λ^½ Vᵀ M̃ V Λ^½ with κ J_wᵀ ΨᵀΨ J_w = V Λ Vᵀ (M̃ = J_w M̃ J_wᵀ; O(n³); only where
        the check fails)."""
        if positive:
            return 0.0
        G = (F @ F.T) ** 2  # ⟨ψ_s, ψ_t⟩ = (φ_s·φ_t)²
        Gw = G @ w
        G -= Gw[:, None]
        G -= Gw[None, :]
        G += w @ Gw
        lam, V = np.linalg.eigh(kap * 0.5 * (G + G.T))
        ok = lam > lam[-1] * 1e-12
        B = V[:, ok] * np.sqrt(lam[ok])
        ev = np.linalg.eigvalsh(B.T @ Mt @ B)
        return float(ev[0] / max(ev[-1], np.finfo(float).tiny))

    def replicates(self, groups, labels, **kw) -> list:
        """:meth:`core` of every delete-one-group sample, in the order of ``labels``. With λ = n/n' (n' kept), each
        replicate's I − T' is a principal block of I − λT plus a rank-2 change of the centring, so its inverse is a
        Schur-complement downdate of (I − λT)⁻¹ — formed once per distinct λ — and a 2×2 Woodbury step:
        O(n'² n_g) per group instead of O(n'³) (docs/theory.md §12.10). Where I − λT is not positive definite, a
        replicate is solved afresh."""
        if self.weights is not None:
            raise ValueError("the jackknife downdates assume equal weights; around weighted draws use group estimates "
                             "(docs/theory.md §12.11)")
        n = self.phi.shape[0]
        idx = {g: np.flatnonzero(groups != g) for g in labels}
        out = {}
        kap = self.g_w**2 / self.N
        for lam in sorted({n / idx[g].size for g in labels}):
            X, h = self._system(self.KR, self.alpha, lam)
            Y, ok = _inverse(X)
            del X
            for g in labels:
                keep = idx[g]
                if n / keep.size != lam:
                    continue
                if not ok:
                    out[g] = self.core(keep, **kw)
                    continue
                drop = np.flatnonzero(groups == g)
                n1 = keep.size
                # (X_kk)⁻¹ = Y_kk − Y_kd (Y_dd)⁻¹ Y_dk = Y_kk − V Vᵀ,  V = Y_kd L⁻ᵀ,  Y_dd = L Lᵀ
                L = np.linalg.cholesky(Y[np.ix_(drop, drop)])
                V = sla.solve_triangular(L, Y[np.ix_(drop, keep)], lower=True)  # (n_g, n') = Vᵀ
                del L
                B = Y[np.ix_(keep, keep)].T  # Fortran order without a copy (Y_kk is symmetric)
                B = sla.blas.dsyrk(-1.0, V, beta=1.0, c=B, trans=1, lower=1, overwrite_c=1)  # lower triangle
                del V
                B = _from_lower(B)
                # centring on the kept samples: I − T' = X_kk − c (1 eᵀ + e 1ᵀ), e = h_k − h' + ½(h̄' − h̄)
                hk = self._system_means(keep, drop, h)
                e = h[keep] - hk + 0.5 * (hk.mean() - h.mean())
                U = np.stack([np.ones(n1), e], axis=1)
                c = lam * kap / n
                BU = B @ U
                cap = np.array([[0.0, 1.0 / c], [1.0 / c, 0.0]]) - U.T @ BU
                Wc = np.linalg.solve(cap, BU.T)
                for lo in range(0, n1, ROW_BLOCK):  # B += BU cap⁻¹ BUᵀ (symmetric), without an n'×n' temporary
                    B[lo:lo + ROW_BLOCK] += BU[lo:lo + ROW_BLOCK] @ Wc
                out[g] = self.core(keep, M=B, **kw)
            del Y
        return [out[g] for g in labels]

    def _system_means(self, keep, drop, h):
        """h' = Ĥ_kk 1 / n' of :meth:`_system` for the kept samples, from the full row means h = Ĥ 1 / n less the
        dropped columns: (n h_k − Ĥ_kd 1) / n' — an (n', n_g) block instead of (n', n')."""
        n = self.phi.shape[0]
        al = self.alpha
        blk = self.KR[np.ix_(keep, drop)]
        dropped = np.einsum("ij,ij->i", blk, 0.5 * blk - self.chi * al[keep, None] * al[None, drop])
        return (n * h[keep] - dropped) / keep.size


def sample_jackknife_core(C, y, chi, kappa0, samples, g_w, N, *, C_test=None, n_groups: int = 8,
                          variance: bool = False):
    """:func:`jackknife_core` in the sample representation (docs/theory.md §12.10): the same estimator and
    replicates, O(S² P + S³) time and O(S²) memory instead of O(m³) and O(m²)."""
    loop = SampleLoop(samples.phi, C, y, chi, kappa0, g_w, N, phi_test=samples.phi_test)
    groups = np.asarray(samples.group) % n_groups if n_groups else np.asarray(samples.group)
    labels = np.unique(groups)
    full = loop.core(None, C_test=C_test, check=True, variance=variance)
    reps = loop.replicates(groups, labels, C_test=C_test)
    return full, reps, int(labels.size)
