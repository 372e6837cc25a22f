"""Samples of the hidden features φ(h), h = X v, under a neuron law (docs/theory.md §12.2, §12.3).

The loop corrections of erf/ReLU networks are cumulants of ψ = φ(h)φ(h)ᵀ under a per-neuron weight law, estimated
from samples of that law. Three laws are offered, all drawn in the row space of X (outside it the law is the
prior, which the train kernel does not see; test points add it back as independent prior noise, integrated out in
closed form where the activation allows — every sampled term is linear in one test feature — as the particle tree
level does, docs/theory.md §9.2, §9.4):

* ``prior``: v ~ N(0, (g_v/D) I), the law of the NNGP (the 1/N expansion around the NNGP, §12.3);
* ``gaussian``: v ~ N(μ, Σ), the Gaussian ansätze of the tree level (§9.2, §9.3);
* ``tilted``: the exact tilted law p_t(v) ∝ N(v; 0, (g_v/D) I) exp[(g_w/N) φᵀC̃φ] at the saddle's C̃ (§9.4),
  sampled by independent MALA chains started from the Gaussian with the tree level's mean and covariance.

Every sampler takes an explicit ``numpy.random.Generator`` and returns ``FeatureSamples``: φ on the train points
(S, P), on the test points (S, P*) or None, and the chain (batch) label of each sample, so that error bars can
be computed from independent groups.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._linalg import row_space
from ..._plumbing.threads import serial
from .likelihood import dual
from .particles import _mala, _Tilt
from ..kernels.gaussian_law import activation_fn, smoothed_features

__all__ = ["FeatureSamples", "LawProblem", "law_problem", "sample_gaussian", "sample_prior", "sample_tilted"]

#: MALA settings of the tilted-law sampler: burn-in steps, steps between recorded samples.
TILTED_BURN_IN = 60
TILTED_THIN = 3
#: Burn-in when the chains start from the particle tree level's particles (already a sample of the tilted law at a
#: C within its Monte-Carlo error of the saddle's, docs/theory.md §12.10).
TILTED_WARM_BURN_IN = 9


@dataclass(frozen=True)
class FeatureSamples:
    """φ(h) samples. phi : (S, P) train features; phi_test : (S, P*) or None; group : (S,) int labels of
    independent groups (chains or draws), used for batch error bars."""

    phi: np.ndarray
    phi_test: np.ndarray | None
    group: np.ndarray

    @property
    def n(self) -> int:
        return int(self.phi.shape[0])


@dataclass(frozen=True)
class LawProblem:
    """Row-space form of the inputs: Z = X W (P, r); Zs = X* W (P*, r) or None; qs_perp (P*,) prior variance of
    the test pre-activations outside the row space; lam0 = D/g_v the prior precision."""

    Z: np.ndarray
    Zs: np.ndarray | None
    qs_perp: np.ndarray | None
    lam0: float
    W: np.ndarray

    @property
    def r(self) -> int:
        return int(self.Z.shape[1])


def law_problem(X, spec, X_test=None) -> LawProblem:
    """Row space of X and the test points' prior variance outside it (docs/theory.md §9.2)."""
    rs = row_space(X)
    Z = rs.U * rs.S
    Zs = qs = None
    if X_test is not None:
        Zs = X_test @ rs.W
        norm2 = np.einsum("ij,ij->i", X_test, X_test)
        perp = norm2 - np.einsum("ij,ij->i", Zs, Zs)
        perp[perp <= 1e-12 * norm2] = 0.0  # inside the row space up to rounding: no prior noise
        qs = (spec.g_v / X.shape[1]) * perp
    return LawProblem(Z=Z, Zs=Zs, qs_perp=qs, lam0=X.shape[1] / spec.g_v, W=rs.W)


def _features(V, pb: LawProblem, activation, rng, with_test: bool):
    """φ on the train points and (every sampled term is linear in one test feature) the test features with the prior
    part outside the row space integrated out where φ allows (gaussian_law.smoothed_features, docs/theory.md §9.4)."""
    phi, _ = activation_fn(activation)
    F = phi(V @ pb.Z.T)
    Fs = None
    if with_test and pb.Zs is not None:
        Fs = smoothed_features(activation, V @ pb.Zs.T, pb.qs_perp, rng)
    return F, Fs


def sample_gaussian(pb: LawProblem, activation: str, n: int, rng, *, mean=None, cov=None, n_groups: int = 16,
                    with_test: bool = True, chunk: int = 20000) -> FeatureSamples:
    """``n`` independent draws of φ(Xv), v ~ N(mean, cov) in the row space (prior if both are None).

    mean : (r,) or None; cov : (r, r) or None (prior (g_v/D) I). Groups are consecutive blocks of draws.
    """
    r = pb.r
    Lc = np.eye(r) / np.sqrt(pb.lam0) if cov is None else np.linalg.cholesky(0.5 * (cov + cov.T))
    mu = np.zeros(r) if mean is None else np.asarray(mean, dtype=np.float64)
    F, Fs = [], []
    for lo in range(0, n, chunk):
        k = min(chunk, n - lo)
        V = mu + rng.standard_normal((k, r)) @ Lc.T
        f, fs = _features(V, pb, activation, rng, with_test)
        F.append(f)
        if fs is not None:
            Fs.append(fs)
    group = (np.arange(n) * n_groups) // n
    return FeatureSamples(np.vstack(F), np.vstack(Fs) if Fs else None, group)


def sample_prior(pb: LawProblem, activation: str, n: int, rng, **kw) -> FeatureSamples:
    """Draws under the prior v ~ N(0, (g_v/D) I) (the NNGP law)."""
    return sample_gaussian(pb, activation, n, rng, **kw)


class PriorBatches:
    """Sums over prior draws (docs/theory.md §12) kept in ``groups`` batch groups, for an estimate and its
    batch-means error bar: ``fn(phi, phi_test)`` maps a block of at most ``block`` draws (rows) to a list of
    arrays that add up over draws; :meth:`grow` draws until ``n`` samples in all (each round adds one batch to
    every group, so the groups stay equal and independent)."""

    def __init__(self, pb: LawProblem, activation: str, rng, fn, *, with_test: bool, groups: int, block: int):
        self.pb, self.activation, self.rng, self.fn = pb, activation, rng, fn
        self.with_test, self.groups, self.block = with_test, int(groups), int(block)
        self._sums: list[list[np.ndarray]] = []
        self._counts: list[int] = []

    @property
    def n(self) -> int:
        return int(sum(self._counts))

    def grow(self, n: int) -> None:
        per = -(-(int(n) - self.n) // self.groups)
        if per <= 0:
            return
        for _ in range(self.groups):
            s = sample_prior(self.pb, self.activation, per, self.rng, with_test=self.with_test, chunk=self.block)
            acc = None
            for lo in range(0, s.n, self.block):
                part = self.fn(s.phi[lo:lo + self.block],
                               None if s.phi_test is None else s.phi_test[lo:lo + self.block])
                acc = part if acc is None else [u + v for u, v in zip(acc, part)]
            self._sums.append(acc)
            self._counts.append(s.n)

    def by_group(self) -> list[tuple[list[np.ndarray], int]]:
        """(sums, number of draws) of each group; group b holds the b-th batch of every round."""
        G, k = self.groups, len(self._sums)
        return [([sum(col) for col in zip(*(self._sums[i] for i in range(b, k, G)))],
                 sum(self._counts[i] for i in range(b, k, G))) for b in range(G)]

    def total(self) -> tuple[list[np.ndarray], int]:
        """(sums, number of draws) over all groups."""
        return [sum(col) for col in zip(*self._sums)], self.n


def sample_tilted(pb: LawProblem, spec, y, C, n: int, rng, *, mean=None, cov=None, n_chains: int = 2000,
                  n_groups: int = 16, with_test: bool = True, start=None) -> FeatureSamples:
    """Samples of the exact tilted neuron law at the saddle C (docs/theory.md §9.4): C̃ = (χ/2) a aᵀ − ½ R from C,
    ``n_chains`` independent MALA chains started from N(mean, cov) (the tree level's law), TILTED_BURN_IN steps of
    burn-in, then a record every TILTED_THIN steps until ``n`` samples are collected. Groups are sets of chains
    (independent), so error bars from them are valid although records of one chain are correlated.
    start : (M', r) or None — the particle tree level's particles: the chains start from them (drawn without
    replacement) with TILTED_WARM_BURN_IN steps of burn-in.
    """
    Ct, _ = dual(C, y, spec.chi, spec.kappa0)

    tilt = _Tilt(pb.Z, pb.lam0, spec.g_w / spec.width, spec.activation)
    tilt.set(Ct)
    M = int(min(n_chains, n))
    r = pb.r
    Lc = np.eye(r) / np.sqrt(pb.lam0) if cov is None else np.linalg.cholesky(0.5 * (cov + cov.T))
    mu = np.zeros(r) if mean is None else np.asarray(mean, dtype=np.float64)
    burn_in = TILTED_BURN_IN
    if start is not None and start.shape[1] == r and len(start) >= M:
        V = np.array(start[rng.permutation(len(start))[:M]], dtype=np.float64)
        burn_in = TILTED_WARM_BURN_IN
    else:
        V = mu + rng.standard_normal((M, r)) @ Lc.T
    with serial():  # many small numpy + torch operations: one thread each (_plumbing/threads.serial)
        state = tilt(V)
        eps = 0.5 / np.sqrt(pb.lam0)
        V, eps, state, _ = _mala(V, tilt, eps, burn_in, rng, state)
        n_rec = -(-n // M)
        F, Fs = [], []
        chain = np.arange(M)
        for _ in range(n_rec):
            V, eps, state, _ = _mala(V, tilt, eps, TILTED_THIN, rng, state)
            F.append(state[2])
            if with_test and pb.Zs is not None:
                Fs.append(smoothed_features(spec.activation, V @ pb.Zs.T, pb.qs_perp, rng))
    Fa = np.vstack(F)[:n]
    Fsa = np.vstack(Fs)[:n] if Fs else None
    group = np.tile((chain * n_groups) // M, n_rec)[:n]
    return FeatureSamples(Fa, Fsa, group)

