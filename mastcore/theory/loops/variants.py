"""The variants of ``mc.one_loop`` beyond the linear saddle, and the rule of ``variant="auto"`` (docs/theory.md §12.4).

* ``"perturbative"`` — the one loop around the tree-level saddle: linear networks by the structured form of §6,
  erf/ReLU from sampled cumulants of the neuron law (§12.2, :mod:`.nonlinear`);
* ``"nngp"`` — the 1/N expansion around the NNGP (§12.3, :mod:`.nngp_expansion`);
* ``"renormalised"`` — the one loop around the renormalised saddle u*·C0 (§12.5, :mod:`..renormalised.one_loop`);
* ``"auto"`` — the variant with the smallest error band (docs/theory.md §19.3, :func:`..bands.pick`) among the
  renormalised one loop and the one loop around the saddle (linear: the tree saddle; erf/ReLU: the particle saddle,
  P ≤ SADDLE_MAX_P = 300, §12.10, tried where the renormalised one loop leaves its expansion). The rule and its measurements are in
  docs/theory.md §12.4 and §19.
"""
from __future__ import annotations

import dataclasses
import warnings

from ...activations import get_activation
from ..._plumbing.warn import warn
from .. import _defaults, bands
from ...specs import LoopBreakdownWarning, NetworkSpec
from .nngp_expansion import nngp_expansion
from ..tree.level import nonlinear_tree_level
from ..tree.nonlinear import NonlinearTreeResult
from .linear import linear_one_loop
from .nonlinear import SADDLE_MAX_P, saddle_one_loop
from ..renormalised.one_loop import LEAVE_FLAGS, renormalised_one_loop

__all__ = ["WARM_STAGES", "choose", "run_variant"]

#: χ stages of a saddle warm-started from a nearby χ's law (the cold solve anneals from the NNGP in 10 or 20).
WARM_STAGES = _defaults.WARM_STAGES

def _warm_stages(ansatz) -> dict:
    return {"particle_stages": WARM_STAGES} if ansatz == "particles" else {"n_stages": WARM_STAGES}


def run_variant(variant, X, y, spec: NetworkSpec, X_test, *, tree, options: dict):
    """One variant (not "auto") with the options of :func:`mastcore.one_loop` (linear networks: the structured
    solver of :mod:`.linear`, docs/theory.md §6)."""
    mc_opts = {k: options[k] for k in ("n_samples", "max_samples", "mc_rtol", "seed", "progress")
               if options.get(k) is not None}
    if variant == "nngp":
        return nngp_expansion(X, y, spec, X_test, **mc_opts)
    if variant == "renormalised":
        return renormalised_one_loop(X, y, spec, X_test, strict=options.get("strict", False), **mc_opts)
    if get_activation(spec.activation).linear:
        return linear_one_loop(X, y, spec, X_test, variant, tree=tree,
                               **{k: options[k] for k in ("kernel_variance", "tol", "max_iter", "strict") if k in options})
    if variant != "perturbative":
        raise ValueError(f"'variant' {variant!r} exists for linear networks only; for activation "
                         f"{spec.activation!r} use 'auto', 'perturbative', 'nngp' or 'renormalised'")
    ansatz = options.get("ansatz")
    nl_tree = tree if isinstance(tree, NonlinearTreeResult) and (ansatz is None or tree.ansatz == ansatz) else None
    init = options.get("saddle_init")
    if (nl_tree is None and isinstance(init, NonlinearTreeResult) and init.C.shape == (X.shape[0],) * 2
            and init.spec.replace(chi=spec.chi) == spec and (ansatz is None or init.ansatz == ansatz)):
        # warm start along χ (docs/theory.md §12.9): the saddle from the nearby χ's law, in WARM_STAGES χ stages
        # (with as many weighted draws as the nearby χ's loop needed, docs/theory.md §12.11)
        draws = getattr(init, "_draws", None)
        more = {} if draws is None else {"n_draws": draws.n}
        nl_tree = nonlinear_tree_level(X, y, spec, X_test, ansatz=init.ansatz, init=init,
                                       **_warm_stages(init.ansatz), **more,
                                       strict=options.get("strict", False))
    return saddle_one_loop(X, y, spec, X_test, ansatz=ansatz, tree=nl_tree, strict=options.get("strict", False),
                           **mc_opts)


def _quiet(fn):
    """Run fn, returning (result, caught warnings) without showing them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, caught


def choose(X, y, spec: NetworkSpec, X_test, *, tree, options: dict):
    """The result of ``variant="auto"`` (module docstring): among the variants that can run, the one with the
    smallest error band of train mean(y·Δ) (:func:`..bands.pick`, docs/theory.md §19.3); its warnings re-issued.

    Candidates: the renormalised one loop always; linear networks also the one loop around the tree saddle (both
    cost O(P³)); erf/ReLU also the one loop around the particle saddle (P ≤ SADDLE_MAX_P = 300), run only where the renormalised
    one loop reports that it left its expansion (``renormalised.LEAVE_FLAGS``) — a gate on cost (the particle saddle
    costs 10–100× more), not on the choice, which is by band.
    """
    ref, caught = _quiet(lambda: run_variant("renormalised", X, y, spec, X_test, tree=None, options=options))
    ref = bands.attach(ref, X, y, X_test)
    found = [(ref, caught)]
    opts = dict(options)
    if not get_activation(spec.activation).linear:
        run_saddle = any(f in LEAVE_FLAGS for f in ref.flags) and X.shape[0] <= SADDLE_MAX_P
        if opts.get("ansatz") is None:
            opts["ansatz"] = "particles"  # the exact saddle: the Gaussian ansätze miss O(1) of the shift there
    else:
        run_saddle = True
    if run_saddle:
        saddle, caught = _quiet(lambda: run_variant("perturbative", X, y, spec, X_test, tree=tree, options=opts))
        found.append((bands.attach(saddle, X, y, X_test, ref=bands.lender(ref)), caught))
    out = bands.pick([r for r, _ in found], y)
    for w in next(c for r, c in found if r is out):
        if issubclass(w.category, (LoopBreakdownWarning, RuntimeWarning, UserWarning)):
            warn(w.message, w.category)
    solved = found[-1][0].tree if run_saddle and not get_activation(spec.activation).linear else None
    if isinstance(solved, NonlinearTreeResult) and hasattr(out, "saddle"):
        out = dataclasses.replace(out, saddle=solved)  # what a sweep warm-starts the next χ from (§12.9)
    return out
