"""The variants of ``mc.one_loop`` beyond the linear saddle, and the rule of ``variant="auto"`` (docs/theory.md §12.4).

* ``"perturbative"`` — the one loop around the tree-level saddle: linear networks by the structured form of §6,
  erf/ReLU from sampled cumulants of the neuron law (§12.2, :mod:`.one_loop_nonlinear`);
* ``"nngp"`` — the 1/N expansion around the NNGP (§12.3, :mod:`.nngp_expansion`);
* ``"renormalised"`` — the one loop around the renormalised saddle u*·C0 (§12.5, :mod:`.renormalised`);
* ``"auto"`` — linear networks: ``"perturbative"`` (unchanged behaviour; for linear nets the exact quadrature is
  cheap and the renormalised one loop is available by name). erf/ReLU: the renormalised one loop while its
  non-Gaussian term is small (the neuron law is close to the prior, χ ≪ N) and its loop expansion is not flagged;
  otherwise the one loop around the particle saddle (the exact saddle; P ≤ 80). The rule and its measurements are
  in docs/theory.md §12.4.
"""
from __future__ import annotations

import warnings

from ..activations import get_activation
from .._warn import warn
from ..specs import LoopBreakdownWarning, NetworkSpec
from .nngp_expansion import nngp_expansion
from .nonlinear import NonlinearTreeResult
from .one_loop_nonlinear import DENSE_MAX_P, saddle_one_loop
from .renormalised import LEAVE_FLAGS, renormalised_one_loop

__all__ = ["choose", "run_variant"]

def run_variant(variant, X, y, spec: NetworkSpec, X_test, *, tree, linear_one_loop, options: dict):
    """One variant (not "auto"); ``linear_one_loop`` is the structured linear solver (variant, tree, options)."""
    mc_opts = {k: options[k] for k in ("n_samples", "max_samples", "mc_rtol", "seed", "progress")
               if options.get(k) is not None}
    if variant == "nngp":
        return nngp_expansion(X, y, spec, X_test, **mc_opts)
    if variant == "renormalised":
        return renormalised_one_loop(X, y, spec, X_test, strict=options.get("strict", False), **mc_opts)
    if get_activation(spec.activation).linear:
        return linear_one_loop(variant, tree)
    if variant != "perturbative":
        raise ValueError(f"'variant' {variant!r} exists for linear networks only; for activation "
                         f"{spec.activation!r} use 'auto', 'perturbative', 'nngp' or 'renormalised'")
    ansatz = options.get("ansatz")
    nl_tree = tree if isinstance(tree, NonlinearTreeResult) and (ansatz is None or tree.ansatz == ansatz) else None
    return saddle_one_loop(X, y, spec, X_test, ansatz=ansatz, tree=nl_tree, strict=options.get("strict", False),
                           **mc_opts)


def _quiet(fn):
    """Run fn, returning (result, caught warnings) without showing them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, caught


def choose(X, y, spec: NetworkSpec, X_test, *, tree, linear_one_loop, options: dict):
    """The result of ``variant="auto"`` for erf/ReLU (module docstring); its warnings re-issued."""
    ref, caught = _quiet(lambda: run_variant("renormalised", X, y, spec, X_test, tree=None,
                                             linear_one_loop=linear_one_loop, options=options))
    out = ref
    far = [f for f in ref.flags if f in LEAVE_FLAGS]
    if far and X.shape[0] <= DENSE_MAX_P:
        opts = dict(options)
        if opts.get("ansatz") is None:
            opts["ansatz"] = "particles"  # the exact saddle: the Gaussian ansätze miss O(1) of the shift there
        out, caught = _quiet(lambda: run_variant("perturbative", X, y, spec, X_test, tree=tree,
                                                 linear_one_loop=linear_one_loop, options=opts))
    for w in caught:
        if issubclass(w.category, (LoopBreakdownWarning, RuntimeWarning, UserWarning)):
            warn(w.message, w.category)
    return out
