"""Exact references and trained networks: the Gibbs sampler, the quadrature, the Langevin trainer."""
from __future__ import annotations

from .gibbs import PosteriorResult, exact_posterior
from .langevin import LangevinOptions, LangevinResult, train_langevin
from .quadrature import QuadratureResult, posterior_quadrature

__all__ = [
    "LangevinOptions",
    "LangevinResult",
    "PosteriorResult",
    "QuadratureResult",
    "exact_posterior",
    "posterior_quadrature",
    "train_langevin",
]
