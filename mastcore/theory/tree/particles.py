"""Particle tree level: the exact saddle point without a Gaussian ansatz (docs/theory.md §9, "better ansätze").

The per-neuron law at the saddle is the tilted prior
    p(v) ∝ N(v; 0, (g_v/D) I) · exp[(g_w/N) φ(Xv)ᵀ C̃ φ(Xv)],  C̃ = (χ/2) a aᵀ − ½ R,  a = R y,  R = (C + κ0)⁻¹,
with C = g_w E_p[φ(Xv) φ(Xv)ᵀ]. It is represented by M particles (independent MALA chains in the row space of X;
orthogonal to it the law is the prior) and C is found by a damped stochastic fixed point, annealed in χ from the
NNGP, then averaged over the last iterations. Test kernels use the same particles plus prior noise orthogonal to
the row space.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..._plumbing.threads import serial
from .. import _defaults
from .likelihood import dual
from ..kernels.gaussian_law import activation_fn, fast_activation_fn, smoothed_features
from .result import finish
from .weighted import N_DRAWS, weighted_tree

#: Defaults (theory/_defaults.py, shared with the cost model): particles, χ stages, outer iterations per stage / in
#: the final averaging stage, MALA steps per outer iteration; and the damping of the C update.
N_PARTICLES = _defaults.N_PARTICLES
STAGES = _defaults.PARTICLE_STAGES
OUTER_PER_STAGE = _defaults.OUTER_PER_STAGE
OUTER_FINAL = _defaults.OUTER_FINAL
MCMC_STEPS = _defaults.MCMC_STEPS
DAMPING = 0.3
#: MALA step adaptation toward this acceptance rate.
TARGET_ACCEPT = 0.57
#: The test kernel is accumulated every KS_EVERY-th iteration of the averaging window (theory/_defaults.py).
KS_EVERY = _defaults.KS_EVERY


class _Tilt:
    """log p(v) and its gradient for the rows of V (M, r)."""

    def __init__(self, Z, lam0: float, coef: float, act: str):
        """Z (P, r) the row-space inputs, lam0 the prior precision D/g_v, coef = g_w/N, act the activation."""
        self.Z = Z
        self.lam0 = lam0
        self.coef = coef
        self.phi, self.dphi = fast_activation_fn(act)
        self.Ct = None

    def set(self, Ct):
        self.Ct = Ct

    def __call__(self, V):
        H = V @ self.Z.T  # (M, P) pre-activations
        F = self.phi(H)
        FC = F @ self.Ct
        logp = -0.5 * self.lam0 * np.einsum("ij,ij->i", V, V) + self.coef * np.einsum("ij,ij->i", FC, F)
        FC *= self.dphi(H)
        grad = (2.0 * self.coef) * (FC @ self.Z)
        grad -= self.lam0 * V
        return logp, grad, F


def _mala(V, tilt, eps, n_steps, rng, state):
    """``n_steps`` MALA steps of the rows of V (independent chains) under ``tilt``, with the step size adapted toward
    TARGET_ACCEPT. Returns (V, eps, state, mean acceptance) in new arrays (the inputs are not modified)."""
    logp, grad, F = (np.array(a, copy=True) for a in state)
    V = np.array(V, copy=True)
    noise = np.empty_like(V)
    acc_total = 0.0
    for _ in range(n_steps):
        half = 0.5 * eps**2
        rng.standard_normal(out=noise)
        prop = eps * noise
        prop += V
        prop += half * grad
        lp2, g2, F2 = tilt(prop)
        # log q(V | prop) − log q(prop | V); the forward residual prop − V − ½ε²∇ is ε·noise
        back = V - prop
        back -= half * g2
        fwd = eps**2 * np.einsum("ij,ij->i", noise, noise)
        bwd = np.einsum("ij,ij->i", back, back)
        log_ratio = lp2 - logp - (bwd - fwd) / (2 * eps**2)
        acc = np.log(rng.random(V.shape[0])) < log_ratio
        rows = acc[:, None]
        np.copyto(V, prop, where=rows)
        np.copyto(logp, lp2, where=acc)
        np.copyto(grad, g2, where=rows)
        np.copyto(F, F2, where=rows)
        rate = float(np.mean(acc))
        acc_total += rate
        eps *= float(np.exp(0.5 * (rate - TARGET_ACCEPT)))
    return V, eps, (logp, grad, F), acc_total / n_steps


def particle_tree(pb, *, init, progress, t0, n_particles=N_PARTICLES, seed=0, n_stages=STAGES,
                  outer_per_stage=OUTER_PER_STAGE, outer_final=OUTER_FINAL, mcmc_steps=MCMC_STEPS,
                  damping=DAMPING, estimator="weighted", n_draws=N_DRAWS, proposal=None):
    """Particle tree level: the exact tilted law (docs/theory.md §9.4). Returns a NonlinearTreeResult built by
    :func:`.result.finish`.

    estimator : "weighted" (default: weighted quasi-Monte Carlo draws of a Gaussian proposal, :mod:`.weighted`,
        §9.4 — the law of ``init`` when it has one, else ``proposal``; MALA chains where its weights degenerate) or
        "mala" (also above WEIGHTED_MAX_P = 160 train points; M = ``n_particles`` MALA chains, annealed in ``n_stages`` χ stages; the options from
        ``outer_per_stage`` to ``damping`` are theirs). n_draws : draws of the weighted estimator.
    """
    if estimator not in ("weighted", "mala"):
        raise ValueError(f"'estimator' must be 'weighted' or 'mala'; got {estimator!r}")
    law = init if getattr(init, "_cov_row", None) is not None and init._cov_row.shape == (pb.r, pb.r) else proposal
    if estimator == "weighted" and law is not None and pb.Z.shape[0] <= _defaults.WEIGHTED_MAX_P:
        out = weighted_tree(pb, proposal=law, t0=t0, n_draws=n_draws, n_particles=n_particles, seed=seed,
                            progress=progress)
        if out is not None:
            return out
    return _mala_tree(pb, init=init, progress=progress, t0=t0, n_particles=n_particles, seed=seed,
                      n_stages=n_stages, outer_per_stage=outer_per_stage, outer_final=outer_final,
                      mcmc_steps=mcmc_steps, damping=damping)


def _mala_tree(pb, *, init, progress, t0, n_particles, seed, n_stages, outer_per_stage, outer_final, mcmc_steps,
               damping):
    """The particle tree level by M MALA chains and a damped stochastic fixed point (docs/theory.md §9.4)."""
    spec = pb.spec
    act = spec.activation
    gw, k0 = spec.g_w, spec.kappa0
    rng = np.random.default_rng(seed)
    M = int(n_particles)
    phi, _ = activation_fn(act)
    start = getattr(init, "_particles", None)
    if start is not None and start.shape[1] == pb.r:
        # warm start from a nearby χ's particles (docs/theory.md §12.9): already a sample of a nearby tilted law
        V = start[rng.integers(0, len(start), M)] if len(start) != M else start.copy()
        chi0 = float(init.spec.chi)
    elif init is not None and getattr(init, "_cov_row", None) is not None and init._cov_row.shape == (pb.r, pb.r):
        Lc = np.linalg.cholesky(init._cov_row)
        V = init._mean_row + rng.standard_normal((M, pb.r)) @ Lc.T
        chi0 = float(init.spec.chi)
    else:
        V = rng.standard_normal((M, pb.r)) / np.sqrt(pb.lam0)
        chi0 = 1.0
    tilt = _Tilt(pb.Z, pb.lam0, pb.spec.g_w / pb.spec.width, act)
    F = phi(V @ pb.Z.T)
    C = gw * (F.T @ F) / M
    if chi0 == spec.chi:
        path = np.array([spec.chi])
    else:
        path = np.geomspace(chi0, spec.chi, n_stages + 1)[1:]
    total = len(path) * outer_per_stage + outer_final
    eps = 0.5 / np.sqrt(pb.lam0)
    done = 0
    history = []
    Ks_sum, n_ks = None, 0
    with serial():  # many small numpy + torch operations: one thread each (_plumbing/threads.serial)
        for k, chi_k in enumerate(path):
            last = k == len(path) - 1
            n_outer = outer_per_stage + (outer_final if last else 0)
            for it in range(n_outer):
                Ct, _ = dual(C, pb.y, chi_k, k0)
                tilt.set(Ct)
                state = tilt(V)
                V, eps, state, acc = _mala(V, tilt, eps, mcmc_steps, rng, state)
                F = state[2]
                C_new = gw * (F.T @ F) / M
                C = (1 - damping) * C + damping * C_new
                if last and it >= outer_per_stage:
                    history.append(C_new)
                    if pb.Zs is not None and (n_outer - 1 - it) % KS_EVERY == 0:
                        # E[φ(h*) φ(h)ᵀ] with the prior part of h* outside the row space integrated out where φ has
                        # the Gaussian mean in closed form (docs/theory.md §9.4)
                        Fs = smoothed_features(act, V @ pb.Zs.T, pb.qs_perp, rng)
                        Ks = gw * (Fs.T @ F) / M
                        Ks_sum = Ks if Ks_sum is None else Ks_sum + Ks
                        n_ks += 1
                done += 1
                if progress is not None:
                    progress(done, total, {"chi": float(chi_k), "accept": acc})
    H = np.asarray(history)
    C_avg = H.mean(0)
    half = len(H) // 2
    scale = max(1.0, float(np.max(np.abs(C_avg))))
    drift = float(np.max(np.abs(H[:half].mean(0) - H[half:].mean(0)))) / scale
    # standard error of the averaged C: batch means over 4 blocks (the iterations are autocorrelated)
    blocks = np.array_split(H, 4)
    bm = np.array([b.mean(0) for b in blocks])
    c_se = float(np.max(bm.std(0, ddof=1) / np.sqrt(len(blocks)))) / scale
    _, a = dual(C_avg, pb.y, spec.chi, k0)
    Ks = None if Ks_sum is None else Ks_sum / n_ks
    mean_r = V.mean(0)
    cov_r = np.cov(V.T) + 1e-12 * np.eye(pb.r)
    # converged when the two halves of the averaging window agree within their Monte-Carlo error (4 s.e. of the
    # difference of two half-window means, each with ~√2 × the full-window s.e.)
    converged = drift <= 4.0 * 2.0 * c_se + 1e-12
    res = finish(pb, cov_r, mean_r, C_avg, a, Ks, "particles", converged, done * mcmc_steps, drift, t0, np.nan,
                 len(path), c_se=c_se)
    # the predictions of the batch means (f = y − κ0 (C_b + κ0)⁻¹ y; test: Ks (C_b + κ0)⁻¹ y): their spread is the
    # saddle's Monte-Carlo error, which the one loop around it adds to its own (docs/theory.md §12.10)
    ab = [dual(c, pb.y, spec.chi, k0)[1] for c in bm]
    fb = np.array([pb.y - k0 * a_b for a_b in ab])
    ftb = None if Ks is None else np.array([Ks @ a_b for a_b in ab])
    return dataclasses.replace(res, _particles=V, _f_blocks=fb, _ft_blocks=ftb)
