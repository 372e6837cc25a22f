"""Which drawn curve the Regimes page holds up as the most accurate (no streamlit, no maths).

Linear networks have their exact posterior drawn (the quadrature, docs/theory.md §7.4): it is the reference, and the
theory closest to it at χ is named. Otherwise mastcore.validity.recommend names the most accurate theory
(docs/theory.md §18); the page may name it only when a curve of it is on the chart (:func:`drawn_method`).
"""
from __future__ import annotations

import math

__all__ = ["EXACT_METHOD", "closest_theory", "drawn_method"]

#: The method whose curve is the exact posterior (linear networks).
EXACT_METHOD = "quadrature"
#: Activations whose drawn "one_loop" curve (variant "auto") is the renormalised one loop wherever
#: validity.recommend would name that theory (docs/theory.md §12.4; mastcore_dashboard.compute.SAME_AS_ONE_LOOP).
AUTO_IS_RENORMALISED = ("erf", "relu")


def drawn_method(rec: dict, drawn, activation: str) -> str | None:
    """The method of a drawn curve that is the recommended theory ``rec`` (validity.recommend's dict), or None.

    ``drawn`` : the methods with a curve on the chart. The renormalised one loop is the "renormalised_loop" curve,
    or for erf/ReLU the "one_loop" curve (its default variant is the renormalised one loop where this theory is
    recommended). The other recommendations (the one loop or tree level around the particle saddle) have no
    curve on the chart.
    """
    drawn = tuple(drawn)
    theory = rec.get("theory")
    if theory == "renormalised_loop":
        if "renormalised_loop" in drawn:
            return "renormalised_loop"
        if activation in AUTO_IS_RENORMALISED and "one_loop" in drawn:
            return "one_loop"
        return None
    if theory in ("nngp", "tree", "rescaled") and theory in drawn:
        return theory
    return None


def closest_theory(values: dict, exact: float) -> tuple[str, float] | None:
    """(method, |value − exact|) of the theory whose value is nearest ``exact``; ``values``: method → value at χ
    (the exact method itself and non-finite values are skipped). None when nothing is comparable."""
    if not math.isfinite(exact):
        return None
    gaps = {m: abs(float(v) - exact) for m, v in values.items()
            if m != EXACT_METHOD and v is not None and math.isfinite(float(v))}
    if not gaps:
        return None
    best = min(gaps, key=gaps.get)
    return best, gaps[best]
