"""Parameter objects: frozen dataclasses validated on construction (docs/theory.md §1)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._plumbing.validation import positive_float, positive_int
from .activations import ACTIVATIONS
from ._plumbing.warn import warn

__all__ = ["ACTIVATIONS", "ConvergenceWarning", "LoopBreakdownWarning", "NetworkSpec", "ScaleWarning"]


class ConvergenceWarning(RuntimeWarning):
    """A solver stopped before reaching its tolerance; the message gives the residual and a remedy."""


class LoopBreakdownWarning(RuntimeWarning):
    """The loop expansion is not trustworthy here (e.g. N ≲ P, or the one-loop shift exceeds the tree-level one)."""


class ScaleWarning(UserWarning):
    """A parameter is outside its meaningful range (e.g. chi > width)."""


@dataclass(frozen=True)
class NetworkSpec:
    """A two-layer network and its Bayesian posterior (docs/theory.md §1).

    Parameters
    ----------
    width : int
        Number of hidden units N (>= 1).
    chi : float
        Scale parameter χ: readout prior variance g_w/(χN) and output noise κ0/χ.
        χ = 1 is standard (NNGP) scaling, χ = N mean-field scaling. χ > N is allowed with a warning.
    g_v, g_w : float
        Prior variance scales of the hidden weights (g_v/D) and the readout (g_w/(χN)).
    kappa0 : float
        Output noise scale κ0 (noise variance κ0/χ).
    activation : str
        Name of a registered activation (``tuple(mc.ACTIVATIONS)``: linear, erf, relu, tanh, gelu, softplus and any
        added by :func:`mastcore.register_activation`). Linear networks are solved exactly where docs/theory.md
        allows it.
    """

    width: int = 100
    chi: float = 1.0
    g_v: float = 0.5
    g_w: float = 0.5
    kappa0: float = 1.0
    activation: str = "linear"

    def __post_init__(self):
        width = positive_int("width", self.width)
        chi = positive_float("chi", self.chi)
        if chi < 1.0:
            raise ValueError(f"'chi' must be >= 1 (1 = standard scaling, width = mean-field); got {chi!r}")
        if chi > width:
            warn(
                f"'chi' = {chi:g} exceeds 'width' = {width}; the meaningful range is 1 <= chi <= width",
                ScaleWarning,
            )
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "chi", chi)
        object.__setattr__(self, "g_v", positive_float("g_v", self.g_v))
        object.__setattr__(self, "g_w", positive_float("g_w", self.g_w))
        object.__setattr__(self, "kappa0", positive_float("kappa0", self.kappa0))
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:  # names, as in caches
            raise ValueError(f"'activation' must be one of {tuple(ACTIVATIONS)}; got {self.activation!r}")

    def replace(self, **changes) -> "NetworkSpec":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
