"""The result of the erf/ReLU tree level and the one function that builds it, shared by every ansatz
(the zero-mean Gaussian of :mod:`.nonlinear`, :mod:`.gaussian_mean`, :mod:`.particles`; docs/theory.md §9).

This module imports no ansatz, so each ansatz imports :func:`finish` from here (no callback passed down).
"""
from __future__ import annotations

import dataclasses

import time
from dataclasses import dataclass, field

import numpy as np

from ..._sigma import SigmaVMixin
from ...results import Result

__all__ = ["NonlinearTreeResult", "finish"]


@dataclass(frozen=True, kw_only=True)
class NonlinearTreeResult(SigmaVMixin, Result):
    """Tree-level saddle point of an erf/ReLU (or linear) network under a neuron-law ansatz (docs/theory.md §9).

    Attributes
    ----------
    f_train : (P,) mean predictor C (C + κ0)⁻¹ y; f_test : (P*,) or None, C(X*, X) (C + κ0)⁻¹ y with the test
        kernel of the same neuron law.
    C : (P, P) adapted kernel g_w E[φ(Xv) φ(Xv)ᵀ] under the law. a : (P,) = (C + κ0)⁻¹ y.
    s : outlier eigenvalue of the weight covariance Σ_v in units of the prior variance g_v/D. For linear nets it
        is the rescaling factor of §4 up to O(1/N); it measures how strongly the law stretches along the task.
    mu : (D,) mean of the law (``gaussian_mean``; zeros otherwise; for particles the particle mean).
    ansatz, J : the ansatz and the objective J at the solution (``gaussian``/``gaussian_mean``; NaN for particles).
    converged, n_iter, residual : diagnostics. Gaussian ansätze: residual = ‖Λ_new − Λ‖_F/‖Λ‖_F of the
        stationarity map (μ's equation included for ``gaussian_mean``). Particles: relative drift of C between the
        two halves of the averaging window, to be compared with ``c_se`` (its Monte-Carlo standard error); by
        weighted draws (§9.4): the fixed point's residual, and ``ess`` the weights' effective sample size over the
        number of draws (NaN otherwise).
    K_B, n_roots : None (no background kernel / scalar root for nonlinear laws); kept for a uniform interface.
    """

    C: np.ndarray
    a: np.ndarray
    s: float
    ansatz: str
    J: float = float("nan")
    mu: np.ndarray | None = None
    c_se: float = 0.0
    ess: float = float("nan")
    n_stages: int = 1
    method: str = "tree"
    K_B: None = None
    n_roots: None = None
    _cov_row: np.ndarray = field(default=None, repr=False)  # covariance of the law in the row space (r, r)
    _mean_row: np.ndarray = field(default=None, repr=False)  # (r,)
    _W: np.ndarray = field(default=None, repr=False)  # (D, r) row-space basis
    _particles: np.ndarray = field(default=None, repr=False)  # particles (M, r) in the row space (ansatz "particles")
    # f_train (B, P) and f_test (B, P*) of the B batch means of C over the averaging window (ansatz "particles"):
    # their spread is the saddle's Monte-Carlo error
    _f_blocks: np.ndarray = field(default=None, repr=False)
    _ft_blocks: np.ndarray = field(default=None, repr=False)
    # by weighted draws (§9.4): what regenerates the draws (weighted.Draws) and each group's own fixed point C_g
    # (G, P, P); the loop around the saddle reuses both (docs/theory.md §12.10)
    _draws: object = field(default=None, repr=False)
    _C_groups: np.ndarray = field(default=None, repr=False)

    @property
    def variant(self) -> str:
        return self.ansatz

    def without_warm_state(self):
        """This result without the particles kept for a warm start along χ (M × r floats; a finished sweep drops
        them before it stores its results)."""
        return self if self._particles is None else dataclasses.replace(self, _particles=None)

    def _sigma_row(self) -> np.ndarray:
        return self._cov_row


def finish(pb, Sig_r, mean_r, C, a, X_test_kernel, ansatz, converged, n_iter, residual, t0, J, n_stages, c_se=0.0):
    """The NonlinearTreeResult of a solved neuron law: Σ and μ in the row space, C, a = (C + κ0)⁻¹ y, the test
    kernel g_w k(X*, X) (or None), diagnostics; every ansatz ends with it (docs/theory.md §9)."""
    spec = pb.spec
    f_train = pb.y - spec.kappa0 * a  # = C (C+κ0)⁻¹ y
    f_test = None if X_test_kernel is None else X_test_kernel @ a
    cov = Sig_r
    top = float(np.linalg.eigvalsh(cov)[-1])
    prior = spec.g_v / pb.D
    s = max(top, prior) / prior if pb.r < pb.D else top / prior
    mu = np.zeros(pb.D) if mean_r is None else pb.rs.W @ mean_r
    return NonlinearTreeResult(
        f_train=f_train,
        f_test=f_test,
        C=C,
        a=a,
        s=float(s),
        spec=spec,
        ansatz=ansatz,
        converged=bool(converged),
        n_iter=int(n_iter),
        residual=float(residual),
        seconds=time.perf_counter() - t0,
        J=float(J),
        mu=mu,
        c_se=float(c_se),
        n_stages=int(n_stages),
        _cov_row=cov,
        _mean_row=np.zeros(pb.r) if mean_r is None else mean_r,
        _W=pb.rs.W,
    )
