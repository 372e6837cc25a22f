"""Exact posterior mean of the linear two-layer network as a one-dimensional integral (docs/theory.md §7.4).

Integrating out V first, f(X) | w is a GP with kernel |w|² (g_v/D) X Xᵀ, so ⟨f⟩ is a one-dimensional integral over
t = |w|² (prior g_w/(χN) χ²_N). It agrees with the Gibbs sampler within its error bars and with the P = 1 integral
over C (tests/test_quadrature.py) and takes ~0.1–0.3 s on the Fig.-2 setting, to ~1e-15.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..activations import get_activation
from .._api import solver
from .._linalg import row_space
from .._sigma import SigmaVMixin
from .._plumbing.validation import check_data, positive_float, positive_int
from .._plumbing.warn import warn
from ..results import Result
from ..specs import ConvergenceWarning, NetworkSpec

__all__ = ["QuadratureResult", "posterior_quadrature"]

#: Grid on which the posterior of u = log(|w|²/σ_w²) is located before integrating (±U_HALF_WIDTH around log N).
U_HALF_WIDTH = 40.0
#: The integral runs over the region where the log density is within LOG_CUT of its maximum (e^-60 ~ 1e-26).
LOG_CUT = 60.0
#: Lower end of any window in u: e^u stays a normal float64 (e^-700 ~ 1e-304), so |w|² > 0 at every node.
U_MIN = -700.0


@dataclass(frozen=True, kw_only=True)
class QuadratureResult(SigmaVMixin, Result):
    """Exact posterior mean of a linear network by quadrature over t = |w|² (see :func:`posterior_quadrature`).

    f_train (P,), f_test (P*,) or None; t_mean: posterior mean of |w|²; error_estimate: max change of f_train
    when the number of nodes is doubled (trapezoid rule, spectrally accurate here); n_nodes; sigma_v_row (r, r)
    posterior per-neuron weight covariance in the row-space basis W of X.
    """

    t_mean: float
    error_estimate: float
    n_nodes: int
    sigma_v_row: np.ndarray = field(repr=False)
    _W: np.ndarray = field(default=None, repr=False)
    method: str = "quadrature"
    n_iter: int = 1

    def _sigma_row(self) -> np.ndarray:
        return self.sigma_v_row


def _support(log_density, centre: float) -> tuple[float, float, float]:
    """[lo, hi] in u = log Q outside which the log density is more than LOG_CUT below its maximum, and that maximum
    (on the search grid: the normalisation the integrand is scaled by).

    The window starts at centre ± U_HALF_WIDTH and widens until the density has fallen by LOG_CUT at both ends. Its
    left tail is the prior's, p(u) ∝ e^{(N/2)u} as u → −∞ (the likelihood tends to a constant as |w|² → 0), so it
    falls by LOG_CUT only over 2·LOG_CUT/N: 120 for N = 1, beyond the fixed window (docs/theory.md §7.4).
    """
    left = right = U_HALF_WIDTH
    for _ in range(12):
        a, b = max(centre - left, U_MIN), centre + right
        grid = np.linspace(a, b, 16001)
        lp = log_density(grid)
        top = float(np.max(lp))
        inside = np.nonzero(lp > top - LOG_CUT)[0]
        open_left = inside[0] == 0 and a > U_MIN
        open_right = inside[-1] == grid.size - 1
        if not (open_left or open_right):
            # one grid step beyond the support on each side (the ends may sit exactly on the bounds)
            return float(grid[max(inside[0] - 1, 0)]), float(grid[min(inside[-1] + 1, grid.size - 1)]), top
        left = left * 2 if open_left else left
        right = right * 2 if open_right else right
    raise FloatingPointError(
        f"the posterior of |w|² is not contained in the integration window u = log(|w|²/σ_w²) in [{a:.3g}, {b:.3g}]"
    )


@solver("quadrature")
def posterior_quadrature(
    X, y, spec: NetworkSpec, X_test=None, *, n_nodes: int = 2001, tol: float = 1e-10
) -> QuadratureResult:
    """Exact posterior mean of the linear two-layer network as a one-dimensional integral.

    Integrating out V first (instead of w as in docs/theory.md §2): given w, β = Vᵀw ~ N(0, t (g_v/D) I_D) with
    t = |w|², so f(X) | t is a GP with kernel t (g_v/D) X Xᵀ and noise κ0/χ, and t = σ_w² Q, Q ~ χ²_N,
    σ_w² = g_w/(χN). With X = U S Wᵀ, ŷ = Uᵀy and λ_k(t) = t (g_v/D) S_k² + κ0/χ:

        p(t | y) ∝ p(t) Π_k λ_k(t)^(−1/2) exp(−ŷ_k² / (2 λ_k(t)))
        ⟨f(X)⟩ = U ∫ dt p(t | y) ŷ ⊙ (t (g_v/D) S²) / λ(t),   ⟨f(X*)⟩ = X* X⁺ ⟨f(X)⟩.

    The integral over u = log Q uses the trapezoid rule on the support of the density (it decays like a Gaussian,
    so the rule converges exponentially); the result is checked against the rule with twice the nodes.

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None; spec : NetworkSpec with activation "linear".
    n_nodes : nodes of the trapezoid rule (>= 101). tol : warn (ConvergenceWarning) if the doubling check
        changes f_train by more than tol.

    Returns
    -------
    QuadratureResult
    """
    t0 = time.perf_counter()
    if not get_activation(spec.activation).linear:
        raise ValueError(f"'activation' must be linear for the exact posterior (linear networks only); got "
                         f"{spec.activation!r}")
    X, y, X_test = check_data(X, y, X_test)
    n_nodes = positive_int("n_nodes", n_nodes, minimum=101)
    tol = positive_float("tol", tol)
    D = X.shape[1]
    rs = row_space(X)
    yh = rs.U.T @ y
    N, chi, k0 = spec.width, spec.chi, spec.kappa0
    var_w = spec.g_w / (chi * N)
    c = (spec.g_v / D) * rs.S**2
    from scipy import stats  # noqa: PLC0415  (here: half a second of imports a server's first page need not wait for)

    def log_density(u):  # log p(u | y) + const, u = log Q (Jacobian e^u)
        lam = np.multiply.outer(var_w * np.exp(u), c) + k0 / chi
        return stats.chi2.logpdf(np.exp(u), N) + u - 0.5 * np.sum(yh**2 / lam + np.log(lam), axis=-1)

    lo, hi, top = _support(log_density, np.log(N))

    def integrate(n):
        u = np.linspace(lo, hi, n)
        wts = np.exp(log_density(u) - top)
        t = var_w * np.exp(u)
        lam = np.multiply.outer(t, c) + k0 / chi
        g = yh * (np.multiply.outer(t, c) / lam)  # GP mean given t, (n, r)
        Z = np.trapezoid(wts, u)
        p = wts / Z
        f_r = np.trapezoid(p[:, None] * g, u, axis=0)
        # per-neuron covariance: ((N−1)/N)(g_v/D) I + (1/N) E[(diag(1/prec) + μ μᵀ)/t], μ = E[Wᵀβ | t, y]
        prec = 1.0 / np.multiply.outer(t, np.full_like(c, spec.g_v / D)) + (chi / k0) * rs.S**2
        mu = (chi / k0) * rs.S * yh / prec
        diag = np.trapezoid((p / t)[:, None] / prec, u, axis=0)
        wq = p / t * (u[1] - u[0])  # trapezoid weights for the sum of outer products
        wq[0] *= 0.5
        wq[-1] *= 0.5
        mm = (mu * wq[:, None]).T @ mu
        sig = ((N - 1) / N) * (spec.g_v / D) * np.eye(rs.rank) + (np.diag(diag) + mm) / N
        t_mean = float(np.trapezoid(p * t, u))
        return f_r, sig, t_mean

    f_r, sig, t_mean = integrate(2 * n_nodes - 1)
    f_r1, _, _ = integrate(n_nodes)
    err = float(np.max(np.abs(rs.U @ (f_r - f_r1))))
    converged = err < tol
    if not converged:
        warn(
            f"posterior quadrature: doubling the nodes changed f_train by {err:.2e} > tol={tol:g}; increase "
            "'n_nodes'",
            ConvergenceWarning,
        )
    f_train = rs.U @ f_r
    return QuadratureResult(
        f_train=f_train,
        f_test=rs.extend(X_test, f_train),
        spec=spec,
        t_mean=t_mean,
        error_estimate=err,
        n_nodes=2 * n_nodes - 1,
        seconds=time.perf_counter() - t0,
        converged=converged,
        residual=err,
        sigma_v_row=0.5 * (sig + sig.T),
        _W=rs.W,
    )
