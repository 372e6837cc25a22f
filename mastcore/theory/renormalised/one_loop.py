"""The renormalised one loop: the one loop around the renormalised saddle u·C0 (docs/theory.md §12.5).

Readout-norm representation. Given the readout w, f(x) = Σ_i w_i φ(v_i·x) is a sum of N independent terms whose
cumulants are the power sums p_n = Σ_i w_i^n times the cumulants of φ. The scale u = χ|w|²/g_w (prior χ²_N/N)
carries the Gaussian part: f | w ≈ GP(0, u C0/χ), exactly so for linear networks (docs/theory.md §2.4). With
t = ln u the posterior of t is ∝ e^{Φ(t)}, Φ(t) = (N/2)(t − e^t) + L(e^t C0), whose maximiser t* is the
renormalised kernel of docs/theory.md §9.5. The one loop in t (Laplace to second order) gives, for any smooth
g(t),
    ⟨g⟩ = g(t*) + ½ σ² g''(t*) + ½ σ⁴ Φ'''(t*) g'(t*) + O(N⁻²),   σ² = −1/Φ''(t*),
applied to g = Δ(u C0) = κ0 (u C0 + κ0)⁻¹ y on the train set and to the test predictor u C0* (u C0 + κ0)⁻¹ y.
Φ is O(N) even when P ~ N, so this is an expansion in 1/N, not in P/N: for linear networks its error is O(N⁻²) in
the proportional regime as well as at χ = N.

erf/ReLU: the rest of the prior's fourth cumulant of f, κ4 = p4 [E φ⊗4 − (k⊗k)_3] with p4 = Σ w_i⁴ ≈ 3(g_w u/χ)²/N,
k = C0/g_w (raw moments; the (k⊗k) pairings are the part the scale u already carries), enters at O(1/N) through
the Edgeworth expansion of p(y | w): with A = (u C0 + κ0)/χ, z = A⁻¹y, H3 the Hermite tensor of A,
    Δ_E = −(κ0/6) R T,  f*_E = (1/6)[T* − u C0* R T],  T = κ4(·, z, z, z) − 3 κ4(·, A⁻¹, z),
evaluated at t* (docs/theory.md §12.5). Its prior moments are averages over samples of h = Xv (O(S P) work),
read from the shared prior samples (randomised quasi-Monte Carlo with a Gaussian control variate, docs/theory.md
§12.9), with an error bar from their batch groups; samples grow until the s.e. of train mean(y·Δ) is at most
``mc_rtol`` (1 %) of the loop correction (or of a tenth of the predicted shift from the NNGP, when the loop
correction is smaller). When |Δ_E| is not small against Δ(u*) the non-Gaussianity of the neuron law is O(1) (feature learning at χ ~ N)
and the flag ``nongaussian_large`` is set.
"""
from __future__ import annotations

import time

import numpy as np

from ...activations import get_activation
from ..._plumbing.validation import check_data
from ...specs import NetworkSpec
from .. import _defaults
from ..kernels.nngp import cross_kernel, train_kernel, train_kernel_eigh
from ..loops.prior_features import BLOCK, GROUPS, control_coefficient, shared_prior
from ..loops.result import LOOP_TO_TREE_MAX, LoopFlags, monte_carlo_settings
from ..loops.nonlinear import NonlinearOneLoopResult
from .kernel import rescaled_kernel

__all__ = ["LEAVE_FLAGS", "NONGAUSSIAN_MAX", "renormalised_one_loop"]

#: Prior samples for the non-Gaussian term: first and largest number (grown in between); its batch groups
#: and blocks those of the shared prior samples (prior_features.GROUPS, BLOCK).
N_SAMPLES = _defaults.RENORMALISED_SAMPLES
MAX_SAMPLES = _defaults.RENORMALISED_MAX_SAMPLES
#: Target of the Monte-Carlo error: s.e. of train mean(y·Δ) over the loop correction (docs/theory.md §12.9; with
#: the QMC draws and the control variate 1 % costs about what 5 % did with plain draws).
MC_RTOL = 0.01
#: ‖Δ_E‖ / ‖Δ(u*)‖ above this: the non-Gaussian (Edgeworth) term is not a small correction (flag).
NONGAUSSIAN_MAX = 0.25
#: |loop correction| / |Δ(u*)| above this: the Laplace expansion in t is not small (flag "loop_correction_large").
LOOP_MAX = LOOP_TO_TREE_MAX
#: Flags of this one loop on which variant="auto" (loop_variants.choose) and mc.recommend leave it for the one loop
#: around the particle saddle (docs/theory.md §12.4, §18.4): the neuron law is far from the prior, the expansion
#: is not small, the scale posterior has several maxima, or its saddle did not converge.
LEAVE_FLAGS = ("nongaussian_large", "loop_correction_large", "several_maxima", "tree_not_converged")


def _laplace_parts(lam, yt, u, chi, kappa0, N):
    """Φ''(t*), Φ'''(t*) and, in C0's eigenbasis, g, g', g'' of Δ (train) and the test filter's derivatives.

    With d = uλ + κ0 and e = uλ/d (de/dt = e(1 − e)):
      Φ'' = −(N/2)u + (χ/2) Σ ỹ²(e − 2e²)/d − ½ Σ e(1 − e),
      Φ''' = −(N/2)u + (χ/2) Σ ỹ²(e − 6e² + 6e³)/d − ½ Σ e(1 − e)(1 − 2e),
      Δ̃ = κ0 ỹ/d, Δ̃' = −κ0 ỹ e/d, Δ̃'' = −κ0 ỹ e(1 − 2e)/d;
    the test predictor is C0* Q (s ∘ ỹ) with s = u/d, s' = uκ0/d², s'' = uκ0(κ0 − uλ)/d³.
    """
    d = u * lam + kappa0
    e = u * lam / d
    y2 = yt**2
    p2 = -0.5 * N * u + 0.5 * chi * np.sum(y2 * (e - 2 * e**2) / d) - 0.5 * np.sum(e * (1 - e))
    p3 = (-0.5 * N * u + 0.5 * chi * np.sum(y2 * (e - 6 * e**2 + 6 * e**3) / d)
          - 0.5 * np.sum(e * (1 - e) * (1 - 2 * e)))
    g = (kappa0 * yt / d, -kappa0 * yt * e / d, -kappa0 * yt * e * (1 - 2 * e) / d)
    s = (u / d, u * kappa0 / d**2, u * kappa0 * (kappa0 - u * lam) / d**3)
    return p2, p3, g, s


def _surrogate_mean(m, S, z, W):
    """E t(ψ) for ψ ~ N(m, S), t(ψ) = ψ(ψᵀz)³ − 3ψ(ψᵀWψ)(ψᵀz) (docs/theory.md §12.9, Isserlis with a mean):
    with μ = mᵀz, σ = zᵀSz, E ψ(ψᵀz)³ = m(μ³ + 3μσ) + 3Sz(μ² + σ) and
    E ψ(ψᵀWψ)(ψᵀz) = m[(mᵀWm + tr WS)μ + 2mᵀWSz] + S[2W(S + mmᵀ)z + (tr WS + mᵀWm)z]."""
    Sz = S @ z
    mu, sig = float(m @ z), float(z @ Sz)
    Wm = W @ m
    mWm, trWS = float(m @ Wm), float(np.sum(W * S))
    cubic = m * (mu**3 + 3 * mu * sig) + 3 * Sz * (mu**2 + sig)
    quad = m * ((mWm + trWS) * mu + 2 * float(Wm @ Sz)) + S @ (2 * (W @ Sz + Wm * mu) + (trWS + mWm) * z)
    return cubic - 3 * quad


def renormalised_one_loop(X, y, spec: NetworkSpec, X_test=None, *, nongaussian: bool | None = None,
                          n_samples: int = N_SAMPLES, max_samples: int = MAX_SAMPLES, mc_rtol: float = MC_RTOL,
                          seed: int = 0, strict: bool = False, progress=None) -> NonlinearOneLoopResult:
    """One loop around the renormalised saddle u*·C0, any activation (docs/theory.md §12.5).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None; spec : NetworkSpec.
    nongaussian : include the O(1/N) non-Gaussian (Edgeworth) term of erf/ReLU features (default: True for
        erf/ReLU; it vanishes identically for linear networks).
    n_samples, max_samples, mc_rtol, seed : Monte Carlo of that term (module docstring).
    strict : raise instead of warning when the saddle search did not converge.

    Returns
    -------
    NonlinearOneLoopResult with variant "renormalised": delta_tree = Δ(u*C0), delta_shift = ½σ⁴Φ'''Δ' (the
    shift of ⟨t⟩ from t*), delta_fluct = ½σ²Δ'' + Δ_E (the fluctuation of t and the non-Gaussian term, which is
    also reported alone as ``delta_nongaussian``, with ``nongaussian_ratio`` = ‖Δ_E‖/‖Δ(u*)‖); ``tree`` is the
    renormalised kernel (mc.rescaled_kernel) it expands around; kernel_variance = σ² u*² C0∘C0 (the variance of
    the kernel entries along the scale mode).
    """
    t0 = time.perf_counter()
    X, y, X_test = check_data(X, y, X_test)
    P = X.shape[0]
    N, chi, k0, gw = spec.width, spec.chi, spec.kappa0, spec.g_w
    n_samples, max_samples, mc_rtol, seed = monte_carlo_settings(n_samples, max_samples, mc_rtol, seed, groups=GROUPS)
    nongaussian = not get_activation(spec.activation).linear if nongaussian is None else bool(nongaussian)
    saddle = rescaled_kernel(X, y, spec, X_test)  # warns (ConvergenceWarning) itself when it does not converge
    if strict and not saddle.converged:
        raise RuntimeError(f"renormalised one loop: the renormalised saddle did not converge (residual "
                           f"{saddle.residual:.2e} at u = {saddle.u:.6g})")
    u = saddle.u
    C0 = train_kernel(X, spec)  # memoised with its eigendecomposition (docs/theory.md §17.3)
    C0s = None if X_test is None else cross_kernel(X_test, X, spec)
    lam, Q = train_kernel_eigh(X, spec)
    lam = np.clip(lam, 0.0, None)
    yt = Q.T @ y
    p2, p3, g, s = _laplace_parts(lam, yt, u, chi, k0, N)
    if not p2 < 0:
        raise RuntimeError(f"renormalised one loop: Φ''(t*) = {p2:.3g} is not negative at u* = {u:.4g} "
                           f"(chi={chi:g}, N={N}); the saddle is not a maximum")
    s2 = -1.0 / p2
    # ⟨g⟩ = g + ½σ²g'' + ½σ⁴Φ'''g'   (docs/theory.md §12.5)
    d_tree = Q @ g[0]
    d_shift = Q @ (0.5 * s2**2 * p3 * g[1])
    d_fl = Q @ (0.5 * s2 * g[2])
    f_test = dts = dtf = None
    if C0s is not None:
        f_tree_t = C0s @ (Q @ (s[0] * yt))
        sh_t = C0s @ (Q @ (0.5 * s2**2 * p3 * s[1] * yt))
        fl_t = C0s @ (Q @ (0.5 * s2 * s[2] * yt))
        f_test, dts, dtf = f_tree_t + sh_t + fl_t, -sh_t, -fl_t
    d_E = np.zeros(P)
    se_tr = se_te = chain_tr = chain_te = None
    n_used, mc_se, ratio = 0, 0.0, 0.0
    fE_t = None
    if nongaussian:
        R = (Q / (u * lam + k0)) @ Q.T  # (u C0 + κ0)⁻¹ in C0's eigenbasis
        a = R @ y
        z, Ainv = chi * a, chi * R
        k = C0 / gw
        ks = None if C0s is None else C0s / gw
        p4 = 3.0 * (gw * u / chi) ** 2 / N
        kz = k @ z
        zkz = float(z @ kz)
        trAk = float(np.sum(Ainv * k))
        kAkz = k @ (Ainv @ kz)
        shared = shared_prior(X, X_test, spec, seed)
        # χ-dependent contractions in C0's eigenbasis (docs/theory.md §12.9): z̃ = Qᵀz, A⁻¹ = Q diag(w) Qᵀ
        zt, wt = Q.T @ z, chi / (u * lam + k0)
        G = GROUPS
        sums = [None] * G  # per group: sums over draws (add_block)
        counts = np.zeros(G, dtype=int)
        done_blocks = 0
        v = Q.T @ (R @ y)  # the direction of the target, train mean(y·Δ_E) ∝ yᵀR T

        def add_block(i):
            Gt, Pt, Fs = shared.block(i)
            al, alp = Gt @ zt, Pt @ zt
            # t(φ) = φ(φᵀz)³ − 3 φ(φᵀA⁻¹φ)(φᵀz), and the same of the Gaussian surrogate ψ (control variate)
            c, cp = al**3 - 3 * ((Gt * Gt) @ wt) * al, alp**3 - 3 * ((Pt * Pt) @ wt) * alp
            Y, Z = c * (Gt @ v), cp * (Pt @ v)  # per draw, the target's component of t(φ) and t(ψ)
            part = [c @ Gt, cp @ Pt, np.array([Y @ Z, Z @ Z, Z.sum(), Y.sum()])]
            if Fs is not None:
                part += [(al**3) @ Fs, (c - al**3) @ Fs / -3.0]
            g = i % G
            sums[g] = part if sums[g] is None else [a + b for a, b in zip(sums[g], part)]
            counts[g] += Gt.shape[0]

        # the Gaussian pairings of κ4 (12.14): 3(zᵀkz)kz − 3(tr(A⁻¹k)kz + 2kA⁻¹kz), in C0's eigenbasis
        Et_pair = Q.T @ (3 * zkz * kz - 3 * (trAk * kz + 2 * kAkz))
        Et_psi = Q.T @ _surrogate_mean(shared.m, shared.S, z, Ainv)  # E t(ψ), ψ ~ N(m, S) (§12.9)

        def estimate(parts, cnt, beta):  # (δE on the train set, on the test set) from summed draws
            # T = κ4(·,z,z,z) − 3κ4(·,A⁻¹,z) = p4 (E t(φ) − E t(ψ)): the Gaussian pairings are E t(ψ) exactly;
            # train: E t(φ) by mean t(φ) − β(mean t(ψ) − E t(ψ)); test: plain (its T* shares the draws of T)
            T = p4 * (Q @ (parts[0] / cnt - beta * (parts[1] / cnt - Et_psi) - Et_pair))
            dE = -(k0 / 6.0) * (R @ T)
            if ks is None:
                return dE, None
            T_plain = p4 * (Q @ (parts[0] / cnt - Et_pair))
            Ts = p4 * ((parts[3] / cnt - 3 * zkz * (ks @ z)) - 3 * (parts[4] / cnt - trAk * (ks @ z)
                                                                     - 2 * ks @ (Ainv @ kz)))
            return dE, (Ts - u * C0s @ (R @ T_plain)) / 6.0

        n = n_samples
        corr_loop = float(np.mean(y * (d_shift + d_fl)))
        nngp_myd = k0 * float(np.sum(yt**2 / (lam + k0))) / P  # mean(y·Δ) of the NNGP
        while True:
            want = -(-n // (BLOCK * G)) * G  # whole rounds: every group gets the same number of blocks
            for i in range(done_blocks, want):
                add_block(i)
            done_blocks = max(done_blocks, want)
            n_used = int(counts.sum())
            tot = [sum(col) for col in zip(*sums)]
            beta = control_coefficient(tot[2], n_used, shared.control)
            d_E, fE_t = estimate(tot, n_used, beta)
            per_b = [estimate(gs, gc, beta) for gs, gc in zip(sums, counts)]
            dE_b = np.array([b[0] for b in per_b])
            mc_se = float(np.std(dE_b @ y / P, ddof=1) / np.sqrt(G))
            # target: MC_RTOL of the loop correction, or of a tenth of the predicted finite-width shift when the
            # loop correction is smaller still (then its Monte-Carlo error is irrelevant at that level)
            corr = max(abs(corr_loop + float(np.mean(y * d_E))), 0.1 * abs(float(np.mean(y * (d_tree + d_shift
                       + d_fl + d_E))) - nngp_myd))
            ratio = mc_se / max(corr, np.finfo(float).tiny)
            if progress is not None:
                progress(n_used, max_samples, {"samples": n_used, "mc_ratio": ratio})
            if ratio <= mc_rtol or n >= max_samples:
                break
            # the samples the target needs, from the error's 1/√n law (at most doubling, at least +50 %)
            need = n_used * (ratio / mc_rtol) ** 2 * 1.1
            n = int(min(max(need, 1.5 * n_used), 2 * n_used, max_samples))
        base = d_tree + d_shift + d_fl
        chain_tr = y[None] - (base[None] + dE_b)
        se_tr = np.std(chain_tr, axis=0, ddof=1) / np.sqrt(G)
        if fE_t is not None:
            fEt_b = np.array([b[1] for b in per_b])
            chain_te = f_test[None] + fEt_b
            se_te = np.std(chain_te, axis=0, ddof=1) / np.sqrt(G)
            f_test = f_test + fE_t
            dtf = dtf - fE_t
    d_fluct = d_fl + d_E
    delta = d_tree + d_shift + d_fluct
    corr_vec = d_shift + d_fluct
    loop_ratio = float(np.linalg.norm(corr_vec) / max(np.linalg.norm(d_tree), np.finfo(float).tiny))
    ng_ratio = float(np.linalg.norm(d_E) / max(np.linalg.norm(d_tree), np.finfo(float).tiny))
    checks = LoopFlags()
    if saddle.n_roots > 1:
        checks.add("several_maxima", f"Φ(u) has {saddle.n_roots} stationary points: the scale posterior may be "
                   "multimodal")
    checks.loop(loop_ratio, LOOP_MAX, f"the loop correction is {loop_ratio:.2f}× Δ(u*) (> {LOOP_MAX})")
    if ng_ratio > NONGAUSSIAN_MAX:
        checks.add("nongaussian_large", f"the non-Gaussian term is {ng_ratio:.2f}× Δ(u*) (> {NONGAUSSIAN_MAX}): "
                   "the neuron law is far from the prior (feature learning); use the one loop around the particle "
                   "saddle", severe=True)
    if nongaussian:
        checks.monte_carlo(ratio, mc_rtol, f"Monte-Carlo error is {100 * ratio:.0f} % of the loop correction; "
                           "raise 'max_samples'")
    checks.saddle(saddle.converged, "the renormalised saddle")
    flags, message = checks.close(f"renormalised one loop at chi={chi:g}, N={N}")
    return NonlinearOneLoopResult(
        f_train=y - delta,
        f_test=f_test,
        se_train=se_tr,
        se_test=se_te,
        delta=delta,
        delta_tree=d_tree,
        delta_shift=d_shift,
        delta_fluct=d_fluct,
        delta_shift_test=dts,
        delta_fluct_test=dtf,
        delta_C=(s2 * (0.5 + 0.5 * s2 * p3)) * saddle.C,  # ⟨u⟩ − u* = u*(½σ² + ½σ⁴Φ''') to this order
        C=saddle.C * (1.0 + s2 * (0.5 + 0.5 * s2 * p3)),
        kernel_variance=s2 * saddle.C**2,
        tree=saddle,
        spec=spec,
        variant="renormalised",
        converged=bool(saddle.converged),
        n_iter=int(saddle.n_iter),
        residual=float(saddle.residual),
        positive_definite=True,
        loop_ratio=loop_ratio,
        flags=flags,
        message=message,
        seconds=time.perf_counter() - t0,
        timings=dict(total=time.perf_counter() - t0),
        delta_nongaussian=d_E,
        nongaussian_ratio=ng_ratio,
        ansatz="prior",
        n_samples=n_used,
        seed=seed,
        mc_se=mc_se,
        mc_ratio=float(ratio),
        chain_f_train=chain_tr,
        chain_f_test=chain_te,
    )
