"""The exact tilted neuron law by importance-weighted quasi-Monte Carlo draws (docs/theory.md §9.4).

The saddle's neuron law (docs/theory.md §9.4) is the tilted prior
    p(v) ∝ N(v; 0, I/λ0) · exp[(g_w/N) φ(Zv)ᵀ C̃ φ(Zv)],  C̃ = (χ/2) a aᵀ − ½ R  (in the row space, Z = X W),
and the saddle is the fixed point C = g_w E_p[φφᵀ]. Here p is sampled by importance weighting: n draws v = m + Lξ
of a Gaussian proposal q = N(m, LLᵀ) close to p (the Gaussian ansatz's law at this χ, or the previous χ's law of a
sweep), ξ = Φ⁻¹(u) with u from GROUPS independently scrambled Sobol' sequences, and self-normalised weights
w ∝ p(v)/q(v). For fixed draws, C ↦ g_w Σ w(C) φφᵀ is a deterministic map, solved to round-off (Anderson-accelerated
damped iteration): no Markov chain, no stochastic fixed point whose noise feeds back into C. The proposal is refitted to
the weighted mean and covariance while the effective sample size (Σw)²/Σw² is below ESS_REFIT·n.

Error bar: each group is an independent randomisation; its own fixed point (started from the pooled one) gives a
prediction f_g, and the spread of the GROUPS predictions over √GROUPS is the Monte-Carlo error of the pooled C
(randomised QMC; the loop around the saddle adds it to its own, docs/theory.md §12.10).
Where even a refitted proposal leaves fewer than ESS_MIN·n effective draws, :func:`weighted_tree` returns None and
the caller samples the law with MALA chains instead (:mod:`.particles`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..._linalg import MEMO
from ..._plumbing.threads import serial
from ..._plumbing.validation import positive_int
from .. import _defaults
from ..qmc import SOBOL_MAX_DIM, normals, sobol_engine
from ..kernels.gaussian_law import fast_activation_fn, smoothed_feature_sums
from .likelihood import dual
from .result import finish

__all__ = ["Draws", "ESS_MIN", "ESS_REFIT", "GROUPS", "N_DRAWS", "law_weights", "solve_fixed_point", "weighted_tree"]

#: Draws (a multiple of GROUPS × a power of 2) and independent scrambled Sobol' groups (theory/_defaults.py).
N_DRAWS = _defaults.WEIGHTED_DRAWS
GROUPS = _defaults.WEIGHTED_GROUPS
#: Refit the proposal while ESS < ESS_REFIT·n (at most MAX_REFITS times); give up (MALA instead) below ESS_MIN·n.
ESS_REFIT = 0.3
ESS_MIN = 0.02
MAX_REFITS = 2
#: Fixed point: relative tolerance (max |G(C) − C| / max |G(C)|), iterations, Anderson depth, first mixing; the
#: groups' solves, started at the pooled fixed point, take the full step (GROUP_MIXING: at the Fig. 2 preset, 5 particle
#: χ of a sweep, 288 group steps against 384 at ½; the cold pooled solve with the full step failed for ReLU on the
#: P = 12 teacher in 4 of 6 seeds, and its weights then degenerated).
TOL = 1e-10
MAX_ITER = 100
ANDERSON_DEPTH = 5
MIXING = 0.5
GROUP_MIXING = 1.0
#: The groups' own fixed points (the error bar) are solved to this relative residual (their spread is ~1e-4–1e-5 of C).
#: (The test predictions use every draw, as C does: on a prefix of each group they were 3–8× noisier at the same
#: number of draws — C and the test kernel on the same draws share their error, which cancels in f* = k*(C + κ0)⁻¹y.)
GROUP_TOL = 1e-8
#: Draws per block of the fixed-point map's sums (cache-sized temporaries; measured at n = 131072, P = 80, one
#: thread: 51 + 55 ms per step in blocks of 2048, 69 + 76 ms on the whole arrays).
ROWS = 2048


def solve_fixed_point(step, C0, *, tol=TOL, max_iter=MAX_ITER, mixing=None):
    """C = step(C)[0] by Anderson-accelerated damped iteration (depth ANDERSON_DEPTH): on a growing residual or a
    failed step the history is dropped and the mixing halved. ``step(C)`` → (G(C), aux).
    Returns (G(C), aux, iterations, residual, converged) at the last C."""
    shape = C0.shape
    x = np.array(C0, dtype=np.float64).ravel()
    beta, dX, dF = MIXING if mixing is None else float(mixing), [], []
    x_prev = f_prev = None
    best = (np.inf, x, None, None)
    res = np.inf
    for k in range(1, max_iter + 1):
        try:
            gx, aux = step(x.reshape(shape))
            gx = gx.ravel()
            ok = bool(np.all(np.isfinite(gx)))
        except np.linalg.LinAlgError:
            ok = False
        if not ok:  # an extrapolation left the domain (C + κ0 not invertible): back to the best point, damp more
            beta, dX, dF, x_prev = 0.5 * beta, [], [], None
            x = best[1].copy()
            continue
        f = gx - x
        res = float(np.max(np.abs(f)) / max(float(np.max(np.abs(gx))), np.finfo(float).tiny))
        if res < tol:
            return gx.reshape(shape), aux, k, res, True
        if res < best[0]:
            best = (res, x.copy(), gx, aux)
        elif res > 4.0 * best[0]:  # diverging: restart from the best point with less mixing
            beta, dX, dF, x_prev = 0.5 * beta, [], [], None
            x = best[1].copy()
            continue
        if x_prev is not None:
            dX.append(x - x_prev)
            dF.append(f - f_prev)
            dX, dF = dX[-ANDERSON_DEPTH:], dF[-ANDERSON_DEPTH:]
        x_prev, f_prev = x, f
        if dF:
            Fm = np.column_stack(dF)
            gamma = np.linalg.lstsq(Fm, f, rcond=None)[0]
            x = x + beta * f - (np.column_stack(dX) + beta * Fm) @ gamma
        else:
            x = x + beta * f
    _, _, gx, aux = best
    return gx.reshape(shape), aux, max_iter, best[0], False


def _normals(r: int, n: int, groups: int, seed, refit: int, per: int | None = None):
    """(groups·per, r) standard normals: the first ``per`` (default n/groups) points of each of ``groups``
    independently scrambled Sobol' sequences of n/groups points, Φ⁻¹-mapped (a power-of-2 prefix of a scrambled
    Sobol' sequence is itself a scrambled net, docs/theory.md §12.10); pseudo-random beyond SOBOL_MAX_DIM."""
    full = n // groups
    per = full if per is None else int(per)
    # the same points at every χ of a sweep (only the proposal that maps them moves): memoised (read-only)
    return MEMO.get("weighted_normals", (r, n, groups, int(seed), int(refit), per),
                    lambda: _make_normals(r, n, groups, seed, refit, per))


def _make_normals(r, n, groups, seed, refit, per):
    if r > SOBOL_MAX_DIM:
        full = n // groups
        xi = np.random.default_rng([seed, refit, 13]).standard_normal((n, r))
        return np.vstack([xi[g * full:g * full + per] for g in range(groups)])
    # the first `per` points of a power-of-2 draw (a loop's several stretches need not be a power of 2 together;
    # scipy warns on such a draw, and each stretch is a net of its own)
    whole = 1 << max(0, int(per) - 1).bit_length()
    return np.vstack([normals(sobol_engine(r, [seed, refit, g, 13]), whole)[:per] for g in range(groups)])


@dataclasses.dataclass(frozen=True)
class Draws:
    """What regenerates the draws of :func:`weighted_tree` (a few r×r numbers instead of n×r draws): the proposal
    N(mean, LLᵀ) in the row space, n draws in ``groups`` scrambled groups, the seed and the refit index."""

    mean: np.ndarray
    L: np.ndarray
    n: int
    groups: int
    seed: int
    refit: int

    def points(self, lam0: float, per: int | None = None):
        """(V (k, r), base (k,), group (k,)): the first ``per`` draws of every group (default all), base the
        log prior less the log proposal up to a constant (docs/theory.md §9.4)."""
        xi = _normals(self.L.shape[0], self.n, self.groups, self.seed, self.refit, per)
        V = self.mean + xi @ self.L.T
        base = -0.5 * lam0 * np.einsum("ij,ij->i", V, V) + 0.5 * np.einsum("ij,ij->i", xi, xi)
        k = xi.shape[0] // self.groups
        return V, base, np.repeat(np.arange(self.groups), k)


def law_weights(F, base, C, y, spec):
    """Self-normalised weights (n,) of the tilted law at the saddle C for draws with features F (n, P) and
    ``base`` of :meth:`Draws.points`: w ∝ exp[base + (g_w/N) φᵀC̃φ], C̃ = (χ/2) a aᵀ − ½ R (docs/theory.md §9.4)."""
    Ct, _ = dual(C, y, spec.chi, spec.kappa0)
    quad = np.empty(F.shape[0])
    for lo in range(0, F.shape[0], ROWS):
        f = F[lo:lo + ROWS]
        quad[lo:lo + ROWS] = np.einsum("ij,ij->i", f @ Ct, f)
    lw = base + (spec.g_w / spec.width) * quad
    w = np.exp(lw - lw.max())
    return w / w.sum()


def _proposal(mean, cov, r: int):
    """(m, L) with LLᵀ = cov in the principal-component construction: column k of L is the k-th largest principal
    axis, so the first (best-balanced) Sobol' coordinates carry the directions of most variance. Measured at the
    Fig. 2 preset, χ = N, proposal = the previous χ's weighted law, 5 seeds: spread of train mean(y·Δ) 4.0e-6 (reported
    4.8e-6), where a Cholesky factor of the same covariance gave 1.1e-4 (reported 3.6e-5)."""
    cov = 0.5 * (cov + cov.T)
    lam, U = np.linalg.eigh(cov)
    order = np.argsort(lam)[::-1]
    lam = np.maximum(lam[order], 1e-12 * max(float(lam.max()), 1e-300))
    return (np.zeros(r) if mean is None else np.asarray(mean, dtype=np.float64)), U[:, order] * np.sqrt(lam)


def _step(F, base, y, spec):
    """The map C ↦ g_w Σ_s w_s(C) φ_s φ_sᵀ on fixed draws (F the (n, P) features, base = log prior − log proposal)."""
    def step(C):
        w = law_weights(F, base, C, y, spec)
        G = np.zeros((F.shape[1], F.shape[1]))
        for lo in range(0, F.shape[0], ROWS):
            f = F[lo:lo + ROWS]
            G += (f.T * w[lo:lo + ROWS]) @ f
        return spec.g_w * G, w
    return step


def _ess(w) -> float:
    return float(1.0 / np.sum(w * w))


def _pooled(pb, spec, mean, L, C, n, groups, seed, tol, max_iter, progress, phi):
    """The pooled fixed point on n draws of the proposal N(mean, LLᵀ), the proposal refitted to the weighted law while
    the effective sample size is below ESS_REFIT·n (at most MAX_REFITS times; docs/theory.md §9.4).
    Returns (C, draws, V, F, base, w, converged, residual, iterations, ESS/n)."""
    total_iter = 0
    for refit in range(MAX_REFITS + 1):
        draws = Draws(mean, L, n, groups, int(seed), refit)
        V, base, _ = draws.points(pb.lam0)  # base: log p(v) − log q(v) up to a constant, at C̃ = 0
        F = phi(V @ pb.Z.T)
        step = _step(F, base, pb.y, spec)
        C, w, n_iter, res, ok = solve_fixed_point(step, C, tol=tol, max_iter=max_iter)
        total_iter += n_iter
        ess = _ess(w) / n
        if progress is not None:
            progress(refit + 1, MAX_REFITS + 1, {"ess": ess, "iterations": n_iter})
        if ess >= ESS_REFIT or refit == MAX_REFITS:
            break
        # refit the proposal to the weighted law's mean and covariance (docs/theory.md §9.4)
        m_w = w @ V
        d = V - m_w
        mean, L = _proposal(m_w, (d.T * w) @ d, pb.r)
    return C, draws, V, F, base, w, ok, res, total_iter, ess


def weighted_tree(pb, *, proposal, t0, n_draws: int = N_DRAWS, n_particles: int = _defaults.N_PARTICLES,
                  seed: int = 0, progress=None, tol: float = TOL, max_iter: int = MAX_ITER):
    """The particle saddle by weighted QMC draws (module docstring). ``proposal``: a NonlinearTreeResult on the same
    data whose law (``_mean_row``, ``_cov_row``) proposes the draws and whose C starts the fixed point.
    Returns a NonlinearTreeResult (ansatz "particles"), or None where the weights stay degenerate (ESS < ESS_MIN·n)."""
    spec = pb.spec
    gw, k0, chi = spec.g_w, spec.kappa0, spec.chi
    phi = fast_activation_fn(spec.activation)[0]
    n = positive_int("n_draws", n_draws)
    groups = GROUPS
    if n % groups or (n // groups) & (n // groups - 1):
        raise ValueError(f"'n_draws' must be {groups} × a power of 2; got {n}")
    r = pb.r
    mean, L = _proposal(proposal._mean_row, proposal._cov_row, r)
    C = np.array(proposal.C, dtype=np.float64)
    with serial():  # the same sums in the same order whatever the thread count: same seed, same answer
        C, draws, V, F, base, w, ok, res, total_iter, ess = _pooled(pb, spec, mean, L, C, n, groups, seed, tol,
                                                                    max_iter, progress, phi)
    if ess < ESS_MIN:
        return None
    # the groups' own fixed points (started from the pooled one) give the Monte-Carlo error (randomised QMC); they
    # need a precision well below their spread, not round-off (GROUP_TOL)
    per = n // groups
    a = dual(C, pb.y, chi, k0)[1]
    Cg, wg, ag, fb, ftb, f_test = [], [], [], [], [], None
    with serial():
        for g in range(groups):
            sl = slice(g * per, (g + 1) * per)
            Cb, wb, _, _, _ = solve_fixed_point(_step(F[sl], base[sl], pb.y, spec), C, tol=max(tol, GROUP_TOL),
                                                max_iter=max_iter, mixing=GROUP_MIXING)
            Cg.append(Cb)
            wg.append(wb)
            ag.append(dual(Cb, pb.y, chi, k0)[1])
            fb.append(pb.y - k0 * ag[-1])
        for g in range(groups) if pb.Zs is not None else ():
            # f* = g_w E_p[φ(h*) φ(h)ᵀ] a, the prior part of h* outside the row space integrated out where φ allows
            # (docs/theory.md §9.4): pooled with the pooled weights, per group with the group's own — sums over
            # draws of φ(h*) times the scalar φ(h)·a (never the P*×P test kernel)
            sl = slice(g * per, (g + 1) * per)
            coef = np.column_stack([w[sl] * (F[sl] @ a), wg[g] * (F[sl] @ ag[g])])
            sums = gw * smoothed_feature_sums(spec.activation, V[sl], pb.Zs, pb.qs_perp, coef,
                                              np.random.default_rng([seed, g, 17]))
            f_test = sums[:, 0] if f_test is None else f_test + sums[:, 0]
            ftb.append(sums[:, 1])
    Cg = np.asarray(Cg)
    scale = max(1.0, float(np.max(np.abs(C))))
    c_se = float(np.max(Cg.std(0, ddof=1)) / np.sqrt(groups)) / scale
    with serial():
        mean_r = w @ V
        d = V - mean_r
        cov_r = (d.T * w) @ d + 1e-12 * np.eye(r)
    res_out = finish(pb, cov_r, mean_r, C, a, None, "particles", ok, total_iter, res, t0, np.nan, 1, c_se=c_se)
    res_out = dataclasses.replace(res_out, f_test=f_test)
    # systematic resampling: M draws of the law (the loop's MALA chains start from them, docs/theory.md §12.10)
    rng = np.random.default_rng([seed, 19])
    u = (rng.random() + np.arange(int(n_particles))) / int(n_particles)
    idx = np.minimum(np.searchsorted(np.cumsum(w), u), n - 1)
    return dataclasses.replace(res_out, _particles=V[idx], _f_blocks=np.asarray(fb),
                               _ft_blocks=np.asarray(ftb) if ftb else None, ess=ess, _draws=draws,
                               _C_groups=Cg)
