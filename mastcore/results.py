"""The result protocol every solver satisfies (docs/theory.md §14).

Every public solver (:func:`mastcore.nngp`, :func:`mastcore.tree_level`, :func:`mastcore.one_loop`,
:func:`mastcore.rescaled_kernel`, :func:`mastcore.exact_posterior`, :func:`mastcore.posterior_quadrature`,
:func:`mastcore.train_langevin`) returns a frozen dataclass derived from :class:`Result`, so a consumer reads the
same fields from any of them without guessing:

``f_train`` (P,), ``f_test`` (P*,) or None
    the mean predictor on the train and test inputs.
``se_train``, ``se_test``
    per-point standard errors of a sampled predictor (spread over independent chains or networks); None for
    theories (deterministic).
``converged``, ``n_iter``, ``residual``
    diagnostics with one meaning per family (docs/theory.md §14): theories — relative stationarity residual of
    their saddle-point equations (0 for closed forms); samplers — split-R̂ − 1 of the mean(y·Δ) traces;
    quadrature — change of f when the number of nodes is doubled.
``seconds``, ``method``, ``spec``, ``flags``
    wall time, the method's name (as in :func:`mastcore.sweep`), the NetworkSpec, and a tuple of warning flags
    (e.g. ``"width_below_rank"``, ``"loop_correction_large"``; empty when nothing is suspicious).
``theory_error_train`` (P,), ``theory_error_test`` (P*,) or None
    the estimated systematic error of a theory's f_train/f_test, a half-width (docs/theory.md §19): 0 for the exact
    quadrature, None for samplers (their error is statistical, ``se_train``/``se_test``).
``trace`` (samplers only)
    a :class:`Trace`: equilibration record of every chain, one shape for the exact sampler and the trainer.
``chain_f_train`` / ``chain_f_test`` (samplers only)
    (n_chains, P) per-chain means, from which the error bar of any functional follows (:func:`metrics.summarize`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import chain_se
from .specs import NetworkSpec

__all__ = ["Result", "SampledResult", "Trace"]


@dataclass(frozen=True, kw_only=True)
class Result:
    """Fields shared by every solver result (see the module docstring). Construct with keywords only."""

    f_train: np.ndarray
    f_test: np.ndarray | None = None
    se_train: np.ndarray | None = None
    se_test: np.ndarray | None = None
    spec: NetworkSpec
    method: str
    converged: bool
    n_iter: int
    residual: float
    seconds: float = 0.0
    flags: tuple = ()
    theory_error_train: np.ndarray | None = None
    theory_error_test: np.ndarray | None = None


@dataclass(frozen=True)
class Trace:
    """Equilibration record of a sampler: ``values[name]`` has shape (len(steps), n_chains).

    steps : (T,) sweep (exact sampler) or step (trainer) numbers of the records; burn_in : records with
    ``steps < burn_in`` are burn-in. Every sampler records at least ``"mean_y_delta"`` (of the Rao–Blackwellised
    estimate); the trainer also records ``"loss"``.
    """

    steps: np.ndarray
    values: dict
    burn_in: int

    def kept(self, name: str = "mean_y_delta") -> np.ndarray:
        """(n_chains, T_kept) records after burn-in (the input of split-R̂)."""
        return np.asarray(self.values[name])[self.steps >= self.burn_in].T

    def chain_mean(self, name: str = "mean_y_delta") -> np.ndarray:
        """(T,) average over chains (for equilibration plots)."""
        return np.asarray(self.values[name]).mean(axis=1)


@dataclass(frozen=True, kw_only=True)
class SampledResult(Result):
    """A result with error bars from independent chains (exact sampler) or networks (trainer).

    chain_f_train : (n_chains, P), chain_f_test : (n_chains, P*) or None — per-chain means; trace : Trace;
    r_hat : split-R̂ of the post-burn-in mean(y·Δ) traces (``residual`` = r_hat − 1).
    """

    chain_f_train: np.ndarray = field(repr=False)
    chain_f_test: np.ndarray | None = field(default=None, repr=False)
    trace: Trace = field(repr=False)
    r_hat: float

    def se_of(self, weights, split: str = "train") -> float:
        """Standard error of the linear functional weights·⟨f⟩ on ``split`` from the spread over chains."""
        chains = self.chain_f_train if split == "train" else self.chain_f_test
        return chain_se(chains @ np.asarray(weights, dtype=np.float64))
