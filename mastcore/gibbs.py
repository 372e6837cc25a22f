"""Exact posterior of the linear two-layer network by blocked Gibbs sampling (THEORY.md §7).

Model (THEORY §1): f(x) = Σ_i w_i v_i·x, v_i ~ N(0, (g_v/D) I), w_i ~ N(0, g_w/(χN)), noise variance κ0/χ.

The sampler alternates the two Gaussian conditionals of §7, vectorised over independent chains and written in the
row space of X = U S Wᵀ (rank r), where z_i = Wᵀ v_i ∈ R^r and only ŷ = Uᵀ y couples to the network:

* V | w. Only ζ = Zᵀ e (e = w/|w|) couples to the data; its precision is D/g_v + (χ|w|²/κ0) S², its mean
  (χ|w|/κ0) S ŷ / precision. The part of Z orthogonal to e is redrawn from the prior.
* w | V. Matheron update w = w0 + (g_w/N) Hᵀ (C + κ0)⁻¹ (y − H w0 − ε), w0 ~ N(0, g_w/(χN)), ε ~ N(0, κ0/χ),
  H = X Vᵀ, C = (g_w/N) H Hᵀ.

Symmetry reduction (exact, not an approximation). The prior and the likelihood are invariant under rotations O of
neuron space, (Z, w) → (O Z, O w), and the estimators below depend on (Z, w) only through ZᵀZ and |w|. So the chain
may be written in a basis of R^N whose first vector is e: the part of Z orthogonal to e, an (N−1)×r Gaussian matrix
G, is replaced by its R factor T (G = Q T; Q is Haar-distributed and independent of T, and T has the Bartlett
distribution: T_kk² ~ (g_v/D) χ²_{N−1−k}, T_kl ~ N(0, g_v/D) for k < l). Z then has only m + 1 = min(N, r + 1)
non-zero rows, the w update acts on m + 1 coordinates, and the other N − 1 − m coordinates of w are prior draws
that enter only through |w|² (a scaled χ² variate). A sweep costs O(B r³) for B chains, independent of N.

Estimator (Rao–Blackwellised): E[f(X) | w] = |w| U S E[ζ | w], evaluated before each V | w step. THEORY §7 averages
it with E[f(X) | V] = C (C + κ0)⁻¹ y; on the Fig.-2 setting E[f | w] alone has a 4–8x smaller standard error than
that average (E[f | V] carries the O(1/√N) Wishart noise of C), i.e. 16–60x fewer sweeps for the same error bar.
Standard errors: standard deviation of the per-chain means over √(number of chains).
Test predictions: f(X*) = X* X⁺ f(X) (THEORY §2), chain by chain.

Exact mean without sampling (:func:`posterior_quadrature`). Integrating out V first, f(X) | w is a GP with kernel
|w|² (g_v/D) X Xᵀ, so ⟨f⟩ is a one-dimensional integral over t = |w|² (prior g_w/(χN) χ²_N). It agrees with the
sampler within its error bars and with the P = 1 integral over C (tests/test_gibbs.py) and takes ~0.1–0.3 s on the
Fig.-2 setting, to ~1e-15.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.linalg.blas import dsyrk as _syrk
from scipy.linalg.lapack import dposv as _posv

from ._sigma import SigmaVMixin
from ._validation import check_data, positive_int
from .metrics import split_rhat
from .kernels import RowSpace, row_space
from .specs import ConvergenceWarning, NetworkSpec

__all__ = ["PosteriorResult", "QuadratureResult", "exact_posterior", "posterior_quadrature", "split_rhat"]

#: Chains whose split-R̂ of the mean(y·Δ) trace exceeds this are flagged as not equilibrated (Gelman et al. 2013
#: recommend 1.01–1.1; 64 chains of a few thousand sweeps give 1.00x when equilibrated).
RHAT_MAX = 1.05
#: Below this rank the sweep uses numpy batched solves, above it a loop of LAPACK calls over chains.
_BATCH_R = 24
#: Σ_v is accumulated every _SIGMA_EVERY-th sweep after burn-in (it costs about as much as a sweep).
_SIGMA_EVERY = 4
#: Up to this rank the sweep runs with single-threaded BLAS: its matrices are small, and a multi-threaded BLAS
#: only spins (on a busy 2-core machine the wall time of a sweep grew ~3x with 2 BLAS threads).
_SINGLE_THREAD_R = 256


def _blas_threads(limit):
    """Context manager limiting BLAS threads (threadpoolctl, a scikit-learn dependency; no-op without it)."""
    import contextlib  # noqa: PLC0415

    if limit is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=limit, user_api="blas")


@dataclass(frozen=True)
class PosteriorResult(SigmaVMixin):
    """Exact posterior mean of a linear network from Gibbs sampling (THEORY §7).

    Attributes
    ----------
    f_train : (P,) posterior mean ⟨f(X)⟩; se_train : (P,) its standard error.
    f_test : (P*,) ⟨f(X*)⟩ = X* X⁺ ⟨f(X)⟩ or None; se_test : (P*,) or None.
    chain_f_train : (n_chains, P) per-chain means (any linear functional's error bar follows from these).
    trace : (n_sweeps,) chain-averaged mean(y·Δ) of the Rao–Blackwellised estimate at each sweep, burn-in
        included (for equilibration plots). chain_mean_y_delta : (n_chains,) per-chain means of mean(y·Δ).
    r_hat : split-R̂ of the per-chain mean(y·Δ) traces after burn-in. converged : r_hat < RHAT_MAX.
    residual : max(se_train), the statistical error. n_iter : n_sweeps.
    sigma_v_row : (r, r) posterior per-neuron weight covariance (1/N) Σ_i ⟨z_i z_iᵀ⟩ in the row-space basis W
        of X; :meth:`sigma_v_eigh` and :meth:`top_direction` give Σ_v's spectrum in input space.
    """

    f_train: np.ndarray
    f_test: np.ndarray | None
    se_train: np.ndarray
    se_test: np.ndarray | None
    spec: NetworkSpec
    n_chains: int
    n_sweeps: int
    burn_in: int
    seed: int
    seconds: float
    trace: np.ndarray
    chain_f_train: np.ndarray
    chain_mean_y_delta: np.ndarray
    r_hat: float
    converged: bool
    residual: float
    sigma_v_row: np.ndarray = field(repr=False)
    _W: np.ndarray = field(default=None, repr=False)
    method: str = "exact"

    @property
    def n_iter(self) -> int:
        return self.n_sweeps

    def se_of(self, weights) -> float:
        """Standard error of the linear functional weights·⟨f(X)⟩ (weights (P,)), e.g. mean(y·Δ) uses −y/P."""
        per_chain = self.chain_f_train @ np.asarray(weights, dtype=np.float64)
        return float(np.std(per_chain, ddof=1) / np.sqrt(self.n_chains))

    def _sigma_row(self) -> np.ndarray:
        return self.sigma_v_row


class _Sampler:
    """State and one sweep of the symmetry-reduced blocked Gibbs chain, for B chains at once (see module doc)."""

    def __init__(self, S, yh, spec: NetworkSpec, D: int, B: int, rng: np.random.Generator):
        self.S, self.yh, self.rng, self.B = S, yh, rng, B
        N, chi, k0 = spec.width, spec.chi, spec.kappa0
        r = S.shape[0]
        self.N, self.chi, self.k0, self.r = N, chi, k0, r
        self.gw_N = spec.g_w / N  # C = (g_w/N) H Hᵀ
        self.var_v = spec.g_v / D  # prior variance of each z_ik
        self.prec_v = D / spec.g_v
        self.var_w = spec.g_w / (chi * N)  # prior variance of w_i
        self.m = min(N - 1, r)  # rows of T (the orthogonal part of Z after the rotation)
        self.rest = N - 1 - self.m  # coordinates of w that never meet the data
        if self.m == r:  # Bartlett: T upper triangular (r, r)
            self.diag_df = (N - 1 - np.arange(r)).astype(np.float64)
            self.iu = np.triu_indices(r, k=1)
        self.S2 = S**2
        self.k0_eye = k0 * np.eye(r)
        # initial state: |w|² from the prior
        self.w_norm2 = self.var_w * rng.chisquare(N, size=B)

    def _draw_T(self):
        B, r, m, rng = self.B, self.r, self.m, self.rng
        sd = np.sqrt(self.var_v)
        if m == r:
            T = np.zeros((B, r, r))
            T[:, self.iu[0], self.iu[1]] = rng.standard_normal((B, self.iu[0].size))
            T[:, np.arange(r), np.arange(r)] = np.sqrt(rng.chisquare(np.broadcast_to(self.diag_df, (B, r))))
            return sd * T
        return sd * rng.standard_normal((B, m, r))  # N − 1 < r: G itself

    def sweep(self):
        """One sweep. Returns the Rao–Blackwellised estimate E[f | w] (B, r) in the U basis and Z S (B, m+1, r)."""
        B, r, rng, S, yh, k0, chi = self.B, self.r, self.rng, self.S, self.yh, self.k0, self.chi
        # --- V | w (THEORY §7): ζ = Zᵀe has precision D/g_v + (χ|w|²/κ0) S², mean (χ|w|/κ0) S ŷ / precision
        w_norm = np.sqrt(self.w_norm2)[:, None]
        prec = self.prec_v + (chi / k0) * self.w_norm2[:, None] * self.S2
        mu = (chi / k0) * w_norm * S * yh / prec
        f_w = w_norm * S * mu  # E[f | w] = |w| S E[ζ | w]
        zeta = mu + rng.standard_normal((B, r)) / np.sqrt(prec)
        T = self._draw_T()  # rest of Z, redrawn from the prior (in the rotated basis)
        Zs = np.concatenate([zeta[:, None, :], T], axis=1) * S  # Z S, (B, m+1, r)
        # --- w | V: Matheron update with Ĉ = (g_w/N) S ZᵀZ S, A = Ĉ + κ0 (upper triangles only: LAPACK posv)
        w0 = np.sqrt(self.var_w) * rng.standard_normal((B, Zs.shape[1]))
        eps = np.sqrt(k0 / chi) * rng.standard_normal((B, r))
        rhs = (yh - np.einsum("bmr,bm->br", Zs, w0) - eps)[..., None]  # (B, r, 1)
        if r <= _BATCH_R:  # small problems: numpy's batched LU (per-call overhead dominates)
            A = self.gw_N * np.matmul(Zs.transpose(0, 2, 1), Zs) + self.k0_eye
            sol = np.linalg.solve(A, rhs)
        else:
            sol = np.empty((B, r, 1))
            for i in range(B):  # LAPACK syrk + posv per chain: ~1.5x faster than numpy's batched LU at r ~ 80
                A = _syrk(self.gw_N, Zs[i], beta=1.0, c=self.k0_eye, trans=1, lower=0)
                _, sol[i], info = _posv(A, rhs[i], lower=0, overwrite_a=1)
                if info != 0:
                    raise FloatingPointError(f"C + kappa0 is not positive definite (LAPACK posv info={info})")
        w = w0 + self.gw_N * np.einsum("bmr,br->bm", Zs, sol[..., 0])
        extra = self.var_w * rng.chisquare(self.rest, size=B) if self.rest > 0 else 0.0
        self.w_norm2 = np.sum(w**2, axis=1) + extra
        return f_w, Zs


def _run_chains(sampler: _Sampler, n_sweeps, burn_in, yh, yy, P, progress):
    """Run the sweeps; returns Σ_kept f̂ (B, r), Σ S ZᵀZ S (r, r), its count, and the (B, n_sweeps) trace."""
    B, r = sampler.B, sampler.r
    sum_f = np.zeros((B, r))
    sum_M = np.zeros((r, r))
    n_sigma = 0
    trace_chain = np.empty((B, n_sweeps))  # mean(y·Δ) per chain and sweep
    every = max(1, n_sweeps // 100)
    for t in range(n_sweeps):
        f_hat, Zs = sampler.sweep()
        trace_chain[:, t] = (yy - f_hat @ yh) / P  # mean(y·Δ) = (yᵀy − ŷᵀ f̂)/P, f̂ lives in span(U)
        if t >= burn_in:
            sum_f += f_hat
            if (t - burn_in) % _SIGMA_EVERY == 0:  # Σ_v is a diagnostic: every few sweeps is enough
                Zf = Zs.reshape(-1, r)
                sum_M += Zf.T @ Zf
                n_sigma += 1
        if progress is not None and ((t + 1) % every == 0 or t + 1 == n_sweeps):
            stage = "burn-in" if t < burn_in else "sampling"
            progress(t + 1, n_sweeps, {"stage": stage, "mean_y_delta": float(trace_chain[:, t].mean())})
    return sum_f, sum_M, n_sigma, trace_chain


def exact_posterior(
    X,
    y,
    spec: NetworkSpec,
    X_test=None,
    *,
    n_chains: int = 64,
    n_sweeps: int = 2000,
    burn_in: int = 200,
    seed: int = 0,
    progress: Callable[[int, int, dict], None] | None = None,
    cache: bool = False,
) -> PosteriorResult:
    """Posterior mean of a linear two-layer network by blocked Gibbs sampling (THEORY §7).

    Parameters
    ----------
    X : (P, D), y : (P,), X_test : (P*, D) or None
    spec : NetworkSpec with activation "linear".
    n_chains : independent chains (>= 2; the error bars come from their spread).
    n_sweeps : sweeps per chain, burn-in included; burn_in : sweeps discarded (0 <= burn_in < n_sweeps).
    seed : seed of the random stream (deterministic: same seed, same result).
    progress : optional callback(done, total, info) called about every 1 % of the sweeps; info is a dict with
        "stage" ("burn-in" or "sampling") and the current chain-averaged "mean_y_delta".
    cache : go through the joblib cache (mastcore.cache).

    Returns
    -------
    PosteriorResult
    """
    if cache:
        from .cache import cached_call  # noqa: PLC0415

        return cached_call(
            exact_posterior, X, y, spec, X_test=X_test, n_chains=n_chains, n_sweeps=n_sweeps, burn_in=burn_in,
            seed=seed, progress=progress,
        )
    t0 = time.perf_counter()
    if not isinstance(spec, NetworkSpec):
        raise ValueError(f"'spec' must be a NetworkSpec; got {type(spec).__name__}")
    if spec.activation != "linear":
        raise ValueError(
            f"'activation' must be 'linear' for the exact posterior sampler (THEORY §7); got {spec.activation!r}"
        )
    X, y, X_test = check_data(X, y, X_test)
    n_chains = positive_int("n_chains", n_chains, minimum=2)
    n_sweeps = positive_int("n_sweeps", n_sweeps)
    burn_in = positive_int("burn_in", burn_in, minimum=0)
    if n_sweeps <= burn_in:
        raise ValueError(f"'n_sweeps' must be > 'burn_in' = {burn_in}; got {n_sweeps}")
    seed = positive_int("seed", seed, minimum=0)
    P, D = X.shape
    rs: RowSpace = row_space(X)
    yh = rs.U.T @ y
    # SFC64: the same Generator API as default_rng, ~3x faster normals on this hardware; deterministic from seed.
    rng = np.random.Generator(np.random.SFC64(seed))
    sampler = _Sampler(rs.S, yh, spec, D, n_chains, rng)
    n_keep = n_sweeps - burn_in
    with _blas_threads(1 if rs.rank <= _SINGLE_THREAD_R else None):
        sum_f, sum_M, n_sigma, trace_chain = _run_chains(sampler, n_sweeps, burn_in, yh, float(y @ y), P, progress)
    chain_f_r = sum_f / n_keep  # (B, r)
    chain_f = chain_f_r @ rs.U.T  # (B, P)
    f_train = chain_f.mean(axis=0)
    se_train = chain_f.std(axis=0, ddof=1) / np.sqrt(n_chains)
    f_test = se_test = None
    if X_test is not None:
        chain_test = (chain_f_r / rs.S) @ (X_test @ rs.W).T  # X* X⁺ f = X* W S⁻¹ Uᵀ f, chain by chain
        f_test = chain_test.mean(axis=0)
        se_test = chain_test.std(axis=0, ddof=1) / np.sqrt(n_chains)
    kept = trace_chain[:, burn_in:]
    r_hat = split_rhat(kept)
    converged = bool(r_hat < RHAT_MAX)
    if not converged:
        warnings.warn(
            f"exact posterior: split-R-hat = {r_hat:.3f} >= {RHAT_MAX} at chi={spec.chi:g}, N={spec.width}; the "
            "chains have not equilibrated, increase 'n_sweeps' and 'burn_in'",
            ConvergenceWarning,
            stacklevel=2,
        )
    sigma_row = sum_M / (n_sigma * n_chains * spec.width) / np.outer(rs.S, rs.S)  # (1/N) Σ_i ⟨z_i z_iᵀ⟩
    return PosteriorResult(
        f_train=f_train,
        f_test=f_test,
        se_train=se_train,
        se_test=se_test,
        spec=spec,
        n_chains=n_chains,
        n_sweeps=n_sweeps,
        burn_in=burn_in,
        seed=seed,
        seconds=time.perf_counter() - t0,
        trace=trace_chain.mean(axis=0),
        chain_f_train=chain_f,
        chain_mean_y_delta=kept.mean(axis=1),
        r_hat=r_hat,
        converged=converged,
        residual=float(np.max(se_train)),
        sigma_v_row=0.5 * (sigma_row + sigma_row.T),
        _W=rs.W,
    )


# --- exact posterior mean as a one-dimensional integral -----------------------------------------------------

#: Grid on which the posterior of u = log(|w|²/σ_w²) is located before integrating (±U_HALF_WIDTH around log N).
U_HALF_WIDTH = 40.0
#: The integral runs over the region where the log density is within LOG_CUT of its maximum (e^-60 ~ 1e-26).
LOG_CUT = 60.0


@dataclass(frozen=True)
class QuadratureResult(SigmaVMixin):
    """Exact posterior mean of a linear network by quadrature over t = |w|² (see :func:`posterior_quadrature`).

    f_train (P,), f_test (P*,) or None; t_mean: posterior mean of |w|²; error_estimate: max change of f_train
    when the number of nodes is doubled (trapezoid rule, spectrally accurate here); n_nodes; sigma_v_row (r, r)
    posterior per-neuron weight covariance in the row-space basis W of X.
    """

    f_train: np.ndarray
    f_test: np.ndarray | None
    spec: NetworkSpec
    t_mean: float
    error_estimate: float
    n_nodes: int
    seconds: float
    converged: bool
    residual: float
    sigma_v_row: np.ndarray = field(repr=False)
    _W: np.ndarray = field(default=None, repr=False)
    method: str = "quadrature"
    n_iter: int = 1

    def _sigma_row(self) -> np.ndarray:
        return self.sigma_v_row


def posterior_quadrature(X, y, spec: NetworkSpec, X_test=None, *, n_nodes: int = 2001, tol: float = 1e-10):
    """Exact posterior mean of the linear two-layer network as a one-dimensional integral.

    Integrating out V first (instead of w as in THEORY §2): given w, β = Vᵀw ~ N(0, t (g_v/D) I_D) with
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
    from scipy import stats  # noqa: PLC0415

    t0 = time.perf_counter()
    if not isinstance(spec, NetworkSpec):
        raise ValueError(f"'spec' must be a NetworkSpec; got {type(spec).__name__}")
    if spec.activation != "linear":
        raise ValueError(f"'activation' must be 'linear' for the exact posterior; got {spec.activation!r}")
    X, y, X_test = check_data(X, y, X_test)
    n_nodes = positive_int("n_nodes", n_nodes, minimum=101)
    D = X.shape[1]
    rs = row_space(X)
    yh = rs.U.T @ y
    N, chi, k0 = spec.width, spec.chi, spec.kappa0
    var_w = spec.g_w / (chi * N)
    c = (spec.g_v / D) * rs.S**2

    def log_density(u):  # log p(u | y) + const, u = log Q (Jacobian e^u)
        lam = np.multiply.outer(var_w * np.exp(u), c) + k0 / chi
        return stats.chi2.logpdf(np.exp(u), N) + u - 0.5 * np.sum(yh**2 / lam + np.log(lam), axis=-1)

    grid = np.linspace(np.log(N) - U_HALF_WIDTH, np.log(N) + U_HALF_WIDTH, 16001)
    lp = log_density(grid)
    top = float(np.max(lp))
    inside = np.nonzero(lp > top - LOG_CUT)[0]
    if inside[0] == 0 or inside[-1] == grid.size - 1:
        raise FloatingPointError("the posterior of |w|² is not contained in the integration window")
    lo, hi = grid[inside[0] - 1], grid[inside[-1] + 1]

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
        warnings.warn(
            f"posterior quadrature: doubling the nodes changed f_train by {err:.2e} > tol={tol:g}; increase "
            "'n_nodes'",
            ConvergenceWarning,
            stacklevel=2,
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


def _exact_step(X, y, spec, X_test, current, previous, **kw):
    """anneal() step for method "exact" (options n_chains, n_sweeps, burn_in, seed from anneal's keywords)."""
    opts = {k: kw[k] for k in ("n_chains", "n_sweeps", "burn_in", "seed") if k in kw}
    return exact_posterior(X, y, spec, X_test=X_test, **opts)


def _register():
    from .anneal import register_method  # noqa: PLC0415

    register_method("exact", _exact_step)


_register()
