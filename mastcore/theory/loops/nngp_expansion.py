"""The 1/N expansion of the posterior mean around the NNGP (docs/theory.md §12.3), any activation.

At χ = 1 the kernel posterior is p0(C) e^{L(C)} with C − C0 = O(N^{−½}); to O(1/N), with R = (C0 + κ0)⁻¹,
a = R y and ∇L = (χ/2) a aᵀ − ½ R at C0,

    ⟨δC⟩ = Cov0[∇L],  E0_B = E0[δC B δC],
    ⟨Δ⟩ = κ0 [a − R ⟨δC⟩ a + R E0_R a],
    ⟨f(X*)⟩ = C0* a + ⟨δC*⟩ a − C0* R ⟨δC⟩ a − E0[δC* R δC] a + C0* R E0_R a,

with the prior kernel covariance Cov0[A] = (g_w²/N) E_v[⟨δψ, A⟩ δψ], δψ = φφᵀ − E φφᵀ, h = Xv ~ N(0, (g_v/D) XXᵀ).
For φ = id the moments are Wishart, Cov0[A] = (2/N) C0 A C0 and E0_B = (C0 B C0 + tr(C0 B) C0)/N, and the
expansion is computed in closed form. For erf/ReLU every term is an average over prior samples of h with O(P²)
work per sample; the means E φφᵀ = C0/g_w are the analytic NNGP kernels, so the estimator is linear in sample
averages (unbiased) and its standard error comes from batch means over independent groups of draws. Samples are
doubled until the s.e. of the train mean(y·Δ) is at most ``mc_rtol`` of the correction of mean(y·Δ).
"""
from __future__ import annotations

import time

import numpy as np

from ...activations import get_activation
from ..._linalg import row_space
from ..._plumbing.validation import check_data
from ...specs import NetworkSpec
from .. import _defaults
from ..kernels.nngp import cross_kernel, nngp
from ..tree.neuron_law import PriorBatches, law_problem
from .result import LOOP_TO_TREE_MAX, LoopFlags, monte_carlo_settings
from .nonlinear import MC_RTOL, NonlinearOneLoopResult

__all__ = ["N_SAMPLES", "nngp_expansion"]

#: First and largest number of prior samples (doubled in between) and the number of batches of the error bar.
N_SAMPLES = 100000
MAX_SAMPLES = 1600000
N_BATCHES = 16
#: Samples per block (bounds the temporaries; theory/_defaults.py).
BLOCK = _defaults.PRIOR_BLOCK


def _terms_closed_form(C0, C0s, R, a, gL, N):
    """(R⟨δC⟩a, R E0_R a, ⟨δC*⟩a, E0[δC* R δC]a) for φ = id (Wishart moments)."""
    dCa = (2.0 / N) * C0 @ (gL @ (C0 @ a))
    ERa = (C0 @ R @ C0 @ a + np.trace(C0 @ R) * (C0 @ a)) / N
    if C0s is None:
        return dCa, ERa, None, None
    dCsa = (2.0 / N) * C0s @ (gL @ (C0 @ a))
    ERsa = (C0s @ R @ C0 @ a + np.trace(C0 @ R) * (C0s @ a)) / N
    return dCa, ERa, dCsa, ERsa


def _sample_sums(F, Fs, psi, psis, R, a, gL, chi):
    """Per-sample contributions, summed over the block: ⟨δψ,∇L⟩ δψ a, δψ R δψ a and the test analogues."""
    alpha = F @ a  # φᵀa
    RF = F @ R  # (Rφ)ᵀ
    rho = np.einsum("sp,sp->s", RF, F)  # φᵀRφ
    cbar = float(np.sum(psi * gL))  # ⟨ψ̄, ∇L⟩
    c = 0.5 * chi * alpha**2 - 0.5 * rho - cbar  # ⟨δψ, ∇L⟩ (∇L = (χ/2)aaᵀ − ½R)
    psia = psi @ a
    wt = F * alpha[:, None] - psia  # δψ a per sample (S, P)
    t = np.einsum("sp,sp->s", RF, wt)  # φᵀ R δψ a
    out = [c @ wt, F.T @ t, wt.sum(0)]  # Σ c δψa, Σ φ (φᵀRδψa), Σ δψa (for the ψ̄ R δψ a part)
    if Fs is not None:
        wts = Fs * alpha[:, None] - psis @ a  # δψ* a
        out += [c @ wts, Fs.T @ t]
    return out


def nngp_expansion(X, y, spec: NetworkSpec, X_test=None, *, n_samples: int = N_SAMPLES,
                   max_samples: int = MAX_SAMPLES, mc_rtol: float = MC_RTOL, seed: int = 0,
                   sampled: bool | None = None, progress=None) -> NonlinearOneLoopResult:
    """The 1/N expansion around the NNGP (docs/theory.md §12.3), for any activation.

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None; spec : NetworkSpec. Valid at χ = 1 (at χ ≫ 1 the tilt e^L
        is not weak; the caller's rule decides, docs/theory.md §12.4).
    n_samples, max_samples, mc_rtol, seed : Monte Carlo of the erf/ReLU moments (module docstring); ignored for
        linear networks (closed form) unless ``sampled=True`` (the Monte-Carlo path with φ = id, for checks).

    Returns
    -------
    NonlinearOneLoopResult with variant "nngp": delta_tree = the NNGP discrepancy κ0 a, delta_shift = −κ0 R⟨δC⟩a
    (the mean shift of the kernel under the tilt), delta_fluct = κ0 R E0_R a (the curvature of the predictor);
    ``tree`` is the NNGP result; delta_C = ⟨δC⟩; kernel_variance = Var0(C_ij) (prior).
    """
    t0 = time.perf_counter()
    X, y, X_test = check_data(X, y, X_test)
    P = X.shape[0]
    N, chi, k0, gw = spec.width, spec.chi, spec.kappa0, spec.g_w
    n_samples, max_samples, mc_rtol, seed = monte_carlo_settings(n_samples, max_samples, mc_rtol, seed, groups=N_BATCHES)
    base = nngp(X, y, spec, X_test)
    C0 = base.C  # the memoised NNGP kernels (docs/theory.md §17.3)
    C0s = None if X_test is None else cross_kernel(X_test, X, spec)
    R = np.linalg.inv(C0 + k0 * np.eye(P))
    R = 0.5 * (R + R.T)
    a = R @ y
    gL = 0.5 * chi * np.outer(a, a) - 0.5 * R
    se_tr = se_te = chain_tr = chain_te = None
    n_used, mc_se, ratio = 0, 0.0, 0.0
    closed = get_activation(spec.activation).linear and not sampled
    if closed:
        dCa, ERa, dCsa, ERsa = _terms_closed_form(C0, C0s, R, a, gL, N)
        var0 = (np.outer(np.diag(C0), np.diag(C0)) + C0**2) / N
        dC = (2.0 / N) * C0 @ gL @ C0
    else:
        pb = law_problem(X, spec, X_test)
        rng = np.random.default_rng(seed)
        psi = C0 / gw  # E φφᵀ (analytic)
        psis = None if C0s is None else C0s / gw

        def estimate(parts, cnt):  # (f_train parts, f_test parts), δC a, E_R a from summed draws
            c2 = gw**2 / N
            dCa = c2 * parts[0] / cnt
            # E0[δψ R δψ] a = mean φ(φᵀRδψa) − ψ̄ R mean(δψa)
            ERa = c2 * (parts[1] / cnt - psi @ (R @ (parts[2] / cnt)))
            out = [k0 * (a - R @ dCa + R @ ERa)]
            if psis is not None:
                dCsa = c2 * parts[3] / cnt
                ERsa = c2 * (parts[4] / cnt - psis @ (R @ (parts[2] / cnt)))
                shift_t, fluct_t = dCsa - C0s @ R @ dCa, -ERsa + C0s @ R @ ERa
                out += [C0s @ a + shift_t + fluct_t, -shift_t, -fluct_t]
            return out, dCa, ERa

        draws = PriorBatches(pb, spec.activation, rng,
                             lambda F, Fs: _sample_sums(F, Fs, psi, psis, R, a, gL, chi),
                             with_test=X_test is not None, groups=N_BATCHES, block=BLOCK)
        G = N_BATCHES
        n = n_samples
        while True:
            draws.grow(n)
            tot, n_used = draws.total()
            full, dCa, ERa = estimate(tot, n_used)
            batch = [estimate(g, gc)[0] for g, gc in draws.by_group()]
            d_b = np.array([b[0] for b in batch])
            myd_b = np.mean(y * d_b, axis=1)
            mc_se = float(np.std(myd_b, ddof=1) / np.sqrt(G))
            corr = float(np.mean(y * (full[0] - k0 * a)))
            ratio = mc_se / max(abs(corr), np.finfo(float).tiny)
            if progress is not None:
                progress(n_used, max_samples, {"samples": n_used, "mc_ratio": ratio})
            if ratio <= mc_rtol or n >= max_samples:
                break
            n = min(2 * n, max_samples)
        se_tr = np.std(y[None] - d_b, axis=0, ddof=1) / np.sqrt(G)
        chain_tr = y[None] - d_b
        if psis is not None:
            ft_b = np.array([b[1] for b in batch])
            se_te = np.std(ft_b, axis=0, ddof=1) / np.sqrt(G)
            chain_te = ft_b
        dC = var0 = None  # not formed for erf/ReLU (only their contractions with a and R are)
    delta_shift = -k0 * R @ dCa
    delta_fluct = k0 * R @ ERa
    delta = k0 * a + delta_shift + delta_fluct
    f_train = y - delta
    if X_test is None:
        f_test = d_shift_t = d_fluct_t = None
    elif closed:
        rs = row_space(X)
        f_test, d_shift_t, d_fluct_t = (rs.extend(X_test, v) for v in (f_train, delta_shift, delta_fluct))
    else:
        f_test, d_shift_t, d_fluct_t = full[1], full[2], full[3]
    corr_vec = delta_shift + delta_fluct
    loop_ratio = float(np.linalg.norm(corr_vec) / max(np.linalg.norm(k0 * a), np.finfo(float).tiny))
    r = row_space(X).rank if get_activation(spec.activation).linear else P  # dimension the kernel fluctuates in
    checks = LoopFlags()
    checks.width(N, r, unit="independent samples r", advisory="accuracy is expected only for N ≳ 2r")
    checks.loop(loop_ratio, LOOP_TO_TREE_MAX, f"the 1/N correction is {loop_ratio:.2f}× the NNGP discrepancy "
                f"(> {LOOP_TO_TREE_MAX}): the tilt of the kernel posterior is not weak (χ too large or N too small)")
    if not closed:
        checks.monte_carlo(ratio, mc_rtol, f"Monte-Carlo error is {100 * ratio:.0f} % of the correction; raise "
                           "'max_samples'")
    flags, message = checks.close(f"NNGP expansion at chi={chi:g}, N={N}")
    return NonlinearOneLoopResult(
        f_train=f_train,
        f_test=f_test,
        se_train=se_tr,
        se_test=se_te,
        delta=delta,
        delta_tree=k0 * a,
        delta_shift=delta_shift,
        delta_fluct=delta_fluct,
        delta_shift_test=d_shift_t,
        delta_fluct_test=d_fluct_t,
        delta_C=dC,
        C=None if dC is None else C0 + dC,
        kernel_variance=var0,
        tree=base,
        spec=spec,
        variant="nngp",
        converged=True,
        n_iter=0,
        residual=0.0,
        positive_definite=True,
        loop_ratio=loop_ratio,
        flags=flags,
        message=message,
        seconds=time.perf_counter() - t0,
        ansatz="prior",
        n_samples=n_used,
        seed=seed,
        mc_se=mc_se,
        mc_ratio=float(ratio),
        chain_f_train=chain_tr,
        chain_f_test=chain_te,
    )
