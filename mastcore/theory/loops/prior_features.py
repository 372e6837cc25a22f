"""Prior feature samples shared across χ and variants, with a Gaussian control variate (docs/theory.md §12.9).

The prior law of the hidden features, φ(h) with h = Xv, v ~ N(0, (g_v/D) I), does not depend on χ: the sampled
moments of the renormalised one loop (§12.5) and of the band companion (§19.1) at every χ of a sweep are averages
over the same law. :func:`shared_prior` returns one :class:`PriorFeatures` per (X, X*, activation, g_v, g_w, seed),
memoised in its own bounded store (:data:`STORE`), whose blocks of draws are made once and reused by every χ and
every caller with that seed. Block ``i`` is a deterministic function of (seed, i), so a block that was evicted for
memory is drawn again identically, and the answer never depends on what the store held.

Control variate. With each draw h comes the Gaussian surrogate ψ = m + b∘h, m_i = E φ(h_i), b_i = E[φ(h_i)h_i]/Var(h_i)
(the mean and linear part of φ, by Gauss–Hermite): ψ ~ N(m, BΣB) (Σ = Cov h, B = diag b), so every moment of ψ is
known in closed form (Isserlis' theorem with a mean), and an estimator mean_s[t(φ_s) − β t(ψ_s)] + β E t(ψ) is
unbiased for E t(φ) for any b and β, which only set how much of the variance cancels. ψ is a function of the same h
(no independent noise: that would only add variance to t(ψ)), and its mean matters for ReLU (m ≠ 0).

Quasi-Monte Carlo. The weights v of group g = i mod GROUPS are a scrambled Sobol' sequence of its own (scipy.stats.qmc,
seeded by (seed, g)); block i is its stretch of points [⌊i/GROUPS⌋·BLOCK, …+BLOCK), mapped to normals by Φ⁻¹. Each
group is an independent randomisation, so the spread of the GROUPS group means is an honest error bar (randomised
QMC); the polynomial surrogate t(ψ) is integrated far better than at random, which is what makes the control
variate work (docs/theory.md §12.9: 3–5× smaller errors than either alone).
Features are kept rotated to C0's eigenbasis (G = φᵀQ), where the
renormalised one loop's χ-dependent contractions are diagonal: O(S·P) per χ, not O(S·P²).
"""
from __future__ import annotations

import threading

import numpy as np

from ..._linalg import _Memo, content_key
from ...activations import get_activation
from .. import _defaults
from ..kernels.nngp import train_kernel, train_kernel_eigh
from ..qmc import SOBOL_MAX_DIM, normals, sobol_engine
from ..tree.neuron_law import law_problem
from ..kernels.gaussian_law import activation_fn

__all__ = ["BLOCK", "PriorFeatures", "STORE", "control_coefficient", "shared_prior"]

#: Draws per block (the unit of reuse and of the batch groups: block i belongs to group i mod GROUPS); a power of 2,
#: so that every block of a group's Sobol' sequence is a balanced stretch of it.
BLOCK = _defaults.PRIOR_BLOCK
#: Independent groups (replicates) of draws: the error bar is from their spread.
GROUPS = 16
#: Randomised quasi-Monte Carlo for the weights v: each group a scrambled Sobol' sequence (docs/theory.md §12.9).
QMC = True
#: Bytes of blocks one PriorFeatures keeps; beyond it, blocks are drawn again when asked for (same seed, same draws).
KEEP_BYTES = 384 * 2**20
#: Gauss–Hermite nodes of the linear coefficients b_i.
GH_NODES = 80

#: The shared prior samples (a data set or two at a time: its own store, never evicting mastcore._linalg.MEMO).
STORE = _Memo(2, 2**62)


def _linear_part(activation, var):
    """m_i = E φ(h) and b_i = E[φ(h)h]/Var(h) for h ~ N(0, var_i) by Gauss–Hermite (any activation)."""
    phi, _ = activation_fn(activation)
    x, w = np.polynomial.hermite_e.hermegauss(GH_NODES)
    w = w / w.sum()
    sd = np.sqrt(np.maximum(var, 0.0))
    vals = phi(sd[:, None] * x[None, :])
    b = np.where(sd > 0, ((vals * x[None, :]) @ w) / np.where(sd > 0, sd, 1.0), 0.0)
    return vals @ w, b


class PriorFeatures:
    """Blocks of prior draws for one data set and network (module docstring).

    ``block(i)`` → (Gt (BLOCK, P) features in C0's eigenbasis, Pt (BLOCK, P) the surrogate in that basis, Fs (BLOCK,
    P*) test features or None). ``lam``, ``Q``: C0's eigendecomposition; ``k = C0/g_w``.
    """

    def __init__(self, X, X_test, spec, seed: int):
        self.pb = law_problem(X, spec, X_test)
        self.activation, self.seed = spec.activation, int(seed)
        self.phi, _ = activation_fn(spec.activation)
        C0 = train_kernel(X, spec)
        lam, Q = train_kernel_eigh(X, spec)
        self.lam, self.Q = np.asarray(lam), np.asarray(Q)
        self.k = np.asarray(C0) / spec.g_w
        Z, lam0 = self.pb.Z, self.pb.lam0
        Sig = Z @ Z.T / lam0  # Cov h (docs/theory.md §3)
        self.m, self.b = _linear_part(spec.activation, np.diag(Sig))
        if get_activation(spec.activation).odd:
            self.m = np.zeros_like(self.m)  # exactly (the quadrature gives ~1e-17)
        self.S = self.b[:, None] * Sig * self.b[None, :]  # Cov ψ = BΣB
        self.control = not get_activation(spec.activation).linear
        self._blocks: dict = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._engines: dict = {}  # group → its scrambled Sobol' engine (made once: scrambling costs)
        self._engine_lock = threading.Lock()

    def _weights(self, i: int):
        """(BLOCK, r) standard normal weights of block i: scrambled Sobol' points of its group (QMC), else pseudo-random."""
        if not QMC or self.pb.r > SOBOL_MAX_DIM:
            return np.random.default_rng([self.seed, i]).standard_normal((BLOCK, self.pb.r))
        # group g = i mod GROUPS owns one scrambled sequence; its k-th block is points [k·BLOCK, (k+1)·BLOCK)
        g, start = i % GROUPS, (i // GROUPS) * BLOCK
        with self._engine_lock:
            eng = self._engines.get(g)
            if eng is None:
                eng = self._engines[g] = sobol_engine(self.pb.r, [self.seed, g, 7])
            if eng.num_generated != start:  # not the next stretch: from the start of the same scrambled sequence
                eng.reset()
                if start:
                    eng.fast_forward(start)
            return normals(eng, BLOCK)

    def _draw(self, i: int):
        pb = self.pb
        V = self._weights(i) / np.sqrt(pb.lam0)
        H = V @ pb.Z.T
        Gt = self.phi(H) @ self.Q
        Pt = (self.m + H * self.b) @ self.Q
        Fs = None
        if pb.Zs is not None:
            # the test inputs' prior component outside the row space: one normal per draw for all test points (every
            # sampled term is linear in a single test feature, so only each test point's joint law with the train
            # features matters, not the test points' joint law; docs/theory.md §12.9)
            xi = np.random.default_rng([self.seed, i]).standard_normal(BLOCK)
            Hs = V @ pb.Zs.T + xi[:, None] * np.sqrt(pb.qs_perp)
            Fs = self.phi(Hs)
        return Gt, Pt, Fs

    def block(self, i: int):
        with self._lock:
            hit = self._blocks.get(i)
        if hit is not None:
            return hit
        out = self._draw(i)
        size = sum(a.nbytes for a in out if a is not None)
        with self._lock:
            if self._bytes + size <= KEEP_BYTES:
                self._blocks[i] = out
                self._bytes += size
        return out


def control_coefficient(sums, count: int, control: bool) -> float:
    """β = Cov(Y, Z)/Var(Z), the variance-minimising coefficient of the control variate (docs/theory.md §12.9), from
    the running sums ``(ΣYZ, ΣZ², ΣZ, ΣY)`` of ``count`` draws; 0 without a control variate or when Var(Z) = 0."""
    yz, zz, zs, ys = sums
    var = zz / count - (zs / count) ** 2
    return float((yz / count - ys * zs / count**2) / var) if control and var > 0 else 0.0


def shared_prior(X, X_test, spec, seed: int) -> PriorFeatures:
    """The :class:`PriorFeatures` of (X, X_test, activation, g_v, g_w, seed), shared through :data:`STORE`."""
    key = (content_key(X), None if X_test is None else content_key(X_test), spec.activation, spec.g_v, spec.g_w,
           int(seed))
    return STORE.get("prior_features", key, lambda: PriorFeatures(X, X_test, spec, seed))
