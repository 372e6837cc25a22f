"""The public one loop, ``mc.one_loop``: its variants and where each is computed (docs/theory.md §6, §12).

Linear networks, variants "perturbative" and "self_consistent": :func:`.linear.linear_one_loop` (§6). Every other
case — "auto" (the rule of docs/theory.md §12.4), "nngp", "renormalised", and erf/ReLU networks — goes through
:mod:`.variants`, which calls the linear solver from :mod:`.linear` itself when it needs it.
"""
from __future__ import annotations

from ..._api import solver
from ...activations import get_activation
from ...specs import NetworkSpec
from ..tree.linear import TreeResult
from . import variants
from .linear import linear_one_loop
from .result import OneLoopResult

__all__ = ["VARIANTS", "OneLoopResult", "one_loop"]

#: "auto" (default): the variant with the smallest error band (docs/theory.md §19.3) among the renormalised one loop
#: (§12.5) and the one loop around the saddle (erf/ReLU: the particle saddle; rule of docs/theory.md §12.4).
#: "nngp" is the 1/N expansion around the NNGP (§12.3); "self_consistent" is linear only.
VARIANTS = ("auto", "perturbative", "self_consistent", "nngp", "renormalised")


@solver("one_loop")
def one_loop(
    X,
    y,
    spec: NetworkSpec,
    X_test=None,
    variant: str = "auto",
    *,
    tree: TreeResult | None = None,
    saddle_init=None,
    kernel_variance: bool = True,
    tol: float = 1e-12,
    max_iter: int = 200,
    strict: bool = False,
    ansatz: str | None = None,
    n_samples: int | None = None,
    max_samples: int | None = None,
    mc_rtol: float | None = None,
    seed: int = 0,
    progress=None,
    cache: bool = False,
) -> OneLoopResult:
    """One-loop mean predictor of a two-layer network (docs/theory.md §6, §12); any activation.

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None.  spec : NetworkSpec (any registered activation).
    variant : "auto" (default: the variant with the smallest error band, docs/theory.md §19.3 — the renormalised
        one loop or the one loop around the saddle; erf/ReLU: the particle saddle, tried where the renormalised one
        loop leaves its expansion, docs/theory.md §12.4),
        "perturbative" (expansion around the tree saddle; linear: structured O(P³) form of §6.4; erf/ReLU: sampled
        cumulants of the neuron law, §12.2), "self_consistent" (linear only: solve ∇Γ = 0, §6.3), "nngp" (the 1/N
        expansion around the NNGP, §12.3) or "renormalised" (the one loop around the renormalised saddle u*·C0,
        §12.5).
    tree : TreeResult (linear) or NonlinearTreeResult (erf/ReLU) at the same spec to start from (e.g. from
        mc.sweep); solved if None.
    saddle_init : erf/ReLU: a NonlinearTreeResult on the same data at a nearby χ (the previous χ of a sweep) from
        which the saddle's tree level is warm-started when it has to be solved (few χ stages instead of the anneal
        from the NNGP, docs/theory.md §12.9); ignored otherwise.
    ansatz : erf/ReLU saddle: "gaussian", "gaussian_mean" or "particles" (default: the tree level's default; "auto"
        uses "particles" where the neuron law is far from the prior).
    n_samples, max_samples, mc_rtol, seed : Monte Carlo of the erf/ReLU cumulants (defaults of the variant's
        module): samples are doubled until the standard error of train mean(y·Δ) is at most ``mc_rtol`` (1 %) of
        the loop correction; ``se_train``/``se_test`` report it; same seed → same answer.
    progress : callable(done, total, info) or None (erf/ReLU sampling).
    kernel_variance : also compute the (P, P) matrix Var(δC_ij) (O(P²r) time by the series of
        Fluctuations.variance, O(P²r²) for very small N; r = rank X).
    tol, max_iter : tolerance / iterations of the self-consistent iteration.
    strict : raise RuntimeError instead of warning (ConvergenceWarning) on non-convergence.
    cache : store the result on disk (mastcore.cache).

    Returns
    -------
    OneLoopResult (erf/ReLU and the "nngp"/"renormalised" variants: its subclass NonlinearOneLoopResult, with the
    Monte-Carlo error). Bad regimes (𝓜 not positive definite, N < rank X, one-loop correction > ½ tree-level
    discrepancy) set ``flags``/``message`` and issue a LoopBreakdownWarning.
    """
    if variant not in VARIANTS:
        raise ValueError(f"'variant' must be one of {VARIANTS}; got {variant!r}")
    linear = dict(kernel_variance=kernel_variance, tol=tol, max_iter=max_iter, strict=strict)
    if variant in ("perturbative", "self_consistent") and get_activation(spec.activation).linear:
        return linear_one_loop(X, y, spec, X_test, variant, tree=tree, **linear)
    opts = dict(linear, ansatz=ansatz, n_samples=n_samples, max_samples=max_samples, mc_rtol=mc_rtol, seed=seed,
                progress=progress, saddle_init=saddle_init)
    if variant == "auto":
        return variants.choose(X, y, spec, X_test, tree=tree, options=opts)
    return variants.run_variant(variant, X, y, spec, X_test, tree=tree, options=opts)
