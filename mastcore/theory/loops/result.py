"""The result of every one-loop variant (docs/theory.md §6, §12): the linear one loop's OneLoopResult and its
subclass for sampled cumulants, NonlinearOneLoopResult (erf/ReLU, the NNGP expansion, the renormalised one loop)."""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field

import numpy as np

from ..._plumbing.validation import positive_float, positive_int
from ..._plumbing.warn import warn
from ...results import Result
from ...specs import LoopBreakdownWarning
from ..tree.linear import TreeResult

__all__ = ["LOOP_TO_TREE_MAX", "LoopFlags", "NonlinearOneLoopResult", "OneLoopResult", "WIDTH_ADVISORY",
           "monte_carlo_settings"]

#: Breakdown threshold (LoopFlags.loop): one-loop correction larger than this fraction of the tree-level Δ (norms)
#: means the loop series is not small. On the Fig.-2 data (P = 80) the ratio is 0.65 at N = 5, 0.41 at N = 10,
#: 0.07 at N = 80 (χ = 1; smaller at larger χ), against the exact posterior mean.
LOOP_TO_TREE_MAX = 0.5
#: Below N = WIDTH_ADVISORY · r a loop result carries the advisory flag "width_below_2P" (docs/theory.md §6).
WIDTH_ADVISORY = 2.0


class LoopFlags:
    """The warning flags of one loop result (docs/theory.md §6, §12), collected the same way by every variant.

    Each check adds a flag name and a sentence; a severe one (the expansion is not trustworthy) makes
    :meth:`close` warn with LoopBreakdownWarning. The variants differ only in their checks and wording."""

    def __init__(self):
        self._items: list[tuple[str, str, bool]] = []

    def add(self, flag: str, message: str, *, severe: bool = False) -> None:
        self._items.append((flag, message, bool(severe)))

    def __contains__(self, flag: str) -> bool:
        return any(f == flag for f, _, _ in self._items)

    def width(self, N: int, r: int, *, unit: str, detail: str = "", advisory: str | None = None) -> None:
        """``width_below_rank`` (severe) for N < r; else ``width_below_2P`` for N < 2r when ``advisory`` is given
        (the sentence's tail). ``unit`` names r ("independent samples r", "train points P")."""
        if N < r:
            self.add("width_below_rank", f"width N = {N} is below the number of {unit} = {r}: "
                     f"{detail or 'the loop expansion in r/N breaks down'}", severe=True)
        elif advisory is not None and N < WIDTH_ADVISORY * r:
            self.add("width_below_2P", f"N = {N} < 2r = {2 * r}: {advisory}")

    def loop(self, ratio: float, limit: float, message: str) -> None:
        """``loop_correction_large`` (severe) when ``ratio`` > ``limit``."""
        if ratio > limit:
            self.add("loop_correction_large", message, severe=True)

    def monte_carlo(self, ratio: float, rtol: float, message: str) -> None:
        """``mc_error_large`` (advisory) when the Monte-Carlo error is above ``rtol`` of the correction."""
        if ratio > rtol:
            self.add("mc_error_large", message)

    def saddle(self, converged: bool, what: str = "the tree-level saddle it starts from") -> None:
        """``tree_not_converged`` (advisory) for an unconverged saddle."""
        if not converged:
            self.add("tree_not_converged", f"{what} did not converge")

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(f for f, _, _ in self._items)

    @property
    def message(self) -> str:
        return "; ".join(m for _, m, _ in self._items)

    @property
    def severe(self) -> bool:
        return any(sev for _, _, sev in self._items)

    def close(self, where: str) -> tuple[tuple[str, ...], str]:
        """(flags, message); warns ``"<where>: <message>"`` (at the user's call) if a severe check fired."""
        if self.severe:
            warn(f"{where}: {self.message}", LoopBreakdownWarning)
        return self.flags, self.message


def monte_carlo_settings(n_samples, max_samples, mc_rtol, seed, *, groups: int) -> tuple[int, int, float, int]:
    """The checked sampling options of a sampled one loop (docs/theory.md §12): at least 4 samples per group of the
    jackknife/batch error estimate, max_samples ≥ n_samples, a positive tolerance, a seed ≥ 0."""
    n_samples = positive_int("n_samples", n_samples, minimum=4 * groups)
    max_samples = max(positive_int("max_samples", max_samples), n_samples)
    return n_samples, max_samples, positive_float("mc_rtol", mc_rtol), positive_int("seed", seed, minimum=0)


@dataclass(frozen=True, kw_only=True)
class OneLoopResult(Result):
    """One-loop prediction of a linear network (docs/theory.md §6).

    Attributes
    ----------
    f_train : (P,) mean predictor y − ⟨Δ⟩.  f_test : (P*,) = X* X⁺ f_train, or None.
    delta : (P,) ⟨Δ⟩ = delta_tree + delta_shift + delta_fluct.
    delta_tree : (P,) κ0 a at the tree saddle.  delta_shift : (P,) saddle-shift part (perturbative: −κ0 R δC a;
        self-consistent: κ0 (a_sc − a_tree)).  delta_fluct : (P,) fluctuation part κ0 R E_R a.
    delta_shift_test, delta_fluct_test : (P*,) the same parts on the test set (X* X⁺ ·), or None.
    delta_C : (P, P) mean shift of the kernel δC.  C : (P, P) one-loop mean kernel C_tree + δC.
    kernel_variance : (P, P) Var(δC_ij) at Gaussian order (the kernel fluctuation), or None if not requested.
    tree : the TreeResult it started from.
    converged, n_iter, residual : diagnostics (tree level and, for self-consistent, the ∇Γ = 0 iteration).
    positive_definite : whether 𝓜 was certified positive definite.  loop_ratio : |one-loop correction| /
        |tree-level Δ| (Euclidean norms), the size of the loop term relative to what it corrects.
    flags : tuple of str among "M_not_positive_definite", "width_below_rank", "loop_correction_large",
        "width_below_2P", "tree_not_converged".  message : human-readable explanation ("" if no flag).
    seconds : total wall time; timings : dict of parts (tree, fluctuations, variance).
    """

    delta: np.ndarray
    delta_tree: np.ndarray
    delta_shift: np.ndarray
    delta_fluct: np.ndarray
    delta_shift_test: np.ndarray | None
    delta_fluct_test: np.ndarray | None
    delta_C: np.ndarray
    C: np.ndarray
    kernel_variance: np.ndarray | None
    tree: TreeResult
    variant: str
    positive_definite: bool
    loop_ratio: float
    message: str = ""
    timings: dict = field(default_factory=dict)
    method: str = "one_loop"

    @property
    def breakdown(self) -> bool:
        """True when a flag says the loop expansion is not trustworthy (advisory "width_below_2P" excluded)."""
        return any(f != "width_below_2P" for f in self.flags)

    @property
    def kernel_std(self) -> np.ndarray | None:
        """(P, P) standard deviation of the kernel entries, √Var(δC_ij)."""
        return None if self.kernel_variance is None else np.sqrt(np.clip(self.kernel_variance, 0, None))


@dataclass(frozen=True, kw_only=True)
class NonlinearOneLoopResult(OneLoopResult):
    """One loop of an erf/ReLU (or, for checks, linear) network from sampled cumulants (docs/theory.md §12).

    Beyond :class:`~mastcore.theory.loops.result.OneLoopResult`:
    se_train (P,), se_test (P*,) : Monte-Carlo standard errors (jackknife over sample groups).
    mc_se : s.e. of the train mean(y·Δ); mc_ratio : mc_se / |one-loop correction of train mean(y·Δ)|.
    chain_f_train (G, P), chain_f_test (G, P*) : jackknife pseudo-values of f (their spread / √G is the s.e.; what
        :func:`mastcore.metrics.summarize` reads for error bars).
    ansatz : neuron law the cumulants come from; n_samples : samples used; seed.
    delta_nongaussian (P,) or None : the renormalised one loop's non-Gaussian (Edgeworth) part of delta_fluct;
    nongaussian_ratio : its norm relative to delta_tree (docs/theory.md §12.5).
    saddle : the particle saddle (a NonlinearTreeResult) that ``variant="auto"`` solved at this χ, whichever variant
        it picked, or None; a sweep warm-starts the next χ's saddle from it (docs/theory.md §12.9).
    """

    ansatz: str = ""
    delta_nongaussian: np.ndarray | None = None
    nongaussian_ratio: float = 0.0
    n_samples: int = 0
    seed: int = 0
    mc_se: float = float("nan")
    mc_ratio: float = float("nan")
    chain_f_train: np.ndarray | None = None
    chain_f_test: np.ndarray | None = None
    saddle: object = None

    def without_warm_state(self):
        """This result with its saddle and tree level stripped of their warm-start particles."""
        slim = {k: getattr(self, k).without_warm_state() for k in ("saddle", "tree")
                if hasattr(getattr(self, k), "without_warm_state")}
        return dataclasses.replace(self, **slim) if slim else self
