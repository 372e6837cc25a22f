"""One loop of linear networks: Gaussian fluctuations of the kernel (docs/theory.md §5–§6, §11).

The public entry, for any activation, is :func:`mastcore.theory.loops.one_loop.one_loop` (``mc.one_loop``); it calls
:func:`linear_one_loop` for the linear variants, directly or through the rule of ``variant="auto"``
(:mod:`.variants`), which imports it from here: a lower module, not a callback.

The fluctuation precision of C on Sym(P) (Frobenius inner product) is

    𝓜[A] = (N/2) K⁻¹ A K⁻¹ − ½ R A R + (χ/2)(R A a aᵀ + a aᵀ A R)              (docs/theory.md §5)

Structured form (this module; O(P³) time and O(P²) memory, kernel variance included):
with a congruence S (Sᵀ K⁻¹ S = I, Sᵀ R S = diag(ρ); at the tree saddle K = C, S = Q Λ^½ and ρ = λ/(λ+κ0))
and δC = S Ã Sᵀ, the quadratic form becomes

    ⟨δC, 𝓜 δC⟩ = Σ_ij D_ij Ã_ij² + χ (Ã b)ᵀ diag(ρ) (Ã b),   D_ij = N/2 − ½ ρ_i ρ_j,  b = Sᵀ a,

i.e. a Hadamard (diagonal) operator plus a rank-≤P positive part. Woodbury with a P×P capacitance matrix gives
the covariance, and E_B = E[δC B δC] contracts in closed form with a few P×P products (no 4-tensor). The P×P
matrix Var(δC_ij) uses the geometric series 1/D_ij = (2/N) Σ_t (ρ_iρ_j/N)^t (≈ 6–10 terms to machine precision),
with an O(P⁴)-time, O(P³)-memory direct contraction as the fallback for small N. The dense O(P⁶) Schur form of
docs/theory.md §5 is kept in tests/reference/one_loop_dense.py as a reference.

At the tree saddle D_ij > (N − 1)/2 ≥ 0 and the low-rank part is positive, so 𝓜 is positive definite there; the
positivity check matters for the self-consistent iteration, where K ≠ C.
"""
from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla
from scipy.optimize import brentq

from ..._plumbing.validation import check_data, positive_float, positive_int
from ..._plumbing.warn import warn
from ...specs import ConvergenceWarning, NetworkSpec
from .result import LOOP_TO_TREE_MAX, LoopFlags, OneLoopResult
from ..tree.linear import TreeResult, linear_tree_level, reduce_problem

__all__ = ["Fluctuations", "LINEAR_VARIANTS", "linear_one_loop", "perturbative_core", "self_consistent_core"]

#: The variants of the linear one loop: around the tree saddle (§6.2) or self-consistent (§6.3).
LINEAR_VARIANTS = ("perturbative", "self_consistent")
#: Rows of the P×P kernel-variance matrix handled per block (bounds the O(P³) temporaries to ~CHUNK·P² floats).
VAR_CHUNK = 32
#: Kernel variance by the geometric series of 1/D (see Fluctuations.variance): used when ρ_max²/N is at most this
#: (then ≤ 28 terms); SERIES_TOL is the truncation error relative to the leading term.
SERIES_MAX_RATIO = 0.25
SERIES_TOL = 1e-17


# --------------------------------------------------------------------------------------------------------------
# Structured Gaussian fluctuations
# --------------------------------------------------------------------------------------------------------------


class Fluctuations:
    """Gaussian fluctuations δC ~ N(0, 𝓜⁻¹) at a point (K, R, a) (docs/theory.md §5), structured form.

    Parameters
    ----------
    K : (r, r) SPD, the Wishart mean-field kernel K(C̃) (= C at the tree saddle).
    R : (r, r) SPD, (C + κ0)⁻¹.  a : (r,) = R y.  chi, N : scale and width.

    Attributes
    ----------
    S : (r, r) congruence with Sᵀ K⁻¹ S = I, Sᵀ R S = diag(rho).  min_D : min_ij D_ij (> 0 ⇒ 𝓜 positive definite).
    positive_definite : bool, whether 𝓜 was certified positive definite.
    """

    def __init__(self, K, R, a, chi: float, N: int):
        lam, Q = np.linalg.eigh(0.5 * (K + K.T))
        if lam[0] <= 0:
            raise np.linalg.LinAlgError(f"K is not positive definite (smallest eigenvalue {lam[0]:.3g})")
        L = Q * np.sqrt(lam)  # K = L Lᵀ
        Rl = L.T @ R @ L
        rho, U = np.linalg.eigh(0.5 * (Rl + Rl.T))
        self.S = L @ U
        self.rho = rho
        self.b = self.S.T @ a
        D = 0.5 * N - 0.5 * np.outer(rho, rho)  # Hadamard part of 𝓜 in Ã coordinates
        self.min_D = float(D.min())
        self.E = 1.0 / D
        b, E = self.b, self.E
        # Woodbury: 𝓜⁻¹ = 𝒟⁻¹ − 𝒟⁻¹Φ* H Φ𝒟⁻¹, Φ[Ã] = Ã b, H = ((χρ)⁻¹ + Φ𝒟⁻¹Φ*)⁻¹ (P×P capacitance)
        M_phi = 0.5 * np.outer(b, b) * E + 0.5 * np.diag(E @ (b * b))
        t = np.sqrt(np.clip(chi * rho, 0.0, None))
        cap = np.eye(rho.size) + t[:, None] * M_phi * t[None, :]
        self.positive_definite = bool(self.min_D > 0 and rho[0] > 0)
        try:
            cf = sla.cho_factor(cap, lower=True)
            self.H = t[:, None] * sla.cho_solve(cf, np.diag(t))
        except np.linalg.LinAlgError:
            self.positive_definite = False
            self.H = t[:, None] * np.linalg.solve(cap, np.diag(t))
        self.H = 0.5 * (self.H + self.H.T)
        self._N, self._chi = N, chi
        self.Pm = b[:, None] * E  # columns p_m = b ∘ E[:, m];  Ψ_m = 𝒟⁻¹Φ*[e_m] = ½(p_m e_mᵀ + e_m p_mᵀ)

    # -- in Ã coordinates --------------------------------------------------------------------------------------
    def _cov_t(self, G):
        # 𝓒̃[G] = 𝒟⁻¹G − 𝒟⁻¹Φ* H Φ 𝒟⁻¹G,  𝒟⁻¹G = E∘G,  Φ[A] = A b,  Φ*[w] = ½(b wᵀ + w bᵀ)
        X = self.E * G
        w = self.H @ (X @ self.b)
        return X - 0.5 * self.E * (np.outer(self.b, w) + np.outer(w, self.b))

    def _expect_t(self, B):
        # E[Ã B Ã] = ½ E∘B + ½ diag(E diag B)  −  Σ_mn H_mn Ψ_m B Ψ_n   (the latter in four P×P products)
        E, H, Pm = self.E, self.H, self.Pm
        out = 0.5 * E * B + 0.5 * np.diag(E @ np.diag(B))
        BP = B @ Pm
        F = H * BP
        PF = Pm @ F
        out -= 0.25 * (PF + PF.T + Pm @ (H * B) @ Pm.T + H * (Pm.T @ BP))
        return out

    # -- in the original coordinates ---------------------------------------------------------------------------
    def expect(self, B):
        """E_B = E[δC B δC] (r, r) for a symmetric B (r, r) (docs/theory.md §5)."""
        S = self.S
        out = S @ self._expect_t(S.T @ B @ S) @ S.T
        return 0.5 * (out + out.T)

    def expect_kinv(self):
        """E_{K⁻¹} = E[δC K⁻¹ δC] (r, r), using Sᵀ K⁻¹ S = I (no inverse of K formed)."""
        out = self.S @ self._expect_t(np.eye(self.S.shape[1])) @ self.S.T
        return 0.5 * (out + out.T)

    def apply_cov(self, G):
        """𝓜⁻¹[G] (r, r): the covariance operator applied to a symmetric matrix G (r, r)."""
        S = self.S
        out = S @ self._cov_t(S.T @ G @ S) @ S.T
        return 0.5 * (out + out.T)

    def variance(self, B=None, method: str = "auto"):
        """Var(δC_ij) for all i, j, as a (n, n) matrix, of the lifted fluctuation B δC Bᵀ (B (n, r); default I).

        method : "series" — O(n² r k) time, O(n²) memory: 1/D_kl = (2/N) Σ_t (ρ_k ρ_l / N)^t is summed to machine
        precision (k terms, k ≈ 6–10 for N ≳ 2r), which makes Σ_kl E_kl z_k z_l a sum of k squared P×P products and
        the capacitance inverse H = diagonal − rank k; "chunked" — the direct O(n² r²) contraction in blocks of
        ``VAR_CHUNK`` rows; "auto" — series when ρ_max²/N ≤ SERIES_MAX_RATIO, else chunked.
        """
        ratio = float(np.max(self.rho**2)) / self._N if self.rho.size else 0.0
        if method == "series" or (method == "auto" and 0 <= ratio <= SERIES_MAX_RATIO and self.min_D > 0):
            return self._variance_series(B, ratio)
        return self._variance_chunked(B)

    def _variance_series(self, B, ratio):
        S = self.S if B is None else B @ self.S
        N, rho, b, E = self._N, self.rho, self.b, self.E
        n_terms = 1 if ratio <= 0 else int(np.ceil(np.log(SERIES_TOL) / np.log(ratio))) + 1
        alpha = (2.0 / N) * float(N) ** -np.arange(n_terms)  # E_kl = Σ_t α_t ρ_k^t ρ_l^t
        powers = rho[None, :] ** np.arange(n_terms)[:, None]  # (k, r)
        S2 = S * S
        G = S @ self.Pm
        # Var0 = ½ [(S2 E S2ᵀ)_ij + Σ_kl E_kl z_k z_l],  z = S_i ∘ S_j
        out = 0.5 * (S2 @ E @ S2.T)
        for t in range(n_terms):
            T = (S * powers[t]) @ S.T
            out += 0.5 * alpha[t] * T * T
        # H = (Dg + W A Wᵀ)⁻¹,  Dg = (χρ)⁻¹ + ½ diag(E b²),  W = [b ∘ ρ^t],  A = diag(α/2)  (series of M_Φ)
        chi_rho = self._chi * np.clip(rho, 0.0, None)
        dg_inv = chi_rho / (1.0 + 0.5 * chi_rho * (E @ (b * b)))
        W = (b[None, :] * powers).T  # (r, k)
        inner = np.diag(2.0 / alpha) + W.T @ (dg_inv[:, None] * W)
        Lc = np.linalg.cholesky(inner)
        Vt = sla.solve_triangular(Lc, (dg_inv[:, None] * W).T, lower=True).T  # H = diag(dg_inv) − Vt Vtᵀ
        # Var1 = −¼ Σ_mn H_mn Y_m Y_n,  Y_m(ij) = G_im S_jm + G_jm S_im
        GS = G * S
        Y2 = (G * G * dg_inv) @ S2.T
        diag_part = Y2 + Y2.T + 2.0 * (GS * dg_inv) @ GS.T
        out -= 0.25 * diag_part
        for q in range(Vt.shape[1]):
            T = (G * Vt[:, q]) @ S.T
            T = T + T.T
            out += 0.25 * T * T
        return 0.5 * (out + out.T)

    def _variance_chunked(self, B=None):
        S = self.S if B is None else B @ self.S
        E, H = self.E, self.H
        G = S @ self.Pm
        S2 = S * S
        base = S2 @ E @ S2.T
        n = S.shape[0]
        out = np.empty((n, n))
        for lo in range(0, n, VAR_CHUNK):
            hi = min(n, lo + VAR_CHUNK)
            Z = S[lo:hi, None, :] * S[None, :, :]  # z_ij = S_i ∘ S_j
            zz = np.einsum("abk,abk->ab", Z @ E, Z)
            Y = G[lo:hi, None, :] * S[None, :, :] + S[lo:hi, None, :] * G[None, :, :]
            yy = np.einsum("abk,abk->ab", Y @ H, Y)
            out[lo:hi] = 0.5 * (base[lo:hi] + zz) - 0.25 * yy
        return 0.5 * (out + out.T)


def _gradients(fl: Fluctuations, K, R, a, chi, N):
    """Closed-form gradients of Γ1 (docs/theory.md §6): returns g_C, g_C̃, E_R (all (r, r))."""
    r = K.shape[0]
    E_R = fl.expect(R)
    E_aa = fl.expect(np.outer(a, a))
    E_Kinv = fl.expect_kinv()
    aa = np.outer(a, a)
    RER = R @ E_R
    g_C = 0.5 * chi * (RER @ aa + aa @ RER.T + R @ E_aa @ R) - 0.5 * RER @ R
    g_Ct = -((r + 1) / N) * K + E_Kinv
    return 0.5 * (g_C + g_C.T), 0.5 * (g_Ct + g_Ct.T), E_R


def perturbative_core(C0, y, C, N, chi, kappa0):
    """Perturbative one loop at the tree saddle C (all (r, r), reduced basis) (docs/theory.md §6).

    Returns dict(delta_tree, delta_shift, delta_fluct, dC, fluct, positive_definite, min_D).
    """
    r = C.shape[0]
    R = np.linalg.inv(C + kappa0 * np.eye(r))
    R = 0.5 * (R + R.T)
    a = R @ y
    fl = Fluctuations(C, R, a, chi, N)
    g_C, g_Ct, E_R = _gradients(fl, C, R, a, chi, N)
    Cinv = np.linalg.inv(C)
    # δC = 𝓜⁻¹[g_C + (N/2) C⁻¹ g_C̃ C⁻¹]   (docs/theory.md §6; G_CC̃ = 𝓜⁻¹ W''⁻¹)
    dC = fl.apply_cov(g_C + 0.5 * N * Cinv @ g_Ct @ Cinv)
    return dict(
        a=a,
        delta_tree=kappa0 * a,
        delta_shift=-kappa0 * R @ dC @ a,  # saddle shift: −κ0 R δC a
        delta_fluct=kappa0 * R @ E_R @ a,  # fluctuation: κ0 R E_R a = ½ κ0 a''[G_CC]
        dC=dC,
        fluct=fl,
    )


# --------------------------------------------------------------------------------------------------------------
# Self-consistent variant (docs/theory.md §6, the paper's Algorithm-1 form)
# --------------------------------------------------------------------------------------------------------------


def _largest_s(K_B, G, y, ratio):
    """Largest admissible root s of s(1 − ratio·aᵀK_B a) = 1 with a = (s K_B + G)⁻¹ y (docs/theory.md §6)."""
    lam, Q = np.linalg.eigh(K_B)
    if lam[0] <= 0:
        raise FloatingPointError(f"background kernel K_B is not positive definite ({lam[0]:.3g})")
    Kih = (Q / np.sqrt(lam)) @ Q.T  # K_B^{-1/2}
    mu, V = np.linalg.eigh(Kih @ G @ Kih)
    yt2 = (V.T @ (Kih @ y)) ** 2
    s_min = max(0.0, -float(mu[0]))

    def h(s):
        return s * (1.0 - ratio * np.sum(yt2 / (np.multiply.outer(s, np.ones_like(mu)) + mu) ** 2, axis=-1)) - 1.0

    grid = s_min + np.logspace(-8, 8, 801)
    hv = h(grid)
    idx = np.nonzero(np.sign(hv[:-1]) * np.sign(hv[1:]) <= 0)[0]
    if idx.size == 0:
        raise FloatingPointError("self-consistent one loop: no admissible root s")
    k = idx[-1]
    return float(brentq(h, grid[k], grid[k + 1], xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))


def self_consistent_core(C0, y, C_start, N, chi, kappa0, *, tol=1e-12, max_iter=200, fluct_cls=Fluctuations):
    """Solve ∇Γ = 0 (docs/theory.md §6) from C_start (the tree saddle). All arrays in the reduced basis.

    Returns dict(C, K, a, delta, delta_fluct, fluct, n_iter, residual, step).
    """
    r = C0.shape[0]
    I = np.eye(r)
    ratio = chi / N
    C, K = C_start.copy(), C_start.copy()
    eta, prev_step, step = 1.0, np.inf, np.inf
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        R = np.linalg.inv(C + kappa0 * I)
        R = 0.5 * (R + R.T)
        a = R @ y
        fl = fluct_cls(K, R, a, chi, N)
        g_C, g_Ct, _ = _gradients(fl, K, R, a, chi, N)
        K_B = np.linalg.solve(I + C0 @ (R - 2.0 * g_C) / N, C0)  # (C0⁻¹ + (R − 2 g_C)/N)⁻¹
        K_B = 0.5 * (K_B + K_B.T)
        G = g_Ct + kappa0 * I
        s = _largest_s(K_B, G, y, ratio)
        a_new = np.linalg.solve(s * K_B + G, y)
        Ka = K_B @ a_new
        K_new = K_B + ratio * s * np.outer(Ka, Ka)
        C_new = K_new + g_Ct
        step = float(np.max(np.abs(C_new - C))) / max(1.0, float(np.max(np.abs(C_new))))
        if step > prev_step and eta > 1 / 64:
            eta /= 2
        C = C + eta * (C_new - C)
        K = K + eta * (K_new - K)
        C, K = 0.5 * (C + C.T), 0.5 * (K + K.T)
        prev_step = step
        if step < tol:
            break
    # final evaluation at the solution, and the stationarity residual of ∇Γ = 0
    R = np.linalg.inv(C + kappa0 * I)
    R = 0.5 * (R + R.T)
    a = R @ y
    fl = fluct_cls(K, R, a, chi, N)
    g_C, g_Ct, E_R = _gradients(fl, K, R, a, chi, N)
    Ct = 0.5 * chi * np.outer(a, a) - 0.5 * R + g_C
    scale = max(1.0, float(np.max(np.abs(C))))
    res1 = float(np.max(np.abs(C - K - g_Ct))) / scale
    res2 = float(np.max(np.abs(K - C0 - (2.0 / N) * K @ Ct @ C0))) / scale
    return dict(C=C, K=K, a=a, delta_fluct=kappa0 * R @ E_R @ a, fluct=fl, n_iter=n_iter,
                residual=max(res1, res2, step))


# --------------------------------------------------------------------------------------------------------------
# The linear one loop (called by loops/one_loop.py, and by loops/variants.py for variant="auto")
# --------------------------------------------------------------------------------------------------------------


def _breakdown(r, N, positive_definite, loop_ratio, tree_converged) -> LoopFlags:
    """Warning flags for regimes where the loop expansion is not trustworthy (docs/theory.md §6)."""
    out = LoopFlags()
    if not positive_definite:
        out.add("M_not_positive_definite", "the fluctuation precision 𝓜 is not positive definite: the Gaussian "
                "(one-loop) integral is undefined here", severe=True)
    out.width(N, r, unit="independent samples r", detail="the prior kernel is singular (Wishart with N < r) and "
              "the loop expansion in r/N breaks down", advisory="one-loop accuracy is expected only for N ≳ 2r "
              "(docs/theory.md §6); compare with the exact posterior")
    out.loop(loop_ratio, LOOP_TO_TREE_MAX, f"the one-loop correction is {loop_ratio:.2f}× the tree-level discrepancy "
             f"(> {LOOP_TO_TREE_MAX}): the loop expansion is not converging; increase N")
    out.saddle(tree_converged)
    return out


def linear_one_loop(
    X,
    y,
    spec: NetworkSpec,
    X_test=None,
    variant: str = "perturbative",
    *,
    tree: TreeResult | None = None,
    kernel_variance: bool = True,
    tol: float = 1e-12,
    max_iter: int = 200,
    strict: bool = False,
) -> OneLoopResult:
    """One loop of a linear network around its tree saddle (docs/theory.md §6): ``variant`` "perturbative" (§6.2,
    structured O(P³) form of §6.4) or "self_consistent" (solve ∇Γ = 0, §6.3). Arguments as :func:`mastcore.one_loop`
    (which calls this for linear networks, directly or through the rule of ``variant="auto"``)."""
    t0 = time.perf_counter()
    if variant not in LINEAR_VARIANTS:
        raise ValueError(f"'variant' must be one of {LINEAR_VARIANTS} for a linear network; got {variant!r}")
    tol = positive_float("tol", tol)
    max_iter = positive_int("max_iter", max_iter)
    X, y, X_test = check_data(X, y, X_test)
    P = X.shape[0]
    N, chi, k0 = spec.width, spec.chi, spec.kappa0
    if tree is None:
        tree = linear_tree_level(X, y, spec, X_test=X_test, strict=strict)
    else:
        if not isinstance(tree, TreeResult):
            raise ValueError(f"'tree' must be a TreeResult (from mc.tree_level); got {type(tree).__name__}")
        if tree.variant != "full" or tree.spec != spec or tree.C.shape != (P, P):
            raise ValueError(
                f"'tree' must be a full-variant tree level at the same spec and data; got variant {tree.variant!r}, "
                f"spec {tree.spec}, C of shape {tree.C.shape}"
            )
    t_tree = time.perf_counter()
    red, rs = reduce_problem(X, y, spec)
    r = red.C0.shape[0]
    Cr = red.reduce_matrix(tree.C)
    Cr = 0.5 * (Cr + Cr.T)
    lift_vec = (lambda v: v) if red.B is None else (lambda v: red.B @ v)
    converged, n_iter, residual = tree.converged, tree.n_iter, tree.residual
    try:
        if variant == "perturbative":
            core = perturbative_core(red.C0, red.y, Cr, N, chi, k0)
            d_tree, d_shift, d_fluct, dCr = core["delta_tree"], core["delta_shift"], core["delta_fluct"], core["dC"]
        else:
            core = self_consistent_core(red.C0, red.y, Cr, N, chi, k0, tol=tol, max_iter=max_iter)
            a_tree = np.linalg.solve(Cr + k0 * np.eye(r), red.y)
            d_tree = k0 * a_tree
            d_shift = k0 * (core["a"] - a_tree)
            d_fluct = core["delta_fluct"]
            dCr = core["C"] - Cr
            sc_ok = core["residual"] < max(1e3 * tol, 1e-9)
            n_iter, residual = n_iter + core["n_iter"], max(residual, core["residual"])
            if not sc_ok:
                msg = (f"self-consistent one loop did not converge at chi={chi:g}, N={N}: residual "
                       f"{core['residual']:.2e} after {core['n_iter']} iterations; use variant='perturbative' or "
                       "increase N")
                if strict:
                    raise RuntimeError(msg)
                warn(msg, ConvergenceWarning)
            converged = converged and sc_ok
    except (np.linalg.LinAlgError, FloatingPointError) as exc:
        raise RuntimeError(f"one loop failed at chi={chi:g}, N={N}: {exc}; increase N or kappa0") from None
    fl = core["fluct"]
    t_fl = time.perf_counter()
    var = fl.variance(red.B) if kernel_variance else None
    t_var = time.perf_counter()
    # lift to the original P-dimensional basis: Δ = B Δ̂ + y_⊥ (saddle.reduce_problem)
    delta_tree = k0 * tree.a  # docs/theory.md §2: Δ_tree = κ0 a (includes y_⊥ outside the row space)
    delta_shift, delta_fluct = lift_vec(d_shift), lift_vec(d_fluct)
    delta = delta_tree + delta_shift + delta_fluct
    f_train = y - delta
    f_test = rs.extend(X_test, f_train)
    corr = delta_shift + delta_fluct
    loop_ratio = float(np.linalg.norm(corr) / max(np.linalg.norm(delta_tree), np.finfo(float).tiny))
    flags, message = _breakdown(r, N, fl.positive_definite, loop_ratio, tree.converged).close(
        f"one loop at chi={chi:g}, N={N}")
    dC = red.lift_matrix(dCr)
    return OneLoopResult(
        f_train=f_train,
        f_test=f_test,
        delta=delta,
        delta_tree=delta_tree,
        delta_shift=delta_shift,
        delta_fluct=delta_fluct,
        delta_shift_test=rs.extend(X_test, delta_shift),
        delta_fluct_test=rs.extend(X_test, delta_fluct),
        delta_C=dC,
        C=tree.C + dC,
        kernel_variance=var,
        tree=tree,
        spec=spec,
        variant=variant,
        converged=bool(converged),
        n_iter=int(n_iter),
        residual=float(residual),
        positive_definite=fl.positive_definite,
        loop_ratio=loop_ratio,
        flags=flags,
        message=message,
        seconds=time.perf_counter() - t0,
        timings=dict(tree=t_tree - t0, fluctuations=t_fl - t_tree, variance=t_var - t_fl),
    )
